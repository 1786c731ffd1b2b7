"""Cold-start baseline, run in a fresh interpreter: ``import boto3, requests``; with ``--clients`` also the S3,
DynamoDB and Secrets Manager clients the function's first record uses (what any function using them pays).
Prints the wall-clock moment it was ready."""

import json
import sys
import time

import boto3
import requests  # noqa: F401 - its import is what is measured

if "--clients" in sys.argv[1:]:
    session = boto3.session.Session()
    session.client("s3"), session.client("dynamodb"), session.client("secretsmanager")
print(json.dumps({"ready": time.time()}))
