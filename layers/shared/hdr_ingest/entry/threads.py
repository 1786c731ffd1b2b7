"""Work in other threads that stays in the invocation's X-Ray trace: the batch's records (``entry.runtime``) and
the object's read beside its lease write (:class:`TracedPool`, the pipeline's ``Background``).

X-Ray keeps the current entity per thread, so a call made in another thread is part of the trace only when that
thread is given the caller's entity first, and cleared when done (the X-Ray SDK's way for threads)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from hdr_ingest.entry.observe import tracer

if TYPE_CHECKING:  # imported when a pool is first used: the cold start does not pay for it
    from concurrent.futures import Future, ThreadPoolExecutor

T = TypeVar("T")


def trace_entity() -> Any:
    """The calling thread's X-Ray entity (the handler's subsegment), or ``None`` when tracing is off."""
    if tracer.disabled:
        return None
    get = getattr(tracer.provider, "get_trace_entity", None)
    return get() if callable(get) else None


def traced(parent: Any, work: Callable[[], T]) -> T:
    """``work()`` in this (worker) thread under ``parent``, the entity of the thread that handed it over."""
    if parent is None:
        return work()
    recorder: Any = tracer.provider
    recorder.set_trace_entity(parent)
    try:
        return work()
    finally:
        recorder.clear_trace_entities()


class TracedPool:
    """Up to ``threads`` pieces of work at a time beside their callers', each under its caller's trace entity.
    The threads are made on first use and kept for the container's next invocations."""

    def __init__(self, threads: int, name: str = "hdr-ingest-beside") -> None:
        self.threads = threads
        self.name = name
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, work: Callable[[], T]) -> Future[T]:
        parent = trace_entity()
        return self._executor().submit(traced, parent, work)

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix=self.name)
            return self._pool
