"""Validation, warm: the schema engine and what the pipeline runs on each generated HDRUK 4.0.0 document (5 KB, 2 MB,
10 MB), over the time ``json.loads`` takes to parse the same document; then the same re-encoded (characters the
Gateway HTML-encodes); hostile invalid documents unless ``--quick``."""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import time
from typing import Any

from .common import MB, median_time, ms, note, row
from .documents import BASE_DOCUMENT, hdruk400, re_encoded


def _ratio_row(what: str, seconds: float, loads: float, target: bool = True) -> None:
    figure = f"{ms(seconds)} = {seconds / loads:.2f}x loads"
    if target:
        row("validation", what, figure, "<= 1x loads", seconds <= loads)
    else:
        row("validation", what, figure)


def bench_validation(args: argparse.Namespace) -> None:
    from hdr_ingest.destinations.hdruk import SchemaPack, SchemaRef
    from hdr_ingest.destinations.hdruk.judge import GatewayJudge, judge_for

    note("validation: generated HDRUK 4.0.0 documents, warm")
    pack = SchemaPack.load()
    engines = {"pack": pack, "pure": SchemaPack.load(fast=False), "judge": judge_for(pack)}
    engines["emulation"] = GatewayJudge(pack, fast=False)
    target = SchemaRef("HDRUK", "4.0.0")
    if not pack.fast:
        row("validation", "jsonschema-rs", "NOT INSTALLED: pure Python only", "installed", False)
    for label, size in (("5 KB", 5 * 1024), ("2 MB", 2 * MB), ("10 MB", 10 * MB)):
        _one_size(engines, target, label, size, args.quick)
    # An invalid 10 MB document: every error, with its path, through the reference engine.
    document = hdruk400(10 * MB)
    document["structuralMetadata"]["tables"][-1]["columns"][-1]["sensitive"] = "yes"
    started = time.perf_counter()
    report = SchemaPack.load().validate(document)
    elapsed = time.perf_counter() - started
    assert not report.valid and len(report.errors) == 1, report.summary
    row("validation", "10 MB, one error: SchemaPack report with every error (cold)", ms(elapsed))
    if not args.quick:
        _bench_hostile(engines["judge"])


def _one_size(engines: dict[str, Any], target: Any, label: str, size: int, quick: bool) -> None:
    from hdr_ingest.core.document import canonical_json

    pack = engines["pack"]
    document = hdruk400(size)
    text = json.dumps(document)
    parsed = json.loads(text)
    report = pack.validate(parsed)
    if not (report.valid and report.schema == target):
        raise SystemExit(f"the generated {label} document is not valid HDRUK 4.0.0: {report.summary}")
    repeat = 7 if size < MB else 5
    loads = median_time(lambda text=text: json.loads(text), repeat)  # type: ignore[misc]
    detect = median_time(lambda parsed=parsed: pack.validate(parsed), repeat)  # type: ignore[misc]
    targeted = median_time(lambda parsed=parsed: pack.validate(parsed, target), repeat)  # type: ignore[misc]
    tables = document.get("structuralMetadata", {}).get("tables", [])
    columns = sum(len(t["columns"]) for t in tables)
    what = f"{label} ({len(text) / 1024:,.0f} KB, {len(tables)} tables, {columns:,} columns)"
    row("validation", f"{what}: json.loads", ms(loads))
    _ratio_row(f"{label}: SchemaPack.validate, schema detected", detect, loads)
    _ratio_row(f"{label}: SchemaPack.validate against HDRUK 4.0.0", targeted, loads)
    # What the function runs on every document (pipeline._publish): the canonical JSON and its sha256 (the
    # re-export digest, computed before validation), then the Gateway-faithful judgement, given that text.
    digest = median_time(
        lambda parsed=parsed: hashlib.sha256(canonical_json(parsed).encode()).digest(),  # type: ignore[misc]
        repeat,
    )
    row("validation", f"{label}: canonical JSON + sha256 (re-export digest, before validation)", ms(digest))
    _modes(engines["judge"], parsed, canonical_json(parsed), target, label, loads, repeat)
    _re_encoded(engines["judge"], parsed, label, size, loads, repeat)
    if size <= 2 * MB:
        # For comparison: the emulation alone (what re-encoded documents cost before the cleanup probe).
        encoded = re_encoded(parsed)
        emulated = median_time(
            lambda encoded=encoded: engines["emulation"].judge(encoded, None),  # type: ignore[misc]
            3 if size < MB else 1,
            0.2 if size < MB else 0.0,
        )
        _ratio_row(f"{label}: re-encoded, the Ajv emulation alone (fast verdict off)", emulated, loads, False)
    if size <= 2 * MB and not quick:
        pure = engines["pure"]
        python = median_time(lambda parsed=parsed: pure.validate(parsed, target), 3, 0.0)  # type: ignore[misc]
        _ratio_row(f"{label}: pure-Python jsonschema (reference engine)", python, loads, target=False)


def _modes(judge: Any, parsed: Any, canonical: str, target: Any, label: str, loads: float, repeat: int) -> None:
    from hdr_ingest.destinations.hdruk.judge import ValidationMode

    for mode, schema in (
        (ValidationMode.GATEWAY, None),
        (ValidationMode.GATEWAY, target),
        (ValidationMode.STRICT, None),
    ):
        judged = median_time(
            lambda parsed=parsed, mode=mode, schema=schema, text=canonical: judge.judge(  # type: ignore[misc]
                parsed, schema, mode, text=text
            ),
            repeat,
        )
        default = " (default)" if mode is ValidationMode.GATEWAY and schema is None else ""
        against = f", TARGET_SCHEMA={schema}" if schema else ""
        _ratio_row(f"{label}: as deployed, judge VALIDATION_MODE={mode.value}{against}{default}", judged, loads)


def _re_encoded(judge: Any, parsed: Any, label: str, size: int, loads: float, repeat: int) -> None:
    """Real metadata: the same document with characters the Gateway HTML-encodes in a few free-text fields (as HDR
    UK's own example), then in about one string in forty. The fast verdict cleans up just those values
    (judge/cleanup.py) and judges the result as it judges a plain document."""
    from hdr_ingest.core.document import canonical_json
    from hdr_ingest.destinations.hdruk.judge import ValidationMode

    for dense in (False, True):
        encoded = re_encoded(parsed, dense)
        encoded_text = canonical_json(encoded)
        if judge.fast_judgement(encoded, None, ValidationMode.GATEWAY, encoded_text) is None:
            raise SystemExit(f"the re-encoded {label} document is not decided by the fast verdict")
        judged = median_time(
            lambda encoded=encoded, text=encoded_text: judge.judge(encoded, None, text=text),  # type: ignore[misc]
            repeat,
        )
        if dense:
            _ratio_row(f"{label}: re-encoded, one string in forty (as deployed)", judged, loads, target=False)
        else:
            limit = 1.5 if size < MB else 1.0
            figure = f"{ms(judged)} = {judged / loads:.2f}x loads"
            what = f"{label}: re-encoded (EMIS Web®, it's, R&D, Zoë, <, >), as deployed"
            row("validation", what, figure, f"<= {limit:g}x loads", judged <= limit * loads)


def _bench_hostile(judge: Any) -> None:
    """Invalid documents shaped to eat an invocation (issue 12): the judgement as deployed, errors capped."""
    import tracemalloc

    from hdr_ingest.core.document import canonical_json

    tables = copy.deepcopy(BASE_DOCUMENT)
    tables["structuralMetadata"] = {"tables": [{"name": f"t{i}", "columns": "x"} for i in range(100_000)]}
    for label, document in (
        ("1,000,000 unknown top-level keys", {f"k{i}": i for i in range(1_000_000)}),
        ("100,000 invalid tables", tables),
    ):
        text = canonical_json(document)
        tracemalloc.start()
        started = time.process_time()
        judgement = judge.judge(document, None, text=text)
        cpu = time.process_time() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert not judgement.valid, label
        what = f"invalid, {label} ({len(text) / MB:.1f} MB): judge (CPU, Python heap peak)"
        row("validation", what, f"{cpu:.1f} s, {peak / MB:.0f} MB, {len(judgement.report.errors):,} errors listed")
