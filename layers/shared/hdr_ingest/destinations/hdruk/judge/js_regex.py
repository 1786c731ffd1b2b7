"""Regular expressions: JavaScript syntax (the ``u`` flag) on RE2, and the pack's catastrophic pattern."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache

import re2

_JS_WS_CLASS_BODY = r"\t\n\x0b\x0c\r \x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}\x{feff}"


def js_to_re2(pattern: str) -> str:
    """Rewrite the JavaScript (``u`` flag) constructs whose meaning differs in RE2: ``\\s``, ``\\S``, ``.``,
    ``\\uXXXX``/``\\u{X}``. Everything else used by the HDR UK schemas means the same in both."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if nxt == "s":
                out.append(_JS_WS_CLASS_BODY if in_class else f"[{_JS_WS_CLASS_BODY}]")
            elif nxt == "S" and not in_class:
                out.append(f"[^{_JS_WS_CLASS_BODY}]")
            elif nxt == "u" and pattern[i + 2 : i + 3] == "{":
                end = pattern.find("}", i)
                out.append(f"\\x{{{pattern[i + 3 : end]}}}")
                i = end + 1
                continue
            elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", pattern[i + 2 : i + 6]):
                out.append(f"\\x{{{pattern[i + 2 : i + 6]}}}")
                i += 6
                continue
            else:
                out.append(char + nxt)
            i += 2
            continue
        if char == "[" and not in_class:
            in_class = True
            out.append(char)
            if pattern[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
            if pattern[i + 1 : i + 2] == "]":  # "[]" in JS matches nothing; RE2 would read "]" literally
                out.append("\\]")
                i += 1
        elif char == "]" and in_class:
            in_class = False
            out.append(char)
        elif char == "." and not in_class:
            out.append(r"[^\n\r\x{2028}\x{2029}]")
        else:
            out.append(char)
        i += 1
    return "".join(out)


def utf8_safe(text: str) -> str:
    """RE2 takes UTF-8 only: a lone surrogate (legal in JSON, e.g. ``"\\ud800"``) becomes U+FFFD, which
    belongs to the same character classes in every pattern of the pack."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


@lru_cache(maxsize=512)
def js_regex(pattern: str) -> Callable[[str], bool]:
    """``new RegExp(pattern, "u").test`` on a linear-time engine."""
    try:
        compiled = re2.compile(js_to_re2(pattern))
    except re2.error:  # pragma: no cover - every pattern of the pack compiles under RE2
        fallback = re.compile(pattern)
        return lambda text: fallback.search(text) is not None
    return lambda text: compiled.search(utf8_safe(text)) is not None


_URL_V2 = r"^\s*((https?:\/\/)*([a-zA-Z0-9-]+\.?)+[a-zA-Z]{2,}(:\d+)?(\/[^\s]*)?(\n)?)+$"
_HOST_RUN = re.compile(r"[A-Za-z0-9.-]+")


def _url_v2_seconds(value: str) -> float:
    """Estimated time Node's backtracking engine spends before ``_URL_V2`` fails on ``value``.

    ``([a-zA-Z0-9-]+\\.?)+`` can split a run of n host characters in 2**n ways and the engine tries them all.
    Calibrated on the measurements in the notes: Python's ``re`` takes 0.75-0.86 s at n = 23-24 and doubles
    per character; TRASER took 160-328 s on the 36-character ``https://<uuid>`` (about 20x Python's speed).
    """
    longest = max((len(run.group()) - run.group().count(".") for run in _HOST_RUN.finditer(value)), default=0)
    return 0.054 * 2.0 ** (longest - 24)


CATASTROPHIC: Mapping[str, Callable[[str], float]] = {_URL_V2: _url_v2_seconds}
"""Patterns of the pack that backtrack exponentially in Node.js, with a cost estimate for a failing value."""
