"""Read-back after publishing, end to end (issue 22 item 1): the handler on moto, the HDR UK Gateway emulator over
HTTP, and the ledger's ``verified``."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from hdr_ingest.destinations.hdruk.destination import HdrukDestination
from hdr_ingest.entry.runtime import reset_runtime
from tests.conftest import example
from tests.integration.conftest import SECRET, Stack

pytestmark = pytest.mark.integration

DOC = example("schemata/HDRUK/4.0.0/docs.example.json")


def document(title: str = "  A dataset read back & checked® ") -> dict[str, Any]:
    out = copy.deepcopy(DOC)
    out["summary"]["title"] = title
    return out


def use_route(stack: Stack, monkeypatch: pytest.MonkeyPatch, options: dict[str, Any]) -> None:
    routes = [
        {"prefix": "incoming/", "kind": "hdruk", "url": stack.emulator.base_url, "secret": SECRET, "options": options}
    ]
    monkeypatch.setenv("DESTINATIONS", json.dumps(routes))
    reset_runtime()


def shows(stack: Stack) -> list[str]:
    """The read-backs the emulator served: ``GET /api/v1/datasets/{id}``."""
    return [
        r.path
        for r in stack.emulator.requests()
        if r.method == "GET" and r.path.startswith("/api/v1/datasets/") and r.path.rsplit("/", 1)[1].isdigit()
    ]


@pytest.mark.parametrize("api", ["integrations", "datasets"])
def test_a_published_dataset_is_read_back_and_matches(stack: Stack, monkeypatch: pytest.MonkeyPatch, api: str) -> None:
    use_route(stack, monkeypatch, {"api": api})
    key = "incoming/verified.json"
    stack.drop_and_invoke(key, document())
    item = stack.ledger(key)
    assert item["status"] == "CREATED", item["reason"]
    assert item["verified"] == "matches" and item["verified_at"] == item["updated_at"]
    assert "differences" not in item
    assert shows(stack) == [f"/api/v1/datasets/{item['dataset_id']}"]  # one GET per publish

    stack.drop_and_invoke(key, document("Renamed"))
    updated = stack.ledger(key)
    assert updated["status"] == "UPDATED" and updated["verified"] == "matches"


def test_a_dataset_edited_on_the_gateway_before_the_read_back_differs_naming_the_path(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_back = HdrukDestination.read_back

    def edited_first(self: HdrukDestination, record_id: Any, record_key: str, call: Any) -> Any:
        # A custodian edits the dataset on the Gateway's website between our create and our read-back.
        (dataset,) = stack.gateway_datasets()
        held = copy.deepcopy(dataset["metadata"])
        held["summary"]["title"] = "Edited by hand"
        stack.emulator.edit_held(int(record_id), held)
        return read_back(self, record_id, record_key, call)

    monkeypatch.setattr(HdrukDestination, "read_back", edited_first)
    key = "incoming/edited.json"
    stack.drop_and_invoke(key, document("Our title"))
    item = stack.ledger(key)
    assert item["status"] == "CREATED" and item["verified"] == "differs"
    assert item["differences"] == [{"path": "$.summary.title", "sent": '"Our title"', "held": '"Edited by hand"'}]


@pytest.mark.parametrize("failure", ["503", "timeout"])
def test_a_transient_read_back_failure_leaves_verified_unset_and_the_publish_created(
    stack: Stack, failure: str
) -> None:
    stack.emulator.faults.script(["ok", failure])  # the create (a first publish: no lookup), then the read-back
    key = "incoming/unread.json"
    assert stack.drop_and_invoke(key, document()) == {"batchItemFailures": []}
    item = stack.ledger(key)
    assert item["status"] == "CREATED", item["reason"]
    assert "verified" not in item and "verified_at" not in item
    assert len(shows(stack)) == 1 and stack.dead_letters() == []


def test_route_option_verify_false_reads_nothing_back(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    use_route(stack, monkeypatch, {"verify": False})
    key = "incoming/unverified.json"
    stack.drop_and_invoke(key, document())
    item = stack.ledger(key)
    assert item["status"] == "CREATED" and "verified" not in item
    assert shows(stack) == []
