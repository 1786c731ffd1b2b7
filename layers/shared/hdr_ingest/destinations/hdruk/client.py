"""The Gateway's integrations API (``/integrations/datasets``): its paths, headers and bodies, over the shared
transport (:mod:`hdr_ingest.destinations.http`: total deadline per call, capped answers, no redirects).

Every call ends in an :class:`~hdr_ingest.core.answers.Answer`, never an exception, and a success counts only with
evidence (see :func:`answers.classify`)."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.core.document import compact_json
from hdr_ingest.core.verification import Held, ReadBack
from hdr_ingest.destinations.hdruk.answers import TITLE, answer_for, lookup_answer
from hdr_ingest.destinations.hdruk.credentials import AppCredentials, value_problem
from hdr_ingest.destinations.hdruk.datasets_route import as_versions, not_there
from hdr_ingest.destinations.hdruk.options import HeaderStyle
from hdr_ingest.destinations.hdruk.readback import held, shown_version
from hdr_ingest.destinations.hdruk.schema_pack import SchemaRef
from hdr_ingest.destinations.http import CONNECT_TIMEOUT_S, MAX_ANSWER_BYTES, Reply, Transport

__all__ = ["MAX_ANSWER_BYTES", "DatasetsClient", "GatewayClient"]

# A read-back holds the document twice (the Gateway's translation and the document received), and the Gateway takes
# documents up to about 10 MB: the public GET is read up to this much more than an ordinary answer.
READ_BACK_BYTES = 24 * 1024 * 1024

_CREDENTIALS_UNSENDABLE = (
    "The Gateway app's credentials cannot be sent as HTTP headers ({}): the secret's app_id or client_id holds a "
    "line break, a control or a non-ASCII character. Copy both values again from the team's Integrations > "
    "Applications page into the secret."
)


class GatewayClient:
    """One ``requests`` session (connection reuse) per container, shared by the threads that process records at
    once (``pool_size`` of them).

    Every public call takes ``read_timeout_s`` (the longest wait for one read) and an optional ``deadline_s``
    (seconds from now that the whole call, connection retries included, never outlives; without it, the connect
    timeout plus ``read_timeout_s``)."""

    collection = "/integrations/datasets"  # the route's datasets, under the base URL (DatasetsClient: /datasets)

    def __init__(
        self,
        base_url: str,
        header_style: HeaderStyle = HeaderStyle.X_HEADERS,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        pool_size: int = 4,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        transport: Transport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(self.base_url).netloc
        self.header_style = header_style
        self.max_answer_bytes = max_answer_bytes
        self.transport = transport or Transport(
            TITLE,
            connect_timeout_s=connect_timeout_s,
            pool_size=pool_size,
            url_hint="check GATEWAY_URL",
            unsendable=_CREDENTIALS_UNSENDABLE.format("refused before sending"),
        )

    def _headers(self, credentials: AppCredentials) -> dict[str, str]:
        if self.header_style is HeaderStyle.LEGACY:
            return {"app_id": credentials.app_id, "client_id": credentials.client_id}
        return {"x-application-id": credentials.app_id, "x-client-id": credentials.client_id}

    @staticmethod
    def _schema_params(schema: SchemaRef | None) -> dict[str, str]:
        # An explicit schema gives real validation errors and spares the Gateway its first-match detection
        # (which can hang on HDRUK 3.0.0 revision URLs).
        return {"input_schema": schema.name, "input_version": schema.version} if schema else {}

    def _call(
        self,
        method: str,
        path: str,
        credentials: AppCredentials,
        read_timeout_s: float,
        deadline_s: float | None,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        echoed: bool | int = False,
    ) -> Reply | Answer:
        """The raw answer, or the failure (TRANSIENT or PERMANENT) when there is no complete one in time.
        ``echoed``: the answer carries the document back (an update), so the cap allows for twice its size; an
        integer: the answer carries that many bytes more (a read-back holds the document twice)."""
        if any(value_problem(value) for value in credentials.secret_values()):
            return Answer(AnswerKind.PERMANENT, None, _CREDENTIALS_UNSENDABLE.format("refused before sending"))
        headers = self._headers(credentials)
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = compact_json(body)  # once per request, keys in the custodian's order
        cap = self.max_answer_bytes + (2 * len(data) if echoed is True and data else int(echoed))
        return self.transport.call(
            method,
            f"{self.base_url}{path}",
            timeout_s=read_timeout_s,
            deadline_s=deadline_s,
            headers=headers,
            params=params,
            body=data,
            cap=cap,
        )

    def create(
        self,
        document: dict[str, Any],
        schema: SchemaRef | None,
        datasetid: str,
        credentials: AppCredentials,
        read_timeout_s: float,
        *,
        deadline_s: float | None = None,
    ) -> Answer:
        body = {"metadata": {"metadata": document}, "datasetid": datasetid, "status": "ACTIVE"}
        reply = self._call(
            "POST",
            self.collection,
            credentials,
            read_timeout_s,
            deadline_s,
            self._schema_params(schema),
            body,
        )
        if isinstance(reply, Answer):
            return reply
        return answer_for(reply.status, reply.raw, reply.headers, complete=reply.complete)

    def update(
        self,
        dataset_id: int,
        document: dict[str, Any],
        schema: SchemaRef | None,
        credentials: AppCredentials,
        read_timeout_s: float,
        *,
        deadline_s: float | None = None,
    ) -> Answer:
        body = {"metadata": {"metadata": document}, "status": "ACTIVE"}
        reply = self._call(
            "PUT",
            f"{self.collection}/{dataset_id}",
            credentials,
            read_timeout_s,
            deadline_s,
            self._schema_params(schema),
            body,
            echoed=True,  # an update answers the dataset with its metadata (as the Gateway translated it)
        )
        if isinstance(reply, Answer):
            return reply
        return answer_for(reply.status, reply.raw, reply.headers, complete=reply.complete, expected_id=dataset_id)

    def find(
        self,
        datasetid: str,
        credentials: AppCredentials,
        read_timeout_s: float,
        *,
        deadline_s: float | None = None,
    ) -> Answer:
        """Look a dataset up by the custodian id it was created with (archived ones included)."""
        reply = self._call(
            "GET",
            self.collection,
            credentials,
            read_timeout_s,
            deadline_s,
            {"dataset_id": datasetid, "withTrashed": 1, "per_page": 5},
        )
        if isinstance(reply, Answer):
            return reply
        return lookup_answer(reply.status, reply.raw, reply.headers, complete=reply.complete, datasetid=datasetid)

    def archive(
        self,
        dataset_id: int,
        credentials: AppCredentials,
        read_timeout_s: float,
        *,
        deadline_s: float | None = None,
    ) -> Answer:
        """DELETE: the Gateway archives (soft-deletes) the dataset."""
        reply = self._call("DELETE", f"{self.collection}/{dataset_id}", credentials, read_timeout_s, deadline_s)
        if isinstance(reply, Answer):
            return reply
        return answer_for(reply.status, reply.raw, reply.headers, complete=reply.complete, needs_id=False)

    def unarchive(
        self,
        dataset_id: int,
        credentials: AppCredentials,
        read_timeout_s: float,
        *,
        deadline_s: float | None = None,
    ) -> Answer:
        """The integrations routes cannot un-archive; ``PATCH /datasets/{id}?unarchive`` can, with app headers."""
        reply = self._call(
            "PATCH",
            f"/datasets/{dataset_id}",
            credentials,
            read_timeout_s,
            deadline_s,
            {"unarchive": 1},
            {"status": "ACTIVE"},
        )
        if isinstance(reply, Answer):
            return reply
        return answer_for(reply.status, reply.raw, reply.headers, complete=reply.complete, needs_id=False)

    def show(
        self, dataset_id: int, credentials: AppCredentials, read_timeout_s: float, *, deadline_s: float | None = None
    ) -> ReadBack:
        """``GET /datasets/{id}`` (public, on either route): what the Gateway holds (``readback.held``)."""
        reply = self._call(
            "GET", f"/datasets/{dataset_id}", credentials, read_timeout_s, deadline_s, echoed=READ_BACK_BYTES
        )
        if isinstance(reply, Answer):
            return ReadBack(Held.UNKNOWN, message=reply.message)
        return held(reply.status, reply.raw, reply.complete, dataset_id)


class DatasetsClient(GatewayClient):
    """The successor route ``/api/v1/datasets`` (route option ``"api": "datasets"``): the same app headers,
    bodies and create answer; its differences are read by :mod:`.datasets_route`."""

    collection = "/datasets"

    def update(
        self,
        dataset_id: int,
        document: dict[str, Any],
        schema: SchemaRef | None,
        credentials: AppCredentials,
        read_timeout_s: float,
        *,
        deadline_s: float | None = None,
    ) -> Answer:
        """PUT answers ``{"message":"success"}`` alone: the new version number is then read from the public GET
        (unknown, and the answer still a success, when that read fails)."""
        body = {"metadata": {"metadata": document}, "status": "ACTIVE"}
        path = f"{self.collection}/{dataset_id}"
        params = self._schema_params(schema)
        started = time.monotonic()
        reply = self._call("PUT", path, credentials, read_timeout_s, deadline_s, params, body)
        if isinstance(reply, Answer):
            return reply
        answer = not_there(answer_for(reply.status, reply.raw, reply.headers, complete=reply.complete, needs_id=False))
        if answer.kind is not AnswerKind.SUCCESS:
            return answer
        left = None if deadline_s is None else deadline_s - (time.monotonic() - started)
        shown = self._call("GET", path, credentials, read_timeout_s, left) if left is None or left > 0.05 else None
        version = shown_version(shown.raw) if isinstance(shown, Reply) and shown.status == 200 else None
        return replace(answer, record_id=dataset_id, record_version=version)

    def find(
        self, datasetid: str, credentials: AppCredentials, read_timeout_s: float, *, deadline_s: float | None = None
    ) -> Answer:
        """``GET /datasets?dataset_id=...&withTrashed=1``: the items carry ``latest_metadata``."""
        params = {"dataset_id": datasetid, "withTrashed": 1, "per_page": 5}
        reply = self._call("GET", self.collection, credentials, read_timeout_s, deadline_s, params)
        if isinstance(reply, Answer):
            return reply
        raw = as_versions(reply.raw) if reply.complete else reply.raw
        return lookup_answer(reply.status, raw, reply.headers, complete=reply.complete, datasetid=datasetid)

    def archive(
        self, dataset_id: int, credentials: AppCredentials, read_timeout_s: float, *, deadline_s: float | None = None
    ) -> Answer:
        return not_there(super().archive(dataset_id, credentials, read_timeout_s, deadline_s=deadline_s))
