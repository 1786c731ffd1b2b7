"""The AEP destination's pure parts: the token cache, what Adobe's answers mean, batch statuses, records files,
XDM checks, route problems and credentials; and the client's token handling against a fake HTTP session."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest

from hdr_ingest.core.answers import AnswerKind
from hdr_ingest.core.document import DocumentError
from hdr_ingest.core.ports import CredentialsError
from hdr_ingest.core.routing import RouteSpec
from hdr_ingest.destinations.aep import route
from hdr_ingest.destinations.aep.answers import batch_answer, classify, ims_answer
from hdr_ingest.destinations.aep.client import AepClient, Platform, Reply
from hdr_ingest.destinations.aep.credentials import AepCredentials
from hdr_ingest.destinations.aep.judge import XdmValidator, json_schema, parse_records, structure_errors
from hdr_ingest.destinations.aep.token import TokenCache
from hdr_ingest.destinations.http import retry_after_s

pytestmark = pytest.mark.unit

CREDENTIALS = AepCredentials("client-1", "secret-abcdefgh", "openid,AdobeID")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- the token cache --------------------------------------------------------------------------------------------
def test_a_token_is_kept_until_shortly_before_it_expires() -> None:
    clock = Clock()
    cache = TokenCache(clock)
    key = ("ims", "client", "scope")
    assert cache.get(key) is None
    cache.put(key, "tok", 86399)
    clock.now += 86399 - 301
    assert cache.get(key) == "tok"
    clock.now += 2  # within five minutes of expiring: asked for again
    assert cache.get(key) is None


def test_a_short_token_is_renewed_a_tenth_of_its_life_early() -> None:
    clock = Clock()
    cache = TokenCache(clock)
    cache.put(("k", "", ""), "tok", 60)
    clock.now += 53
    assert cache.get(("k", "", "")) == "tok"
    clock.now += 1.5
    assert cache.get(("k", "", "")) is None


def test_forgetting_a_refused_token_spares_a_newer_one() -> None:
    cache = TokenCache(Clock())
    key = ("k", "", "")
    cache.put(key, "new", 3600)
    cache.forget(key, "old")  # another thread already replaced the refused token
    assert cache.get(key) == "new"
    cache.forget(key, "new")
    assert cache.get(key) is None


# -- the client's tokens, against a fake session ----------------------------------------------------------------
@dataclass
class FakeResponse:
    status_code: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    raw: Any = None  # no connection: the transport reads ``content``

    @property
    def content(self) -> bytes:
        return json.dumps(self.body).encode()

    @property
    def text(self) -> str:
        return self.content.decode()

    def json(self) -> Any:
        return self.body


@dataclass
class FakeSession:
    platform: list[FakeResponse]
    tokens: int = 0
    sent: list[str] = field(default_factory=list)

    def token(self, data: bytes) -> FakeResponse:
        form = parse_qs(data.decode())
        assert form["grant_type"] == ["client_credentials"] and form["client_secret"] == ["secret-abcdefgh"]
        self.tokens += 1
        return FakeResponse(200, {"access_token": f"tok-{self.tokens}", "token_type": "bearer", "expires_in": 86399})

    def request(self, method: str, url: str, headers: dict[str, str], data: bytes, **_: Any) -> FakeResponse:
        if url.endswith("/ims/token/v3"):
            return self.token(data)
        assert headers["x-api-key"] == "client-1" and headers["x-gw-ims-org-id"] == "ORG@AdobeOrg"
        self.sent.append(headers["Authorization"])
        return self.platform.pop(0)


def client(session: FakeSession) -> AepClient:
    platform = Platform("https://platform.example", "https://ims.example", "ORG@AdobeOrg", "prod")
    return AepClient(platform, session=session, tokens=TokenCache())  # type: ignore[arg-type]


def test_one_token_serves_many_calls() -> None:
    session = FakeSession([FakeResponse(200, {}), FakeResponse(200, {})])
    aep = client(session)
    for _ in range(2):
        assert isinstance(aep.request("GET", "/catalog/dataSets", CREDENTIALS, 5, "listing"), Reply)
    assert session.tokens == 1 and session.sent == ["Bearer tok-1", "Bearer tok-1"]


def test_a_401_fetches_a_new_token_once_and_sends_again() -> None:
    expired = FakeResponse(401, {"error_code": "401013", "message": "Oauth token is not valid"})
    session = FakeSession([FakeResponse(200, {}), expired, FakeResponse(200, {"ok": 1})])
    aep = client(session)
    aep.request("GET", "/x", CREDENTIALS, 5, "warming up")
    reply = aep.request("GET", "/x", CREDENTIALS, 5, "reading")
    assert isinstance(reply, Reply) and reply.body == {"ok": 1}
    assert session.sent == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


def test_a_second_401_is_unauthorised_for_the_pipeline_to_fetch_the_secret_again() -> None:
    refused = FakeResponse(401, {"error_code": "401013", "message": "Oauth token is not valid"})
    session = FakeSession([refused, refused])
    answer = client(session).request("GET", "/x", CREDENTIALS, 5, "reading batch B1")
    assert not isinstance(answer, Reply) and answer.kind is AnswerKind.UNAUTHORISED
    assert session.tokens == 2 and "401013" in answer.message


# -- Adobe's answers --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "code", "kind", "advice"),
    [
        (401, "401013", AnswerKind.UNAUTHORISED, "new token is fetched"),
        (403, "403010", AnswerKind.PERMANENT, "imsUrl"),
        (403, "403000", AnswerKind.PERMANENT, "x-api-key"),
        (403, "403003", AnswerKind.UNAUTHORISED, "Client ID"),
        (400, "400003", AnswerKind.PERMANENT, "options orgId"),
        (403, "403025", AnswerKind.PERMANENT, "options.orgId"),
    ],
)
def test_each_gateway_header_error_says_what_to_fix(status: int, code: str, kind: AnswerKind, advice: str) -> None:
    answer = classify(status, {"error_code": code, "message": "as Adobe words it"}, {}, "creating the batch")
    assert answer.kind is kind and advice in answer.message and f"{code}: as Adobe words it" in answer.message


@pytest.mark.parametrize("status", [400, 415, 422])
def test_a_refused_request_is_rejected_in_adobe_s_words(status: int) -> None:
    body = {"type": "http://ns.adobe.com/aep/errors/INGEST-1", "title": "Bad Request", "detail": "format is bad"}
    answer = classify(status, body, {}, "creating the batch")
    assert answer.kind is AnswerKind.PERMANENT and "Bad Request; format is bad" in answer.message


@pytest.mark.parametrize(("status", "header", "seconds"), [(429, "7", 7.0), (503, None, None), (502, "x", None)])
def test_throttling_and_server_errors_are_transient(status: int, header: str | None, seconds: float | None) -> None:
    answer = classify(status, {"title": "busy"}, {"Retry-After": header} if header else {}, "reading")
    assert answer.kind is AnswerKind.TRANSIENT and answer.retry_after_s == seconds


def test_retry_after_as_a_date() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 30, 6, 0, tzinfo=UTC).timestamp()
    assert retry_after_s({"retry-after": "Mon, 30 Nov 2026 06:00:30 GMT"}, now) == 30.0
    assert classify(503, {}, {"Retry-After": "86400"}, "reading").retry_after_s == 86400.0


def test_404_is_not_found_and_a_bare_401_unauthorised() -> None:
    assert classify(404, {"title": "Not Found"}, {}, "reading").kind is AnswerKind.NOT_FOUND
    assert classify(401, {}, {}, "reading").kind is AnswerKind.UNAUTHORISED


def test_ims_refusals() -> None:
    assert ims_answer(400, {"error": "invalid_scope"}).kind is AnswerKind.PERMANENT
    assert ims_answer(401, {"error": "invalid_client"}).kind is AnswerKind.UNAUTHORISED
    assert ims_answer(503, {}).kind is AnswerKind.TRANSIENT


# -- batch statuses ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", ["success", "active"])
def test_a_loaded_batch_is_success(status: str) -> None:
    answer = batch_answer("B1", {"status": status, "recordCount": 3}, created=True)
    assert (answer.kind, answer.record_id, answer.created) == (AnswerKind.SUCCESS, "B1", True)


@pytest.mark.parametrize("status", ["failed", "failure", "aborted", "abandoned", "stalled"])
def test_a_failed_batch_is_permanent_with_adobe_s_errors(status: str) -> None:
    errors = [{"code": "INGEST-1212-400", "description": "title is empty", "rows": ["2", "5-6"]}]
    answer = batch_answer("B1", {"status": status, "errors": errors}, created=True)
    assert answer.kind is AnswerKind.PERMANENT and f"is {status}: INGEST-1212-400: title is empty" in answer.message
    assert [(e.path, e.message) for e in answer.errors] == [("rows 2, 5-6", "INGEST-1212-400: title is empty")]


@pytest.mark.parametrize("status", ["loading", "staging", "staged", "loaded", "retrying", "queued", "processing"])
def test_a_batch_still_loading_is_pending(status: str) -> None:
    assert batch_answer("B1", {"status": status}, created=True).kind is AnswerKind.PENDING


# -- records files and XDM --------------------------------------------------------------------------------------
def test_records_are_an_array_or_json_lines() -> None:
    assert parse_records(b'[{"a": 1}, {"a": 2}]') == {"records": [{"a": 1}, {"a": 2}]}
    assert parse_records(b'\xef\xbb\xbf{"a": 1}\n\n{"a": 2}\n') == {"records": [{"a": 1}, {"a": 2}]}
    with pytest.raises(DocumentError, match="line 2 is not one JSON value"):
        parse_records(b'{"a": 1}\n{"a": \n')
    with pytest.raises(DocumentError, match="empty"):
        parse_records(b"  \n")


@pytest.mark.parametrize(
    ("data", "path", "name"),
    [
        (b'[{"a": 1}, {"a": {"score": NaN}}]', "$[1].a.score", "NaN"),
        (b'{"a": 1}\n\n{"a": [1, -Infinity]}\n{"b": Infinity}\n', "$[1].a[1]", "-Infinity"),
        (b"[Infinity]", "$[0]", "Infinity"),
    ],
)
def test_nan_and_infinity_are_refused_with_their_path(data: bytes, path: str, name: str) -> None:
    """Python's json reads them, but they are not JSON: the JSON lines uploaded would carry them to Batch
    Ingestion, which reads JSON. The first one is named, with its record and field."""
    with pytest.raises(DocumentError) as refused:
        parse_records(data)
    assert refused.value.detail.path == path
    assert f"non-standard JSON value {name}" in str(refused.value) and "Replace it with a number or null" in str(
        refused.value
    )


def test_every_record_must_be_an_object() -> None:
    assert [e.path for e in structure_errors([{"a": 1}, 2, "x"])] == ["$[1]", "$[2]"]
    assert structure_errors([])[0].message.startswith("holds no records")


def test_meta_keywords_carry_no_constraint_but_meta_named_fields_stay() -> None:
    xdm = {
        "meta:class": "x",
        "$id": "https://ns.adobe.com/t/schemas/1",
        "type": "object",
        "properties": {"meta:note": {"type": "string", "meta:xdmType": "string"}},
    }
    assert json_schema(xdm) == {"type": "object", "properties": {"meta:note": {"type": "string"}}}


def test_xdm_errors_have_paths_and_fixes() -> None:
    xdm = {
        "type": "object",
        "properties": {"_id": {"type": "string"}, "when": {"type": "string", "format": "date-time"}},
        "required": ["_id"],
    }
    errors = XdmValidator(xdm).errors([{"_id": "1", "when": "2026-11-30T06:00:00Z"}, {"when": "soon"}, {"_id": 2}])
    assert [e.path for e in errors] == ["$[1]", "$[1].when", "$[2]._id"]
    assert errors[0].message == "'_id' is a required property: add the field"
    assert errors[1].message.startswith("'soon' is not a 'date-time': write the value in that format")
    assert errors[2].message == "2 is not of type 'string': change the value to that type"
    assert "RFC 3339" in errors[1].message


# -- route and credentials --------------------------------------------------------------------------------------
OPTIONS = {
    "imsUrl": "https://ims-na1.adobelogin.com",
    "orgId": "ABC@AdobeOrg",
    "sandbox": "prod",
    "schemaId": "https://ns.adobe.com/t/schemas/1",
    "datasetName": "HGI",
}


def test_a_complete_route_has_no_problems() -> None:
    assert route.problems(RouteSpec("aep/", "aep", "https://platform.adobe.io", "s", OPTIONS)) == []


def test_every_route_problem_is_named() -> None:
    options = {**OPTIONS, "sandbox": "Prod", "orgId": "ABC", "datasetName": "", "imsUrl": "ims", "colour": "red"}
    found = route.problems(RouteSpec("aep/", "aep", "platform.adobe.io", None, options))
    text = "\n".join(found)
    for needle in (
        "unknown options ['colour']",
        "needs a secret",
        "options.imsUrl='ims'",
        "options.datasetName is required",
        "must be lower case",
        "ending in @AdobeOrg",
    ):
        assert needle in text
    assert len(found) == 6


@pytest.mark.parametrize(
    ("ims", "url", "ok"),
    [
        ("https://ims-na1.adobelogin.com", "https://platform.adobe.io", True),
        ("http://ims-na1.adobelogin.com", "https://platform.adobe.io", False),
        ("http://127.0.0.1:8766", "http://127.0.0.1:8766", True),
        ("http://127.0.0.1:8766", "http://localhost:8766", False),
        ("https://user:pw@ims.example", "https://platform.adobe.io", False),
    ],
)
def test_the_client_secret_goes_to_ims_over_https_only(ims: str, url: str, ok: bool) -> None:
    found = route.problems(RouteSpec("aep/", "aep", url, "s", {**OPTIONS, "imsUrl": ims}))
    assert (found == []) is ok, found


def test_credentials_name_what_is_missing_never_the_values() -> None:
    with pytest.raises(CredentialsError, match="lacks client_secret, scope") as raised:
        AepCredentials.from_secret({"client_id": "visible-id", "client_secret": " "}, "aep/secret")
    assert "visible-id" not in str(raised.value)
    with pytest.raises(CredentialsError, match="must hold a JSON object"):
        AepCredentials.from_secret("text", "aep/secret")
    assert "secret-abcdefgh" not in repr(CREDENTIALS) and CREDENTIALS.secret_values()[0] == "secret-abcdefgh"


def test_the_emulator_samples_are_one_valid_and_one_invalid_file() -> None:
    from local_stack.aep_emulator import DEFAULT_SCHEMA
    from tests.conftest import ROOT

    samples = ROOT / "local_stack" / "samples" / "aep"
    validator = XdmValidator(DEFAULT_SCHEMA)
    assert validator.errors(parse_records((samples / "valid-records.json").read_bytes())["records"]) == []
    errors = validator.errors(parse_records((samples / "invalid-records.json").read_bytes())["records"])
    assert [e.path for e in errors] == ["$[0].title", "$[1]", "$[1].created", "$[2]._id", "$[2].rows"]


def test_no_call_starts_without_time_left_and_each_waits_at_most_what_is_left() -> None:
    from hdr_ingest.core.ports import Call
    from hdr_ingest.destinations.aep.destination import Bounded

    session = FakeSession([])
    answer = client(session).request("GET", "/x", CREDENTIALS, Bounded.of(Call(CREDENTIALS, 30, 0)).timeout_s, "x")
    assert not isinstance(answer, Reply) and answer.kind is AnswerKind.TRANSIENT and "Too little time" in answer.message
    assert session.tokens == 0 and session.sent == []
    assert 0 < Bounded.of(Call(CREDENTIALS, 30, 10)).timeout_s <= 10  # the deadline, not the 30 s read timeout
