"""The transport's deadline watchdog (``destinations/http.py``): one long-lived thread per process keeps every call's
deadline, fires each watch at its own, never touches a socket after its call has left, and outlives a watch that
fails and a fork. Sockets here are local socket pairs; the calls go through a session that answers in memory."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from hdr_ingest.destinations import http
from hdr_ingest.destinations.http import Reply, Transport

pytestmark = pytest.mark.unit

WAIT_S = 30.0  # how long a test waits for something the watchdog will do (a generous bound, never a target)


def wait_for(condition: Callable[[], bool], timeout_s: float = WAIT_S) -> bool:
    end = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


class TimedWatch(http._Watch):
    """A watch that records when the watchdog expired it."""

    fired_at: float | None = None

    def _expire(self) -> None:
        self.fired_at = time.monotonic()
        super()._expire()


def pair() -> tuple[socket.socket, socket.socket]:
    ours, peer = socket.socketpair()
    ours.settimeout(WAIT_S)
    peer.settimeout(WAIT_S)
    return ours, peer


def is_shut(sock: socket.socket, peer: socket.socket) -> bool:
    """The watchdog shut ``sock`` down: the peer reads the end of the stream."""
    return peer.recv(1) == b""


def still_open(sock: socket.socket, peer: socket.socket) -> bool:
    sock.sendall(b"x")
    return peer.recv(1) == b"x"


class Answering:
    """A session answering every request at once, in memory (no connection, so ``raw`` is None)."""

    def request(self, method: str, url: str, **_: Any) -> Any:
        response = type("Response", (), {})()
        response.status_code, response.headers, response.raw, response.content = 200, {}, None, b"{}"
        return response


def test_many_calls_in_a_row_start_no_thread_of_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    transport = Transport("UNIS", session=Answering())  # type: ignore[arg-type]
    assert isinstance(transport.call("GET", "http://unis.example/", timeout_s=5.0), Reply)  # the watchdog is up
    started: list[str] = []
    start = threading.Thread.start

    def counting(thread: threading.Thread) -> None:
        started.append(thread.name)
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", counting)
    before = threading.active_count()
    replies = [transport.call("GET", "http://unis.example/", timeout_s=5.0) for _ in range(300)]
    assert all(isinstance(reply, Reply) and reply.status == 200 for reply in replies)
    assert started == [] and threading.active_count() == before
    assert [t.name for t in threading.enumerate()].count("hdr-ingest-watchdog") == 1


def test_two_overlapping_watches_each_fire_at_their_own_deadline() -> None:
    (a, a_peer), (b, b_peer) = pair(), pair()
    now = time.monotonic()
    later, sooner = TimedWatch(now + 1.2), TimedWatch(now + 0.3)
    with later:  # the later deadline is watched first: the sooner one, registered next, must wake the watchdog
        later.add(b)
        with sooner:
            sooner.add(a)
            assert wait_for(lambda: sooner.expired) and is_shut(a, a_peer)
        assert wait_for(lambda: later.expired) and is_shut(b, b_peer)
    assert sooner.fired_at is not None and later.fired_at is not None
    assert sooner.fired_at >= sooner.deadline and later.fired_at >= later.deadline  # never before its deadline
    assert sooner.fired_at < later.fired_at
    assert sooner.passed() and later.passed()


def test_a_sooner_deadline_watched_after_a_far_one_is_not_kept_waiting_for_it() -> None:
    (a, a_peer), (b, b_peer) = pair(), pair()
    far = TimedWatch(time.monotonic() + 300.0)
    with far:
        far.add(b)
        soon = TimedWatch(time.monotonic() + 0.2)
        with soon:
            soon.add(a)
            assert wait_for(lambda: soon.expired)  # long before the far deadline the watchdog was sleeping towards
    assert is_shut(a, a_peer)
    assert not far.expired and not far.passed() and far.fired_at is None and still_open(b, b_peer)


def test_no_socket_is_touched_after_its_call_has_left_the_watch() -> None:
    (a, a_peer), (b, b_peer) = pair(), pair()
    now = time.monotonic()
    left = TimedWatch(now + 0.2)
    with left:
        left.add(a)
    after = TimedWatch(now + 0.4)  # the watchdog reaches the first deadline before this one
    with after:
        after.add(b)
        assert wait_for(lambda: after.expired)
    assert left.fired_at is None and not left.expired and still_open(a, a_peer)
    assert left.passed()  # its deadline has passed all the same
    assert is_shut(b, b_peer)


def test_ended_calls_do_not_pile_up_in_the_watchdog() -> None:
    far = time.monotonic() + 300.0
    for _ in range(5 * http._CLEAN_AT):
        with http._Watch(far):
            pass
    assert len(http._WATCHDOG._heap) <= http._CLEAN_AT


def test_a_watch_that_fails_to_expire_does_not_stop_the_watchdog() -> None:
    class Failing(http._Watch):
        def _expire(self) -> None:
            raise RuntimeError("broken")

    a, a_peer = pair()
    now = time.monotonic()
    with Failing(now + 0.1), TimedWatch(now + 0.3) as next_one:
        next_one.add(a)
        assert wait_for(lambda: next_one.expired) and is_shut(a, a_peer)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_a_forked_process_has_a_watchdog_of_its_own() -> None:
    with http._Watch(time.monotonic() + 300.0):  # the parent's watchdog is running
        pid = os.fork()
        if pid == 0:  # the child: the parent's thread is not here; its own starts with the first watch
            code = 1
            try:
                a, a_peer = pair()
                with http._Watch(time.monotonic() + 0.1) as watch:
                    watch.add(a)
                    code = 0 if wait_for(lambda: watch.expired) and is_shut(a, a_peer) else 1
            finally:
                os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
