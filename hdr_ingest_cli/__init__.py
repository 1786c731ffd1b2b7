"""`hdr-ingest`: the operator CLI. Pre-flight validation, drops, the ledger, DLQ replay, read-back and local
invocations.

    hdr-ingest validate FILE|DIR... [--schema "HDRUK 4.0.0"] [--json]   exit 1 when any file is invalid
    hdr-ingest drop FILE|DIR... [--bucket B] [--prefix incoming/] [--wait]   --wait: exit 1 when any file failed
    hdr-ingest status [SOURCE] [--failed] [--table T] [--json]       exit 1 when SOURCE matches nothing
    hdr-ingest redrive [--dlq-url Q] [--queue-url Q]
    hdr-ingest rebuild-ledger [--prefix incoming/]                   exit 1 when a source could not be looked up
    hdr-ingest verify [SOURCE | --prefix P] [--json]                 exit 1 when a record differs or is missing
    hdr-ingest invoke EVENT.json [--env-file events/env.json] [--aws]   exit 1 when an object failed

While `make run` (`python -m local_stack`) runs, the AWS commands default their endpoint, credentials,
bucket, table and queues to that stack, read from `.local-stack/stack.json` in the working directory or a
parent of it (or in the checkout hdr-ingest is installed from; `HGI_LOCAL_STATE` names another file), and
`invoke` runs against it. Elsewhere, pass the names and use the usual AWS configuration (`--profile`,
`AWS_PROFILE`, `AWS_ENDPOINT_URL`, ...).
"""

from __future__ import annotations

from hdr_ingest_cli.app import build_parser, main

__all__ = ["build_parser", "main"]
