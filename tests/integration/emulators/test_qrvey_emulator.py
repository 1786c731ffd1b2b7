"""The Qrvey emulator over real HTTP: the contract the ``qrvey`` destination relies on (notes/destinations.md §2),
its load states, error envelope and fault injection; and the bundled Qrvey samples judged as their manifest says."""

from __future__ import annotations

import json
import time
import tomllib
from typing import Any

import pytest
import requests

from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.destinations.qrvey.client import QrveyClient, Reply
from hdr_ingest.destinations.qrvey.credentials import ApiKey
from hdr_ingest.destinations.qrvey.judge import DatasetJudge
from local_stack.qrvey_emulator import QrveyEmulator
from tests.conftest import ROOT
from tests.integration.conftest import Emulators

pytestmark = pytest.mark.integration

KEY = "emulator-test-key"
SAMPLES = ROOT / "local_stack" / "samples" / "qrvey"
DEFINITION = json.loads((SAMPLES / "air-quality-dataset.json").read_text(encoding="utf-8"))


@pytest.fixture
def qrvey(qrvey_emulators: Emulators[QrveyEmulator]) -> QrveyEmulator:
    running = qrvey_emulators(api_keys=[KEY])
    running.set_draft_reads(0)  # tests counting reads: the DRAFT-after-load quirk has its own test
    return running


def call(emulator: QrveyEmulator, method: str, rest: str = "", body: Any = None, key: str | None = KEY) -> Any:
    headers = {"x-api-key": key} if key else {}
    url = f"{emulator.base_url}/user/u-1/app/a-1/qollect/dataset{rest}"
    return requests.request(method, url, json=body, headers=headers, timeout=5)


def test_a_dataset_is_created_as_draft_then_loads_over_reads(qrvey: QrveyEmulator) -> None:
    qrvey.set_load_steps(1)
    qrvey.set_draft_reads(1)
    created = call(qrvey, "POST", body=DEFINITION)
    assert created.status_code == 200
    dataset = created.json()
    assert dataset["status"] == "DRAFT" and dataset["appId"] == "a-1" and dataset["userId"] == "u-1"
    dataset_id = dataset["datasetId"]
    assert call(qrvey, "POST", f"/{dataset_id}/load").json() == {"datasetId": dataset_id, "status": "LOADING"}
    assert [call(qrvey, "GET", f"/{dataset_id}").json()["status"] for _ in range(4)] == [
        "DRAFT",
        "LOADING",
        "LOADED",
        "LOADED",
    ]
    found = call(
        qrvey,
        "POST",
        "/all",
        {"limit": 5, "filters": [{"filterType": "CONTAINS", "column": "search", "value": "air QUALITY"}]},
    ).json()
    assert found["Count"] == 1 and found["Items"][0]["datasetId"] == dataset_id
    assert call(qrvey, "DELETE", f"/{dataset_id}").json()["datasetId"] == dataset_id
    gone = call(qrvey, "GET", f"/{dataset_id}")
    assert gone.status_code == 404 and gone.json() == {
        "status": "error",
        "errors": [{"message": f"Dataset {dataset_id} not found"}],
    }


def test_scripted_failures_end_a_load_failed_with_a_reason(qrvey: QrveyEmulator) -> None:
    qrvey.set_load_steps(0)
    qrvey.fail_loads("Table pollen does not exist", table="pollen")
    qrvey.fail_loads("Out of memory")
    first = call(qrvey, "POST", body=DEFINITION).json()["datasetId"]
    call(qrvey, "POST", f"/{first}/load")
    assert call(qrvey, "GET", f"/{first}").json()["errorMessage"] == "Out of memory"
    call(qrvey, "POST", f"/{first}/load")  # loaded again: the scripted failure was used up
    assert call(qrvey, "GET", f"/{first}").json()["status"] == "LOADED"
    pollen = {**DEFINITION, "datasources": [{**DEFINITION["datasources"][0], "tableName": "pollen"}]}
    second = call(qrvey, "POST", body=pollen).json()["datasetId"]
    call(qrvey, "POST", f"/{second}/load")
    body = call(qrvey, "GET", f"/{second}").json()
    assert (body["status"], body["errorMessage"]) == ("FAILED", "Table pollen does not exist")


def test_the_api_key_is_checked_and_errors_use_the_envelope(qrvey: QrveyEmulator) -> None:
    for key in (None, "wrong"):
        refused = call(qrvey, "POST", "/all", {}, key=key)
        assert (refused.status_code, refused.json()) == (403, {"message": "Forbidden"})
    for path in (f"{qrvey.root_url}/devapi/v4/nope", f"{qrvey.base_url}/user/u-1/app/a-1/qollect/datasets"):
        unknown = requests.post(path, json={}, headers={"x-api-key": KEY}, timeout=10)
        assert (unknown.status_code, unknown.json()) == (403, {"message": "Missing Authentication Token"})
    bad = call(qrvey, "POST", body={"name": "x", "datasources": [{}], "columns": []})
    assert bad.status_code == 400 and [e["message"] for e in bad.json()["errors"]] == [
        "datasources[0].name is required",
        "datasources[0].connectionId is required",
        "datasources[0].connectorType is required",
    ]
    assert [r["api_key_present"] for r in qrvey.requests()] == [False, True, True, True, True]


def test_faults_and_throttling(qrvey: QrveyEmulator) -> None:
    admin = f"{qrvey.root_url}/_emulator"
    assert requests.post(f"{admin}/faults", json={"script": ["503", "throttle"]}, timeout=5).status_code == 200
    assert call(qrvey, "POST", "/all", {}).status_code == 503
    throttled = call(qrvey, "POST", "/all", {})
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
    assert throttled.json() == {"message": "Too Many Requests"}  # API Gateway's THROTTLED answer, not Qrvey's envelope
    requests.post(f"{admin}/faults", json={"throttle_per_minute": 1}, timeout=5)
    assert [call(qrvey, "POST", "/all", {}).status_code for _ in range(2)] == [200, 429]
    requests.post(f"{admin}/reset", timeout=5)
    requests.post(
        f"{admin}/loads", json={"steps": 0, "draftReads": 0, "fail": [{"reason": "no", "count": 1}]}, timeout=5
    )
    dataset_id = call(qrvey, "POST", body=DEFINITION).json()["datasetId"]
    call(qrvey, "POST", f"/{dataset_id}/load")
    assert call(qrvey, "GET", f"/{dataset_id}").json()["status"] == "FAILED"
    assert requests.get(f"{admin}/datasets", timeout=5).json()["datasets"][0]["datasetId"] == dataset_id


def test_the_qrvey_samples_are_judged_as_their_manifest_says() -> None:
    judge = DatasetJudge("a-1", "u-1")
    manifest = tomllib.loads((SAMPLES / "manifest.toml").read_text(encoding="utf-8"))
    for sample in manifest["sample"]:
        verdict = judge.judge(json.loads((SAMPLES / sample["file"]).read_text(encoding="utf-8")))
        assert verdict.valid is (sample["expect"] != ["INVALID"]), sample["file"]


def test_the_client_bounds_each_call_by_size_and_deadline(qrvey: QrveyEmulator) -> None:
    path = "/user/u-1/app/a-1/qollect/dataset/all"
    client = QrveyClient(qrvey.base_url, max_answer_bytes=10)
    small = client.call("POST", path, ApiKey(KEY), 5, time.monotonic() + 5, "search", {})
    assert isinstance(small, Answer) and small.kind is AnswerKind.TRANSIENT and "size limit" in small.message
    qrvey.faults.set_latency_ms(1500)
    slow = QrveyClient(qrvey.base_url).call("POST", path, ApiKey(KEY), 5, time.monotonic() + 0.5, "search", {})
    assert isinstance(slow, Answer) and slow.kind is AnswerKind.TRANSIENT and slow.http_status is None
    qrvey.faults.set_latency_ms(0)
    fine = QrveyClient(qrvey.base_url).call("POST", path, ApiKey(KEY), 5, time.monotonic() + 5, "search", {})
    assert isinstance(fine, Reply) and fine.body == {"Count": 0, "Items": []}


def test_a_caller_chosen_dataset_id_is_kept_and_a_taken_one_refused(qrvey: QrveyEmulator) -> None:
    chosen = "0b6f6a52-8d3e-5c0a-9a51-3f1f1c2b4d11"
    created = call(qrvey, "POST", body={**DEFINITION, "datasetId": chosen})
    assert (created.status_code, created.json()["datasetId"]) == (200, chosen)
    assert call(qrvey, "GET", f"/{chosen}").json()["datasetId"] == chosen
    assert call(qrvey, "POST", body={**DEFINITION, "datasetId": chosen}).status_code == 409
