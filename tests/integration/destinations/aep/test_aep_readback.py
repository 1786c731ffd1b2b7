"""AEP read-back against the AEP emulator over HTTP: a loaded batch (and a loaded replay) reads back as expected; a
batch whose records were changed on AEP differs at ``$.records``, a failed one at ``$.status``, a replay that left
its predecessor live at ``$.predecessor_live``; a reverted batch is MISSING; a Catalog failure is UNKNOWN."""

from __future__ import annotations

from typing import Any

import pytest

from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.core.ports import Call
from hdr_ingest.core.routing import RouteSpec
from hdr_ingest.core.verification import Held, ReadsBack
from hdr_ingest.destinations import Common, kind
from hdr_ingest.destinations.aep.destination import AepDestination
from hdr_ingest.destinations.aep.token import TOKENS
from local_stack.aep_emulator import DEFAULT_SCHEMA_ID, AepClient, AepEmulator, Fault
from tests.integration.conftest import Emulators

pytestmark = pytest.mark.integration

CLIENT = AepClient("readback-client", "readback-secret-0123456789", frozenset({"openid", "AdobeID"}))
SECRET_ID = "hgi-test/aep-readback"
KEY = "incoming/aep/people.json"
FIRST = {"records": [{"_id": "p1", "title": "First"}, {"_id": "p2", "title": "Second", "rows": 3}]}
SECOND = {"records": [{"_id": "p1", "title": "First"}, {"_id": "p2", "title": "Second"}, {"_id": "p3", "title": "3"}]}


@pytest.fixture
def aep(aep_emulators: Emulators[AepEmulator]) -> AepEmulator:
    TOKENS.clear()
    return aep_emulators(clients=[CLIENT])


def destination(aep: AepEmulator) -> tuple[AepDestination, Call]:
    aep_kind = kind("aep")
    assert aep_kind is not None
    options = {
        "imsUrl": aep.ims_url,
        "orgId": aep.org_id,
        "sandbox": "prod",
        "schemaId": DEFAULT_SCHEMA_ID,
        "datasetName": "HGI read-back",
    }
    built: Any = aep_kind.build(RouteSpec("incoming/aep/", "aep", aep.base_url, SECRET_ID, options), Common())
    secret = {"client_id": CLIENT.client_id, "client_secret": CLIENT.client_secret, "scope": "openid"}
    return built, Call(built.credentials(secret, SECRET_ID), 10, 30)


def settled(dest: AepDestination, call: Call, answer: Answer) -> str:
    """The batch of a publish, checked until it has settled (each read moves the emulator's batch on)."""
    assert answer.kind is AnswerKind.PENDING, answer.message
    for _ in range(10):
        checked = dest.check(answer.record_id, call)
        if checked.kind is not AnswerKind.PENDING:
            break
    assert checked.kind is AnswerKind.SUCCESS, checked.message
    return str(answer.record_id)


def published(dest: AepDestination, call: Call, document: dict[str, Any]) -> str:
    return settled(dest, call, dest.create(KEY, document, dest.judge(document, ""), call))


def replayed(dest: AepDestination, call: Call, batch_id: str, document: dict[str, Any]) -> Answer:
    return dest.update(batch_id, KEY, document, dest.judge(document, ""), call)


def test_a_loaded_batch_reads_back_as_expected(aep: AepEmulator) -> None:
    dest, call = destination(aep)
    assert isinstance(dest, ReadsBack)
    batch_id = published(dest, call, FIRST)
    got = dest.read_back(batch_id, KEY, call)
    assert got.state is Held.HELD and got.content == dest.expected(FIRST, None)
    assert got.content == {"status": "live", "records": 2, "predecessor_live": False}


@pytest.mark.parametrize("aged", ["active", "archived", "retained"])
def test_active_archived_and_retained_are_live(aep: AepEmulator, aged: str) -> None:
    dest, call = destination(aep)
    batch_id = published(dest, call, FIRST)
    aep.age_loaded(aged)
    got = dest.read_back(batch_id, KEY, call)
    assert got.state is Held.HELD and got.content == dest.expected(FIRST, None) and aged in got.message


def test_a_loaded_replay_reads_back_as_expected_its_predecessor_retired(aep: AepEmulator) -> None:
    dest, call = destination(aep)
    first = published(dest, call, FIRST)
    second = settled(dest, call, replayed(dest, call, first, SECOND))
    got = dest.read_back(second, KEY, call)
    assert got.state is Held.HELD and got.content == dest.expected(SECOND, None)
    assert got.content["records"] == 3 and {b.id: b.status for b in aep.batches()}[first] != "success"


def test_a_replay_that_left_its_predecessor_live_differs_there(aep: AepEmulator) -> None:
    aep.quirks.predecessor_left_live = True
    dest, call = destination(aep)
    first = published(dest, call, FIRST)
    replay = replayed(dest, call, first, SECOND)
    assert replay.kind is AnswerKind.PENDING
    # read back before our own check could retire the predecessor: each read moves the replay on until it loads
    states = [dest.read_back(replay.record_id, KEY, call) for _ in range(3)]
    assert [s.state for s in states] == [Held.UNKNOWN, Held.HELD, Held.HELD]
    got = states[-1]
    assert got.content == {**dest.expected(SECOND, None), "predecessor_live": True} and first in got.message


def test_a_batch_whose_records_changed_on_aep_differs_at_its_record_count(aep: AepEmulator) -> None:
    dest, call = destination(aep)
    batch_id = published(dest, call, FIRST)
    (batch,) = aep.batches()
    batch.files = {name: data.splitlines()[0] + b"\n" for name, data in batch.files.items()}  # one record left
    got = dest.read_back(batch_id, KEY, call)
    assert got.state is Held.HELD and got.content == {**dest.expected(FIRST, None), "records": 1}


def test_a_failed_batch_differs_at_its_status(aep: AepEmulator) -> None:
    dest, call = destination(aep)
    batch_id = published(dest, call, FIRST)
    (batch,) = aep.batches()
    batch.status = "failed"
    got = dest.read_back(batch_id, KEY, call)
    assert got.state is Held.HELD and got.content["status"] == "failed"
    assert {**got.content, "status": "live"} == {**dest.expected(FIRST, None), "records": None}


def test_a_reverted_batch_is_missing(aep: AepEmulator) -> None:
    dest, call = destination(aep)
    batch_id = published(dest, call, FIRST)
    assert dest.archive(batch_id, call).kind is AnswerKind.SUCCESS
    got = dest.read_back(batch_id, KEY, call)
    assert (got.state, got.content) == (Held.MISSING, None) and "reverted" in got.message


def test_another_files_batch_is_never_read_as_ours(aep: AepEmulator) -> None:
    dest, call = destination(aep)
    batch_id = published(dest, call, FIRST)
    got = dest.read_back(batch_id, "incoming/aep/another.json", call)
    assert got.state is Held.MISSING and "key tag" in got.message


def test_a_batch_still_loading_is_unknown(aep: AepEmulator) -> None:
    aep.never_settle()
    dest, call = destination(aep)
    answer = dest.create(KEY, FIRST, dest.judge(FIRST, ""), call)
    got = dest.read_back(answer.record_id, KEY, call)
    assert got.state is Held.UNKNOWN and "loading" in got.message


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_catalog_failure_is_unknown(aep: AepEmulator, status: int) -> None:
    dest, call = destination(aep)
    batch_id = published(dest, call, FIRST)
    aep.add_fault(Fault(status=status, path_contains=f"/catalog/batches/{batch_id}", method="GET"))
    got = dest.read_back(batch_id, KEY, call)
    assert (got.state, got.content) == (Held.UNKNOWN, None) and str(status) in got.message
    assert dest.read_back(batch_id, KEY, call).state is Held.HELD  # the fault was for that one read
