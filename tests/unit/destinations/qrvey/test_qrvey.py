"""The Qrvey destination on its own: route options, credentials, how Qrvey's answers are classified, the dataset
definition's validation messages (each with its path and fix), identity by tagged name, and create → load → check
with a scripted client (no network)."""

from __future__ import annotations

import json
import tracemalloc
from dataclasses import dataclass, field
from typing import Any

import pytest

from hdr_ingest import destinations
from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.core.ports import Call, CredentialsError, Verdict
from hdr_ingest.core.routing import RouteSpec
from hdr_ingest.destinations.http import retry_after_s
from hdr_ingest.destinations.qrvey.answers import classify, messages_of
from hdr_ingest.destinations.qrvey.client import Reply, header_problem
from hdr_ingest.destinations.qrvey.credentials import ApiKey
from hdr_ingest.destinations.qrvey.destination import (
    QrveyDestination,
    dataset_id_of,
    digest_of,
    tag_of,
    tagged_name,
)
from hdr_ingest.destinations.qrvey.judge import MAX_ERRORS, DatasetJudge
from hdr_ingest.destinations.qrvey.route import problems
from tests.conftest import qrvey_definition as definition

pytestmark = pytest.mark.unit

KEY = "hgi-" + "a" * 40
URL = "https://acme.qrvey.example/devapi/v4"
BASE = "/user/u-1/app/a-1/qollect/dataset"
CALL = Call(ApiKey("k" * 20), timeout_s=5, deadline_s=30)
OUR_ID = dataset_id_of("u-1", "a-1", KEY)
NO_SUCH = Reply(404, {"status": "error", "errors": [{"message": "Dataset not found"}]})


@dataclass
class ScriptedClient:
    """Answers each call with the next scripted reply and records what was asked."""

    replies: list[Reply | Answer] = field(default_factory=list)
    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    untils: list[float] = field(default_factory=list)

    def call(
        self, method: str, path: str, key: ApiKey, timeout_s: float, until: float, doing: str, body: Any = None
    ) -> Any:
        self.untils.append(until)
        self.calls.append((method, path.removeprefix(BASE), body))
        return self.replies.pop(0)


def destination(*replies: Reply | Answer, **options: Any) -> tuple[QrveyDestination, ScriptedClient]:
    client = ScriptedClient(list(replies))
    return QrveyDestination(URL, client, "u-1", "a-1", **options), client  # type: ignore[arg-type]


VERDICT = Verdict(True, "is valid")


# -- route and credentials -------------------------------------------------------------------------------------
def test_the_kind_is_registered() -> None:
    assert "qrvey" in destinations.kinds() and destinations.kind("qrvey") is not None


def test_a_good_route_has_no_problems() -> None:
    spec = RouteSpec("incoming/qrvey/", "qrvey", URL, "qrvey-secret", {"userId": "u-1", "appId": "a-1"})
    assert problems(spec) == []


def test_every_bad_or_missing_option_is_named() -> None:
    spec = RouteSpec(
        "q/",
        "qrvey",
        "ftp://acme.example/api",
        None,
        {"appId": "", "createPath": "qollect", "onChange": "update", "columnTypes": [], "colour": "red"},
    )
    found = problems(spec)
    assert len(found) == 8
    text = "\n".join(found)
    for expected in (
        "url='ftp://acme.example/api' must be the instance's API base, https://<instance>/devapi/v4",
        'needs a secret holding {"api_key"',
        "unknown options ['colour']",
        "option userId=None must be the id of the Qrvey user",
        "option appId='' must be the id of the Qrvey application",
        "option createPath='qollect' must be a path under the url starting with '/'",
        "option onChange='update' must be 'reject' or 'recreate'",
        "option columnTypes=[] must be a non-empty list",
    ):
        assert expected in text


def test_an_api_key_that_cannot_be_a_header_is_refused_without_quoting_it() -> None:
    for bad in ("line\nbreak-0123", "café-0123456789", "k" * 600):
        with pytest.raises(CredentialsError) as refused:
            ApiKey.from_secret({"api_key": bad}, "s")
        assert bad not in str(refused.value) and "cannot be sent as an HTTP header" in str(refused.value)
    assert header_problem("fine-key") is None and header_problem("tab\there") is not None


def test_the_secret_must_hold_an_api_key() -> None:
    assert ApiKey.from_secret({"api_key": " abc "}, "s").api_key == "abc"
    with pytest.raises(CredentialsError, match="lacks api_key"):
        ApiKey.from_secret({"apikey": "abc"}, "s")
    with pytest.raises(CredentialsError, match="must hold a JSON object"):
        ApiKey.from_secret("abc", "s")
    assert "abc" not in repr(ApiKey("abc"))


# -- classification --------------------------------------------------------------------------------------------
ENVELOPE = {"status": "error", "errors": [{"message": "Connection conn-9 not found"}]}


def test_qrvey_s_error_envelope_and_other_bodies_give_qrvey_s_words() -> None:
    assert messages_of(ENVELOPE) == ["Connection conn-9 not found"]
    assert messages_of({"message": "Forbidden"}) == ["Forbidden"]
    assert messages_of("<html>bad gateway</html>") == ["<html>bad gateway</html>"]
    assert messages_of(None) == []


def test_a_refused_definition_is_rejected_with_qrvey_s_words() -> None:
    answer = classify(400, ENVELOPE, {}, "create the dataset", definition=True)
    assert answer.kind is AnswerKind.METADATA_REJECTED
    assert "Connection conn-9 not found" in answer.message and answer.errors[0].message == "Connection conn-9 not found"
    other = classify(409, ENVELOPE, {}, "load dataset d-1")
    assert other.kind is AnswerKind.PERMANENT and "HTTP 409" in other.message and "conn-9" in other.message


@pytest.mark.parametrize(
    ("status", "kind", "words"),
    [
        (401, AnswerKind.UNAUTHORISED, "Put the instance's API key in the route's secret as {\"api_key\""),
        (403, AnswerKind.PERMANENT, "userId and appId name a user and an application"),
        (404, AnswerKind.NOT_FOUND, "Qrvey found nothing to"),
        (429, AnswerKind.TRANSIENT, "throttled by Qrvey"),
        (500, AnswerKind.TRANSIENT, "will retry"),
        (503, AnswerKind.TRANSIENT, "will retry"),
        (418, AnswerKind.PERMANENT, "HTTP 418"),
    ],
)
def test_statuses_are_classified(status: int, kind: AnswerKind, words: str) -> None:
    answer = classify(status, {"message": "User is not authorized to access this resource"}, {}, "create the dataset")
    assert answer.kind is kind and words in answer.message and answer.http_status == status


def test_retry_after_is_honoured_and_bounded() -> None:
    assert classify(429, None, {"Retry-After": "7"}, "x").retry_after_s == 7
    # the pipeline waits only while the invocation has time left (usecases/calls.py): no cap of its own here
    assert retry_after_s({"retry-after": "100000"}) == 100000
    assert retry_after_s({"Retry-After": "soon"}) is None and retry_after_s({}) is None


# -- validation ------------------------------------------------------------------------------------------------
def judged(document: Any) -> dict[str, str]:
    dest, _ = destination()
    verdict = dest.judge(document, "")
    return {e.path: e.message for e in verdict.errors}


def test_the_seed_s_definition_is_valid() -> None:
    dest, _ = destination()
    verdict = dest.judge(definition(), "")
    assert verdict.valid and verdict.target == "Qrvey dataset definition 1"


def test_every_error_has_its_path_and_a_fix() -> None:
    document = definition(
        name="  ",
        datasetId="d-9",
        datasources=[{"name": "W", "connectionId": "conn-1", "connectorType": "mssql live"}],
        columns=[
            {"columnName": "pm25", "columnType": "FLOAT", "appId": "a-2", "connectionId": "conn-7"},
            {"columnType": "TEXT"},
        ],
    )
    errors = judged(document)
    assert errors == {
        "$.name": 'is "  "; it must not be blank: the dataset\'s name as Qrvey shows it, e.g. "Air quality 2024".',
        "$.datasetId": "Qrvey makes the datasetId: remove it from the file.",
        "$.datasources[0]": "names no table: add tableName (a table or view in the database) or query (a SQL query).",
        "$.datasources[0].connectorType": 'is "mssql live"; it must match the pattern ^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$: '
        "the connection's type as Qrvey names it, in capitals, e.g. MSSQL_LIVE or MYSQL_LIVE.",
        "$.columns[0].columnType": 'is "FLOAT"; it must be one of: "TEXT", "NUMBER", "DATE", "DATETIME", "BOOLEAN", '
        '"IMAGE", "OBJECT", "ARRAY".',
        "$.columns[0].appId": 'is "a-2", but this route publishes as appId "a-1"; set it to that or leave it out.',
        "$.columns[0].connectionId": 'is "conn-7", which no datasource uses; use one of "conn-1".',
        "$.columns[1].columnName": "is required but missing; add it: the column's name in the table.",
    }


def test_missing_parts_and_repeats_are_named() -> None:
    assert judged({"columns": []}) == {
        "$.name": 'is required but missing; add it: the dataset\'s name as Qrvey shows it, e.g. "Air quality 2024".',
        "$.datasources": "is required but missing; add it: a list of at least one data source (the connection and "
        "table the dataset reads).",
        "$.columns": "has 0 items; it must have at least 1: a list of at least one column (columnName and columnType).",
    }
    twice = definition(columns=[{"columnName": "x", "columnType": "TEXT"}, {"columnName": "x", "columnType": "DATE"}])
    assert judged(twice) == {
        "$.columns[1].columnName": 'repeats "x"; a column name of this dataset must be unique: rename one of them.'
    }
    (whole,) = judged([definition()]).items()
    assert whole[0] == "$" and whole[1].endswith("it must be of type object.")


def test_a_route_may_name_its_own_column_types() -> None:
    dest, _ = destination(column_types=["TEXT_LABEL", "NUMERIC"])
    verdict = dest.judge(definition(), "")
    assert [e.path for e in verdict.errors] == ["$.columns[0].columnType", "$.columns[1].columnType"]


# -- identity --------------------------------------------------------------------------------------------------
def test_the_name_carries_our_key_and_the_definition_s_digest() -> None:
    name = tagged_name("Air quality", KEY, digest_of(definition()))
    assert name.startswith("Air quality [hgi-") and tag_of(name) == (KEY, digest_of(definition()))
    assert tag_of("Air quality") is None and digest_of(definition()) != digest_of(definition(name="Other"))


def test_our_dataset_id_is_a_uuid5_of_the_route_and_the_key() -> None:
    assert OUR_ID == dataset_id_of("u-1", "a-1", KEY) and len(OUR_ID) == 36 and OUR_ID[14] == "5"
    assert (
        len(
            {
                OUR_ID,
                dataset_id_of("u-1", "a-2", KEY),
                dataset_id_of("u-2", "a-1", KEY),
                dataset_id_of("u-1", "a-1", "k"),
            }
        )
        == 4
    )


def test_find_reads_our_id_first_and_needs_no_search_when_it_is_ours() -> None:
    dest, client = destination(Reply(200, {"datasetId": OUR_ID, "name": tagged_name("x", KEY, "0123456789ab")}))
    found = dest.find(KEY, CALL)
    assert (found.kind, found.record_id, found.found) == (AnswerKind.SUCCESS, OUR_ID, True)
    assert client.calls == [("GET", f"/{OUR_ID}", None)]


def test_find_at_our_id_a_dataset_not_ours_or_an_error_is_not_taken_for_ours() -> None:
    dest, client = destination(Reply(200, {"datasetId": OUR_ID, "name": "Someone's"}), Reply(200, {"Items": []}))
    assert dest.find(KEY, CALL).record_id is None and [c[0] for c in client.calls] == ["GET", "POST"]
    dest, client = destination(Reply(503, {"message": "Service Unavailable"}))
    assert dest.find(KEY, CALL).kind is AnswerKind.TRANSIENT and len(client.calls) == 1


def test_find_falls_back_to_searching_by_our_key_and_keeps_only_our_datasets() -> None:
    other = {"datasetId": "d-0", "name": f"Copy of it [{KEY}x:0123456789ab]"}
    ours = {"datasetId": "d-1", "name": tagged_name("Air quality", KEY, "0123456789ab")}
    dest, client = destination(NO_SUCH, Reply(200, {"Count": 2, "Items": [other, ours]}))
    found = dest.find(KEY, CALL)
    assert (found.kind, found.record_id, found.found) == (AnswerKind.SUCCESS, "d-1", True)
    assert client.calls[0][:2] == ("GET", f"/{OUR_ID}")
    method, path, body = client.calls[1]
    assert (method, path) == ("POST", "/all")
    assert body["filters"] == [{"filterType": "CONTAINS", "column": "search", "value": f"[{KEY}:"}]
    dest, _ = destination(NO_SUCH, Reply(200, {"Count": 0, "Items": []}))
    assert dest.find(KEY, CALL).record_id is None


def test_create_sends_the_tagged_completed_definition_then_starts_the_load() -> None:
    dest, client = destination(Reply(200, {"datasetId": "d-1", "status": "DRAFT"}), Reply(200, {"status": "LOADING"}))
    answer = dest.create(KEY, definition(), VERDICT, CALL)
    assert (answer.kind, answer.record_id) == (AnswerKind.PENDING, "d-1")
    assert client.calls[0][:2] == ("POST", "") and client.calls[1][:2] == ("POST", "/d-1/load")
    sent = client.calls[0][2]
    assert tag_of(sent["name"]) == (KEY, digest_of(definition())) and sent["datasetId"] == OUR_ID
    assert sent["columns"][0] == {
        "appId": "a-1",
        "userId": "u-1",
        "columnName": "pm25",
        "columnType": "NUMBER",
        "connectionId": "conn-1",
        "origColumnType": "NUMBER",
    }


def test_a_load_that_fails_to_start_keeps_the_dataset_id() -> None:
    dest, _ = destination(Reply(200, {"datasetId": "d-1"}), Reply(503, {"message": "Service Unavailable"}))
    answer = dest.create(KEY, definition(), VERDICT, CALL)
    assert (answer.kind, answer.record_id) == (AnswerKind.TRANSIENT, "d-1")


def test_a_create_path_may_be_configured() -> None:
    dest, client = destination(
        Reply(200, {"datasetId": "d-1"}), Reply(200, {}), create_path="/user/{userId}/app/{appId}/qollect/new"
    )
    dest.create(KEY, definition(), VERDICT, CALL)
    assert client.calls[0][1] == "/user/u-1/app/a-1/qollect/new"


# -- the load, checked later -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("dataset", "kind", "words"),
    [
        ({"status": "LOADING"}, AnswerKind.PENDING, "still loading"),
        ({"status": "LOADED"}, AnswerKind.SUCCESS, "loaded"),
        (
            {"status": "FAILED", "errorMessage": "Table air_quality not found"},
            AnswerKind.PERMANENT,
            "Table air_quality",
        ),
        ({"status": "FAILED"}, AnswerKind.PERMANENT, "Qrvey gave no reason"),
    ],
)
def test_check_reads_the_load_s_state(dataset: dict[str, Any], kind: AnswerKind, words: str) -> None:
    dest, client = destination(Reply(200, {"datasetId": "d-1", **dataset}))
    answer = dest.check("d-1", CALL)
    assert answer.kind is kind and words in answer.message and answer.record_id == "d-1"
    assert answer.created is (kind is AnswerKind.SUCCESS) and client.calls == [("GET", "/d-1", None)]


def test_check_of_a_dataset_gone_is_refused_and_of_a_draft_or_unknown_status_waits() -> None:
    dest, _ = destination(Reply(404, {"status": "error", "errors": [{"message": "Dataset d-1 not found"}]}))
    answer = dest.check("d-1", CALL)
    assert answer.kind is AnswerKind.PERMANENT and "is gone" in answer.message
    for status in ("DRAFT", "QUEUED", ""):  # our create started a load: anything not final is still under way
        dest, client = destination(Reply(200, {"status": status}))
        assert dest.check("d-1", CALL).kind is AnswerKind.PENDING and [c[0] for c in client.calls] == ["GET"]


# -- a dataset already there (a lost ledger write, a retry, a changed file) -----------------------------------
def held(document: dict[str, Any], status: str) -> Reply:
    return Reply(200, {"datasetId": "d-1", "status": status, "name": tagged_name("x", KEY, digest_of(document))})


def test_the_same_definition_already_loaded_is_success_without_a_second_dataset() -> None:
    dest, client = destination(held(definition(), "LOADED"))
    answer = dest.update("d-1", KEY, definition(), VERDICT, CALL)
    assert (answer.kind, answer.record_id, answer.created) == (AnswerKind.SUCCESS, "d-1", False)
    assert [c[0] for c in client.calls] == ["GET"]


def test_the_same_definition_failed_is_loaded_again() -> None:
    dest, client = destination(held(definition(), "FAILED"), Reply(200, {"status": "LOADING"}))
    assert dest.update("d-1", KEY, definition(), VERDICT, CALL).kind is AnswerKind.PENDING
    assert client.calls[1][:2] == ("POST", "/d-1/load")


@pytest.mark.parametrize("status", ["DRAFT", "LOADING", "QUEUED", ""])
def test_update_starts_no_second_load_while_one_may_be_under_way(status: str) -> None:
    dest, client = destination(held(definition(), status))
    answer = dest.update("d-1", KEY, definition(), VERDICT, CALL)
    assert (answer.kind, answer.record_id) == (AnswerKind.PENDING, "d-1") and [c[0] for c in client.calls] == ["GET"]


# -- our id taken on create (an earlier create of ours went through, or someone else's dataset) ------------------
def test_a_create_refused_409_adopts_our_own_dataset_without_a_second_load() -> None:
    taken = Reply(409, {"status": "error", "errors": [{"message": f"Dataset {OUR_ID} already exists"}]})
    ours = {"datasetId": OUR_ID, "status": "DRAFT", "name": tagged_name("x", KEY, digest_of(definition()))}
    dest, client = destination(taken, Reply(200, ours))
    answer = dest.create(KEY, definition(), VERDICT, CALL)
    assert (answer.kind, answer.record_id) == (AnswerKind.PENDING, OUR_ID)
    assert [c[:2] for c in client.calls] == [("POST", ""), ("GET", f"/{OUR_ID}")]
    dest, _ = destination(taken, Reply(200, {**ours, "status": "LOADED"}))
    answer = dest.create(KEY, definition(), VERDICT, CALL)
    assert (answer.kind, answer.record_id, answer.created) == (AnswerKind.SUCCESS, OUR_ID, True)


@pytest.mark.parametrize("there", [Reply(200, {"name": "Sales 2024"}), NO_SUCH])
def test_a_create_refused_409_for_a_dataset_not_ours_is_rejected_naming_the_id(there: Reply) -> None:
    taken = Reply(409, {"status": "error", "errors": [{"message": "Dataset already exists"}]})
    dest, client = destination(taken, there)
    answer = dest.create(KEY, definition(), VERDICT, CALL)
    assert answer.kind is AnswerKind.PERMANENT and f"dataset id {OUR_ID}" in answer.message
    assert "is not this file's" in answer.message and len(client.calls) == 2


def test_a_changed_definition_is_refused_with_what_to_do() -> None:
    dest, client = destination(held(definition(), "LOADED"))
    answer = dest.update("d-1", KEY, definition(name="Air quality, revised"), VERDICT, CALL)
    assert answer.kind is AnswerKind.PERMANENT and answer.record_id == "d-1"
    assert (
        "offers no way to change a dataset's definition" in answer.message and 'onChange: "recreate"' in answer.message
    )
    assert len(client.calls) == 1


def test_a_changed_definition_is_recreated_when_the_route_says_so() -> None:
    dest, client = destination(
        held(definition(), "LOADED"),
        Reply(200, {"datasetId": "d-1"}),
        Reply(200, {"datasetId": "d-2"}),
        Reply(200, {"status": "LOADING"}),
        on_change="recreate",
    )
    answer = dest.update("d-1", KEY, definition(name="Air quality, revised"), VERDICT, CALL)
    assert (answer.kind, answer.record_id) == (AnswerKind.PENDING, "d-2")
    assert [c[:2] for c in client.calls] == [("GET", "/d-1"), ("DELETE", "/d-1"), ("POST", ""), ("POST", "/d-2/load")]


def test_archive_deletes_and_restore_asks_for_a_new_dataset() -> None:
    dest, client = destination(Reply(200, {"datasetId": "d-1"}))
    assert dest.archive("d-1", CALL).kind is AnswerKind.SUCCESS and client.calls == [("DELETE", "/d-1", None)]
    assert dest.restore("d-1", CALL).kind is AnswerKind.NOT_FOUND


def test_a_recorded_dataset_gone_is_looked_for_by_key_before_a_new_one_is_created() -> None:
    gone = Reply(404, {"status": "error", "errors": [{"message": "Dataset d-1 not found"}]})
    other = {"datasetId": "d-2", "name": tagged_name("x", KEY, digest_of(definition()))}
    dest, client = destination(gone, NO_SUCH, Reply(200, {"Items": [other]}), held(definition(), "LOADED"))
    answer = dest.update("d-1", KEY, definition(), VERDICT, CALL)
    assert (answer.kind, answer.record_id) == (AnswerKind.SUCCESS, "d-2")
    assert [c[:2] for c in client.calls] == [("GET", "/d-1"), ("GET", f"/{OUR_ID}"), ("POST", "/all"), ("GET", "/d-2")]
    dest, _ = destination(gone, NO_SUCH, Reply(200, {"Items": []}))
    assert dest.update("d-1", KEY, definition(), VERDICT, CALL).kind is AnswerKind.NOT_FOUND


def test_the_calls_of_one_port_call_share_its_deadline() -> None:
    dest, client = destination(Reply(200, {"datasetId": "d-1"}), Reply(200, {}))
    dest.create(KEY, definition(), VERDICT, CALL)
    assert len(set(client.untils)) == 1  # the load has what the create left, not a deadline of its own


def test_a_success_needs_evidence() -> None:
    dest, _ = destination(Reply(200, "<html>cut sh"))
    assert dest.create(KEY, definition(), VERDICT, CALL).kind is AnswerKind.TRANSIENT
    dest, _ = destination(Reply(200, {"datasetId": ""}))
    assert "no datasetId" in dest.create(KEY, definition(), VERDICT, CALL).message
    dest, _ = destination(NO_SUCH, Reply(200, {"Count": 0}))
    assert dest.find(KEY, CALL).kind is AnswerKind.PERMANENT


# -- AWS API Gateway's own 403 answers in front of Qrvey --------------------------------------------------------
def test_api_gateway_forbidden_is_a_key_to_read_again() -> None:
    answer = classify(403, {"message": "Forbidden"}, {}, "create the dataset")
    assert answer.kind is AnswerKind.UNAUTHORISED and "API key in the route's secret" in answer.message


def test_missing_authentication_token_names_the_create_path_tried() -> None:
    dest, _ = destination(Reply(403, {"message": "Missing Authentication Token"}), create_path="/wrong/{appId}")
    answer = dest.create(KEY, definition(), VERDICT, CALL)
    assert (
        answer.kind is AnswerKind.PERMANENT and f"{URL}/wrong/a-1" in answer.message and "createPath" in answer.message
    )


def test_a_404_on_create_names_the_path_tried_and_is_refused() -> None:
    dest, _ = destination(Reply(404, {"message": "Not Found"}))
    answer = dest.create(KEY, definition(), VERDICT, CALL)
    assert answer.kind is AnswerKind.PERMANENT and f"{URL}{BASE}" in answer.message


# -- memory: an invalid 10 MB definition -------------------------------------------------------------------------
def test_judging_an_invalid_10_mb_definition_keeps_memory_bounded() -> None:
    columns = [{"columnName": i, "columnType": "BOGUS", "note": "x" * 60} for i in range(100_000)]
    document = definition(columns=columns)
    size = len(json.dumps(document))
    assert size > 10_000_000
    judge = DatasetJudge("a-1", "u-1")
    tracemalloc.start()
    try:
        verdict = judge.judge(document)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not verdict.valid and len(verdict.errors) == MAX_ERRORS + 1
    assert "more errors than the first" in verdict.errors[-1].message
    assert peak < size  # every error kept: ~45x the document (issue 26); bounded: well under 1x
