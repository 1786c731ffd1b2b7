"""TRASER as the Gateway emulator needs it: ``validate(document, target)`` judged by the function's own rules
(:class:`hdr_ingest.destinations.hdruk.judge.GatewayJudge`), with Ajv's errors, the document as Ajv leaves it and
whether TRASER would hang.

This lives with the emulator, not in the function's layer: only the emulator answers for TRASER.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .rules import judge as _rules

if TYPE_CHECKING:
    from hdr_ingest.core.outcome import ErrorDetail
    from hdr_ingest.destinations.hdruk.judge import GatewayJudge, TraserVerdict
    from hdr_ingest.destinations.hdruk.schema_pack import SchemaPack, SchemaRef
else:
    # validation.default_target_factory builds targets of the type this module calls SchemaRef.
    SchemaRef = _rules.SchemaRef

__all__ = ["SchemaRef", "TraserEmulation"]


@dataclass(frozen=True)
class _TraserReport:
    valid: bool
    schema: SchemaRef | None
    errors: tuple[ErrorDetail, ...]
    ajv_errors: tuple[dict[str, Any], ...] = ()
    document: Any = None
    hang: bool = False
    hang_seconds: float = 0.0
    explanation: str = ""


@dataclass
class TraserEmulation:
    """TRASER as the Gateway emulator needs it (``validate(document, target)``), judged by :class:`GatewayJudge`.

    The document is taken as TRASER receives it (the emulator has already applied the Gateway's
    pre-processing). ``target`` None means TRASER's detection: every schema is tried (so a hang on any of
    them hangs the request), the first match wins. Each report carries Ajv's errors, the mutated document
    and whether TRASER would hang.
    """

    pack: SchemaPack
    judge: GatewayJudge = field(init=False)

    def __post_init__(self) -> None:
        self.judge = _rules.judge_for(self.pack)

    @property
    def refs(self) -> list[SchemaRef]:
        return self.pack.refs

    def __contains__(self, ref: object) -> bool:
        return ref in self.pack

    def validate(self, document: Any, target: SchemaRef | None = None) -> _TraserReport:
        if target is not None:
            verdict = self.judge.traser(document, target)
            return _traser_report(verdict, verdict.schema if verdict.valid else target)
        matched, verdicts = self.judge.detect(document)
        hung = next((v for v in verdicts if v.hang), None)
        if hung is not None:
            return _traser_report(hung, None)
        chosen = next((v for v in verdicts if v.valid), None)
        if chosen is None:
            return _TraserReport(False, None, ())
        return _traser_report(chosen, matched)


def _traser_report(verdict: TraserVerdict, schema: SchemaRef | None) -> _TraserReport:
    errors = verdict.errors
    if verdict.first_error is not None and errors and not errors[0].gateway_reports:
        # TRASER reports Ajv's first error; keep it first, in this package's wording (the judge has done so
        # when it marked it).
        first = next((e for e in errors if _pointer(e.path) == verdict.first_error.path), None)
        if first is not None:
            errors = (first, *(e for e in errors if e is not first))
    explanation = _rules.QUIRKS[_rules.Quirk.REGEX_HANG] if verdict.hang else ""
    return _TraserReport(
        verdict.valid,
        schema,
        errors,
        verdict.ajv_errors,
        verdict.document,
        verdict.hang,
        verdict.hang_seconds,
        explanation,
    )


def _pointer(path: str) -> str:
    text = re.sub(r"\[(\d+)\]", r".\1", path[1:] if path.startswith("$") else path)
    return "".join(f"/{p}" for p in text.split(".") if p)
