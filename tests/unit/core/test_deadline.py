"""The invocation's deadline: what is left, calls bounded by it, reads ended by it."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.conftest import FakeLambdaContext
from thumbnails.deadline import ANSWER_MARGIN, Deadline, Watchdog


class Late(Exception):
    pass


def test_the_deadline_is_the_remaining_time_less_the_margin():
    now = [100.0]
    context = FakeLambdaContext()  # 300 s left
    deadline = Deadline.from_context(context, margin=ANSWER_MARGIN)
    assert 298 < deadline.remaining() <= 300 - ANSWER_MARGIN

    clocked = Deadline(110.0, clock=lambda: now[0])
    assert clocked.remaining() == 10.0
    assert clocked.less(4).remaining() == 6.0
    assert clocked.within(3).remaining() == 3.0  # sooner than the deadline
    assert clocked.within(30).remaining() == 10.0  # the deadline is sooner
    assert clocked.timeout(60) == 10.0 and clocked.timeout(5) == 5
    now[0] = 111.0
    assert clocked.expired
    assert clocked.timeout(5) == 0.001  # never 0, which a socket takes as "no timeout"


def test_without_a_lambda_context_there_is_no_deadline():
    deadline = Deadline.from_context(object())
    assert deadline.remaining() == float("inf")
    assert not deadline.expired
    assert deadline.less(10).at is None


def test_a_call_returns_its_value_or_raises_its_own_error():
    deadline = Deadline.after(30)
    assert deadline.call(Late, lambda a, b=0: a + b, 1, b=2) == 3
    with pytest.raises(KeyError):
        deadline.call(Late, {}.__getitem__, "missing")


def test_a_call_still_running_at_the_deadline_raises_the_timeout_error():
    release = threading.Event()
    try:
        with pytest.raises(Late):
            Deadline.after(0.2).call(Late, release.wait)
    finally:
        release.set()


def test_a_call_gives_up_when_the_deadlines_clock_passes_it_not_after_the_time_it_began_with():
    # The clock is read while waiting: when it jumps past the deadline (a test's clock, a
    # thawed container), the wait ends then, with the call still blocked.
    offset = [0.0]
    started, release = threading.Event(), threading.Event()

    def clock() -> float:
        return time.monotonic() + offset[0]

    def blocked() -> str:
        started.set()
        release.wait(30)  # a bound for a broken build, which waits for this to return
        return "finished"

    def jump_once_started() -> None:
        started.wait(30)
        offset[0] = 1000.0

    jumper = threading.Thread(target=jump_once_started)
    jumper.start()
    try:
        with pytest.raises(Late):
            Deadline(clock() + 100, clock=clock).call(Late, blocked)
    finally:
        release.set()
        jumper.join()


def test_nothing_is_called_once_the_deadline_has_passed():
    called = []
    with pytest.raises(Late):
        Deadline.after(-1).call(Late, called.append, 1)
    assert called == []


def test_an_unbounded_call_runs_in_the_callers_thread():
    assert Deadline.unbounded().call(Late, threading.current_thread) is threading.current_thread()


def test_the_watchdog_ends_a_blocked_read_at_the_deadline():
    reader, writer = socket.socketpair()
    with reader, writer:
        with Watchdog(Deadline.after(0.2), reader) as watchdog:
            data = reader.recv(10)  # nothing is ever sent: only the watchdog can end this
        assert data == b""
        assert watchdog.fired


def test_a_watchdog_that_is_not_needed_does_not_fire():
    reader, writer = socket.socketpair()
    with reader, writer:
        writer.sendall(b"x")
        with Watchdog(Deadline.after(30), reader) as watchdog:
            assert reader.recv(10) == b"x"
        assert not watchdog.fired
        writer.sendall(b"y")
        assert reader.recv(10) == b"y"  # the socket still works
