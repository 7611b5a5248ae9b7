"""A misbehaving S3: a small HTTP proxy in front of an S3-compatible server (moto's).

Real S3 does things moto does not: it answers a conditional write racing another write with
``409 ConditionalRequestConflict``, it can stall, and a body can arrive slowly. `FaultyS3`
forwards every request to the real server unchanged, except those a fault matches:

- `FaultyS3.conflict`: the first N matching requests are answered with S3's 409 error
  (optionally after a callback, e.g. another writer storing the object meanwhile);
- `FaultyS3.fail`: the same with any S3 error (``503 SlowDown`` with ``Retry-After``, 500);
- `FaultyS3.hold`: the first matching request waits until released (it is forwarded then),
  or until the client hangs up (`Hold.hung_up`: then it is not forwarded);
- `FaultyS3.trickle`: the first matching request's answer is sent a few bytes at a time,
  and the fault tells whether the client hung up before the end.

Clients reach it as an S3 endpoint (``STORAGE_URL``, path-style addressing): the proxy sees
``/{bucket}/{key}?{query}``. moto does not check signatures, so the ``Host`` a client signed
for (the proxy's) reaches it unchanged.
"""

from __future__ import annotations

import http.client
import select
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

#: S3's answer to a conditional write while another write or delete of the key is in flight
#: (API reference, "Error responses": ConditionalRequestConflict, 409 Conflict).
CONFLICT_CODE = "ConditionalRequestConflict"
CONFLICT_MESSAGE = (
    "A conflicting conditional operation is currently in progress against this resource. Try again."
)
#: Longest a held request waits for its release: a test that forgets one does not hang.
HOLD_LIMIT = 120.0
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "te", "upgrade"}


@dataclass(frozen=True)
class Request:
    """One request as the proxy received it (path-style: the bucket is the first segment)."""

    method: str
    bucket: str
    key: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-case

    @property
    def is_object_put(self) -> bool:
        """A PutObject (not a copy, not a part of a multipart upload)."""
        return (
            self.method == "PUT"
            and bool(self.key)
            and "x-amz-copy-source" not in self.headers
            and "uploadId" not in self.query
        )

    @property
    def is_copy(self) -> bool:
        return self.method == "PUT" and "x-amz-copy-source" in self.headers

    @property
    def is_listing(self) -> bool:
        return self.method == "GET" and not self.key and "list-type" in self.query


Match = Callable[[Request], bool]


@dataclass
class Fault:
    """What to do with the first `times` requests that `match`; see `FaultyS3`."""

    match: Match
    times: int
    seen: list[Request] = field(default_factory=list)
    #: Set when the first matching request arrives (before anything is done with it).
    arrived: threading.Event = field(default_factory=threading.Event)

    def take(self, request: Request) -> bool:
        if len(self.seen) >= self.times or not self.match(request):
            return False
        self.seen.append(request)
        self.arrived.set()
        return True


@dataclass
class Failure(Fault):
    """An S3 error answer: status, error code and message, extra headers."""

    status: int = 500
    code: str = "InternalError"
    message: str = "We encountered an internal error. Please try again."
    headers: dict[str, str] = field(default_factory=dict)
    before: Callable[[Request], None] | None = None


@dataclass
class Conflict(Failure):
    status: int = 409
    code: str = CONFLICT_CODE
    message: str = CONFLICT_MESSAGE


@dataclass
class Hold(Fault):
    released: threading.Event = field(default_factory=threading.Event)
    #: Called as the request arrives, before it waits (e.g. to move a test's clock on).
    on_arrival: Callable[[Request], None] | None = None
    #: Set when the client hung up while its request was held.
    hung_up: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.released.set()


@dataclass
class Trickle(Fault):
    step: int = 1
    pause: float = 0.5
    sent: int = 0
    #: Set when the client hung up before the whole answer was sent.
    closed_early: threading.Event = field(default_factory=threading.Event)
    #: Set when the proxy stops: the rest is not sent.
    stopped: threading.Event = field(default_factory=threading.Event)


class FaultyS3:
    """The proxy; a context manager that serves on a free port of 127.0.0.1.

    Parameters
    ----------
    upstream : str
        The real server's endpoint, ``http://host:port``.
    """

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.requests: list[Request] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FaultyS3:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        for fault in self._faults:
            if isinstance(fault, Hold):
                fault.release()
            if isinstance(fault, Trickle):
                fault.stopped.set()
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------------ faults
    def conflict(
        self, match: Match, *, times: int = 1, before: Callable[[Request], None] | None = None
    ) -> Conflict:
        """Answer the first `times` requests that `match` with S3's 409 conflict."""
        return self._add(Conflict(match, times, before=before))

    def fail(
        self,
        match: Match,
        *,
        status: int,
        code: str,
        message: str = "",
        times: int = 1,
        headers: dict[str, str] | None = None,
    ) -> Failure:
        """Answer the first `times` requests that `match` with an S3 error."""
        return self._add(
            Failure(
                match, times, status=status, code=code, message=message, headers=dict(headers or {})
            )
        )

    def hold(self, match: Match, *, on_arrival: Callable[[Request], None] | None = None) -> Hold:
        """Keep the first request that `match` waiting until ``.release()``, then forward it."""
        return self._add(Hold(match, 1, on_arrival=on_arrival))

    def trickle(self, match: Match, *, step: int = 1, pause: float = 0.5) -> Trickle:
        """Send the answer to the first request that `match` `step` bytes every `pause` s."""
        return self._add(Trickle(match, 1, step=step, pause=pause))

    def _add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def _fault_for(self, request: Request) -> Fault | None:
        with self._lock:
            self.requests.append(request)
            for fault in self._faults:
                if fault.take(request):
                    return fault
        return None


def _handler_for(proxy: FaultyS3) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, and "Expect: 100-continue" answered

        def log_message(self, *_args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            self._serve()

        do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

        def _body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _serve(self) -> None:
            body = self._body()
            parts = urlsplit(self.path)
            bucket, _, key = unquote(parts.path).lstrip("/").partition("/")
            request = Request(
                method=self.command,
                bucket=bucket,
                key=key,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={name.lower(): value for name, value in self.headers.items()},
            )
            fault = proxy._fault_for(request)
            if isinstance(fault, Failure):
                if fault.before is not None:
                    fault.before(request)
                self._error(request, fault)
                return
            if isinstance(fault, Hold):
                if fault.on_arrival is not None:
                    fault.on_arrival(request)
                if not self._held(fault):
                    return
            status, reason, headers, data = self._forward(body)
            self.send_response(status, reason)
            for name, value in headers:
                if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            length = dict((n.lower(), v) for n, v in headers).get("content-length")
            if self.command == "HEAD" and length is not None:
                self.send_header("Content-Length", length)
            else:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command == "HEAD":
                return
            if isinstance(fault, Trickle):
                self._trickle(fault, data)
            else:
                self.wfile.write(data)

        def _held(self, fault: Hold) -> bool:
            """Wait for `fault`'s release; False if the client hung up meanwhile."""
            started = time.monotonic()
            while not fault.released.is_set() and time.monotonic() - started < HOLD_LIMIT:
                if not select.select([self.connection], [], [], 0.02)[0]:
                    continue
                try:
                    gone = not self.connection.recv(65536)
                except OSError:  # reset
                    gone = True
                if gone:
                    fault.hung_up.set()
                    self.close_connection = True
                    return False
            return True

        def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
            connection = http.client.HTTPConnection(*proxy.upstream, timeout=60)
            try:
                headers = {
                    name: value
                    for name, value in self.headers.items()
                    if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length"
                }
                if body or self.command in ("PUT", "POST"):
                    headers["Content-Length"] = str(len(body))
                connection.request(self.command, self.path, body=body or None, headers=headers)
                answer = connection.getresponse()
                data = answer.read()
                return answer.status, answer.reason, answer.getheaders(), data
            finally:
                connection.close()

        def _error(self, request: Request, failure: Failure) -> None:
            # S3's REST error body; a HEAD answer has none (the code is then the status).
            request_id = uuid.uuid4().hex[:16].upper()
            xml = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{failure.code}</Code><Message>{failure.message}</Message>"
                f"<Key>{request.key}</Key><RequestId>{request_id}</RequestId>"
                f"<HostId>{uuid.uuid4().hex}</HostId></Error>"
            ).encode()
            self.send_response(failure.status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("x-amz-request-id", request_id)
            for name, value in failure.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(xml)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(xml)

        def _trickle(self, fault: Trickle, data: bytes) -> None:
            self.close_connection = True
            try:
                for start in range(0, len(data), fault.step):
                    self.wfile.write(data[start : start + fault.step])
                    self.wfile.flush()
                    fault.sent += len(data[start : start + fault.step])
                    if fault.sent < len(data) and fault.stopped.wait(fault.pause):
                        break
            except OSError:  # the client hung up: BrokenPipe, ConnectionReset
                fault.closed_early.set()

    return Handler
