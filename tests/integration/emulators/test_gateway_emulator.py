"""The Gateway emulator over real HTTP: routes, auth, validation, versions/archive, faults, persistence.

Expected behaviour comes from shared/notes/hdruk-gateway.md (a), (b), (c), (f).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[3]
if importlib.util.find_spec("hdr_ingest") is None or importlib.util.find_spec("local_stack") is None:
    # Only when pytest's pythonpath setting (pyproject) is not in effect.
    sys.path[:0] = [str(REPO_ROOT / "layers" / "shared"), str(REPO_ROOT)]

from hdr_ingest.destinations.hdruk.schema_pack import SchemaPack, SchemaRef  # noqa: E402
from local_stack.gateway_emulator import (  # noqa: E402
    ALL_DATASET_PERMISSIONS,
    App,
    FaultPlan,
    GatewayEmulator,
    SchemaTarget,
    htmlentities,
)
from local_stack.gateway_emulator.traser_node import AjvError, TraserReport  # noqa: E402
from tests.conftest import SHARED  # noqa: E402

pytestmark = pytest.mark.integration

SCHEMATA = SHARED / "hdruk" / "schemata"
EXAMPLE_400 = SHARED / "hdruk" / "examples" / "schemata" / "HDRUK" / "4.0.0" / "docs.example.json"

HEADERS = {"x-application-id": "app-one", "x-client-id": "client-one"}
TEAM2_HEADERS = {"x-application-id": "app-two", "x-client-id": "client-two"}
APPS = [
    App("app-one", "client-one", team_id=1),
    App("app-two", "client-two", team_id=2),
    App("app-off", "client-off", team_id=1, enabled=False),
    App("app-ro", "client-ro", team_id=1, permissions=frozenset({"datasets.read"})),
]
SUNSET = "Thurs, 22 Jan 2026 23:59:59 GMT"
HDRUK_400 = "?input_schema=HDRUK&input_version=4.0.0"
TIMEOUT = 5.0

EmulatorFactory = Callable[..., GatewayEmulator]


class FakeValidator:
    """Rejects documents with ``"reject": true``; records every call. It answers with the Node validator's own
    report types, so a change to them reaches this test too."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, Any]] = []

    def validate(self, document: Any, target: Any = None) -> TraserReport:
        self.calls.append((document, target))
        schema = SchemaTarget("Fake", "1.0") if target is None else SchemaTarget(target.name, target.version)
        if isinstance(document, dict) and document.get("reject"):
            return TraserReport(False, schema, (AjvError("$.summary.title", "is required but missing; add it."),))
        return TraserReport(True, schema)


@pytest.fixture
def make_emulator() -> Iterator[EmulatorFactory]:
    started: list[GatewayEmulator] = []

    def factory(**kwargs: Any) -> GatewayEmulator:
        kwargs.setdefault("apps", APPS)
        emulator = GatewayEmulator(**kwargs)
        emulator.start()
        started.append(emulator)
        return emulator

    yield factory
    for emulator in started:
        emulator.stop()


@pytest.fixture
def emu(make_emulator: EmulatorFactory) -> GatewayEmulator:
    return make_emulator()


@pytest.fixture(scope="module")
def pack() -> SchemaPack:
    return SchemaPack.load(SCHEMATA)


@pytest.fixture
def example() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(EXAMPLE_400.read_text(encoding="utf-8"))
    return document


def url(emulator: GatewayEmulator, suffix: str = "") -> str:
    return f"{emulator.base_url}/integrations/datasets{suffix}"


def post(emulator: GatewayEmulator, body: Any, suffix: str = "", headers: dict[str, str] | None = None) -> Any:
    return requests.post(url(emulator, suffix), json=body, headers=headers or HEADERS, timeout=TIMEOUT)


def create(emulator: GatewayEmulator, datasetid: str, document: dict[str, Any] | None = None) -> int:
    response = post(emulator, {"metadata": document or {"summary": {"title": datasetid}}, "datasetid": datasetid})
    assert response.status_code == 201, response.text
    dataset_id: int = response.json()["data"]
    return dataset_id


def listing(emulator: GatewayEmulator, query: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = requests.get(url(emulator, query), headers=headers or HEADERS, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --- create, headers, auth -----------------------------------------------------------------------------


def test_post_returns_201_with_ids_and_deprecation_headers(emu: GatewayEmulator) -> None:
    first = post(emu, {"metadata": {"summary": {"title": "One"}}, "datasetid": "cust-1", "status": "ACTIVE"})
    second = post(emu, {"metadata": {"metadata": {"summary": {"title": "Two"}}}})

    assert first.status_code == 201
    assert first.json() == {"message": "created", "data": 1, "version": 1}
    assert second.json() == {"message": "created", "data": 2, "version": 2}
    for response in (first, second):
        assert response.headers["Deprecation"] == "true"
        assert response.headers["Sunset"] == SUNSET
        assert response.headers["Content-Type"] == "application/json"
    stored = emu.datasets()
    assert [(d["id"], d["datasetid"], d["version"], d["status"]) for d in stored] == [
        (1, "cust-1", 1, "ACTIVE"),
        (2, None, 1, "ACTIVE"),
    ]
    # The double-wrapped body is normalised to the same stored document shape.
    assert stored[1]["metadata"] == {"summary": {"title": "Two"}}


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({}, 401, "Unauthorized"),
        ({"x-application-id": "app-one"}, 401, "Unauthorized"),
        ({"x-client-id": "client-one"}, 401, "Unauthorized"),
        ({"app_id": "app-one", "client_id": "client-one"}, 401, "Unauthorized"),
        (
            {"x-application-id": "nobody", "x-client-id": "client-one"},
            401,
            "No known integration matches the credentials provided",
        ),
        (
            {"x-application-id": "app-one", "x-client-id": "wrong"},
            401,
            "The credentials provided are invalid",
        ),
        (
            {"x-application-id": "app-off", "x-client-id": "client-off"},
            400,
            "Application has not been enabled!",
        ),
        (
            {"x-application-id": "app-ro", "x-client-id": "client-ro"},
            400,
            "Application permissions do not allow this request",
        ),
    ],
)
def test_auth_errors(emu: GatewayEmulator, headers: dict[str, str], status: int, message: str) -> None:
    response = requests.post(url(emu), json={"metadata": {"a": 1}}, headers=headers, timeout=TIMEOUT)

    assert response.status_code == status
    assert response.json() == {"code": status, "message": message}
    assert response.headers["Sunset"] == SUNSET
    assert emu.datasets() == []


def test_header_names_are_case_insensitive(emu: GatewayEmulator) -> None:
    response = post(emu, {"metadata": {"a": 1}}, headers={"X-Application-ID": "app-one", "X-CLIENT-ID": "client-one"})
    assert response.status_code == 201


def test_permissions_are_checked_per_route(emu: GatewayEmulator) -> None:
    dataset_id = create(emu, "p-1")
    read_only = {"x-application-id": "app-ro", "x-client-id": "client-ro"}
    denied = {"code": 400, "message": "Application permissions do not allow this request"}

    assert requests.get(url(emu), headers=read_only, timeout=TIMEOUT).status_code == 200
    assert requests.get(url(emu, f"/{dataset_id}"), headers=read_only, timeout=TIMEOUT).status_code == 200
    put = requests.put(url(emu, f"/{dataset_id}"), json={"metadata": {"a": 2}}, headers=read_only, timeout=TIMEOUT)
    delete = requests.delete(url(emu, f"/{dataset_id}"), headers=read_only, timeout=TIMEOUT)
    assert (put.status_code, put.json()) == (400, denied)
    assert (delete.status_code, delete.json()) == (400, denied)
    assert emu.datasets()[0]["version"] == 1
    assert emu.datasets()[0]["status"] == "ACTIVE"


def test_legacy_headers_option(make_emulator: EmulatorFactory) -> None:
    legacy = make_emulator(legacy_headers=True)

    accepted = post(legacy, {"metadata": {"a": 1}}, headers={"app_id": "app-one", "client_id": "client-one"})
    modern = post(legacy, {"metadata": {"a": 1}}, headers=HEADERS)

    assert accepted.status_code == 201
    assert (modern.status_code, modern.json()) == (401, {"code": 401, "message": "Unauthorized"})


def test_apps_can_be_added_over_http(emu: GatewayEmulator) -> None:
    new_app = {"x-application-id": "late", "x-client-id": "late-client"}
    assert post(emu, {"metadata": {"a": 1}}, headers=new_app).status_code == 401

    admin = requests.post(
        f"{emu.root_url}/_emulator/apps",
        json={"apps": [{"app_id": "late", "client_id": "late-client", "team_id": 7}]},
        timeout=TIMEOUT,
    )

    assert admin.status_code == 200
    assert "late" in admin.json()["apps"]
    assert post(emu, {"metadata": {"a": 1}}, headers=new_app).status_code == 201
    assert emu.datasets()[0]["team_id"] == 7


# --- request validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [{}, {"datasetid": "x"}, {"metadata": None}, {"metadata": ""}, {"metadata": {}}])
def test_missing_metadata_is_a_form_validation_error(emu: GatewayEmulator, body: dict[str, Any]) -> None:
    response = post(emu, body)

    assert response.status_code == 400
    assert response.json() == {
        "status": "INVALID_ARGUMENT",
        "message": "Invalid argument(s)",
        "errors": [{"reason": "REQUIRED", "message": "The metadata field is required.", "field": "metadata"}],
    }
    assert emu.datasets() == []


def test_injected_validator_gets_target_and_rejection_has_gateway_shape(
    make_emulator: EmulatorFactory,
) -> None:
    fake = FakeValidator()
    emulator = make_emulator(validator=fake)

    rejected = post(emulator, {"metadata": {"reject": True}}, suffix=HDRUK_400)
    accepted = post(emulator, {"metadata": {"reject": False}})

    assert rejected.status_code == 400
    body = rejected.json()
    assert body["message"] == "metadata is in an unknown format and cannot be processed"
    details = body["details"]
    assert (details["wasTranslated"], details["metadata"], details["statusCode"]) == (False, None, 400)
    assert details["traser_message"]["message"] == "Input metadata validation failed"
    error = details["traser_message"]["details"]["validationErrors"][0]
    assert (error["path"], error["instancePath"]) == ("$.summary.title", "/summary/title")
    target = fake.calls[0][1]
    assert (target.name, target.version, str(target)) == ("HDRUK", "4.0.0", "HDRUK 4.0.0")
    assert accepted.status_code == 201
    assert fake.calls[1][1] is None  # no input_schema: first match, like TRASER
    assert [d["id"] for d in emulator.datasets()] == [1]


def test_real_pack_rejects_document_without_title(
    make_emulator: EmulatorFactory, pack: SchemaPack, example: dict[str, Any]
) -> None:
    emulator = make_emulator(validator=pack)
    del example["summary"]["title"]

    response = post(emulator, {"metadata": {"metadata": example}, "datasetid": "no-title"}, suffix=HDRUK_400)

    assert response.status_code == 400
    details = response.json()["details"]
    assert details["statusCode"] == 400
    assert details["wasTranslated"] is False
    traser = details["traser_message"]
    assert traser["message"] == "Input metadata validation failed"
    assert traser["details"]["validationErrors"][0]["path"] == "$.summary.title"
    assert emulator.datasets() == []


def test_real_pack_accepts_the_example_and_gets_real_schema_refs(
    make_emulator: EmulatorFactory, pack: SchemaPack, example: dict[str, Any]
) -> None:
    emulator = make_emulator(validator=pack)

    explicit = post(emulator, {"metadata": {"metadata": example}, "datasetid": "ex-1"}, suffix=HDRUK_400)
    detected = post(emulator, {"metadata": example, "datasetid": "ex-2"})
    unknown = post(emulator, {"metadata": example}, suffix="?input_schema=HDRUK&input_version=9.9.9")
    nothing = post(emulator, {"metadata": {"not": "a dataset"}})

    assert explicit.status_code == 201, explicit.text
    assert detected.status_code == 201, detected.text
    assert unknown.status_code == 400
    # TRASER's words, with the model it cannot support and no details (traser src/routes/translate.js)
    assert unknown.json()["details"]["traser_message"] == {"message": "Cannot support the input model (HDRUK:9.9.9)"}
    assert nothing.status_code == 400
    no_match = nothing.json()["details"]["traser_message"]
    assert no_match["message"] == "Input metadata object matched no known schemas"
    assert "4.0.0" in no_match["details"]["available_schemas"]["HDRUK"]
    assert [d["datasetid"] for d in emulator.datasets()] == ["ex-1", "ex-2"]
    assert SchemaRef("HDRUK", "4.0.0") in pack


def test_sanitize_breaks_the_more_than_10_years_enum(
    make_emulator: EmulatorFactory, pack: SchemaPack, example: dict[str, Any]
) -> None:
    example["coverage"]["followUp"] = "> 10 Years"
    sanitizing = make_emulator(validator=pack)
    raw = make_emulator(validator=pack, sanitize=False)

    broken = post(sanitizing, {"metadata": example}, suffix=HDRUK_400)
    fine = post(raw, {"metadata": example}, suffix=HDRUK_400)

    assert broken.status_code == 400
    error = broken.json()["details"]["traser_message"]["details"]["validationErrors"][0]
    assert error["path"] == "$.coverage.followUp"
    assert "&gt; 10 Years" in error["message"]
    assert fine.status_code == 201
    assert raw.datasets()[0]["metadata"]["coverage"]["followUp"] == "> 10 Years"


def test_preprocessing_trims_nulls_and_encodes_strings(emu: GatewayEmulator) -> None:
    document = {"summary": {"title": "  Fish & Chips <UK>  ", "doiName": "", "abstract": 'Don\'t "quote" – café'}}

    dataset_id = create(emu, " a&b ", document)

    stored = emu.datasets()[0]
    assert stored["id"] == dataset_id
    assert stored["datasetid"] == "a&amp;b"  # sanitize.input encodes the body's datasetid too
    assert stored["metadata"]["summary"] == {
        "title": "Fish &amp; Chips &lt;UK&gt;",
        "doiName": None,
        "abstract": "Don&#039;t &quot;quote&quot; &ndash; caf&eacute;",
    }
    assert htmlentities("&amp; 日本") == "&amp;amp; 日本"  # double encoding; no entity, no change


def test_metadata_sent_as_json_string_breaks_under_sanitize(make_emulator: EmulatorFactory) -> None:
    as_string = {"metadata": json.dumps({"summary": {"title": "T"}})}

    broken = post(make_emulator(), as_string)
    decoded = post(make_emulator(sanitize=False), as_string)

    assert broken.status_code == 400  # quotes became &quot;, so the string is no longer JSON
    traser = broken.json()["details"]["traser_message"]  # TRASER's express-validator check of body.metadata
    assert traser["message"] == "Translation has failed."
    assert [(e["path"], e["location"], e["msg"]) for e in traser["errors"]] == [("metadata", "body", "Invalid value")]
    assert traser["errors"][0]["value"].startswith("{&quot;summary&quot;")
    assert decoded.status_code == 201


# --- list, versions, archive, teams --------------------------------------------------------------------


def test_list_filters_by_dataset_id_and_with_trashed_after_delete(emu: GatewayEmulator) -> None:
    target = create(emu, "cust-A")
    create(emu, "cust-B")

    before = listing(emu, "?dataset_id=cust-A")
    delete = requests.delete(url(emu, f"/{target}"), headers=HEADERS, timeout=TIMEOUT)
    after = listing(emu, "?dataset_id=cust-A")
    trashed = listing(emu, "?dataset_id=cust-A&withTrashed=1&per_page=10")
    archived = listing(emu, "?status=ARCHIVED")
    everything = listing(emu, "?withTrashed=1")

    expected_keys = {
        "current_page", "data", "first_page_url", "from", "last_page", "last_page_url", "links",
        "next_page_url", "path", "per_page", "prev_page_url", "to", "total",
    }  # fmt: skip
    assert set(before) == expected_keys
    assert (before["total"], before["per_page"], before["data"][0]["id"]) == (1, 25, target)
    item = before["data"][0]
    for key in ("id", "datasetid", "pid", "status", "team_id", "create_origin", "created_at", "updated_at"):
        assert key in item
    assert item["deleted_at"] is None
    assert [v["version"] for v in item["versions"]] == [1]
    assert item["versions"][0]["metadata"]["metadata"] == {"summary": {"title": "cust-A"}}
    assert (delete.status_code, delete.json()) == (200, {"message": "success"})
    assert delete.headers["Deprecation"] == "true"
    assert (after["total"], after["data"], after["from"], after["to"]) == (0, [], None, None)
    assert trashed["total"] == 1
    gone = trashed["data"][0]
    assert (gone["id"], gone["status"], gone["datasetid"]) == (target, "ARCHIVED", "cust-A")
    assert gone["deleted_at"] is not None
    assert gone["versions"][0]["deleted_at"] is not None
    assert [d["id"] for d in archived["data"]] == [target]
    assert everything["total"] == 2


def test_lookup_by_dataset_id_is_filtered_in_the_database(
    emu: GatewayEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lookup the function makes before each create asks SQLite for the one datasetid (an indexed column)
    instead of listing the team's datasets and filtering them in Python."""
    create(emu, "cust-A")
    create(emu, "cust-B")
    store = emu._require_store()
    real_all = store.all
    asked: list[str | None] = []

    def all_rows(**kwargs: Any) -> Any:
        asked.append(kwargs.get("datasetid"))
        return real_all(**kwargs)

    monkeypatch.setattr(store, "all", all_rows)
    found = listing(emu, "?dataset_id=cust-B&withTrashed=1")
    assert [d["datasetid"] for d in found["data"]] == ["cust-B"] and asked == ["cust-B"]
    assert listing(emu, "?dataset_id=0")["total"] == 2  # PHP-falsy: no filter, as the Gateway
    assert [row.datasetid for row in real_all(datasetid="cust-A")] == ["cust-A"]


def test_answers_are_not_held_by_nagles_algorithm() -> None:
    """Headers and body are separate writes: with Nagle's algorithm the client's delayed ACK would hold each
    answer for about 40 ms on loopback."""
    from local_stack.gateway_emulator import server

    assert server._Handler.disable_nagle_algorithm is True


def test_list_paginates_like_laravel(emu: GatewayEmulator) -> None:
    for index in range(5):
        create(emu, f"page-{index}")

    page2 = listing(emu, "?per_page=2&page=2")

    assert (page2["current_page"], page2["last_page"], page2["from"], page2["to"], page2["total"]) == (
        2,
        3,
        3,
        4,
        5,
    )
    assert [d["datasetid"] for d in page2["data"]] == ["page-2", "page-1"]  # created:desc by default
    assert page2["next_page_url"].endswith("/api/v1/integrations/datasets?page=3")
    assert page2["prev_page_url"].endswith("?page=1")
    assert [link["label"] for link in page2["links"]] == ["&laquo; Previous", "1", "2", "3", "Next &raquo;"]
    assert [link["active"] for link in page2["links"]] == [False, False, True, False, False]


def test_put_overwrites_latest_version_in_place_and_bumps_number(emu: GatewayEmulator) -> None:
    created = post(emu, {"metadata": {"summary": {"title": "v1"}}, "datasetid": "keep-me"}).json()
    dataset_id, version_row = created["data"], created["version"]

    first = requests.put(
        url(emu, f"/{dataset_id}"),
        json={"metadata": {"metadata": {"summary": {"title": "v2"}}}, "datasetid": "ignored"},
        headers=HEADERS,
        timeout=TIMEOUT,
    )
    second = requests.put(
        url(emu, f"/{dataset_id}"),
        json={"metadata": {"summary": {"title": "v3"}}},
        headers=HEADERS,
        timeout=TIMEOUT,
    )

    assert first.status_code == 200
    assert first.headers["Sunset"] == SUNSET
    body = second.json()
    assert body["message"] == "success"
    assert body["data"]["id"] == dataset_id
    versions = body["data"]["versions"]
    assert len(versions) == 1
    assert (versions[0]["id"], versions[0]["version"]) == (version_row, 3)
    assert versions[0]["metadata"]["original_metadata"] == {"summary": {"title": "v3"}}
    stored = emu.datasets()
    assert [(d["datasetid"], d["version"], d["version_id"]) for d in stored] == [("keep-me", 3, version_row)]


def test_archived_or_unknown_ids_give_500_and_unarchive_restores(emu: GatewayEmulator) -> None:
    dataset_id = create(emu, "arch")
    requests.delete(url(emu, f"/{dataset_id}"), headers=HEADERS, timeout=TIMEOUT)
    no_model = {"code": 500, "message": f"No query results for model [App\\Models\\Dataset] {dataset_id}"}

    put = requests.put(url(emu, f"/{dataset_id}"), json={"metadata": {"a": 1}}, headers=HEADERS, timeout=TIMEOUT)
    again = requests.delete(url(emu, f"/{dataset_id}"), headers=HEADERS, timeout=TIMEOUT)
    show = requests.get(url(emu, f"/{dataset_id}"), headers=HEADERS, timeout=TIMEOUT)
    unknown_put = requests.put(url(emu, "/999"), json={"metadata": {"a": 1}}, headers=HEADERS, timeout=TIMEOUT)
    unknown_show = requests.get(url(emu, "/999"), headers=HEADERS, timeout=TIMEOUT)

    assert (put.status_code, put.json()) == (500, no_model)
    assert (again.status_code, again.json()) == (500, no_model)
    assert (show.status_code, show.json()) == (500, no_model)
    assert unknown_put.json() == {
        "code": 500,
        "message": "No query results for model [App\\Models\\Dataset] 999",
    }
    assert unknown_show.status_code == 400
    assert unknown_show.json()["errors"][0]["reason"] == "EXISTS"

    restore = requests.patch(
        f"{emu.base_url}/datasets/{dataset_id}?unarchive",
        json={"status": "ACTIVE"},
        headers=HEADERS,
        timeout=TIMEOUT,
    )
    assert (restore.status_code, restore.json()) == (200, {"message": "success"})
    assert emu.datasets()[0]["status"] == "ACTIVE"
    assert emu.datasets()[0]["deleted_at"] is None
    put_after = requests.put(url(emu, f"/{dataset_id}"), json={"metadata": {"a": 1}}, headers=HEADERS, timeout=TIMEOUT)
    assert put_after.status_code == 200
    assert emu.datasets()[0]["version"] == 2


def test_patch_on_integrations_route_is_not_registered(emu: GatewayEmulator) -> None:
    dataset_id = create(emu, "x")

    response = requests.patch(url(emu, f"/{dataset_id}"), json={"status": "DRAFT"}, headers=HEADERS, timeout=TIMEOUT)

    assert response.status_code == 500
    assert response.json()["message"].startswith("The PATCH method is not supported for route")


def test_team_isolation(emu: GatewayEmulator) -> None:
    mine = create(emu, "shared-id")
    other_team = {
        "code": 500,
        "message": "This Application is not allowed to interact with datasets from another team!",
    }

    theirs = listing(emu, "?dataset_id=shared-id&withTrashed=1", headers=TEAM2_HEADERS)
    show = requests.get(url(emu, f"/{mine}"), headers=TEAM2_HEADERS, timeout=TIMEOUT)
    put = requests.put(url(emu, f"/{mine}"), json={"metadata": {"a": 1}}, headers=TEAM2_HEADERS, timeout=TIMEOUT)
    delete = requests.delete(url(emu, f"/{mine}"), headers=TEAM2_HEADERS, timeout=TIMEOUT)
    patch = requests.patch(
        f"{emu.base_url}/datasets/{mine}", json={"status": "DRAFT"}, headers=TEAM2_HEADERS, timeout=TIMEOUT
    )

    assert theirs["total"] == 0
    assert (show.status_code, show.json()) == (500, other_team)
    assert (put.status_code, put.json()) == (500, other_team)
    assert (delete.status_code, delete.json()) == (500, other_team)
    assert patch.status_code == 401  # /api/v1/datasets answers 401 for the same check
    assert [(d["status"], d["version"], d["team_id"]) for d in emu.datasets()] == [("ACTIVE", 1, 1)]
    assert listing(emu, "?dataset_id=shared-id")["total"] == 1


def test_show_returns_dataset_without_versions(emu: GatewayEmulator) -> None:
    dataset_id = create(emu, "show-me")

    response = requests.get(url(emu, f"/{dataset_id}"), headers=HEADERS, timeout=TIMEOUT)

    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "success"
    assert (body["data"]["id"], body["data"]["datasetid"]) == (dataset_id, "show-me")
    assert "versions" not in body["data"]  # show() does not eager-load versions (notes (a))


# --- faults, throttling, log, persistence --------------------------------------------------------------


def test_scripted_faults_500_then_timeout_then_ok(emu: GatewayEmulator) -> None:
    emu.faults.set_timeout_after(0.6)
    emu.faults.script(["500", "timeout", "201-ok"])
    body = {"metadata": {"a": 1}, "datasetid": "retry-me"}

    failed = post(emu, body)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(url(emu), json=body, headers=HEADERS, timeout=0.2)
    succeeded = post(emu, body)

    assert (failed.status_code, failed.json()) == (500, {"code": 500, "message": "Server Error"})
    assert succeeded.status_code == 201
    assert [d["datasetid"] for d in emu.datasets()] == ["retry-me"]  # faulted requests did nothing
    deadline = time.monotonic() + 3
    while len(emu.requests()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    faults = sorted((r.seq, r.fault, r.status) for r in emu.requests())
    assert [(fault, status) for _, fault, status in faults] == [
        ("script:500", 500),
        ("script:timeout", 500),
        (None, 201),
    ]
    held = next(r for r in emu.requests() if r.fault == "script:timeout")
    assert held.duration_ms >= 600  # held for timeout_after, past the client's 0.2 s (a lower bound: load-proof)


def test_faults_over_admin_http_and_reset(emu: GatewayEmulator) -> None:
    admin = f"{emu.root_url}/_emulator"
    create(emu, "before-reset")

    configured = requests.post(f"{admin}/faults", json={"script": ["503", "drop"]}, timeout=TIMEOUT)
    unavailable = requests.get(url(emu), headers=HEADERS, timeout=TIMEOUT)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url(emu), headers=HEADERS, timeout=TIMEOUT)
    bad = requests.post(f"{admin}/faults", json={"script": ["explode"]}, timeout=TIMEOUT)
    always = requests.post(f"{admin}/faults", json={"error_rate": 1.0}, timeout=TIMEOUT)
    random_500 = requests.get(url(emu), headers=HEADERS, timeout=TIMEOUT)
    reset = requests.post(f"{admin}/reset", timeout=TIMEOUT)

    assert configured.status_code == 200
    assert configured.json()["script"] == ["503", "drop"]
    assert (unavailable.status_code, unavailable.json()) == (
        503,
        {"code": 503, "message": "Service Unavailable"},
    )
    assert bad.status_code == 400
    assert always.json()["error_rate"] == 1.0
    assert (random_500.status_code, random_500.json()["message"]) == (500, "Server Error")
    assert reset.status_code == 200
    assert requests.get(f"{admin}/faults", timeout=TIMEOUT).json()["error_rate"] == 0.0
    assert requests.get(f"{admin}/datasets", timeout=TIMEOUT).json() == {"datasets": []}
    assert requests.get(f"{admin}/requests", timeout=TIMEOUT).json() == {"requests": []}
    assert listing(emu, "")["total"] == 0


def test_random_faults_are_reproducible_with_a_seed() -> None:
    first, second = FaultPlan(seed=42), FaultPlan(seed=42)
    for plan in (first, second):
        plan.set_rates(error_rate=0.3, timeout_rate=0.3)

    kinds = [first.next_decision().kind for _ in range(50)]

    assert kinds == [second.next_decision().kind for _ in range(50)]
    assert {"ok", "status", "timeout"} <= set(kinds)


def test_throttling_answers_500_too_many_attempts(emu: GatewayEmulator) -> None:
    emu.faults.set_throttle(3)

    answers = [requests.get(url(emu), headers=HEADERS, timeout=TIMEOUT) for _ in range(5)]

    assert [r.status_code for r in answers] == [200, 200, 200, 500, 500]
    assert [r.headers.get("X-RateLimit-Remaining") for r in answers[:3]] == ["2", "1", "0"]
    assert answers[3].json() == {"code": 500, "message": "Too Many Attempts."}
    assert "Retry-After" not in answers[3].headers
    assert "Sunset" not in answers[3].headers  # the throttle runs before the route's sunset middleware
    assert [r.fault for r in emu.requests()][-2:] == ["throttle", "throttle"]


def test_state_survives_a_restart_with_a_db_file(make_emulator: EmulatorFactory, tmp_path: Path) -> None:
    db = tmp_path / "gateway.sqlite"
    first = make_emulator(db_path=db)
    dataset_id = create(first, "persist-me")
    requests.put(url(first, f"/{dataset_id}"), json={"metadata": {"a": 2}}, headers=HEADERS, timeout=TIMEOUT)
    first.stop()

    second = make_emulator(db_path=db)
    found = listing(second, "?dataset_id=persist-me")
    next_id = create(second, "after-restart")

    assert found["total"] == 1
    assert (found["data"][0]["id"], found["data"][0]["versions"][0]["version"]) == (dataset_id, 2)
    assert next_id == dataset_id + 1


def test_request_log_never_contains_header_values(make_emulator: EmulatorFactory) -> None:
    app_secret, client_secret = "APP-7f3c9e1d-secret", "CLIENT-b41a77e0-secret"
    emulator = make_emulator(apps=[App(app_secret, client_secret, permissions=ALL_DATASET_PERMISSIONS)])
    good = {"x-application-id": app_secret, "x-client-id": client_secret}

    post(emulator, {"metadata": {"a": 1}}, headers=good)
    post(emulator, {"metadata": {"a": 1}}, headers={"x-application-id": app_secret, "x-client-id": "nope"})
    post(emulator, {"metadata": {"a": 1}}, headers={"x-client-id": client_secret})
    requests.get(url(emulator, f"?client_id={client_secret}&dataset_id=d1"), timeout=TIMEOUT)

    log_text = requests.get(f"{emulator.root_url}/_emulator/requests", timeout=TIMEOUT).text
    records = emulator.requests()
    assert len(records) == 4
    for text in (log_text, repr(records), json.dumps([r.to_json() for r in records])):
        assert app_secret not in text
        assert client_secret not in text
    assert [r.credentials_present for r in records] == [True, True, True, False]
    assert [r.status for r in records] == [201, 401, 401, 401]
    assert records[3].query == {"client_id": ["[redacted]"], "dataset_id": ["d1"]}
    assert records[0].method == "POST"
    assert records[0].path == "/api/v1/integrations/datasets"


def test_fixed_latency_delays_api_but_not_admin(emu: GatewayEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    emu.faults.set_latency_ms(150)
    waits: list[float] = []
    wait = emu._sleep
    monkeypatch.setattr(emu, "_sleep", lambda seconds: (waits.append(seconds), wait(seconds))[-1])

    started = time.monotonic()
    requests.get(url(emu), headers=HEADERS, timeout=TIMEOUT)
    api_time = time.monotonic() - started
    requests.get(f"{emu.root_url}/_emulator/health", timeout=TIMEOUT)

    assert api_time >= 0.15
    assert waits == [0.15]  # the API request waited; the admin request did not (no wall-clock bound: load varies it)
