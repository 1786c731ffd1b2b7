"""Finding the running local stack (`make run`) and the AWS session a command uses."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hdr_ingest_cli.common import UsageError

if TYPE_CHECKING:  # imported where it is used: `validate` starts without it
    from local_stack.state import StackState

__all__ = ["Aws", "add_aws_options", "aws_for", "find_state", "required"]


def find_state(args: argparse.Namespace) -> StackState | None:
    """The running local stack, when this command targets it: no ``--profile`` and no other ``--endpoint-url``."""
    from local_stack.state import StackState

    path: Path | None = getattr(args, "state", None)
    state = StackState.load(path) if path else StackState.find()
    if state is None or getattr(args, "profile", None):
        return None
    endpoint = getattr(args, "endpoint_url", None)
    if endpoint is not None and endpoint.rstrip("/") != (state.get("endpoint_url") or "").rstrip("/"):
        return None
    return state


@dataclass(frozen=True)
class Aws:
    """A boto3 session and endpoint: explicit options first, then the running local stack's."""

    session: Any
    endpoint_url: str | None

    def client(self, service: str, attempts: int | None = None) -> Any:
        from botocore.config import Config

        config = Config(retries={"total_max_attempts": attempts, "mode": "standard"}) if attempts else None
        return self.session.client(service, endpoint_url=self.endpoint_url, config=config)

    def resource(self, service: str) -> Any:
        return self.session.resource(service, endpoint_url=self.endpoint_url)


def aws_for(args: argparse.Namespace, state: StackState | None) -> Aws:
    """The local stack's endpoint, region and (fake) credentials, or the usual AWS configuration."""
    import boto3

    if state is not None:
        creds = state.credentials
        session = boto3.session.Session(
            aws_access_key_id=creds.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=creds.get("AWS_SECRET_ACCESS_KEY"),
            aws_session_token=creds.get("AWS_SESSION_TOKEN"),
            region_name=args.region or state.get("region"),
        )
        return Aws(session, state.get("endpoint_url"))
    return Aws(boto3.session.Session(profile_name=args.profile, region_name=args.region), args.endpoint_url)


def required(value: str | None, state: StackState | None, name: str, option: str) -> str:
    if value:
        return value
    found = state.get(name) if state else None
    if found:
        return found
    raise UsageError(f"{option} is required (no running local stack to take it from: start one with `make run`)")


def add_aws_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint-url", help="AWS endpoint (default: the local stack's, if one is running)")
    parser.add_argument("--profile", help="AWS profile to use")
    parser.add_argument("--region", help="AWS region")
    parser.add_argument(
        "--state",
        type=Path,
        help="local stack state file (default: $HGI_LOCAL_STATE, else .local-stack/stack.json here, in a parent "
        "directory or in the checkout hdr-ingest runs from)",
    )
