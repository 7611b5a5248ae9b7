"""A requests session whose in-flight request can be cut off at a deadline, headers included.

Socket timeouts bound each ``recv``; a server that trickles its status line and headers (or
its body) a byte at a time never trips them. `Watchdog` ends such a read by shutting the
socket down, but with ``requests`` the socket only appears inside ``session.get``. So the
session's connections note themselves, when they send a request, in a `ConnectionSlot` the
calling thread has set up; the watchdog finds the socket there when it fires.
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
    """Where the connection of this thread's next request notes itself."""

    def __init__(self) -> None:
        self.connection: HTTPConnection | None = None

    def socket(self) -> socket.socket | None:
        """The socket of the request in flight, if one is connected."""
        connection = self.connection
        return None if connection is None else connection.sock


@contextlib.contextmanager
def tracking(slot: ConnectionSlot) -> Iterator[ConnectionSlot]:
    """Let requests made by this thread inside the block note their connection in `slot`."""
    _current.slot = slot
    try:
        yield slot
    finally:
        _current.slot = None


def _note(connection: HTTPConnection) -> None:
    slot = getattr(_current, "slot", None)
    if slot is not None:
        slot.connection = connection


class _TrackedHTTPConnection(HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _note(self)
        super().request(*args, **kwargs)


class _TrackedHTTPSConnection(HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _note(self)
        super().request(*args, **kwargs)


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
    """A `requests.Session` whose connections note themselves in the current slot."""
    session = requests.Session()
    adapter = _TrackingAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
