"""The Gateway's successor route ``/api/v1/datasets`` (route option ``"api": "datasets"``) and HDR UK read-back:
the handler on moto with the emulator over HTTP, and the destination's read-back against the emulator."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from hdr_ingest.core.ports import Call
from hdr_ingest.core.routing import RouteSpec
from hdr_ingest.core.verification import Held
from hdr_ingest.destinations import Common
from hdr_ingest.destinations.hdruk import route
from hdr_ingest.destinations.hdruk.credentials import AppCredentials
from hdr_ingest.destinations.hdruk.destination import HdrukDestination
from hdr_ingest.entry.runtime import reset_runtime
from local_stack.gateway_emulator import GatewayEmulator
from tests.conftest import PACK_DIR, example
from tests.integration.conftest import APP, BUCKET, SECRET, Stack

pytestmark = pytest.mark.integration

DOC = example("schemata/HDRUK/4.0.0/docs.example.json")
TITLE = "  Trusted Research® Data & Notes  "  # padded, non-ASCII and an ampersand: every clean-up step applies
CALL = Call(AppCredentials(APP.app_id, APP.client_id), 5.0, 10.0)


def marked(title: str = TITLE) -> dict[str, Any]:
    document = copy.deepcopy(DOC)
    document["summary"]["title"] = title
    return document


def use_api(stack: Stack, monkeypatch: pytest.MonkeyPatch, api: str | None) -> None:
    options = {"api": api} if api else {}
    routes = [
        {"prefix": "incoming/", "kind": "hdruk", "url": stack.emulator.base_url, "secret": SECRET, "options": options}
    ]
    monkeypatch.setenv("DESTINATIONS", json.dumps(routes))
    reset_runtime()


@pytest.fixture
def datasets_api(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    use_api(stack, monkeypatch, "datasets")
    yield stack
    reset_runtime()


def api_paths(stack: Stack) -> set[str]:
    return {
        record.path.rsplit("/", 1)[0] if record.path[-1].isdigit() else record.path
        for record in stack.emulator.requests()
    }


# --- the successor route, end to end ----------------------------------------------------------------------


def test_successor_route_publishes_updates_archives_and_restores_without_html_encoding(
    datasets_api: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = datasets_api
    monkeypatch.setenv("ARCHIVE_ON_DELETE", "true")
    key = "incoming/successor.json"

    stack.drop_and_invoke(key, marked())
    created = stack.ledger(key)
    assert created["status"] == "CREATED", created["reason"]
    assert int(created["dataset_version"]) == 1
    (dataset,) = stack.gateway_datasets()
    assert dataset["metadata"]["summary"]["title"] == "Trusted Research® Data & Notes"  # trimmed, not encoded
    assert not any("HTML-encoded" in warning for warning in created.get("warnings", []))

    stack.drop_and_invoke(key, marked("A renamed dataset <b>"))
    updated = stack.ledger(key)
    assert updated["status"] == "UPDATED", updated["reason"]
    assert int(updated["dataset_id"]) == dataset["id"] and int(updated["dataset_version"]) == 2
    assert stack.gateway_datasets()[0]["metadata"]["summary"]["title"] == "A renamed dataset <b>"

    stack.s3.delete_object(Bucket=BUCKET, Key=key)
    assert stack.deliver(stack.receive()) == {"batchItemFailures": []}
    assert stack.ledger(key)["status"] == "ARCHIVED"
    (archived,) = stack.gateway_datasets()
    assert archived["status"] == "ARCHIVED" and archived["deleted_at"]

    stack.drop_and_invoke(key, marked("Back again"))
    assert stack.ledger(key)["status"] == "UPDATED"
    (restored,) = stack.gateway_datasets()
    assert restored["status"] == "ACTIVE" and restored["metadata"]["summary"]["title"] == "Back again"
    assert api_paths(stack) == {"/api/v1/datasets"}  # never the integrations route
    assert {r.method for r in stack.emulator.requests()} >= {"POST", "PUT", "DELETE", "PATCH"}


def test_integrations_route_still_html_encodes_and_warns(stack: Stack) -> None:
    key = "incoming/legacy-route.json"
    stack.drop_and_invoke(key, marked())
    item = stack.ledger(key)
    assert item["status"] == "CREATED", item["reason"]
    assert any("HTML-encoded" in warning for warning in item["warnings"])
    assert stack.gateway_datasets()[0]["metadata"]["summary"]["title"] == "Trusted Research&reg; Data &amp; Notes"


def test_successor_route_finds_a_dataset_the_ledger_lost(datasets_api: Stack) -> None:
    stack = datasets_api
    key = "incoming/found.json"
    stack.drop_and_invoke(key, marked())
    first = stack.ledger(key)
    stack.lose_outcome(key)
    stack.drop_and_invoke(key, marked("Changed after the ledger was lost"))
    item = stack.ledger(key)
    assert item["status"] == "UPDATED", item["reason"]
    assert item["dataset_id"] == first["dataset_id"] and len(stack.gateway_datasets()) == 1
    lookups = [r for r in stack.emulator.requests() if r.method == "GET" and r.path == "/api/v1/datasets"]
    assert lookups and all(r.query["dataset_id"] == [item["datasetid"]] for r in lookups)


@pytest.mark.parametrize("status", [404, 410])
def test_a_removed_integrations_route_says_to_set_api_datasets(stack: Stack, status: int) -> None:
    stack.emulator.faults.remove_integrations(status)
    key = "incoming/removed-route.json"
    stack.drop_and_invoke(key, marked())
    item = stack.ledger(key)
    assert item["status"] == "REJECTED"
    assert int(item["gateway_status"]) == status
    assert '"api": "datasets"' in item["reason"] and "/api/v1/datasets" in item["reason"]
    assert stack.gateway_datasets() == []


def test_the_successor_route_works_while_the_integrations_route_is_removed(datasets_api: Stack) -> None:
    datasets_api.emulator.faults.remove_integrations(410)
    datasets_api.drop_and_invoke("incoming/after-removal.json", marked())
    assert datasets_api.ledger("incoming/after-removal.json")["status"] == "CREATED"


# --- read-back -------------------------------------------------------------------------------------------


@pytest.fixture
def gateway(emulator: GatewayEmulator) -> GatewayEmulator:
    emulator.reset()
    emulator.set_apps([APP], replace=True)
    return emulator


def destination(gateway: GatewayEmulator, api: str) -> HdrukDestination:
    spec = RouteSpec("incoming/", "hdruk", gateway.base_url, SECRET, {"api": api})
    return route.build(spec, Common(schema_pack_dir=PACK_DIR))


@pytest.mark.parametrize("api", ["integrations", "datasets"])
def test_read_back_equals_expected_after_publishing_and_differs_after_an_edit(
    gateway: GatewayEmulator, api: str
) -> None:
    hdruk = destination(gateway, api)
    document = marked()
    document["summary"]["abstract"] = "\tAn abstract, EMIS Web®\n"
    document["summary"]["dataCustodian"]["description"] = ""  # "" -> null on both routes
    verdict = hdruk.judge(document, json.dumps(document))
    assert verdict.valid, verdict.summary
    created = hdruk.create("s3://b/k.json", document, verdict, CALL)
    assert created.record_id is not None

    held = hdruk.read_back(created.record_id, "s3://b/k.json", CALL)
    expected = hdruk.expected(document, verdict.sent_along)
    assert held.state is Held.HELD and held.content == expected
    title = "Trusted Research&reg; Data &amp; Notes" if api == "integrations" else "Trusted Research® Data & Notes"
    assert expected["summary"]["title"] == title
    assert expected["summary"]["abstract"] == f"An abstract, EMIS Web{'&reg;' if api == 'integrations' else '®'}"
    assert expected["summary"]["dataCustodian"]["description"] is None
    assert expected != document

    edited = copy.deepcopy(held.content)
    edited["summary"]["title"] = "Edited on the Gateway"
    gateway.edit_held(int(created.record_id), edited)
    after = hdruk.read_back(created.record_id, "s3://b/k.json", CALL)
    assert after.state is Held.HELD and after.content != expected
    assert after.content["summary"]["title"] == "Edited on the Gateway"


def test_read_back_is_missing_once_archived_and_unknown_on_a_transient_failure(gateway: GatewayEmulator) -> None:
    hdruk = destination(gateway, "datasets")
    verdict = hdruk.judge(DOC, json.dumps(DOC))
    created = hdruk.create("s3://b/gone.json", DOC, verdict, CALL)
    assert created.record_id is not None

    gateway.faults.script(["500"])
    assert hdruk.read_back(created.record_id, "s3://b/gone.json", CALL).state is Held.UNKNOWN

    hdruk.archive(created.record_id, CALL)
    gone = hdruk.read_back(created.record_id, "s3://b/gone.json", CALL)
    assert gone.state is Held.MISSING and "archived" in gone.message
    assert hdruk.read_back(987654, "s3://b/never.json", CALL).state is Held.MISSING


def test_read_back_is_missing_for_a_dataset_that_is_not_active(gateway: GatewayEmulator) -> None:
    hdruk = destination(gateway, "datasets")
    created = hdruk.create("s3://b/draft.json", DOC, hdruk.judge(DOC, json.dumps(DOC)), CALL)
    assert created.record_id is not None
    headers = {"x-application-id": APP.app_id, "x-client-id": APP.client_id}
    patched = requests.patch(
        f"{gateway.base_url}/datasets/{created.record_id}", json={"status": "DRAFT"}, headers=headers, timeout=10
    )
    assert patched.status_code == 200
    draft = hdruk.read_back(created.record_id, "s3://b/draft.json", CALL)
    assert draft.state is Held.MISSING and "DRAFT" in draft.message
