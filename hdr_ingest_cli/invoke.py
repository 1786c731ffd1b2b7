"""`hdr-ingest invoke`: the handler on an event file in this process, as `sam local invoke` runs it."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from contextlib import redirect_stdout
from pathlib import Path

from hdr_ingest_cli.common import UsageError
from hdr_ingest_cli.stack import find_state

__all__ = ["cmd_invoke", "load_env_file"]


def load_env_file(path: Path, function: str) -> dict[str, str]:
    """``sam local invoke --env-vars`` format: ``{"Parameters": {...}, "<LogicalId>": {...}}``, or a flat map."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a JSON object")
    if all(isinstance(v, dict) for v in data.values()):
        if data and function not in data and "Parameters" not in data:
            raise UsageError(f"{path} has no {function!r} entry (it has {', '.join(sorted(data))})")
        merged = {**data.get("Parameters", {}), **data.get(function, {})}
    else:
        merged = data
    return {str(k): "" if v is None else str(v) for k, v in merged.items()}


def cmd_invoke(args: argparse.Namespace) -> int:
    from local_stack.poller import FakeLambdaContext, apply_env, load_handler

    try:
        event = json.loads(Path(args.event).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{args.event}: {exc}") from exc
    if args.env_file:
        env = load_env_file(args.env_file, args.function)
    else:
        state = find_state(args)
        env = state.function_env if state else {}
    # As `sam local invoke` does: the function's logs (and metrics) on stderr, the response on stdout.
    with redirect_stdout(sys.stderr), apply_env(env):
        handler = load_handler()
        context = FakeLambdaContext(function_name=args.function, timeout_s=args.timeout)
        try:
            response = handler(event, context)
        except Exception as exc:  # noqa: BLE001 - reported the way Lambda reports an unhandled error
            traceback.print_exc()
            response = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
            failed = True
        else:
            failed = bool(isinstance(response, dict) and response.get("batchItemFailures"))
    print(json.dumps(response, indent=2, ensure_ascii=False, default=str))
    return 1 if failed else 0
