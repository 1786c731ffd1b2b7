"""The UNIS destination without a network: answers classified as UNIS's code behaves, identity, validation
messages with their paths (both schema versions), the route contract and the client-certificate secret."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest

from hdr_ingest import destinations
from hdr_ingest.core import fix_messages as fix
from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.core.outcome import ErrorDetail
from hdr_ingest.core.ports import Call, CredentialsError, Verdict
from hdr_ingest.core.routing import RouteSpec
from hdr_ingest.destinations.unis import route
from hdr_ingest.destinations.unis.answers import classify, message_of
from hdr_ingest.destinations.unis.credentials import ClientCertificate
from hdr_ingest.destinations.unis.destination import UnisDestination, holds, record_id_for, size_of
from hdr_ingest.destinations.unis.judge import judge
from hdr_ingest.destinations.unis.schemas import load
from hdr_ingest.usecases.catalogue import natural_clashes
from tests.conftest import ROOT

pytestmark = pytest.mark.unit

KEY = "hgi-0123456789abcdef0123456789abcdef01234567"
VALID = {"subject": {"href": "https://example.com/ports/1", "rel": "full"}, "eventType": "ps:tools:blipp:cpu"}
CALL = Call(None, timeout_s=2.0, deadline_s=10.0)
CERT = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
KEY_PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQfakeprivatekeymaterial\n-----END PRIVATE KEY-----\n"


# -- answers ---------------------------------------------------------------------------------------------------
def test_a_400_keeps_unis_s_message_even_when_its_pasted_json_is_broken() -> None:
    broken = '{"message": "Not valid body - Validation error from json - "it\'s" is not of type \'integer\'"}\n'
    answer = classify("create", 400, broken, {})
    assert answer.kind is AnswerKind.METADATA_REJECTED and answer.http_status == 400
    said = "Not valid body - Validation error from json - \"it's\" is not of type 'integer'"
    assert answer.errors == (ErrorDetail("$", said),) and said in answer.message
    assert message_of("plain text\nover lines") == "plain text over lines"
    assert message_of("") == "(no body)"


def test_a_409_says_a_version_with_that_id_and_ts_exists_and_what_to_change() -> None:
    said = '{"message": "Could not process the POST request - E11000 duplicate key error ... dup key"}'
    answer = classify("create", 409, said, {}, "m1")
    assert answer.kind is AnswerKind.PERMANENT and answer.record_id == "m1"
    assert "same ts" in answer.message and "Remove ts" in answer.message and "dup key" in answer.message
    # UNIS answers 409 for any failed insert: without MongoDB's E11000 it is the database, retried
    hiccup = classify("create", 409, '{"message": "Could not process the POST request - AutoReconnect"}', {}, "m1")
    assert hiccup.kind is AnswerKind.TRANSIENT and hiccup.http_status == 409


def test_a_500_is_transient_unless_it_is_unis_refusing_the_media_type() -> None:
    plain = classify("create", 500, '{"message": "Internal Server Error"}', {})
    assert plain.kind is AnswerKind.TRANSIENT and plain.http_status == 500
    refusal = (
        '{"exc_info": "(<class ...>, HTTPClientError("HTTP 415: Unsupported content type \'application/json\'"))"}'
    )
    media = classify("create", 500, refusal, {})
    assert media.kind is AnswerKind.PERMANENT and "media type" in media.message and "proxy" in media.message
    undefined = classify("create", 500, '{"message": "Schema is not defined for content of type \'text/html\'"}', {})
    assert undefined.kind is AnswerKind.PERMANENT
    empty = classify("find", 500, "", {})
    assert empty.kind is AnswerKind.TRANSIENT and "empty 500" in empty.message


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (404, AnswerKind.NOT_FOUND),
        (401, AnswerKind.UNAUTHORISED),
        (403, AnswerKind.UNAUTHORISED),
        (429, AnswerKind.TRANSIENT),
        (502, AnswerKind.TRANSIENT),
        (503, AnswerKind.TRANSIENT),
        (504, AnswerKind.TRANSIENT),
        (302, AnswerKind.PERMANENT),
        (405, AnswerKind.PERMANENT),
    ],
)
def test_other_statuses(status: int, kind: AnswerKind) -> None:
    answer = classify("update", status, "text", {"Retry-After": "7", "Location": "https://elsewhere/metadata"}, "m1")
    assert answer.kind is kind and answer.http_status == status
    if status == 429:
        assert answer.retry_after_s == 7.0
    if status == 302:
        assert "https://elsewhere/metadata" in answer.message and "not followed" in answer.message


# -- identity --------------------------------------------------------------------------------------------------
@dataclass
class FakeClient:
    """UNIS in memory: ``held`` records by id (``deleted`` ones hidden from GET; a PUT on one answers 204 and
    leaves it deleted, as UNIS does; a PUT on an id never stored is NOT_FOUND); records the calls."""

    held: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    calls: list[tuple[str, Any, Any]] = field(default_factory=list)

    def lookup(self, record_id: Any, call: Call, expect: int = 0) -> tuple[Answer, dict[str, Any] | None]:
        self.calls.append(("GET", record_id, None))
        held = self.held.get(record_id) if record_id not in self.deleted else None
        if held is None:
            return Answer(AnswerKind.SUCCESS, 200, "not found"), None
        return Answer(AnswerKind.SUCCESS, 200, "found", record_id, held["ts"], found=True), held

    def get(self, record_id: Any, call: Call, expect: int = 0) -> Answer:
        return self.lookup(record_id, call, expect)[0]

    def post(self, document: dict[str, Any], call: Call) -> Answer:
        self.calls.append(("POST", None, document))
        self.held[document["id"]] = {**document, "ts": len(self.calls)}
        self.deleted.discard(document["id"])
        return Answer(AnswerKind.SUCCESS, 201, "created", document["id"], len(self.calls), created=True)

    def put(self, record_id: Any, document: dict[str, Any], call: Call) -> Answer:
        self.calls.append(("PUT", record_id, document))
        if record_id not in self.held:
            return Answer(AnswerKind.NOT_FOUND, 404, "no such id", record_id)
        self.held[record_id] = {**document, "ts": len(self.calls)}
        return Answer(AnswerKind.SUCCESS, 204, "updated", record_id)

    def delete(self, record_id: Any, call: Call) -> Answer:
        self.calls.append(("DELETE", record_id, None))
        self.deleted.add(record_id)
        return Answer(AnswerKind.SUCCESS, 204, "deleted", record_id)


def destination(client: FakeClient) -> UnisDestination:
    return UnisDestination("https://unis.example", client, lambda: load("2015"))  # type: ignore[arg-type]


def methods(client: FakeClient) -> list[tuple[str, Any]]:
    return [(c[0], c[1]) for c in client.calls]


VERDICT = Verdict(True, "valid")


def test_a_document_without_an_id_gets_our_stable_key_as_its_id() -> None:
    assert record_id_for(KEY, VALID) == KEY and record_id_for(KEY, {**VALID, "id": "  "}) == KEY
    assert record_id_for(KEY, {**VALID, "id": "own"}) == "own"
    client = FakeClient()
    answer = destination(client).create(KEY, VALID, VERDICT, CALL)
    assert answer.created and answer.record_id == KEY
    assert client.calls == [("POST", None, {**VALID, "id": KEY})]  # our key was looked up by find() already


def test_a_document_s_own_id_is_adopted_only_when_unis_holds_this_very_document() -> None:
    mine = {**VALID, "id": "own"}
    lost_ledger = FakeClient(held={"own": {**mine, "ts": 7, "selfRef": "https://unis.example/metadata/own"}})
    answer = destination(lost_ledger).create(KEY, mine, VERDICT, CALL)
    assert answer.kind is AnswerKind.SUCCESS and not answer.created and answer.record_id == "own"
    assert answer.record_version == 7 and methods(lost_ledger) == [("GET", "own")]  # nothing written
    fresh = FakeClient()
    assert destination(fresh).create(KEY, mine, VERDICT, CALL).created
    assert methods(fresh) == [("GET", "own"), ("POST", None)] and fresh.calls[1][2]["id"] == "own"


def test_two_sources_whose_documents_carry_the_same_id_never_touch_each_other_s_record() -> None:
    """Issue 26 item 6: a record with other content under the document's id is another source's."""
    theirs = {**VALID, "id": "shared", "eventType": "theirs", "ts": 3}
    client = FakeClient(held={"shared": theirs})
    answer = destination(client).create(KEY, {**VALID, "id": "shared"}, VERDICT, CALL)
    assert answer.created and answer.record_id == KEY and "'shared' is held" in answer.message
    assert client.held["shared"] == theirs and methods(client) == [("GET", "shared"), ("PUT", KEY), ("POST", None)]
    # our later change goes to our own record, as an update; a deletion deletes ours only
    again = destination(client).update(KEY, KEY, {**VALID, "id": "shared", "eventType": "x"}, VERDICT, CALL)
    assert again.kind is AnswerKind.SUCCESS and not again.created and again.record_id == KEY
    assert client.held["shared"] == theirs and client.held[KEY]["eventType"] == "x" and "changed" not in again.message
    destination(client).archive(KEY, CALL)
    assert client.deleted == {KEY}


def test_a_changed_re_drop_puts_the_same_id_then_looks_and_a_changed_id_moves_to_the_new_record() -> None:
    client = FakeClient(held={KEY: {**VALID, "id": KEY, "ts": 1}})
    answer = destination(client).update(KEY, KEY, {**VALID, "eventType": "x"}, VERDICT, CALL)
    sent = {**VALID, "eventType": "x", "id": KEY}
    assert answer.record_id == KEY and client.calls == [("PUT", KEY, sent), ("GET", KEY, None)]
    assert answer.record_version == 1  # the ts UNIS holds after the PUT: the ledger's version
    moved = FakeClient()
    answer = destination(moved).update(KEY, KEY, {**VALID, "id": "new"}, VERDICT, CALL)
    assert answer.created and answer.record_id == "new" and "is left" in answer.message


def test_an_update_unis_accepted_but_nobody_can_see_is_posted_again() -> None:
    """A PUT on a soft-deleted id is 204 on UNIS and the record stays hidden."""
    hidden = FakeClient(held={KEY: {**VALID, "id": KEY, "ts": 1}}, deleted={KEY})
    answer = destination(hidden).update(KEY, KEY, VALID, VERDICT, CALL)
    assert methods(hidden) == [("PUT", KEY), ("GET", KEY), ("POST", None)]
    assert answer.created and answer.record_id == KEY and answer.record_version == 3 and KEY not in hidden.deleted


def test_restore_is_not_found_so_a_deleted_record_comes_back_as_a_new_version_and_archive_deletes() -> None:
    client = FakeClient()
    assert destination(client).restore("m1", CALL).kind is AnswerKind.NOT_FOUND
    assert destination(client).archive("m1", CALL).kind is AnswerKind.SUCCESS
    assert client.calls == [("DELETE", "m1", None)]
    assert destination(client).check("m1", CALL).kind is AnswerKind.SUCCESS


# -- validation ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["2015", "2012"])
def test_a_valid_document_without_id_ts_or_self_ref_is_valid_as_unis_fills_them(version: str) -> None:
    verdict = judge(VALID, load(version))
    assert verdict.valid and verdict.errors == () and verdict.target and version[:4] in verdict.target


@pytest.mark.parametrize("version", ["2015", "2012"])
def test_every_error_has_its_path_and_a_fix(version: str) -> None:
    document = {"subject": {"href": 7}, "ts": "now", "parameters": [], "colour": "red"}
    verdict = judge(document, load(version))
    assert not verdict.valid and verdict.summary.startswith(f"has {len(verdict.errors)} errors against UNIS")
    got = {e.path: e.message for e in verdict.errors}
    assert got["$.colour"] == fix.UNKNOWN_FIELD
    assert got["$.eventType"] == fix.MISSING
    assert got["$.ts"] == fix.of_type("now", ["integer"])
    assert got["$.parameters"] == fix.of_type([], ["object"])
    assert got["$.subject.rel"] == fix.MISSING  # the link schema of subject, through its $ref
    assert got["$.subject.href"] == fix.of_type(7, ["string"])


def test_a_subject_that_is_not_a_link_object_and_a_blank_id_are_named() -> None:
    verdict = judge({**VALID, "subject": "https://example.com/ports/1", "id": ""}, load("2015"))
    got = {e.path: e.message for e in verdict.errors}
    assert got["$.subject"] == fix.of_type("https://example.com/ports/1", ["object"])
    assert got["$.id"] == fix.of_length("", "minLength", 1)
    assert judge([VALID], load("2015")).errors[0].path == "$"


def test_a_schema_uri_of_the_other_version_is_a_warning() -> None:
    verdict = judge({**VALID, "$schema": "http://unis.incntre.iu.edu/schema/20120709/metadata#"}, load("2015"))
    assert verdict.valid and len(verdict.warnings) == 1 and "schema option" in verdict.warnings[0]


def test_a_value_that_is_not_a_uri_where_the_schema_says_uri_is_a_warning_as_unis_publishes_it() -> None:
    verdict = judge({**VALID, "measurement": "blipp on host a"}, load("2015"))
    assert verdict.valid and verdict.warnings == (
        '$.measurement is "blipp on host a"; it should be an absolute URI such as https://example.org/page '
        "(UNIS does not check formats, so it is published as it is).",
    )


# -- route, registry and secret ---------------------------------------------------------------------------------
def spec(url: str = "https://unis.example:8888", **options: Any) -> RouteSpec:
    return RouteSpec("incoming/unis/", "unis", url, None, options)


def test_the_route_contract() -> None:
    assert route.problems(spec()) == [] and route.problems(spec(schema="2012")) == []
    problems = route.problems(spec("https://unis.example/metadata/", schema="2019", colour=1))
    assert len(problems) == 3 and "['colour']" in problems[0] and "'2019'" in problems[1]
    assert "/metadata is appended" in problems[2]
    assert "unis" in destinations.kinds()
    kind = destinations.kind("unis")
    assert kind is not None and kind.build(spec(schema="2012"), destinations.Common()).kind == "unis"


def test_the_secret_holds_a_certificate_and_key_written_to_private_files() -> None:
    with pytest.raises(CredentialsError, match="cert_pem"):
        ClientCertificate.from_secret({"key_pem": KEY_PEM}, "unis/client")
    with pytest.raises(CredentialsError, match="must hold a JSON object"):
        ClientCertificate.from_secret("pem", "unis/client")
    with pytest.raises(CredentialsError, match="ca_pem"):
        ClientCertificate.from_secret({"cert_pem": CERT, "key_pem": KEY_PEM, "ca_pem": "x"}, "unis/client")
    certificate = destination(FakeClient()).credentials({"cert_pem": CERT, "key_pem": KEY_PEM}, "unis/client")
    assert certificate.secret_values() == (KEY_PEM,) and KEY_PEM not in repr(certificate)
    cert, key, ca = certificate.files()
    assert ca is None and open(key).read() == KEY_PEM and open(cert).read() == CERT
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600 and certificate.files() == (cert, key, ca)


def test_the_local_stack_samples_are_judged_as_their_names_say() -> None:
    folder = ROOT / "local_stack" / "samples" / "unis"
    schema = load("2015")
    valid = json.loads((folder / "valid-cpu-utilisation.json").read_text())
    assert judge(valid, schema).valid
    assert all(
        judge(element, schema).valid for element in json.loads((folder / "valid-two-port-metrics.json").read_text())
    )
    without_ids = json.loads((folder / "valid-list-without-ids.json").read_text())
    key_of = destination(FakeClient()).natural_key
    assert all(judge(e, schema).valid for e in without_ids) and natural_clashes(without_ids, None, key_of) == {}
    repeated = json.loads((folder / "invalid-repeated-natural-key.json").read_text())
    assert all(judge(e, schema).valid for e in repeated) and set(natural_clashes(repeated, None, key_of)) == {0, 1}
    verdict = judge(json.loads((folder / "invalid-several-errors.json").read_text()), schema)
    assert {e.path for e in verdict.errors} == {
        "$.subject.rel",
        "$.ts",
        "$.parameters",
        "$.eventType",
        "$.measurementTool",
    }


class RecordingSession:
    def __init__(self) -> None:
        self.kwargs: dict[str, Any] = {}

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        import requests

        self.kwargs = {"method": method, "url": url, **kwargs}
        raise requests.exceptions.SSLError("certificate required")


def test_the_client_sends_perfsonar_json_its_certificate_and_follows_no_redirect() -> None:
    from hdr_ingest.destinations.unis.client import UnisClient

    session = RecordingSession()
    client = UnisClient("https://unis.example:8888/", session=session)  # type: ignore[arg-type]
    certificate = ClientCertificate(CERT, KEY_PEM, CERT)
    answer = client.get("a b/c", Call(certificate, timeout_s=4.0, deadline_s=10.0))
    assert answer.kind is AnswerKind.UNAUTHORISED and "cert_pem" in answer.message
    sent = session.kwargs
    assert sent["url"] == "https://unis.example:8888/metadata/a%20b%2Fc" and sent["allow_redirects"] is False
    assert sent["headers"] == {"Content-Type": "application/perfsonar+json", "Accept": "application/perfsonar+json"}
    assert sent["cert"] == certificate.files()[:2] and sent["verify"] == certificate.files()[2]
    assert sent["timeout"][1] == 4.0


class CannedSession:
    """Answers every request with ``status`` and ``body`` (or raises ``error``)."""

    def __init__(self, status: int = 200, body: bytes = b"[]", error: Exception | None = None) -> None:
        self.status, self.body, self.error = status, body, error

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        if self.error is not None:
            raise self.error
        session = self

        class Response:
            status_code = session.status
            headers: ClassVar[dict[str, str]] = {"location": "https://unis.example/metadata/m%201"}
            raw = None  # no connection: the transport reads ``content``
            content = session.body

            def __enter__(self) -> Any:
                return self

            def __exit__(self, *_: object) -> None:
                return None

            def iter_content(self, size: int) -> Any:
                yield from (session.body[i : i + size] for i in range(0, len(session.body), size))

        return Response()


def test_no_failure_of_a_call_escapes_and_answers_are_read_up_to_a_cap() -> None:
    from hdr_ingest.destinations.unis.client import UnisClient

    def client(session: CannedSession) -> UnisClient:
        return UnisClient("https://unis.example", session=session, max_answer_bytes=1000)  # type: ignore[arg-type]

    # UNIS answers [] for an unknown id: a 200 larger than the cap holds a record (found, its ts unread)
    huge = client(CannedSession(body=b"[" + b" " * 5000 + b"]")).get("m1", CALL)
    assert huge.kind is AnswerKind.SUCCESS and huge.found and huge.record_id == "m1" and "read cap" in huge.message
    refused = client(CannedSession(503, b"x" * 5000)).get("m1", CALL)
    assert refused.kind is AnswerKind.TRANSIENT and "larger than 1000 bytes" in refused.message
    odd = client(CannedSession(error=ValueError("boom"))).get("m1", CALL)
    assert odd.kind is AnswerKind.TRANSIENT and odd.http_status is None and "ValueError" in odd.message
    garbled = client(CannedSession(body=b"<html>")).get("m1", CALL)
    assert garbled.kind is AnswerKind.TRANSIENT and garbled.http_status == 200
    created = client(CannedSession(201, b'{"id": "m 1", "ts": 5}')).post({"id": "m 1"}, CALL)
    assert created.created and (created.record_id, created.record_version) == ("m 1", 5)  # Location, any case


def test_a_created_counts_only_with_the_stored_object_of_the_id_sent() -> None:
    from hdr_ingest.destinations.unis.client import UnisClient

    def post(status: int, body: bytes) -> Any:
        session = CannedSession(status, body)
        return UnisClient("https://unis.example", session=session).post({"id": "m 1"}, CALL)  # type: ignore[arg-type]

    for empty in (b"", b"<html>created</html>", b"[]"):
        answer = post(201, empty)
        assert answer.kind is AnswerKind.TRANSIENT and answer.http_status is None and not answer.created
    foreign = post(201, b'{"id": "someone-else", "ts": 5}')
    assert foreign.kind is AnswerKind.PERMANENT and "not ours" in foreign.message and foreign.record_id == "m 1"


def test_a_location_naming_another_record_is_never_taken_as_ours() -> None:
    from hdr_ingest.destinations.unis.client import UnisClient

    session = CannedSession(201, b'{"id": "mine", "ts": 5}')  # its Location names metadata "m 1"
    answer = UnisClient("https://unis.example", session=session).post({"id": "mine"}, CALL)  # type: ignore[arg-type]
    assert answer.kind is AnswerKind.PERMANENT and "'m 1'" in answer.message and answer.record_id == "mine"


def test_a_record_larger_than_the_read_cap_is_created_when_unis_echoes_it() -> None:
    """Issue 26 item 7: UNIS answers a create with the stored object, so the cap allows for what was sent."""
    from hdr_ingest.destinations.unis.client import UnisClient

    document = {"id": "m 1", "parameters": {"blob": "x" * 5000}}
    session = CannedSession(201, json.dumps({**document, "ts": 7}).encode())
    client = UnisClient("https://unis.example", session=session, max_answer_bytes=1000)  # type: ignore[arg-type]
    answer = client.post(document, CALL)
    assert answer.kind is AnswerKind.SUCCESS and answer.created and answer.record_version == 7


def test_unchanged_names_no_version_when_the_catalogue_has_none() -> None:
    from hdr_ingest.core.ledger import LedgerEntry
    from hdr_ingest.core.outcome import Status
    from hdr_ingest.usecases.recording import nothing_sent

    previous = LedgerEntry("s3://b/k", Status.CREATED, "", "b", "k", "hgi-1", "t", record_id="hgi-1")
    outcome = nothing_sent(previous, "UNIS metadata record", "Same document")
    assert "None" not in outcome.reason and "(UNIS metadata record hgi-1)" in outcome.reason


def test_a_lookup_of_a_record_larger_than_the_read_cap_is_read_whole_when_its_size_is_expected() -> None:
    """Issue 26 item 7: after a PUT, the lookup that checks the record can be seen reads all of it, ts included."""
    from hdr_ingest.destinations.unis.client import UnisClient

    document = {"id": "m1", "parameters": {"blob": "x" * 5000}}
    session = CannedSession(200, json.dumps({**document, "ts": 7}, indent=2).encode())
    client = UnisClient("https://unis.example", session=session, max_answer_bytes=1000)  # type: ignore[arg-type]
    assert client.get("m1", CALL).record_version is None  # over the cap: found, its ts unread
    answer, held = client.lookup("m1", CALL, expect=size_of(document))
    assert answer.found and answer.record_version == 7 and held is not None and holds(held, document)
