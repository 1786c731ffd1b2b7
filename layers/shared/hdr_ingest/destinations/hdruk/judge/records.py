"""What the judge reports: verdicts, judgements, the Gateway behaviours (quirks) and the changes they make."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hdr_ingest.core.outcome import ErrorDetail
from hdr_ingest.destinations.hdruk.schema_pack import SchemaRef, ValidationReport, json_path

MISSING: Any = object()
"""Stands for a value that is not there (a missing field, an entry not built yet)."""

GATEWAY_TIMEOUT_S = 30.0
"""The Gateway waits this long for TRASER (Laravel HTTP client default; Octane ``max_execution_time``)."""

NO_TRANSLATION_PATH = frozenset(
    {SchemaRef("CRUK", "1.0.0"), SchemaRef("GWDM", "2.1"), SchemaRef("SchemaOrg", "GoogleRecommended")}
)
"""Schemas with no translation path to GWDM 2.0 in traser-mapping-files (notes (c)): the Gateway cannot ingest them."""


class ValidationMode(StrEnum):
    """``gateway``: the verdict the Gateway will reach (default). ``strict``: the document as sent."""

    GATEWAY = "gateway"
    STRICT = "strict"


class Route(StrEnum):
    """Which Gateway route receives the document: the pre-processing differs."""

    INTEGRATIONS = "integrations"  # /api/v1/integrations/datasets (and /api/v2): trim, "" -> null, htmlentities
    DATASETS_V1 = "datasets-v1"  # /api/v1/datasets: trim and "" -> null only (sanitize.input is commented out)


class Quirk(StrEnum):
    """A Gateway behaviour that can make its verdict differ from a strict validator's."""

    TRIM = "trim"
    EMPTY_TO_NULL = "empty-to-null"
    HTML_ENTITIES = "html-entities"
    PHP_ARRAYS = "php-arrays"
    AJV_DEFAULTS = "ajv-defaults"
    AJV_COERCION = "ajv-coercion"
    AJV_VALIDATOR = "ajv-validator"
    REGEX_HANG = "regex-hang"
    DETECTION_HANG = "detection-hang"
    NO_TRANSLATION = "no-translation-path"


QUIRKS: Mapping[Quirk, str] = {
    Quirk.TRIM: "The Gateway trims leading and trailing whitespace from every string before validating it "
    "(Laravel TrimStrings).",
    Quirk.EMPTY_TO_NULL: 'The Gateway turns every empty string "" into null before validating it '
    "(Laravel ConvertEmptyStringsToNull).",
    Quirk.HTML_ENTITIES: "On the integrations routes the Gateway HTML-encodes every string (sanitize.input: "
    "htmlentities with ENT_QUOTES), so & < > \" ' and accented letters reach its validator, and its database, as "
    'entities; the enum value "> 10 Years" becomes "&gt; 10 Years" and is rejected (GAT-7839, fix reverted). '
    "Choose another allowed value, or publish through /api/v1/datasets, which does not encode input.",
    Quirk.PHP_ARRAYS: "The Gateway decodes the body into PHP arrays and encodes it again for its validator, so an "
    "empty object {} arrives as an empty array [] (inferred from PHP's json_decode/json_encode, not measured). "
    "Leave the field out, or use null where the schema allows it.",
    Quirk.AJV_DEFAULTS: "The Gateway's validator (TRASER, Ajv useDefaults) inserts each missing field that has a "
    "schema default before checking it.",
    Quirk.AJV_COERCION: 'The Gateway\'s validator (TRASER, Ajv coerceTypes) converts types while it validates: "" '
    'to null where null is allowed, null to "" where a string is required, "5" to 5, 5 to "5", "true" to true.',
    Quirk.AJV_VALIDATOR: "The Gateway's validator (Ajv 8 with ajv-formats 2) reads this keyword differently from "
    "a strict JSON Schema validator (e.g. it accepts a date-time without a time zone).",
    Quirk.REGEX_HANG: "HDRUK 3.0.0's revision-URL pattern (UrlV2) backtracks exponentially in the Gateway's "
    "validator on a URL such as https://<uuid>: TRASER is blocked for minutes (160-328 s measured) and the "
    "Gateway answers 500 after 30 s, so the document is never accepted. Use a URL with a real host name "
    "(e.g. https://example.org/dataset/1.0.0), or publish the document as HDRUK 4.0.0.",
    Quirk.DETECTION_HANG: "Sent without input_schema, the Gateway would try every schema, including HDRUK "
    "3.0.0, whose revision-URL pattern hangs on this document; it is always sent with input_schema and "
    "input_version, which avoids the hang.",
    Quirk.NO_TRANSLATION: "The Gateway translates every document to GWDM 2.0 and has no translation path from "
    "this schema (traser-mapping-files), so it will reject it even though it is valid; publish it as HDRUK 4.0.0.",
}

QUIRK_SHORT: Mapping[Quirk, str] = {
    Quirk.TRIM: "the Gateway trims strings",
    Quirk.EMPTY_TO_NULL: 'the Gateway turns "" into null',
    Quirk.HTML_ENTITIES: "the Gateway HTML-encodes text on the integrations routes",
    Quirk.PHP_ARRAYS: "the Gateway (PHP) turns {} into []",
    Quirk.AJV_DEFAULTS: "the Gateway's validator inserts schema defaults",
    Quirk.AJV_COERCION: "the Gateway's validator coerces types",
    Quirk.AJV_VALIDATOR: "the Gateway's validator (Ajv) reads this keyword differently",
    Quirk.REGEX_HANG: "HDRUK 3.0.0's revision-URL pattern hangs the Gateway's validator",
    Quirk.DETECTION_HANG: "the Gateway's schema detection would hang",
    Quirk.NO_TRANSLATION: "the Gateway cannot translate this schema to GWDM 2.0",
}


Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Change:
    """One change the Gateway makes to the document before or while validating it."""

    path: Path_
    quirk: Quirk
    before: Any
    after: Any
    missing_before: bool = False  # the field did not exist (a default was inserted)

    @property
    def where(self) -> str:
        return json_path(self.path)


@dataclass(frozen=True)
class QuirkNote:
    """A Gateway behaviour met in this document, at ``path`` (empty when it concerns the whole document).

    ``explanation`` is a sentence for a person, with the fix; ``brief`` a few words for an error message.
    ``decisive``: it changes the verdict (the document as sent and the Gateway disagree because of it).
    """

    quirk: Quirk
    path: str
    explanation: str
    decisive: bool = False
    brief: str = ""

    def __str__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return f"{self.quirk.value}{where}: {self.explanation}"


@dataclass(frozen=True)
class TraserVerdict:
    """TRASER's verdict on one document against one schema (the document as TRASER receives it).

    ``first_error`` is what TRASER reports (Ajv's ``instancePath`` and message) and ``ajv_errors`` Ajv's whole
    ``errors`` array; ``errors`` lists every error in this package's wording. ``hang``: the check would block
    TRASER past the Gateway's 30 s timeout (TRASER still ends with "invalid", so ``valid`` is then False).
    ``document`` is the document as TRASER leaves it (defaults inserted, types coerced, up to the first error);
    ``checked_document`` and ``changes`` come from the every-error pass when there was one.
    """

    schema: SchemaRef
    valid: bool
    first_error: ErrorDetail | None
    errors: tuple[ErrorDetail, ...]
    ajv_errors: tuple[dict[str, Any], ...]
    changes: tuple[Change, ...]
    document: Any
    hang: bool = False
    hang_seconds: float = 0.0
    hang_path: str | None = None
    checked_document: Any = None  # after the every-error pass (Ajv allErrors), when there was one
    truncated: bool = False  # the every-error pass stopped at MAX_ERRORS: ``errors`` holds the first ones

    @property
    def verdict(self) -> str:
        """``valid``, ``invalid`` or ``hang``: the vocabulary of ``traser-verdicts.json``."""
        return "hang" if self.hang else ("valid" if self.valid else "invalid")


@dataclass(frozen=True)
class Judgement:
    """The verdict on one document, and everything needed to explain it.

    ``report`` is the verdict of ``mode``: the Gateway's (``gateway``) or the document's as sent (``strict``).
    ``gateway`` and ``as_sent`` hold both verdicts; ``schema_to_send`` is the schema to pass as
    ``input_schema``/``input_version`` (None when the document must not be sent). ``warnings`` are one-line
    messages for the ledger; ``notes`` are the Gateway behaviours met, with the path where each applies.
    ``received`` is the document after the judge's route's clean-up, as the Gateway receives it and keeps it
    (``original_metadata``; what ``readback.expected`` computes), or :data:`MISSING` when the judge did not compute
    it; it may share values with the document judged (read it, never change it).
    """

    mode: ValidationMode
    report: ValidationReport
    gateway: ValidationReport
    as_sent: ValidationReport
    schema_to_send: SchemaRef | None
    warnings: tuple[str, ...] = ()
    notes: tuple[QuirkNote, ...] = ()
    hang: bool = False
    received: Any = field(default=MISSING, repr=False, compare=False)

    @property
    def valid(self) -> bool:
        return self.report.valid

    @property
    def gateway_disagrees(self) -> bool:
        """The document as sent and the Gateway reach different verdicts."""
        return self.gateway.valid != self.as_sent.valid

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, e.g. for ``hdr-ingest validate --json``."""

        def report(r: ValidationReport) -> dict[str, Any]:
            schema = str(r.schema) if r.schema else None
            return {"valid": r.valid, "schema": schema, "summary": r.summary, "errors": [e.as_dict() for e in r.errors]}

        return {
            "mode": self.mode.value,
            **report(self.report),
            "schema_to_send": str(self.schema_to_send) if self.schema_to_send else None,
            "gateway": report(self.gateway),
            "as_sent": report(self.as_sent),
            "hang": self.hang,
            "warnings": list(self.warnings),
            "notes": [
                {"quirk": n.quirk.value, "path": n.path, "explanation": n.explanation, "decisive": n.decisive}
                for n in self.notes
            ],
        }
