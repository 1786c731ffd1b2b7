"""HTTP adapter for the Gateway's integrations API (``/integrations/datasets``)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from hdr_ingest.destinations.hdruk.answers import AnswerKind, GatewayAnswer, classify, found_dataset, transient
from hdr_ingest.destinations.hdruk.credentials import AppCredentials
from hdr_ingest.destinations.hdruk.options import HeaderStyle
from hdr_ingest.destinations.hdruk.schema_pack import SchemaRef

USER_AGENT = "hdr-gateway-ingest/0.1"


def _session(pool_size: int = 4) -> requests.Session:
    session = requests.Session()
    # Only connection failures are retried here (the request never reached the Gateway, so it is safe for
    # POST too). Everything else is decided by the pipeline, which knows whether a retry could duplicate.
    retry = Retry(total=2, connect=2, read=0, status=0, other=0, backoff_factor=0.2, allowed_methods=None)
    # pool_maxsize: connections kept per host, at least one per record processed at once (RECORD_CONCURRENCY);
    # with fewer, the threads beyond it would open a new connection (TLS handshake) for every call.
    adapter = HTTPAdapter(max_retries=retry, pool_connections=2, pool_maxsize=max(4, pool_size))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
    return session


class GatewayClient:
    """One ``requests`` session (connection reuse) per container, shared by the threads that process records at
    once (``pool_size`` of them); every call bounded by a timeout."""

    def __init__(
        self,
        base_url: str,
        header_style: HeaderStyle = HeaderStyle.X_HEADERS,
        connect_timeout_s: float = 3.05,
        session: requests.Session | None = None,
        pool_size: int = 4,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(self.base_url).netloc
        self.header_style = header_style
        self.connect_timeout_s = connect_timeout_s
        self.session = session or _session(pool_size)

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
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> tuple[requests.Response | None, GatewayAnswer | None]:
        headers = self._headers(credentials)
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        try:
            response = self.session.request(
                method,
                f"{self.base_url}{path}",
                params=params,
                data=data,
                headers=headers,
                timeout=(self.connect_timeout_s, max(0.1, read_timeout_s)),
                # requests keeps custom headers (x-client-id, ...) on a redirect to another host: never follow one.
                allow_redirects=False,
            )
        except requests.Timeout:
            return None, transient("timed out")
        except requests.ConnectionError as exc:
            return None, transient(f"connection error: {type(exc).__name__}")
        return response, None

    @staticmethod
    def _decode(response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return {"message": response.text[:300]}

    def create(
        self,
        document: dict[str, Any],
        schema: SchemaRef | None,
        datasetid: str,
        credentials: AppCredentials,
        read_timeout_s: float,
    ) -> GatewayAnswer:
        body = {"metadata": {"metadata": document}, "datasetid": datasetid, "status": "ACTIVE"}
        response, failure = self._call(
            "POST", "/integrations/datasets", credentials, read_timeout_s, self._schema_params(schema), body
        )
        if failure:
            return failure
        assert response is not None
        return classify(response.status_code, self._decode(response), dict(response.headers))

    def update(
        self,
        dataset_id: int,
        document: dict[str, Any],
        schema: SchemaRef | None,
        credentials: AppCredentials,
        read_timeout_s: float,
    ) -> GatewayAnswer:
        body = {"metadata": {"metadata": document}, "status": "ACTIVE"}
        response, failure = self._call(
            "PUT",
            f"/integrations/datasets/{dataset_id}",
            credentials,
            read_timeout_s,
            self._schema_params(schema),
            body,
        )
        if failure:
            return failure
        assert response is not None
        answer = classify(response.status_code, self._decode(response), dict(response.headers))
        if answer.kind is AnswerKind.SUCCESS and answer.dataset_id is None:
            answer = GatewayAnswer(**{**answer.__dict__, "dataset_id": dataset_id})
        return answer

    def find(self, datasetid: str, credentials: AppCredentials, read_timeout_s: float) -> GatewayAnswer:
        """Look a dataset up by the custodian id it was created with (archived ones included)."""
        response, failure = self._call(
            "GET",
            "/integrations/datasets",
            credentials,
            read_timeout_s,
            {"dataset_id": datasetid, "withTrashed": 1, "per_page": 5},
        )
        if failure:
            return failure
        assert response is not None
        body = self._decode(response)
        if response.status_code != 200:
            return classify(response.status_code, body, dict(response.headers))
        dataset_id, archived, version = found_dataset(body)
        return GatewayAnswer(
            AnswerKind.SUCCESS,
            200,
            "archived" if archived else "found" if dataset_id else "not found",
            dataset_id=dataset_id,
            dataset_version=version,
            found=dataset_id is not None and not archived,
            deprecation=response.headers.get("Deprecation"),
            sunset=response.headers.get("Sunset"),
        )

    def archive(self, dataset_id: int, credentials: AppCredentials, read_timeout_s: float) -> GatewayAnswer:
        """DELETE: the Gateway archives (soft-deletes) the dataset."""
        response, failure = self._call("DELETE", f"/integrations/datasets/{dataset_id}", credentials, read_timeout_s)
        if failure:
            return failure
        assert response is not None
        return classify(response.status_code, self._decode(response), dict(response.headers))

    def unarchive(self, dataset_id: int, credentials: AppCredentials, read_timeout_s: float) -> GatewayAnswer:
        """The integrations routes cannot un-archive; ``PATCH /datasets/{id}?unarchive`` can, with app headers."""
        response, failure = self._call(
            "PATCH", f"/datasets/{dataset_id}", credentials, read_timeout_s, {"unarchive": 1}, {"status": "ACTIVE"}
        )
        if failure:
            return failure
        assert response is not None
        return classify(response.status_code, self._decode(response), dict(response.headers))
