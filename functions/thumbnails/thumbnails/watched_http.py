"""A requests session whose in-flight request can be cut off at a deadline, headers included.

Socket timeouts bound each ``recv``; a server that trickles its status line and headers (or
its body) a byte at a time never trips them. `Watchdog` ends such a read by shutting the
socket down, but with ``requests`` the socket only appears inside ``session.get``. So the
session's connections note their socket, when they connect and when they send a request on a
connection kept alive, in a `ConnectionSlot` the calling thread has set up; the watchdog
finds the socket there when it fires.

The socket, not the connection: when an answer ends its connection (``Connection: close``,
HTTP/1.0, a body that only the close ends), ``http.client`` hands the socket to the response
and the connection forgets it (``connection.sock`` is None) while the body is still to be
read. The slot keeps the socket itself, so the body of every answer can be cut off, however
the server frames it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_current = threading.local()


class ConnectionSlot:
    """Where the connection of this thread's next request notes its socket."""

    def __init__(self) -> None:
        self.sock: socket.socket | None = None

    def socket(self) -> socket.socket | None:
        """The socket of the request in flight (headers or body), if one is connected."""
        return self.sock


@contextlib.contextmanager
def tracking(slot: ConnectionSlot) -> Iterator[ConnectionSlot]:
    """Let requests made by this thread inside the block note their socket in `slot`."""
    _current.slot = slot
    try:
        yield slot
    finally:
        _current.slot = None


def _note(connection: HTTPConnection) -> None:
    slot = getattr(_current, "slot", None)
    if slot is not None and connection.sock is not None:
        slot.sock = connection.sock


class _Tracked:
    """Notes the socket once connected (the TLS socket for HTTPS: the plain one it wraps
    is detached by then), and before each request on a connection kept alive."""

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _note(self)  # type: ignore[arg-type]

    def request(self, *args: Any, **kwargs: Any) -> None:
        _note(self)  # type: ignore[arg-type]
        super().request(*args, **kwargs)  # type: ignore[misc]


class _TrackedHTTPConnection(_Tracked, HTTPConnection):
    pass


class _TrackedHTTPSConnection(_Tracked, HTTPSConnection):
    pass


class _TrackedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _TrackedHTTPConnection


class _TrackedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection


class _TrackingAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _TrackedHTTPConnectionPool,
            "https": _TrackedHTTPSConnectionPool,
        }


def watched_session() -> requests.Session:
    """A `requests.Session` whose connections note their socket in the current slot."""
    session = requests.Session()
    adapter = _TrackingAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
