"""The Gateway app credentials, read from Secrets Manager through Powertools parameters (cached)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from hdr_ingest.adapters.aws.clients import ClientSource


class CredentialsError(Exception):
    """The secret is missing, unreadable or malformed. The message says what to fix (never the values)."""


MAX_VALUE_CHARS = 512  # the Gateway's ids are UUID-like, far shorter


def value_problem(value: str) -> str | None:
    """What makes ``value`` unfit for a credential header, in words that never quote it; ``None`` if it is fit."""
    if len(value) > MAX_VALUE_CHARS:
        return f"is {len(value)} characters long"
    if any(c in "\r\n" for c in value):
        return "holds a line break"
    if not value.isascii():
        return "holds a non-ASCII character"
    if not value.isprintable():
        return "holds a control character"
    return None


@dataclass(frozen=True)
class AppCredentials:
    """A Gateway app's identity. Both values together are the whole credential: never log them."""

    app_id: str = field(repr=False)
    client_id: str = field(repr=False)

    def __post_init__(self) -> None:
        # The values become HTTP header values: one with CR/LF or a non-Latin-1 character would make requests or
        # http.client raise an error that quotes it. Refuse them here, without the values in the message.
        for key in ("app_id", "client_id"):
            value = getattr(self, key)
            problem = value_problem(value) if isinstance(value, str) else "is not a string"
            if problem:
                raise CredentialsError(f"the Gateway app's {key} {problem}: it cannot be sent as an HTTP header")

    @classmethod
    def from_secret(cls, value: Any, secret_id: str) -> AppCredentials:
        if not isinstance(value, dict):
            raise CredentialsError(
                f'secret {secret_id!r} must hold a JSON object {{"app_id": "<Application ID>", "client_id": '
                '"<Client ID>"} from the Gateway team\'s Integrations > Applications page'
            )
        missing = [k for k in ("app_id", "client_id") if not isinstance(value.get(k), str) or not value[k].strip()]
        if missing:
            raise CredentialsError(
                f"secret {secret_id!r} lacks {' and '.join(missing)}: it must hold "
                '{"app_id": "<Application ID>", "client_id": "<Client ID>"} from the Gateway team\'s '
                "Integrations > Applications page"
            )
        for key in ("app_id", "client_id"):
            problem = value_problem(value[key].strip())
            if problem:
                raise CredentialsError(
                    f"secret {secret_id!r} has a {key} that {problem}: a Gateway credential is printable ASCII of at "
                    f"most {MAX_VALUE_CHARS} characters. Copy the value again from the Gateway team's Integrations > "
                    "Applications page into the secret"
                )
        return cls(app_id=value["app_id"].strip(), client_id=value["client_id"].strip())

    def secret_values(self) -> tuple[str, str]:
        return (self.app_id, self.client_id)


class SecretsManagerCredentials:
    """Reads ``{"app_id", "client_id"}`` from a secret; cached for ``max_age`` seconds per container.

    With ``client`` (a function returning the container's Secrets Manager client), Powertools' secrets provider
    uses that client, made on first use from the function's shared session; without it, Powertools' default
    provider makes its own.

    Records of a batch are processed in threads: one fetch at a time (the others then take the cached value), and
    a refresh asked for after a 401 fetches again only if no other thread has fetched since this thread got its
    credentials. After a rotation the secret is read once more, not once per thread."""

    def __init__(self, secret_id: str, max_age: int = 300, client: ClientSource | None = None) -> None:
        self.secret_id = secret_id
        self.max_age = max_age
        self._client = client
        self._provider: Any = None
        self._lock = threading.Lock()
        self._cached_bad = False  # the cached value is malformed: fetch again, so a fixed secret works at once
        self._latest: AppCredentials | None = None  # the credentials last returned, by any thread
        self._mine = threading.local()  # .credentials: those this thread last got

    def get(self, refresh: bool = False) -> AppCredentials:
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

    def _get(self, refresh: bool) -> AppCredentials:
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
            credentials = AppCredentials.from_secret(value, self.secret_id)
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
