"""The one composition root: settings → adapters, destinations and routes → the pipeline."""

from __future__ import annotations

from hdr_ingest import destinations
from hdr_ingest.adapters.aws.clients import AwsClients
from hdr_ingest.core.ports import CredentialSource, Destination, NoCredentials
from hdr_ingest.core.routing import Route, Routes, RouteSpec
from hdr_ingest.entry.observe import PowertoolsObserver, tracer
from hdr_ingest.entry.settings import ConfigError, Settings
from hdr_ingest.usecases.context import PipelineSettings
from hdr_ingest.usecases.pipeline import IngestPipeline


def build_pipeline(settings: Settings) -> tuple[IngestPipeline, AwsClients]:
    from hdr_ingest.adapters.aws.dynamodb_ledger import DynamoDbLedger
    from hdr_ingest.adapters.aws.s3 import S3ObjectStore
    from hdr_ingest.adapters.aws.sqs_dead_letters import SqsDeadLetters

    clients = AwsClients(
        max_pool_connections=settings.record_concurrency, before_first_client=lambda: tracer.patch(["botocore"])
    )
    common = destinations.Common(
        connect_timeout_s=settings.connect_timeout_s,
        read_timeout_s=settings.read_timeout_s,
        pool_size=settings.record_concurrency,
        schema_pack_dir=settings.schema_pack_dir,
    )
    routes = Routes(_routes(settings, common, clients))
    pipeline = IngestPipeline(
        PipelineSettings(
            max_object_bytes=settings.max_object_bytes,
            max_attempts=settings.max_gateway_attempts,
            read_timeout_s=settings.read_timeout_s,
            archive_on_delete=settings.archive_on_delete,
            catalogue_id_pointer=settings.catalogue_id_pointer,
        ),
        routes,
        store=S3ObjectStore(clients.source("s3")),
        ledger=DynamoDbLedger(settings.ledger_table, clients.source("dynamodb")),
        dead_letters=SqsDeadLetters(clients.source("sqs"), settings.dlq_url),
        observer=PowertoolsObserver(),
    )
    return pipeline, clients


def _routes(settings: Settings, common: destinations.Common, clients: AwsClients) -> list[Route]:
    """Every route built; what a destination refuses at start (a schema its pack lacks) named all at once."""
    routes, problems = [], []
    for spec in settings.routes:
        try:
            routes.append(_route(spec, common, settings, clients))
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError("invalid configuration: " + "; ".join(problems))
    return routes


def _route(spec: RouteSpec, common: destinations.Common, settings: Settings, clients: AwsClients) -> Route:
    kind = destinations.kind(spec.kind)
    assert kind is not None, f"unknown kind {spec.kind!r} passed the settings check"
    destination = kind.build(spec, common)
    return Route(spec.prefix, destination, _credentials(spec, destination, settings, clients), verify=spec.verify)


def _credentials(
    spec: RouteSpec, destination: Destination, settings: Settings, clients: AwsClients
) -> CredentialSource:
    if spec.secret is None:
        return NoCredentials()
    from hdr_ingest.adapters.aws.secrets import SecretsManagerCredentials

    return SecretsManagerCredentials(
        spec.secret, destination.credentials, settings.secret_max_age_s, clients.source("secretsmanager")
    )
