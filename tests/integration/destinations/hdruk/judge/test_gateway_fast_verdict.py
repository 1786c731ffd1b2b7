"""The fast verdict (``GatewayJudge.fast_judgement``) beside the emulation it stands in for.

The fast verdict answers from jsonschema-rs alone when the Gateway's pre-processing leaves a document unchanged
and the document is valid against a schema's stricter *twin*; detection passes over earlier schemas only on a
*robust* failure. Each of those three claims is checked here on every example document under
``../shared/hdruk/examples`` (as is and scrubbed clean, so that most of them qualify), against every schema:
whatever the fast verdict decides, the emulation (which agrees with TRASER's 748 measured verdicts) decides
the same, and the whole judgement (report, warnings, notes) is identical.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from hdr_ingest.destinations.hdruk.judge import (
    Change,
    GatewayJudge,
    Judgement,
    ValidationMode,
    cleanup,
    gateway_preprocess,
)
from hdr_ingest.destinations.hdruk.judge.ajv import SchemaDoc
from hdr_ingest.destinations.hdruk.judge.cleanup import cleaned
from hdr_ingest.destinations.hdruk.judge.fast import Twin, is_clean
from hdr_ingest.destinations.hdruk.judge.formats import FORMATS
from hdr_ingest.destinations.hdruk.schema_pack import SchemaPack, SchemaRef
from hdr_ingest.destinations.jsonschema_rust import engine as _rust_engine
from tests.conftest import SHARED
from tests.unit.destinations.hdruk.judge.test_gateway_fidelity import GATEWAY_WHITE_SPACE, WHITE_SPACE_IDS

pytestmark = pytest.mark.integration

HDRUK = SHARED / "hdruk"
HDRUK_400 = SchemaRef("HDRUK", "4.0.0")
UUID = "7eb5d9ff-0d54-4438-9c60-423848aebb4c"


def _compact(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def _scrub(value: Any) -> Any:
    """The same document with nothing the Gateway's pre-processing would change."""
    if isinstance(value, str):
        kept = "".join(c for c in value if c.isascii() and c.isprintable() and c not in "&'<>\"\\").strip()
        return kept or "n/a"
    if isinstance(value, dict):
        return {key: _scrub(item) for key, item in value.items()} or None
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    return value


def _examples() -> list[tuple[str, Any]]:
    verdicts = HDRUK / "traser-verdicts.json"
    if not verdicts.is_file():
        pytest.fail(f"{verdicts} is missing: these tests need ../shared/hdruk beside the checkout")
    out: list[tuple[str, Any]] = []
    for name in json.loads(verdicts.read_text(encoding="utf-8"))["documents"]:
        relative, _, member = name.partition("#")
        document = json.loads((HDRUK / "examples" / relative).read_text(encoding="utf-8"))
        document = document[member] if member else document
        out += [(name, document), (f"{name} (scrubbed)", _scrub(document))]
    return out


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, Any]]:
    return _examples()


@pytest.fixture(scope="module")
def judge(pack: SchemaPack) -> GatewayJudge:
    if not pack.fast:
        pytest.fail("jsonschema-rs is not installed: the fast verdict cannot be tested")
    return GatewayJudge(pack)


@pytest.fixture(scope="module")
def emulation(pack: SchemaPack) -> GatewayJudge:
    return GatewayJudge(pack, fast=False)


@pytest.fixture(scope="module")
def valid_400(corpus: list[tuple[str, Any]], emulation: GatewayJudge) -> Any:
    """A clean example document that the Gateway accepts as HDRUK 4.0.0."""
    for _, document in corpus:
        if is_clean(_compact(document)):
            judgement = emulation.judge(document, HDRUK_400)
            if judgement.valid:
                return copy.deepcopy(document)
    pytest.fail("no clean, valid HDRUK 4.0.0 document among the examples")


def _fast(judge: GatewayJudge, document: Any, target: SchemaRef | None, mode: ValidationMode) -> Judgement | None:
    return judge.fast_judgement(document, target, mode, None)


# --- the whole judgement -----------------------------------------------------------------------------------


def test_the_fast_judgement_is_the_emulations_judgement(
    judge: GatewayJudge, emulation: GatewayJudge, corpus: list[tuple[str, Any]]
) -> None:
    decided = 0
    for name, document in corpus:
        for mode in ValidationMode:
            targets = [None, *(ref for ref in judge.pack.refs if judge._twin(ref) and judge._twin(ref).valid(document))]  # type: ignore[union-attr]
            for target in targets:
                fast = _fast(judge, document, target, mode)
                if fast is None:
                    continue
                decided += 1
                slow = emulation.judge(document, target, mode)
                assert fast.as_dict() == slow.as_dict(), (name, mode, target)
                assert judge.judge(document, target, mode).as_dict() == slow.as_dict()
    assert decided >= 40, f"the fast verdict decided only {decided} judgements: the test would prove little"


def test_a_document_the_gateway_re_encodes_is_decided_fast_as_the_emulation_decides(
    judge: GatewayJudge, emulation: GatewayJudge, valid_400: Any
) -> None:
    quoted = copy.deepcopy(valid_400)
    quoted["summary"]["title"] = "Children's asthma & allergy cohort"
    fast = _fast(judge, quoted, None, ValidationMode.GATEWAY)
    assert fast is not None
    assert fast.as_dict() == emulation.judge(quoted, None).as_dict()
    assert fast.valid and fast.report.schema == HDRUK_400
    assert any("HTML-encoded" in warning for warning in fast.warnings)


def test_a_value_the_clean_up_mends_is_left_to_the_emulation(
    judge: GatewayJudge, emulation: GatewayJudge, valid_400: Any
) -> None:
    padded = copy.deepcopy(valid_400)
    padded["version"] = f" {padded['version']} "  # invalid as sent (pattern), valid once the Gateway trims it
    assert not judge.pack.is_valid(padded, HDRUK_400)
    assert _fast(judge, padded, HDRUK_400, ValidationMode.GATEWAY) is None
    assert judge.judge(padded, HDRUK_400).as_dict() == emulation.judge(padded, HDRUK_400).as_dict()


def test_a_value_only_ajv_accepts_is_left_to_the_emulation(
    judge: GatewayJudge, emulation: GatewayJudge, valid_400: Any
) -> None:
    coerced = copy.deepcopy(valid_400)
    coerced["summary"]["populationSize"] = "1200"  # a string where an integer is due: Ajv coerces it
    assert _fast(judge, coerced, HDRUK_400, ValidationMode.GATEWAY) is None
    judgement = judge.judge(coerced, HDRUK_400)
    assert judgement.valid, judgement.report.summary
    assert not judgement.as_sent.valid
    assert judgement.as_dict() == emulation.judge(coerced, HDRUK_400).as_dict()


def test_a_revision_url_that_hangs_traser_is_left_to_the_emulation(judge: GatewayJudge, valid_400: Any) -> None:
    hanging = copy.deepcopy(valid_400)
    hanging["revisions"] = [{"version": "1.0.0", "url": f"https://{UUID}"}]
    assert is_clean(_compact(hanging))
    assert _fast(judge, hanging, None, ValidationMode.GATEWAY) is None
    notes = judge.judge(hanging, None).notes
    assert any(note.quirk.name in ("DETECTION_HANG", "REGEX_HANG") for note in notes)


def test_an_invalid_document_gets_every_error_from_the_emulation(judge: GatewayJudge, valid_400: Any) -> None:
    broken = copy.deepcopy(valid_400)
    broken["summary"]["populationSize"] = {"count": 1}
    assert _fast(judge, broken, HDRUK_400, ValidationMode.GATEWAY) is None
    judgement = judge.judge(broken, HDRUK_400)
    assert not judgement.valid
    assert [e.path for e in judgement.report.errors] == ["$.summary.populationSize"]


# --- the three claims, schema by schema --------------------------------------------------------------------


def test_a_twin_never_accepts_what_traser_or_the_pack_rejects(
    judge: GatewayJudge, corpus: list[tuple[str, Any]]
) -> None:
    accepted = 0
    for name, document in corpus:
        if not is_clean(_compact(document)):
            continue
        for ref in judge.pack.refs:
            twin = judge._twin(ref)
            if twin is None or not twin.valid(document):
                continue
            accepted += 1
            assert judge.traser(document, ref, all_errors=False).valid, (name, ref)
            assert judge.pack.is_valid(document, ref), (name, ref)
    assert accepted >= 20, accepted


def test_a_robust_failure_is_a_traser_failure(judge: GatewayJudge, corpus: list[tuple[str, Any]]) -> None:
    robust = 0
    for name, document in corpus:
        seen = judge.preprocess(document)
        for ref in judge.pack.refs:
            twin = judge._twin(ref)
            if twin is not None and twin.fails_robustly(seen):
                robust += 1
                assert not judge.traser(seen, ref, all_errors=False).valid, (name, ref)
    assert robust >= 500, robust


@pytest.mark.parametrize(
    "document",
    [
        {"a": " x"},
        {"a": "x "},
        {"a": ""},
        {"a": "\tx"},
        {"a": "x\n"},
        {"a": "\x0bx"},
        {"a": "x\x00"},
        {"a": "R&D"},
        {"a": "it's"},
        {"a": "<b>"},
        {"a": "> 10 years"},
        {"a": 'say "hi"'},
        {"a": "café"},
        {"a": "\u00a0x"},
        {"a": "x\ufeff"},
        {"a": {}},
        {"a": {"0": "x", "1": "y"}},
        [" x"],
    ],
)
def test_anything_the_gateway_would_change_is_not_clean(document: Any) -> None:
    assert gateway_preprocess(document, php_arrays=True) != document
    assert not is_clean(_compact(document))
    assert not is_clean(json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


@pytest.mark.parametrize("cp", GATEWAY_WHITE_SPACE, ids=WHITE_SPACE_IDS)
def test_gateway_white_space_at_either_end_is_not_clean(cp: int) -> None:
    for document in ({"a": f"{chr(cp)}x"}, {"a": f"x{chr(cp)}"}, [f"x{chr(cp)}"]):
        assert gateway_preprocess(document, html_entities=False) != document
        assert not is_clean(_compact(document)), document
        assert not is_clean(json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


@pytest.mark.parametrize("cp", GATEWAY_WHITE_SPACE, ids=WHITE_SPACE_IDS)
def test_a_value_ending_in_gateway_white_space_is_judged_as_the_emulation_judges_it(
    judge: GatewayJudge, emulation: GatewayJudge, valid_400: Any, cp: int
) -> None:
    padded = copy.deepcopy(valid_400)
    padded["summary"]["title"] = f"{chr(cp)}{padded['summary']['title']}{chr(cp)}"
    for target in (None, HDRUK_400):
        for mode in ValidationMode:
            slow = emulation.judge(padded, target, mode).as_dict()
            fast = _fast(judge, padded, target, mode)
            assert fast is None or fast.as_dict() == slow
            assert judge.judge(padded, target, mode).as_dict() == slow
    assert judge.judge(padded, HDRUK_400).valid  # the Gateway trims it


def test_clean_documents_are_left_unchanged(corpus: list[tuple[str, Any]]) -> None:
    clean = [document for _, document in corpus if is_clean(_compact(document))]
    assert len(clean) >= 30
    for document in clean:
        assert gateway_preprocess(document, php_arrays=True) == document


def test_a_default_ajv_rejects_becomes_required_in_the_twin(judge: GatewayJudge) -> None:
    """CRUK 1.0.0: Ajv inserts summary.leadResearcher = null, coerces it to "" and fails minLength."""
    twin = judge._twin(SchemaRef("CRUK", "1.0.0"))
    assert twin is not None
    original = twin.doc.root["$defs"]["Summary"]
    assert "leadResearcher" not in original["required"] and original["properties"]["leadResearcher"]["default"] is None
    summary = twin._twin(twin.doc.root)["$defs"]["Summary"]
    assert "leadResearcher" in summary["required"]
    assert set(original["required"]) < set(summary["required"])


SAMPLES = {
    "date": ["2024-02-29", "2023-02-29", "0000-01-01", "2024-13-01", "2024-1-01", "2024-01-01 ", "２０２４-01-01"],
    "date-time": [
        "2024-01-01T10:00:00Z",
        "2024-01-01t10:00:00+01:00",
        "2024-01-01 10:00:00Z",
        "2024-01-01T10:00:00",
        "2024-01-01T23:59:60Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T10:00:00.123+0100",
    ],
    "uri": [
        "https://example.org/a?b=c#d",
        "HTTPS://EXAMPLE.ORG",
        "urn:isbn:0451450523",
        "example.org",
        "https://exa mple.org",
        "http://[::1]:80/",
        "mailto:a@b.c",
        "https://example.org/%zz",
    ],
    "email": ["a@b.co", "a.b-c@d-e.example.org", "a@localhost", "a b@c.de", "a@b_c.de", "a@-b.de", "é@b.de"],
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_twin_formats_accept_no_more_than_ajv_formats_or_jsonschema(name: str, pack: SchemaPack) -> None:
    from jsonschema import Draft202012Validator

    engine = _rust_engine()
    twin = Twin(SchemaDoc(SchemaRef("test", name), {"type": "string", "format": name}), engine)
    checker = Draft202012Validator.FORMAT_CHECKER
    accepted = [value for value in SAMPLES[name] if twin.valid(value)]
    assert accepted, f"the {name} twin accepts none of the samples"
    for value in accepted:
        assert FORMATS[name](value), value
        assert checker.conforms(value, name), value


# --- documents the Gateway re-encodes: the clean-up where it changes something, then the fast verdict -------

# What real metadata carries, each a way the Gateway changes a string: (name, how a string is changed).
RE_ENCODINGS: dict[str, Any] = {
    "non-ASCII": lambda s: f"{s} (EMIS Web® – Zoë’s cohort)",
    "apostrophe": lambda s: f"{s} it's",
    "ampersand": lambda s: f"R&D: {s}",
    "double quote": lambda s: f'{s} "linked"',
    "less than": lambda s: f"{s} <b>",
    "greater than": lambda s: f"> 10 years: {s}",
    "padded": lambda s: f" \u00a0{s}\t",
    "empty": lambda s: "",
}
FREE_TEXT = frozenset({"title", "abstract", "description", "disambiguatingDescription", "purpose", "name"})


def _re_encoded(value: Any, change: Any, every: int, counter: list[int], key: str = "") -> Any:
    """``value`` with ``change`` applied to every ``every``-th string (every: 0, only free-text fields)."""
    if isinstance(value, str):
        counter[0] += 1
        hit = key in FREE_TEXT if every == 0 else counter[0] % every == 0
        return change(value) if hit else value
    if isinstance(value, dict):
        return {k: _re_encoded(item, change, every, counter, k) for k, item in value.items()}
    if isinstance(value, list):
        return [_re_encoded(item, change, every, counter, key) for item in value]
    return value


@pytest.fixture(scope="module")
def re_encoded(corpus: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Every example (as is and scrubbed) in each re-encoded variant: free text only (mostly still valid) and
    every third string (often not)."""
    out: list[tuple[str, Any]] = []
    for name, document in corpus:
        for kind, change in RE_ENCODINGS.items():
            for every in (0, 3):
                variant = _re_encoded(document, change, every, [0])
                if not is_clean(_compact(variant)):
                    out.append((f"{name} ({kind}, {'free text' if every == 0 else 'every 3rd string'})", variant))
    return out


@pytest.mark.parametrize("small", [cleanup._SMALL, 0], ids=["as set", "enum probe at any size"])
def test_the_clean_up_where_it_changes_something_is_the_whole_clean_up(
    re_encoded: list[tuple[str, Any]], small: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cleanup, "_SMALL", small)
    engine = _rust_engine()
    extra = [
        ("PHP arrays", {"a": {}, "b": {"0": " x", "1": {"0": {}}}, "c": [{}, {"1": "y", "0": "it's"}], "d": ""}),
        ("a changed root", {}),
        ("a string root", " it's "),
    ]

    def order(changes: list[Change]) -> list[tuple[str, str]]:
        return sorted((change.where, change.quirk.name) for change in changes)

    for name, document in [*re_encoded, *extra]:
        for html in (True, False):
            expected_changes: list[Change] = []
            expected = gateway_preprocess(document, html_entities=html, php_arrays=True, changes=expected_changes)
            texts = [None, _compact(document), json.dumps(document, sort_keys=True, separators=(",", ":"))]
            for text in texts:  # the probe for any text, the enum probe (given the text), escaped non-ASCII
                found = cleaned(document, engine, html_entities=html, text=text)
                assert found is not None, name
                seen, changes = found
                assert seen == expected, (name, text is None)
                assert _compact(seen) == _compact(expected), name  # the same key order as well
                assert order(changes) == order(expected_changes), name
                assert sorted(map(repr, changes)) == sorted(map(repr, expected_changes)), name


def test_a_re_encoded_document_gets_the_emulations_judgement(
    judge: GatewayJudge, emulation: GatewayJudge, re_encoded: list[tuple[str, Any]]
) -> None:
    decided = kinds = 0
    decided_kinds: set[str] = set()
    for name, document in re_encoded:
        seen = judge.preprocess(document)
        twins = ((ref, judge._twin(ref)) for ref in judge.pack.refs)
        valid = [ref for ref, twin in twins if twin is not None and twin.valid(seen)]
        for mode in ValidationMode:
            for target in [None, *valid[:2]]:
                fast = _fast(judge, document, target, mode)
                if fast is None:
                    continue
                decided += 1
                decided_kinds.add(name.rsplit("(", 1)[1].split(",")[0])
                slow = emulation.judge(document, target, mode)
                assert fast.as_dict() == slow.as_dict(), (name, mode, target)
                assert judge.judge(document, target, mode).as_dict() == slow.as_dict(), (name, mode, target)
        kinds += 1
    # An empty string becomes null, which the twin refuses where a string is due (Ajv coerces it back to ""):
    # those are left to the emulation, like every value the clean-up mends.
    undecided = set(RE_ENCODINGS) - {"empty"} - decided_kinds
    assert not undecided, f"no re-encoded variant decided fast for {undecided}"
    assert decided >= 100, f"the fast verdict decided only {decided} re-encoded judgements of {kinds} documents"
