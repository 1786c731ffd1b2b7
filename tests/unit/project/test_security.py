"""Security properties, checked on the code and the template: verified TLS to the configured Gateway host only,
credentials only in headers and never in a repr, least-privilege IAM. (That the secret's values never reach a log
line, the ledger or a dead letter is checked end to end in tests/integration/handler/test_secret_leaks.py.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from requests.adapters import BaseAdapter

from hdr_ingest.core.answers import AnswerKind
from hdr_ingest.core.ports import CredentialsError
from hdr_ingest.destinations.hdruk.client import GatewayClient
from hdr_ingest.destinations.hdruk.credentials import AppCredentials
from hdr_ingest.destinations.hdruk.options import HeaderStyle
from hdr_ingest.destinations.hdruk.schema_pack import SchemaRef
from tests.conftest import ROOT
from tests.infra.conftest import load_template

pytestmark = pytest.mark.unit

APP_ID, CLIENT_ID = "app-7c1e9f3a4b", "client-52d8e0b6a9"
CREDENTIALS = AppCredentials(APP_ID, CLIENT_ID)
BASE_URL = "https://api.gateway.example.org/api/v1"
HDRUK = SchemaRef("HDRUK", "4.0.0")

# --- TLS: never disabled anywhere ---------------------------------------------------------------------------

INSECURE = re.compile(
    r"verify\s*[=:]\s*False|CERT_NONE|_create_unverified_context|check_hostname\s*=\s*False"
    r"|disable_warnings\s*\(|PYTHONHTTPSVERIFY|CURL_CA_BUNDLE\s*=\s*['\"]{2}|--no-verify-ssl|--insecure\b"
)
SCANNED = ("layers", "functions", "local_stack", "scripts", "tests", "events")
SUFFIXES = {".py", ".yaml", ".yml", ".toml", ".json", ".cfg", ".ini", ".sh", ".txt", ".md"}


def _source_files() -> Iterator[Path]:
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_file() and path.suffix in SUFFIXES and "schemata" not in path.parts:
                yield path
    yield from (ROOT / name for name in ("template.yaml", "samconfig.toml", "Makefile", "pyproject.toml"))


def test_tls_verification_is_never_disabled_in_the_source_tree() -> None:
    this = Path(__file__).resolve()
    hits = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _source_files()
        if path.resolve() != this
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1)
        if INSECURE.search(line)
    ]
    assert hits == []


def test_the_scan_would_see_a_disabled_verification() -> None:
    assert INSECURE.search("session.request('GET', url, verify=False)")
    assert INSECURE.search("    verify = False")
    assert INSECURE.search("ssl._create_unverified_context()")


# --- the Gateway client: verified TLS, its own host, credentials in headers only -----------------------------


class Recorder(BaseAdapter):
    """Answers every request without a network; records what the session asked for (URL, headers, body, verify)."""

    def __init__(self, answers: list[tuple[int, dict[str, str], bytes]] | None = None) -> None:
        super().__init__()
        self.answers = answers or []
        self.sent: list[tuple[requests.PreparedRequest, Any]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.sent.append((request, kwargs.get("verify")))
        status, headers, body = self.answers.pop(0) if self.answers else (200, {}, b'{"data": []}')
        response = requests.Response()
        response.status_code, response.url, response.request = status, request.url or "", request
        response.headers.update({"Content-Type": "application/json", **headers})
        response._content = body
        return response

    def close(self) -> None:
        return None


def _client(recorder: Recorder, style: HeaderStyle = HeaderStyle.X_HEADERS) -> GatewayClient:
    client = GatewayClient(BASE_URL, style)
    client.transport.session.mount("https://", recorder)
    client.transport.session.mount("http://", recorder)
    return client


def _every_call(client: GatewayClient) -> None:
    document = {"summary": {"title": f"contains {APP_ID[:3]} but not the secret"}}
    client.create(document, HDRUK, "hgi-0123", CREDENTIALS, 5)
    client.update(42, document, HDRUK, CREDENTIALS, 5)
    client.find("hgi-0123", CREDENTIALS, 5)
    client.archive(42, CREDENTIALS, 5)
    client.unarchive(42, CREDENTIALS, 5)


@pytest.mark.parametrize("style", list(HeaderStyle))
def test_gateway_requests_go_to_the_configured_host_over_verified_tls(style: HeaderStyle) -> None:
    recorder = Recorder()
    client = _client(recorder, style)
    assert client.transport.session.verify is True
    _every_call(client)
    base = urlsplit(BASE_URL)
    assert len(recorder.sent) == 5
    for request, verify in recorder.sent:
        url = urlsplit(request.url or "")
        assert (url.scheme, url.netloc) == ("https", base.netloc), request.url
        assert url.path.startswith(base.path + "/")
        assert verify is True or (isinstance(verify, str) and Path(verify).exists()), verify  # never False


def test_credentials_travel_only_in_headers() -> None:
    recorder = Recorder()
    _every_call(_client(recorder))
    # every call of the client was sent (a test that sent nothing would pass the checks below vacuously)
    assert [request.method for request, _ in recorder.sent] == ["POST", "PUT", "GET", "DELETE", "PATCH"]
    for request, _ in recorder.sent:
        assert APP_ID not in (request.url or "") and CLIENT_ID not in (request.url or "")
        body = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
        assert APP_ID.encode() not in body and CLIENT_ID.encode() not in body
        assert request.headers["x-application-id"] == APP_ID and request.headers["x-client-id"] == CLIENT_ID


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed_so_credentials_never_reach_another_host(status: int) -> None:
    """requests drops ``Authorization`` on a cross-host redirect, but not custom headers such as
    ``x-client-id``: following one would hand the credentials to whatever host it names."""
    elsewhere = {"Location": "https://collector.example.net/api/v1/integrations/datasets"}
    recorder = Recorder([(status, elsewhere, b'{"message": "Moved"}')] * 5)
    client = _client(recorder)
    answers = [
        client.create({"summary": {}}, HDRUK, "hgi-1", CREDENTIALS, 5),
        client.find("hgi-1", CREDENTIALS, 5),
    ]
    assert [urlsplit(r.url or "").netloc for r, _ in recorder.sent] == [urlsplit(BASE_URL).netloc] * 2
    assert all(answer.kind is not AnswerKind.SUCCESS for answer in answers)
    assert all(f"HTTP {status}" in answer.message for answer in answers)


def test_credentials_never_appear_in_a_repr_or_an_error() -> None:
    assert APP_ID not in repr(CREDENTIALS) and CLIENT_ID not in str(CREDENTIALS)
    for value in (
        {"app_id": APP_ID},
        {"client_id": CLIENT_ID},
        [APP_ID, CLIENT_ID],
        {"app_id": APP_ID, "client_id": 7},
    ):
        with pytest.raises(CredentialsError) as caught:
            AppCredentials.from_secret(value, "gateway-app")
        assert APP_ID not in str(caught.value) and CLIENT_ID not in str(caught.value)


@pytest.mark.parametrize(
    ("app_id", "client_id", "says"),
    [
        (APP_ID + "\r\nX-Injected: 1", CLIENT_ID, "app_id that holds a line break"),
        (APP_ID, CLIENT_ID + "\n", None),  # surrounding whitespace is stripped, as before
        (APP_ID, "client-\u00e9t\u00e9", "client_id that holds a non-ASCII character"),
        (APP_ID + "\t1", CLIENT_ID, "app_id that holds a control character"),
        (APP_ID, "c" * 513, "client_id that is 513 characters long"),
        (APP_ID, "c" * 512, None),
    ],
)
def test_secret_values_must_be_printable_ascii_of_sane_length(app_id: str, client_id: str, says: str | None) -> None:
    value = {"app_id": app_id, "client_id": client_id}
    if says is None:
        assert AppCredentials.from_secret(value, "gateway-app").client_id == client_id.strip()
        return
    with pytest.raises(CredentialsError) as caught:
        AppCredentials.from_secret(value, "gateway-app")
    assert says in str(caught.value) and "printable ASCII" in str(caught.value)
    assert APP_ID not in str(caught.value) and "client-" not in str(caught.value)


def test_credentials_unfit_for_a_header_cannot_be_made_at_all() -> None:
    with pytest.raises(CredentialsError) as caught:
        AppCredentials(APP_ID + "\r\n", CLIENT_ID)
    assert APP_ID not in str(caught.value) and "line break" in str(caught.value)


# --- the template: HTTPS only, least privilege ---------------------------------------------------------------

IDENTITY_TYPES = ("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::Group", "AWS::IAM::User")
DATA_SERVICES = ("s3", "dynamodb", "sqs", "secretsmanager", "kms", "sns", "logs")
# Actions AWS offers no resource-level permissions for: "*" is the only possible Resource.
UNSCOPABLE = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"}


def _branches(value: Any) -> Iterator[Any]:
    """Every concrete value behind ``Fn::If`` (both branches), without ``AWS::NoValue``."""
    if isinstance(value, dict) and "Fn::If" in value:
        for branch in value["Fn::If"][1:]:
            yield from _branches(branch)
    elif value != {"Ref": "AWS::NoValue"}:
        yield value


def _statements(document: Any) -> Iterator[dict[str, Any]]:
    for doc in _branches(document):
        for statement in doc.get("Statement", []) if isinstance(doc, dict) else []:
            yield from _branches(statement)


def _listed(value: Any) -> list[Any]:
    return [v for item in (value if isinstance(value, list) else [value]) for v in _branches(item)]


def _policies(template: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(resource, "identity" | "resource", statement) for every policy statement in the template."""
    for name, resource in template["Resources"].items():
        kind, properties = resource["Type"], resource.get("Properties", {})
        if kind in IDENTITY_TYPES:
            documents = [p["PolicyDocument"] for p in _listed(properties.get("Policies", []))]
            documents += [properties["PolicyDocument"]] if "PolicyDocument" in properties else []
            for document in documents:
                for statement in _statements(document):
                    yield name, "identity", statement
        elif kind == "AWS::Serverless::Function":
            for policy in _listed(properties.get("Policies", [])):
                if isinstance(policy, dict) and "Statement" in policy:
                    for statement in _statements(policy):
                        yield name, "identity", statement
                else:  # a SAM policy template or a managed policy: judged by name
                    yield name, "identity", {"Effect": "Allow", "Action": [str(policy)], "Resource": "managed"}
        else:
            for key in ("PolicyDocument", "KeyPolicy"):
                for statement in _statements(properties.get(key)) if key in properties else ():
                    yield name, "resource", statement


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def test_the_template_has_policies_to_check(template: dict[str, Any]) -> None:
    kinds = {kind for _, kind, _ in _policies(template)}
    assert kinds == {"identity", "resource"}
    actions = {a for _, kind, s in _policies(template) if kind == "identity" for a in _listed(s.get("Action"))}
    assert {"s3:GetObject", "dynamodb:PutItem", "sqs:SendMessage", "secretsmanager:GetSecretValue"} <= actions


def test_iam_grants_no_wildcard_actions(template: dict[str, Any]) -> None:
    """The function's role names each action; no ``*``, ``service:*`` or ``service:Get*``."""
    wild = [
        (name, action)
        for name, kind, statement in _policies(template)
        if kind == "identity" and statement.get("Effect") == "Allow"
        for action in _listed(statement.get("Action")) + _listed(statement.get("NotAction"))
        if "*" in str(action) or "Action" not in statement
    ]
    assert wild == []


def test_iam_grants_data_actions_on_named_resources_only(template: dict[str, Any]) -> None:
    """S3, DynamoDB, SQS, Secrets Manager, KMS, SNS and Logs actions are granted on the stack's own resources,
    never on ``*`` (or everything but something: ``NotResource``)."""
    broad = [
        (name, sorted(map(str, _listed(statement.get("Action")))))
        for name, kind, statement in _policies(template)
        if kind == "identity" and statement.get("Effect") == "Allow"
        if "NotResource" in statement
        or (
            "*" in _listed(statement.get("Resource"))
            and any(str(a).split(":")[0] in DATA_SERVICES or a not in UNSCOPABLE for a in _listed(statement["Action"]))
        )
    ]
    assert broad == []


def test_resource_policies_allow_no_wildcard_actions_or_anyone(template: dict[str, Any]) -> None:
    """Bucket, queue, topic and key policies: ``*`` actions only in Deny statements (DenyInsecureTransport), and
    in the one statement every KMS key policy needs, which lets the account's IAM policies grant use of the key
    (``kms:*`` for the account root). No Allow to ``Principal: *``."""
    problems = []
    for name, kind, statement in _policies(template):
        if kind != "resource" or statement.get("Effect") != "Allow":
            continue
        if statement.get("Principal") == "*" or statement.get("Principal") == {"AWS": "*"}:
            problems.append((name, statement.get("Sid"), "Principal *"))
        actions = [str(a) for a in _listed(statement.get("Action"))]
        if any(a == "*" or a.endswith(":*") for a in actions):
            root = statement.get("Principal", {}).get("AWS", {})
            delegation = isinstance(root, dict) and str(root.get("Fn::Sub", "")).endswith(":root")
            if not (delegation and actions == ["kms:*"] and statement.get("Sid") == "EnableIamPolicies"):
                problems.append((name, statement.get("Sid"), actions))
    assert problems == []


def test_the_gateway_url_must_be_https(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["GatewayUrl"]
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.match(parameter["Default"])
    assert not pattern.match("http://api.healthdatagateway.org/api/v1")


def test_the_gateway_s_words_are_recorded_without_the_credentials() -> None:
    """An error page that quotes the request (SQL with its bindings) is kept, with the credentials blanked."""
    from hdr_ingest.core.answers import Answer
    from hdr_ingest.core.outcome import ErrorDetail
    from hdr_ingest.usecases.calls import REDACTED
    from hdr_ingest.usecases.calls import redacted as _redacted

    quoted = f"SQLSTATE[HY000] (SQL: select * from applications where app_id = {APP_ID} and client_id = {CLIENT_ID})"
    answer = Answer(AnswerKind.TRANSIENT, 500, quoted, errors=(ErrorDetail(f"$.{APP_ID}", quoted),))
    cleaned = _redacted(answer, CREDENTIALS)
    assert APP_ID not in repr(cleaned) and CLIENT_ID not in repr(cleaned)
    assert cleaned.message.count(REDACTED) == 2 and cleaned.kind is answer.kind and cleaned.http_status == 500
    untouched = Answer(AnswerKind.TRANSIENT, 500, "The Gateway failed (Server Error); will retry.")
    assert _redacted(untouched, CREDENTIALS) is untouched
    assert _redacted(untouched, AppCredentials("e", "a")) is untouched  # too short to be a real id: not blanked
