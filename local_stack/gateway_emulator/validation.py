"""The emulator's view of TRASER: a dependency-injected validator and the Gateway's 400 body on rejection.

The validator is anything with ``validate(document, target) -> report`` where the report has ``valid``,
``schema`` and ``errors`` (each error with ``path`` and ``message``).
``target`` is ``None`` (TRASER's "first schema in available.json order that matches") or an object with
``name`` and ``version``; see :func:`default_target_factory` for how the emulator builds it.

A schema pack directory (a :class:`~pathlib.Path` holding ``available.json``, or any object with such a
``directory``, e.g. the function's ``SchemaPack``) is judged the way TRASER judges: :func:`as_traser` hands it to
:class:`.traser_node.NodeTraser`, Ajv 8 with TRASER's options through Node (Ajv's defaults and type coercion, its
first error, the document as Ajv leaves it, and the HDRUK 3.0.0 revision-URL pattern that hangs the real TRASER:
the Gateway then answers 500). Such reports also carry ``ajv_errors``, ``document`` and ``hang``;
``validationErrors`` are then Ajv's errors (``instancePath``, ``schemaPath``, ``keyword``, ``params``,
``message``) plus two emulator conveniences: ``path`` (``$.a.b``, including a missing or extra property) and
the offending value appended to ``message`` as ``(got ...)``."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "ErrorLike",
    "ReportLike",
    "SchemaTarget",
    "TraserOutcome",
    "Validator",
    "as_traser",
    "default_target_factory",
    "run_traser",
]


class ErrorLike(Protocol):
    @property
    def path(self) -> str: ...

    @property
    def message(self) -> str: ...


class ReportLike(Protocol):
    @property
    def valid(self) -> bool: ...

    @property
    def schema(self) -> object | None: ...

    @property
    def errors(self) -> Sequence[ErrorLike]: ...


@runtime_checkable
class Validator(Protocol):
    """What the emulator needs from a schema validator (:class:`.traser_node.NodeTraser` satisfies it)."""

    def validate(self, document: Any, target: Any = None) -> ReportLike: ...


@dataclass(frozen=True)
class SchemaTarget:
    """A schema of the pack, by name and version (what ``input_schema``/``input_version`` name)."""

    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


TargetFactory = Callable[[str, str], object]


def as_traser(validator: object) -> Validator | None:
    """A schema pack judged by TRASER's own validator; any other validator unchanged.

    ``validator`` may be a pack directory, or an object whose ``directory`` is one (the function's
    ``SchemaPack``: only its directory is used, never its code), or a ready validator (tests' fakes).
    """
    directory = validator if isinstance(validator, Path) else getattr(validator, "directory", None)
    if isinstance(directory, Path) and (directory / "available.json").is_file():
        from .traser_node import NodeTraser

        return NodeTraser(directory)
    if validator is None or isinstance(validator, Validator):
        return validator
    raise TypeError(f"not a validator nor a schema pack directory: {validator!r}")


def default_target_factory(validator: object) -> TargetFactory:
    """Targets of the validator's own ``SchemaRef`` type if its module defines one, else ``SchemaTarget``
    (what :class:`.traser_node.NodeTraser` takes)."""
    module = sys.modules.get(type(validator).__module__)
    ref_type = getattr(module, "SchemaRef", None) if module is not None else None
    if isinstance(ref_type, type):

        def build(name: str, version: str) -> object:
            return ref_type(name=name, version=version)

        return build
    return SchemaTarget


@dataclass(frozen=True)
class TraserOutcome:
    """Result of the emulated ``MMC::translateDataModelType`` call."""

    ok: bool
    schema: str | None = None
    details: dict[str, Any] | None = None  # the Gateway's "details" object when not ok
    server_error: str | None = None  # set when the Gateway would answer 500 instead of 400


_INDEX_RE = re.compile(r"\[(\d+)\]")


def _pointer(path: str) -> str:
    """``$.summary.keywords[2]`` -> ``/summary/keywords/2`` (Ajv's ``instancePath``)."""
    text = path[1:] if path.startswith("$") else path
    text = _INDEX_RE.sub(r".\1", text)
    parts = [part for part in text.split(".") if part]
    return "".join(f"/{part}" for part in parts)


def _failure(traser_body: dict[str, Any], status: int = 400) -> TraserOutcome:
    return TraserOutcome(
        ok=False,
        details={
            "traser_message": traser_body,
            "wasTranslated": False,
            "metadata": None,
            "statusCode": status,
        },
    )


def _supports(validator: object, target: object) -> bool:
    """``target in validator`` when the validator can answer that (``NodeTraser`` can), else assume yes."""
    contains = getattr(validator, "__contains__", None)
    if not callable(contains):
        return True
    try:
        return bool(contains(target))
    except Exception:  # noqa: BLE001 - an odd validator: let validate() decide
        return True


def _unsupported(input_schema: str, input_version: str) -> TraserOutcome:
    """TRASER's 400 for an input model that is not a node of its translation graph: ``{"message": "Cannot support
    the input model (<name>:<version>)"}`` and nothing else (HDRUK/traser ``src/routes/translate.js``, read at
    01fa343; notes §(c) step 2 quote its start). The emulator asks the schema pack rather than the mapping graph:
    the same answer for a name or version TRASER has never heard of; a pack schema without a map (notes §(c): CRUK,
    GWDM 2.1, SchemaOrg GoogleRecommended) is validated here rather than refused."""
    return _failure({"message": f"Cannot support the input model ({input_schema}:{input_version})"})


def _not_an_object(document: Any) -> TraserOutcome:
    """TRASER's express-validator check ``body("metadata").isObject().notEmpty().bail()`` failing: 400
    ``{"message": "Translation has failed.", "errors": [<express-validator 7 field error>]}`` (HDRUK/traser
    ``src/routes/translate.js``, read at 01fa343; express-validator ``^7.0.1`` in its ``package.json``, whose
    default message is "Invalid value"). Notes §(a) "Test endpoint" and §(c): TRASER requires ``body.metadata`` to
    be an object, which is why metadata sent as a string breaks under ``sanitize.input``."""
    error = {"type": "field", "value": _jsonable(document), "msg": "Invalid value", "path": "metadata"}
    error["location"] = "body"
    return _failure({"message": "Translation has failed.", "errors": [error]})


def _available_schemas(validator: object) -> dict[str, Any]:
    refs = getattr(validator, "refs", None)
    if isinstance(refs, (list, tuple)) and refs:
        grouped: dict[str, list[str]] = {}
        for ref in refs:
            name, version = getattr(ref, "name", None), getattr(ref, "version", None)
            if isinstance(name, str) and isinstance(version, str):
                grouped.setdefault(name, []).append(version)
        if grouped:
            return grouped
    for name in ("available", "available_schemas"):
        value = getattr(validator, name, None)
        if callable(value):
            try:
                value = value()
            except Exception:  # noqa: BLE001 - best effort only
                value = None
        if isinstance(value, Mapping):
            return {str(key): _jsonable(item) for key, item in value.items()}
    return {}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return str(value)


def run_traser(
    validator: Validator | None,
    document: Any,
    input_schema: str | None,
    input_version: str | None,
    target_factory: TargetFactory,
) -> TraserOutcome:
    """Validate like TRASER's ``/translate`` input step and shape a failure like the Gateway does.

    Sources (shared/notes/hdruk-gateway.md §(a), §(c)): HDRUK/traser d84e60a ``src/routes/translate.js`` (the
    input checks and messages), ``src/routes/utils/translate.js`` (``findModelAndVersion``); HDRUK/gateway-api
    57e1406 ``MetadataManagementController.php`` (only 200 counts; "Translation Service error" when TRASER fails
    or the 30 s HTTP default runs out) and ``IntegrationDatasetController`` store/update (the 400 body).

    * ``document`` must be a JSON object (TRASER requires ``body.metadata`` to be an object): else TRASER's
      "Translation has failed." with express-validator's error.
    * With both ``input_schema`` and ``input_version``: validate against that schema only; an unknown schema
      gives "Cannot support the input model (<name>:<version>)"; a failure gives "Input metadata validation
      failed" with the first error only (Ajv ``allErrors: false``) as ``validationErrors`` plus the document as
      ``data``.
    * Otherwise: first match in available.json order; no match gives "Input metadata object matched no known
      schemas" (no per-schema errors, like TRASER).
    * A validator that raises anything else is reported as the Gateway's 500 "Translation Service error".
    """
    if not isinstance(document, dict):
        return _not_an_object(document)
    if validator is None:
        return TraserOutcome(ok=True)
    target: object | None = None
    if input_schema and input_version:
        target = target_factory(input_schema, input_version)
        if not _supports(validator, target):
            return _unsupported(input_schema, input_version)
    try:
        report = validator.validate(document, target)
    except (KeyError, LookupError, ValueError, FileNotFoundError):
        if target is None or input_schema is None or input_version is None:
            return TraserOutcome(ok=False, server_error=_translation_error())
        return _unsupported(input_schema, input_version)
    except Exception:  # noqa: BLE001 - the Gateway turns any TRASER failure into a 500
        return TraserOutcome(ok=False, server_error=_translation_error())
    if getattr(report, "hang", False):
        # TRASER is blocked for 160-328 s (notes §(h)); the Gateway's HTTP call to it has no timeout of its own, so
        # Laravel's 30 s default applies (notes §(f)) and the Gateway answers "Translation Service error" (notes §(a)
        # table). The emulator answers at once instead of after 30 s (see traser_node: a deliberate difference).
        return TraserOutcome(ok=False, server_error=_translation_error())
    if report.valid:
        return TraserOutcome(ok=True, schema=str(report.schema) if report.schema is not None else None)
    if target is None:
        return _failure(
            {
                "message": "Input metadata object matched no known schemas",
                "details": {"available_schemas": _available_schemas(validator)},
            }
        )
    return _validation_failed(report, document)


def _validation_failed(report: ReportLike, document: Any) -> TraserOutcome:
    """TRASER's "Input metadata validation failed": Ajv's errors (else the first error) and the document as Ajv
    left it (else as sent)."""
    ajv_errors = getattr(report, "ajv_errors", None)
    data = getattr(report, "document", None)
    if ajv_errors:
        errors = [_with_conveniences(error, data) for error in ajv_errors]
    else:
        errors = [
            {"instancePath": _pointer(error.path), "path": error.path, "message": error.message}
            for error in list(report.errors)[:1]
        ]
    details = {"validationErrors": errors, "data": document if data is None else data}
    return _failure({"message": "Input metadata validation failed", "details": details})


def _with_conveniences(error: Mapping[str, Any], data: Any) -> dict[str, Any]:
    """An Ajv error plus ``path`` (``$``-style, naming a missing or extra property) and the value it concerns."""
    pointer = str(error.get("instancePath", ""))
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    params = error.get("params") if isinstance(error.get("params"), Mapping) else {}
    assert isinstance(params, Mapping)
    value: Any = data
    for part in parts:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            value = None
            break
    extra = params.get("missingProperty") or params.get("additionalProperty")
    path = "$" + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in [*parts, *([str(extra)] if extra else [])])
    message = str(error.get("message", ""))
    if not isinstance(value, (dict, list)):
        shown = json.dumps(value, ensure_ascii=False)
        message += f" (got {shown if len(shown) <= 80 else shown[:79] + '…'})"
    return {**error, "path": path, "message": message}


def _translation_error() -> str:
    return "Translation Service error. Contact Technical Support if this issue persists."
