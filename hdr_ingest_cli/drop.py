"""`hdr-ingest drop`: upload metadata files to the bucket."""

from __future__ import annotations

import argparse
import sys

from hdr_ingest_cli.common import UsageError, json_files
from hdr_ingest_cli.stack import aws_for, find_state, required

__all__ = ["cmd_drop"]


def cmd_drop(args: argparse.Namespace) -> int:
    state = find_state(args)
    bucket = required(args.bucket, state, "bucket", "--bucket")
    prefix = args.prefix if not args.prefix or args.prefix.endswith("/") else args.prefix + "/"
    s3 = aws_for(args, state).client("s3")
    pairs = list(json_files(args.files))
    if not pairs:
        raise UsageError("no .json files found in the given directories")
    for path, _ in pairs:
        if not path.is_file():
            raise UsageError(f"{path}: no such file")
    for path, name in pairs:
        key = prefix + name
        if not key.lower().endswith(".json"):
            print(f"warning: {key} does not end in .json: the bucket only announces .json objects", file=sys.stderr)
        data = path.read_bytes()
        s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json")
        print(f"uploaded {path} -> s3://{bucket}/{key} ({len(data)} bytes)")
    return 0
