"""Checks on template.yaml: cfn-lint plus the settings the pipeline relies on.

cfn-lint does not catch a visibility timeout shorter than the function timeout, a
redrive count out of step with the code, or a bucket/queue-policy ordering problem,
so those are asserted here on the parsed template.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.infra

EXPECTED_ENV_VARS = {
    "GATEWAY_URL",
    "GATEWAY_SECRET_ID",
    "GATEWAY_HEADER_STYLE",
    "LEDGER_TABLE",
    "DLQ_URL",
    "MAX_OBJECT_BYTES",
    "TARGET_SCHEMA",
    "MAX_RECEIVE_COUNT",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
}

BUCKET_NAME_SUB = "${AWS::StackName}-metadata-${AWS::AccountId}-${AWS::Region}"


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


@pytest.fixture(scope="module")
def statements(function: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for policy in function["Policies"]:
        assert isinstance(policy, dict) and "Statement" in policy, f"expected inline policy documents, got {policy!r}"
        found.extend(as_list(policy["Statement"]))
    return found


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


def test_queues_use_sse(template: dict[str, Any]) -> None:
    for name, queue in resources_of_type(template, "AWS::SQS::Queue").items():
        assert queue["Properties"].get("SqsManagedSseEnabled") is True, name


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


# ----------------------------------------------------------------- IAM


def test_no_wildcard_actions(statements: list[dict[str, Any]]) -> None:
    assert statements
    for statement in statements:
        for action in as_list(statement["Action"]):
            # Rejects "*", "service:*" and partial wildcards such as "s3:Get*".
            assert "*" not in action, f"wildcard action {action!r} in {statement}"


def test_secret_permission_is_get_secret_value_on_the_secret_only(statements: list[dict[str, Any]]) -> None:
    secret_statements = [s for s in statements if any(a.startswith("secretsmanager:") for a in as_list(s["Action"]))]
    assert len(secret_statements) == 1
    (statement,) = secret_statements
    assert as_list(statement["Action"]) == ["secretsmanager:GetSecretValue"]
    condition, if_arn, if_name = statement["Resource"]["Fn::If"]
    assert condition == "SecretIdIsArn"
    assert if_arn == {"Ref": "GatewaySecretId"}
    assert if_name["Fn::Sub"].endswith(":secret:${GatewaySecretId}-??????")


def test_s3_read_limited_to_incoming_prefix(statements: list[dict[str, Any]]) -> None:
    (statement,) = statements_with_action(statements, "s3:GetObject")
    assert set(as_list(statement["Action"])) == {"s3:GetObject", "s3:GetObjectVersion"}
    assert statement["Resource"]["Fn::Sub"] == f"arn:${{AWS::Partition}}:s3:::{BUCKET_NAME_SUB}/incoming/*"


def test_ledger_and_dlq_permissions(statements: list[dict[str, Any]], template: dict[str, Any], dlq_name: str) -> None:
    table_name, _ = only_resource(template, "AWS::DynamoDB::Table")
    (ledger,) = statements_with_action(statements, "dynamodb:PutItem")
    assert set(as_list(ledger["Action"])) == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}
    assert getatt_target(ledger["Resource"]) == table_name
    (send,) = statements_with_action(statements, "sqs:SendMessage")
    assert getatt_target(send["Resource"]) == dlq_name


# ----------------------------------------------------------------- ledger table


def test_ledger_table(template: dict[str, Any]) -> None:
    _, table = only_resource(template, "AWS::DynamoDB::Table")
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "source", "KeyType": "HASH"}]
    assert {"AttributeName": "source", "AttributeType": "S"} in props["AttributeDefinitions"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"


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
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]


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


def test_bucket_notifies_ingest_queue_for_incoming_json(
    bucket: tuple[str, dict[str, Any]], ingest_queue_name: str
) -> None:
    props = bucket[1]["Properties"]
    (config,) = props["NotificationConfiguration"]["QueueConfigurations"]
    assert config["Event"] == "s3:ObjectCreated:*"
    assert getatt_target(config["Queue"]) == ingest_queue_name
    rules = {rule["Name"]: rule["Value"] for rule in config["Filter"]["S3Key"]["Rules"]}
    assert rules == {"prefix": "incoming/", "suffix": ".json"}


def test_bucket_name_matches_the_name_used_in_policies(bucket: tuple[str, dict[str, Any]]) -> None:
    assert bucket[1]["Properties"]["BucketName"] == {"Fn::Sub": BUCKET_NAME_SUB}


# ----------------------------------------------------------------- queue policy


def test_queue_policy_allows_only_this_bucket_and_account(
    template: dict[str, Any], ingest_queue_name: str, bucket: tuple[str, dict[str, Any]]
) -> None:
    policy_name, policy = only_resource(template, "AWS::SQS::QueuePolicy")
    props = policy["Properties"]
    assert props["Queues"] == [{"Ref": ingest_queue_name}]
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
