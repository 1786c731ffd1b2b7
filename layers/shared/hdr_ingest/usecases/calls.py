"""Calling a destination: credentials (fetched again once after a refusal), retries of transient failures with
backoff while the invocation has time, each call timed and observed, and no secret in what comes back."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from hdr_ingest.core.answers import Answer, AnswerKind, transient
from hdr_ingest.core.outcome import ErrorDetail
from hdr_ingest.core.ports import Call, CredentialsError, Observer
from hdr_ingest.usecases.context import PipelineSettings, Work

REDACTED = "[redacted]"
_REDACT_MIN_CHARS = 8  # credentials are long random strings; a shorter value would blank common words
MIN_CALL_S = 1.0  # below this much time left, no call is started


class Caller:
    def __init__(self, settings: PipelineSettings, observer: Observer, rng: random.Random) -> None:
        self.settings = settings
        self.observer = observer
        self.rng = rng

    def with_retries(self, work: Work, attempt: Callable[[Call], Answer]) -> Answer:
        """``attempt`` until it is not transient, at most ``max_attempts`` times (plus one after a 401)."""
        refresh = refreshed = False
        last: Answer | None = None
        for number in range(1, self.settings.max_attempts + 2):
            credentials = self.credentials(work, refresh)
            if isinstance(credentials, Answer):  # the secret could not be read: nothing is sent
                return credentials
            refresh = False
            if work.budget.left_s() < min(MIN_CALL_S, self.settings.read_timeout_s):
                return last or transient("Too little time left in this invocation to call the destination; will retry.")
            answer = last = redacted(attempt(self.call_for(work, credentials)), credentials)
            if answer.kind is AnswerKind.UNAUTHORISED and not refreshed:
                refresh = refreshed = True  # the secret may have rotated: fetch it again, once
                continue
            if answer.kind is not AnswerKind.TRANSIENT or number >= self.settings.max_attempts:
                return answer
            if not self._backoff(work, number, answer):
                return answer
        assert last is not None
        return last

    def _backoff(self, work: Work, number: int, answer: Answer) -> bool:
        """Sleep before the next try (``Retry-After`` when the destination gave one); False when no time is left."""
        delay = self.settings.backoff_base_s * (2 ** (number - 1)) * (0.5 + self.rng.random())
        if answer.retry_after_s is not None:
            delay = max(delay, answer.retry_after_s)
        if work.budget.left_s() < delay + min(self.settings.read_timeout_s, 10):
            return False
        work.budget.sleep(delay)
        return True

    def observed(self, work: Work, operation: str, call: Callable[[], Answer]) -> Answer:
        started = time.perf_counter()
        answer = call()
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.observer.answer(work.routed.destination.kind, operation, answer, elapsed_ms)
        return answer

    def call_for(self, work: Work, credentials: Any) -> Call:
        """One call's limits: the read timeout, capped by the time left in the invocation."""
        left = work.budget.left_s()
        return Call(credentials, timeout_s=min(self.settings.read_timeout_s, left), deadline_s=left)

    @staticmethod
    def credentials(work: Work, refresh: bool = False) -> Any:
        """The route's credentials, or a TRANSIENT answer saying why they could not be read: a configuration
        problem is retried (SQS) too, so that fixing the secret and waiting is enough."""
        title = work.routed.destination.title
        try:
            return work.routed.credentials.get(refresh=refresh)
        except CredentialsError as exc:
            return transient(f"{title} credentials unavailable: {exc}.")
        except Exception as exc:  # noqa: BLE001 - any failure to read the secret (AWS, network) is retried
            return transient(f"Could not read the {title} credentials ({type(exc).__name__}); will retry.")


def redacted(answer: Answer, credentials: Any) -> Answer:
    """A destination's own words go to the ledger, the DLQ and the logs: never with the credentials in them (an
    error page can quote the request, e.g. a failed SQL query with its bindings)."""
    texts = [answer.message, *(f"{e.path} {e.message}" for e in answer.errors)]
    if not any(scrubbed(text, credentials) != text for text in texts):
        return answer
    return replace(
        answer,
        message=scrubbed(answer.message, credentials),
        errors=tuple(
            ErrorDetail(scrubbed(e.path, credentials), scrubbed(e.message, credentials)) for e in answer.errors
        ),
    )


def scrubbed(text: str, credentials: Any) -> str:
    """``text`` with every credential value in it replaced by ``[redacted]``."""
    values_of = getattr(credentials, "secret_values", None)
    for value in values_of() if callable(values_of) else ():
        if len(value) >= _REDACT_MIN_CHARS:
            text = text.replace(value, REDACTED)
    return text
