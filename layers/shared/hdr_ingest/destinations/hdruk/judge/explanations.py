"""Turning Ajv errors into messages a custodian can act on, notes on what the Gateway changed, and
:func:`explain` for people."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from itertools import islice
from typing import Any

from hdr_ingest.core import fix_messages as fix
from hdr_ingest.core.outcome import ErrorDetail
from hdr_ingest.destinations.hdruk.schema_pack import count_errors, json_path
from hdr_ingest.destinations.jsonschema_errors import shown

from .ajv import AjvError
from .javascript import js_equal, js_type
from .records import MISSING, Change, Judgement, Path_, Quirk, QuirkNote, ValidationMode


def _show(value: Any) -> str:
    return fix.show(shown(value))


def _friendly(error: AjvError) -> list[ErrorDetail]:
    where = json_path(error.path)
    value, keyword = shown(error.value), error.keyword
    if error.branches:
        best = _best_branch(error.branches)
        if best:
            return [detail for sub in best for detail in _friendly(sub)]
        return [ErrorDetail(where, f"is {_show(value)}; it matches none of the allowed forms.")]
    if keyword == "required":
        return [ErrorDetail(json_path((*error.path, error.params["missingProperty"])), fix.MISSING)]
    if keyword == "additionalProperties":
        return [ErrorDetail(json_path((*error.path, error.params["additionalProperty"])), fix.UNKNOWN_FIELD)]
    if keyword == "enum":
        return [ErrorDetail(where, fix.one_of(value, list(error.params["allowedValues"])))]
    if keyword == "const":
        return [ErrorDetail(where, fix.equal_to(value, error.params["allowedValue"]))]
    if keyword == "type":
        return [ErrorDetail(where, fix.of_type(value, str(error.params["type"]).split(",")))]
    if keyword == "format":
        return [ErrorDetail(where, fix.in_format(value, error.params["format"], gateway=True))]
    if keyword == "pattern":
        return [ErrorDetail(where, fix.matching(value, error.params["pattern"]))]
    if keyword in ("minLength", "maxLength"):
        return [ErrorDetail(where, fix.of_length(value, keyword, error.params["limit"]))]
    if keyword in ("minItems", "maxItems"):
        return [ErrorDetail(where, fix.with_items(value, keyword, error.params["limit"]))]
    return [ErrorDetail(where, error.message + ".")]


def _best_branch(branches: Sequence[Sequence[AjvError]]) -> list[AjvError]:
    """The alternative the document came closest to (pydantic's ``anyOf: [X, {type: null}]``: X's errors)."""
    candidates = [
        list(errs)
        for errs in branches
        if errs and not (len(errs) == 1 and errs[0].keyword == "type" and errs[0].params.get("type") == "null")
    ]
    if not candidates:
        return []
    return min(candidates, key=lambda errs: (-max(len(e.path) for e in errs), len(errs)))


def flatten(errors: Iterable[AjvError], limit: int | None = None) -> tuple[ErrorDetail, ...]:
    """The errors in a custodian's words, in path order, de-duplicated; at most ``limit`` of them."""
    details = (
        detail for error in sorted(errors, key=lambda e: [str(p) for p in e.path]) for detail in _friendly(error)
    )
    unique: dict[ErrorDetail, None] = {}
    for detail in details:
        unique[detail] = None
        if limit is not None and len(unique) >= limit:
            break
    return tuple(islice(unique, limit))


def gateway_first(details: tuple[ErrorDetail, ...], reported: AjvError) -> tuple[ErrorDetail, ...]:
    """``details`` with the error the Gateway reports (Ajv's first, ``reported``) first and marked
    ``gateway_reports``, then the rest in their order. When ``details`` describe that value another way (a failed
    anyOf is described by the alternative the value came closest to, the Gateway reports the first alternative's
    error), the Gateway's error is added in front of them."""
    wanted = _friendly(reported)
    if not wanted:  # pragma: no cover - every Ajv error has a description
        return details
    lead = replace(wanted[0], gateway_reports=True)
    return (lead, *(d for d in details if d != wanted[0]))


def count(n: int, word: str = "error", truncated: bool = False) -> str:
    """``"3 errors"``; for a list cut at its limit, ``"at least 1,000 errors (stopped counting)"``."""
    if word == "error":
        return count_errors(n, truncated)
    return f"{n} {word}" + ("" if n == 1 else "s")


def lookup(document: Any, path: Path_) -> Any:
    node = document
    for part in path:
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return MISSING
    return node


def same_json(a: Any, b: Any) -> bool:
    return js_equal(a, b) and js_type(a) == js_type(b)


def affects(where: str, error_path: str) -> bool:
    """An error at ``error_path`` concerns the value at ``where`` (the same value or one inside it)."""
    return error_path == where or error_path.startswith(where + ".") or error_path.startswith(where + "[")


_STEP = re.compile(r"[^.\[]+|[.\[][^.\[]*")  # a path cut before each "." and "[": "$", ".a", "[0]", ...


class PathIndex:
    """Paths (``$.a[0]``) looked up as :func:`affects` reads them, in time linear in the path asked about however
    many are held: a trie of their steps (each path cut before every ``.`` and ``[``). Each path keeps the lowest
    tag it was added with."""

    def __init__(self, paths: Iterable[str] = ()) -> None:
        self._root: dict[str, Any] = {}
        for path in paths:
            self.add(path)

    def add(self, path: str, tag: int = 0) -> None:
        node = self._root
        for step in _STEP.findall(path):
            node = node.setdefault(step, {})
        node[""] = min(node.get("", tag), tag)  # "" is never a step: it marks where a path ends

    def within(self, where: str) -> bool:
        """Some path held is ``where`` or inside it: ``affects(where, held)``."""
        steps = _STEP.findall(where)
        node = self._root
        for step in steps:
            found = node.get(step)
            if found is None:
                return False
            node = found
        return bool(steps)

    def around(self, path: str) -> int | None:
        """The lowest tag of the paths held that are ``path`` or contain it (``affects(held, path)``)."""
        lowest: int | None = None
        node = self._root
        for step in _STEP.findall(path):
            found = node.get(step)
            if found is None:
                break
            node = found
            if "" in node and (lowest is None or node[""] < lowest):
                lowest = node[""]
        return lowest


_VERBS: Mapping[Quirk, str] = {
    Quirk.TRIM: "the Gateway trims it",
    Quirk.EMPTY_TO_NULL: 'the Gateway turns "" into null',
    Quirk.HTML_ENTITIES: "the Gateway HTML-encodes it (integrations routes)",
    Quirk.PHP_ARRAYS: "the Gateway (PHP) turns {} into []",
    Quirk.AJV_DEFAULTS: "the Gateway's validator inserts the schema default",
    Quirk.AJV_COERCION: "the Gateway's validator coerces its type",
}


_MAX_EXCERPT = 1000  # characters of a changed string quoted at most (a 10 MB one is not quoted whole)


def excerpts(before: str, after: str, context: int = 20) -> tuple[str, str]:
    """The two strings around their first difference, quoted."""
    start = next(
        (i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b), min(len(before), len(after))
    )
    tail = next(
        (i for i, (a, b) in enumerate(zip(reversed(before), reversed(after), strict=False)) if a != b),
        min(len(before), len(after)),
    )
    lo = max(0, start - context)

    def cut(text: str) -> str:
        hi = min(len(text), max(len(text) - tail + context, start + 1), lo + _MAX_EXCERPT)
        return json.dumps(("…" if lo else "") + text[lo:hi] + ("…" if hi < len(text) else ""), ensure_ascii=False)

    return cut(before), cut(after)


def _trimmed(changes: list[Change]) -> str:
    """The invisible characters the Gateway trimmed, named (`` (U+00A0 NO-BREAK SPACE)``); "" when it trimmed
    only ASCII white space, which shows in the quoted value."""
    found: dict[str, None] = {}
    for change in changes:
        if change.quirk is Quirk.TRIM:
            before, after = str(change.before), str(change.after)
            start = before.find(after) if after else len(before)
            found.update(dict.fromkeys(before[:start] + before[start + len(after) :]))
    unusual = [c for c in found if not c.isascii()]
    named = [f"U+{ord(c):04X} {unicodedata.name(c, '')}".rstrip() for c in unusual]
    return f" ({', '.join(named)})" if named else ""


def change_note(where: str, changes: list[Change], before: Any, after: Any, rejected: bool) -> QuirkNote:
    """What the Gateway did to the value at ``where``, and what to do about it."""
    kinds = list(dict.fromkeys(c.quirk for c in changes))
    sent = "missing" if before is MISSING else f"sent as {_show(before)}"
    judged = "absent" if after is MISSING else _show(after)
    verbs = [_VERBS[k] + (_trimmed(changes) if k is Quirk.TRIM else "") for k in kinds]
    brief = f"{sent}, validated as {judged}: {', then '.join(verbs)}"
    if not rejected:
        text = f"{brief}; it accepts the result. Fix the file so that it is valid as written."
    elif Quirk.HTML_ENTITIES in kinds:
        text = (
            f"{brief}; it rejects the result. Choose another allowed value, or publish through /api/v1/datasets, "
            "which does not encode input (GAT-7839)."
        )
    elif Quirk.AJV_DEFAULTS in kinds:
        default = next(c.after for c in changes if c.quirk is Quirk.AJV_DEFAULTS)
        text = (
            f"{brief}; the schema default {_show(default)} fails the schema's own rules, so every document "
            f"without it is rejected. Add {where.removeprefix('$.')} with a valid value."
        )
    elif Quirk.PHP_ARRAYS in kinds:
        text = f"{brief}; it rejects the result. Leave the field out, or use null where the schema allows it."
    else:
        text = f"{brief}; it rejects the result. Give it a value that is valid as written."
    quirk = next(q for q in _VERBS if q in kinds)
    return QuirkNote(quirk, where, text, True, brief)


def explain(judgement: Judgement, max_errors: int = 50) -> list[str]:
    """Lines a person can read: the verdict, every error, and each Gateway behaviour met with its fix.

    For the CLI ``validate`` command: print them one per line.
    """
    report = judgement.report
    lines: list[str] = []
    mode = "as the Gateway will judge it" if judgement.mode is ValidationMode.GATEWAY else "as sent (strict)"
    if report.valid:
        send = judgement.schema_to_send
        lines.append(f"VALID {report.schema} {mode}.")
        if send is not None:
            lines.append(f"It will be sent with input_schema={send.name}&input_version={send.version}.")
    else:
        lines.append(f"INVALID: the document {report.summary}.")
        lines.extend(_error_line(error) for error in report.errors[:max_errors])
        if len(report.errors) > max_errors or report.truncated:
            more = len(report.errors) - max_errors
            lines.append(f"  ... and {'at least ' if report.truncated else ''}{max(more, 0)} more")
    other = judgement.as_sent if judgement.mode is ValidationMode.GATEWAY else judgement.gateway
    if other.valid != report.valid or (other.schema != report.schema and other.valid):
        who = "As sent (strict)" if judgement.mode is ValidationMode.GATEWAY else "The Gateway"
        verdict = (
            f"valid {other.schema}"
            if other.valid
            else f"rejects it ({count(len(other.errors), truncated=other.truncated)})"
        )
        lines.append(f"{who}: {verdict}.")
        if judgement.mode is ValidationMode.STRICT and not other.valid:
            lines.extend(_error_line(e) for e in other.errors[:max_errors])
    if judgement.notes:
        lines.append("Gateway behaviour met:")
        for note in judgement.notes:
            lines.append(f"  - {note}")
    return lines


GATEWAY_MARK = " [the error the Gateway reports]"
"""Appended to the line of the error marked ``gateway_reports`` in text meant for people."""


def _error_line(error: ErrorDetail) -> str:
    return f"  {error.path}: {error.message}{GATEWAY_MARK if error.gateway_reports else ''}"
