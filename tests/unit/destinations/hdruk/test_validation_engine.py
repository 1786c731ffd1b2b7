"""The fast engine (jsonschema-rs) gives the verdict of the reference engine (pure-Python jsonschema with RE2
patterns) on every example document against every schema, and on invalid variants of them; invalid documents
get the same errors, with the same paths and messages, whichever engine found them invalid."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import pytest
import re2
from jsonschema import Draft7Validator, Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from hdr_ingest.core.outcome import ErrorDetail
from hdr_ingest.destinations import jsonschema_rust as rust
from hdr_ingest.destinations.hdruk import schema_pack as engine
from hdr_ingest.destinations.hdruk.schema_pack import SchemaPack, SchemaRef
from tests.conftest import EXAMPLES, PACK_DIR

pytestmark = pytest.mark.unit

HDRUK_400 = SchemaRef("HDRUK", "4.0.0")
HDRUK_300 = SchemaRef("HDRUK", "3.0.0")


# --- the reference: jsonschema as it comes, with RE2 for ``pattern`` -----------------------------------------


def _matches(pattern: str, text: str) -> bool:
    try:
        return re2.search(pattern, text) is not None
    except UnicodeEncodeError:  # RE2 takes UTF-8 only: a string with an unpaired surrogate matches no pattern
        return False


def _re2_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if isinstance(instance, str) and not _matches(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


class Oracle:
    """Pure-Python jsonschema, built here without any of the pack's shortcuts."""

    def __init__(self, pack: SchemaPack) -> None:
        self.pack = pack
        self._validators: dict[SchemaRef, Any] = {}

    def validator(self, ref: SchemaRef) -> Any:
        if ref not in self._validators:
            schema = json.loads((PACK_DIR / ref.name / ref.version / "schema.json").read_text(encoding="utf-8"))
            base = validators.validator_for(schema, default=Draft202012Validator)
            if base not in (Draft7Validator, Draft202012Validator):
                base = Draft202012Validator
            cls = validators.extend(base, {"pattern": _re2_pattern})
            self._validators[ref] = cls(schema, format_checker=cls.FORMAT_CHECKER)
        return self._validators[ref]

    def is_valid(self, document: Any, ref: SchemaRef) -> bool:
        return bool(self.validator(ref).is_valid(document))

    def errors(self, document: Any, ref: SchemaRef) -> tuple[ErrorDetail, ...]:
        raw = sorted(self.validator(ref).iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
        return tuple(dict.fromkeys(detail for error in raw for detail in engine._describe(error)))


@pytest.fixture(scope="module")
def fast() -> SchemaPack:
    pack = SchemaPack.load(PACK_DIR)
    assert pack.fast, "jsonschema-rs is not installed: `pip install -r layers/shared/requirements.txt`"
    return pack


@pytest.fixture(scope="module")
def oracle(fast: SchemaPack) -> Oracle:
    return Oracle(fast)


@cache
def corpus() -> tuple[tuple[str, Any], ...]:
    """Every JSON file under shared/hdruk/examples, ``{"metadata": ...}`` unwrapped."""
    found = []
    for path in sorted(EXAMPLES.rglob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(document, dict) and list(document) == ["metadata"] and isinstance(document["metadata"], dict):
            document = document["metadata"]
        found.append((str(path.relative_to(EXAMPLES)), document))
    return tuple(found)


def hdruk400_with_structure(tables: int = 8, columns: int = 6) -> dict[str, Any]:
    document = copy.deepcopy(dict(corpus_document("schemata/HDRUK/4.0.0/docs.example.json")))
    document["structuralMetadata"] = {
        "tables": [
            {
                "name": f"table_{t}",
                "description": f"Table {t}",
                "columns": [
                    {
                        "name": f"column_{t}_{c}",
                        "dataType": "VARCHAR(255)",
                        "description": f"Column {c} of table {t}",
                        "sensitive": c % 3 == 0,
                        "values": [{"name": "A", "description": "first", "frequency": 10}],
                    }
                    for c in range(columns)
                ],
            }
            for t in range(tables)
        ]
    }
    return document


def corpus_document(relative: str) -> Any:
    return dict(corpus())[relative]


# --- invalid (and a few valid) variants ---------------------------------------------------------------------


def _set(path: tuple[Any, ...], value: Any) -> Callable[[Any], None]:
    def apply(document: Any) -> None:
        node = document
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return apply


def _drop(path: tuple[Any, ...]) -> Callable[[Any], None]:
    def apply(document: Any) -> None:
        node = document
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return apply


HDRUK_400_VARIANTS: dict[str, Callable[[Any], None]] = {
    "no title": _drop(("summary", "title")),
    "no summary": _drop(("summary",)),
    "unknown field": _set(("surprise",), 1),
    "population as text": _set(("summary", "populationSize"), "many"),
    "population 1.0": _set(("summary", "populationSize"), 1.0),
    "population 1.5": _set(("summary", "populationSize"), 1.5),
    "population huge": _set(("summary", "populationSize"), 10**40),
    "population true": _set(("summary", "populationSize"), True),
    "population inf": _set(("summary", "populationSize"), float("inf")),
    "follow-up html-encoded": _set(("coverage", "followUp"), "&gt; 10 Years"),
    "follow-up unknown": _set(("coverage", "followUp"), "UNKNOWN"),
    "issued not a date-time": _set(("issued",), "yesterday"),
    "issued without zone": _set(("issued",), "2024-01-01T10:00:00"),
    "issued leap second": _set(("issued",), "1990-12-31T23:59:60Z"),
    "issued lower-case t": _set(("issued",), "2024-01-01t10:00:00z"),
    "issued trailing newline": _set(("issued",), "2024-01-01T10:00:00Z\n"),
    "modified date only": _set(("modified",), "2024-02-30"),
    "version 2 parts": _set(("version",), "1.0"),
    "version unicode digits": _set(("version",), "١.٢.٣"),
    "version trailing newline": _set(("version",), "1.0.0\n"),
    "identifier empty": _set(("identifier",), ""),
    "identifier lone surrogate": _set(("identifier",), "abc\ud800"),
    "title lone surrogate": _set(("summary", "title"), "Title \ud800"),
    "e-mail with a space": _set(("summary", "contactPoint"), "a b@c"),
    "e-mail without @": _set(("summary", "contactPoint"), "nobody.example.org"),
    "e-mail unusual but accepted": _set(("summary", "contactPoint"), "<first..last>@-x"),
    "revisions not a list": _set(("revisions",), {"version": "1.0.0"}),
    "revision url relative": _set(("revisions",), [{"version": "1.0.0", "url": "/relative"}]),
    "revision url with space": _set(("revisions",), [{"version": "1.0.0", "url": "https://exa mple.org"}]),
    "revision url nbsp": _set(("revisions",), [{"version": "1.0.0", "url": "https://example.org/\u00a0x"}]),
    "revision uuid url": _set(
        ("revisions",), [{"version": "1.0.0", "url": "https://d5faf9c6-6c34-46d7-93c4-7706a5436ed9"}]
    ),
    "accessibility null": _set(("accessibility",), None),
    "observations empty": _set(("observations",), []),
    "observations wrong item": _set(("observations",), ["x"]),
    "column sensitive as text": lambda d: _set(("structuralMetadata", "tables", 3, "columns", 4, "sensitive"), "yes")(
        d
    ),
    "column without name": lambda d: _drop(("structuralMetadata", "tables", 7, "columns", 0, "name"))(d),
    "value frequency 2.0": lambda d: _set(
        ("structuralMetadata", "tables", 1, "columns", 1, "values", 0, "frequency"), 2.0
    )(d),
    "value frequency text": lambda d: _set(
        ("structuralMetadata", "tables", 1, "columns", 1, "values", 0, "frequency"), "10"
    )(d),
    "table extra field": lambda d: _set(("structuralMetadata", "tables", 7, "owner"), "x")(d),
    "many errors": lambda d: [
        _set(("structuralMetadata", "tables", t, "columns", c, "sensitive"), "no")(d)
        for t in range(8)
        for c in range(6)
    ],
}

# Values of other schemas' fields where patterns and formats live (HDRUK 3.0.0's UrlV2, GWDM, 2.x).
HDRUK_300_VARIANTS: dict[str, Callable[[Any], None]] = {
    "revision uuid url": _set(
        ("revisions",), [{"version": "1.0.0", "url": "https://d5faf9c6-6c34-46d7-93c4-7706a5436ed9"}]
    ),
    "revision url vertical tab": _set(("revisions",), [{"version": "1.0.0", "url": "\u000bhttps://example.org"}]),
    "revision url nbsp": _set(("revisions",), [{"version": "1.0.0", "url": "\u00a0https://example.org"}]),
    "revision url newline": _set(("revisions",), [{"version": "1.0.0", "url": "https://example.org\n"}]),
    "revision url ok": _set(("revisions",), [{"version": "1.0.0", "url": "https://example.org/a?b=c"}]),
    "doi unicode digits": _set(("summary", "doiName"), "10.١٢٣٤/abc"),
    "doi ok": _set(("summary", "doiName"), "10.1234/abc-(x)"),
    "no identifier": _drop(("identifier",)),
}


def variants() -> Iterator[tuple[str, SchemaRef, Any]]:
    base400 = hdruk400_with_structure()
    for name, mutate in HDRUK_400_VARIANTS.items():
        document = copy.deepcopy(base400)
        mutate(document)
        yield f"HDRUK 4.0.0 / {name}", HDRUK_400, document
    base300 = corpus_document("traser/hdruk300.json")
    for name, mutate in HDRUK_300_VARIANTS.items():
        document = copy.deepcopy(base300)
        mutate(document)
        yield f"HDRUK 3.0.0 / {name}", HDRUK_300, document
    # Every example with its first string value changed into a few awkward ones.
    for relative, document in corpus():
        if not isinstance(document, dict):
            continue
        for key, value in document.items():
            if isinstance(value, str):
                for odd in ("", " ", "\u00a0", "x\ud800"):
                    changed = dict(document)
                    changed[key] = odd
                    yield f"{relative} / {key}={odd!r}", HDRUK_400, changed
                break


# --- the tests -----------------------------------------------------------------------------------------------


def test_every_schema_has_an_exact_fast_engine(fast: SchemaPack) -> None:
    assert all(fast._fast_schema(ref) is not None for ref in fast.refs)


def test_fast_verdict_agrees_with_jsonschema_on_every_example_and_schema(fast: SchemaPack, oracle: Oracle) -> None:
    documents = [*corpus(), ("generated HDRUK 4.0.0 8x6", hdruk400_with_structure())]
    disagreements = [
        (relative, str(ref), verdict)
        for relative, document in documents
        for ref in fast.refs
        if (verdict := fast.is_valid(document, ref)) != oracle.is_valid(document, ref)
    ]
    assert not disagreements
    assert len(documents) * len(fast.refs) > 600


def test_fast_verdict_agrees_on_invalid_variants_against_every_schema(fast: SchemaPack, oracle: Oracle) -> None:
    checked = invalid = 0
    for label, target, document in variants():
        for ref in fast.refs:
            expected = oracle.is_valid(document, ref)
            assert fast.is_valid(document, ref) == expected, f"{label} against {ref}"
            checked += 1
        if not oracle.is_valid(document, target):
            invalid += 1
            assert fast.errors(document, target) == oracle.errors(document, target), label
    assert checked > 2000 and invalid > 50


def test_detection_and_reports_are_those_of_pure_python(fast: SchemaPack) -> None:
    pure = SchemaPack.load(PACK_DIR, fast=False)
    assert not pure.fast
    documents = [document for _, document in corpus()] + [d for _, _, d in variants()][:20]
    for document in documents:
        assert fast.validate(document) == pure.validate(document)


FORMAT_SAMPLES = {
    "email": ["a@b", "a b@c", "@", "foo@", "nobody", "<a@b>", "a@@b", "ünï@例子.测试", "", "a\n@"],
    "date": [
        "2024-02-29",
        "2023-02-29",
        "2020-1-01",
        "0000-01-01",
        "２０２０-01-01",
        "2020-01-01\n",
        "",
        "2020-01-01T00:00:00Z",
    ],
    "date-time": [
        "2024-01-01T10:00:00Z",
        "2024-01-01t10:00:00z",
        "2024-01-01T10:00:00",
        "1990-12-31T23:59:60Z",
        "2024-01-01 10:00:00Z",
        "2024-01-01T10:00:00+01:00",
        "2024-01-01T10:00:00.123456789-23:59",
        "2024-01-01T10:00:00+24:00",
        "2024-01-01T24:00:00Z",
        "2024-01-01T10:00:00Z\n",
        "2024-01-01T10:00:00Z\n\n",
        "2024-02-30T10:00:00Z",
        "0000-01-01T10:00:00Z",
        "2024-01-01T10:00:00.Z",
        "",
    ],
    "uri": [
        "https://example.org/a?b#c",
        "https://exa mple.org",
        "/relative",
        "urn:isbn:123",
        "http://[::1]",
        "http://[v1.x]/",
        "http://[1:2:3:4:5:6:7:8]",
        "http://[::ffff:1.2.3.4]/p",
        "http://[1:2:3:4:5:6:7:8:9]",
        "http://u:p@h:80/p;x?q=1&r=%20#f",
        "https://例子.测试",
        "https://x.org/é",
        "https://x.org/%zz",
        "https://x.org/%2F",
        "https://<uuid>",
        "h://x#y#z",
        "a:",
        "1a:b",
        "http://a\n",
        "http://a\n\n",
        "mailto:a@b",
        "",
    ],
}


def _format_validator(name: str) -> Any:
    """What the fast engine checks for ``{"type": "string", "format": name}``."""
    rs = rust.engine()
    assert rs is not None and rust.format_patterns()[name] is not None
    return rust.FastSchema(rs, {"type": "string", "format": name}).validator


def _unverbose(pattern: str) -> str:
    """A ``re.VERBOSE`` pattern without its layout and comments."""
    out, in_class, i = [], False, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class or char == "[":
            in_class = char != "]"
            out.append(char)
        elif char == "#":
            i = pattern.find("\n", i) if "\n" in pattern[i:] else len(pattern)
            continue
        elif not char.isspace():
            out.append(char)
        i += 1
    return "".join(out)


def test_uri_expression_is_rfc3986_validators() -> None:
    import rfc3986_validator

    assert rust.URI == _unverbose(rfc3986_validator.URI_RE).replace("{,", "{0,")


@pytest.mark.parametrize("name", sorted(FORMAT_SAMPLES))
def test_formats_are_checked_as_jsonschema_checks_them(name: str) -> None:
    validator = _format_validator(name)
    samples = list(FORMAT_SAMPLES[name])
    if name in ("date", "date-time"):  # every month and day of years around the leap-year rules
        for year in (0, 1, 4, 99, 100, 200, 400, 1600, 1900, 1999, 2000, 2023, 2024, 2100, 2400, 9996, 9999):
            for month in range(14):
                for day in range(33):
                    text = f"{year:04d}-{month:02d}-{day:02d}"
                    samples.append(text if name == "date" else f"{text}T12:30:59Z")
    for cls in (Draft7Validator, Draft202012Validator):
        for value in samples:
            assert validator.is_valid(value) == cls.FORMAT_CHECKER.conforms(value, name), (name, value)


def test_draft_choice_is_jsonschema_s(fast: SchemaPack) -> None:
    for ref in fast.refs:
        schema = fast.schema(ref)
        assert rust.is_draft7(schema) == (
            validators.validator_for(schema, default=Draft202012Validator) is Draft7Validator
        )


def _pack_patterns(pack: SchemaPack) -> set[str]:
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "pattern" and isinstance(value, str):
                    found.add(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for ref in pack.refs:
        walk(pack.schema(ref))
    return found


def test_every_pattern_in_the_pack_matches_as_on_re2(fast: SchemaPack) -> None:
    rs = rust.engine()
    assert rs is not None
    probes = [
        "", " ", "\t", "\n", "\u000b", "\u00a0", "\u2028", "a", "A1", "1.2.3", "١.٢.٣", "1.2.3\n", "10.1234/abc",
        "GB", "GB-ENG", "C12.1234/1", "12-34", "Not Known", "150-150", "2024-01-01/..", "2024-01-01/2024-12-31",
        "https://example.org/x", "https://ror.org/0abc", "https://d5faf9c6-6c34-46d7-93c4-7706a5436ed9",
        "d5faf9c6-6c34-46d7-93c4-7706a5436ed9", "-45.5", "179.99", "a,b", ",", "1_2_3", "In Progress",
    ]  # fmt: skip
    patterns = _pack_patterns(fast)
    assert len(patterns) > 10
    for pattern in patterns:
        validator = rs.validator_for(
            {"type": "string", "pattern": rust.rust_pattern(pattern)}, pattern_options=rs.RegexOptions()
        )
        for probe in probes:
            assert validator.is_valid(probe) == bool(re2.search(pattern, probe)), (pattern, probe)


@pytest.mark.parametrize(
    ("pattern", "rewritten"),
    [
        (r"^\d+$", "^[0-9]+$"),
        (r"[^\s]*", r"[^\t\n\f\r ]*"),
        (r"\S+\.\w", r"[^\t\n\f\r ]+\.[0-9A-Za-z_]"),
        (r"^[C\d]{3}\/x$", r"^[C0-9]{3}\/x$"),
    ],
)
def test_pattern_rewriting(pattern: str, rewritten: str) -> None:
    assert rust.rust_pattern(pattern) == rewritten


@pytest.mark.parametrize(
    "pattern", [r"\bword\b", r"[\S]", r"(a)\1", r"\p{L}", "[[:alpha:]]", "[a&&b]", "a{,3}", "[]a]"]
)
def test_constructs_without_an_exact_equivalent_stay_in_python(pattern: str) -> None:
    with pytest.raises(rust.Inexact):
        rust.rust_pattern(pattern)
    pack = SchemaPack(PACK_DIR, [HDRUK_400])
    pack._schemas[HDRUK_400] = {"type": "string", "pattern": pattern}
    assert pack._fast_schema(HDRUK_400) is None
    assert pack.is_valid("word", HDRUK_400) == bool(engine._compile(pattern).search("word"))


def test_hdruk_300_uuid_url_is_judged_in_microseconds(fast: SchemaPack) -> None:
    document = corpus_document("gateway-api/hdruk_3p0p0_dataset_min.json")
    fast.is_valid(document, HDRUK_300)  # compile
    started = time.perf_counter()
    for _ in range(100):
        assert not fast.is_valid(document, HDRUK_300)
    assert (time.perf_counter() - started) / 100 < 0.01


def test_documents_the_fast_engine_cannot_take_are_judged_in_python(fast: SchemaPack, oracle: Oracle) -> None:
    document = hdruk400_with_structure(2, 2)
    document["summary"]["title"] = "lone \ud800 surrogate"
    document["identifier"] = "https://example.org/\ud800"  # a pattern meets the unpaired surrogate
    fast_schema = fast._fast_schema(HDRUK_400)
    assert fast_schema is not None
    with pytest.raises(UnicodeEncodeError):
        fast_schema.validator.is_valid(document)
    assert fast.is_valid(document, HDRUK_400) is oracle.is_valid(document, HDRUK_400) is False
    assert "$.identifier" in {e.path for e in fast.errors(document, HDRUK_400)}


def test_without_jsonschema_rs_everything_runs_in_python(monkeypatch: pytest.MonkeyPatch, oracle: Oracle) -> None:
    monkeypatch.setattr(rust, "engine", lambda: None)
    pack = SchemaPack.load(PACK_DIR)
    assert not pack.fast and pack._fast_schema(HDRUK_400) is None
    valid = hdruk400_with_structure(2, 2)
    invalid = copy.deepcopy(valid)
    del invalid["summary"]["title"]
    assert pack.validate(valid).schema == HDRUK_400
    assert pack.errors(invalid, HDRUK_400) == oracle.errors(invalid, HDRUK_400)


def test_large_invalid_document_gets_its_errors_quickly(fast: SchemaPack, oracle: Oracle) -> None:
    document = hdruk400_with_structure(tables=300, columns=50)
    document["structuralMetadata"]["tables"][250]["columns"][7]["sensitive"] = "yes"
    started = time.perf_counter()
    report = fast.validate(document)
    elapsed = time.perf_counter() - started
    assert not report.valid and report.schema == HDRUK_400
    assert report.errors == oracle.errors(document, HDRUK_400)
    assert [e.path for e in report.errors] == ["$.structuralMetadata.tables[250].columns[7].sensitive"]
    assert elapsed < 5


def test_short_repr_is_repr_or_a_long_prefix_of_it() -> None:
    small: Any = {"a": [1, 2.5, None, True, "x'y\"z", {"b": []}], "é": {}}
    assert engine._short_repr(small) == repr(small)
    large = {"tables": [{"name": f"t{i}", "columns": list(range(50))} for i in range(200)]}
    text = engine._short_repr(large)
    assert len(text) > engine._REPR_LIMIT and repr(large).startswith(text)


def test_closest_schema_is_unchanged_by_listing_errors_only_for_candidates(fast: SchemaPack, oracle: Oracle) -> None:
    for relative, document in corpus():
        if fast.detect(document) is not None or not isinstance(document, dict):
            continue
        keys = set(document)
        scores = []
        for ref in fast.refs:
            known = set(fast.schema(ref).get("properties", {}))
            scores.append(((len(keys - known), len(oracle.errors(document, ref))), ref))
        expected = min(scores, key=lambda pair: pair[0])[1]
        assert fast.validate(document).schema == expected, relative
