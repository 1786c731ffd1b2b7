"""The shape of the Gateway's credentials: an app's ``app_id`` and ``client_id``, from the route's secret."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hdr_ingest.core.ports import CredentialsError

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
