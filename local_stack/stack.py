"""The whole pipeline in one process: moto (S3, SQS, DynamoDB, Secrets Manager), the Gateway emulator (or a
real Gateway) and the SQS poller running the ingest function.

    with LocalStack(StackOptions(visibility_timeout=2, max_receive_count=3)) as stack:
        stack.put("incoming/ds.json", data)
        entry = stack.wait_for(stack.source("incoming/ds.json"))
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from hdr_ingest.adapters.aws.dynamodb_ledger import DynamoDbLedger
from hdr_ingest.core.ledger import LedgerEntry
from hdr_ingest.core.outcome import Status
from hdr_ingest.destinations.hdruk.schema_pack import SchemaPack, default_pack_dir
from local_stack.aws import DEFAULT_REGION, DEFAULT_STACK_NAME, AwsOptions, LocalAws, MotoServer, provision
from local_stack.destinations import LocalDestination, local_destinations
from local_stack.gateway_emulator import App, GatewayEmulator
from local_stack.poller import SqsPoller

__all__ = ["FINAL_STATUSES", "LOCAL_APP_ID", "LOCAL_CLIENT_ID", "LocalStack", "StackOptions"]

FINAL_STATUSES: frozenset[Status] = frozenset(
    {Status.CREATED, Status.UPDATED, Status.UNCHANGED, Status.INVALID, Status.REJECTED, Status.FAILED, Status.ARCHIVED}
)
LOCAL_APP_ID = "hgi-local-app"
LOCAL_CLIENT_ID = "hgi-local-client"


@dataclass
class StackOptions:
    stack_name: str = DEFAULT_STACK_NAME
    region: str = DEFAULT_REGION
    moto_host: str = "127.0.0.1"
    moto_port: int = 0
    visibility_timeout: int = 30
    max_receive_count: int = 5
    function_timeout_s: float = 60.0
    wait_time_s: int = 2
    batching_window_s: float = 0.0
    # None: start the Gateway emulator with the app below. Else a real Gateway and its app's credentials.
    gateway_url: str | None = None
    app_id: str = LOCAL_APP_ID
    client_id: str = LOCAL_CLIENT_ID
    emulator_port: int = 0
    # None: in memory. Cleared at start either way: the ledger (moto) always starts empty, and the two must agree.
    emulator_db: Path | None = None
    schema_pack_dir: Path | None = None  # None: the pack inside hdr_ingest (make schemas)
    log_level: str = "WARNING"  # the function's POWERTOOLS_LOG_LEVEL
    extra_env: dict[str, str] = field(default_factory=dict)
    # Also run the other catalogues' emulators (local_stack.destinations), each routed a prefix via DESTINATIONS.
    other_destinations: bool = False
    # A route's options by kind (make run --route-options), merged over the route's own.
    route_options: dict[str, dict[str, Any]] = field(default_factory=dict)


class LocalStack:
    def __init__(self, options: StackOptions | None = None) -> None:
        self.options = options or StackOptions()
        self.moto = MotoServer(self.options.moto_host, self.options.moto_port)
        self.emulator: GatewayEmulator | None = None
        self._aws: LocalAws | None = None
        self._poller: SqsPoller | None = None
        self.gateway_url = ""
        self.function_env: dict[str, str] = {}
        self.cleared_datasets = 0  # datasets an earlier run left in the emulator's database, cleared by start()
        self.destinations: list[LocalDestination] = []  # the other catalogues, when options.other_destinations
        self.routes: list[dict[str, Any]] = []  # the function's DESTINATIONS

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> LocalStack:
        options = self.options
        pack_dir = options.schema_pack_dir or default_pack_dir()
        try:
            self.moto.start()
            if options.gateway_url:
                self.gateway_url = options.gateway_url.rstrip("/")
            else:
                self.emulator = GatewayEmulator(
                    apps=[App(options.app_id, options.client_id)],
                    validator=SchemaPack.load(pack_dir),
                    db_path=options.emulator_db,
                    port=options.emulator_port,
                )
                self.gateway_url = self.emulator.start()
                self.cleared_datasets = self._forget_earlier_datasets(self.emulator)
            self._aws = provision(
                self.moto.url,
                AwsOptions(options.stack_name, options.region, options.visibility_timeout, options.max_receive_count),
                app_id=options.app_id,
                client_id=options.client_id,
            )
            self.routes = self._routes(self._aws)
            self.function_env = self._aws.function_env(
                self.gateway_url,
                log_level=options.log_level,
                schema_pack_dir=str(pack_dir.resolve()),
                extra={"DESTINATIONS": json.dumps(self.routes), **options.extra_env}
                if self.destinations or options.route_options
                else options.extra_env,
            )
            self._poller = SqsPoller(
                self._aws.client("sqs"),
                self._aws.queue_url,
                self._aws.queue_arn,
                self._aws.region,
                env=self.function_env,
                wait_time_s=options.wait_time_s,
                batching_window_s=options.batching_window_s,
                timeout_s=options.function_timeout_s,
                function_name=f"{options.stack_name}-IngestFunction",
            ).start()
        except BaseException:
            self.stop()
            raise
        return self

    def _routes(self, aws: LocalAws) -> list[dict[str, Any]]:
        """The HDR UK route on incoming/ and, with ``other_destinations``, one route per other catalogue."""
        routes: list[dict[str, Any]] = [
            {"prefix": "incoming/", "kind": "hdruk", "url": self.gateway_url, "secret": aws.secret_id}
        ]
        if self.options.other_destinations:
            for destination in local_destinations():
                self.destinations.append(destination)
                routes.append(destination.start(aws))
        for route in routes:
            given = self.options.route_options.get(route["kind"])
            if given:
                route["options"] = {**dict(route.get("options") or {}), **given}
        return routes

    @property
    def prefixes(self) -> list[str]:
        return sorted(route["prefix"] for route in self.routes)

    @staticmethod
    def _forget_earlier_datasets(emulator: GatewayEmulator) -> int:
        """The ledger starts empty with every start (a fresh moto), so the emulator's datasets must too: kept
        from an earlier run (in ``emulator_db``), each re-dropped sample would be a source the ledger never held,
        which is created without a lookup, a second dataset beside the earlier one (an emptied ledger: README
        "Crash safety"). Returns how many datasets were cleared."""
        earlier = len(emulator.datasets())
        if earlier:
            emulator.reset()
        return earlier

    def stop(self) -> None:
        if self._poller is not None:
            self._poller.stop()
            self._poller = None
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None
        for destination in self.destinations:
            destination.stop()
        self.destinations = []
        self.moto.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- access ------------------------------------------------------------------------------------------
    @property
    def aws(self) -> LocalAws:
        if self._aws is None:
            raise RuntimeError("the stack is not running; call start() first")
        return self._aws

    @property
    def poller(self) -> SqsPoller:
        if self._poller is None:
            raise RuntimeError("the stack is not running; call start() first")
        return self._poller

    def ledger(self) -> DynamoDbLedger:
        return DynamoDbLedger(self.aws.ledger_table())

    def source(self, key: str) -> str:
        return f"s3://{self.aws.bucket}/{key}"

    def put(self, key: str, data: bytes) -> dict[str, Any]:
        """Upload ``data`` to ``key`` in the metadata bucket (S3 then notifies the ingest queue)."""
        answer: dict[str, Any] = self.aws.client("s3").put_object(
            Bucket=self.aws.bucket, Key=key, Body=data, ContentType="application/json"
        )
        return answer

    def _diagnosis(self) -> str:
        poller = self._poller
        if poller is None:
            return "the poller is not running"
        alive = "running" if poller.running else "STOPPED"
        reports = list(poller.reports)
        last = reports[-1] if reports else None
        errors = [r.error for r in reports if r.error][-3:]
        return f"poller {alive}, counters {poller.counters()}, last batch {last}" + (
            f", recent handler errors {errors}" if errors else ""
        )

    def wait_for(
        self,
        source: str,
        statuses: Collection[Status] = FINAL_STATUSES,
        timeout: float = 30.0,
        newer_than: str | None = None,
    ) -> LedgerEntry:
        """The ledger entry of ``source`` once its status is one of ``statuses`` (and, with ``newer_than``,
        its ``updated_at`` is later than that). Raises ``TimeoutError`` naming the last status seen."""
        ledger = self.ledger()
        deadline = time.monotonic() + timeout
        entry: LedgerEntry | None = None
        while True:
            entry = ledger.get(source)
            if entry is not None and entry.status in statuses and (newer_than is None or entry.updated_at > newer_than):
                return entry
            if time.monotonic() > deadline:
                seen = f"{entry.status.value} ({entry.reason})" if entry else "no ledger entry"
                wanted = sorted(s.value for s in statuses)
                raise TimeoutError(f"{source}: not in {wanted} after {timeout:.0f} s: {seen}; {self._diagnosis()}")
            time.sleep(0.1)
