"""`hdr-ingest validate --kind unis|qrvey|aep`: a file judged by another catalogue's own rules, offline.

The destination is built from a route with no credentials and a placeholder URL (nothing is sent): UNIS checks
against its own schema files, Qrvey against our schema of its Create Dataset body. AEP's records are checked for
shape only here: their XDM schema is read from the Platform when a batch is prepared."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from hdr_ingest import destinations
from hdr_ingest.core.document import DocumentError, canonical_json
from hdr_ingest.core.ports import Destination
from hdr_ingest.core.routing import RouteSpec
from hdr_ingest_cli.common import UsageError, json_files

__all__ = ["OTHER_KINDS", "cmd_validate_other"]

OTHER_KINDS = ("unis", "qrvey", "aep")
# Options a route needs before its destination can be built; the values do not matter offline.
PLACEHOLDER_OPTIONS: dict[str, dict[str, str]] = {
    "qrvey": {"userId": "offline", "appId": "offline"},
    "aep": {
        "imsUrl": "https://ims.invalid",
        "orgId": "OFFLINE@AdobeOrg",
        "sandbox": "prod",
        "schemaId": "https://ns.adobe.com/offline/schemas/offline",
        "datasetName": "offline",
    },
}


def destination_for(kind: str, options: dict[str, Any]) -> Destination:
    found = destinations.kind(kind)
    if found is None:
        raise UsageError(f"--kind: {kind!r} is not one of {destinations.kinds()}")
    spec = RouteSpec("", kind, "https://offline.invalid", None, {**PLACEHOLDER_OPTIONS.get(kind, {}), **options})
    return found.build(spec, destinations.Common())


def judge_file(destination: Destination, path: Path) -> dict[str, Any]:
    try:
        document = destination.parse(path.read_bytes())
    except DocumentError as exc:
        return {"file": str(path), "valid": False, "summary": str(exc), "errors": [exc.detail.as_dict()]}
    # a list is a catalogue file, one record each (UNIS, Qrvey); AEP's parse reads a file's records as one batch
    documents = document if isinstance(document, list) else [document]
    errors, elements = [], []
    for index, each in enumerate(documents):
        verdict = destination.judge(each, canonical_json(each))
        prefix = f"$[{index}]" if len(documents) > 1 else "$"
        errors += [{**e.as_dict(), "path": prefix + e.path[1:]} for e in verdict.errors]
        elements.append({"index": index, "valid": not verdict.errors, "summary": verdict.summary})
    valid = not errors
    if len(elements) == 1:
        return {"file": str(path), "valid": valid, "summary": elements[0]["summary"], "errors": errors}
    bad = sum(not e["valid"] for e in elements)
    summary = f"{len(documents)} records: {len(documents) - bad} valid, {bad} invalid"
    return {"file": str(path), "valid": valid, "summary": summary, "errors": errors, "elements": elements}


NOT_CHECKED_OFFLINE: dict[str, tuple[str, ...]] = {
    "aep": (
        "the dataset's XDM schema: Adobe Experience Platform checks each record against it when it ingests the "
        "batch (the result is the batch's status, seen after the drop), and it lives in your AEP sandbox",
    ),
}
"""What ``validate --kind`` cannot judge without the catalogue itself, said after the verdicts."""


def parse_options(text: str | None) -> dict[str, Any]:
    """``--options``: a JSON object, or a usage error naming what is wrong with it."""
    if not text:
        return {}
    try:
        options = json.loads(text)
    except ValueError as exc:
        raise UsageError(f'--options is not JSON ({exc}); e.g. --options \'{{"schema": "2012"}}\'') from exc
    if not isinstance(options, dict):
        raise UsageError('--options must be a JSON object, e.g. \'{"schema": "2012"}\'')
    return options


def cmd_validate_other(args: argparse.Namespace) -> int:
    options = {**getattr(args, "route_options", {}), **parse_options(args.options)}
    destination = destination_for(args.kind, options)
    files = [path for path, _ in json_files(args.files)]
    if not files:
        raise UsageError("no .json files found in the given directories")
    results = [judge_file(destination, path) for path in files]
    valid = all(r["valid"] for r in results)
    if args.json:
        unchecked = list(NOT_CHECKED_OFFLINE.get(args.kind, ()))
        report = {"valid": valid, "kind": args.kind, "files": results, "not_checked": unchecked}
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0 if valid else 1
    for result in results:
        print(f"{'ok' if result['valid'] else 'INVALID':<8} {result['file']}: {result['summary']}")
        for element in result.get("elements", []):
            print(f"           [{element['index']}] {'ok' if element['valid'] else 'INVALID'}: {element['summary']}")
        for error in result["errors"]:
            print(f"           {error['path']}: {error['message']}")
    for note in NOT_CHECKED_OFFLINE.get(args.kind, ()):
        print(f"not checked offline: {note}")
    return 0 if valid else 1
