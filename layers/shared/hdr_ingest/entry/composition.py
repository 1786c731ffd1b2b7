"""The one composition root: settings → adapters, destinations and routes → the pipeline.

Production passes nothing and gets AWS (``aws_adapters``); tests and the CLI pass their own :class:`Adapters`
(fakes, or AWS clients they already hold) and get the same routes, destinations and use cases the function builds;
``publisher`` replaces the one use case that publishes a document (a catalogue's elements included)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hdr_ingest import destinations
from hdr_ingest.adapters.aws.clients import AwsClients
from hdr_ingest.core.ledger import Ledger
from hdr_ingest.core.ports import (
    Background,
    CredentialSource,
    DeadLetters,
    Destination,
    NoCredentials,
    NullObserver,
    ObjectStore,
    Observer,
)
from hdr_ingest.core.routing import Route, Routes, RouteSpec
from hdr_ingest.entry.settings import ConfigError, Settings
from hdr_ingest.usecases.calls import Caller
from hdr_ingest.usecases.context import PipelineSettings
from hdr_ingest.usecases.pipeline import IngestPipeline, UseCases
from hdr_ingest.usecases.publish import Publisher

CredentialsFor = Callable[[RouteSpec, Destination], CredentialSource]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Adapters:
    """What the pipeline needs from outside the layer."""

    store: ObjectStore
    ledger: Ledger
    dead_letters: DeadLetters
    credentials_for: CredentialsFor  # a route's credential source, given its spec and its destination
    observer: Observer = field(default_factory=NullObserver)
    clock: Callable[[], datetime] = _utc_now
    rng: random.Random = field(default_factory=random.Random)  # the retries' backoff jitter
    background: Background | None = None  # runs the object's read beside the lease write; None: one after the other


def build_pipeline(
    settings: Settings, adapters: Adapters | None = None, publisher: Callable[[Caller], Publisher] = Publisher
) -> tuple[IngestPipeline, AwsClients | None]:
    """The pipeline for ``settings``: on AWS unless ``adapters`` are given (then no AWS client is made), its use
    cases wired over the adapters here."""
    clients = None
    if adapters is None:
        adapters, clients = aws_adapters(settings)
    routes = build_routes(settings, adapters.credentials_for)
    for_pipeline = pipeline_settings(settings)
    use_cases = build_use_cases(for_pipeline, adapters, publisher)
    return IngestPipeline(for_pipeline, routes, adapters.store, use_cases, adapters.background), clients


def build_use_cases(
    settings: PipelineSettings, adapters: Adapters, publisher: Callable[[Caller], Publisher] = Publisher
) -> UseCases:
    """Leases, recorder, caller, publisher, archiver and catalogue publisher over ``adapters``' ports, clock and
    randomness."""
    return UseCases.wire(
        settings, adapters.ledger, adapters.dead_letters, adapters.observer, adapters.clock, adapters.rng, publisher
    )


def pipeline_settings(settings: Settings) -> PipelineSettings:
    return PipelineSettings(
        max_object_bytes=settings.max_object_bytes,
        max_attempts=settings.max_attempts,
        read_timeout_s=settings.read_timeout_s,
        archive_on_delete=settings.archive_on_delete,
        catalogue_id_pointer=settings.catalogue_id_pointer,
        lookup_new_sources=settings.lookup_new_sources,
    )


def aws_adapters(settings: Settings) -> tuple[Adapters, AwsClients]:
    """S3, DynamoDB, SQS and Secrets Manager, each client made on first use, with Powertools observing."""
    from hdr_ingest.adapters.aws.dynamodb_ledger import DynamoDbLedger
    from hdr_ingest.adapters.aws.s3 import S3ObjectStore
    from hdr_ingest.adapters.aws.sqs_dead_letters import SqsDeadLetters
    from hdr_ingest.entry.observe import PowertoolsObserver, tracer
    from hdr_ingest.entry.threads import TracedPool

    clients = AwsClients(
        max_pool_connections=settings.record_concurrency, before_first_client=lambda: tracer.patch(["botocore"])
    )
    adapters = Adapters(
        store=S3ObjectStore(clients.source("s3")),
        ledger=DynamoDbLedger(settings.ledger_table, clients.source("dynamodb")),
        dead_letters=SqsDeadLetters(clients.source("sqs"), settings.dlq_url),
        credentials_for=secrets_manager_credentials(settings, clients),
        observer=PowertoolsObserver(),
        background=TracedPool(settings.record_concurrency, "hdr-ingest-read"),
    )
    return adapters, clients


def secrets_manager_credentials(settings: Settings, clients: AwsClients) -> CredentialsFor:
    """Each route's secret read from Secrets Manager (cached ``SECRET_MAX_AGE`` seconds); none for a route
    without a secret."""

    def credentials_for(spec: RouteSpec, destination: Destination) -> CredentialSource:
        if spec.secret is None:
            return NoCredentials()
        from hdr_ingest.adapters.aws.secrets import SecretsManagerCredentials

        return SecretsManagerCredentials(
            spec.secret, destination.credentials, settings.secret_max_age_s, clients.source("secretsmanager")
        )

    return credentials_for


def common_of(settings: Settings) -> destinations.Common:
    return destinations.Common(
        connect_timeout_s=settings.connect_timeout_s,
        read_timeout_s=settings.read_timeout_s,
        pool_size=settings.record_concurrency,
        schema_pack_dir=settings.schema_pack_dir,
    )


def build_routes(settings: Settings, credentials_for: CredentialsFor) -> Routes:
    """Every route built; what a destination refuses at start (a schema its pack lacks) named all at once."""
    common, routes, problems = common_of(settings), [], []
    for spec in settings.routes:
        try:
            destination = build_destination(spec, common)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        routes.append(Route(spec.prefix, destination, credentials_for(spec, destination), verify=spec.verify))
    if problems:
        raise ConfigError("invalid configuration: " + "; ".join(problems))
    return Routes(routes)


def build_destination(spec: RouteSpec, common: destinations.Common) -> Destination:
    """The destination of one route (its kind was checked with the settings); raises ValueError naming what its
    kind refuses at start."""
    kind = destinations.kind(spec.kind)
    if kind is None:
        raise ValueError(f"route {spec.prefix!r}: kind {spec.kind!r} is not one of {destinations.kinds()}")
    return kind.build(spec, common)
