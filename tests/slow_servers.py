"""Real HTTP servers on 127.0.0.1 that misbehave on purpose, for the deadline tests.

- ``trickle``: answers 200 with a large ``Content-Length``, then sends one byte per
  `interval`: every ``recv`` returns within any socket timeout, yet the body never ends
  (until `give_up_after`, so that a client that would wait for ever fails its test instead
  of hanging it);
- ``trickle-headers``: the same with the status line and headers (an endless header line);
- ``stall``: reads the request and answers nothing (a stalled S3 endpoint) until
  `give_up_after`;
- ``serve``: answers `status` with `body` (and ``Content-Length``), to every method.

Each runs in its own threads, records what it was asked and how many body bytes it sent, and
stops (its threads too) when the ``with`` block ends.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class SlowServer:
    """One misbehaving server; use as a context manager. `url` ends with ``/``."""

    def __init__(
        self,
        mode: str,
        *,
        body: bytes = b"",
        status: int = 200,
        content_type: str = "application/octet-stream",
        declared_length: int = 100_000_000,
        interval: float = 0.2,
        headers: dict[str, str] | None = None,
        give_up_after: float = 15.0,
    ) -> None:
        assert mode in ("trickle", "trickle-headers", "stall", "serve")
        self.mode = mode
        self.body = body
        self.status = status
        self.content_type = content_type
        self.declared_length = declared_length
        self.interval = interval
        self.headers = headers or {}
        # A client that never stops waiting makes its test fail, not hang: after this many
        # seconds a stalled or trickling connection is closed.
        self.give_up_after = give_up_after
        self.requests: list[tuple[str, str]] = []  # (method, path with query)
        self.bytes_sent = 0
        # Set when the client closes the connection while we trickle (not when we give up).
        self.client_hung_up = threading.Event()
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def __enter__(self) -> SlowServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _sent(self, count: int) -> None:
        with self._lock:
            self.bytes_sent += count


def _handler_for(server: SlowServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: object) -> None:  # quiet
            pass

        def _answer(self) -> None:
            server.requests.append((self.command, self.path))
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            started = time.monotonic()
            if server.mode == "stall":
                server.stop.wait(server.give_up_after)
                self.close_connection = True
                return
            if server.mode == "trickle-headers":
                self._trickle(
                    b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * server.declared_length, started
                )
                return
            self.send_response(server.status)
            self.send_header("Content-Type", server.content_type)
            for name, value in server.headers.items():
                self.send_header(name, value)
            if server.mode == "serve":
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(server.body)
                    server._sent(len(server.body))
                return
            self.send_header("Content-Length", str(server.declared_length))
            self.end_headers()
            self._trickle(server.body, started)

        def _trickle(self, data: bytes, started: float) -> None:
            """Send `data` (spaces past its end) a byte per interval, up to the declared length."""
            for index in range(server.declared_length):
                if server.stop.is_set() or time.monotonic() - started > server.give_up_after:
                    self.close_connection = True
                    return
                try:
                    self.wfile.write(data[index : index + 1] or b" ")
                    self.wfile.flush()
                except OSError:
                    server.client_hung_up.set()  # as it should, at its deadline
                    self.close_connection = True
                    return
                server._sent(1)
                time.sleep(server.interval)

        do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _answer

    return Handler
