"""Work handed to other threads stays in the invocation's X-Ray trace (``entry.threads``)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from hdr_ingest.entry import threads
from hdr_ingest.entry.threads import TracedPool

pytestmark = pytest.mark.unit


class Recorder:
    """X-Ray's recorder as the SDK keeps it: one current entity per thread."""

    def __init__(self) -> None:
        self.local = threading.local()
        self.seen: list[tuple[str, Any]] = []

    def get_trace_entity(self) -> Any:
        return getattr(self.local, "entity", None)

    def set_trace_entity(self, entity: Any) -> None:
        self.local.entity = entity

    def clear_trace_entities(self) -> None:
        self.local.entity = None


class Tracer:
    disabled = False

    def __init__(self) -> None:
        self.provider = Recorder()


def test_work_in_the_pool_runs_under_the_callers_entity_and_leaves_none_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tracer = Tracer()
    monkeypatch.setattr(threads, "tracer", tracer)
    tracer.provider.set_trace_entity("handler subsegment")
    pool = TracedPool(1)

    def work() -> tuple[str, Any]:
        return threading.current_thread().name, tracer.provider.get_trace_entity()

    name, entity = pool.submit(work).result(timeout=30)
    assert entity == "handler subsegment" and name.startswith("hdr-ingest-beside")
    # the same worker thread, next time with no caller entity: nothing of the last trace is left in it
    tracer.provider.clear_trace_entities()
    assert pool.submit(work).result(timeout=30) == (name, None)


def test_a_failure_in_the_pool_reaches_the_caller() -> None:
    def fails() -> None:
        raise ValueError("the read failed")

    with pytest.raises(ValueError, match="the read failed"):
        TracedPool(1).submit(fails).result(timeout=30)


def test_the_threads_are_made_once_and_kept() -> None:
    pool = TracedPool(1)
    names = {pool.submit(lambda: threading.current_thread().ident).result(timeout=30) for _ in range(20)}
    assert len(names) == 1
