"""Figures of the judge for ``make bench`` and ``scripts/judge_speed.py``: time per document in auto mode, and the
peak memory of one judgement. Measuring only; nothing here decides a verdict."""

from __future__ import annotations

import json
import statistics
import time
import tracemalloc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdr_ingest.core.document import canonical_json
from hdr_ingest.destinations.hdruk.schema_pack import SchemaRef

from .judge import GatewayJudge

__all__ = ["JudgementTimes", "judgement_times", "peak_bytes", "recorded_examples"]


@dataclass(frozen=True)
class JudgementTimes:
    """Seconds per document (each the median of its runs) and the schema each was judged valid against."""

    seconds: Mapping[str, float]
    matched: Mapping[str, SchemaRef | None] = field(default_factory=dict)

    def median(self, valid: bool | None = None) -> float:
        """The median over every document, or over the valid (``True``) or invalid (``False``) ones."""
        picked = [s for name, s in self.seconds.items() if valid is None or (self.matched[name] is not None) is valid]
        return statistics.median(picked) if picked else float("nan")


def judgement_times(judge: GatewayJudge, documents: Mapping[str, Any], repeat: int = 5) -> JudgementTimes:
    """Each document judged ``repeat`` times in auto mode (no target, gateway mode) as the function judges it:
    with its canonical JSON at hand (``text``). One warm-up judgement per document goes untimed."""
    seconds: dict[str, float] = {}
    matched: dict[str, SchemaRef | None] = {}
    for name, document in documents.items():
        text = canonical_json(document)
        report = judge.judge(document, None, text=text).report
        matched[name] = report.schema if report.valid else None
        runs = []
        for _ in range(repeat):
            started = time.perf_counter()
            judge.judge(document, None, text=text)
            runs.append(time.perf_counter() - started)
        seconds[name] = statistics.median(runs)
    return JudgementTimes(seconds, matched)


def peak_bytes(judge: GatewayJudge, document: Any, text: str | None = None) -> int:
    """The Python heap's peak growth (tracemalloc) while ``judge`` judges ``document`` in auto mode."""
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        judge.judge(document, None, text=text)
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        if not was_tracing:
            tracemalloc.stop()


def recorded_examples(hdruk: Path, order: Sequence[SchemaRef]) -> tuple[dict[str, Any], dict[str, SchemaRef | None]]:
    """The example documents of ``hdruk`` (``shared/hdruk``: ``examples/`` and ``traser-verdicts.json``), by the
    name the recorded verdicts give them (``path`` or ``path#member``), and TRASER's first match for each among
    ``order`` (the pack's detection order; None: no schema matched)."""
    recorded: dict[str, dict[str, Any]] = json.loads((hdruk / "traser-verdicts.json").read_text())["documents"]
    documents: dict[str, Any] = {}
    first: dict[str, SchemaRef | None] = {}
    for name, per_schema in recorded.items():
        relative, _, member = name.partition("#")
        document = json.loads((hdruk / "examples" / relative).read_text(encoding="utf-8"))
        documents[name] = document[member] if member else document
        first[name] = next((ref for ref in order if per_schema.get(str(ref), {}).get("verdict") == "valid"), None)
    return documents, first
