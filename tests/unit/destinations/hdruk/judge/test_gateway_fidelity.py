"""Gateway-faithful judgement: the Gateway's pre-processing, TRASER's Ajv semantics, and the explanations.

Expected behaviour: shared/notes/hdruk-gateway.md (c), (e), (h); the measured verdicts are checked in
tests/integration/destinations/hdruk/judge/test_gateway_fidelity.py.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest

from hdr_ingest.core.outcome import ErrorDetail
from hdr_ingest.destinations import Common
from hdr_ingest.destinations.hdruk import route
from hdr_ingest.destinations.hdruk.judge import (
    Change,
    GatewayJudge,
    Judgement,
    Quirk,
    Route,
    ValidationMode,
    explain,
    gateway_preprocess,
    judge_for,
    laravel_trim,
    php_htmlentities,
)
from hdr_ingest.destinations.hdruk.judge.formats import _format_date_time, _format_uri
from hdr_ingest.destinations.hdruk.judge.javascript import NO_COERCION, coerce, js_number_to_string, js_to_number
from hdr_ingest.destinations.hdruk.judge.js_regex import js_regex
from hdr_ingest.destinations.hdruk.schema_pack import SchemaPack, SchemaRef
from hdr_ingest.entry.settings import ConfigError, Settings
from tests.conftest import example

pytestmark = pytest.mark.unit

HDRUK_400 = SchemaRef("HDRUK", "4.0.0")
HDRUK_300 = SchemaRef("HDRUK", "3.0.0")
CRUK = SchemaRef("CRUK", "1.0.0")
GWDM_10 = SchemaRef("GWDM", "1.0")


@pytest.fixture(scope="module")
def judge(pack: SchemaPack) -> GatewayJudge:
    return judge_for(pack)


def _hdruk400() -> dict[str, Any]:
    return copy.deepcopy(example("schemata/HDRUK/4.0.0/docs.example.json"))


def _quirks(judgement: Judgement) -> set[Quirk]:
    return {note.quirk for note in judgement.notes}


# --- the Gateway's pre-processing ------------------------------------------------------------------------


def test_preprocessing_trims_nulls_encodes_and_records_each_change() -> None:
    changes: list[Any] = []
    document = {"a": "  x  ", "b": "   ", "c": "> 10 Years", "d": ["Fish & Chips", 5, None], "e": {}, "f": {"0": "a"}}
    seen = gateway_preprocess(document, php_arrays=True, changes=changes)
    assert seen == {"a": "x", "b": None, "c": "&gt; 10 Years", "d": ["Fish &amp; Chips", 5, None], "e": [], "f": ["a"]}
    assert document["c"] == "> 10 Years"  # the input is left alone
    kinds = {(c.where, c.quirk) for c in changes}
    assert {("$.a", Quirk.TRIM), ("$.b", Quirk.EMPTY_TO_NULL), ("$.c", Quirk.HTML_ENTITIES)} <= kinds
    assert {("$.d[0]", Quirk.HTML_ENTITIES), ("$.e", Quirk.PHP_ARRAYS), ("$.f", Quirk.PHP_ARRAYS)} <= kinds


def test_php_htmlentities_matches_php() -> None:
    assert php_htmlentities('Don\'t "quote" – café') == "Don&#039;t &quot;quote&quot; &ndash; caf&eacute;"
    assert php_htmlentities("&amp; 日本") == "&amp;amp; 日本"  # double encoding; no entity for CJK


def test_datasets_route_does_not_encode(pack: SchemaPack) -> None:
    document = _hdruk400()
    document["coverage"]["followUp"] = "> 10 Years"
    assert not GatewayJudge(pack, Route.INTEGRATIONS).judge(document, HDRUK_400).valid
    assert GatewayJudge(pack, Route.DATASETS_V1).judge(document, HDRUK_400).valid


# --- the Gateway's own white space (issue 14) -------------------------------------------------------------

# Laravel's TrimStrings: PCRE2's \s with Unicode properties (PHP's /u), i.e. PCRE2's horizontal and vertical
# space lists and category Z, plus U+FEFF, U+200B and U+200E. Spelt out here, independently of the code.
GATEWAY_WHITE_SPACE = [
    *range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680, 0x180E, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F,
    0x3000, 0xFEFF, 0x200B, 0x200E,
]  # fmt: skip
# Look alike, but Laravel keeps them: NUL, soft hyphen, ZWNJ, ZWJ, right-to-left mark, word joiner, controls.
NOT_TRIMMED = [0x00, 0x1F, 0x7F, 0xAD, 0x200C, 0x200D, 0x200F, 0x2060, 0x1F600]
WHITE_SPACE_IDS = [f"U+{cp:04X}" for cp in GATEWAY_WHITE_SPACE]


@pytest.mark.parametrize("cp", GATEWAY_WHITE_SPACE, ids=WHITE_SPACE_IDS)
def test_laravel_trim_removes_each_gateway_white_space_at_both_ends_only(cp: int) -> None:
    c = chr(cp)
    assert laravel_trim(f"{c}{c}1 - 10{c}Years{c}") == f"1 - 10{c}Years"
    assert laravel_trim(f"{c}\u00a0x\u3000{c}") == "x"  # runs of mixed white space go too
    assert laravel_trim(c * 3) == ""


@pytest.mark.parametrize("cp", NOT_TRIMMED, ids=[f"U+{cp:04X}" for cp in NOT_TRIMMED])
def test_laravel_trim_keeps_other_characters(cp: int) -> None:
    c = chr(cp)
    assert laravel_trim(f"{c}x{c}") == f"{c}x{c}"


@pytest.mark.parametrize("cp", GATEWAY_WHITE_SPACE, ids=WHITE_SPACE_IDS)
def test_preprocessing_trims_values_but_not_keys_nor_insides(cp: int) -> None:
    c = chr(cp)
    changes: list[Change] = []
    document = {f"{c}key{c}": f"{c}value{c}", "inside": f"a{c}b", "list": [f"{c}x"], "blank": f"{c}{c}"}
    seen = gateway_preprocess(document, html_entities=False, php_arrays=True, changes=changes)
    assert seen == {f"{c}key{c}": "value", "inside": f"a{c}b", "list": ["x"], "blank": None}
    assert {(ch.where, ch.quirk) for ch in changes} >= {("$.list[0]", Quirk.TRIM), ("$.blank", Quirk.TRIM)}
    assert not any(ch.where == "$.inside" for ch in changes)


@pytest.mark.parametrize("cp", GATEWAY_WHITE_SPACE, ids=WHITE_SPACE_IDS)
def test_a_value_ending_in_gateway_white_space_gets_the_gateways_verdict(judge: GatewayJudge, cp: int) -> None:
    c = chr(cp)
    document = _hdruk400()
    document["coverage"]["followUp"] = f"1 - 10 Years{c}"  # an enum value
    document["summary"]["dataCustodian"]["contactPoint"] = f"{c}enquiries@cprd.com{c}"  # format: email
    judgement = judge.judge(document, HDRUK_400)
    assert judgement.valid and judgement.schema_to_send == HDRUK_400, judgement.report.errors
    assert not judgement.as_sent.valid
    note = next(n for n in judgement.notes if n.path == "$.coverage.followUp")
    assert note.quirk is Quirk.TRIM and "the Gateway trims it" in note.explanation
    assert (f"U+{cp:04X}" in note.explanation) is (cp > 0x7F)  # invisible characters are named
    assert judgement.warnings[0].startswith("Not valid HDRUK 4.0.0 as written")


def test_cprd_contact_point_with_a_no_break_space_is_accepted(judge: GatewayJudge) -> None:
    """All 36 of CPRD's production records on the Gateway carry this value."""
    document = _hdruk400()
    document["summary"]["dataCustodian"]["contactPoint"] = "enquiries@cprd.com\u00a0"
    assert judge.judge(document).valid
    untrimmed = judge.traser(document, HDRUK_400)  # Ajv's email format rejects the value as sent
    assert [e.path for e in untrimmed.errors] == ["$.summary.dataCustodian.contactPoint"]


# --- the Gateway's error first (issue 14) ------------------------------------------------------------------


def _pointer(path: str) -> str:
    return "".join("/" + part for part in path.removeprefix("$").replace("[", ".").replace("]", "").split(".") if part)


def test_the_error_the_gateway_reports_is_listed_first_and_marked(judge: GatewayJudge) -> None:
    document = _hdruk400()
    document["summary"]["populationSize"] = "many"
    document["issued"] = "yesterday"
    document["surprise"] = 1
    del document["summary"]["title"]
    judgement = judge.judge(document, HDRUK_400)
    errors = judgement.report.errors
    assert len(errors) == 4 and errors[0].gateway_reports
    assert [e.gateway_reports for e in errors[1:]] == [False, False, False]
    first = judge.traser(judge.preprocess(document), HDRUK_400).first_error  # Ajv's own wording and path
    assert first is not None and first.path in (_pointer(errors[0].path), _pointer(errors[0].path).rsplit("/", 1)[0])
    assert {e.path for e in errors} == {"$.summary.title", "$.summary.populationSize", "$.issued", "$.surprise"}
    as_json = judgement.as_dict()["errors"]
    assert as_json[0]["gateway_reports"] is True and all("gateway_reports" not in e for e in as_json[1:])
    lines = explain(judgement)
    assert lines[1].endswith("[the error the Gateway reports]") and not lines[2].endswith("reports]")


def test_strict_mode_marks_only_the_gateways_errors(judge: GatewayJudge) -> None:
    document = _hdruk400()
    document["coverage"]["followUp"] = "> 10 Years"
    document["issued"] = "yesterday"
    strict = judge.judge(document, HDRUK_400, ValidationMode.STRICT)
    assert not any(e.gateway_reports for e in strict.report.errors)
    assert strict.gateway.errors[0].gateway_reports
    assert sum(e.gateway_reports for e in strict.gateway.errors) == 1


def test_a_hang_marks_no_error_the_gateway_answers_500(judge: GatewayJudge) -> None:
    judgement = judge.judge(example("gateway-api/hdruk_3p0p0_dataset_min.json"), HDRUK_300)
    assert judgement.hang and not any(e.gateway_reports for e in judgement.report.errors)


def test_an_anyof_failure_leads_with_the_first_alternatives_error(judge: GatewayJudge) -> None:
    """The Gateway reports Ajv's first error, from the first alternative; we describe the value by the
    alternative it came closest to. Both are listed, the Gateway's first."""
    document = example("schemata/HDRUK/2.1.2/example.json")
    document["identifier"] = "x" * 40
    verdict = judge.traser(judge.preprocess(document), SchemaRef("HDRUK", "2.1.2"))
    lead = verdict.errors[0]
    assert lead.gateway_reports and lead.path == "$.identifier"
    assert verdict.first_error is not None and verdict.first_error.path == "/identifier"
    assert sum(e.gateway_reports for e in verdict.errors) == 1


def test_error_detail_carries_the_mark_only_when_set() -> None:
    assert ErrorDetail("$.a", "is wrong.").as_dict() == {"path": "$.a", "message": "is wrong."}
    marked = ErrorDetail("$.a", "is wrong.", gateway_reports=True)
    assert marked.as_dict() == {"path": "$.a", "message": "is wrong.", "gateway_reports": True}
    assert str(marked) == "$.a: is wrong."


# --- JavaScript and Ajv semantics ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "targets", "expected"),
    [
        ("5", ["integer"], 5),
        ("5.5", ["integer"], "no"),
        ("5.5", ["number"], 5.5),
        (" 5 ", ["number"], 5),
        ("0x10", ["number"], 16),
        ("", ["number"], "no"),
        ("", ["null"], None),
        (None, ["string"], ""),
        (None, ["string", "null"], ""),  # the first target that converts wins
        (5, ["string"], "5"),
        (True, ["string"], "true"),
        ("true", ["boolean"], True),
        (0, ["null"], None),
        ([], ["string"], "no"),
    ],
)
def test_coercion_follows_ajv(value: Any, targets: list[str], expected: Any) -> None:
    result = coerce(value, targets)
    assert ("no" if result is NO_COERCION else result) == expected


def test_javascript_numbers_and_strings() -> None:
    assert [js_number_to_string(x) for x in (5.0, 0.1, 1e21, 1.5e-7, 1e20, 2.5e-6)] == [
        "5",
        "0.1",
        "1e+21",
        "1.5e-7",
        "100000000000000000000",
        "0.0000025",
    ]
    assert js_to_number("  ") == 0 and js_to_number("Infinity") == math.inf and math.isnan(js_to_number("5x"))


def test_patterns_use_javascript_meanings_on_re2() -> None:
    assert js_regex(r"^\s$")("\u00a0")  # JavaScript \s includes NBSP; RE2's does not
    assert js_regex(r"^\s$")("\x0b")
    assert not js_regex(r"^.$")("\r")  # JavaScript "." excludes line terminators
    assert not js_regex(r"^a$")("a\n")  # "$" is the end of input, not before a final newline


def test_lone_surrogates_do_not_break_the_regex_engine(judge: GatewayJudge) -> None:
    document = _hdruk400()
    document["version"] = "1.0.\ud800"  # legal JSON; RE2 itself only takes UTF-8
    document["summary"]["dataCustodian"]["contactPoint"] = "a\ud800@example.org"
    paths = {e.path for e in judge.judge(document, HDRUK_400).report.errors}
    assert paths == {"$.version", "$.summary.dataCustodian.contactPoint"}


def test_ajv_formats_2() -> None:
    assert _format_date_time("2024-01-01T10:00:00Z") and _format_date_time("2024-01-01 10:00:00+01:00")
    assert _format_date_time("2024-01-01T10:00:00")  # ajv-formats 2.1.1 never really requires the zone
    assert not _format_date_time("2023-02-29T10:00:00Z")
    assert _format_uri("https://example.org/a?b=1&amp;c=2") and not _format_uri("example.org")


# --- verdicts, modes and explanations --------------------------------------------------------------------


def test_valid_document_is_valid_in_both_modes_and_says_what_to_send(judge: GatewayJudge) -> None:
    for mode in ValidationMode:
        judgement = judge.judge(_hdruk400(), None, mode)
        assert judgement.valid and judgement.schema_to_send == HDRUK_400, judgement.report
        assert judgement.gateway.valid and judgement.as_sent.valid


def test_gateway_mode_reports_every_error(judge: GatewayJudge) -> None:
    document = _hdruk400()
    del document["summary"]["title"]
    document["summary"]["populationSize"] = "many"
    document["issued"] = "yesterday"
    document["surprise"] = 1
    judgement = judge.judge(document, HDRUK_400)
    paths = {e.path for e in judgement.report.errors}
    assert paths == {"$.summary.title", "$.summary.populationSize", "$.issued", "$.surprise"}
    assert judgement.schema_to_send is None


def test_more_than_10_years_is_rejected_with_the_html_encoding_named(judge: GatewayJudge) -> None:
    document = _hdruk400()
    document["coverage"]["followUp"] = "> 10 Years"
    judgement = judge.judge(document, HDRUK_400)
    assert not judgement.valid and judgement.as_sent.valid
    assert "valid HDRUK 4.0.0 as sent, but the Gateway would reject it" in judgement.report.summary
    (error,) = judgement.report.errors
    assert error.path == "$.coverage.followUp" and "&gt; 10 Years" in error.message
    assert "HTML-encodes" in error.message
    note = next(n for n in judgement.notes if n.path == "$.coverage.followUp")
    assert note.quirk is Quirk.HTML_ENTITIES and note.decisive and "/api/v1/datasets" in note.explanation

    strict = judge.judge(document, HDRUK_400, ValidationMode.STRICT)
    assert strict.valid and strict.schema_to_send == HDRUK_400
    assert strict.warnings[0].startswith("Valid as sent, but the Gateway will reject it: $.coverage.followUp")


def test_cruk_without_lead_researcher_is_an_error_in_gateway_mode_and_a_warning_in_strict(judge: GatewayJudge) -> None:
    document = example("schemata/CRUK/1.0.0/example.json")
    assert "leadResearcher" not in document["summary"]
    gateway = judge.judge(document, CRUK)
    assert not gateway.valid and gateway.as_sent.valid
    error = next(e for e in gateway.report.errors if e.path == "$.summary.leadResearcher")
    assert 'is ""' in error.message and "at least 2 characters" in error.message
    note = next(n for n in gateway.notes if n.path == "$.summary.leadResearcher")
    assert note.quirk is Quirk.AJV_DEFAULTS and "Add summary.leadResearcher" in note.explanation

    strict = judge.judge(document, CRUK, "strict")
    assert strict.valid
    assert any("the Gateway will reject it" in w and "leadResearcher" in w for w in strict.warnings)
    # CRUK 1.0.0 also has no translation path to GWDM 2.0.
    assert Quirk.NO_TRANSLATION in _quirks(strict)

    document["summary"]["leadResearcher"] = "Dr A Researcher"
    document["summary"]["leadResearchInstitute"] = "An Institute"
    assert judge.judge(document, CRUK).valid


def test_empty_string_where_null_is_allowed_is_accepted_by_the_gateway(judge: GatewayJudge) -> None:
    document = example("gateway-api/gwdm_v1_dataset_min.json")["metadata"]
    assert document["summary"]["controlledKeywords"] == ""
    judgement = judge.judge(document)
    assert judgement.valid and judgement.schema_to_send == GWDM_10
    assert not judgement.as_sent.valid and judgement.as_sent.schema == GWDM_10
    assert any(n.path == "$.summary.controlledKeywords" and n.quirk is Quirk.EMPTY_TO_NULL for n in judgement.notes)
    assert judgement.warnings[0].startswith("Not valid GWDM 1.0 as written")
    assert not judge.judge(document, None, "strict").valid


def test_numeric_string_is_coerced_and_explained(judge: GatewayJudge) -> None:
    document = _hdruk400()
    document["summary"]["populationSize"] = "5"
    judgement = judge.judge(document, HDRUK_400)
    assert judgement.valid and not judgement.as_sent.valid
    note = next(n for n in judgement.notes if n.path == "$.summary.populationSize")
    assert note.quirk is Quirk.AJV_COERCION and 'sent as "5", validated as 5' in note.explanation


def test_whitespace_only_value_is_rejected_after_trimming(judge: GatewayJudge) -> None:
    document = example("fma-custodian-test-server/mdw/242c84be-a866-ac0c-0000-000000001bbd.json")
    judgement = judge.judge(document, SchemaRef("HDRUK", "2.1.0"))
    assert judgement.as_sent.valid and not judgement.valid
    assert any(n.quirk is Quirk.TRIM and n.decisive for n in judgement.notes)


def test_empty_object_arrives_as_an_array(judge: GatewayJudge) -> None:
    document = _hdruk400()
    document["enrichmentAndLinkage"] = {}
    judgement = judge.judge(document, HDRUK_400)
    assert judgement.as_sent.valid and not judgement.valid
    assert any(n.quirk is Quirk.PHP_ARRAYS and n.path == "$.enrichmentAndLinkage" for n in judgement.notes)


def test_revision_url_that_hangs_the_gateway_is_rejected_fast(judge: GatewayJudge) -> None:
    document = example("gateway-api/hdruk_3p0p0_dataset_min.json")
    judgement = judge.judge(document, HDRUK_300)
    assert not judgement.valid and judgement.hang and judgement.schema_to_send is None
    assert "would hang the Gateway's validator" in judgement.report.summary
    url_error = next(e for e in judgement.report.errors if e.path == "$.revisions[0].url")
    assert "backtracking" in url_error.message
    # A real host name does not hang (and is valid).
    for revision in document["revisions"]:
        revision["url"] = "https://example.org/dataset/" + revision["version"]
    assert not judge.traser(judge.preprocess(document), HDRUK_300).hang


def test_detection_hang_is_avoided_by_sending_input_schema(judge: GatewayJudge) -> None:
    judgement = judge.judge(example("schemata/HDRUK/2.1.2/example.json"))
    assert judgement.valid and judgement.schema_to_send == SchemaRef("HDRUK", "2.1.0")
    note = next(n for n in judgement.notes if n.quirk is Quirk.DETECTION_HANG)
    assert note.path == "$.revisions[0].url" and "input_schema" in note.explanation


def test_explain_prints_verdict_errors_and_each_quirk(judge: GatewayJudge) -> None:
    document = _hdruk400()
    document["coverage"]["followUp"] = "> 10 Years"
    lines = explain(judge.judge(document, HDRUK_400))
    assert lines[0].startswith("INVALID: the document is valid HDRUK 4.0.0 as sent, but the Gateway would reject it")
    assert any(line.startswith("  $.coverage.followUp:") for line in lines)
    assert "Gateway behaviour met:" in lines
    assert any("html-entities at $.coverage.followUp" in line for line in lines)
    valid = explain(judge.judge(_hdruk400(), None, "strict"))
    assert valid[0] == "VALID HDRUK 4.0.0 as sent (strict)."
    assert valid[1] == "It will be sent with input_schema=HDRUK&input_version=4.0.0."


def test_judgement_as_json(judge: GatewayJudge) -> None:
    document = _hdruk400()
    document["coverage"]["followUp"] = "> 10 Years"
    data = judge.judge(document, HDRUK_400).as_dict()
    assert json.loads(json.dumps(data)) == data
    assert (data["valid"], data["schema"], data["schema_to_send"], data["as_sent"]["valid"]) == (
        False,
        "HDRUK 4.0.0",
        None,
        True,
    )
    assert data["notes"][0]["quirk"] == "html-entities" and data["notes"][0]["decisive"] is True


def test_strict_mode_is_the_schema_pack_verdict(judge: GatewayJudge, pack: SchemaPack) -> None:
    document = _hdruk400()
    document["summary"]["populationSize"] = "5"
    assert judge.judge(document, HDRUK_400, "strict").report == pack.validate(document, HDRUK_400)


def test_unknown_schema_is_refused(judge: GatewayJudge) -> None:
    with pytest.raises(Exception, match="not in the schema pack"):
        judge.judge(_hdruk400(), SchemaRef("HDRUK", "9.9.9"))


# --- configuration ---------------------------------------------------------------------------------------

REQUIRED = {"GATEWAY_SECRET_ID": "s", "LEDGER_TABLE": "t", "DLQ_URL": "https://sqs.example/q"}


def test_validation_mode_setting() -> None:
    def mode(env: dict[str, str]) -> Any:
        (spec,) = Settings.from_env(env).routes
        return route.build(spec, Common()).validation_mode

    assert mode(REQUIRED) is ValidationMode.GATEWAY
    assert mode({**REQUIRED, "VALIDATION_MODE": " Strict "}) is ValidationMode.STRICT
    with pytest.raises(ConfigError, match="VALIDATION_MODE='lenient' must be 'gateway' or 'strict'"):
        Settings.from_env({**REQUIRED, "VALIDATION_MODE": "lenient"})
