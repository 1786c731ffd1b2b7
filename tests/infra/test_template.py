"""Checks on template.yaml: cfn-lint plus the settings the pipeline and its operators rely on.

cfn-lint does not catch a visibility timeout shorter than the function timeout, a
redrive count out of step with the code, a bucket/queue-policy ordering problem, a key
that is wired to some resources but not others, or an alarm on a metric the code never
emits, so those are asserted here on the parsed template. Encryption is checked once per
key configuration (AWS-managed, KmsKeyArn, CreateKmsKey=true) on the template as
CloudFormation would deploy it (tests/infra/resolve.py).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.infra.resolve import PSEUDO_PARAMETERS, Deployment

pytestmark = pytest.mark.infra

EXPECTED_ENV_VARS = {
    "GATEWAY_URL",
    "GATEWAY_SECRET_ID",
    "GATEWAY_HEADER_STYLE",
    "DESTINATIONS",
    "LEDGER_TABLE",
    "DLQ_URL",
    "MAX_OBJECT_BYTES",
    "TARGET_SCHEMA",
    "VALIDATION_MODE",
    "ARCHIVE_ON_DELETE",
    "CATALOGUE_ID_POINTER",
    "MAX_RECEIVE_COUNT",
    "RECORD_CONCURRENCY",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
}

BUCKET_NAME_SUB = "${AWS::StackName}-metadata-${AWS::AccountId}-${AWS::Region}"

# Metrics the code emits (Powertools EMF, dimension `service`): one Count per outcome, and the Gateway's.
OUTCOME_METRICS = ["Created", "Updated", "Unchanged", "Invalid", "Rejected", "Failed"]
GATEWAY_METRICS = {"GatewayLatency", "GatewayError"}

CUSTOMER_KEY_ARN = "arn:aws:kms:eu-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_MODES = {
    "aws-managed": {},
    "customer-key": {"KmsKeyArn": CUSTOMER_KEY_ARN},
    "created-key": {"CreateKmsKey": "true"},
}
CREATED_KEY = {"Fn::GetAtt": ["DataKey", "Arn"]}


# ----------------------------------------------------------------- helpers


def resources_of_type(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == type_}


def only_resource(template: dict[str, Any], type_: str) -> tuple[str, dict[str, Any]]:
    found = resources_of_type(template, type_)
    assert len(found) == 1, f"expected exactly one {type_}, found {sorted(found)}"
    return next(iter(found.items()))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def getatt_target(value: Any) -> str:
    """Resource name from {"Fn::GetAtt": [name, attr]} (or "name.attr")."""
    assert isinstance(value, dict) and "Fn::GetAtt" in value, f"not a GetAtt: {value!r}"
    target = value["Fn::GetAtt"]
    return target[0] if isinstance(target, list) else target.split(".")[0]


@pytest.fixture(scope="module")
def function(template: dict[str, Any]) -> dict[str, Any]:
    return only_resource(template, "AWS::Serverless::Function")[1]["Properties"]


@pytest.fixture(scope="module")
def sqs_event(function: dict[str, Any]) -> dict[str, Any]:
    events = [e for e in function["Events"].values() if e["Type"] == "SQS"]
    assert len(events) == 1
    return events[0]["Properties"]


@pytest.fixture(scope="module")
def ingest_queue_name(sqs_event: dict[str, Any]) -> str:
    return getatt_target(sqs_event["Queue"])


@pytest.fixture(scope="module")
def ingest_queue(template: dict[str, Any], ingest_queue_name: str) -> dict[str, Any]:
    queue = template["Resources"][ingest_queue_name]
    assert queue["Type"] == "AWS::SQS::Queue"
    return queue["Properties"]


@pytest.fixture(scope="module")
def dlq_name(ingest_queue: dict[str, Any]) -> str:
    return getatt_target(ingest_queue["RedrivePolicy"]["deadLetterTargetArn"])


@pytest.fixture(scope="module")
def bucket(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return only_resource(template, "AWS::S3::Bucket")


def function_role(resources: dict[str, Any], function_properties: dict[str, Any]) -> dict[str, Any]:
    role_name = getatt_target(function_properties["Role"])
    assert resources[role_name]["Type"] == "AWS::IAM::Role"
    return resources[role_name]["Properties"]


def policy_statements(role_properties: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for policy in role_properties["Policies"]:
        found.extend(as_list(policy["PolicyDocument"]["Statement"]))
    return found


@pytest.fixture(scope="module")
def role(template: dict[str, Any], function: dict[str, Any]) -> dict[str, Any]:
    return function_role(template["Resources"], function)


@pytest.fixture(scope="module")
def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement the role can have; a conditional one (Fn::If) counts as its 'true' branch."""
    unwrapped = []
    for statement in policy_statements(role):
        if set(statement) == {"Fn::If"}:
            _, statement, otherwise = statement["Fn::If"]
            assert otherwise == {"Ref": "AWS::NoValue"}, "a conditional statement is either there or not"
        unwrapped.append(statement)
    return unwrapped


@pytest.fixture(scope="module", params=sorted(KEY_MODES))
def deployment(request: pytest.FixtureRequest, template: dict[str, Any]) -> Deployment:
    return Deployment(template, KEY_MODES[request.param])


def deployed_function(deployment: Deployment) -> dict[str, Any]:
    ((_, function),) = deployment.of_type("AWS::Serverless::Function").items()
    return function["Properties"]


def expected_data_key(deployment: Deployment) -> dict[str, Any] | None:
    """What every data resource must be encrypted with in this configuration (None: AWS-managed)."""
    if deployment.parameters["KmsKeyArn"]:
        return {"Ref": "KmsKeyArn"}
    if deployment.parameters["CreateKmsKey"] == "true":
        return CREATED_KEY
    return None


def ledger_table_name(function: dict[str, Any]) -> str:
    ref = function["Environment"]["Variables"]["LEDGER_TABLE"]
    assert set(ref) == {"Ref"}
    return ref["Ref"]


def find_in_map(template: dict[str, Any], node: Any) -> Any:
    if isinstance(node, dict) and "Fn::FindInMap" in node:
        mapping, top, second = node["Fn::FindInMap"]
        return template["Mappings"][mapping][top][second]
    return node


def statements_with_action(statements: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [s for s in statements if action in as_list(s["Action"])]


# ----------------------------------------------------------------- lint


def cfn_lint_command() -> list[str]:
    beside_python = Path(sys.executable).with_name("cfn-lint")
    if beside_python.exists():
        return [str(beside_python)]
    on_path = shutil.which("cfn-lint")
    assert on_path, "cfn-lint is not installed (pip install -r requirements/dev.txt)"
    return [on_path]


def test_cfn_lint_passes(template_path: Path) -> None:
    result = subprocess.run(
        [*cfn_lint_command(), "--", str(template_path)],
        cwd=template_path.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"cfn-lint exit {result.returncode}:\n{result.stdout}\n{result.stderr}"


# ----------------------------------------------------------------- function and event source


def test_sqs_event_reports_partial_batch_failures(sqs_event: dict[str, Any]) -> None:
    assert sqs_event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_maximum_concurrency_comes_from_parameter(template: dict[str, Any], sqs_event: dict[str, Any]) -> None:
    assert sqs_event["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "MaximumConcurrency"}
    param = template["Parameters"]["MaximumConcurrency"]
    assert param["Type"] == "Number"
    assert param["MinValue"] >= 2  # Lambda rejects 1
    assert param["MaxValue"] <= 1000


def test_record_concurrency_comes_from_parameter_within_the_batch_size(
    template: dict[str, Any], function: dict[str, Any], sqs_event: dict[str, Any]
) -> None:
    from hdr_ingest.entry.settings import DEFAULT_RECORD_CONCURRENCY, MAX_RECORD_CONCURRENCY

    assert function["Environment"]["Variables"]["RECORD_CONCURRENCY"] == {"Ref": "RecordConcurrency"}
    param = template["Parameters"]["RecordConcurrency"]
    assert param["Type"] == "Number" and param["Default"] == DEFAULT_RECORD_CONCURRENCY
    assert param["MinValue"] == 1
    # the function refuses more (config), and more threads than records in a batch would gain nothing
    assert param["MaxValue"] == MAX_RECORD_CONCURRENCY == sqs_event["BatchSize"]


def test_visibility_timeout_is_at_least_six_times_function_timeout(
    function: dict[str, Any], ingest_queue: dict[str, Any]
) -> None:
    timeout = int(function["Timeout"])
    visibility = int(ingest_queue["VisibilityTimeout"])
    assert visibility >= 6 * timeout, f"VisibilityTimeout {visibility} < 6 x Timeout {timeout}"


def test_redrive_count_matches_function_env(
    function: dict[str, Any], ingest_queue: dict[str, Any], dlq_name: str, template: dict[str, Any]
) -> None:
    assert template["Resources"][dlq_name]["Type"] == "AWS::SQS::Queue"
    max_receive = ingest_queue["RedrivePolicy"]["maxReceiveCount"]
    assert max_receive == {"Ref": "MaxReceiveCount"}
    assert function["Environment"]["Variables"]["MAX_RECEIVE_COUNT"] == max_receive
    assert function["Environment"]["Variables"]["DLQ_URL"] == {"Ref": dlq_name}


def test_dlq_keeps_messages_14_days_and_only_accepts_ingest_queue(
    template: dict[str, Any], dlq_name: str, ingest_queue: dict[str, Any]
) -> None:
    dlq = template["Resources"][dlq_name]["Properties"]
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 60 * 60
    allow = dlq["RedriveAllowPolicy"]
    assert allow["redrivePermission"] == "byQueue"
    (source_arn,) = allow["sourceQueueArnList"]
    queue_name = ingest_queue["QueueName"]["Fn::Sub"]
    assert source_arn["Fn::Sub"].endswith(f":{queue_name}")


def test_queues_are_encrypted_with_the_configured_key(deployment: Deployment) -> None:
    key = expected_data_key(deployment)
    queues = deployment.of_type("AWS::SQS::Queue")
    assert len(queues) == 2
    for name, queue in queues.items():
        props = queue["Properties"]
        if key is None:
            assert props.get("SqsManagedSseEnabled") is True, name
            assert "KmsMasterKeyId" not in props, name
        else:
            # SQS accepts one server-side encryption option per queue.
            assert props["KmsMasterKeyId"] == key, name
            assert "SqsManagedSseEnabled" not in props, name


def test_runtime_is_supported_python(function: dict[str, Any]) -> None:
    assert function["Runtime"] in {"python3.12", "python3.13"}


def test_powertools_layer_resolved_from_ssm(function: dict[str, Any]) -> None:
    layers = [
        layer["Fn::Sub"] if isinstance(layer, dict) and "Fn::Sub" in layer else layer for layer in function["Layers"]
    ]
    powertools = [layer for layer in layers if isinstance(layer, str) and "powertools" in layer]
    assert len(powertools) == 1
    assert powertools[0].startswith("{{resolve:ssm:/aws/service/powertools/python/")
    assert powertools[0].endswith("}}")


def test_environment_variable_names_are_exact(function: dict[str, Any]) -> None:
    assert set(function["Environment"]["Variables"]) == EXPECTED_ENV_VARS


def test_powertools_namespace_and_service_are_the_ones_the_code_defaults_to(
    template: dict[str, Any], function: dict[str, Any]
) -> None:
    env = function["Environment"]["Variables"]
    assert find_in_map(template, env["POWERTOOLS_METRICS_NAMESPACE"]) == "HdrGatewayIngest"
    assert find_in_map(template, env["POWERTOOLS_SERVICE_NAME"]) == "hdr-gateway-ingest"


# ----------------------------------------------------------------- IAM


def test_function_has_its_own_role_and_no_hidden_grants(function: dict[str, Any], role: dict[str, Any]) -> None:
    # SAM's Policies would attach AWS-managed policies granting SQS, Logs and X-Ray actions on "*".
    assert "Policies" not in function
    assert "ManagedPolicyArns" not in role
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust == {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}


def test_only_x_ray_is_granted_on_every_resource(statements: list[dict[str, Any]]) -> None:
    for statement in statements:
        assert statement["Effect"] == "Allow"
        if statement["Resource"] == "*":
            # X-Ray has no resource-level permissions.
            assert all(a.startswith("xray:") for a in as_list(statement["Action"])), statement


def test_event_source_and_logs_are_granted_on_their_own_resources(
    statements: list[dict[str, Any]], ingest_queue_name: str, template: dict[str, Any]
) -> None:
    (consume,) = statements_with_action(statements, "sqs:ReceiveMessage")
    assert set(as_list(consume["Action"])) == {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
    assert getatt_target(consume["Resource"]) == ingest_queue_name
    (logs,) = statements_with_action(statements, "logs:PutLogEvents")
    assert set(as_list(logs["Action"])) == {"logs:CreateLogStream", "logs:PutLogEvents"}
    ((log_group_name, _),) = resources_of_type(template, "AWS::Logs::LogGroup").items()
    assert logs["Resource"] == {"Fn::GetAtt": [log_group_name, "Arn"]}
    (traces,) = statements_with_action(statements, "xray:PutTraceSegments")
    assert set(as_list(traces["Action"])) == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_no_wildcard_actions(statements: list[dict[str, Any]]) -> None:
    assert statements
    for statement in statements:
        for action in as_list(statement["Action"]):
            # Rejects "*", "service:*" and partial wildcards such as "s3:Get*".
            assert "*" not in action, f"wildcard action {action!r} in {statement}"


def test_secret_permission_is_get_secret_value_on_the_route_secrets_only(
    template: dict[str, Any], statements: list[dict[str, Any]]
) -> None:
    secret_statements = {
        s["Sid"]: s for s in statements if any(a.startswith("secretsmanager:") for a in as_list(s["Action"]))
    }
    assert set(secret_statements) == {"ReadGatewaySecret", "ReadRouteSecrets"}
    for statement in secret_statements.values():
        assert as_list(statement["Action"]) == ["secretsmanager:GetSecretValue"]
    condition, if_arn, if_name = secret_statements["ReadGatewaySecret"]["Resource"]["Fn::If"]
    assert condition == "SecretIdIsArn"
    assert if_arn == {"Ref": "GatewaySecretId"}
    assert if_name["Fn::Sub"].endswith(":secret:${GatewaySecretId}-??????")
    # The Destinations routes' secrets: only those listed (the statement exists only when some are).
    assert secret_statements["ReadRouteSecrets"]["Resource"] == {"Ref": "RouteSecretArns"}
    assert template["Parameters"]["RouteSecretArns"]["Type"] == "CommaDelimitedList"


def test_s3_read_limited_to_this_bucket_s_objects(statements: list[dict[str, Any]]) -> None:
    """Routes choose their prefixes at run time (DESTINATIONS): the function reads this bucket's objects only."""
    (statement,) = statements_with_action(statements, "s3:GetObject")
    assert set(as_list(statement["Action"])) == {"s3:GetObject", "s3:GetObjectVersion"}
    assert statement["Resource"]["Fn::Sub"] == f"arn:${{AWS::Partition}}:s3:::{BUCKET_NAME_SUB}/*"


def test_ledger_and_dlq_permissions(statements: list[dict[str, Any]], function: dict[str, Any], dlq_name: str) -> None:
    table_name = ledger_table_name(function)
    (ledger,) = [s for s in statements_with_action(statements, "dynamodb:PutItem") if s.get("Sid") == "WriteLedger"]
    assert set(as_list(ledger["Action"])) == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}
    assert getatt_target(ledger["Resource"]) == table_name
    (send,) = statements_with_action(statements, "sqs:SendMessage")
    assert getatt_target(send["Resource"]) == dlq_name


# ----------------------------------------------------------------- ledger table


def test_ledger_table(template: dict[str, Any], function: dict[str, Any]) -> None:
    table = template["Resources"][ledger_table_name(function)]
    assert table["Type"] == "AWS::DynamoDB::Table"
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "source", "KeyType": "HASH"}]
    assert {"AttributeName": "source", "AttributeType": "S"} in props["AttributeDefinitions"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"


def test_every_table_has_pitr_and_is_encrypted_with_the_configured_key(deployment: Deployment) -> None:
    key = expected_data_key(deployment)
    tables = deployment.of_type("AWS::DynamoDB::Table")
    assert tables
    for name, table in tables.items():
        props = table["Properties"]
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name
        sse = props["SSESpecification"]
        assert sse["SSEEnabled"] is True, name
        if key is None:
            assert set(sse) == {"SSEEnabled"}, name  # the AWS-managed DynamoDB key
        else:
            assert sse["SSEType"] == "KMS", name
            assert sse["KMSMasterKeyId"] == key, name


# ----------------------------------------------------------------- bucket


def test_bucket_blocks_public_access_and_is_versioned_and_encrypted(bucket: tuple[str, dict[str, Any]]) -> None:
    props = bucket[1]["Properties"]
    block = props["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["VersioningConfiguration"]["Status"] == "Enabled"
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]


def test_bucket_encryption_follows_the_configured_key(deployment: Deployment) -> None:
    key = expected_data_key(deployment)
    ((_, bucket),) = deployment.of_type("AWS::S3::Bucket").items()
    (rule,) = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    default = rule["ServerSideEncryptionByDefault"]
    if key is None:
        assert default == {"SSEAlgorithm": "AES256"}
    else:
        assert default == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
    assert rule["BucketKeyEnabled"] is True


def test_bucket_access_logging_only_when_a_log_bucket_is_given(template: dict[str, Any]) -> None:
    without = Deployment(template)
    with_logs = Deployment(template, {"AccessLogsBucketName": "org-s3-access-logs"})
    ((_, plain),) = without.of_type("AWS::S3::Bucket").items()
    ((_, logged),) = with_logs.of_type("AWS::S3::Bucket").items()
    assert "LoggingConfiguration" not in plain["Properties"]
    assert logged["Properties"]["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": "AccessLogsBucketName"},
        "LogFilePrefix": {"Fn::Sub": "${AWS::StackName}-metadata/"},
    }


def test_bucket_policy_denies_insecure_transport(template: dict[str, Any], bucket: tuple[str, dict[str, Any]]) -> None:
    bucket_name, _ = bucket
    _, policy = only_resource(template, "AWS::S3::BucketPolicy")
    assert policy["Properties"]["Bucket"] == {"Ref": bucket_name}
    denies = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny"
        and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
    ]
    assert len(denies) == 1
    (deny,) = denies
    assert deny["Principal"] == "*"
    assert as_list(deny["Action"]) == ["s3:*"]
    resources = as_list(deny["Resource"])
    assert {"Fn::GetAtt": [bucket_name, "Arn"]} in resources
    assert {"Fn::Sub": f"${{{bucket_name}.Arn}}/*"} in resources


def test_bucket_notifies_ingest_queue_of_every_object(
    bucket: tuple[str, dict[str, Any]], ingest_queue_name: str
) -> None:
    props = bucket[1]["Properties"]
    created, removed = props["NotificationConfiguration"]["QueueConfigurations"]
    assert created["Event"] == "s3:ObjectCreated:*"
    # deletions are sent only when ArchiveOnDelete is true
    condition, config, otherwise = removed["Fn::If"]
    assert condition == "ArchiveOnDeleteEnabled" and otherwise == {"Ref": "AWS::NoValue"}
    assert config["Event"] == "s3:ObjectRemoved:*"
    for each in (created, config):
        # no filter: S3's are case-sensitive and may not overlap, so routing is the function's job
        assert getatt_target(each["Queue"]) == ingest_queue_name and "Filter" not in each


def test_bucket_name_matches_the_name_used_in_policies(bucket: tuple[str, dict[str, Any]]) -> None:
    assert bucket[1]["Properties"]["BucketName"] == {"Fn::Sub": BUCKET_NAME_SUB}


# ----------------------------------------------------------------- queue policy


def test_queue_policy_allows_only_this_bucket_and_account(
    template: dict[str, Any], ingest_queue_name: str, bucket: tuple[str, dict[str, Any]]
) -> None:
    policies = resources_of_type(template, "AWS::SQS::QueuePolicy")
    ((policy_name, policy),) = [
        (name, p) for name, p in policies.items() if p["Properties"]["Queues"] == [{"Ref": ingest_queue_name}]
    ]
    props = policy["Properties"]
    statements = props["PolicyDocument"]["Statement"]

    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "s3.amazonaws.com"}
    assert as_list(allow["Action"]) == ["sqs:SendMessage"]
    source_arn = allow["Condition"]["ArnLike"]["aws:SourceArn"]
    # A string, not GetAtt on the bucket: that would be a circular dependency.
    assert source_arn == {"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::{BUCKET_NAME_SUB}"}
    assert allow["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}

    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"]["Bool"]["aws:SecureTransport"] in ("false", False)

    # S3 validates the notification target on creation, so the policy must come first.
    assert policy_name in as_list(bucket[1]["DependsOn"])


def test_every_queue_denies_insecure_transport(template: dict[str, Any]) -> None:
    queues = set(resources_of_type(template, "AWS::SQS::Queue"))
    protected = set()
    for policy in resources_of_type(template, "AWS::SQS::QueuePolicy").values():
        props = policy["Properties"]
        denies = [
            s
            for s in props["PolicyDocument"]["Statement"]
            if s["Effect"] == "Deny" and s["Condition"]["Bool"]["aws:SecureTransport"] in ("false", False)
        ]
        assert len(denies) == 1
        assert denies[0]["Principal"] == "*"
        assert as_list(denies[0]["Action"]) == ["sqs:*"]
        for queue in props["Queues"]:
            assert denies[0]["Resource"] == {"Fn::GetAtt": [queue["Ref"], "Arn"]}
            protected.add(queue["Ref"])
    assert protected == queues


# ----------------------------------------------------------------- encryption keys


def test_kms_key_parameters(template: dict[str, Any]) -> None:
    params = template["Parameters"]
    assert params["KmsKeyArn"]["Default"] == ""
    assert params["CreateKmsKey"]["Default"] == "false"
    assert set(params["CreateKmsKey"]["AllowedValues"]) == {"true", "false"}
    pattern = re.compile(params["KmsKeyArn"]["AllowedPattern"])
    assert pattern.fullmatch("")
    assert pattern.fullmatch(CUSTOMER_KEY_ARN)
    assert pattern.fullmatch("arn:aws:kms:eu-west-2:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab")
    # IAM and key policies need the key's ARN: an alias or a bare key id would not grant anything.
    assert not pattern.fullmatch("arn:aws:kms:eu-west-2:123456789012:alias/hdr")
    assert not pattern.fullmatch("1234abcd-12ab-34cd-56ef-1234567890ab")


def test_a_given_key_and_a_created_key_are_mutually_exclusive(template: dict[str, Any]) -> None:
    for mode in KEY_MODES.values():
        assert Deployment(template, mode).failed_rules() == []
    both = Deployment(template, {"KmsKeyArn": CUSTOMER_KEY_ARN, "CreateKmsKey": "true"})
    assert both.failed_rules() == ["Set KmsKeyArn or CreateKmsKey=true, not both."]


def test_only_the_keys_each_configuration_needs_are_created(deployment: Deployment) -> None:
    keys = set(deployment.of_type("AWS::KMS::Key"))
    if deployment.parameters["KmsKeyArn"]:
        assert keys == set()
    elif deployment.parameters["CreateKmsKey"] == "true":
        assert keys == {"DataKey"}
        assert set(deployment.of_type("AWS::KMS::Alias")) == {"DataKeyAlias"}
    else:
        assert keys == {"AlarmTopicKey"}  # only the alarm topic needs one
    for key in deployment.of_type("AWS::KMS::Key").values():
        assert key["Properties"]["EnableKeyRotation"] is True


def test_created_data_key_outlives_the_stack_like_the_ledger(template: dict[str, Any]) -> None:
    key = template["Resources"]["DataKey"]
    # The retained ledger table is unreadable once its key is deleted.
    assert key["DeletionPolicy"] == "Retain"
    assert key["UpdateReplacePolicy"] == "Retain"
    assert template["Resources"]["AlarmTopicKey"]["DeletionPolicy"] == "Delete"


def key_statements(deployment: Deployment, key_name: str) -> dict[str, dict[str, Any]]:
    policy = deployment.resources[key_name]["Properties"]["KeyPolicy"]
    return {s["Sid"]: s for s in policy["Statement"]}


def test_created_data_key_policy_lets_s3_cloudwatch_and_logs_use_it(template: dict[str, Any]) -> None:
    deployment = Deployment(template, KEY_MODES["created-key"])
    statements = key_statements(deployment, "DataKey")
    assert statements["EnableIamPolicies"]["Principal"] == {
        "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
    }
    for statement in statements.values():
        assert statement["Effect"] == "Allow"
        assert statement["Principal"] != "*"
    # S3 encrypts each event notification it sends to the SSE-KMS ingest queue.
    s3 = statements["AllowS3NotificationsToEncryptedQueue"]
    assert s3["Principal"] == {"Service": "s3.amazonaws.com"}
    assert set(as_list(s3["Action"])) == {"kms:GenerateDataKey", "kms:Decrypt"}
    # The log group it encrypts is the function's, by name.
    ((_, log_group),) = deployment.of_type("AWS::Logs::LogGroup").items()
    logs = statements["AllowCloudWatchLogsForIngestLogGroup"]
    assert logs["Principal"] == {"Service": {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}}
    log_group_arn = logs["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"]["Fn::Sub"]
    assert log_group_arn.endswith(":log-group:" + log_group["Properties"]["LogGroupName"]["Fn::Sub"])


@pytest.mark.parametrize("key_name,mode", [("DataKey", "created-key"), ("AlarmTopicKey", "aws-managed")])
def test_created_keys_let_this_stacks_alarms_publish_to_the_topic(
    template: dict[str, Any], key_name: str, mode: str
) -> None:
    deployment = Deployment(template, KEY_MODES[mode])
    cloudwatch = key_statements(deployment, key_name)["AllowCloudWatchAlarmsToEncryptedTopic"]
    assert cloudwatch["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert set(as_list(cloudwatch["Action"])) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert cloudwatch["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    pattern = cloudwatch["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"]
    assert pattern.endswith(":alarm:${AWS::StackName}-*")
    for alarm in deployment.of_type("AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmName"]["Fn::Sub"].startswith("${AWS::StackName}-")


def test_log_group_encryption_and_function_environment_follow_the_configured_key(deployment: Deployment) -> None:
    key = expected_data_key(deployment)
    ((_, log_group),) = deployment.of_type("AWS::Logs::LogGroup").items()
    function = deployed_function(deployment)
    assert log_group["Properties"].get("KmsKeyId") == key
    assert function.get("KmsKeyArn") == key


def test_function_may_use_the_key_only_when_there_is_one(deployment: Deployment) -> None:
    key = expected_data_key(deployment)
    role = function_role(deployment.resources, deployed_function(deployment))
    kms = [s for s in policy_statements(role) if any(a.startswith("kms:") for a in as_list(s["Action"]))]
    if key is None:
        assert kms == []
        return
    (statement,) = kms
    assert set(as_list(statement["Action"])) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert statement["Resource"] == key
    via = {v["Fn::Sub"] for v in statement["Condition"]["StringEquals"]["kms:ViaService"]}
    assert via == {
        f"{service}.${{AWS::Region}}.amazonaws.com" for service in ("s3", "sqs", "dynamodb", "secretsmanager")
    }


def test_alarm_topic_is_always_encrypted_with_a_key_cloudwatch_may_use(deployment: Deployment) -> None:
    ((_, topic),) = deployment.of_type("AWS::SNS::Topic").items()
    key = expected_data_key(deployment) or {"Fn::GetAtt": ["AlarmTopicKey", "Arn"]}
    # Never alias/aws/sns: CloudWatch alarms cannot publish to a topic encrypted with it.
    assert topic["Properties"]["KmsMasterKeyId"] == key


def test_every_reference_exists_in_every_configuration(deployment: Deployment) -> None:
    known = set(deployment.resources) | set(deployment.parameters) | set(PSEUDO_PARAMETERS)
    assert deployment.references() - known == set()
    assert deployment.failed_rules() == []


# ----------------------------------------------------------------- logs


def test_log_retention_is_set_and_logs_go_to_that_group(template: dict[str, Any], function: dict[str, Any]) -> None:
    ((name, log_group),) = resources_of_type(template, "AWS::Logs::LogGroup").items()
    assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
    retention = template["Parameters"]["LogRetentionInDays"]
    assert retention["Default"] >= 365
    assert retention["Default"] in retention["AllowedValues"]
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": name}
    assert function["Tracing"] == "Active"


# ----------------------------------------------------------------- alarms


@pytest.fixture(scope="module")
def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: res["Properties"] for name, res in resources_of_type(template, "AWS::CloudWatch::Alarm").items()}


def alarm_on(alarms: dict[str, dict[str, Any]], namespace: Any, metric: str) -> dict[str, Any]:
    (found,) = [a for a in alarms.values() if a["Namespace"] == namespace and a["MetricName"] == metric]
    return found


def test_every_alarm_notifies_the_topic_and_ignores_missing_data(alarms: dict[str, dict[str, Any]]) -> None:
    assert len(alarms) == 6
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert alarm["OKActions"] == [{"Ref": "AlarmTopic"}], name
        # No data means nothing happened (no dead letters, no errors): not an alarm.
        assert alarm["TreatMissingData"] == "notBreaching", name
        assert alarm["EvaluationPeriods"] >= 1, name


def test_dead_letter_alarm_fires_on_the_first_message(alarms: dict[str, dict[str, Any]], dlq_name: str) -> None:
    alarm = alarm_on(alarms, "AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_name, "QueueName"]}}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert alarm["Statistic"] == "Maximum"


def test_queue_age_alarm_uses_the_threshold_parameter(
    alarms: dict[str, dict[str, Any]], ingest_queue_name: str, template: dict[str, Any]
) -> None:
    alarm = alarm_on(alarms, "AWS/SQS", "ApproximateAgeOfOldestMessage")
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [ingest_queue_name, "QueueName"]}}]
    assert alarm["Threshold"] == {"Ref": "QueueAgeAlarmSeconds"}
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert template["Parameters"]["QueueAgeAlarmSeconds"]["Type"] == "Number"


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_function_error_and_throttle_alarms(
    alarms: dict[str, dict[str, Any]], template: dict[str, Any], metric: str
) -> None:
    function_name, _ = only_resource(template, "AWS::Serverless::Function")
    alarm = alarm_on(alarms, "AWS/Lambda", metric)
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function_name}}]
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == ("Sum", 0, "GreaterThanThreshold")


def test_gateway_alarm_watches_the_metric_the_code_emits(
    alarms: dict[str, dict[str, Any]], template: dict[str, Any], function: dict[str, Any]
) -> None:
    env = function["Environment"]["Variables"]
    gateway = [a for a in alarms.values() if a["MetricName"] == "GatewayError"]
    (alarm,) = gateway
    # Same namespace and `service` dimension as the function's Powertools settings, or it never fires.
    assert find_in_map(template, alarm["Namespace"]) == find_in_map(template, env["POWERTOOLS_METRICS_NAMESPACE"])
    ((dimension),) = alarm["Dimensions"]
    assert dimension["Name"] == "service"
    assert find_in_map(template, dimension["Value"]) == find_in_map(template, env["POWERTOOLS_SERVICE_NAME"])
    assert alarm["Statistic"] == "Sum"
    assert alarm["Threshold"] == {"Ref": "GatewayErrorAlarmThreshold"}
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_drift_alarm_fires_on_the_first_record_read_back_differing_or_missing(
    alarms: dict[str, dict[str, Any]], template: dict[str, Any], function: dict[str, Any]
) -> None:
    from hdr_ingest.entry.observe import DRIFT_METRIC

    env = function["Environment"]["Variables"]
    (alarm,) = [a for a in alarms.values() if a["MetricName"] == DRIFT_METRIC]
    # The metric the observer emits for verified "differs"/"missing", in the function's namespace and service.
    assert find_in_map(template, alarm["Namespace"]) == find_in_map(template, env["POWERTOOLS_METRICS_NAMESPACE"])
    ((dimension),) = alarm["Dimensions"]
    assert dimension["Name"] == "service"
    assert find_in_map(template, dimension["Value"]) == find_in_map(template, env["POWERTOOLS_SERVICE_NAME"])
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == ("Sum", 0, "GreaterThanThreshold")
    assert alarm["AlarmName"] == {"Fn::Sub": "${AWS::StackName}-drift"}
    metrics = dashboard_metrics(dashboard_body(template))
    assert any(m[1] == DRIFT_METRIC for m in metrics)


def test_alarm_email_is_subscribed_only_when_given(template: dict[str, Any]) -> None:
    assert Deployment(template).of_type("AWS::SNS::Subscription") == {}
    with_email = Deployment(template, {"AlarmEmail": "ops@example.org"})
    ((_, subscription),) = with_email.of_type("AWS::SNS::Subscription").items()
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }
    pattern = re.compile(template["Parameters"]["AlarmEmail"]["AllowedPattern"])
    assert pattern.fullmatch("") and pattern.fullmatch("ops@example.org")
    assert not pattern.fullmatch("not an address")


# ----------------------------------------------------------------- dashboard


def dashboard_body(template: dict[str, Any]) -> dict[str, Any]:
    """The dashboard JSON with every ${...} filled in as CloudFormation would (names for strings)."""
    _, dashboard = only_resource(template, "AWS::CloudWatch::Dashboard")
    text, variables = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    params = template["Parameters"]

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in variables:
            return str(find_in_map(template, variables[name]))
        if name in params:
            assert params[name]["Type"] == "Number", f"{name}: only numbers are placed unquoted"
            return str(params[name]["Default"])
        assert name in PSEUDO_PARAMETERS or name.split(".")[0] in template["Resources"], f"unknown ${{{name}}}"
        return f"<{name}>"

    return json.loads(re.sub(r"\$\{([^}!]+)\}", fill, text))


def dashboard_metrics(body: dict[str, Any]) -> list[list[Any]]:
    return [m for w in body["widgets"] if w["type"] == "metric" for m in w["properties"]["metrics"]]


def test_dashboard_shows_every_outcome_and_gateway_latency_percentiles(
    template: dict[str, Any], function: dict[str, Any]
) -> None:
    env = function["Environment"]["Variables"]
    namespace = find_in_map(template, env["POWERTOOLS_METRICS_NAMESPACE"])
    service = find_in_map(template, env["POWERTOOLS_SERVICE_NAME"])
    metrics = dashboard_metrics(dashboard_body(template))
    ours = [m for m in metrics if m[0] == namespace]
    for m in ours:
        assert m[m.index("service") + 1] == service, m
    names = [m[1] for m in ours]
    for outcome in OUTCOME_METRICS:
        assert outcome in names, outcome
    latency_stats = {m[-1]["stat"] for m in ours if m[1] == "GatewayLatency"}
    assert latency_stats == {"p50", "p90", "Maximum"}
    assert "GatewayError" in names


def test_dashboard_shows_queues_dlq_and_function_health(template: dict[str, Any]) -> None:
    metrics = dashboard_metrics(dashboard_body(template))
    sqs = {(m[1], m[3]) for m in metrics if m[0] == "AWS/SQS"}
    assert ("ApproximateNumberOfMessagesVisible", "<IngestQueue.QueueName>") in sqs
    assert ("ApproximateAgeOfOldestMessage", "<IngestQueue.QueueName>") in sqs
    assert ("ApproximateNumberOfMessagesVisible", "<DeadLetterQueue.QueueName>") in sqs
    function_name, _ = only_resource(template, "AWS::Serverless::Function")
    lambda_metrics = {m[1] for m in metrics if m[0] == "AWS/Lambda" and m[3] == f"<{function_name}>"}
    assert {"Errors", "Throttles", "Duration", "Invocations"} <= lambda_metrics


def test_dashboard_lists_every_alarm(template: dict[str, Any], alarms: dict[str, dict[str, Any]]) -> None:
    (widget,) = [w for w in dashboard_body(template)["widgets"] if w["type"] == "alarm"]
    assert sorted(widget["properties"]["alarms"]) == sorted(f"<{name}.Arn>" for name in alarms)


def test_dashboard_log_query_reads_the_function_log_group(template: dict[str, Any]) -> None:
    ((name, _),) = resources_of_type(template, "AWS::Logs::LogGroup").items()
    (widget,) = [w for w in dashboard_body(template)["widgets"] if w["type"] == "log"]
    query = widget["properties"]["query"]
    assert query.startswith(f"SOURCE '<{name}>'")
    # The keys every log line carries (README "Troubleshooting").
    assert "source" in query and "correlation_id" in query


# ----------------------------------------------------------------- scanner suppressions


def test_every_checkov_suppression_is_justified(template: dict[str, Any]) -> None:
    skips = [
        (name, skip)
        for name, resource in template["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips, "expected the documented suppressions"
    for name, skip in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (name, skip)
        assert len(skip.get("comment", "").split()) >= 12, f"{name} {skip['id']}: say why, not just that"
    ids = [(name, skip["id"]) for name, skip in skips]
    assert len(ids) == len(set(ids)), "a check suppressed twice on one resource"
