"""moto's S3 as a real HTTP server on a free port of 127.0.0.1, started empty."""

from __future__ import annotations

import contextlib
import urllib.request
from collections.abc import Iterator

from moto.server import ThreadedMotoServer


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A ``ThreadedMotoServer``; yields its endpoint, ``http://127.0.0.1:port``."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        _reset(endpoint)  # the server shares moto's in-process state: start empty
        yield endpoint
    finally:
        _reset(endpoint)
        server.stop()


def _reset(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=30):  # noqa: S310 (127.0.0.1 only)
        pass
