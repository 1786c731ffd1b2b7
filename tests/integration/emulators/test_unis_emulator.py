"""The UNIS emulator over HTTP behaves as UNIS's code does (shared/notes/destinations.md §1)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from local_stack.unis_emulator import PSJSON, UnisEmulator

pytestmark = pytest.mark.integration

HEADERS = {"Content-Type": PSJSON, "Accept": PSJSON}
DOC = {"subject": {"href": "https://unis.example/ports/1", "rel": "full"}, "eventType": "e"}


@pytest.fixture
def unis(unis_server: UnisEmulator) -> UnisEmulator:
    unis_server.reset()
    return unis_server


def call(unis: UnisEmulator, method: str, path: str, body: Any = None, **headers: str) -> requests.Response:
    data = None if body is None else json.dumps(body)
    return requests.request(
        method, unis.base_url + path, data=data, headers={**HEADERS, **headers}, timeout=5, allow_redirects=False
    )


def test_versions_are_kept_per_id_and_ts_and_a_repeated_pair_is_409(unis: UnisEmulator) -> None:
    created = call(unis, "POST", "/metadata", {**DOC, "id": "m1"})
    assert created.status_code == 201 and created.headers["Location"] == f"{unis.base_url}/metadata/m1"
    stored = created.json()
    assert stored["selfRef"] == created.headers["Location"] and isinstance(stored["ts"], int)
    assert stored["$schema"] == "http://unis.crest.iu.edu/schema/20151104/metadata#"
    again = call(unis, "POST", "/metadata", {**DOC, "id": "m1", "eventType": "f"})
    assert again.status_code == 201 and len(unis.records()) == 2  # history mode: a second version
    assert call(unis, "GET", "/metadata/m1").json()["eventType"] == "f"
    conflict = call(unis, "POST", "/metadata", {**DOC, "id": "m1", "ts": again.json()["ts"]})
    assert conflict.status_code == 409 and len(unis.records()) == 2


def test_a_put_that_repeats_another_versions_ts_is_404_as_put_answers_any_update_error(unis: UnisEmulator) -> None:
    first = call(unis, "POST", "/metadata", {**DOC, "id": "m3"}).json()
    call(unis, "POST", "/metadata", {**DOC, "id": "m3", "eventType": "j"})
    clash = call(unis, "PUT", "/metadata/m3", {**DOC, "ts": first["ts"]})
    assert clash.status_code == 404 and "Could not process the PUT request - E11000" in clash.text
    assert [r["document"]["eventType"] for r in unis.records()] == [DOC["eventType"], "j"]  # nothing changed


def test_an_unknown_id_is_200_empty_and_a_list_post_has_no_location(unis: UnisEmulator) -> None:
    unknown = call(unis, "GET", "/metadata/nothing")
    assert (unknown.status_code, unknown.text) == (200, "[]")
    listing = call(unis, "POST", "/metadata", [DOC, {**DOC, "eventType": "g"}])
    assert listing.status_code == 201 and "Location" not in listing.headers and len(listing.json()) == 2
    one_bad = call(unis, "POST", "/metadata", [DOC, {"eventType": "no subject"}])
    assert one_bad.status_code == 400 and len(unis.records()) == 2  # the whole request fails
    found = call(unis, "GET", "/metadata?eventType=g")
    assert found.headers["X-Count"] == "1" and found.json()[0]["eventType"] == "g"


def test_put_is_204_without_a_body_and_delete_is_soft(unis: UnisEmulator) -> None:
    call(unis, "POST", "/metadata", {**DOC, "id": "m2"})
    put = call(unis, "PUT", "/metadata/m2", {**DOC, "eventType": "h"})
    assert (put.status_code, put.text) == (204, "")
    mismatch = call(unis, "PUT", "/metadata/m2", {**DOC, "id": "other"})  # put() names an undefined `body`
    assert mismatch.status_code == 500 and mismatch.text.startswith('{"exc_info": "(<class \'NameError\'>')
    assert call(unis, "PUT", "/metadata/none", DOC).status_code == 404
    assert call(unis, "DELETE", "/metadata/m2").status_code == 204
    assert call(unis, "GET", "/metadata/m2").text == "[]" and [r["deleted"] for r in unis.records()] == [True]
    # a PUT on a soft-deleted id: 204, and the record stays deleted and hidden (db.py: no status filter)
    assert call(unis, "PUT", "/metadata/m2", {**DOC, "eventType": "i"}).status_code == 204
    assert call(unis, "GET", "/metadata/m2").text == "[]"
    assert [(r["deleted"], r["document"]["eventType"]) for r in unis.records()] == [(True, "i")]


def test_a_failed_lookup_is_404_and_a_failed_insert_409_without_e11000(unis: UnisEmulator) -> None:
    unis.configure_faults({"failed_lookups": 1, "failed_inserts": 1})
    assert call(unis, "GET", "/metadata/m9").status_code == 404
    assert call(unis, "GET", "/metadata/m9").text == "[]"  # an unknown id, once the database answers
    refused = call(unis, "POST", "/metadata", {**DOC, "id": "m9"})
    assert refused.status_code == 409 and "E11000" not in refused.text and unis.ids() == []
    assert call(unis, "POST", "/metadata", {**DOC, "id": "m9"}).status_code == 201


def test_error_bodies_are_pasted_and_media_types_are_refused_with_a_500(unis: UnisEmulator) -> None:
    bad = call(unis, "POST", "/metadata", {**DOC, "ts": 'a "quoted" ts'})
    assert bad.status_code == 400 and bad.text.startswith('{"message": "Not valid body')
    with pytest.raises(ValueError):
        json.loads(bad.text)
    assert call(unis, "POST", "/metadata?validate=false", {**DOC, "extra": 1}).status_code == 201
    wrong_type = call(unis, "POST", "/metadata", DOC, **{"Content-Type": "application/json"})
    assert wrong_type.status_code == 500 and "Unsupported content type" in wrong_type.text
    wrong_accept = call(unis, "GET", "/metadata/x", Accept="application/json")
    assert (wrong_accept.status_code, wrong_accept.text) == (500, "")
    assert call(unis, "GET", "/metadata/x", Accept="*/*").status_code == 200
    assert call(unis, "POST", "/metadata", None).status_code == 400  # not JSON


def test_faults_are_set_over_http(unis: UnisEmulator) -> None:
    admin = f"{unis.base_url}/_emulator/faults"
    assert requests.post(admin, json={"script": ["503", "throttle"]}, timeout=5).json()["script"] == ["503", "throttle"]
    assert call(unis, "GET", "/metadata/x").status_code == 503
    throttled = call(unis, "GET", "/metadata/x")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
    requests.post(admin, json={"script": ["drop"]}, timeout=5)
    with pytest.raises(requests.ConnectionError):
        call(unis, "GET", "/metadata/x")
    assert requests.post(admin, json={"late_answers": -1}, timeout=5).status_code == 400
    assert [r.fault for r in unis.requests()] == ["script:503", "script:throttle", "script:drop"]


def test_the_2012_schema_is_draft_03() -> None:
    with UnisEmulator(schema="2012") as old:
        created = call(old, "POST", "/metadata", DOC)
        assert created.json()["$schema"] == "http://unis.incntre.iu.edu/schema/20120709/metadata#"
        assert call(old, "POST", "/metadata", {"subject": DOC["subject"]}).status_code == 400


def test_a_put_body_is_not_validated_and_a_list_without_ids_gets_an_id_each(unis: UnisEmulator) -> None:
    call(unis, "POST", "/metadata", {**DOC, "id": "m5"})
    assert call(unis, "PUT", "/metadata/m5", {**DOC, "colour": "red"}).status_code == 204  # PUT validates nothing
    listing = call(unis, "POST", "/metadata", [DOC, {**DOC, "eventType": "g"}]).json()
    assert len({m["id"] for m in listing}) == 2 and set(unis.ids()) == {"m5", *(m["id"] for m in listing)}
