"""Deadlines from the Lambda invocation: how long each outbound call may still take.

A function stops at its timeout whatever it is doing; API Gateway then answers a bare 502
and an SQS batch fails as a whole. So every invocation gets a `Deadline` from
``context.get_remaining_time_in_millis()``, less a margin to answer, and every archive,
download and S3 call is bounded by what is left of it:

- HTTP (the archive, frame downloads): socket timeouts no longer than what is left, and a
  `Watchdog` that shuts the socket down when the deadline passes, because a socket timeout
  bounds each ``recv`` only, and a server trickling one byte a second never trips it;
- boto3 (S3): botocore takes its timeouts from the client's configuration, fixed when the
  client is built, so `Deadline.call` runs the call in a thread and stops waiting for it at
  the deadline. That thread cannot be stopped, so the call is abandoned
  (`abandoned_calls`): on a client made by `abandoned_calls.watch` its exchange in flight is
  cut off (its socket shut down) and botocore sends no further request for it, no retry
  either. A call that acts in steps (writes, marks) also checks the deadline before each,
  and a long read may be cut off by its ``on_timeout`` too (pregeneration's fetch).
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from .abandoned_calls import Call, running

T = TypeVar("T")

#: Seconds kept back from the function's timeout to answer: shape the JSON error, log it,
#: flush the metrics. Milliseconds of work; one second leaves room for a slow container.
ANSWER_MARGIN = 1.0
#: Longest wait between two readings of the clock while `Deadline.call` waits: the deadline
#: is the clock's, not the time the wait started with (an injected clock may jump).
_WAIT_SLICE = 0.1


class Deadline:
    """A moment (monotonic clock) by which the work must be done; None for no limit.

    Parameters
    ----------
    at : float or None
        ``clock()`` value of the deadline.
    clock : callable
        Monotonic seconds (``time.monotonic``).
    """

    def __init__(self, at: float | None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.at = at
        self._clock = clock

    @classmethod
    def unbounded(cls) -> Deadline:
        """No deadline (command line, tests of other things)."""
        return cls(None)

    @classmethod
    def after(cls, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> Deadline:
        """The deadline `seconds` from now."""
        return cls(clock() + seconds, clock=clock)

    @classmethod
    def from_context(cls, context: object, *, margin: float = ANSWER_MARGIN) -> Deadline:
        """The invocation's deadline: its remaining time less `margin` seconds.

        A context without ``get_remaining_time_in_millis`` (not a Lambda invocation) gives
        no deadline.
        """
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if not callable(remaining):
            return cls.unbounded()
        return cls.after(remaining() / 1000.0 - margin)

    def remaining(self) -> float:
        """Seconds left (``inf`` without a deadline, negative once passed)."""
        return math.inf if self.at is None else self.at - self._clock()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0

    def less(self, seconds: float) -> Deadline:
        """This deadline moved `seconds` earlier (time kept back for work that follows)."""
        return Deadline(None if self.at is None else self.at - seconds, clock=self._clock)

    def within(self, seconds: float) -> Deadline:
        """This deadline, or `seconds` from now if that is sooner (a per-attempt deadline)."""
        soon = self._clock() + seconds
        return Deadline(soon if self.at is None else min(self.at, soon), clock=self._clock)

    def timeout(self, limit: float) -> float:
        """`limit`, or the seconds left if fewer (at least a millisecond: 0 means no timeout
        to a socket, and the caller checks `expired` for the zero case)."""
        return max(0.001, min(limit, self.remaining()))

    def call(
        self, on_timeout: Callable[[], Exception], fn: Callable[..., T], *args: Any, **kwargs: Any
    ) -> T:
        """``fn(*args, **kwargs)``, or ``raise on_timeout()`` if it is not done in time.

        Without a deadline `fn` runs in this thread. With one it runs in a daemon thread
        (a new one each time: a stalled call must not hold up the next), and its exception,
        if any, is raised here. At the deadline the call is abandoned: the boto3 clients
        made abandonable (`abandoned_calls.watch`) that `fn` uses have their exchange in
        flight shut down and send no further request; then `on_timeout` is called (it may
        stop other work of `fn`) and its error raised. Whatever else `fn` does goes on in
        its thread, so a call with other effects must check the deadline before each.
        """
        if self.at is None:
            return fn(*args, **kwargs)
        if self.expired:
            raise on_timeout()
        outcome: dict[str, Any] = {}
        call = Call()

        def run() -> None:
            try:
                with running(call):
                    outcome["value"] = fn(*args, **kwargs)
            except BaseException as error:  # noqa: BLE001 - handed to the caller below
                outcome["error"] = error

        worker = threading.Thread(target=run, name="deadline-call", daemon=True)
        worker.start()
        while worker.is_alive() and not self.expired:
            worker.join(min(self.remaining(), _WAIT_SLICE))
        if worker.is_alive():
            call.abandon()
            raise on_timeout()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]


class Watchdog:
    """Shuts a socket down when a deadline passes, ending a read blocked on a slow server.

    ``shutdown`` wakes a ``recv`` blocked in another thread (``close`` does not, on Linux);
    the reader then sees the end of the stream, and `fired` tells it why.

    Parameters
    ----------
    deadline : Deadline
    sock : socket.socket, callable or None
        The socket, or a callable giving it when the deadline passes (None then if there is
        none yet); None makes the watchdog do nothing.
    """

    def __init__(
        self,
        deadline: Deadline,
        sock: socket.socket | Callable[[], socket.socket | None] | None,
    ) -> None:
        self._sock = sock
        self._fired = threading.Event()
        self._timer: threading.Timer | None = None
        if sock is not None and deadline.at is not None:
            self._timer = threading.Timer(max(0.0, deadline.remaining()), self._fire)
            self._timer.daemon = True

    @property
    def fired(self) -> bool:
        return self._fired.is_set()

    def _fire(self) -> None:
        self._fired.set()
        sock = self._sock() if callable(self._sock) else self._sock
        # An OSError means the socket is already closed: nothing is blocked on it.
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Watchdog:
        if self._timer is not None:
            self._timer.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
