"""AWS clients made on first use, once per container, from one shared boto3 session.

Creating a client is the most expensive part of a cold start (botocore loads the service model and the endpoint
rules: about 100 ms for the first client, 5 to 40 ms for each further one). The function needs S3, DynamoDB and
Secrets Manager for its first record, and SQS only when it sends a dead letter. So each client is made when an
adapter first calls it, and the SQS client usually never is.

boto3 clients are thread-safe; boto3 sessions are not. Records of a batch are processed in threads, so clients are
made under a lock, once each, and then shared.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

ClientSource = Callable[[], Any]
"""What an adapter holds: a function that returns its boto3 client (made on first call, then the same one)."""


def client_source(client: Any) -> ClientSource:
    """``client`` as a :data:`ClientSource`: a function is taken as one; a client object is wrapped."""
    if callable(client):
        return client
    return lambda: client


class AwsClients:
    """The container's boto3 clients, each created on its first use from one ``boto3.session.Session``."""

    def __init__(
        self,
        max_pool_connections: int = 10,
        session_factory: Callable[[], Any] | None = None,
        before_first_client: Callable[[], None] | None = None,
    ) -> None:
        """``max_pool_connections``: HTTP connections each client keeps; at least the number of records
        processed at once, so that no thread waits for a connection. ``before_first_client`` runs once, before
        the session and the first client are made (the runtime patches botocore for X-Ray there: patching
        imports botocore's client machinery, which nothing needs before)."""
        self.max_pool_connections = max(10, max_pool_connections)
        self._session_factory = session_factory
        self._before_first_client = before_first_client
        self._session: Any = None
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        """The client for ``service`` (a boto3 service name), made on first use, then the same one: the client
        every adapter given :meth:`source` for that service calls."""
        client = self._clients.get(service)
        if client is None:
            with self._lock:
                client = self._clients.get(service)
                if client is None:
                    client = self._make(service)
                    self._clients[service] = client
        return client

    def source(self, service: str) -> ClientSource:
        """A :data:`ClientSource` for ``service``: nothing is created until it is called."""
        return lambda: self.client(service)

    def created(self) -> tuple[str, ...]:
        """The services whose client exists so far."""
        return tuple(self._clients)

    def _make(self, service: str) -> Any:
        if self._session is None:
            if self._before_first_client is not None:
                self._before_first_client()
            if self._session_factory is not None:
                self._session = self._session_factory()
            else:
                import boto3

                self._session = boto3.session.Session()
        from botocore.config import Config

        return self._session.client(service, config=Config(max_pool_connections=self.max_pool_connections))
