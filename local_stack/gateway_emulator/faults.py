"""Fault injection for the Gateway emulator: latency, random 500s/timeouts, scripted faults and throttling.

These are test aids, not behaviours read from the Gateway: they stage what a client must survive. Where a fault
imitates an answer of the real service, its source is: ``throttle`` and ``throttle_per_minute``, Laravel's
``throttle:api`` per client IP rendered as 500 "Too Many Attempts." by the Gateway's handler
(``shared/notes/hdruk-gateway.md`` §(f), inferred from code, not measured); ``timeout``, a request the Gateway does
not finish (Octane's ``max_execution_time`` is 30 s, §(f); what it answers then is unknown, "Server Error" is the
emulator's choice); ``integrations_removed``, unknown (the route is still registered at gateway-api 57e1406).

A :class:`FaultPlan` is shared by all request threads; every method is thread-safe.

Per API request (never for ``/_emulator/`` admin requests) the server:

1. sleeps ``latency_ms``;
2. takes the next scripted step if the script is not empty, otherwise draws one number from the seeded
   ``random.Random`` and turns it into ``"500"`` (probability ``error_rate``), ``"timeout"`` (probability
   ``timeout_rate``) or normal handling;
3. applies throttling (per client IP, ``throttle_per_minute`` requests per 60 s window, like Laravel's
   ``throttle:api``) to the requests it handles normally.

Script steps (case-insensitive):

``"ok"``, ``"pass"``, ``"201-ok"``, ``"200-ok"`` (anything ending in ``ok``)
    handle the request normally.
``"500"`` (or any other 3-digit status)
    answer that status with ``{"code":<status>,"message":<"Server Error" for 500, else the reason phrase>}``
    without touching the data.
``"timeout"``
    hold the request for ``timeout_after`` seconds (default 2.0), then answer 500
    ``{"code":500,"message":"Server Error"}`` without touching the data.  A client whose read timeout is
    shorter than ``timeout_after`` sees a read timeout; the request was *not* processed.
``"drop"`` (alias ``"close"``, ``"reset"``)
    close the connection without sending any response (the client sees a connection error).
``"throttle"``
    answer 500 ``{"code":500,"message":"Too Many Attempts."}`` as if the rate limit had been hit.

``integrations_removed`` (404, 410 or null) is a switch rather than a step: while set, every request to
``/api/v1/integrations/datasets`` answers that status, as if the deprecated route had been removed, and the
``/api/v1/datasets`` routes work on.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

__all__ = ["FaultDecision", "FaultKind", "FaultPlan", "parse_step"]

FaultKind = Literal["ok", "status", "timeout", "drop", "throttle"]

_STATUS_RE = re.compile(r"^[1-5][0-9]{2}$")
DEFAULT_TIMEOUT_AFTER = 2.0
THROTTLE_WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class FaultDecision:
    """What the server does with one request before (or instead of) handling it."""

    kind: FaultKind
    status: int = 0
    source: str = ""  # "script", "random" or "" (no fault)

    @property
    def label(self) -> str | None:
        if self.kind == "ok":
            return None
        detail = str(self.status) if self.kind == "status" else self.kind
        return f"{self.source}:{detail}"


def parse_step(step: str) -> FaultDecision:
    """Turn one script entry into a decision; raises ``ValueError`` for an unknown entry."""
    text = str(step).strip().lower()
    if text.endswith("ok") or text == "pass":
        return FaultDecision("ok", source="script")
    if _STATUS_RE.match(text):
        return FaultDecision("status", status=int(text), source="script")
    if text == "timeout":
        return FaultDecision("timeout", status=500, source="script")
    if text in ("drop", "close", "reset"):
        return FaultDecision("drop", source="script")
    if text == "throttle":
        return FaultDecision("throttle", status=500, source="script")
    raise ValueError(f"unknown fault script step {step!r}")


class FaultPlan:
    """Mutable, thread-safe fault configuration plus its state (script queue, RNG, throttle windows)."""

    def __init__(self, seed: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._seed = seed
        self._clock = clock
        self._rng = random.Random(seed)
        self._latency_ms = 0.0
        self._error_rate = 0.0
        self._timeout_rate = 0.0
        self._timeout_after = DEFAULT_TIMEOUT_AFTER
        self._script: list[FaultDecision] = []
        self._throttle_per_minute: int | None = None
        self._windows: dict[str, tuple[float, int]] = {}
        self._integrations_removed: int | None = None

    # -- configuration -------------------------------------------------------------------------------------
    def set_latency_ms(self, latency_ms: float) -> None:
        if latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        with self._lock:
            self._latency_ms = float(latency_ms)

    def set_rates(self, error_rate: float = 0.0, timeout_rate: float = 0.0) -> None:
        if not (0.0 <= error_rate <= 1.0 and 0.0 <= timeout_rate <= 1.0 and error_rate + timeout_rate <= 1.0):
            raise ValueError("error_rate and timeout_rate must be in [0, 1] and sum to at most 1")
        with self._lock:
            self._error_rate = float(error_rate)
            self._timeout_rate = float(timeout_rate)

    def set_timeout_after(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("timeout_after must be >= 0")
        with self._lock:
            self._timeout_after = float(seconds)

    def script(self, steps: Iterable[str]) -> None:
        """Replace the scripted steps; one is consumed per API request, then random faults apply again."""
        parsed = [parse_step(step) for step in steps]
        with self._lock:
            self._script = parsed

    def set_throttle(self, per_minute: int | None) -> None:
        """Limit each client IP to ``per_minute`` API requests per 60 s window (``None`` or 0 = unlimited)."""
        if per_minute is not None and per_minute < 0:
            raise ValueError("per_minute must be >= 0")
        with self._lock:
            self._throttle_per_minute = per_minute or None
            self._windows.clear()

    def remove_integrations(self, status: int | None) -> None:
        """Answer every integrations request ``status`` (404 or 410), or serve the route again (None)."""
        with self._lock:
            self._integrations_removed = _removed(status)

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._seed = seed
            self._rng = random.Random(seed)

    def reset(self) -> None:
        """Back to no faults, an empty script, no throttling and a freshly seeded RNG."""
        with self._lock:
            self._rng = random.Random(self._seed)
            self._latency_ms = 0.0
            self._error_rate = 0.0
            self._timeout_rate = 0.0
            self._timeout_after = DEFAULT_TIMEOUT_AFTER
            self._script = []
            self._throttle_per_minute = None
            self._windows.clear()
            self._integrations_removed = None

    def configure(self, config: Mapping[str, Any]) -> None:
        """Apply a partial JSON configuration (keys as in :meth:`snapshot`, plus ``seed``)."""
        known = {
            "latency_ms",
            "error_rate",
            "timeout_rate",
            "timeout_after",
            "script",
            "throttle_per_minute",
            "seed",
            "integrations_removed",
        }
        unknown = set(config) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        # Validate everything before changing anything.
        latency = _number(config, "latency_ms", self.latency_ms)
        with self._lock:
            error_rate, timeout_rate = self._error_rate, self._timeout_rate
        error_rate = _number(config, "error_rate", error_rate)
        timeout_rate = _number(config, "timeout_rate", timeout_rate)
        timeout_after = _number(config, "timeout_after", self.timeout_after)
        script: list[str] | None = None
        if "script" in config:
            raw = config["script"]
            if not isinstance(raw, list) or not all(isinstance(step, str) for step in raw):
                raise ValueError("script must be a list of strings")
            for step in raw:
                parse_step(step)
            script = raw
        throttle = config.get("throttle_per_minute", self.throttle_per_minute)
        if throttle is not None and (not isinstance(throttle, int) or isinstance(throttle, bool) or throttle < 0):
            raise ValueError("throttle_per_minute must be a non-negative integer or null")
        seed = config.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ValueError("seed must be an integer")
        removed = _removed(config.get("integrations_removed", self.integrations_removed))
        if latency < 0 or timeout_after < 0:
            raise ValueError("latency_ms and timeout_after must be >= 0")
        if not (0.0 <= error_rate <= 1.0 and 0.0 <= timeout_rate <= 1.0 and error_rate + timeout_rate <= 1.0):
            raise ValueError("error_rate and timeout_rate must be in [0, 1] and sum to at most 1")

        self.set_latency_ms(latency)
        self.set_rates(error_rate, timeout_rate)
        self.set_timeout_after(timeout_after)
        if script is not None:
            self.script(script)
        if "throttle_per_minute" in config:
            self.set_throttle(throttle)
        if seed is not None:
            self.reseed(seed)
        self.remove_integrations(removed)

    # -- read access ---------------------------------------------------------------------------------------
    @property
    def latency_ms(self) -> float:
        with self._lock:
            return self._latency_ms

    @property
    def timeout_after(self) -> float:
        with self._lock:
            return self._timeout_after

    @property
    def integrations_removed(self) -> int | None:
        with self._lock:
            return self._integrations_removed

    @property
    def throttle_per_minute(self) -> int | None:
        with self._lock:
            return self._throttle_per_minute

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "latency_ms": self._latency_ms,
                "error_rate": self._error_rate,
                "timeout_rate": self._timeout_rate,
                "timeout_after": self._timeout_after,
                "script": [_step_text(step) for step in self._script],
                "throttle_per_minute": self._throttle_per_minute,
                "seed": self._seed,
                "integrations_removed": self._integrations_removed,
            }

    # -- per-request decisions -----------------------------------------------------------------------------
    def next_decision(self) -> FaultDecision:
        """Consume one scripted step, or draw one random number; called once per API request."""
        with self._lock:
            if self._script:
                return self._script.pop(0)
            if self._error_rate <= 0.0 and self._timeout_rate <= 0.0:
                return FaultDecision("ok")
            draw = self._rng.random()
            if draw < self._error_rate:
                return FaultDecision("status", status=500, source="random")
            if draw < self._error_rate + self._timeout_rate:
                return FaultDecision("timeout", status=500, source="random")
            return FaultDecision("ok")

    def throttle_hit(self, client_ip: str) -> tuple[bool, int | None, int | None]:
        """Count one request for ``client_ip``.

        Returns ``(throttled, limit, remaining)``; ``limit``/``remaining`` are ``None`` when unthrottled.
        Like Laravel's ``ThrottleRequests``: a request over the limit is rejected and not counted, and the
        window starts with the first request and lasts 60 s.
        """
        with self._lock:
            limit = self._throttle_per_minute
            if limit is None:
                return False, None, None
            now = self._clock()
            start, count = self._windows.get(client_ip, (now, 0))
            if now - start >= THROTTLE_WINDOW_SECONDS:
                start, count = now, 0
            if count >= limit:
                self._windows[client_ip] = (start, count)
                return True, limit, 0
            count += 1
            self._windows[client_ip] = (start, count)
            return False, limit, limit - count


def _number(config: Mapping[str, Any], key: str, default: float) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{key} must be a number")
    return float(value)


def _step_text(step: FaultDecision) -> str:
    if step.kind == "status":
        return str(step.status)
    return step.kind


def _removed(value: Any) -> int | None:
    if value not in (None, 404, 410) or isinstance(value, bool):
        raise ValueError("integrations_removed must be 404, 410 or null")
    return cast(int | None, value)
