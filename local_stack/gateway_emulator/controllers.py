"""What the Gateway's two dataset controllers share: the store, ``extractMetadata()``, the TRASER call, the team
check and the paginated listing (``IntegrationDatasetController`` and ``DatasetController`` of HDRUK/gateway-api,
``app/Http/Controllers/Api/V1/``)."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .replies import (
    _OTHER_TEAM,
    _SORTABLE_FIELDS,
    App,
    _column_text,
    _error,
    _paginator,
    _per_page,
    _php_truthy,
    _positive_int,
    _Reply,
    _sort_key,
    _version_metadata,
)
from .sanitize import Preprocessing, php_arrays
from .store import DatasetRow, DatasetStore
from .validation import TargetFactory, Validator, run_traser

# The columns a POST stores from its body, with their lengths (gateway-api database/migrations; notes §(a) "Request
# body for POST and PUT": pid is a uuid column, char(36), datasetid char 255; the mongo_* lengths are taken as 255).
_COLUMNS = (("datasetid", 255), ("pid", 36), ("mongo_pid", 255), ("mongo_id", 255), ("mongo_object_id", 255))


class Controllers:
    """The base of the emulator's controller mixins; :class:`~.server.GatewayEmulator` sets these attributes."""

    db_path: Path | None
    validator: Validator | None
    preprocessing: Preprocessing
    _store: DatasetStore | None
    _target_factory: TargetFactory

    def _held(self, document: Any) -> dict[str, Any]:
        """What a version row keeps: the controller ``json_encode``s the PHP arrays Laravel decoded the body into
        (``MetadataVersioning::updateMetadataVersion``, ``MetadataOnboard``), so ``{}`` is stored as ``[]``."""
        return _version_metadata(php_arrays(document) if self.preprocessing.php_arrays else document)

    def _require_store(self) -> DatasetStore:
        if self._store is None:
            self._store = DatasetStore(self.db_path)
        return self._store

    def _index(
        self, team_id: int | None, query: Mapping[str, str | None], path_url: str, versions: str | None = "versions"
    ) -> _Reply:
        """``index()`` of either controller (notes §(a) "List query parameters": ``status``, ``withTrashed``,
        ``dataset_id`` exact on ``datasetid``, ``mongo_pid``, ``title``, ``sort=field:asc|desc`` with a ``metadata.``
        prefix allowed, ``per_page`` default 25, ``page``; the documented ``pid`` filter is not implemented there,
        nor here; ``team_id`` always the app's own): the team's datasets filtered, sorted and paginated. The
        default order (``created:desc``, ties by id) and the SQL error for a bad field when no live dataset exists
        are the emulator's reading of ``index()``, not in the notes and not run; notes §(a) gives only the 400
        message. ``versions``: the
        key under which each item carries its versions (``"versions"``: all of them, the integrations route;
        ``"latest_metadata"``: the latest alone, ``DatasetController``; None: none)."""
        store = self._require_store()
        sort = query.get("sort") or "created:desc"
        sort_parts = sort.split(":")
        sort_field = sort_parts[0]
        direction = sort_parts[1] if len(sort_parts) > 1 else "asc"
        on_metadata = sort_field.startswith("metadata.")
        if not on_metadata and sort_field not in _SORTABLE_FIELDS:
            if store.any_live():
                # PHP single-quoted '\"' keeps the backslash, so the message really contains \" (sic).
                return _Reply(400, {"message": f'\\"{sort_field}\\" is not a valid field to sort on'})
            return _error(
                500,
                f"SQLSTATE[42S22]: Column not found: 1054 Unknown column '{sort_field}' in 'order clause'",
            )
        if direction not in ("desc", "asc"):
            return _Reply(400, {"message": f'Sort direction must be either: desc OR asc. Not "{direction}"'})
        rows = self._filtered(team_id, query)
        rows.sort(key=lambda row: row.id, reverse=True)
        if on_metadata:
            metadata_path = sort_field.split(".")
            rows.sort(
                key=lambda row: _sort_key(self._latest_value(row.id, metadata_path)),
                reverse=direction == "desc",
            )
        else:
            rows.sort(key=lambda row: _sort_key(row.to_json()[sort_field]), reverse=direction == "desc")
        return self._page(rows, query, path_url, versions)

    def _filtered(self, team_id: int | None, query: Mapping[str, str | None]) -> list[DatasetRow]:
        status = query.get("status")
        # notes §(a): ARCHIVED also includes soft-deleted rows; withTrashed is a presence flag.
        with_trashed = "withTrashed" in query or status == "ARCHIVED"
        dataset_id, mongo_pid, title = query.get("dataset_id"), query.get("mongo_pid"), query.get("title")
        # ?dataset_id= is filtered in SQL (an indexed column), not by listing every dataset of the team.
        rows = self._require_store().all(
            include_archived=with_trashed,
            team_id=team_id,
            datasetid=dataset_id if _php_truthy(dataset_id) else None,
        )
        if _php_truthy(mongo_pid):
            rows = [row for row in rows if row.mongo_pid == mongo_pid]
        if _php_truthy(status):
            rows = [row for row in rows if row.status == status]
        if title:
            needle = title.lower()
            rows = [row for row in rows if needle in self._latest_title(row.id).lower()]
        return rows

    def _page(
        self, rows: list[DatasetRow], query: Mapping[str, str | None], path_url: str, versions: str | None
    ) -> _Reply:
        store = self._require_store()
        per_page = _per_page(query.get("per_page"))
        page = _positive_int(query.get("page")) or 1
        total = len(rows)
        last_page = max(math.ceil(total / per_page), 1)
        chunk = rows[(page - 1) * per_page : page * per_page]
        items = []
        for row in chunk:
            item = row.to_json()
            if versions == "versions":
                item["versions"] = [version.to_json() for version in store.versions(row.id, with_trashed=True)]
            elif versions is not None:
                latest = store.latest_version(row.id)  # latestMetadata(): withTrashed, highest version
                item[versions] = latest.to_json() if latest else None
            items.append(item)
        first = (page - 1) * per_page + 1 if chunk else None
        return _Reply(200, _paginator(items, page, per_page, total, last_page, path_url, first))

    def _latest_title(self, dataset_id: int) -> str:
        value = self._latest_value(dataset_id, ["metadata", "summary", "title"])
        return value if isinstance(value, str) else ""

    def _latest_value(self, dataset_id: int, path: Sequence[str]) -> Any:
        latest = self._require_store().latest_version(dataset_id)
        value: Any = latest.metadata if latest else None
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    def _check_team(self, app: App, row: DatasetRow, status: int = 500) -> _Reply | None:
        """Another team's dataset: 500 on the integrations route, 401 on ``/api/v1/datasets`` (notes §(a) error
        table: DatasetIntegrationDeprecatedTest:412,426 against DatasetIntegrationTest:417)."""
        return _error(status, _OTHER_TEAM) if row.team_id != app.team_id else None

    def _extract(self, data: Mapping[str, Any]) -> Any:
        """``extractMetadata()``: accept ``{"metadata": doc}`` and ``{"metadata": {"metadata": doc}}`` (notes §(a)
        "Request body for POST and PUT"); metadata sent as a JSON string is decoded (GAT-5745, 4dbe5d601, notes
        §(g)), so under ``sanitize.input`` a string whose quotes became ``&quot;`` stays a string and TRASER refuses
        it (notes §(c))."""
        outer = data.get("metadata")
        wrapper: Mapping[str, Any] = data
        if isinstance(outer, dict) and outer.get("metadata") is not None:
            wrapper = outer
        document = wrapper.get("metadata")
        if isinstance(document, str):
            try:
                decoded = json.loads(document)
            except json.JSONDecodeError:
                return document
            if isinstance(decoded, (dict, list)):
                return decoded
        return document

    def _translate(self, document: Any, query: Mapping[str, str | None]) -> _Reply | None:
        """``MMC::translateDataModelType()`` (``MetadataManagementController.php``; notes §(c)): only TRASER's 200
        passes; otherwise the controller's 400 "metadata is in an unknown format and cannot be processed" with
        ``details`` {traser_message, wasTranslated: false, metadata: null, statusCode} (notes §(a) error table), or
        500 "Translation Service error…" when TRASER cannot be reached (see :func:`.validation.run_traser`)."""
        if self.preprocessing.php_arrays:
            document = php_arrays(document)  # MMC json_encodes the PHP array it decoded: {} arrives as []
        outcome = run_traser(
            self.validator,
            document,
            query.get("input_schema"),
            query.get("input_version"),
            self._target_factory,
        )
        if outcome.ok:
            return None
        if outcome.server_error is not None:
            return _error(500, outcome.server_error)
        return _Reply(
            400,
            {
                "message": "metadata is in an unknown format and cannot be processed",
                "details": outcome.details,
            },
        )

    def _columns(self, data: Mapping[str, Any]) -> dict[str, str | None] | _Reply:
        """The ``datasets`` columns a POST body sets (notes §(a): ``pid`` defaults to a random UUID; ``datasetid``,
        ``mongo_pid``, ``mongo_id``, ``mongo_object_id`` stored as sent, after ``sanitize.input``); a value too long
        for its column fails as MySQL's strict mode does (error 1406), rendered 500 by the handler (inferred)."""
        columns: dict[str, str | None] = {}
        for name, limit in _COLUMNS:
            value = data.get(name)
            if name == "pid" and name not in data:
                value = str(uuid.uuid4())
            text = _column_text(value)
            if isinstance(text, _Reply):
                return text
            if text is not None and len(text) > limit:
                return _error(
                    500,
                    f"SQLSTATE[22001]: String data, right truncated: 1406 Data too long for column '{name}' at row 1",
                )
            columns[name] = text
        return columns

    def _create(self, app: App, data: Mapping[str, Any], columns: Mapping[str, str | None], document: Any) -> _Reply:
        """The dataset row with ``team_id``, ``user_id``, ``status=ACTIVE`` and ``create_origin=API`` forced from the
        app (``IntegrationOverride::injectApplicationDatasetDefaults``, notes §(a)) and version 1; the answer is 201
        ``{"message":"created","data":<dataset id>,"version":<dataset_version row id>}`` (notes §(a) table). Ids
        are consecutive integers from 1, as MySQL's auto-increment gives them."""
        dataset_id, version_id = self._require_store().create(
            team_id=app.team_id,
            user_id=app.user_id,
            datasetid=columns["datasetid"],
            pid=columns["pid"] or "",
            mongo_object_id=columns["mongo_object_id"],
            mongo_id=columns["mongo_id"],
            mongo_pid=columns["mongo_pid"],
            is_cohort_discovery=bool(data.get("is_cohort_discovery")),
            metadata=self._held(document),
        )
        return _Reply(201, {"message": "created", "data": dataset_id, "version": version_id})


def output_schema(query: Mapping[str, str | None]) -> _Reply | None:
    """``show()``'s ``schema_model``/``schema_version`` (notes §(a) "GET one"): one alone is a 500 (its message
    words are not in the notes: unchecked); both translate the stored GWDM through TRASER, which the
    emulator does not do: it answers 400 "failed to translate" with ``statusCode`` 501, its own, so that no client
    takes an untranslated document for a translation."""
    model, version = query.get("schema_model"), query.get("schema_version")
    if model and version:
        details = {
            "traser_message": {"message": "output translation is not emulated"},
            "wasTranslated": False,
            "metadata": None,
            "statusCode": 501,
        }
        return _Reply(400, {"message": "failed to translate", "details": details})
    if model:
        return _error(500, "You have given a schema_model but not a schema_version")
    if version:
        return _error(500, "You have given a schema_version but not schema_model")
    return None
