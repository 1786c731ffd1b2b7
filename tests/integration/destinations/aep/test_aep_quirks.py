"""The AEP destination against the AEP emulator over HTTP with the real service's quirks switched on (issue 21 §4,
issue 26 #4, #8, #9): each test fails if the quirk is removed from the emulator or the handling from the client."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.core.ports import Call
from hdr_ingest.core.routing import RouteSpec
from hdr_ingest.destinations import Common, kind
from hdr_ingest.destinations.aep.destination import AepDestination
from hdr_ingest.destinations.aep.token import TOKENS
from hdr_ingest.entry.runtime import reset_runtime
from local_stack.aep_emulator import DEFAULT_SCHEMA, DEFAULT_SCHEMA_ID, AepClient, AepEmulator, Fault
from tests.integration.conftest import Emulators, Stack

pytestmark = pytest.mark.integration

SECRET_WITH_SYMBOLS = "p@ss w/rd+secret=1&x"  # URL-encoded differently by each form
CLIENT = AepClient("quirks-client-1", SECRET_WITH_SYMBOLS, frozenset({"openid", "AdobeID"}))
AEP_SECRET = "hgi-test/aep-quirks"
RECORDS: list[dict[str, Any]] = [{"_id": "p1", "title": "First"}, {"_id": "p2", "title": "Second", "rows": 3}]
OTHER_SCHEMA = "https://ns.adobe.com/hgi/schemas/other"
EMPTY_SCHEMA = "https://ns.adobe.com/hgi/schemas/empty"


@pytest.fixture
def aep(aep_emulators: Emulators[AepEmulator]) -> AepEmulator:
    TOKENS.clear()
    schemas = {DEFAULT_SCHEMA_ID: DEFAULT_SCHEMA, OTHER_SCHEMA: DEFAULT_SCHEMA, EMPTY_SCHEMA: {}}
    return aep_emulators(clients=[CLIENT], schemas=schemas)


def options(aep: AepEmulator, **extra: Any) -> dict[str, Any]:
    base = {
        "imsUrl": aep.ims_url,
        "orgId": aep.org_id,
        "sandbox": "prod",
        "schemaId": DEFAULT_SCHEMA_ID,
        "datasetName": "HGI people",
    }
    return {**base, **extra}


def destination(aep: AepEmulator, **extra: Any) -> tuple[AepDestination, Call]:
    aep_kind = kind("aep")
    assert aep_kind is not None
    built: Any = aep_kind.build(
        RouteSpec("incoming/aep/", "aep", aep.base_url, AEP_SECRET, options(aep, **extra)), Common()
    )
    secret = {"client_id": CLIENT.client_id, "client_secret": CLIENT.client_secret, "scope": "openid"}
    return built, Call(built.credentials(secret, AEP_SECRET), 5, 30)


def create(dest: AepDestination, call: Call, key: str, records: list[dict[str, Any]]) -> Answer:
    document = {"records": records}
    return dest.create(key, document, dest.judge(document, ""), call)


def settled(dest: AepDestination, call: Call, batch_id: Any) -> Answer:
    for _ in range(10):
        answer = dest.check(batch_id, call)
        if answer.kind is not AnswerKind.PENDING:
            return answer
    return answer


def rows(aep: AepEmulator) -> list[Any]:
    (dataset_id,) = aep.datasets()
    return aep.rows(dataset_id)


# -- loaded has four names ------------------------------------------------------------------------------------
def test_active_archived_and_retained_all_count_as_loaded(aep: AepEmulator) -> None:
    aep.quirks.loaded_word = "active"
    dest, call = destination(aep)
    first = create(dest, call, "k-loaded", RECORDS)
    assert settled(dest, call, first.record_id).kind is AnswerKind.SUCCESS
    assert aep.batches()[0].status == "active"
    aep.age_loaded("archived")
    document = {"records": RECORDS[:1]}
    replay = dest.update(first.record_id, "k-loaded", document, dest.judge(document, ""), call)
    assert replay.kind is AnswerKind.PENDING and aep.batches()[-1].predecessors == [first.record_id]
    assert settled(dest, call, replay.record_id).kind is AnswerKind.SUCCESS
    aep.age_loaded("retained")
    assert dest.archive(replay.record_id, call).kind is AnswerKind.SUCCESS
    assert aep.batches()[-1].status == "reverted" and rows(aep) == []


# -- COMPLETE ----------------------------------------------------------------------------------------------------
def test_a_complete_that_errors_but_took_effect_is_pending_and_never_aborted(aep: AepEmulator) -> None:
    aep.quirks.complete_errors = 1
    dest, call = destination(aep)
    answer = create(dest, call, "k-complete", RECORDS)
    assert answer.kind is AnswerKind.PENDING and aep.quirks.complete_errors == 0
    assert settled(dest, call, answer.record_id).kind is AnswerKind.SUCCESS
    assert [b.status for b in aep.batches()] == ["success"] and len(rows(aep)) == 2
    assert not aep.requests("/import/batches/") or all(e.query.get("action") != "ABORT" for e in aep.requests())


def test_a_complete_that_failed_twice_leaves_the_batch_open_and_the_next_delivery_completes_it(
    aep: AepEmulator,
) -> None:
    dest, call = destination(aep)
    aep.add_fault(Fault(status=500, path_contains="/import/batches/B", method="POST", times=2))
    first = create(dest, call, "k-twice", RECORDS)
    assert first.kind is AnswerKind.TRANSIENT and first.http_status is None
    assert [b.status for b in aep.batches()] == ["loading"]  # open, not aborted
    found = dest.find("k-twice", call)  # the next delivery
    document = {"records": RECORDS}
    again = dest.update(found.record_id, "k-twice", document, dest.judge(document, ""), call)
    assert again.kind is AnswerKind.PENDING and again.record_id == found.record_id
    assert settled(dest, call, again.record_id).kind is AnswerKind.SUCCESS and len(rows(aep)) == 2


def test_a_complete_that_failed_once_without_effect_is_sent_again(aep: AepEmulator) -> None:
    dest, call = destination(aep)
    aep.add_fault(Fault(status=503, path_contains="/import/batches/B", method="POST", times=1))
    answer = create(dest, call, "k-once", RECORDS)
    assert answer.kind is AnswerKind.PENDING
    actions = [e.query.get("action") for e in aep.requests("/import/batches/B") if e.method == "POST"]
    assert actions == ["COMPLETE", "COMPLETE"]
    assert settled(dest, call, answer.record_id).kind is AnswerKind.SUCCESS


# -- a lost "create batch" answer (issue 26 #8) -----------------------------------------------------------------
def test_a_batch_whose_create_answer_was_lost_is_filled_and_completed_when_adopted(aep: AepEmulator) -> None:
    dest, call = destination(aep)
    create(dest, call, "k-warmup", RECORDS)  # the dataset and the schema are known: the next call is the batch
    aep.add_fault(Fault(path_contains="/import/batches", method="POST", delay_s=3.0))
    lost = create(dest, Call(call.credentials, 1.0, 1.5), "k-lost", RECORDS)
    assert lost.kind is AnswerKind.TRANSIENT
    for _ in range(100):  # the emulator creates the batch once its delay has passed
        if len(aep.batches()) == 2:
            break
        time.sleep(0.1)
    found = dest.find("k-lost", call)
    assert found.found and found.record_id == aep.batches()[-1].id
    document = {"records": RECORDS}
    adopted = dest.update(found.record_id, "k-lost", document, dest.judge(document, ""), call)
    assert adopted.kind is AnswerKind.PENDING
    assert settled(dest, call, adopted.record_id).kind is AnswerKind.SUCCESS
    assert aep.batches()[-1].records() == RECORDS


# -- ownership and Catalog filters ------------------------------------------------------------------------------
def test_a_catalog_that_ignores_the_tags_filter_never_hands_over_another_file_s_batch(aep: AepEmulator) -> None:
    aep.quirks.ignore_tags_filter = True
    dest, call = destination(aep)
    other = create(dest, call, "incoming/aep/a.json", RECORDS)
    assert settled(dest, call, other.record_id).kind is AnswerKind.SUCCESS
    (dataset,) = aep.datasets()
    unfiltered = dest.client.batches({"dataSet": dataset, "tags": "hgiKey:incoming/aep/b.json"}, _run(call))
    assert not isinstance(unfiltered, Answer) and list(unfiltered) == [other.record_id]  # the quirk
    found = dest.find("incoming/aep/b.json", call)
    assert found.kind is AnswerKind.SUCCESS and found.record_id is None
    document = {"records": RECORDS[:1]}
    refused = dest.update(other.record_id, "incoming/aep/b.json", document, dest.judge(document, ""), call)
    assert refused.kind is AnswerKind.NOT_FOUND and len(aep.batches()) == 1
    mine = create(dest, call, "incoming/aep/b.json", RECORDS[:1])
    assert aep.batches()[-1].predecessors == [] and mine.record_id != other.record_id


def test_a_key_holding_filter_operators_finds_its_own_batch(aep: AepEmulator) -> None:
    dest, call = destination(aep)
    create(dest, call, "incoming/aep/b.json", RECORDS)  # a file the operators would match
    key = "incoming/aep/a,b.json"
    mine = create(dest, call, key, RECORDS[:1])
    (dataset,) = aep.datasets()
    both = "hgiKey:incoming/aep/b.json,incoming/aep/a%2Cb.json"  # a comma is an operator: two values
    raw = dest.client.batches({"dataSet": dataset, "tags": both}, _run(call))
    assert not isinstance(raw, Answer) and mine.record_id in raw and len(raw) == 2
    found = dest.find(key, call)
    assert found.record_id == mine.record_id
    assert dest.find("incoming/aep/*", call).record_id is None


def test_filter_operators_in_the_emulator(aep: AepEmulator) -> None:
    dest, call = destination(aep)
    create(dest, call, "x", RECORDS)
    create(dest, call, "y", RECORDS[:1])
    (dataset,) = aep.datasets()
    listed = dest.client.batches({"dataSet": dataset, "tags": "hgiKey:x,y"}, _run(call))
    assert not isinstance(listed, Answer) and len(listed) == 2
    wild = dest.client.batches({"dataSet": dataset, "tags": "hgiKey:*"}, _run(call))
    assert not isinstance(wild, Answer) and len(wild) == 2


def _run(call: Call) -> Any:
    from hdr_ingest.destinations.aep.client import Bounded

    return Bounded.of(call)


def test_a_404_on_an_empty_list_means_none_found(aep: AepEmulator) -> None:
    aep.quirks.empty_list_404 = True
    dest, call = destination(aep)
    assert dest.find("k-none", call).record_id is None  # no dataset: the dataset list answered 404
    answer = create(dest, call, "k-none", RECORDS)
    assert answer.kind is AnswerKind.PENDING
    assert dest.find("k-other", call).kind is AnswerKind.SUCCESS  # no batch: the batch list answered 404
    assert any(e.status == 404 and e.path.endswith("/catalog/batches") for e in aep.requests())


def test_a_dataset_of_the_same_name_on_another_schema_is_refused_naming_the_setting(aep: AepEmulator) -> None:
    other, call = destination(aep, schemaId=OTHER_SCHEMA)
    create(other, call, "k-theirs", RECORDS)  # "HGI people" now exists on OTHER_SCHEMA
    dest, call = destination(aep)
    answer = create(dest, call, "k-schema", RECORDS)
    assert answer.kind is AnswerKind.PERMANENT and OTHER_SCHEMA in answer.message and "schemaId" in answer.message
    assert len(aep.batches()) == 1


# -- replay --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("left_live", "predecessor"),
    [(True, "reverted"), (False, "inactive")],
    ids=["a predecessor left live by a replay is reverted", "by default a replay retires its predecessor"],
)
def test_a_replay_leaves_only_its_own_batch_live(aep: AepEmulator, left_live: bool, predecessor: str) -> None:
    aep.quirks.predecessor_left_live = left_live
    dest, call = destination(aep)
    first = create(dest, call, "k-replay", RECORDS)
    assert settled(dest, call, first.record_id).kind is AnswerKind.SUCCESS
    document = {"records": RECORDS[:1]}
    replay = dest.update(first.record_id, "k-replay", document, dest.judge(document, ""), call)
    assert settled(dest, call, replay.record_id).kind is AnswerKind.SUCCESS
    assert [b.status for b in aep.batches()] == [predecessor, "success"] and rows(aep) == RECORDS[:1]


# -- types ---------------------------------------------------------------------------------------------------------
def test_values_aep_converts_are_published_with_a_warning_and_loaded_converted(aep: AepEmulator) -> None:
    dest, call = destination(aep)
    records = [{"_id": "p1", "title": "T", "rows": "3", "created": 1764900000000}]
    answer = create(dest, call, "k-types", records)
    assert answer.kind is AnswerKind.PENDING and "Warning: AEP converts 2 values" in answer.message
    assert settled(dest, call, answer.record_id).kind is AnswerKind.SUCCESS
    assert rows(aep) == [{"_id": "p1", "title": "T", "rows": 3, "created": "2025-12-05T02:00:00Z"}]


def test_a_value_aep_cannot_convert_is_refused_before_any_batch(aep: AepEmulator) -> None:
    dest, call = destination(aep)
    answer = create(dest, call, "k-types", [{"_id": "p1", "title": "T", "rows": "three"}])
    assert answer.kind is AnswerKind.METADATA_REJECTED and answer.errors[0].path == "$[0].rows"
    assert aep.batches() == []


def test_the_emulator_fails_a_batch_only_for_what_it_cannot_convert(aep: AepEmulator) -> None:
    from local_stack.aep_emulator.state import converted

    loaded, errors = converted(
        [{"_id": "a", "title": "t", "rows": "3"}, {"_id": "b", "title": "t", "rows": "x"}], DEFAULT_SCHEMA
    )
    assert loaded[0]["rows"] == 3 and [e["rows"] for e in errors] == [[1]]


def test_an_empty_xdm_schema_lets_nothing_through(aep: AepEmulator) -> None:
    dest, call = destination(aep, schemaId=EMPTY_SCHEMA, datasetName="HGI empty")
    answer = create(dest, call, "k-empty", [{"anything": True}])
    assert answer.kind is AnswerKind.TRANSIENT and "no properties" in answer.message and aep.batches() == []


# -- secrets in echoed error bodies (issue 26 #9), through the handler --------------------------------------------
@pytest.fixture
def routed(stack: Stack, aep: AepEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[AepEmulator]:
    secret = {"client_id": CLIENT.client_id, "client_secret": CLIENT.client_secret, "scope": "openid,AdobeID"}
    stack.secrets.create_secret(Name=AEP_SECRET, SecretString=json.dumps(secret))
    route = {
        "prefix": "incoming/aep/",
        "kind": "aep",
        "url": aep.base_url,
        "secret": AEP_SECRET,
        "options": options(aep),
    }
    monkeypatch.setenv("DESTINATIONS", json.dumps([route]))
    reset_runtime()
    yield aep
    reset_runtime()


def test_an_echoed_access_token_or_url_encoded_secret_reaches_no_ledger_dead_letter_or_log(
    stack: Stack, routed: AepEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    from urllib.parse import quote_plus

    caplog.set_level(logging.INFO)  # DEBUG would add botocore's own dump of the secret it fetched
    echo = {"title": "Bad Request", "detail": "echo: client_secret=" + quote_plus(SECRET_WITH_SYMBOLS)}
    routed.add_fault(Fault(status=400, path_contains="/ims/token", body=echo, times=100))
    stack.drop_and_invoke("incoming/aep/ims.json", RECORDS)
    first = json.dumps(stack.ledger("incoming/aep/ims.json"), default=str)
    routed.faults.clear()
    body = {"message": "Authorization: Bearer {token}"}  # filled in below: the token the handler gets
    routed.add_fault(Fault(status=400, path_contains="/import/batches", body=body))
    routed.state.issue = _echoing(routed, body)  # type: ignore[method-assign]
    stack.drop_and_invoke("incoming/aep/platform2.json", RECORDS)
    second = json.dumps(stack.ledger("incoming/aep/platform2.json"), default=str)
    assert "Bearer [redacted]" in second and "[redacted]" in first
    everything = first + second + json.dumps(stack.dead_letters(), default=str) + caplog.text
    tokens = list(routed.state.tokens)
    assert tokens and not any(token in everything for token in tokens)
    assert quote_plus(SECRET_WITH_SYMBOLS) not in everything
    assert SECRET_WITH_SYMBOLS not in everything


def _echoing(aep: AepEmulator, body: dict[str, str]) -> Any:
    """IMS issuing tokens as before, and the Platform fault echoing the token it issued (a gateway that quotes
    the request's headers in its error)."""
    issue = type(aep.state).issue

    def issued(client_id: str) -> str:
        token = issue(aep.state, client_id)
        body["message"] = f"Authorization: Bearer {token}"
        return token

    return issued


def test_through_the_handler_a_new_file_never_replays_another_file_s_batch(stack: Stack, routed: AepEmulator) -> None:
    """Issue 26 #4 as it was met: the Catalog ignores the ``tags`` filter and the second file's lookup (no ledger
    row yet) is handed the first file's loaded batch."""
    routed.quirks.ignore_tags_filter = True
    stack.drop_and_invoke("incoming/aep/first.json", RECORDS)
    for _ in range(10):
        if stack.ledger("incoming/aep/first.json")["status"] != "PENDING":
            break
        stack.deliver(stack.receive())
    first = stack.ledger("incoming/aep/first.json")
    stack.drop_and_invoke("incoming/aep/second.json", RECORDS[:1])
    second = stack.ledger("incoming/aep/second.json")
    assert first["status"] == "CREATED" and second["status"] == "PENDING"
    assert second["dataset_id"] != first["dataset_id"] and routed.batches()[-1].predecessors == []
    assert routed.batches()[0].status == "success" and routed.rows(routed.batches()[0].dataset_id) == RECORDS


def test_through_the_handler_converted_values_are_published_with_the_warning_in_the_ledger(
    stack: Stack, routed: AepEmulator
) -> None:
    stack.drop_and_invoke("incoming/aep/types.json", [{"_id": "p1", "title": "T", "rows": "7"}])
    item = stack.ledger("incoming/aep/types.json")
    assert item["status"] == "PENDING" and "AEP converts 1 values" in item["reason"] and "$[0].rows" in item["reason"]
    stack.deliver(stack.receive())
    stack.deliver(stack.receive())
    assert stack.ledger("incoming/aep/types.json")["status"] == "CREATED"
    assert routed.rows(routed.batches()[0].dataset_id) == [{"_id": "p1", "title": "T", "rows": 7}]
