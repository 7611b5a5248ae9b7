"""boto3 calls that stop touching the network once their caller gives up on them.

`Deadline.call` runs an S3 call in a thread and stops waiting for it at the deadline, and the
CloudFront signer reads its key from Secrets Manager in a thread of its own; a thread cannot
be stopped. Left alone, the abandoned call's exchange stays open until botocore's
``read_timeout``, and botocore's retries then start new exchanges, after the handler has
answered: in Lambda the container is frozen after the answer, and the call resumes when the
next invocation thaws it (a stalled HEAD retried, a PutObject or CopyObject acting, long after
its caller answered 503). So every such call runs with a `Call` noted in its thread:

- the client's connections note their socket in it when they connect and when they send a
  request on a connection kept alive (as `watched_http` does for the archive), through
  connection pool classes put in place of botocore's own in the client's HTTP session
  (`watch`);
- `Call.abandon` (the caller giving up) marks it and shuts that socket down, which ends a
  blocked send or read at once, so the server sees the hang-up and the partial answer's
  memory goes with the error it raises;
- a ``before-send`` handler refuses every request of an abandoned call (`CallAbandoned`, which
  botocore does not retry): neither a retry, nor a next page, nor the next write of a loop
  reaches the server. A socket that connects after the abandonment is shut down at once.

botocore offers no public way to reach a client's connections; `watch` uses its HTTP
session's ``_pool_classes_by_scheme`` (the table its pool managers, proxies' included, build
pools from) and fails at client creation if that is gone, so that a botocore upgrade that
moves it breaks the tests instead of the promise, silently.

Importing this module imports neither boto3 nor botocore (`deadline` imports it).
"""

from __future__ import annotations

import contextlib
import functools
import socket
import threading
from collections.abc import Iterator
from typing import Any

_current = threading.local()


class CallAbandoned(Exception):  # noqa: N818 - says what happened, as botocore's names do
    """A request of a call its caller gave up on was refused before it was sent."""


class Call:
    """One call that its caller may give up on: its socket in flight, and whether abandoned."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._abandoned = False

    @property
    def abandoned(self) -> bool:
        return self._abandoned

    def note(self, sock: socket.socket) -> None:
        """`sock` carries the call's exchange now (shut down at once if abandoned)."""
        with self._lock:
            self._sock = sock
            abandoned = self._abandoned
        if abandoned:
            _shut(sock)

    def finished(self) -> None:
        """The call returned: its connection is back in the pool, no longer its to shut."""
        with self._lock:
            self._sock = None

    def abandon(self) -> None:
        """Refuse the call's further requests and cut off the one in flight, if any."""
        with self._lock:
            self._abandoned = True
            sock, self._sock = self._sock, None
        if sock is not None:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    # shutdown, not close: it wakes a recv or send blocked in the call's thread (close does
    # not, on Linux), which then fails and closes the connection itself. An OSError means
    # the socket is closed already: nothing is blocked on it.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def running(call: Call) -> Iterator[Call]:
    """Run the block's boto3 calls (in this thread) as `call`."""
    previous = getattr(_current, "call", None)
    _current.call = call
    try:
        yield call
    finally:
        call.finished()
        _current.call = previous


def _note(connection: Any) -> None:
    call = getattr(_current, "call", None)
    if call is not None and connection.sock is not None:
        call.note(connection.sock)


def _refuse_if_abandoned(**_kwargs: Any) -> None:
    """``before-send`` handler: no request of an abandoned call leaves the process."""
    call = getattr(_current, "call", None)
    if call is not None and call.abandoned:
        raise CallAbandoned("the caller gave up on this call; its request was not sent")


@functools.cache
def _pool_classes() -> dict[str, type]:
    """botocore's connection pool classes, with connections that note their socket."""
    from botocore.awsrequest import (
        AWSHTTPConnection,
        AWSHTTPConnectionPool,
        AWSHTTPSConnection,
        AWSHTTPSConnectionPool,
    )

    class Noting:
        """Notes the socket once connected (for HTTPS the TLS socket: the plain one it wraps
        is detached by then) and before each request on a connection kept alive."""

        def connect(self) -> None:
            super().connect()  # type: ignore[misc]
            _note(self)

        def request(self, *args: Any, **kwargs: Any) -> Any:
            _note(self)
            return super().request(*args, **kwargs)  # type: ignore[misc]

    class NotingHTTPConnection(Noting, AWSHTTPConnection):
        pass

    class NotingHTTPSConnection(Noting, AWSHTTPSConnection):
        pass

    class NotingHTTPConnectionPool(AWSHTTPConnectionPool):
        ConnectionCls = NotingHTTPConnection

    class NotingHTTPSConnectionPool(AWSHTTPSConnectionPool):
        ConnectionCls = NotingHTTPSConnection

    return {"http": NotingHTTPConnectionPool, "https": NotingHTTPSConnectionPool}


def watch(client: Any) -> Any:
    """Make `client` (a new boto3 client, no request sent yet) abandonable; return it.

    Its connections note their socket in the `Call` of the thread that uses them, and a
    ``before-send`` handler refuses the requests of an abandoned call.

    Raises
    ------
    RuntimeError
        If botocore no longer has the connection pool table this relies on.
    """
    session = getattr(getattr(client, "_endpoint", None), "http_session", None)
    classes = getattr(session, "_pool_classes_by_scheme", None)
    manager = getattr(session, "_manager", None)
    if (
        not isinstance(classes, dict)
        or set(classes) != {"http", "https"}
        or getattr(manager, "pool_classes_by_scheme", None) is not classes
    ):
        raise RuntimeError("botocore's HTTP session changed: its connections cannot be watched")
    # In place: the pool managers (and proxy managers made later) share this table.
    classes.update(_pool_classes())
    client.meta.events.register_first("before-send", _refuse_if_abandoned)
    return client
