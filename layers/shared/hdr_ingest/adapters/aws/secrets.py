"""A route's credentials, read from Secrets Manager through Powertools parameters (cached) and parsed into the
destination's own shape by the destination."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from hdr_ingest.adapters.aws.clients import ClientSource
from hdr_ingest.core import defaults
from hdr_ingest.core.ports import CredentialsError


class SecretsManagerCredentials:
    """Reads ``{"app_id", "client_id"}`` from a secret; cached for ``max_age`` seconds per container.

    With ``client`` (a function returning the container's Secrets Manager client), Powertools' secrets provider
    uses that client, made on first use from the function's shared session; without it, Powertools' default
    provider makes its own.

    Records of a batch are processed in threads: one fetch at a time (the others then take the cached value), and
    a refresh asked for after a 401 fetches again only if no other thread has fetched since this thread got its
    credentials. After a rotation the secret is read once more, not once per thread."""

    def __init__(
        self,
        secret_id: str,
        parse: Callable[[Any, str], Any],
        max_age: int = defaults.SECRET_MAX_AGE_S,
        client: ClientSource | None = None,
    ) -> None:
        """``parse(value, secret_id)``: the destination's reading of the secret's JSON value (raises
        :class:`CredentialsError` saying what to fix)."""
        self.secret_id = secret_id
        self._parse = parse
        self.max_age = max_age
        self._client = client
        self._provider: Any = None
        self._lock = threading.Lock()
        self._cached_bad = False  # the cached value is malformed: fetch again, so a fixed secret works at once
        self._latest: Any | None = None  # the credentials last returned, by any thread
        self._mine = threading.local()  # .credentials: those this thread last got

    def get(self, refresh: bool = False) -> Any:
        with self._lock:
            seen = getattr(self._mine, "credentials", None)
            if refresh and self._latest is not None and seen is not None and self._latest != seen:
                credentials = self._latest  # another thread fetched the secret again since: the rotated value
            else:
                credentials = self._get(refresh)
            self._latest = self._mine.credentials = credentials
            return credentials

    def _fetch(self, force: bool) -> Any:
        from aws_lambda_powertools.utilities import parameters

        if self._client is None:
            return parameters.get_secret(self.secret_id, transform="json", max_age=self.max_age, force_fetch=force)
        if self._provider is None:
            self._provider = parameters.SecretsProvider(boto3_client=self._client())
        return self._provider.get(self.secret_id, max_age=self.max_age, transform="json", force_fetch=force)

    def _get(self, refresh: bool) -> Any:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError

        try:
            value = self._fetch(force=refresh or self._cached_bad)
        except TransformParameterError as exc:
            raise CredentialsError(
                f"secret {self.secret_id!r} is not valid JSON: store "
                '{"app_id": "...", "client_id": "..."} as the secret string'
            ) from exc
        except GetParameterError as exc:
            # Powertools raises GetParameterError inside its except block: the AWS error is the context.
            raise CredentialsError(_unreadable(self.secret_id, exc.__cause__ or exc.__context__ or exc)) from exc
        try:
            credentials = self._parse(value, self.secret_id)
        except CredentialsError:
            self._cached_bad = True
            raise
        self._cached_bad = False
        return credentials


_THROTTLED = ("ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded")
_DENIED = ("AccessDeniedException", "AccessDenied", "UnauthorizedOperation")


def _unreadable(secret_id: str, cause: BaseException) -> str:
    """What to do when Secrets Manager did not give us the secret, by the AWS error code."""
    from botocore.exceptions import ClientError

    code = str(cause.response.get("Error", {}).get("Code", "")) if isinstance(cause, ClientError) else ""
    what = code or type(cause).__name__
    if code in _THROTTLED:
        return (
            f"Secrets Manager throttled reading secret {secret_id!r} ({what}); the record is retried. If this "
            "persists, lower the function's concurrency or raise SECRET_MAX_AGE"
        )
    if code == "ResourceNotFoundException":
        return (
            f"secret {secret_id!r} does not exist in this account and region ({what}): create it, or set "
            "GATEWAY_SECRET_ID to its name or ARN"
        )
    if code in _DENIED or code.startswith("KMS") or code == "DecryptionFailure":
        return (
            f"the function may not read secret {secret_id!r} ({what}): its role needs "
            "secretsmanager:GetSecretValue on the secret, and kms:Decrypt on its key if that is customer-managed"
        )
    return (
        f"cannot read secret {secret_id!r} ({what}): check that it exists in this account and region and that "
        "GATEWAY_SECRET_ID names it"
    )
