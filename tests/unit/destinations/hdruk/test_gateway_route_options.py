"""An hdruk route's options (``api`` among them), and how the successor route's answers and the read-back's
GET are read."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.core.routing import RouteSpec
from hdr_ingest.core.verification import Held, ReadsBack
from hdr_ingest.destinations import Common
from hdr_ingest.destinations.hdruk import route
from hdr_ingest.destinations.hdruk.answers import classify
from hdr_ingest.destinations.hdruk.client import DatasetsClient, GatewayClient
from hdr_ingest.destinations.hdruk.datasets_route import as_versions, not_there, removed_route
from hdr_ingest.destinations.hdruk.options import Api, HeaderStyle
from hdr_ingest.destinations.hdruk.readback import expected, held, shown_version
from tests.conftest import PACK_DIR


def spec(**options: Any) -> RouteSpec:
    return RouteSpec("incoming/", "hdruk", "https://gw.example/api/v1", "gw-app", options)


def test_options_default_to_today_s_route() -> None:
    options, found = route.read(spec())
    assert found == []
    assert options == route.HdrukOptions(HeaderStyle.X_HEADERS, None, "gateway", Api.INTEGRATIONS)


def test_options_are_frozen() -> None:
    options, _ = route.read(spec(api="datasets"))
    with pytest.raises(AttributeError):
        options.api = Api.INTEGRATIONS  # type: ignore[misc]


def test_api_datasets_builds_the_successor_client() -> None:
    common = Common(schema_pack_dir=PACK_DIR)
    assert type(route.build(spec(api="datasets"), common).gateway) is DatasetsClient
    assert type(route.build(spec(), common).gateway) is GatewayClient
    assert route.build(spec(api="datasets"), common).api is Api.DATASETS
    assert isinstance(route.build(spec(), common), ReadsBack)  # the read-back hook's protocol


def test_every_problem_is_named_at_once() -> None:
    bad = RouteSpec(
        "c/", "hdruk", "https://gw.example/api/v1", None, {"api": "v2", "headerStyle": "x", "validationMode": "lax"}
    )
    found = route.problems(bad)
    assert len(found) == 4, found
    assert "route 'c/' (hdruk): api='v2' must be 'integrations' (/api/v1/integrations/datasets, deprecated)" in found[2]
    assert "'datasets' (/api/v1/datasets)" in found[2]
    assert any("headerStyle='x'" in p for p in found) and any("validationMode='lax'" in p for p in found)
    assert any("needs a secret" in p for p in found)
    with pytest.raises(ValueError, match="api='v2'"):
        route.build(bad, Common(schema_pack_dir=PACK_DIR))


@pytest.mark.parametrize("api", [None, 2, "Datasets", ""])
def test_api_takes_only_the_two_names(api: Any) -> None:
    assert any("api=" in p for p in route.problems(spec(api=api)))


# --- the successor route's answers ------------------------------------------------------------------------


def test_a_null_read_on_update_or_destroy_means_the_dataset_is_gone() -> None:
    answer = not_there(classify(500, {"code": 500, "message": 'Attempt to read property "pid" on null'}))
    assert answer.kind is AnswerKind.NOT_FOUND and "archived or deleted" in answer.message
    other = classify(500, {"code": 500, "message": "Server Error"})
    assert not_there(other) is other


@pytest.mark.parametrize("status", [404, 410])
def test_a_removed_route_names_the_option(status: int) -> None:
    answer = removed_route(classify(status, {"code": status, "message": "Gone"}))
    assert answer.kind is AnswerKind.PERMANENT and '"api": "datasets"' in answer.message
    kept = Answer(AnswerKind.TRANSIENT, 500, "x")
    assert removed_route(kept) is kept


def test_a_listing_s_latest_metadata_becomes_its_versions() -> None:
    listing = {"data": [{"id": 7, "datasetid": "k", "latest_metadata": {"version": 3}}], "total": 1}
    assert json.loads(as_versions(json.dumps(listing).encode()))["data"][0]["versions"] == [{"version": 3}]
    assert as_versions(b"<html>") == b"<html>"


# --- read-back ------------------------------------------------------------------------------------------


def shown(status: str = "ACTIVE", deleted_at: str | None = None, **version: Any) -> bytes:
    stored = {"gwdmVersion": "2.0", "metadata": {"gwdm": True}, "original_metadata": {"a": "b"}}
    versions = [{"id": 11, "version": 4, "metadata": stored, **version}]
    return json.dumps(
        {"message": "success", "data": {"id": 5, "status": status, "deleted_at": deleted_at, "versions": versions}}
    ).encode()


def test_held_is_the_received_document_of_the_latest_version() -> None:
    back = held(200, shown(), True, 5)
    assert back.state is Held.HELD and back.content == {"a": "b"} and "version 4" in back.message
    as_text = held(200, shown(metadata=json.dumps({"original_metadata": {"c": 1}})), True, 5)
    assert as_text.content == {"c": 1}
    assert shown_version(shown()) == 4


@pytest.mark.parametrize(
    ("status", "raw", "complete", "state"),
    [
        (404, b'{"message":"Dataset not found"}', True, Held.MISSING),
        (200, shown(status="DRAFT"), True, Held.MISSING),
        (200, shown(deleted_at="2026-12-01T00:00:00Z"), True, Held.MISSING),
        (200, shown(metadata={"metadata": {}}), True, Held.MISSING),
        (500, b'{"message":"Server Error"}', True, Held.UNKNOWN),
        (429, b"", True, Held.UNKNOWN),
        (200, b"<html>", True, Held.UNKNOWN),
        (200, shown()[:40], False, Held.UNKNOWN),
    ],
)
def test_held_states(status: int, raw: bytes, complete: bool, state: Held) -> None:
    assert held(status, raw, complete, 5).state is state


def test_an_answer_over_the_cap_says_so() -> None:
    assert "size cap" in held(200, shown()[:40], False, 5).message


def test_expected_follows_the_route_s_clean_up() -> None:
    document = {"t": "  R&D ®  ", "e": "", "o": {}, "n": 3}
    assert expected(document, Api.INTEGRATIONS) == {"t": "R&amp;D &reg;", "e": None, "o": [], "n": 3}
    assert expected(document, Api.DATASETS) == {"t": "R&D ®", "e": None, "o": [], "n": 3}
    assert document["t"] == "  R&D ®  "  # not modified
