"""Our Gateway-faithful verdicts beside the Gateway validator's measured ones, and the emulator judging the same way.

``../shared/hdruk/traser-verdicts.json`` holds HDR UK's TRASER verdict (commit d84e60a, run offline) for every
example document under ``../shared/hdruk/examples`` against every schema of ``available.json``: 44 documents
(``#metadata``: the wrapped document's ``metadata`` member) x 17 schemas = 748 pairs, each ``valid``,
``invalid`` or ``hang`` (TRASER answered "invalid" only after minutes), with TRASER's first error. Our
emulation of TRASER (:meth:`GatewayJudge.traser`) must give the same verdict on all 748 and the same first
error (path and Ajv message) on all 690 that record one; a ``hang`` must be a fast ``invalid`` here, explained.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from hdr_ingest.destinations.hdruk.judge import GatewayJudge, Quirk, Route, TraserVerdict, explain
from hdr_ingest.destinations.hdruk.schema_pack import SchemaPack, SchemaRef
from local_stack.gateway_emulator import App, GatewayEmulator
from tests.conftest import measured_document
from tests.unit.destinations.hdruk.judge.test_gateway_fidelity import GATEWAY_WHITE_SPACE

pytestmark = pytest.mark.integration

HDRUK_300 = SchemaRef("HDRUK", "3.0.0")
APP = App("app-fidelity", "client-fidelity")
HEADERS = {"x-application-id": APP.app_id, "x-client-id": APP.client_id}


@pytest.fixture(scope="module")
def judge(pack: SchemaPack) -> GatewayJudge:
    return GatewayJudge(pack)


@pytest.fixture(scope="module")
def ours(
    judge: GatewayJudge, measured: dict[str, dict[str, dict[str, Any]]]
) -> dict[tuple[str, str], tuple[TraserVerdict, float]]:
    """Our TRASER verdict (and the seconds it took) for every measured (document, schema) pair."""
    out: dict[tuple[str, str], tuple[TraserVerdict, float]] = {}
    for name, per_schema in measured.items():
        document = measured_document(name)
        for schema in per_schema:
            started = time.perf_counter()
            verdict = judge.traser(document, SchemaRef.parse(schema), all_errors=False)
            out[(name, schema)] = (verdict, time.perf_counter() - started)
    return out


def _pointer(path: str) -> str:
    """``$.a.b[2]`` -> ``/a/b/2`` (Ajv's instancePath)."""
    text = re.sub(r"\[(\d+)\]", r".\1", path.removeprefix("$"))
    return "".join(f"/{part}" for part in text.split(".") if part)


def _matches(verdicts: dict[str, str]) -> str:
    """``HDRUK 2.1.0, HDRUK 2.1.2 | hang: HDRUK 3.0.0`` for one document."""
    valid = [s for s, v in verdicts.items() if v == "valid"]
    hang = [s for s, v in verdicts.items() if v == "hang"]
    text = ", ".join(valid) or "-"
    return text + (f" | hang: {', '.join(hang)}" if hang else "")


def test_every_measured_verdict_is_predicted(
    measured: dict[str, dict[str, dict[str, Any]]],
    ours: dict[tuple[str, str], tuple[TraserVerdict, float]],
    judge: GatewayJudge,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows: list[tuple[str, str, str, str, str]] = []
    disagreements: list[str] = []
    for name, per_schema in measured.items():
        theirs = {schema: result["verdict"] for schema, result in per_schema.items()}
        mine = {schema: ours[(name, schema)][0].verdict for schema in per_schema}
        agree = sum(theirs[s] == mine[s] for s in per_schema)
        disagreements += [f"{name} x {s}: measured {theirs[s]}, ours {mine[s]}" for s in theirs if theirs[s] != mine[s]]
        # What the Gateway itself would pick on the integrations route (pre-processing, then first match).
        judgement = judge.judge(measured_document(name))
        route = str(judgement.gateway.schema) if judgement.gateway.valid else "-"
        rows.append((name, _matches(theirs), _matches(mine), f"{agree}/{len(per_schema)}", route))

    total = len(ours)
    agreed = total - len(disagreements)
    widths = [max(len(row[i]) for row in [*rows, ("document", "measured", "ours", "agree", "route")]) for i in range(5)]
    with capsys.disabled():
        print("\n\nTRASER (measured) vs GatewayJudge.traser (ours): schemas each document validates against\n")
        header = ("document", "measured", "ours", "agree", "route")
        print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        print("  ".join("-" * w for w in widths))
        for row in rows:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        print(
            f"\nagreement: {agreed}/{total} (document, schema) pairs; "
            "route = first match on the integrations route after the Gateway's pre-processing\n"
        )
    assert total == 748
    assert not disagreements, "\n".join(disagreements)


def test_every_first_error_is_the_one_traser_reported(
    measured: dict[str, dict[str, dict[str, Any]]], ours: dict[tuple[str, str], tuple[TraserVerdict, float]]
) -> None:
    checked, different = 0, []
    for name, per_schema in measured.items():
        for schema, result in per_schema.items():
            if "first_error" not in result:
                continue
            checked += 1
            theirs = (result["first_error"]["path"], result["first_error"]["message"])
            first = ours[(name, schema)][0].first_error
            mine = (first.path, first.message) if first else None
            if mine != theirs:
                different.append(f"{name} x {schema}: TRASER {theirs}, ours {mine}")
    assert checked == 690
    assert not different, "\n".join(different)


def test_the_error_traser_reports_leads_our_list_and_is_marked(
    measured: dict[str, dict[str, dict[str, Any]]], judge: GatewayJudge
) -> None:
    """Every error list starts with the error TRASER reported (ours in our wording, at the same place: Ajv's
    instancePath is the object for a missing or extra property), and only that one is marked."""
    checked, different = 0, []
    for name, per_schema in measured.items():
        document = measured_document(name)
        for schema, result in per_schema.items():
            if "first_error" not in result:
                continue
            checked += 1
            errors = judge.traser(document, SchemaRef.parse(schema)).errors
            lead = _pointer(errors[0].path)
            where = result["first_error"]["path"]
            if where not in (lead, lead.rsplit("/", 1)[0]) or [e.gateway_reports for e in errors].count(True) != 1:
                different.append(f"{name} x {schema}: TRASER {where}, ours first {errors[0]}")
            elif not errors[0].gateway_reports:
                different.append(f"{name} x {schema}: the first error is not marked")
    assert checked == 690
    assert not different, "\n".join(different)


def _pad(value: Any, spaces: Iterator[str]) -> Any:
    """Every string value with Gateway white space at both ends (keys untouched)."""
    if isinstance(value, str):
        return f"{next(spaces)}{value}{next(spaces)}"
    if isinstance(value, dict):
        return {key: _pad(item, spaces) for key, item in value.items()}
    if isinstance(value, list):
        return [_pad(item, spaces) for item in value]
    return value


def test_values_padded_with_gateway_white_space_keep_the_measured_verdicts(
    measured: dict[str, dict[str, dict[str, Any]]], judge: GatewayJudge
) -> None:
    """Where the Gateway's clean-up leaves the example as it is, the padded example gets TRASER's measured
    verdict; elsewhere the verdict on the example as the Gateway cleans it up."""
    spaces = itertools.cycle(chr(cp) for cp in GATEWAY_WHITE_SPACE)
    compared, different = 0, []
    for name, per_schema in measured.items():
        document = measured_document(name)
        cleaned = judge.preprocess(document, route=Route.DATASETS_V1)
        seen = judge.preprocess(_pad(document, spaces), route=Route.DATASETS_V1)
        assert seen == cleaned, name
        for schema, result in per_schema.items():
            ref = SchemaRef.parse(schema)
            unchanged = cleaned == document
            expected = result["verdict"] if unchanged else judge.traser(cleaned, ref, all_errors=False).verdict
            compared += unchanged
            verdict = judge.traser(seen, ref, all_errors=False).verdict
            if verdict != expected:
                different.append(f"{name} x {schema}: expected {expected}, padded {verdict}")
    assert compared >= 400, compared  # 27 of the 44 examples are left as they are
    assert not different, "\n".join(different)


def test_a_hang_is_a_fast_invalid_with_the_explanation(
    measured: dict[str, dict[str, dict[str, Any]]],
    ours: dict[tuple[str, str], tuple[TraserVerdict, float]],
    judge: GatewayJudge,
) -> None:
    hangs = [(n, s) for n, per in measured.items() for s, r in per.items() if r["verdict"] == "hang"]
    assert len(hangs) == 2
    for name, schema in hangs:
        verdict, seconds = ours[(name, schema)]
        assert verdict.hang and not verdict.valid and seconds < 1.0, (name, seconds)
        assert verdict.hang_seconds > 30 and verdict.hang_path == "$.revisions[0].url"
        judgement = judge.judge(measured_document(name), SchemaRef.parse(schema))
        assert not judgement.valid and judgement.hang and judgement.schema_to_send is None
        assert "would hang the Gateway's validator" in judgement.report.summary
        note = next(n for n in judgement.notes if n.quirk is Quirk.REGEX_HANG)
        assert note.path == "$.revisions[0].url" and "https://<uuid>" in note.explanation
        assert any("regex-hang" in line for line in explain(judgement))
    # Nothing else is predicted to hang.
    assert [k for k, (v, _) in ours.items() if v.hang] == hangs


def test_the_whole_comparison_is_fast(ours: dict[tuple[str, str], tuple[TraserVerdict, float]]) -> None:
    assert sum(seconds for _, seconds in ours.values()) < 10


# --- the emulator judges the same way ------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator(pack: SchemaPack) -> Iterator[GatewayEmulator]:
    with GatewayEmulator(apps=[APP], validator=pack) as running:
        yield running


def _post(emulator: GatewayEmulator, body: Any, query: str = "") -> requests.Response:
    return requests.post(f"{emulator.base_url}/integrations/datasets{query}", json=body, headers=HEADERS, timeout=10)


def test_emulator_rejects_cruk_without_lead_researcher_like_traser(emulator: GatewayEmulator) -> None:
    document = measured_document("schemata/CRUK/1.0.0/example.json")
    response = _post(emulator, {"metadata": document}, "?input_schema=CRUK&input_version=1.0.0")
    assert response.status_code == 400
    traser = response.json()["details"]["traser_message"]
    first = traser["details"]["validationErrors"][0]
    assert (first["instancePath"], first["keyword"]) == ("/summary/leadResearcher", "minLength")
    assert first["message"].startswith("must NOT have fewer than 2 characters")
    assert traser["details"]["data"]["summary"]["leadResearcher"] == ""  # the document as Ajv left it


def test_emulator_accepts_empty_string_where_null_is_allowed(emulator: GatewayEmulator) -> None:
    document = measured_document("gateway-api/gwdm_v1_dataset_min.json#metadata")
    assert document["summary"]["controlledKeywords"] == ""
    response = _post(emulator, {"metadata": document, "datasetid": "gwdm-1"}, "?input_schema=GWDM&input_version=1.0")
    assert response.status_code == 201, response.text


def test_emulator_answers_500_where_traser_hangs(emulator: GatewayEmulator) -> None:
    # The emulator's TRASER (Ajv through Node) is stopped after its deadline instead of minutes.
    document = measured_document("gateway-api/hdruk_3p0p0_dataset_min.json#metadata")
    explicit = _post(emulator, {"metadata": document}, "?input_schema=HDRUK&input_version=3.0.0")
    # Without input_schema TRASER tries every schema, HDRUK 3.0.0 included: any such URL hangs it.
    hdruk_212 = measured_document("schemata/HDRUK/2.1.2/example.json")
    detected = _post(emulator, {"metadata": hdruk_212})
    avoided = _post(emulator, {"metadata": hdruk_212, "datasetid": "212"}, "?input_schema=HDRUK&input_version=2.1.0")
    assert explicit.status_code == 500 and "Translation Service error" in explicit.json()["message"]
    assert detected.status_code == 500
    assert avoided.status_code == 201, avoided.text


def test_emulator_sees_empty_objects_as_arrays(emulator: GatewayEmulator, pack: SchemaPack) -> None:
    document = measured_document("schemata/HDRUK/4.0.0/docs.example.json")
    document["enrichmentAndLinkage"] = {}  # all its fields are optional: {} is valid as sent
    assert pack.validate(document, SchemaRef("HDRUK", "4.0.0")).valid
    response = _post(emulator, {"metadata": document}, "?input_schema=HDRUK&input_version=4.0.0")
    # ... but PHP's json_decode/json_encode hands it to TRASER as [] (inferred from PHP; not measured).
    assert response.status_code == 400
    first = response.json()["details"]["traser_message"]["details"]["validationErrors"][0]
    assert first["instancePath"] == "/enrichmentAndLinkage"
