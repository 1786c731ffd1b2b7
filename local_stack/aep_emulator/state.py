"""The emulator's state: tokens, schemas, datasets, batches and their files, and how a batch settles."""

from __future__ import annotations

import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

SETTLE_STEPS = ("staging",)  # statuses a completed batch shows before its terminal one
# Loaded: "Active and Success are used interchangeably", and "archived" and "retained" follow success (Adobe's batch
# ingestion troubleshooting guide, help/ingestion/batch-ingestion/troubleshooting.md).
LOADED = ("success", "active", "archived", "retained")
# A replay's predecessor once the replay has loaded: catalog.yaml's batch status enum lists ``inactive``; which
# status the real Catalog shows for a replaced batch is not documented (an assumption, see Quirks.keep_live).
REPLACED = "inactive"


@dataclass
class Quirks:
    """Behaviours of the real service a test switches on (each with its source), and where it is unknown, a
    choice the test makes explicit."""

    settled_as: str = "success"  # or "active": the troubleshooting guide uses the two interchangeably
    lost_complete_answers: int = 0  # COMPLETE takes effect, then answers 500 (troubleshooting: retrying is safe)
    ignore_tag_filter: bool = False  # a Catalog that ignores ?tags= (or a tag collision): issue 26 item 4
    empty_list_404: bool = False  # catalog.yaml declares 404 "not found" on its list endpoints; when is unknown
    # Replay predecessors left live: the overview's examples give bare batch ids, the spec's text says client ids
    # take a "$" prefix (adobe/aepp sends "$" + batchId), so a predecessor in the other form may not be matched.
    keep_live: bool = False
    convert_types: bool = True  # the overview's "Types": convert what can be converted, fail only the rest


@dataclass
class AepClient:
    """An OAuth server-to-server credential known to IMS."""

    client_id: str
    client_secret: str
    scopes: frozenset[str] = frozenset({"openid", "AdobeID", "read_organizations"})


@dataclass
class Batch:
    id: str
    dataset_id: str
    external_id: str
    created: int
    tags: dict[str, list[str]]
    predecessors: list[str]
    status: str = "loading"
    completed: bool = False
    reads: int = 0
    files: dict[str, bytes] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    outcome: tuple[str, list[dict[str, Any]]] = ("success", [])
    replaced_by: str | None = None

    def records(self) -> list[Any]:
        rows: list[Any] = []
        for data in self.files.values():
            rows.extend(json.loads(line) for line in data.decode().splitlines() if line.strip())
        return rows

    def view(self, org_id: str) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "id": self.id,
            "imsOrg": org_id,
            "created": self.created,
            "updated": self.created,
            "status": self.status,
            "externalId": self.external_id,
            "inputFormat": {"format": "json"},
            "tags": self.tags,
            "relatedObjects": [{"type": "dataSet", "id": self.dataset_id}],
            "errors": self.errors,
        }
        if self.status in LOADED:
            count = len(self.records())
            shown.update(recordCount=count, failedRecordCount=0, metrics={"inputRecordCount": count})
        if self.predecessors:
            shown["replay"] = {"predecessors": self.predecessors, "reason": "replace"}
        return shown


class State:
    def __init__(self, org_id: str, sandbox: str, token_ttl_s: int) -> None:
        self.org_id = org_id
        self.sandbox = sandbox
        self.token_ttl_s = token_ttl_s
        self.clients: dict[str, AepClient] = {}
        self.tokens: dict[str, tuple[str, float]] = {}  # token -> (client id, expires at)
        self.schemas: dict[str, Any] = {}
        self.datasets: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, Batch] = {}
        self.scripted: list[tuple[str, list[dict[str, Any]]]] = []  # outcomes of the next completed batches
        self.never_settle = False
        self.quirks = Quirks()
        self._ids = itertools.count(1)
        self._clock = itertools.count(int(time.time() * 1000))

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}{secrets.token_hex(4).upper()}"

    def now_ms(self) -> int:
        return next(self._clock)

    def issue(self, client_id: str) -> str:
        token = "tok-" + secrets.token_urlsafe(24)
        self.tokens[token] = (client_id, time.monotonic() + self.token_ttl_s)
        return token

    def token_client(self, token: str) -> str | None:
        entry = self.tokens.get(token)
        if entry is None or time.monotonic() >= entry[1]:
            return None
        return entry[0]

    def complete(self, batch: Batch) -> None:
        if batch.completed:
            return  # COMPLETE again is safe
        batch.completed = True
        # No longer open for files: Catalog shows the batch processing ("staging" here) until it settles. Adobe
        # documents "loading" as the status while files are added; the exact status right after COMPLETE is not
        # documented (an assumption).
        batch.status = SETTLE_STEPS[0] if batch.status == "loading" else batch.status
        batch.outcome = self.scripted.pop(0) if self.scripted else ("success", [])

    def read(self, batch: Batch) -> None:
        """Reading a completed batch's status moves it one step towards its outcome."""
        if not batch.completed or batch.status not in ("loading", *SETTLE_STEPS) or self.never_settle:
            return
        batch.reads += 1
        if batch.reads <= len(SETTLE_STEPS):
            batch.status = SETTLE_STEPS[batch.reads - 1]
            return
        status, errors = batch.outcome
        if status == "success" and not batch.records():
            status, errors = "failed", [{"code": "INGEST-1204-400", "description": "The batch has no files."}]
        if status == "success":
            errors = self.unconvertible(batch)
            status = "failed" if errors else self.quirks.settled_as
        batch.status, batch.errors = status, errors
        if status in LOADED:
            for old in batch.predecessors:
                replaced = self.batches.get(old.removeprefix("$"))
                if replaced is not None and not self.quirks.keep_live:
                    replaced.replaced_by, replaced.status = batch.id, REPLACED

    def unconvertible(self, batch: Batch) -> list[dict[str, Any]]:
        """Batch ingestion's errors for the values it cannot convert to the dataset's schema (the overview's
        "Types": a numeric string becomes a number, a Unix-ms long a date-time; anything else of the wrong type
        fails the batch). Required fields too."""
        if not self.quirks.convert_types:
            return []
        dataset = self.datasets.get(batch.dataset_id, {})
        schema = self.schemas.get(str((dataset.get("schemaRef") or {}).get("id")), {})
        found: list[dict[str, Any]] = []
        for row, record in enumerate(batch.records()):
            for problem in _problems(record, schema):
                found.append({"code": "INGEST-1212-400", "description": f"row {row}: {problem}", "rows": [row]})
        return found[:50]

    def rows(self, dataset_id: str) -> list[Any]:
        """The dataset's data: the records of its successful batches not replaced or reverted."""
        out: list[Any] = []
        for batch in sorted(self.batches.values(), key=lambda b: b.created):
            if batch.dataset_id == dataset_id and batch.status in LOADED and batch.replaced_by is None:
                out.extend(batch.records())
        return out


def _problems(record: Any, schema: Any) -> list[str]:
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(record, dict) or not isinstance(properties, dict):
        return []
    found = [f"{name} is required" for name in schema.get("required", []) if name not in record]
    for name, value in record.items():
        wanted = properties.get(name, {}).get("type") if isinstance(properties.get(name), dict) else None
        date_time = isinstance(properties.get(name), dict) and properties[name].get("format") == "date-time"
        if wanted in ("number", "integer") and not _number_like(value, wanted == "integer"):
            found.append(f"{name}: {value!r} cannot be converted to {wanted}")
        elif wanted == "string" and not isinstance(value, str) and not (date_time and type(value) is int):
            found.append(f"{name}: {value!r} cannot be converted to string")
    return found


def _number_like(value: Any, integer: bool) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int) or (isinstance(value, float) and not integer):
        return True
    if isinstance(value, float):
        return value.is_integer()
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return False
        return number.is_integer() if integer else number == number
    return False
