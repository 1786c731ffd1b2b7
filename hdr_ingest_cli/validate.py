"""`hdr-ingest validate`: the function's verdict on files, offline, with the bundled schema pack."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from hdr_ingest.core.catalogue import element_identifier, missing_identifier_message
from hdr_ingest.core.document import DocumentError, parse_export
from hdr_ingest.core.fix_messages import show
from hdr_ingest.core.outcome import ErrorDetail

# The only module of the CLI that imports the Gateway judge.
from hdr_ingest.destinations.hdruk.judge import GATEWAY_MARK, ValidationMode, explain, gateway_preprocess, judge_for
from hdr_ingest.destinations.hdruk.schema_pack import SchemaPack, SchemaPackError, SchemaRef
from hdr_ingest_cli.common import UsageError, json_files

__all__ = ["KIND_HINT", "as_written", "cmd_validate", "resolve_kind", "value_at"]

KIND_HINT = (
    "judged by HDR UK's rules (the route of incoming/); a file for another catalogue: --kind unis|qrvey|aep, "
    "or --prefix incoming/unis/ (the running stack's route for it)"
)

_STEP = re.compile(r'\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


def value_at(document: Any, path: str) -> tuple[bool, Any]:
    """The value at a JSON path as the messages write it (``$.summary.title``, ``$[2]``, ``$["odd key"]``)."""
    if not path.startswith("$"):
        return False, None
    value, rest = document, path[1:]
    while rest:
        step = _STEP.match(rest)
        if step is None:
            return False, None
        name, index, quoted = step.groups()
        key: Any = int(index) if index is not None else (json.loads(quoted) if quoted else name)
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            return False, None
        rest = rest[step.end() :]
    return True, value


def as_written(error: ErrorDetail, document: Any) -> ErrorDetail:
    """The error quoting the value as the file has it, not as the Gateway's pre-processing (HTML encoding,
    trimming) turned it before validating; what the Gateway made of it is said beside."""
    found, value = value_at(document, error.path)
    if not found:
        return error
    processed = gateway_preprocess(value)
    written, seen = show(value), show(processed)
    if processed == value or written == seen or seen not in error.message:
        return error
    message = error.message.replace(
        seen, f"{written} (which the Gateway, after its input clean-up, validates as {seen})", 1
    )
    return replace(error, message=message)


def _failed(path: Path, summary: str, errors: Iterable[ErrorDetail], schema: str | None = None) -> dict[str, Any]:
    return {
        "file": str(path),
        "valid": False,
        "schema": schema,
        "summary": summary,
        "errors": [e.as_dict() for e in errors],
    }


def _validate_one(
    pack: SchemaPack, path: Path, target: SchemaRef | None, pointer: str | None, mode: ValidationMode
) -> dict[str, Any]:
    """One file as the pipeline reads it: a metadata document, or a catalogue (a JSON array of them)."""
    try:
        export = parse_export(path.read_bytes())
    except OSError as exc:
        return _failed(path, "cannot be read", [ErrorDetail("$", f"cannot be read: {exc.strerror or exc}")])
    except DocumentError as exc:
        return _failed(path, "is not a metadata document", [exc.detail])
    if isinstance(export, dict):
        judgement = judge_for(pack).judge(export, target, mode)
        report = judgement.report
        schema = str(report.schema) if report.schema else None
        result = (
            {"file": str(path), "valid": True, "schema": schema, "summary": report.summary, "errors": []}
            if report.valid
            else _failed(path, report.summary, [as_written(e, export) for e in report.errors], schema)
        )
        # everything after the verdict and the errors: the other mode's verdict and each Gateway behaviour met
        explanation = [line for line in explain(judgement)[1:] if not line.startswith("  $")]
        sent_as = _sent_as(pack, export, mode) if report.valid and target is not None else schema
        if sent_as != schema:  # what explain() says is sent holds only with TARGET_SCHEMA set to --schema
            explanation = [
                f"The function sends it as {sent_as} (the first schema it matches), not {schema}, unless its route's "
                f"TARGET_SCHEMA is {schema!r}.",
                *(line for line in explanation if not line.startswith("It will be sent with")),
            ]
        return {**result, "sent_as": sent_as, "warnings": list(judgement.warnings), "explanation": explanation}
    return _validate_catalogue(pack, path, export, target, pointer, mode)


def _sent_as(pack: SchemaPack, document: Any, mode: ValidationMode) -> str | None:
    """The schema the function sends ``document`` as with no TARGET_SCHEMA: the first it matches (as the
    Gateway detects); ``--schema`` names what to check against, not what the function will decide."""
    report = judge_for(pack).judge(document, None, mode).report
    return str(report.schema) if report.schema else None


def _validate_catalogue(
    pack: SchemaPack,
    path: Path,
    elements: list[dict[str, Any]],
    target: SchemaRef | None,
    pointer: str | None,
    mode: ValidationMode,
) -> dict[str, Any]:
    """Each element must be valid and carry its own identifier (it keeps its Gateway dataset by it)."""
    results: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, element in enumerate(elements):
        identifier = element_identifier(element, pointer)
        judgement = judge_for(pack).judge(element, target, mode)
        report = judgement.report
        errors = [replace(as_written(e, element), path=f"$[{index}]{e.path[1:]}") for e in report.errors]
        if identifier is None:
            errors.insert(0, ErrorDetail(f"$[{index}]", missing_identifier_message(pointer)))
        elif identifier in seen:
            errors.insert(0, ErrorDetail(f"$[{index}]", f"repeats identifier {identifier!r}; only the first is used"))
        else:
            seen.add(identifier)
        results.append(
            {
                "index": index,
                "id": identifier,
                "valid": not errors,
                "schema": str(report.schema) if report.schema else None,
                "summary": report.summary,
                "errors": [e.as_dict() for e in errors],
                "warnings": list(judgement.warnings),
            }
        )
    bad = sum(not r["valid"] for r in results)
    return {
        "file": str(path),
        "valid": bad == 0,
        "schema": None,
        "summary": f"catalogue of {len(results)} datasets: {len(results) - bad} valid, {bad} invalid",
        "errors": [error for r in results for error in r["errors"]],
        "elements": results,
    }


def _route_for(prefix: str) -> dict[str, Any]:
    """The running stack's route that keys under ``prefix`` fall under (the longest prefix)."""
    from hdr_ingest.destinations import kinds
    from local_stack.state import StackState

    state = StackState.find()
    try:
        routes = json.loads(state.function_env.get("DESTINATIONS") or "[]") if state else []
    except ValueError:
        routes = []
    if state is not None and not routes:
        routes = [{"prefix": p, "kind": "hdruk"} for p in state.prefixes]
    matching = [r for r in routes if (prefix.rstrip("/") + "/").startswith(str(r.get("prefix", "")))]
    if not matching:
        where = (
            f"the running stack routes {', '.join(str(r['prefix']) for r in routes)}"
            if routes
            else ("no local stack is running to say which route it falls under")
        )
        raise UsageError(f"--prefix {prefix}: {where}; name the rules with --kind {'|'.join(kinds())}")
    return max(matching, key=lambda r: len(str(r["prefix"])))


def resolve_kind(args: argparse.Namespace) -> None:
    """``--kind`` as given; else the kind (and options) of the route ``--prefix`` falls under; else hdruk."""
    if getattr(args, "kind", None):
        return
    prefix = getattr(args, "prefix", None)
    if not prefix:
        args.kind, args.kind_guessed = "hdruk", True
        return
    route = _route_for(prefix)
    args.kind, args.route_options = str(route["kind"]), dict(route.get("options") or {})
    print(f"judged by the rules of the {args.kind} route on {route['prefix']}", file=sys.stderr)


def _close(results: list[dict[str, Any]], valid: bool, kind_guessed: bool) -> None:
    """The count of several files; the hint about --kind when a file failed HDR UK's rules by default."""
    if len(results) > 1:
        bad = sum(not r["valid"] for r in results)
        print(f"\n{len(results)} files: {len(results) - bad} valid, {bad} invalid")
    if not valid and kind_guessed:
        print(KIND_HINT, file=sys.stderr)


def cmd_validate(args: argparse.Namespace) -> int:  # noqa: C901 - one branch per output format and file kind
    resolve_kind(args)
    if args.kind != "hdruk":
        from hdr_ingest_cli.validate_other import cmd_validate_other

        return cmd_validate_other(args)
    try:
        pack = SchemaPack.load(args.schema_pack)
    except SchemaPackError as exc:
        raise UsageError(str(exc)) from exc
    target: SchemaRef | None = None
    if args.schema and args.schema.lower() != "auto":
        try:
            target = SchemaRef.parse(args.schema)
        except ValueError as exc:
            raise UsageError(f"--schema: {exc}") from exc
        if target not in pack:
            raise UsageError(f"--schema: {target} is not in the schema pack ({', '.join(map(str, pack.refs))})")
    files = [path for path, _ in json_files(args.files)]
    if not files:
        raise UsageError("no .json files found in the given directories")
    pointer = args.id_pointer
    if pointer is not None and not pointer.startswith("/"):
        raise UsageError(f"--id-pointer: {pointer!r} must be a JSON pointer such as /identifier")
    mode = ValidationMode(args.mode)
    results = [_validate_one(pack, path, target, pointer, mode) for path in files]
    valid = all(r["valid"] for r in results)
    if args.json:
        print(json.dumps({"valid": valid, "files": results}, indent=2, ensure_ascii=False))
        return 0 if valid else 1
    for result in results:
        print(f"{'ok' if result['valid'] else 'INVALID':<8} {result['file']}: {result['summary']}")
        for element in result.get("elements", []):
            verdict = f"valid {element['schema']}" if element["valid"] else "INVALID"
            print(f"           [{element['index']}] {element['id'] or '(no identifier)'}: {verdict}")
        for error in result["errors"]:
            mark = GATEWAY_MARK if error.get("gateway_reports") else ""
            print(f"           {error['path']}: {error['message']}{mark}")
        for line in result.get("explanation", []):
            print(f"         {line}")
        for element in result.get("elements", []):
            for warning in element["warnings"]:
                print(f"           [{element['index']}] warning: {warning}")
    _close(results, valid, getattr(args, "kind_guessed", False))
    return 0 if valid else 1
