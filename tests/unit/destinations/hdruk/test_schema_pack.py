from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from hdr_ingest.destinations.hdruk.schema_pack import SchemaPack, SchemaPackError, SchemaRef, json_path
from tests.conftest import example

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("schemata/HDRUK/4.0.0/docs.example.json", "HDRUK 4.0.0"),
        ("traser/hdruk300.json", "HDRUK 3.0.0"),
        ("gateway-api/HDRUK_3.0.0.example.json", "HDRUK 3.0.0"),
        ("traser/hdrukv211.json", "HDRUK 2.1.2"),
        # The Gateway picks the first match: this 2.1.2 example validates against 2.1.0 first.
        ("schemata/HDRUK/2.1.2/example.json", "HDRUK 2.1.0"),
        ("fma-custodian-test-server/exemplar/1460e2b4-a985-4890-8e60-a21e78ce01f3.json", "HDRUK 2.2.0"),
        ("traser/gwdm20.json", "GWDM 2.0"),
        ("schemata/GWDM/1.0/example.json", "GWDM 1.0"),
        ("schemata/CRUK/1.0.0/example.json", "CRUK 1.0.0"),
    ],
)
def test_detects_the_schema_the_gateway_would_pick(pack: SchemaPack, relative: str, expected: str) -> None:
    report = pack.validate(example(relative))
    assert report.valid, report.errors
    assert str(report.schema) == expected


def test_available_order_is_kept(pack: SchemaPack) -> None:
    refs = [str(r) for r in pack.refs]
    assert refs[0] == "HDRUK 2.0.2"
    assert refs.index("HDRUK 4.0.0") < refs.index("GWDM 1.0") < refs.index("CRUK 1.0.0")


def _hdruk400() -> dict[str, Any]:
    return example("schemata/HDRUK/4.0.0/docs.example.json")


def test_every_error_is_reported_with_its_path(pack: SchemaPack) -> None:
    document = copy.deepcopy(_hdruk400())
    del document["summary"]["title"]
    document["summary"]["populationSize"] = "many"
    document["coverage"]["followUp"] = "Forever"
    document["issued"] = "yesterday"
    document["surprise"] = 1
    report = pack.validate(document, SchemaRef("HDRUK", "4.0.0"))
    assert not report.valid
    by_path = {e.path: e.message for e in report.errors}
    assert by_path["$.summary.title"] == "is required but missing; add it."
    assert "must be of type integer" in by_path["$.summary.populationSize"]
    assert '"> 10 Years"' in by_path["$.coverage.followUp"] and '"Forever"' in by_path["$.coverage.followUp"]
    assert "date-time" in by_path["$.issued"] or "date" in by_path["$.issued"]
    assert "not a field of this schema" in by_path["$.surprise"]
    assert len(report.errors) == 5
    assert "does not conform to HDRUK 4.0.0: 5 errors" in report.summary


def test_no_match_names_the_closest_schema_and_its_errors(pack: SchemaPack) -> None:
    document = copy.deepcopy(_hdruk400())
    del document["summary"]["title"]
    report = pack.validate(document)
    assert not report.valid
    assert str(report.schema) == "HDRUK 4.0.0"
    assert [e.path for e in report.errors] == ["$.summary.title"]
    assert "matches none of the 17 supported schemas; the closest is HDRUK 4.0.0 with 1 error" in report.summary


def test_hdruk_300_revision_url_does_not_hang(pack: SchemaPack) -> None:
    # This URL makes HDRUK 3.0.0's UrlV2 pattern backtrack for minutes in Python's re and in the Gateway.
    document = example("gateway-api/hdruk_3p0p0_dataset_min.json")
    started = time.perf_counter()
    report = pack.validate(document, SchemaRef("HDRUK", "3.0.0"))
    detection = pack.validate(document)
    elapsed = time.perf_counter() - started
    assert not report.valid and not detection.valid
    assert any(e.path.startswith("$.revisions[") and "pattern" in e.message for e in report.errors)
    assert elapsed < 5, f"validation took {elapsed:.1f}s"


def test_deeply_nested_document_is_invalid_not_a_crash(pack: SchemaPack) -> None:
    document: dict[str, Any] = {}
    node = document
    for _ in range(5000):
        node["summary"] = {}
        node = node["summary"]
    report = pack.validate(document, SchemaRef("HDRUK", "4.0.0"))
    assert not report.valid


def test_unknown_target_is_a_pack_error(pack: SchemaPack) -> None:
    with pytest.raises(SchemaPackError, match=r"HDRUK 9\.9\.9 is not in the schema pack"):
        pack.validate({}, SchemaRef("HDRUK", "9.9.9"))


def test_missing_pack_says_how_to_fill_it(tmp_path: Any) -> None:
    with pytest.raises(SchemaPackError, match="make schemas"):
        SchemaPack.load(tmp_path)


def test_schema_ref_parse() -> None:
    assert SchemaRef.parse(" HDRUK 4.0.0 ") == SchemaRef("HDRUK", "4.0.0")
    assert str(SchemaRef("GWDM", "2.0")) == "GWDM 2.0"
    with pytest.raises(ValueError, match=r"e\.g\. 'HDRUK 4\.0\.0'"):
        SchemaRef.parse("HDRUK")


def test_json_path() -> None:
    assert json_path(["summary", "title"]) == "$.summary.title"
    assert json_path(["structuralMetadata", 3, "columns", 0]) == "$.structuralMetadata[3].columns[0]"
    assert json_path(["odd key"]) == '$["odd key"]'
