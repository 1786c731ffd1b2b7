"""The judge: the Gateway's verdict on a document, from its pre-processing, TRASER's Ajv and the fast verdict."""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from hdr_ingest.core.outcome import ErrorDetail
from hdr_ingest.destinations.hdruk.schema_pack import (
    MAX_ERRORS,
    SchemaPack,
    SchemaRef,
    ValidationReport,
    json_path,
)
from hdr_ingest.destinations.jsonschema_rust import engine as _rust_engine

from .ajv import AjvRun, SchemaDoc, flat_ajv
from .cleanup import cleaned, html_entities_note
from .explanations import PathIndex, change_note, count, flatten, gateway_first, lookup, same_json
from .fast import HDRUK_300, Twin
from .javascript import json_copy
from .preprocess import gateway_preprocess
from .records import (
    GATEWAY_TIMEOUT_S,
    MISSING,
    NO_TRANSLATION_PATH,
    QUIRK_SHORT,
    QUIRKS,
    Change,
    Judgement,
    Path_,
    Quirk,
    QuirkNote,
    Route,
    TraserVerdict,
    ValidationMode,
)

_MAX_WARNINGS = 20


class GatewayJudge:
    """Judges documents the way the Gateway does, using the schemas of ``pack``. Thread-safe; build it once
    per pack (:func:`judge_for`) so parsed schemas and resolved references are reused."""

    def __init__(self, pack: SchemaPack, route: Route = Route.INTEGRATIONS, *, fast: bool = True) -> None:
        self.pack = pack
        self.route = route
        self.fast = fast and pack.fast  # the fast verdict (.fast) where it is exact; False: always emulate
        self._docs: dict[SchemaRef, SchemaDoc] = {}
        self._twins: dict[SchemaRef, Twin | None] = {}
        self._refs = tuple(pack.refs)
        self._hdruk300 = HDRUK_300 if HDRUK_300 in pack else None
        self._lock = threading.Lock()

    # --- building blocks ----------------------------------------------------------------------------------
    def schema(self, ref: SchemaRef) -> SchemaDoc:
        found = self._docs.get(ref)
        if found is None:
            found = SchemaDoc(ref, self.pack.schema(ref))  # the pack's parsed copy: read once, never changed
            with self._lock:
                found = self._docs.setdefault(ref, found)
        return found

    def preprocess(self, document: Any, changes: list[Change] | None = None, route: Route | None = None) -> Any:
        """The document as the Gateway hands it to TRASER on ``route`` (default: this judge's route)."""
        route = route or self.route
        return gateway_preprocess(document, html_entities=route is Route.INTEGRATIONS, php_arrays=True, changes=changes)

    def traser(self, document: Any, ref: SchemaRef, *, all_errors: bool = True) -> TraserVerdict:
        """TRASER's verdict on ``document`` against ``ref``, the document taken as TRASER receives it (no
        pre-processing here). ``all_errors=False`` stops at the first error, as TRASER does: much faster,
        and ``errors`` then holds that error only. Otherwise ``errors`` holds the first ``MAX_ERRORS`` errors
        (``truncated`` when there are more)."""
        doc = self.schema(ref)
        data = json_copy(document)  # Ajv changes what it checks
        first = AjvRun(doc)
        try:
            valid = first.run(data)
        except RecursionError:
            detail = ErrorDetail("$", "is nested too deeply to validate; flatten the document.")
            return TraserVerdict(ref, False, detail, (detail,), (), (), document)
        ajv = tuple(e.ajv() for error in first.errors for e in flat_ajv(error))
        first_error = None
        if first.errors:
            head = first.errors[0].first()
            first_error = ErrorDetail(head.ajv()["instancePath"], head.message)
        errors: tuple[ErrorDetail, ...] = ()
        checked, changes, truncated = data, first.changes, False
        if not valid and all_errors:
            full = AjvRun(doc, all_errors=True, limit=MAX_ERRORS)
            try:
                checked = json_copy(document)
                full.run(checked)
                errors = flatten(full.errors, MAX_ERRORS + 1) or flatten(first.errors)
                changes, truncated = full.changes, full.tally.capped
            except RecursionError:
                errors = flatten(first.errors)
        elif not valid:
            errors = flatten(first.errors[:1])
        hang = max(first.hangs, key=lambda h: h.seconds, default=None)
        hangs = hang is not None and hang.seconds >= GATEWAY_TIMEOUT_S
        if first.errors and not hangs:  # a hang: the Gateway times out and reports no error at all
            errors = gateway_first(errors, first.errors[0].first())
        if len(errors) > MAX_ERRORS:
            errors, truncated = errors[:MAX_ERRORS], True
        return TraserVerdict(
            schema=ref,
            valid=valid,
            first_error=first_error,
            errors=errors,
            ajv_errors=ajv,
            changes=tuple(changes),
            document=data,
            hang=hangs,
            hang_seconds=hang.seconds if hang else 0.0,
            hang_path=json_path(hang.path) if hang else None,
            checked_document=checked,
            truncated=truncated,
        )

    def detect(self, document: Any) -> tuple[SchemaRef | None, list[TraserVerdict]]:
        """TRASER's own schema detection (no ``input_schema``): every schema is tried, the first match wins."""
        verdicts = [self.traser(document, ref, all_errors=False) for ref in self.pack.refs]
        return next((v.schema for v in verdicts if v.valid), None), verdicts

    # --- the verdict ------------------------------------------------------------------------------------
    def judge(
        self,
        document: Any,
        target: SchemaRef | None = None,
        mode: ValidationMode | str = ValidationMode.GATEWAY,
        *,
        text: str | None = None,
    ) -> Judgement:
        """The verdict on ``document`` against ``target``, or against the first schema that matches (the
        Gateway's detection order) when ``target`` is None.

        ``gateway`` mode judges what the Gateway will see, as its validator does, and reports every error;
        ``strict`` mode validates the document as sent (``SchemaPack.validate``) and reports what the Gateway
        will say as warnings. Either way ``schema_to_send`` is set only when ``report`` is valid, and
        ``received`` is the document after this judge's route's clean-up (what the Gateway will hold).

        ``text``, the document's compact JSON (``separators=(",", ":")``, ``ensure_ascii=False``, any key
        order) when the caller has it already, saves serialising it for the fast verdict.
        """
        mode = ValidationMode(mode)
        fast = self.fast_judgement(document, target, mode, text)
        if fast is not None:
            return fast
        changes: list[Change] = []
        seen = self.preprocess(document, changes)
        if mode is ValidationMode.STRICT:
            as_sent = self.pack.validate(document, target)
            ref: SchemaRef | None = target or as_sent.schema
            verdict = self.traser(seen, ref) if ref is not None else None
            gateway = self._report(verdict, detected=False) if verdict else as_sent
        else:
            gateway, verdict, as_sent = self._gateway(document, seen, target)
        notes = self._notes(document, seen, as_sent, gateway, verdict, changes, target)
        report = as_sent if mode is ValidationMode.STRICT else self._annotate(gateway, as_sent, verdict, notes)
        send = report.schema if report.valid else None
        warnings = self._warnings(mode, report, as_sent, gateway, notes)
        hang = bool(verdict and verdict.hang)
        return Judgement(mode, report, gateway, as_sent, send, warnings, notes, hang, received=seen)

    def _twin(self, ref: SchemaRef) -> Twin | None:
        found = self._twins.get(ref, MISSING)
        if found is MISSING:
            engine = _rust_engine() if self.pack.fast else None
            found = Twin(self.schema(ref), engine) if engine is not None and ref in self.pack else None
            with self._lock:
                found = self._twins.setdefault(ref, found)
        return found

    def fast_judgement(
        self, document: Any, target: SchemaRef | None, mode: ValidationMode, text: str | None
    ) -> Judgement | None:
        """The judgement without the emulation, for a valid document the Gateway leaves as it is (see
        :mod:`.fast`); None when the emulation must decide."""
        if not self.fast:
            return None
        if text is None:
            try:
                text = json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            except (TypeError, ValueError):
                return None
        # What the Gateway hands on to TRASER (``seen``: the document itself unless its clean-up changes a value).
        engine = _rust_engine()
        found = cleaned(document, engine, html_entities=self.route is Route.INTEGRATIONS, text=text) if engine else None
        if found is None:
            return None
        seen, changes = found
        checked: set[int] = set()

        def hazardous(twin: Twin) -> bool:  # each schema's catastrophic patterns looked at once
            if not twin.hazards or id(twin) in checked:
                return False
            checked.add(id(twin))
            return twin.hazardous(seen)

        if target is None and self._hdruk300 is not None:  # as _detection_hang: detection tries its pattern
            hdruk300 = self._twin(self._hdruk300)
            if hdruk300 is not None and hazardous(hdruk300):
                return None
        reports = self._fast_reports(document, seen, target, mode, hazardous)
        if reports is None:
            return None
        report, gateway, as_sent = reports
        notes: tuple[QuirkNote, ...] = ()
        encoded = [change for change in changes if change.quirk is Quirk.HTML_ENTITIES]
        if encoded:
            notes = (html_entities_note(encoded, document),)
        if report.schema in NO_TRANSLATION_PATH:
            notes += (QuirkNote(Quirk.NO_TRANSLATION, "", f"{report.schema}: {QUIRKS[Quirk.NO_TRANSLATION]}"),)
        warnings = self._warnings(mode, report, as_sent, gateway, notes)
        return Judgement(mode, report, gateway, as_sent, report.schema, warnings, notes, False, received=seen)

    def _fast_reports(
        self,
        document: Any,
        seen: Any,
        target: SchemaRef | None,
        mode: ValidationMode,
        hazardous: Callable[[Twin], bool],
    ) -> tuple[ValidationReport, ValidationReport, ValidationReport] | None:
        """The fast verdict's (report, gateway, as sent) on ``seen``, what the Gateway validates; None when the
        emulation must decide."""
        if mode is ValidationMode.STRICT:
            as_sent = self.pack.validate(document, target)
            ref = as_sent.schema
            twin = self._twin(ref) if as_sent.valid and ref is not None else None
            if twin is None or hazardous(twin) or not twin.valid(seen):
                return None
            return as_sent, ValidationReport(True, ref, (), f"valid {ref} as the Gateway will judge it"), as_sent
        # The candidate: the target, or the first schema in detection order whose failure is not robust.
        for matched in (target,) if target is not None else self._refs:
            twin = self._twin(matched)
            if twin is None or hazardous(twin):
                return None
            if target is not None or not twin.fails_robustly(seen):
                break
        else:
            return None
        if not twin.valid(seen):
            return None
        how = " (first match, as the Gateway detects)" if target is None else ""
        gateway = ValidationReport(True, matched, (), f"valid {matched} as the Gateway will judge it{how}")
        if seen is document:
            as_sent = ValidationReport(True, matched, (), f"valid {matched}")  # the twin is stricter
        else:
            as_sent = self.pack.validate(document, matched)
            if not as_sent.valid:  # the Gateway's clean-up mends it: the emulation explains how
                return None
        return gateway, gateway, as_sent

    def _gateway(
        self, document: Any, seen: Any, target: SchemaRef | None
    ) -> tuple[ValidationReport, TraserVerdict | None, ValidationReport]:
        """The Gateway's verdict on the pre-processed document ``seen``, and the verdict on the document as
        sent against the same schema."""
        if target is not None:
            verdict = self.traser(seen, target)
            return self._report(verdict, detected=False), verdict, self.pack.validate(document, target)
        for ref in self.pack.refs:
            twin = self._twin(ref)
            if twin is not None and twin.fails_robustly(seen):
                continue  # jsonschema-rs shows a failure Ajv cannot mend: no emulation needed
            if twin is None or twin.hazardous(seen) or not twin.valid(seen):  # valid against the twin: Ajv accepts
                try:
                    fits = AjvRun(self.schema(ref), undo=True).verdict_in_place(seen)
                except RecursionError:
                    fits = False  # as traser() judges it
            else:
                fits = True
            if not fits:
                continue  # the usual case, told without copying the document
            quick = self.traser(seen, ref, all_errors=False)
            if quick.valid:
                return self._report(quick, detected=True), quick, self.pack.validate(document, ref)
        # Nothing matches as the Gateway judges it. List the errors of the schema the document matches as
        # sent (the Gateway's behaviour is then the whole story), else of the closest schema.
        as_sent = self.pack.validate(document)
        closest = as_sent.schema
        if closest is None:  # pragma: no cover - an empty schema pack cannot be loaded
            return as_sent, None, as_sent
        verdict = self.traser(seen, closest)
        errors = verdict.errors
        summary = (
            f"matches none of the {len(self.pack.refs)} supported schemas as the Gateway judges them; "
            f"the closest is {closest} with {count(len(errors), truncated=verdict.truncated)}"
        )
        if verdict.hang:
            summary = self._report(verdict, detected=False).summary
        return ValidationReport(False, closest, errors, summary, verdict.truncated), verdict, as_sent

    @staticmethod
    def _report(verdict: TraserVerdict, detected: bool) -> ValidationReport:
        ref = verdict.schema
        if verdict.valid:
            how = " (first match, as the Gateway detects)" if detected else ""
            return ValidationReport(True, ref, (), f"valid {ref} as the Gateway will judge it{how}")
        errors, truncated = verdict.errors, verdict.truncated
        if verdict.hang:
            return ValidationReport(
                False,
                ref,
                errors,
                f"would hang the Gateway's validator on {ref}'s revision-URL pattern at {verdict.hang_path} "
                f"(about {verdict.hang_seconds:.0f} s; the Gateway gives up after {GATEWAY_TIMEOUT_S:.0f} s), "
                f"so it is rejected here: {count(len(errors), truncated=truncated)}",
                truncated,
            )
        summary = f"does not conform to {ref} as the Gateway will judge it: {count(len(errors), truncated=truncated)}"
        return ValidationReport(False, ref, errors, summary, truncated)

    # --- explanations -----------------------------------------------------------------------------------
    def _notes(
        self,
        document: Any,
        seen: Any,
        as_sent: ValidationReport,
        gateway: ValidationReport,
        verdict: TraserVerdict | None,
        pre_changes: list[Change],
        target: SchemaRef | None,
    ) -> tuple[QuirkNote, ...]:
        notes: list[QuirkNote] = []
        same_schema = as_sent.schema == gateway.schema
        gateway_paths = {e.path for e in gateway.errors}
        sent_paths = {e.path for e in as_sent.errors} if same_schema else set()
        # Lists cut at MAX_ERRORS cannot be compared: the Gateway's own errors are then the only ones explained.
        cut = gateway.truncated or as_sent.truncated
        differently = PathIndex(gateway_paths if cut else gateway_paths ^ sent_paths)
        rejecting = PathIndex(gateway_paths)
        final = verdict.checked_document if verdict is not None else seen
        by_path: dict[Path_, list[Change]] = {}
        for change in [*pre_changes, *(verdict.changes if verdict else ())]:
            by_path.setdefault(change.path, []).append(change)

        # What the Gateway did to a value, where that value is judged differently.
        explained: set[str] = set()
        explained_index = PathIndex()
        for path, changes in by_path.items():
            where = json_path(path)
            if not differently.within(where):
                continue
            before, after = lookup(document, path), lookup(final, path)
            if before is not MISSING and after is not MISSING and same_json(before, after):
                continue  # changed and changed back (e.g. null -> "" -> null across anyOf branches)
            notes.append(change_note(where, changes, before, after, rejecting.within(where)))
            explained.add(where)
            explained_index.add(where)
        # Strict errors the Gateway does not raise although it changed nothing there: Ajv reads them differently.
        if same_schema and not cut:
            text = "a strict validator rejects this value; the Gateway's validator (Ajv 8, ajv-formats 2) accepts it."
            for error_path in sorted(sent_paths - gateway_paths):
                if not explained_index.within(error_path) and explained_index.around(error_path) is None:
                    notes.append(QuirkNote(Quirk.AJV_VALIDATOR, error_path, text, True, "its validator accepts it"))
        encoded = [c for c in pre_changes if c.quirk is Quirk.HTML_ENTITIES and c.where not in explained]
        if encoded:
            notes.append(html_entities_note(encoded))
        if verdict is not None and verdict.hang:
            brief = f"about {verdict.hang_seconds:.0f} s of backtracking; the Gateway gives up after 30 s"
            notes.append(QuirkNote(Quirk.REGEX_HANG, verdict.hang_path or "", QUIRKS[Quirk.REGEX_HANG], True, brief))
        elif target is None and gateway.valid:
            hang = self._detection_hang(seen)
            if hang is not None:
                notes.append(QuirkNote(Quirk.DETECTION_HANG, hang, QUIRKS[Quirk.DETECTION_HANG]))
        sending = gateway.schema if gateway.valid else as_sent.schema if as_sent.valid else None
        if sending in NO_TRANSLATION_PATH:
            notes.append(QuirkNote(Quirk.NO_TRANSLATION, "", f"{sending}: {QUIRKS[Quirk.NO_TRANSLATION]}"))
        return tuple(notes)

    def _detection_hang(self, seen: Any) -> str | None:
        """Where HDRUK 3.0.0's revision-URL pattern would hang the Gateway's own schema detection."""
        hdruk300 = SchemaRef("HDRUK", "3.0.0")
        if hdruk300 not in self.pack:
            return None
        twin = self._twin(hdruk300)
        if twin is not None and twin.hazards and not twin.hazardous(seen):
            return None  # no value where the pattern applies could keep it busy for a second (see .fast)
        verdict = self.traser(seen, hdruk300, all_errors=False)
        return verdict.hang_path if verdict.hang else None

    @staticmethod
    def _annotate(
        report: ValidationReport,
        as_sent: ValidationReport,
        verdict: TraserVerdict | None,
        notes: tuple[QuirkNote, ...],
    ) -> ValidationReport:
        """Each error names the Gateway behaviour responsible; the summary says when the document as sent
        and the Gateway disagree."""
        if report.valid:
            return report
        decisive = [n for n in notes if n.decisive and n.path]
        index = PathIndex()
        for position, note in enumerate(decisive):
            index.add(note.path, position)
        errors = []
        for error in report.errors:
            at = index.around(error.path)  # the first decisive note about this value or one containing it
            brief = decisive[at].brief if at is not None else None
            errors.append(replace(error, message=f"{error.message} (Gateway: {brief})") if at is not None else error)
        summary = report.summary
        if as_sent.valid and as_sent.schema == report.schema and not (verdict and verdict.hang):
            causes = list(dict.fromkeys(QUIRK_SHORT[n.quirk] for n in decisive))
            because = f" because {' and '.join(causes)}" if causes else ""
            summary = (
                f"is valid {report.schema} as sent, but the Gateway would reject it{because}: "
                f"{count(len(errors), truncated=report.truncated)}"
            )
        return ValidationReport(report.valid, report.schema, tuple(errors), summary, report.truncated)

    @staticmethod
    def _warnings(
        mode: ValidationMode,
        report: ValidationReport,
        as_sent: ValidationReport,
        gateway: ValidationReport,
        notes: tuple[QuirkNote, ...],
    ) -> tuple[str, ...]:
        out: list[str] = []
        if mode is ValidationMode.STRICT and report.valid and not gateway.valid:
            head = "; ".join(f"{e.path} {e.message.rstrip('.')}" for e in gateway.errors[:3])
            at_least = "at least " if gateway.truncated else ""
            more = f" (and {at_least}{len(gateway.errors) - 3} more)" if len(gateway.errors) > 3 else ""
            out.append(f"Valid as sent, but the Gateway will reject it: {head}{more}.")
        if mode is ValidationMode.GATEWAY and report.valid and not as_sent.valid and as_sent.schema == report.schema:
            out.append(
                f"Not valid {report.schema} as written ({count(len(as_sent.errors), truncated=as_sent.truncated)}), "
                "but the Gateway accepts it "
                "after its own clean-up; fix the file so that it does not depend on that."
            )
        seen = set(out)
        for note in notes:
            if len(out) >= _MAX_WARNINGS:
                break
            text = f"Gateway: {note}"
            if text not in seen:
                out.append(text)
                seen.add(text)
        return tuple(out[:_MAX_WARNINGS])


_JUDGES: weakref.WeakKeyDictionary[SchemaPack, dict[Route, GatewayJudge]] = weakref.WeakKeyDictionary()
_JUDGES_LOCK = threading.Lock()


def judge_for(pack: SchemaPack, route: Route = Route.INTEGRATIONS) -> GatewayJudge:
    """The :class:`GatewayJudge` of ``pack`` for ``route`` (one per pack and route, built on first use)."""
    with _JUDGES_LOCK:
        judges = _JUDGES.setdefault(pack, {})
        judge = judges.get(route)
        if judge is None:
            judge = GatewayJudge(pack, route)
            judges[route] = judge
        return judge
