"""An HTTP server on loopback, run in a thread, that stops completely.

``ThreadingHTTPServer.shutdown()`` only ends the accept loop: the listening socket stays open
(connections still queue on it) until ``server_close()``, and request threads may still be
running. `BackgroundServer.stop` does all three, so that after it nothing listens and nothing
of it runs.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    # Request threads are joined on server_close() (block_on_close), not left as daemons
    # that outlive stop(); allow_reuse_address lets a restart bind the same port at once.
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops connections in a burst of browser requests
    # (the gallery) or a load test; the kernel then retries them only after a second.
    request_queue_size = 128


class BackgroundServer:
    """Serve `handler_class` on ``host:port`` from a background thread.

    Parameters
    ----------
    handler_class : type of BaseHTTPRequestHandler
        Handles each request (in its own thread).
    host : str
        The address to bind; local mode only ever binds loopback.
    port : int
        0 picks a free port; read the chosen one from `port` after `start`.
    name : str
        Names the thread, which helps when checking that nothing is left running.
    """

    def __init__(
        self,
        handler_class: type[BaseHTTPRequestHandler],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "http",
    ) -> None:
        self._handler_class = handler_class
        self._address = (host, port)
        self._name = name
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> BackgroundServer:
        """Bind and start serving; returns self. Raises OSError if the port is taken."""
        self._server = _Server(self._address, self._handler_class)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"local-{self._name}",
            daemon=True,
        )
        self._thread.start()
        return self

    @property
    def host(self) -> str:
        assert self._server is not None, "start() first"
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://host:port/``."""
        return f"http://{self.host}:{self.port}/"

    def stop(self) -> None:
        """Stop accepting, close the listening socket, wait for requests in flight."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()
