"""The shape of the Gateway's credentials: an app's ``app_id`` and ``client_id``, from the route's secret."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hdr_ingest.core.ports import CredentialsError


@dataclass(frozen=True)
class AppCredentials:
    """A Gateway app's identity. Both values together are the whole credential: never log them."""

    app_id: str = field(repr=False)
    client_id: str = field(repr=False)

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
        return cls(app_id=value["app_id"].strip(), client_id=value["client_id"].strip())

    def secret_values(self) -> tuple[str, str]:
        return (self.app_id, self.client_id)
