"""Judging a document before it is sent: UNIS's own metadata schema, as UNIS validates it.

UNIS fills in ``id``, ``ts``, ``selfRef`` and ``$schema`` before it validates (``periscope/handlers``), so a
document without them is judged as UNIS will see it; ``id`` then becomes our stable key for its source. Formats
(``uri``) are not asserted, as UNIS's ``jsonschema.validate`` does not assert them: a value that is not a URI
where the schema says ``format: uri`` is a warning.
"""

from __future__ import annotations

from typing import Any

from hdr_ingest.core import fix_messages as fix
from hdr_ingest.core.outcome import ErrorDetail
from hdr_ingest.core.ports import Verdict
from hdr_ingest.destinations.jsonschema_errors import describe, json_path
from hdr_ingest.destinations.unis.schemas import UnisSchema

PLACEHOLDER_ID = "hgi-placeholder"  # our key stands in for a missing id: any non-empty string validates alike


def judge(document: Any, schema: UnisSchema) -> Verdict:
    target = schema.version.label
    if not isinstance(document, dict):
        error = ErrorDetail("$", "must be a JSON object (one UNIS metadata record); fix the file's top level.")
        return Verdict(False, f"has 1 error against {target}", (error,), target)
    as_sent = document if "id" in document else {**document, "id": PLACEHOLDER_ID}
    raw = sorted(schema.validator().iter_errors(as_sent), key=lambda e: [str(p) for p in e.absolute_path])
    errors = tuple(dict.fromkeys(detail for error in raw for detail in describe(error)))
    warnings = _warnings(document, schema) + _format_warnings(as_sent, schema)
    if errors:
        count = f"{len(errors)} error" + ("" if len(errors) == 1 else "s")
        return Verdict(False, f"has {count} against {target}", errors, target, warnings)
    return Verdict(True, f"valid {target}", (), target, warnings)


def _warnings(document: dict[str, Any], schema: UnisSchema) -> tuple[str, ...]:
    found: list[str] = []
    named = document.get("$schema")
    if isinstance(named, str) and named.rstrip("#") != schema.uri.rstrip("#"):
        found.append(
            f"$schema names {named!r}, but this route validates against {schema.uri!r} ({schema.version.label}), "
            "as UNIS does for its /metadata collection; set the route's schema option if the server runs the "
            "other version."
        )
    return tuple(found)


def _format_warnings(document: dict[str, Any], schema: UnisSchema) -> tuple[str, ...]:
    found = (e for e in schema.validator(formats=True).iter_errors(document) if e.validator == "format")
    return tuple(_format_warning(json_path(e.absolute_path), e.instance, str(e.validator_value)) for e in found)


def _format_warning(path: str, value: Any, name: str) -> str:
    advice = fix.in_format(value, name).rstrip(".").replace("; it must be", "; it should be")
    return f"{path} {advice} (UNIS does not check formats, so it is published as it is)."
