"""Every AWS and HTTP call a worker process makes, counted and timed, without touching the product: botocore's
client calls (one per API call, retries included) and requests' transport adapter (one per HTTP request). Each call
is named for a reader: the service and operation, the ledger's writes by what they do (lease, release, outcome),
and Gateway requests by method and path (numbers as ``{id}``)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

GATEWAY, AWS = "gateway", "aws"


def aws_name(service: str, operation: str, params: dict[str, Any]) -> str:
    """``DynamoDB UpdateItem (lease)``, ``S3 GetObject``, ...: the ledger's writes by what they do."""
    names = {"s3": "S3", "dynamodb": "DynamoDB", "secretsmanager": "Secrets Manager", "sqs": "SQS"}
    name = f"{names.get(service, service)} {operation}"
    update = str(params.get("UpdateExpression", ""))
    if operation == "UpdateItem":
        purpose = (
            "lease" if update.startswith("SET lease_owner") else "release" if "REMOVE lease_owner" in update else ""
        )
        name += f" ({purpose or 'read-back fields'})"
    elif operation == "PutItem":
        name += " (outcome)"
    return name


def http_name(method: str, url: str) -> str:
    """``Gateway GET /api/v1/integrations/datasets/{id}``: the path without its query, numbers as ``{id}``."""
    path = re.sub(r"/\d+(?=/|$)", "/{id}", urlsplit(url).path)
    return f"Gateway {method} {path}"


class Calls:
    """The calls made since ``start()``: ``taken()`` gives each as (name, seconds), in order. ``totals`` keeps the
    seconds spent waiting on the Gateway and on AWS since ``reset_totals()``, over every thread, and ``counts``
    the calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[tuple[str, float]] = []
        self.totals = {GATEWAY: 0.0, AWS: 0.0}
        self.counts = {GATEWAY: 0, AWS: 0}

    def start(self) -> None:
        with self._lock:
            self._calls = []

    def taken(self) -> list[tuple[str, float]]:
        with self._lock:
            return list(self._calls)

    def reset_totals(self) -> None:
        with self._lock:
            self.totals = {GATEWAY: 0.0, AWS: 0.0}
            self.counts = {GATEWAY: 0, AWS: 0}

    def note(self, kind: str, name: str, seconds: float) -> None:
        with self._lock:
            self._calls.append((name, seconds))
            self.totals[kind] += seconds
            self.counts[kind] += 1


def instrument() -> Calls:
    """Wrap botocore's client calls and requests' HTTPAdapter.send in this process; return what they record."""
    import botocore.client
    import requests.adapters

    calls = Calls()
    make_api_call: Callable[..., Any] = botocore.client.BaseClient._make_api_call
    send: Callable[..., Any] = requests.adapters.HTTPAdapter.send

    def timed_api_call(client: Any, operation: str, params: dict[str, Any]) -> Any:
        started = time.perf_counter()
        try:
            return make_api_call(client, operation, params)
        finally:
            name = aws_name(client.meta.service_model.service_name, operation, params)
            calls.note(AWS, name, time.perf_counter() - started)

    def timed_send(adapter: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return send(adapter, request, *args, **kwargs)
        finally:
            calls.note(GATEWAY, http_name(str(request.method), str(request.url)), time.perf_counter() - started)

    botocore.client.BaseClient._make_api_call = timed_api_call
    requests.adapters.HTTPAdapter.send = timed_send  # type: ignore[method-assign,assignment]
    return calls
