"""IMS access tokens (OAuth server-to-server), cached per client across invocations of a warm container until
shortly before they expire. There is no refresh token: a new token is asked for with the client credentials."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# Renew this long before ``expires_in`` runs out (tokens last 24 h; a call must not start with a token that
# expires while it is in flight), but never more than a tenth of a short token's life.
RENEW_BEFORE_S = 300.0


@dataclass(frozen=True)
class Token:
    value: str = field(repr=False)
    expires_at: float  # on the cache's clock


class TokenCache:
    """Thread-safe: the threads that process records at once share one token per client."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._tokens: dict[tuple[str, str, str], Token] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str]) -> str | None:
        with self._lock:
            token = self._tokens.get(key)
        if token is None or self.clock() >= token.expires_at:
            return None
        return token.value

    def put(self, key: tuple[str, str, str], value: str, expires_in_s: float) -> None:
        margin = min(RENEW_BEFORE_S, expires_in_s / 10)
        with self._lock:
            self._tokens[key] = Token(value, self.clock() + expires_in_s - margin)

    def forget(self, key: tuple[str, str, str], value: str | None = None) -> None:
        """Drop the token (after a 401); with ``value``, only if it is still that token (another thread may
        have fetched a new one already)."""
        with self._lock:
            token = self._tokens.get(key)
            if token is not None and (value is None or token.value == value):
                del self._tokens[key]

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


TOKENS = TokenCache()  # module-level: survives between invocations of a warm container
