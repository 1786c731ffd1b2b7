"""The emulator's state: tokens, schemas, datasets, batches and their files, and how a batch settles."""

from __future__ import annotations

import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Statuses a completed batch shows before its terminal one: ``staging`` is one of the "not done yet" statuses (notes
# ``shared/notes/destinations.md`` §3 step 5; ``catalog.yaml``'s batch status enum); that exactly one read shows it is
# the emulator's (a real batch takes minutes).
SETTLE_STEPS = ("staging",)
# "Active and Success are used interchangeably"; "archived" and "retained" follow success (AdobeDocs/
# experience-platform.en help/ingestion/batch-ingestion/troubleshooting.md): a batch in any of them is loaded.
LOADED = ("success", "active", "archived", "retained")


@dataclass
class Quirks:
    """The real service's behaviours that a client must survive, switched on by a test (all off: the plain
    documented behaviour)."""

    # the word Catalog uses for a loaded batch: "success" or "active" (troubleshooting guide, above)
    loaded_word: str = "success"
    # the next N COMPLETE calls take effect and still answer 500: "the COMPLETE call may have succeeded even when
    # it answered an error; retrying it is safe" (troubleshooting guide)
    complete_errors: int = 0
    # Catalog answers a list as if the ``tags`` filter were absent. Not documented either way (the filtering
    # guide, help/catalog/api/filter-data.md, documents ``tags``); issue 26 #4 met it: a client must check tags.
    ignore_tags_filter: bool = False
    # an empty list answered 404: Catalog's list endpoints declare a 404 "not found" (catalog.yaml)
    empty_list_404: bool = False
    # a replay batch leaves its predecessor live: how predecessors are named is ambiguous in Adobe's material
    # (bare ids in api-overview.md's "Replay a batch" examples, "$"-prefixed in batch-ingestion.yaml's text,
    # "$" + id in adobe/aepp aepp/ingestion.py replayBatch); the real outcome of the "wrong" form is unknown
    predecessor_left_live: bool = False


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
    rows: list[Any] = field(default_factory=list)  # the records as loaded (converted)

    def records(self) -> list[Any]:
        rows: list[Any] = []
        for data in self.files.values():
            rows.extend(json.loads(line) for line in data.decode().splitlines() if line.strip())
        return rows

    def view(self, org_id: str) -> dict[str, Any]:
        """The batch as Catalog shows it: the fields of ``catalog.yaml``'s Batch (``imsOrg``, ``created``, ``status``,
        ``externalId``, ``relatedObjects``, ``errors``, ``recordCount``/``failedRecordCount``, ``replay``) and
        ``metrics.inputRecordCount`` (``batch-ingestion.yaml``); ``created`` an integer (ms), as the schema types it."""
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
        """An id of the emulator's own form (``DS``/``B``, a counter, random hex); Catalog's real ids differ."""
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
            # A completed batch without data fails: the code and words are the emulator's (not in the notes).
            status, errors = "failed", [{"code": "INGEST-1204-400", "description": "The batch has no files."}]
        if status == "success":
            batch.rows, errors = converted(batch.records(), self.schema_of(batch.dataset_id))
            status = "failed" if errors else self.quirks.loaded_word
        batch.status, batch.errors = status, errors
        if status in LOADED and not self.quirks.predecessor_left_live:
            for old in batch.predecessors:
                # either form names the predecessor here: its bare id or "$" + id (see Quirks)
                replaced = self.batches.get(old.removeprefix("$"))
                if replaced is not None:
                    # what status a replaced batch shows is not documented: "inactive" (a value of catalog.yaml's batch
                    # status enum) is an assumption
                    replaced.replaced_by, replaced.status = batch.id, "inactive"

    def schema_of(self, dataset_id: str) -> Any:
        ref = self.datasets.get(dataset_id, {}).get("schemaRef")
        return self.schemas.get(str(ref.get("id"))) if isinstance(ref, dict) else None

    def rows(self, dataset_id: str) -> list[Any]:
        """The dataset's data: the records of its successful batches not replaced or reverted."""
        out: list[Any] = []
        for batch in sorted(self.batches.values(), key=lambda b: b.created):
            if batch.dataset_id == dataset_id and batch.status in LOADED and batch.replaced_by is None:
                out.extend(batch.rows)
        return out


def converted(records: list[Any], schema: Any) -> tuple[list[Any], list[dict[str, Any]]]:
    """The records as AEP loads them, and the errors that fail the batch. AEP converts what it can (a numeric
    string where a number is wanted, a Unix-ms long where a date-time is) and fails only what it cannot convert
    (AdobeDocs/experience-platform.en help/ingestion/batch-ingestion/api-overview.md, "Types"). Only the schema's
    top-level properties, ``type`` and ``required`` are modelled; how AEP reports a row error beyond the code
    and description is not known here: the ``INGEST-1212-400`` code, the words and ``rows`` are the emulator's."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return records, []
    rows: list[Any] = []
    errors: list[dict[str, Any]] = []
    for index, record in enumerate(records):
        row = dict(record) if isinstance(record, dict) else {}
        missing = [n for n in schema.get("required") or [] if n not in row]
        for name in missing:
            errors.append(
                {"code": "INGEST-1212-400", "description": f"row {index}: {name} is required", "rows": [index]}
            )
        for name, value in list(row.items()):
            spec = properties.get(name)
            spec = spec if isinstance(spec, dict) else {}
            ok, row[name] = _convert(value, spec)
            if not ok:
                description = f"row {index}: {name}={value!r} cannot be converted to {spec.get('type')}"
                errors.append({"code": "INGEST-1212-400", "description": description, "rows": [index]})
        rows.append(row)
    return rows, errors


def _convert(value: Any, spec: dict[str, Any]) -> tuple[bool, Any]:
    wanted = spec.get("type")
    if wanted in ("integer", "number"):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return wanted == "number" or float(value).is_integer(), value
        try:
            number = float(str(value).strip())
        except ValueError:
            return False, value
        if wanted == "integer":
            return number.is_integer(), int(number) if number.is_integer() else value
        return True, number
    if wanted == "string" and spec.get("format") in ("date-time", "date"):
        if isinstance(value, int) and not isinstance(value, bool):
            return True, datetime.fromtimestamp(value / 1000, UTC).isoformat().replace("+00:00", "Z")
        return isinstance(value, str), value
    if wanted == "string":
        return isinstance(value, str), value
    return True, value
