"""The judge's speed over HDR UK's example documents in auto mode, and its verdicts beside TRASER's recorded ones.

Usage: PYTHONPATH=layers/shared:functions/ingest:. python scripts/judge_speed.py [--save FILE | --compare FILE]
Prints the median milliseconds per document (all, valid, invalid) and every document whose detected schema differs
from TRASER's first match (TRASER was run on the documents as sent: the Gateway's own clean-up explains a
difference, and the judgement says so). ``--save`` writes every judgement (both routes, gateway and strict mode:
verdict, schema, summary, errors, warnings) to FILE; ``--compare`` exits 1 when one differs from FILE's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from hdr_ingest.destinations.hdruk.judge import Route, ValidationMode, judge_for
from hdr_ingest.destinations.hdruk.judge.measure import judgement_times, recorded_examples
from hdr_ingest.destinations.hdruk.schema_pack import SchemaPack

ROOT = Path(__file__).resolve().parent.parent


def _judgements(pack: SchemaPack, documents: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, document in documents.items():
        for route in Route:
            for mode in ValidationMode:
                judgement = judge_for(pack, route).judge(document, None, mode)
                report = judgement.report
                out[f"{name} {route.value} {mode.value}"] = [
                    report.valid,
                    str(report.schema),
                    report.summary,
                    [[e.path, e.message] for e in report.errors],
                    list(judgement.warnings),
                ]
    return out


def main(argv: list[str]) -> int:
    shared = ROOT.parent.parent / "shared" / "hdruk"
    if not (shared / "traser-verdicts.json").is_file():
        shared = Path("/work/shared/hdruk")
    pack = SchemaPack.load()
    documents, first = recorded_examples(shared, pack.refs)
    times = judgement_times(judge_for(pack), documents)
    wrong = 0
    for name, theirs in first.items():
        if times.matched[name] != theirs:
            wrong += 1
            print(f"DIFFERENT {name}: ours {times.matched[name]}, TRASER {theirs}")
    valid = sum(ref is not None for ref in times.matched.values())
    print(
        f"{len(documents)} documents ({valid} valid): median {times.median() * 1000:.2f} ms, "
        f"valid {times.median(True) * 1000:.2f} ms, invalid {times.median(False) * 1000:.2f} ms; "
        f"{wrong} verdicts differ from TRASER's"
    )
    if len(argv) == 3 and argv[1] == "--save":
        Path(argv[2]).write_text(json.dumps(_judgements(pack, documents), indent=1))
    elif len(argv) == 3 and argv[1] == "--compare":
        before = json.loads(Path(argv[2]).read_text())
        now = json.loads(json.dumps(_judgements(pack, documents)))
        changed = [key for key in before if before[key] != now.get(key)]
        print(f"{len(changed)} of {len(before)} judgements differ from {argv[2]}", *changed[:10], sep="\n  ")
        wrong += len(changed)
    slowest = sorted(times.seconds.items(), key=lambda item: -item[1])[:5]
    print("slowest:", ", ".join(f"{name} {s * 1000:.1f} ms" for name, s in slowest))
    return 1 if wrong > 3 else 0  # three documents: the Gateway's clean-up (HTML-encoding, trimming) decides


if __name__ == "__main__":
    sys.exit(main(sys.argv))
