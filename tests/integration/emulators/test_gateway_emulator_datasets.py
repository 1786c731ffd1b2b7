"""The Gateway emulator's ``/api/v1/datasets`` routes (``DatasetController``) over HTTP, and the switch that
removes the integrations route."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from hdr_ingest.destinations.hdruk.schema_pack import SchemaPack
from local_stack.gateway_emulator import App, GatewayEmulator
from tests.conftest import example

pytestmark = pytest.mark.integration

HEADERS = {"x-application-id": "app-one", "x-client-id": "client-one"}
TEAM2_HEADERS = {"x-application-id": "app-two", "x-client-id": "client-two"}
TIMEOUT = 10
DOC = example("schemata/HDRUK/4.0.0/docs.example.json")
QUERY = {"input_schema": "HDRUK", "input_version": "4.0.0"}


@pytest.fixture(scope="module")
def running(pack: SchemaPack) -> Iterator[GatewayEmulator]:
    apps = [App("app-one", "client-one", team_id=1), App("app-two", "client-two", team_id=2)]
    with GatewayEmulator(apps=apps, validator=pack) as emulator:
        yield emulator


@pytest.fixture
def emu(running: GatewayEmulator) -> GatewayEmulator:
    running.reset()
    return running


def titled(title: Any) -> dict[str, Any]:
    document = copy.deepcopy(DOC)
    document["summary"]["title"] = title
    return document


def post(emu: GatewayEmulator, document: Any, datasetid: str = "ds-1", headers: dict[str, str] = HEADERS) -> Any:
    body = {"metadata": {"metadata": document}, "datasetid": datasetid, "status": "ACTIVE"}
    return requests.post(f"{emu.base_url}/datasets", json=body, params=QUERY, headers=headers, timeout=TIMEOUT)


def test_store_keeps_text_as_sent_trimmed_and_show_is_public(emu: GatewayEmulator) -> None:
    created = post(emu, titled("  R&D ® <data>  "))
    assert created.status_code == 201 and created.json()["message"] == "created"
    assert created.headers["Deprecation"] == "true"  # the v1 dataset routes carry the sunset middleware too
    dataset_id = created.json()["data"]

    shown = requests.get(f"{emu.base_url}/datasets/{dataset_id}", timeout=TIMEOUT)  # no app headers
    assert shown.status_code == 200
    data = shown.json()["data"]
    (version,) = data["versions"]
    assert version["version"] == 1 and data["status"] == "ACTIVE" and data["datasetid"] == "ds-1"
    assert version["metadata"]["original_metadata"]["summary"]["title"] == "R&D ® <data>"
    assert data["linkages"] == [] and version["linked_dataset_versions"] == []


def test_store_needs_a_title(emu: GatewayEmulator) -> None:
    for title in ("", "   ", None):
        answer = post(emu, titled(title))
        assert (answer.status_code, answer.json()) == (400, {"message": "Title is required to save a dataset"})
    assert emu.datasets() == []


def test_update_answers_success_alone_and_overwrites_the_latest_version(emu: GatewayEmulator) -> None:
    dataset_id = post(emu, titled("First")).json()["data"]
    body = {"metadata": {"metadata": titled("Second ®")}, "status": "ACTIVE"}
    put = requests.put(
        f"{emu.base_url}/datasets/{dataset_id}", json=body, params=QUERY, headers=HEADERS, timeout=TIMEOUT
    )
    assert (put.status_code, put.json()) == (200, {"message": "success"})
    (dataset,) = emu.datasets()
    assert dataset["version"] == 2 and dataset["metadata"]["summary"]["title"] == "Second ®"

    other = requests.put(
        f"{emu.base_url}/datasets/{dataset_id}", json=body, params=QUERY, headers=TEAM2_HEADERS, timeout=TIMEOUT
    )
    assert other.status_code == 401 and "another team" in other.json()["message"]


def test_archived_dataset_is_404_on_show_and_500_on_update_and_delete(emu: GatewayEmulator) -> None:
    dataset_id = post(emu, titled("Archived")).json()["data"]
    url = f"{emu.base_url}/datasets/{dataset_id}"
    assert requests.delete(url, headers=HEADERS, timeout=TIMEOUT).json() == {"message": "success"}

    shown = requests.get(url, timeout=TIMEOUT)
    assert (shown.status_code, shown.json()) == (404, {"message": "Dataset not found"})
    body = {"metadata": {"metadata": titled("Again")}}
    put = requests.put(url, json=body, headers=HEADERS, timeout=TIMEOUT)
    assert (put.status_code, put.json()["message"]) == (500, 'Attempt to read property "pid" on null')
    again = requests.delete(url, headers=HEADERS, timeout=TIMEOUT)
    assert (again.status_code, again.json()["message"]) == (500, 'Attempt to read property "team_id" on null')

    restore = requests.patch(url, params={"unarchive": 1}, json={"status": "ACTIVE"}, headers=HEADERS, timeout=TIMEOUT)
    assert restore.status_code == 200 and requests.get(url, timeout=TIMEOUT).status_code == 200


def test_index_finds_our_datasetid_with_its_latest_metadata(emu: GatewayEmulator) -> None:
    post(emu, titled("Mine"), datasetid="mine")
    post(emu, titled("Other"), datasetid="other")
    post(emu, titled("Team two"), datasetid="mine", headers=TEAM2_HEADERS)
    listing = requests.get(
        f"{emu.base_url}/datasets", params={"dataset_id": "mine", "withTrashed": 1}, headers=HEADERS, timeout=TIMEOUT
    ).json()
    (item,) = listing["data"]
    assert item["datasetid"] == "mine" and item["team_id"] == 1 and "versions" not in item
    assert item["latest_metadata"]["version"] == 1
    assert item["latest_metadata"]["metadata"]["original_metadata"]["summary"]["title"] == "Mine"


def test_the_removed_switch_answers_only_the_integrations_route(emu: GatewayEmulator) -> None:
    configured = requests.post(f"{emu.root_url}/_emulator/faults", json={"integrations_removed": 410}, timeout=TIMEOUT)
    assert configured.json()["integrations_removed"] == 410
    gone = requests.get(f"{emu.base_url}/integrations/datasets", headers=HEADERS, timeout=TIMEOUT)
    assert (gone.status_code, gone.json()) == (410, {"code": 410, "message": "Gone"})
    assert post(emu, titled("Still here")).status_code == 201
    refused = requests.post(f"{emu.root_url}/_emulator/faults", json={"integrations_removed": 500}, timeout=TIMEOUT)
    assert refused.status_code == 400
    emu.faults.remove_integrations(None)
    assert requests.get(f"{emu.base_url}/integrations/datasets", headers=HEADERS, timeout=TIMEOUT).status_code == 200
