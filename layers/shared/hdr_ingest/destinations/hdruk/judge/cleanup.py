"""The Gateway's clean-up applied only where it changes something, for the fast verdict (:mod:`.fast`).

:func:`.preprocess.gateway_preprocess` walks every value of a document in Python: most of a second at 10 MB,
although real metadata has only a few strings the Gateway changes (an apostrophe in an abstract, "EMIS Web®").
Here jsonschema-rs finds them instead, with a *probe* schema that fails exactly where a value may change and
reports where:

- usually the document's compact JSON (which the caller has) names the candidates: every string literal that
  holds ``& ' < >``, a backslash escape (``\\"``, a control character), a non-ASCII character, a space at either
  end, or is empty. The probe then fails at every value equal to one of them (``enum``), which costs
  jsonschema-rs little more than a walk;
- with too many candidates, or an object the PHP re-encoding may turn into a list (``{}``, a key ``"0"``), the
  probe fails at every string that is not plain "clean" text (printable ASCII without ``& " ' < >``, not empty,
  no space at either end) and at those objects (a regular expression per string: about three times slower).

Only the flagged values go through ``gateway_preprocess``, and the document the Gateway validates is rebuilt by
copying just the containers on their paths; the rest is shared with the document as sent. Either probe is
conservative (a control character inside a string is flagged and then found unchanged), never lenient, so the
result, changes included, is what ``gateway_preprocess`` returns for the whole document.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import re2

from .explanations import count, excerpts
from .preprocess import gateway_preprocess
from .records import Change, Path_, Quirk, QuirkNote

_PLAIN = "!#-%(-;=?-~"  # printable ASCII without space, & " ' < >
_STRINGS: dict[str, Any] = {"pattern": f"^[{_PLAIN}](?:[ {_PLAIN}]*[{_PLAIN}])?$"}
_OBJECTS: dict[str, Any] = {"minProperties": 1, "not": {"type": "object", "required": ["0"]}}
# jsonschema-rs walks a chain of definitions about twice as fast as a schema that refers to itself, so the probe
# is unrolled this deep (deeper levels refer back to the top).
_UNROLLED = 16
MAX_PROBED = 20_000  # beyond this many flagged values, one walk in Python is cheaper than the probe's errors
MAX_CANDIDATES = 64  # distinct candidate strings for the enum probe (its cost grows beyond); more: the other probe
MAX_ENUM_CHARS = 4096  # a longer candidate is flagged by its length, not written into the enum probe
# In compact JSON without indentation, where a string the clean-up may change shows (a space is always inside a
# string there, so are & ' < >, a backslash and any byte of a non-ASCII character).
_LATIN1 = re2.Options()
_LATIN1.encoding = re2.Options.Encoding.LATIN1  # byte by byte: [\x80-\xff] is any byte of a non-ASCII character
_CANDIDATE = re2.compile(rb'[&\'<>\\\x80-\xff]|""|" | "|\{\}|\{"0":', options=_LATIN1)
_SMALL = 64 * 1024  # below this (compact JSON), compiling the enum probe costs more than the other probe's walk

_probes: dict[tuple[int, bool], Any] = {}
_probes_lock = threading.Lock()


def probe_schema(objects: bool, values: Sequence[str] | None = None) -> dict[str, Any]:
    """The probe: it fails at every string equal to one of ``values`` or, without ``values``, at every string
    the clean-up may change; with ``objects``, also at every object the PHP re-encoding may turn into a list."""
    checks = _equal_to_any(values) if values is not None else dict(_STRINGS)
    if objects:
        checks = {"allOf": [checks, _OBJECTS]}
    levels: dict[str, Any] = {}
    for depth in range(_UNROLLED):
        below = {"$ref": f"#/$defs/level{depth + 1}" if depth + 1 < _UNROLLED else "#"}
        levels[f"level{depth}"] = {**checks, "items": below, "additionalProperties": below}
    return {"$defs": levels, "$ref": "#/$defs/level0"}


def _equal_to_any(values: Sequence[str]) -> dict[str, Any]:
    """Fails at every string equal to one of ``values``. A long value is not written into the schema (the probe
    holds it once per unrolled level, and jsonschema-rs copies it again: about 66 bytes per byte of it); every
    string at least as long as the shortest long value fails instead, which flags more, never less."""
    short = [value for value in values if len(value) <= MAX_ENUM_CHARS]
    longest = [len(value) for value in values if len(value) > MAX_ENUM_CHARS]
    if not longest:
        return {"not": {"enum": short}}
    return {"not": {"anyOf": [{"enum": short}, {"type": "string", "minLength": min(longest)}]}}


def _probe(engine: Any, objects: bool) -> Any:
    key = (id(engine), objects)
    found = _probes.get(key)
    if found is None:
        with _probes_lock:
            found = _probes.get(key)
            if found is None:
                found = engine.Draft202012Validator(probe_schema(objects), pattern_options=engine.RegexOptions())
                _probes[key] = found
    return found


def candidates(text: str) -> tuple[list[str] | None, bool]:
    """From the compact JSON ``text`` of a document (any key order, non-ASCII as is or escaped): the distinct
    string values the clean-up may change (None: more than :data:`MAX_CANDIDATES`), and whether an object may
    turn into a list."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: jsonschema-rs cannot take the document either
        return None, True
    objects = False
    found: dict[str, None] = {}
    position = 0
    while (match := _CANDIDATE.search(data, position)) is not None:
        if match.group().startswith(b"{"):  # {} or {"0": (perhaps inside a string: that only costs speed)
            objects = True
            position = match.end()
            continue
        if match.group() == b'""':  # an empty string (or the end of one ending in an escaped quote: found too)
            found[""] = None
            position = match.end()
            continue
        inside = match.start() + (1 if match.group() == b'" ' else 0)
        start, end = _opening(data, inside), _closing(data, inside)
        if start < 0 or end < 0:  # not compact JSON after all
            return None, True
        if data[end + 1 : end + 2] != b":":  # a key: the clean-up leaves keys alone
            try:
                value = json.loads(data[start : end + 1])
            except ValueError:  # e.g. a lone surrogate: let the other probe (and jsonschema-rs) decide
                return None, True
            if not isinstance(value, str):
                return None, True
            found[value] = None
            if len(found) > MAX_CANDIDATES:
                return None, objects
        position = end + 1
    return list(found), objects


def _escaped(data: bytes, quote: int) -> bool:
    backslashes = 0
    while quote - backslashes - 1 >= 0 and data[quote - backslashes - 1] == 0x5C:
        backslashes += 1
    return backslashes % 2 == 1


def _opening(data: bytes, inside: int) -> int:
    """The opening quote of the string literal that holds position ``inside``."""
    quote = data.rfind(b'"', 0, inside)
    while _escaped(data, quote):
        quote = data.rfind(b'"', 0, quote)
    return quote


def _closing(data: bytes, inside: int) -> int:
    """The closing quote of the string literal that holds position ``inside``."""
    quote = data.find(b'"', inside)
    while _escaped(data, quote):
        quote = data.find(b'"', quote + 1)
    return quote


def flagged(
    document: Any, engine: Any, *, objects: bool = True, values: Sequence[str] | None = None
) -> list[tuple[Path_, Any]] | None:
    """Every value the Gateway's clean-up may change, with its path, in no particular order (objects only with
    ``objects``; strings equal to one of ``values`` when given); None when jsonschema-rs cannot take the
    document or there are more than :data:`MAX_PROBED`."""
    found: dict[Path_, Any] = {}
    try:
        if values is None:
            probe = _probe(engine, objects)
        else:
            probe = engine.Draft202012Validator(probe_schema(objects, values))
        for error in probe.iter_errors(document):
            path, value = _resolved(document, error.instance_path)
            found[path] = value
            if len(found) > MAX_PROBED:
                return None
    except Exception:  # noqa: BLE001 - e.g. a lone surrogate: the caller falls back to the full walk
        return None
    return list(found.items())


def cleaned(
    document: Any, engine: Any, *, html_entities: bool, text: str | None = None
) -> tuple[Any, list[Change]] | None:
    """``gateway_preprocess(document, php_arrays=True, ...)`` and its changes (in no particular order; see
    :func:`html_entities_note`), computed where the probe flags a value; None when the probe cannot answer.
    ``text``, the document's compact JSON, makes the probe much cheaper (see the module's description), and a
    document it shows clean costs no probe at all."""
    if text is not None and len(text) < _SMALL:  # the other probe, built once, costs less than listing candidates
        if _CANDIDATE.search(text.encode("utf-8", "surrogatepass")) is None:
            return document, []
        values, objects = None, True
    else:
        values, objects = candidates(text) if text is not None else (None, True)
        if text is not None and values == [] and not objects:
            return document, []
    found = flagged(document, engine, objects=objects, values=values)
    if found is None:
        return None
    containers = {path for path, value in found if isinstance(value, dict)}
    changes: list[Change] = []
    replaced: dict[Path_, Any] = {}
    for path, value in found:
        if containers and _under_any(path, containers):
            continue  # cleaned with its container
        before = len(changes)
        after = gateway_preprocess(value, html_entities=html_entities, php_arrays=True, changes=changes, path=path)
        if len(changes) > before or isinstance(value, dict):
            replaced[path] = after
    return (_rebuilt(document, replaced) if replaced else document), changes


def html_entities_note(encoded: Sequence[Change], document: Any = None) -> QuirkNote:
    """The note on the strings the Gateway stores HTML-encoded (``encoded``: their changes): the shortest as
    the example, the first of those in document order (give ``document`` when ``encoded`` is in another order)."""
    shortest = min(len(str(change.before)) for change in encoded)
    ties = [change for change in encoded if len(str(change.before)) == shortest]
    sample = ties[0] if document is None or len(ties) == 1 else _first_in_document(document, ties)
    before, after = excerpts(str(sample.before), str(sample.after))
    return QuirkNote(
        Quirk.HTML_ENTITIES,
        sample.where,
        f"the Gateway will store {count(len(encoded), 'text value')} HTML-encoded, e.g. "
        f"{before} as {after} (this does not affect validation).",
    )


def _resolved(document: Any, steps: Iterable[Any]) -> tuple[Path_, Any]:
    """jsonschema-rs's instance path as :func:`gateway_preprocess` spells it (it reports a key ``"0"`` as 0),
    and the value there."""
    out: list[str | int] = []
    for step in steps:
        step = str(step) if isinstance(document, dict) else int(step)
        out.append(step)
        document = document[step]
    return tuple(out), document


def _under_any(path: Path_, containers: set[Path_]) -> bool:
    return any(path[:depth] in containers for depth in range(len(path)))


def _first_in_document(document: Any, changes: Sequence[Change]) -> Change:
    """The change a depth-first walk of ``document`` meets first (each at a different path)."""

    def key(change: Change) -> tuple[int, ...]:
        node, out = document, []
        for step in change.path:
            out.append(list(node).index(step) if isinstance(node, dict) else int(step))
            node = node[step]
        return tuple(out)

    return min(changes, key=key)


def _rebuilt(document: Any, replaced: dict[Path_, Any]) -> Any:
    """``document`` with the value at each path of ``replaced`` swapped in: the containers on those paths are
    copied, everything else is shared."""
    tree: dict[Any, Any] = {}
    for path, value in replaced.items():
        if not path:
            return value
        node = tree
        for step in path[:-1]:
            node = node.setdefault(step, {})
        node[path[-1]] = _Leaf(value)

    def build(node: Any, branch: dict[Any, Any]) -> Any:
        copied = dict(node) if isinstance(node, dict) else list(node)
        for step, sub in branch.items():
            copied[step] = sub.value if isinstance(sub, _Leaf) else build(node[step], sub)
        return copied

    return build(document, tree)


class _Leaf:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value
