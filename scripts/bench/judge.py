"""Judgement: the median time per document over HDR UK's example documents in auto mode, as the function judges
them, and the verdicts beside the recorded ones (TRASER's first match per document), through the judge's own
measuring face (``hdr_ingest.destinations.hdruk.judge.measure``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .common import ROOT, ms, note, row

TARGET_S = 0.0025


def examples_dir() -> Path:
    """``shared/hdruk`` beside the checkout, else /work/shared/hdruk."""
    beside = ROOT.parent / "shared" / "hdruk"
    return beside if (beside / "traser-verdicts.json").is_file() else Path("/work/shared/hdruk")


def bench_judge(args: argparse.Namespace) -> None:
    from hdr_ingest.destinations.hdruk import SchemaPack
    from hdr_ingest.destinations.hdruk.judge import judge_for
    from hdr_ingest.destinations.hdruk.judge.measure import judgement_times, peak_bytes, recorded_examples

    pack = SchemaPack.load()
    hdruk = args.hdruk or examples_dir()
    documents, first = recorded_examples(hdruk, pack.refs)
    if args.examples:
        names = sorted(documents)[: args.examples]
        documents, first = {n: documents[n] for n in names}, {n: first[n] for n in names}
    note(f"judge: {len(documents)} example documents, auto mode")
    judge = judge_for(pack)
    times = judgement_times(judge, documents, repeat=3 if args.quick else 5)
    median, count = times.median(), len(documents)
    row("judge", f"median per document, {count} examples, auto mode", ms(median), "<= 2.5 ms", median <= TARGET_S)
    row("judge", "  valid / invalid documents", f"{ms(times.median(True))} / {ms(times.median(False))}")
    agree, pairs = recorded_verdicts(judge, documents, hdruk)
    row(
        "judge",
        "verdicts that agree with the recorded ones (document x schema)",
        f"{agree}/{pairs}",
        "all",
        agree == pairs,
    )
    same = sum(times.matched[name] == theirs for name, theirs in first.items())
    row(
        "judge",
        "  auto mode's schema = TRASER's first match (the Gateway's clean-up explains others)",
        f"{same}/{count}",
    )
    largest = max(documents, key=lambda name: len(json.dumps(documents[name])))
    peak = peak_bytes(judge, documents[largest])
    row("judge", f"  Python heap peak judging the largest example ({largest})", f"{peak / 1024 / 1024:.1f} MB")


def recorded_verdicts(judge: Any, documents: dict[str, Any], hdruk: Path) -> tuple[int, int]:
    """How many of the recorded (document, schema) verdicts of ``documents`` the judge's TRASER verdict repeats
    (``valid``, ``invalid`` or ``hang``), and how many there are."""
    from hdr_ingest.destinations.hdruk import SchemaRef

    recorded = json.loads((hdruk / "traser-verdicts.json").read_text(encoding="utf-8"))["documents"]
    agree = pairs = 0
    for name, document in documents.items():
        for schema, theirs in recorded[name].items():
            pairs += 1
            agree += judge.traser(document, SchemaRef.parse(schema), all_errors=False).verdict == theirs["verdict"]
    return agree, pairs
