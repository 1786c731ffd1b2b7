"""The emulator's state: tokens, schemas, datasets, batches and their files, and how a batch settles."""

from __future__ import annotations

import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

SETTLE_STEPS = ("staging",)  # statuses a completed batch shows before its terminal one


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
        if self.status in ("success", "active"):
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
        batch.status, batch.errors = status, errors
        if status == "success":
            for old in batch.predecessors:
                if old in self.batches:
                    self.batches[old].replaced_by = batch.id

    def rows(self, dataset_id: str) -> list[Any]:
        """The dataset's data: the records of its successful batches not replaced or reverted."""
        out: list[Any] = []
        for batch in sorted(self.batches.values(), key=lambda b: b.created):
            if batch.dataset_id == dataset_id and batch.status == "success" and batch.replaced_by is None:
                out.extend(batch.records())
        return out
