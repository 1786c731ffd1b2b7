"""Routes: which destination publishes an object, chosen by the longest matching key prefix."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from hdr_ingest.core.ports import CredentialSource, Destination


@dataclass(frozen=True)
class RouteSpec:
    """One route as configured (``DESTINATIONS``): objects under ``prefix`` go to the ``kind`` catalogue at ``url``,
    with the credentials in secret ``secret`` (``None``: no credentials) and the kind's own ``options``. ``verify``
    is the option every kind takes (:data:`VERIFY_OPTION`): read each record back after publishing it."""

    prefix: str
    kind: str
    url: str
    secret: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    verify: bool = True


VERIFY_OPTION = "verify"  # a route option of every kind, taken out before the kind reads its own


def verify_option(options: Mapping[str, Any]) -> tuple[bool, Mapping[str, Any], str | None]:
    """The ``verify`` option (default on), the kind's own options without it, and what is wrong with it."""
    value = options.get(VERIFY_OPTION, True)
    rest = {name: option for name, option in options.items() if name != VERIFY_OPTION}
    if not isinstance(value, bool):
        return True, rest, f"{VERIFY_OPTION}={value!r} must be true or false (read each record back after publishing)"
    return value, rest, None


@dataclass(frozen=True)
class Route:
    prefix: str
    destination: Destination
    credentials: CredentialSource
    verify: bool = True  # read each record back after publishing it, when the destination can (``ReadsBack``)

    @property
    def ref(self) -> dict[str, str]:
        """What the ledger and dead letters record of the destination."""
        return {"kind": self.destination.kind, "url": self.destination.url}


class Routes:
    def __init__(self, routes: Iterable[Route]) -> None:
        self._routes = sorted(routes, key=lambda r: len(r.prefix), reverse=True)

    def __iter__(self) -> Iterator[Route]:
        return iter(self._routes)

    def for_key(self, key: str) -> Route | None:
        return next((route for route in self._routes if key.startswith(route.prefix)), None)

    @property
    def prefixes(self) -> list[str]:
        return sorted(route.prefix for route in self._routes)

    def unrouted_reason(self, key: str) -> str:
        watched = ", ".join(repr(p) for p in self.prefixes) or "none"
        return (
            f"{key!r} is under no configured route (DESTINATIONS prefixes: {watched}); nothing was published. "
            "Upload it under one of those prefixes, or add a route for it."
        )
