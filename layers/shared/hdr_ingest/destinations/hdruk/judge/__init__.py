"""Predict the HDR UK Gateway's verdict on a metadata document, and say why it differs from a strict validator.

The Gateway never validates the document it was sent (``shared/notes/hdruk-gateway.md`` (c), (h)):

1. **Request pre-processing** (Laravel, PHP). ``TrimStrings`` trims every string, ``ConvertEmptyStringsToNull``
   turns ``""`` into null, and on the integrations routes ``sanitize.input`` runs
   ``htmlentities(trim($v), ENT_QUOTES)`` on every string, so ``"> 10 Years"`` reaches the validator as
   ``"&gt; 10 Years"`` and leaves the enum (GAT-7839). The body is decoded into PHP arrays and encoded again for
   TRASER, so an empty object ``{}`` becomes ``[]`` *(inferred from PHP semantics, not measured)*.
2. **TRASER** judges what is left with Ajv 8 (``coerceTypes``, ``useDefaults``, ``allErrors: false``,
   ajv-formats 2 "full"): the first schema in ``available.json`` order that matches, or the requested
   ``input_schema``/``input_version``. Ajv inserts schema defaults and coerces types while it validates, so CRUK
   1.0.0 rejects a document without ``summary.leadResearcher`` (default null, coerced to ``""``, fails
   ``minLength: 2``), ``""`` passes where null is allowed and ``"5"`` passes as 5. HDRUK 3.0.0's revision-URL
   pattern backtracks exponentially in Node's regex engine on ``https://<uuid>``: TRASER is blocked for minutes
   and the Gateway gives up with a 500.

:class:`GatewayJudge` reproduces both steps. Its Ajv emulation follows Ajv's generated code (keyword order, the
first-error short cut, where defaults apply, coercion order, ``$ref`` inlining) closely enough to agree with
TRASER's measured verdicts on every (example, schema) pair in ``shared/hdruk/traser-verdicts.json``
(``tests/integration/destinations/hdruk/judge/test_gateway_fidelity.py``). Regular expressions run on RE2, so
nothing here can hang; the known catastrophic pattern is recognised and its cost estimated instead.

Use :meth:`GatewayJudge.judge` in place of ``SchemaPack.validate``: ``mode="gateway"`` (the default) gives the
Gateway's verdict with every error; ``mode="strict"`` validates the document as-is and only warns about the
Gateway. :func:`explain` turns a :class:`Judgement` into lines for a person.

Modules, one job each: :mod:`.records` (what the judge reports), :mod:`.preprocess` (the Gateway's request
pre-processing), :mod:`.javascript` and :mod:`.js_regex` (JavaScript semantics as Ajv sees them),
:mod:`.formats` (ajv-formats), :mod:`.ajv` (the Ajv emulation), :mod:`.fast` (the fast verdict),
:mod:`.cleanup` (the pre-processing applied only where it changes something, for the fast verdict),
:mod:`.explanations` (messages for custodians and :func:`explain`), :mod:`.judge` (:class:`GatewayJudge`) and
:mod:`.measure` (its time per document and peak memory, for ``make bench``). jsonschema-rs comes through
:mod:`hdr_ingest.destinations.jsonschema_rust`.
"""

from __future__ import annotations

from hdr_ingest.destinations.hdruk.schema_pack import SchemaRef

from .explanations import GATEWAY_MARK, explain
from .judge import GatewayJudge, judge_for
from .preprocess import gateway_preprocess, laravel_trim, php_htmlentities
from .records import (
    GATEWAY_TIMEOUT_S,
    NO_TRANSLATION_PATH,
    QUIRKS,
    Change,
    Judgement,
    Quirk,
    QuirkNote,
    Route,
    TraserVerdict,
    ValidationMode,
)

__all__ = [
    "GATEWAY_MARK",
    "GATEWAY_TIMEOUT_S",
    "NO_TRANSLATION_PATH",
    "QUIRKS",
    "Change",
    "GatewayJudge",
    "Judgement",
    "Quirk",
    "QuirkNote",
    "Route",
    "SchemaRef",
    "TraserVerdict",
    "ValidationMode",
    "explain",
    "gateway_preprocess",
    "judge_for",
    "laravel_trim",
    "php_htmlentities",
]
