"""SQLite persistence for the Gateway emulator (datasets and dataset versions).

One connection (``check_same_thread=False``) guarded by a lock; ``":memory:"`` when no file is given.  The
tables follow the Gateway's ``datasets`` / ``dataset_versions`` columns that the integrations API exposes.
Soft deletion sets ``deleted_at`` (and ``status='ARCHIVED'`` on the dataset), as Eloquent's ``SoftDeletes``
does and ``MMC::deleteDataset($id, true)`` asks (``shared/notes/hdruk-gateway.md`` §(b)). Ids are SQLite's
autoincrement integers, as MySQL's auto-increment ids are on the Gateway.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["DatasetRow", "DatasetStore", "VersionRow", "now_stamps"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mongo_object_id TEXT,
    mongo_id TEXT,
    mongo_pid TEXT,
    datasetid TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    submitted TEXT NOT NULL,
    pid TEXT,
    user_id INTEGER,
    team_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    create_origin TEXT NOT NULL,
    is_cohort_discovery INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX IF NOT EXISTS datasets_datasetid ON datasets (datasetid);
CREATE INDEX IF NOT EXISTS datasets_team_id ON datasets (team_id);
CREATE TABLE IF NOT EXISTS dataset_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_id INTEGER NOT NULL REFERENCES datasets (id),
    version INTEGER NOT NULL,
    metadata TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX IF NOT EXISTS dataset_versions_dataset_id ON dataset_versions (dataset_id);
"""


def now_stamps() -> tuple[str, str]:
    """``(laravel_timestamp, mysql_datetime)``: ``2026-11-22T05:15:00.000000Z``, ``2026-11-22 05:15:00``: Laravel's
    default date serialisation of ``created_at``/``updated_at``/``deleted_at`` (ISO 8601 with microseconds, UTC), and
    the ``created``/``updated``/``submitted`` columns, which the emulator takes to be plain MySQL datetimes (their
    model casts were not read)."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), now.strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class VersionRow:
    id: int
    dataset_id: int
    version: int
    metadata: dict[str, Any]
    created_at: str
    updated_at: str
    deleted_at: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "dataset_id": self.dataset_id,
            "metadata": self.metadata,
            "version": self.version,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "deleted_at": self.deleted_at,
        }


@dataclass(frozen=True)
class DatasetRow:
    id: int
    mongo_object_id: str | None
    mongo_id: str | None
    mongo_pid: str | None
    datasetid: str | None
    created: str
    updated: str
    submitted: str
    pid: str | None
    user_id: int | None
    team_id: int
    status: str
    create_origin: str
    is_cohort_discovery: bool
    created_at: str
    updated_at: str
    deleted_at: str | None

    def to_json(self) -> dict[str, Any]:
        """The row as Laravel serialises a ``Dataset`` model (without relations)."""
        return {
            "id": self.id,
            "mongo_object_id": self.mongo_object_id,
            "mongo_id": self.mongo_id,
            "mongo_pid": self.mongo_pid,
            "datasetid": self.datasetid,
            "created": self.created,
            "updated": self.updated,
            "submitted": self.submitted,
            "pid": self.pid,
            "user_id": self.user_id,
            "team_id": self.team_id,
            "status": self.status,
            "create_origin": self.create_origin,
            "is_cohort_discovery": self.is_cohort_discovery,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "deleted_at": self.deleted_at,
        }


def _dataset(row: sqlite3.Row) -> DatasetRow:
    return DatasetRow(
        id=int(row["id"]),
        mongo_object_id=row["mongo_object_id"],
        mongo_id=row["mongo_id"],
        mongo_pid=row["mongo_pid"],
        datasetid=row["datasetid"],
        created=row["created"],
        updated=row["updated"],
        submitted=row["submitted"],
        pid=row["pid"],
        user_id=row["user_id"],
        team_id=int(row["team_id"]),
        status=row["status"],
        create_origin=row["create_origin"],
        is_cohort_discovery=bool(row["is_cohort_discovery"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        deleted_at=row["deleted_at"],
    )


def _version(row: sqlite3.Row) -> VersionRow:
    metadata = json.loads(row["metadata"])
    return VersionRow(
        id=int(row["id"]),
        dataset_id=int(row["dataset_id"]),
        version=int(row["version"]),
        metadata=metadata if isinstance(metadata, dict) else {"metadata": metadata},
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        deleted_at=row["deleted_at"],
    )


class DatasetStore:
    """Thread-safe access to the emulator's SQLite database."""

    def __init__(self, db_path: Path | None = None) -> None:
        self._lock = threading.RLock()
        target = str(db_path) if db_path is not None else ":memory:"
        if db_path is not None:
            db_path.parent.mkdir(parents=True, exist_ok=True)
        self._conn: sqlite3.Connection | None = sqlite3.connect(target, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        with self._conn:
            self._conn.executescript(_SCHEMA)

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the emulator's dataset store is closed")
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def clear(self) -> None:
        """Delete every dataset and version and restart the id sequences at 1."""
        with self._lock, self._db as db:
            db.execute("DELETE FROM dataset_versions")
            db.execute("DELETE FROM datasets")
            db.execute("DELETE FROM sqlite_sequence WHERE name IN ('datasets', 'dataset_versions')")

    # -- writes --------------------------------------------------------------------------------------------
    def create(  # noqa: PLR0913 - a dataset row's columns
        self,
        *,
        team_id: int,
        user_id: int | None,
        datasetid: str | None,
        pid: str,
        mongo_object_id: str | None,
        mongo_id: str | None,
        mongo_pid: str | None,
        is_cohort_discovery: bool,
        metadata: dict[str, Any],
    ) -> tuple[int, int]:
        """Insert a dataset (ACTIVE, origin API) with version 1; returns ``(dataset_id, version_row_id)``."""
        stamp, mysql = now_stamps()
        with self._lock, self._db as db:
            cursor = db.execute(
                "INSERT INTO datasets (mongo_object_id, mongo_id, mongo_pid, datasetid, created, updated,"
                " submitted, pid, user_id, team_id, status, create_origin, is_cohort_discovery, created_at,"
                " updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'ACTIVE', 'API', ?, ?, ?)",
                (
                    mongo_object_id,
                    mongo_id,
                    mongo_pid,
                    datasetid,
                    mysql,
                    mysql,
                    mysql,
                    pid,
                    user_id,
                    team_id,
                    int(is_cohort_discovery),
                    stamp,
                    stamp,
                ),
            )
            dataset_id = int(cursor.lastrowid or 0)
            cursor = db.execute(
                "INSERT INTO dataset_versions (dataset_id, version, metadata, created_at, updated_at)"
                " VALUES (?, 1, ?, ?, ?)",
                (dataset_id, json.dumps(metadata), stamp, stamp),
            )
            return dataset_id, int(cursor.lastrowid or 0)

    def overwrite_latest_version(
        self, dataset_id: int, metadata: dict[str, Any], *, user_id: int | None, is_cohort_discovery: bool
    ) -> int:
        """PUT semantics since GAT-7444 (notes §(b); ``MetadataVersioning::updateMetadataVersion`` for
        ``/api/v1/datasets``): overwrite the latest version row in place and bump its number.

        Also forces the dataset back to ``ACTIVE`` / ``API`` (``IntegrationOverride``, notes §(a)) and touches
        ``updated``. Should no live version exist (the routes do not reach that: PUT on an archived dataset fails
        first, and ``restore`` un-deletes the latest version), a new row is added: the emulator's choice.
        Returns the new number.
        """
        stamp, mysql = now_stamps()
        with self._lock, self._db as db:
            db.execute(
                "UPDATE datasets SET updated = ?, updated_at = ?, status = 'ACTIVE', create_origin = 'API',"
                " user_id = ?, is_cohort_discovery = ? WHERE id = ?",
                (mysql, stamp, user_id, int(is_cohort_discovery), dataset_id),
            )
            row = db.execute(
                "SELECT id, version FROM dataset_versions WHERE dataset_id = ? AND deleted_at IS NULL"
                " ORDER BY version DESC, id DESC LIMIT 1",
                (dataset_id,),
            ).fetchone()
            if row is None:
                last = db.execute(
                    "SELECT COALESCE(MAX(version), 0) FROM dataset_versions WHERE dataset_id = ?",
                    (dataset_id,),
                ).fetchone()
                number = int(last[0]) + 1
                db.execute(
                    "INSERT INTO dataset_versions (dataset_id, version, metadata, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (dataset_id, number, json.dumps(metadata), stamp, stamp),
                )
                return number
            number = int(row["version"]) + 1
            db.execute(
                "UPDATE dataset_versions SET metadata = ?, version = ?, updated_at = ? WHERE id = ?",
                (json.dumps(metadata), number, stamp, int(row["id"])),
            )
            return number

    def archive(self, dataset_id: int) -> None:
        """DELETE semantics: soft-delete the dataset and all its versions, status ARCHIVED."""
        stamp, mysql = now_stamps()
        with self._lock, self._db as db:
            db.execute(
                "UPDATE datasets SET status = 'ARCHIVED', deleted_at = ?, updated_at = ?, updated = ? WHERE id = ?",
                (stamp, stamp, mysql, dataset_id),
            )
            db.execute(
                "UPDATE dataset_versions SET deleted_at = ? WHERE dataset_id = ? AND deleted_at IS NULL",
                (stamp, dataset_id),
            )

    def restore(self, dataset_id: int, status: str) -> None:
        """``PATCH /api/v1/datasets/{id}?unarchive``: set the status; un-delete it and its latest version."""
        stamp, _ = now_stamps()
        with self._lock, self._db as db:
            db.execute(
                "UPDATE datasets SET status = ?, deleted_at = NULL, updated_at = ? WHERE id = ?",
                (status, stamp, dataset_id),
            )
            row = db.execute(
                "SELECT id FROM dataset_versions WHERE dataset_id = ? ORDER BY created_at DESC, id DESC LIMIT 1",
                (dataset_id,),
            ).fetchone()
            if row is not None:
                db.execute(
                    "UPDATE dataset_versions SET deleted_at = NULL, updated_at = ? WHERE id = ?",
                    (stamp, int(row["id"])),
                )

    def replace_latest_metadata(self, dataset_id: int, metadata: dict[str, Any]) -> None:
        """Edit the latest version's stored metadata in place, version number unchanged: what an edit made on the
        Gateway behind the publisher's back leaves (tests of read-back and drift)."""
        with self._lock, self._db as db:
            db.execute(
                "UPDATE dataset_versions SET metadata = ? WHERE id = (SELECT id FROM dataset_versions"
                " WHERE dataset_id = ? ORDER BY version DESC, id DESC LIMIT 1)",
                (json.dumps(metadata), dataset_id),
            )

    def set_status(self, dataset_id: int, status: str) -> None:
        stamp, _ = now_stamps()
        with self._lock, self._db as db:
            db.execute("UPDATE datasets SET status = ?, updated_at = ? WHERE id = ?", (status, stamp, dataset_id))

    # -- reads ---------------------------------------------------------------------------------------------
    def get(self, dataset_id: int, *, with_trashed: bool = False) -> DatasetRow | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM datasets WHERE id = ? AND (? OR deleted_at IS NULL)",
                (dataset_id, with_trashed),
            ).fetchone()
        return _dataset(row) if row is not None else None

    def any_live(self) -> bool:
        """Whether ``Dataset::first()`` would find a (non-deleted) row."""
        with self._lock:
            row = self._db.execute("SELECT 1 FROM datasets WHERE deleted_at IS NULL LIMIT 1").fetchone()
        return row is not None

    def all(
        self, *, include_archived: bool = True, team_id: int | None = None, datasetid: str | None = None
    ) -> list[DatasetRow]:
        """Datasets by id; ``datasetid`` filters in SQL (indexed), as the Gateway's ``?dataset_id=`` does."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM datasets WHERE (? OR deleted_at IS NULL) AND (? IS NULL OR team_id = ?)"
                " AND (? IS NULL OR datasetid = ?) ORDER BY id",
                (include_archived, team_id, team_id, datasetid, datasetid),
            ).fetchall()
        return [_dataset(row) for row in rows]

    def versions(self, dataset_id: int, *, with_trashed: bool) -> list[VersionRow]:
        """Versions newest first (Eloquent ``latest()``: ``created_at`` descending)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM dataset_versions WHERE dataset_id = ? AND (? OR deleted_at IS NULL)"
                " ORDER BY created_at DESC, id DESC",
                (dataset_id, with_trashed),
            ).fetchall()
        return [_version(row) for row in rows]

    def latest_version(self, dataset_id: int) -> VersionRow | None:
        """The version with the highest number, including soft-deleted ones."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM dataset_versions WHERE dataset_id = ? ORDER BY version DESC, id DESC LIMIT 1",
                (dataset_id,),
            ).fetchone()
        return _version(row) if row is not None else None
