"""The AEP judge (XDM check: AEP's conversions, RE2 patterns, an empty schema), the route settings that must be
refused (issue 26 #11), credentials with a line break (#12) and Catalog filter values."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.core.ports import CredentialsError
from hdr_ingest.core.routing import RouteSpec
from hdr_ingest.destinations.aep import route
from hdr_ingest.destinations.aep.credentials import AepCredentials
from hdr_ingest.destinations.aep.destination import _key_of, filter_value
from hdr_ingest.destinations.aep.judge import XdmCheck, XdmJudgement, XdmValidator, schema_problem

pytestmark = pytest.mark.unit

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "rows": {"type": "integer", "meta:xdmType": "int"},
        "score": {"type": "number"},
        "created": {"type": "string", "format": "date-time", "meta:xdmType": "date-time"},
        "code": {"type": "string", "pattern": "^(a+)+$"},
    },
}


def judged(record: dict[str, Any]) -> XdmJudgement:
    return XdmValidator(SCHEMA).judge([record])


# -- AEP's conversions ("Types") ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "record",
    [{"rows": "3"}, {"rows": " 12 "}, {"score": "2.5"}, {"score": "-1e3"}, {"created": 1764900000000}],
)
def test_values_aep_converts_pass_with_a_warning(record: dict[str, Any]) -> None:
    result = judged(record)
    assert result.errors == [] and len(result.converted) == 1 and "AEP converts it" in result.converted[0].message


@pytest.mark.parametrize(
    ("record", "path"),
    [
        ({"rows": "three"}, "$[0].rows"),
        ({"rows": "3.5"}, "$[0].rows"),
        ({"rows": True}, "$[0].rows"),
        ({"score": "nan"}, "$[0].score"),
        ({"created": "yesterday"}, "$[0].created"),
        ({"created": 1.5}, "$[0].created"),
    ],
)
def test_values_aep_cannot_convert_are_refused(record: dict[str, Any], path: str) -> None:
    result = judged(record)
    assert [e.path for e in result.errors] == [path] and result.converted == []


def test_a_catastrophic_pattern_runs_in_linear_time() -> None:
    """``^(a+)+$`` against 31 ``a``s and ``!`` took 101 s with Python's ``re``; on RE2 it is immediate. The judge
    runs in a thread so that a regression fails here (after a generous minute) instead of hanging the suite."""
    found: list[XdmJudgement] = []
    worker = threading.Thread(target=lambda: found.append(judged({"code": "a" * 31 + "!"})), daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert found, "the pattern check did not finish: it is not running on RE2"
    assert [e.path for e in found[0].errors] == ["$[0].code"] and judged({"code": "aaa"}).errors == []


def test_pattern_properties_run_on_re2_too() -> None:
    schema = {
        "type": "object",
        "properties": {"x": {"type": "string"}},
        "patternProperties": {"^(a+)+$": {"type": "integer"}},
    }
    result = XdmValidator(schema).judge([{"aaaa": "not a number", "a" * 31 + "!": "fine"}])
    assert [e.path for e in result.errors] == ["$[0].aaaa"]


# -- an XDM schema answered as {} --------------------------------------------------------------------------------
@pytest.mark.parametrize("answer", [{}, [], None, {"type": "object"}, {"properties": {}}])
def test_an_empty_or_partial_schema_is_not_a_schema(answer: Any) -> None:
    assert schema_problem(answer) is not None


def test_an_empty_schema_lets_nothing_through_and_is_read_again() -> None:
    check = XdmCheck("https://ns.adobe.com/t/schemas/x", clock=lambda: 0.0)
    reads: list[int] = []

    def fetch() -> Any:
        reads.append(1)
        return {}

    first = check.judge([{"anything": 1}], fetch)
    second = check.judge([{"anything": 1}], fetch)
    assert isinstance(first, Answer) and first.kind is AnswerKind.TRANSIENT and "no properties" in first.message
    assert isinstance(second, Answer) and len(reads) == 2  # never cached
    assert check.judge([{"rows": 1}], lambda: SCHEMA) == XdmJudgement([], [])


# -- route settings (issue 26 #11) ---------------------------------------------------------------------------------
def spec(url: str = "https://platform.adobe.io", **options: Any) -> RouteSpec:
    base = {
        "imsUrl": "https://ims-na1.adobelogin.com",
        "orgId": "ORG@AdobeOrg",
        "sandbox": "prod",
        "schemaId": "https://ns.adobe.com/t/schemas/x",
        "datasetName": "HGI",
    }
    return RouteSpec("incoming/aep/", "aep", url, "secret", {**base, **options})


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"imsUrl": "https://127.0.0.1"}, "imsUrl"),
        ({"imsUrl": "https://10.0.0.5"}, "imsUrl"),
        ({"imsUrl": "https://169.254.169.254"}, "imsUrl"),
        ({"imsUrl": "https://localhost:8443"}, "imsUrl"),
        ({"imsUrl": "https://2130706433"}, "imsUrl"),
        ({"imsUrl": "https://ims-na1.adobelogin.com:70000"}, "imsUrl"),
        ({"imsUrl": "https://u:p@ims-na1.adobelogin.com"}, "imsUrl"),
        ({"imsUrl": "http://ims-na1.adobelogin.com"}, "imsUrl"),
        ({"sandbox": "prod\r\nx-evil: 1"}, "options.sandbox"),
        ({"orgId": "ORG\n@AdobeOrg"}, "options.orgId"),
    ],
)
def test_route_settings_refuse_what_the_gateway_s_refuse(options: dict[str, Any], fragment: str) -> None:
    found = route.problems(spec(**options))
    assert found and any(fragment in p for p in found)


def test_a_local_ims_is_allowed_beside_a_local_platform_url_only() -> None:
    # the route's url is local only when ALLOW_LOCAL_DESTINATIONS=true let it through the settings' url check
    assert route.problems(spec("http://127.0.0.1:9000", imsUrl="http://127.0.0.1:9000")) == []
    assert route.problems(spec(imsUrl="https://ims-na1.adobelogin.com")) == []
    assert route.problems(spec("http://127.0.0.1:9000", imsUrl="http://10.1.1.1:9000"))


# -- credentials (issue 26 #12) --------------------------------------------------------------------------------------
@pytest.mark.parametrize("field", ["client_id", "client_secret", "scope"])
def test_a_credential_with_a_line_break_is_a_credentials_problem(field: str) -> None:
    value = {"client_id": "client", "client_secret": "secret-123", "scope": "openid", field: "abc\r\ndef"}
    with pytest.raises(CredentialsError, match=field):
        AepCredentials.from_secret(value, "aep/secret")


def test_the_secret_is_redacted_in_its_url_encoded_forms() -> None:
    credentials = AepCredentials("client", "p@ss w/rd+1", "openid")
    assert {"p@ss w/rd+1", "p%40ss+w%2Frd%2B1", "p%40ss%20w%2Frd%2B1"} <= set(credentials.secret_values())


# -- Catalog filter values -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["incoming/aep/a,b.json", "incoming/aep/*.json", "incoming/aep/100%,*.json", "plain"])
def test_filter_values_hold_no_operator_and_decode_back(key: str) -> None:
    value = filter_value(key)
    assert "," not in value and "*" not in value and _key_of({"tags": {"hgiKey": [value]}}) == key
    assert filter_value("plain/key.json") == "plain/key.json"  # keys without operators are stored as before
