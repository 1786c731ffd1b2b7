"""The stack's AWS resources on a moto server: the same bucket, queues, table and secret as template.yaml.

    server = MotoServer().start()                  # http://127.0.0.1:<free port>
    aws = provision(server.url, AwsOptions(), app_id="...", client_id="...")
    env = aws.function_env(gateway_url)            # the IngestFunction's environment, pointed at moto

Names follow the template for a stack called ``hgi-local``: bucket ``hgi-local-metadata-<account>-<region>``,
queue ``hgi-local-ingest``, its DLQ ``hgi-local-dlq``, table ``hgi-local-ledger`` and secret
``hgi-local/gateway-app``. Two things differ on purpose: the ingest queue's VisibilityTimeout is short
(30 s instead of 360 s) so that retries are visible in seconds, and the ``DenyInsecureTransport`` policy
statements are left out because moto is reached over plain HTTP.

The bucket notifies the queue of every object created or removed, whatever its key: routing a key (or recording
it as INVALID when no route watches it) is the function's job.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any

import boto3
from botocore.config import Config

__all__ = [
    "DEFAULT_REGION",
    "DEFAULT_STACK_NAME",
    "FAKE_CREDENTIALS",
    "MOTO_ACCOUNT_ID",
    "NOTIFIED_EVENTS",
    "AwsOptions",
    "LocalAws",
    "MotoServer",
    "patch_moto",
    "provision",
]

DEFAULT_STACK_NAME = "hgi-local"
DEFAULT_REGION = "eu-west-2"
MOTO_ACCOUNT_ID = "123456789012"  # moto's default account
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
# The bucket's events that reach the ingest queue, for every key.
NOTIFIED_EVENTS = ("s3:ObjectCreated:*", "s3:ObjectRemoved:*")
# The function's settings that do not depend on where the resources are.
_FUNCTION_DEFAULTS = {
    # The emulators listen on 127.0.0.1 over plain http: the function refuses such URLs unless told it runs here.
    "ALLOW_LOCAL_DESTINATIONS": "true",
    "GATEWAY_HEADER_STYLE": "x-headers",
    "MAX_OBJECT_BYTES": "10485760",
    "TARGET_SCHEMA": "auto",
    "POWERTOOLS_SERVICE_NAME": "hdr-gateway-ingest",
    "POWERTOOLS_METRICS_NAMESPACE": "HdrGatewayIngest",
    # Quiet: no X-Ray daemon locally, and no EMF metric lines printed after every invocation.
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
}


def _cache_moto_module_list() -> None:
    """moto's server routes every request under one lock, and there lists its package directory (``listdir`` and
    ``isdir`` for each of its 200-odd service modules), twice per request: a few milliseconds of CPU per request,
    during which no other request is served. The list never changes while the server runs: compute it once."""
    from moto import backends

    if getattr(backends.list_of_moto_modules, "hgi_cached", False):
        return
    modules = tuple(backends.list_of_moto_modules())

    def list_of_moto_modules() -> tuple[str, ...]:
        return modules

    list_of_moto_modules.hgi_cached = True  # type: ignore[attr-defined]
    backends.list_of_moto_modules = list_of_moto_modules


def _cheap_sqs_retention_check() -> None:
    """moto checks each message it receives against the queue's retention period by computing every queue
    attribute, and the approximate message counts among them pass over every message of the queue, several
    times: with 1,000 messages queued, one ReceiveMessage of 10 costs moto about 0.2 s of CPU. Read the one
    attribute instead (the same check)."""
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    if getattr(SQSBackend.is_message_valid_based_on_retention_period, "hgi_cheap", False):
        return

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention_period = int(self.get_queue(queue_name).message_retention_period)
        return bool(retention_period + message.sent_timestamp / 1000 > unix_time())

    is_message_valid_based_on_retention_period.hgi_cheap = True  # type: ignore[attr-defined]
    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period  # type: ignore[method-assign]


_DYNAMODB_LOCK = threading.RLock()


def _atomic_dynamodb_requests() -> None:
    """DynamoDB applies each request to an item atomically: of two conditional writes racing for one item, one
    fails its condition. moto's DynamoDB backend takes no lock, and its server (like ``mock_aws`` in a test with
    several threads) handles requests concurrently: two conditional writes can both read the item before either
    writes it, and both succeed (two leases held at once, two datasets published for one source). Serialise
    moto's DynamoDB requests, reads too: moto updates an item in place, so a read beside a write could see half
    of it. One lock for every table: the local stack has one, and each request takes moto a millisecond."""
    from moto.dynamodb.responses import DynamoHandler

    call_action = DynamoHandler.call_action
    if getattr(call_action, "hgi_atomic", False):
        return

    def atomic_call_action(self: Any) -> Any:
        with _DYNAMODB_LOCK:
            return call_action(self)

    atomic_call_action.hgi_atomic = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = atomic_call_action  # type: ignore[method-assign]


@dataclass(frozen=True)
class _RemovedObject:
    """What moto's notification needs of a key (a delete marker has no size or ETag; S3's event omits them)."""

    name: str
    size: int = 0
    etag: str = ""


def _s3_delete_marker_events() -> None:
    """Deleting an object of a versioned bucket (without naming a version) creates a delete marker, and S3 then
    sends ``s3:ObjectRemoved:DeleteMarkerCreated``; moto sends nothing. Send it, as S3 does."""
    from moto.s3 import notifications
    from moto.s3.models import S3Backend

    set_delete_marker = S3Backend._set_delete_marker
    if getattr(set_delete_marker, "hgi_notifies", False):
        return

    def notifying_set_delete_marker(self: Any, bucket_name: str, key_name: str) -> Any:
        marker = set_delete_marker(self, bucket_name, key_name)
        notifications.send_event(
            self.account_id,
            notifications.S3NotificationEvent.OBJECT_REMOVED_DELETE_MARKER_CREATED_EVENT,
            self.get_bucket(bucket_name),
            _RemovedObject(key_name),
        )
        return marker

    notifying_set_delete_marker.hgi_notifies = True  # type: ignore[attr-defined]
    S3Backend._set_delete_marker = notifying_set_delete_marker  # type: ignore[method-assign]


class Sequencers:
    """S3's ``sequencer``: a hex string that grows with every event of a key, so that of two events for one key
    the later one compares greater (as padded hex). Source: AWS, "Event message structure"
    (docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html) and
    /work/shared/notes/aws-serverless.md. moto's events carry none (EventBridge's a constant). How S3 makes them
    is not published: here, a clock in nanoseconds that never repeats, in 16 hex digits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def next(self) -> str:
        with self._lock:
            self._last = max(self._last + 1, time.time_ns())
            return f"{self._last:016X}"


SEQUENCERS = Sequencers()


def _s3_event_sequencers() -> None:
    """Every S3 event moto builds gets a growing ``sequencer``, and, for a versioned bucket's object, its
    ``versionId`` (both fields of S3's ``s3.object``; same source as :class:`Sequencers`)."""
    from moto.s3 import notifications

    get_event = notifications._get_s3_event
    if getattr(get_event, "hgi_sequenced", False):
        return

    def sequenced(event_name: str, bucket: Any, key: Any, notification_id: str) -> dict[str, Any]:
        event = get_event(event_name, bucket, key, notification_id)
        obj = event["Records"][0]["s3"]["object"]
        obj["sequencer"] = SEQUENCERS.next()
        version = getattr(key, "version_id", None)
        if getattr(bucket, "is_versioned", False) and version and version != "null":
            obj["versionId"] = version
        return event

    sequenced.hgi_sequenced = True  # type: ignore[attr-defined]
    notifications._get_s3_event = sequenced


def patch_moto() -> None:
    """What the local stack changes in moto (idempotent; call before moto handles a request): DynamoDB requests
    are atomic, a versioned bucket's deletions notify, and S3 events carry growing sequencers and version ids,
    as in AWS; and two server overheads go."""
    _atomic_dynamodb_requests()
    _s3_delete_marker_events()
    _s3_event_sequencers()
    _cache_moto_module_list()
    _cheap_sqs_retention_check()


class MotoServer:
    """moto in server mode on ``host`` (a free port unless ``port`` is given), with its request log silenced and
    no resources (moto's are per process: two servers in one process share them)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, quiet: bool = True) -> None:
        self.host = host
        self.port = port
        self.quiet = quiet
        self._server: Any = None

    def start(self) -> MotoServer:
        if self._server is not None:
            return self
        if self.quiet:
            # werkzeug logs every request and every NotImplementedError traceback at INFO/ERROR.
            logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
        patch_moto()
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=not self.quiet)
        server.start()
        self.port = int(server.get_host_and_port()[1])
        self._server = server
        # moto keeps its resources in this process, not in the server: start from none, as a new process would
        # (an earlier server's, or a test's mock_aws, would otherwise still be there).
        reset = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310 (our http:// URL)
        urllib.request.urlopen(reset, timeout=30).close()  # noqa: S310
        return self

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the moto server is not running; call start() first")
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()


@dataclass(frozen=True)
class AwsOptions:
    stack_name: str = DEFAULT_STACK_NAME
    region: str = DEFAULT_REGION
    visibility_timeout: int = 30
    max_receive_count: int = 5


@dataclass(frozen=True)
class LocalAws:
    """Where the provisioned resources are, and the function's environment for them."""

    endpoint_url: str
    region: str
    stack_name: str
    bucket: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    table: str
    secret_id: str
    max_receive_count: int
    visibility_timeout: int
    account_id: str = MOTO_ACCOUNT_ID
    credentials: dict[str, str] = field(default_factory=lambda: dict(FAKE_CREDENTIALS))

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` on the moto endpoint (one quick attempt: moto answers at once)."""
        return boto3.session.Session().client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.credentials["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=self.credentials.get("AWS_SESSION_TOKEN"),
            config=Config(retries={"max_attempts": 2, "mode": "standard"}),
        )

    def ledger_table(self) -> Any:
        """The ledger as a boto3 ``dynamodb.Table`` resource."""
        resource = boto3.session.Session().resource(
            "dynamodb",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.credentials["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=self.credentials.get("AWS_SESSION_TOKEN"),
        )
        return resource.Table(self.table)

    def function_env(
        self,
        gateway_url: str,
        log_level: str = "WARNING",
        schema_pack_dir: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> dict[str, str]:
        """The IngestFunction's environment (template.yaml ``Environment.Variables``) pointed at moto."""
        env = {
            **_FUNCTION_DEFAULTS,
            "GATEWAY_URL": gateway_url,
            "GATEWAY_SECRET_ID": self.secret_id,
            "LEDGER_TABLE": self.table,
            "DLQ_URL": self.dlq_url,
            "MAX_RECEIVE_COUNT": str(self.max_receive_count),
            "POWERTOOLS_LOG_LEVEL": log_level,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            **self.credentials,
        }
        if schema_pack_dir:
            env["SCHEMA_PACK_DIR"] = schema_pack_dir
        env.update(extra or {})
        return env

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LocalAws:
        names = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in data.items() if key in names})


def provision(endpoint_url: str, options: AwsOptions, app_id: str, client_id: str) -> LocalAws:
    """Create the template's resources on ``endpoint_url`` (a fresh moto server) and return where they are."""
    stack, region, account = options.stack_name, options.region, MOTO_ACCOUNT_ID
    aws = LocalAws(
        endpoint_url=endpoint_url,
        region=region,
        stack_name=stack,
        bucket=f"{stack}-metadata-{account}-{region}",
        queue_url="",
        queue_arn=f"arn:aws:sqs:{region}:{account}:{stack}-ingest",
        dlq_url="",
        dlq_arn=f"arn:aws:sqs:{region}:{account}:{stack}-dlq",
        table=f"{stack}-ledger",
        secret_id=f"{stack}/gateway-app",
        max_receive_count=options.max_receive_count,
        visibility_timeout=options.visibility_timeout,
    )
    dlq_url, queue_url = _queues(aws, options)
    _ledger_table(aws)
    _bucket(aws)
    # The Gateway app credentials, as the function reads them (GATEWAY_SECRET_ID).
    aws.client("secretsmanager").create_secret(
        Name=aws.secret_id,
        Description="Gateway application credentials for the local stack",
        SecretString=json.dumps({"app_id": app_id, "client_id": client_id}),
    )
    return LocalAws(**{**aws.to_json(), "queue_url": queue_url, "dlq_url": dlq_url})


def _queues(aws: LocalAws, options: AwsOptions) -> tuple[str, str]:
    """DeadLetterQueue (14 days' retention; only the ingest queue may use it), then IngestQueue with
    IngestQueuePolicy (S3 may send to it) and the redrive policy to the DLQ. Returns both URLs."""
    sqs, stack = aws.client("sqs"), aws.stack_name
    dlq_url = sqs.create_queue(
        QueueName=f"{stack}-dlq",
        Attributes={
            "SqsManagedSseEnabled": "true",
            "MessageRetentionPeriod": "1209600",
            "RedriveAllowPolicy": json.dumps({"redrivePermission": "byQueue", "sourceQueueArnList": [aws.queue_arn]}),
        },
    )["QueueUrl"]
    queue_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowS3Notifications",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": aws.queue_arn,
                "Condition": {
                    "ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{aws.bucket}"},
                    "StringEquals": {"aws:SourceAccount": MOTO_ACCOUNT_ID},
                },
            }
        ],
    }
    queue_url = sqs.create_queue(
        QueueName=f"{stack}-ingest",
        Attributes={
            "SqsManagedSseEnabled": "true",
            "VisibilityTimeout": str(options.visibility_timeout),
            "MessageRetentionPeriod": "345600",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": aws.dlq_arn, "maxReceiveCount": options.max_receive_count}
            ),
            "Policy": json.dumps(queue_policy),
        },
    )["QueueUrl"]
    return dlq_url, queue_url


def _ledger_table(aws: LocalAws) -> None:
    """LedgerTable: PK source, on demand, encrypted, point-in-time recovery."""
    dynamodb = aws.client("dynamodb")
    dynamodb.create_table(
        TableName=aws.table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "source", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "source", "KeyType": "HASH"}],
        SSESpecification={"Enabled": True},
    )
    dynamodb.update_continuous_backups(
        TableName=aws.table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )


def _bucket(aws: LocalAws) -> None:
    """MetadataBucket: versioned, SSE-S3, no public access, owner-enforced; notifications to the queue."""
    s3 = aws.client("s3")
    bucket_args: dict[str, Any] = {"Bucket": aws.bucket}
    if aws.region != "us-east-1":
        bucket_args["CreateBucketConfiguration"] = {"LocationConstraint": aws.region}
    s3.create_bucket(**bucket_args)
    s3.put_bucket_versioning(Bucket=aws.bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=aws.bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]
        },
    )
    s3.put_public_access_block(
        Bucket=aws.bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_ownership_controls(
        Bucket=aws.bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )
    # Every object created or removed in the bucket goes to the queue, with no prefix or suffix filter: S3's
    # filters are case-sensitive (`UPPER.JSON` would never arrive) and refuse overlapping rules, so the function
    # routes each key itself and records one under no route as INVALID, with the reason. Nothing dropped is
    # silently ignored. S3 answers this with an s3:TestEvent message on the queue, which the function skips.
    s3.put_bucket_notification_configuration(
        Bucket=aws.bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": aws.queue_arn, "Events": list(NOTIFIED_EVENTS)}]
        },
    )
