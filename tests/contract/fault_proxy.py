"""A reverse proxy on loopback that forwards real HTTP to a real server and misbehaves on cue.

`FaultProxy` sits in front of an upstream (moto's S3 server, the local archive) and forwards
every request to it. Armed with `Rule`\\s, it answers the matching requests the way real
servers and networks fail: a status of its own (S3's 409/412/503 as S3 spells them, an
archive's 429 with ``Retry-After``), headers that come late or one byte at a time, a body that
trickles, stops short or is cut by a reset, no answer at all; over a keep-alive connection,
with ``Connection: close``, or as HTTP/1.0 (the cases where ``http.client`` hands the socket
to the response). Each request is recorded as an `Exchange` (when it started and ended, how,
and which rule fired), so a test can tell whether a client hung up at its deadline or was
still reading, or writing, after it had answered.

Usage::

    with FaultProxy("http://127.0.0.1:5000", flavour="s3") as proxy:
        proxy.arm([Rule(Fault("status", status=409, code="ConditionalRequestConflict"),
                        method="PUT")], case="c1")
        ...  # point the client at proxy.url
        proxy.disarm()
        proxy.exchanges_of("c1")

Slow faults give up after `give_up` seconds (set by `arm`): a client that never stops
waiting makes its check fail instead of hanging the test.
"""

from __future__ import annotations

import http.client
import json
import re
import select
import socket
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

#: Fault kinds. ``pass`` forwards untouched (useful with a ``connection`` change).
KINDS = (
    "pass",
    "status",
    "slow-headers",
    "trickle-headers",
    "trickle-body",
    "truncate",
    "reset-mid-body",
    "reset",
    "stall",
)
#: How the connection is handled: kept alive, ``Connection: close``, or an HTTP/1.0 answer.
CONNECTIONS = ("keep-alive", "close", "http/1.0")
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-connection",
    }
)


@dataclass(frozen=True)
class Fault:
    """What to do to one answer.

    Parameters
    ----------
    kind : str
        One of `KINDS`.
    status : int, optional
        ``status``: the status to answer (the request is not forwarded unless `store_first`).
    code : str, optional
        ``status``: the error code in the body (S3's ``<Code>``, else ``detail``).
    retry_after : str, optional
        A ``Retry-After`` header value to add.
    connection : str
        One of `CONNECTIONS`.
    delay : float
        ``slow-headers``: seconds before the status line; ``trickle-*``: seconds per byte.
    store_first : bool
        ``status``: forward the request first, then answer the status anyway (another writer
        won the race: S3's 412 after the object was stored).
    """

    kind: str = "pass"
    status: int | None = None
    code: str | None = None
    retry_after: str | None = None
    connection: str = "keep-alive"
    delay: float = 0.0
    store_first: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if self.connection not in CONNECTIONS:
            raise ValueError(f"unknown connection mode {self.connection!r}")
        if self.kind == "status" and self.status is None:
            raise ValueError("a status fault needs a status")

    @property
    def slow(self) -> bool:
        """True if this fault makes the answer take long (a client must cut it off)."""
        return self.kind in ("slow-headers", "trickle-headers", "trickle-body", "stall")


@dataclass
class Rule:
    """Which requests get a `Fault`: all conditions given must hold.

    Parameters
    ----------
    fault : Fault
    method : str, optional
        ``GET``, ``PUT``, ``HEAD``, ...
    path : str, optional
        A regular expression searched in the path with its query string.
    header : str, optional
        A request header that must be present (``x-amz-copy-source``: a copy).
    without_header : str, optional
        A request header that must be absent.
    times : int, optional
        How many matching requests get the fault; None for every one.
    """

    fault: Fault
    method: str | None = None
    path: str | None = None
    header: str | None = None
    without_header: str | None = None
    times: int | None = 1
    fired: int = 0

    def matches(self, method: str, path: str, headers: object) -> bool:
        if self.times is not None and self.fired >= self.times:
            return False
        if self.method is not None and method != self.method:
            return False
        if self.path is not None and not re.search(self.path, path):
            return False
        if self.header is not None and headers.get(self.header) is None:  # type: ignore[attr-defined]
            return False
        return not (
            self.without_header is not None and headers.get(self.without_header) is not None  # type: ignore[attr-defined]
        )


@dataclass
class Exchange:
    """One request through the proxy, as the proxy saw it (times from ``time.monotonic``)."""

    case: str | None
    method: str
    path: str
    started: float
    fault: str | None = None
    status: int | None = None
    ended: float | None = None
    #: ``complete``, ``client-closed`` (hung up while we answered), ``gave-up``, ``reset``,
    #: ``cut`` (we stopped short on purpose), ``upstream-error``.
    outcome: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class _State:
    rules: list[Rule] = field(default_factory=list)
    case: str | None = None
    give_up: float = 30.0


class FaultProxy:
    """A fault-injecting reverse proxy for `upstream` (``http://host:port``).

    Parameters
    ----------
    upstream : str
        Where requests go.
    flavour : str
        ``"s3"`` (errors as S3's XML) or ``"json"`` (errors as ``{"detail": ...}``).
    host : str
        Address to listen on.
    """

    def __init__(self, upstream: str, *, flavour: str = "json", host: str = "127.0.0.1") -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.flavour = flavour
        self.exchanges: list[Exchange] = []
        self.stopping = threading.Event()
        self._state = _State()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, 0), _handler_for(self))
        self._server.daemon_threads = True
        self._server.request_queue_size = 64
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        """``http://host:port`` (no trailing slash)."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ control
    def arm(self, rules: Sequence[Rule], *, case: str | None = None, give_up: float = 30.0) -> None:
        """Apply `rules` from now on, recording exchanges under `case`."""
        with self._lock:
            self._state = _State(list(rules), case, give_up)

    def disarm(self, *, case: str | None = None) -> None:
        """No more faults; later requests are recorded under `case`."""
        with self._lock:
            self._state = _State([], case, self._state.give_up)

    def exchanges_of(self, case: str | None) -> list[Exchange]:
        with self._lock:
            return [exchange for exchange in self.exchanges if exchange.case == case]

    def forget(self, case: str | None) -> None:
        """Drop the records of `case` (they are kept until then, for the checks)."""
        with self._lock:
            self.exchanges = [exchange for exchange in self.exchanges if exchange.case != case]

    def fired(self, case: str | None) -> list[Exchange]:
        """The exchanges of `case` that a rule changed."""
        return [exchange for exchange in self.exchanges_of(case) if exchange.fault]

    def _begin(self, method: str, path: str, headers: object) -> tuple[Exchange, Fault, float]:
        with self._lock:
            state = self._state
            fault = Fault()
            matched = None
            for rule in state.rules:
                if rule.matches(method, path, headers):
                    rule.fired += 1
                    fault, matched = rule.fault, rule
                    break
            exchange = Exchange(
                state.case,
                method,
                path,
                time.monotonic(),
                fault=None if matched is None else _describe(fault),
            )
            self.exchanges.append(exchange)
            return exchange, fault, state.give_up


def _describe(fault: Fault) -> str:
    text = fault.kind
    if fault.status is not None:
        text += f" {fault.status}"
    if fault.code:
        text += f" {fault.code}"
    if fault.retry_after is not None:
        text += f" Retry-After={fault.retry_after!r}"
    if fault.delay:
        text += f" delay={fault.delay:g}s"
    if fault.connection != "keep-alive":
        text += f" ({fault.connection})"
    return text


class _ClientGone(Exception):
    pass


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 60  # an idle keep-alive connection of a dead client ends eventually

        def log_message(self, *_args: object) -> None:  # quiet
            pass

        def handle_one_request(self) -> None:
            try:
                super().handle_one_request()
            except (ConnectionError, TimeoutError, OSError):
                self.close_connection = True

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
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

        def _answer(self) -> None:
            body = self._body()
            exchange, fault, give_up = proxy._begin(self.command, self.path, self.headers)
            try:
                self._respond(exchange, fault, give_up, body)
            except _ClientGone:
                exchange.outcome = "client-closed"
                self.close_connection = True
            except OSError:
                exchange.outcome = exchange.outcome or "client-closed"
                self.close_connection = True
            finally:
                exchange.ended = time.monotonic()

        do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _answer

        # -------------------------------------------------------------- the answer
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
                response = connection.getresponse()
                data = response.read()
                return response.status, response.reason, response.getheaders(), data
            finally:
                connection.close()

        def _error_body(self, fault: Fault) -> tuple[list[tuple[str, str]], bytes]:
            code = fault.code or http.client.responses.get(fault.status or 500, "Error")
            if proxy.flavour == "s3":
                text = (
                    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>'
                    f"{code}</Code><Message>Injected by the fault proxy</Message>"
                    "<RequestId>FAULTPROXY</RequestId></Error>"
                )
                return [("Content-Type", "application/xml")], text.encode()
            data = json.dumps({"detail": f"{code} (injected by the fault proxy)"}).encode()
            return [("Content-Type", "application/json")], data

        def _respond(self, exchange: Exchange, fault: Fault, give_up: float, body: bytes) -> None:
            started = exchange.started
            if fault.kind == "reset":
                self._reset()
                exchange.outcome = "reset"
                return
            if fault.kind == "stall":
                exchange.outcome = self._wait_for_hangup(started, give_up)
                self.close_connection = True
                return
            if fault.kind == "status":
                if fault.store_first:
                    self._forward(body)
                status, reason = fault.status or 500, ""
                headers, data = self._error_body(fault)
                reason = http.client.responses.get(status, "Error")
            else:
                try:
                    status, reason, headers, data = self._forward(body)
                except OSError:
                    status, reason = 502, "Bad Gateway"
                    headers, data = [("Content-Type", "text/plain")], b"upstream unreachable"
                    exchange.outcome = "upstream-error"
            exchange.status = status
            head_only = self.command == "HEAD"
            lines = [
                f"{'HTTP/1.0' if fault.connection == 'http/1.0' else 'HTTP/1.1'} {status} {reason}"
            ]
            for name, value in headers:
                if name.lower() in _HOP_BY_HOP or (
                    name.lower() == "content-length" and not head_only
                ):
                    continue
                lines.append(f"{name}: {value}")
            if not head_only:
                lines.append(f"Content-Length: {len(data)}")
            if fault.retry_after is not None:
                lines.append(f"Retry-After: {fault.retry_after}")
            cut = fault.kind in ("truncate", "reset-mid-body")
            closing = fault.connection != "keep-alive" or cut
            if fault.connection == "close":
                lines.append("Connection: close")
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
            payload = b"" if head_only else data
            self.close_connection = closing

            if fault.kind == "slow-headers" and self._sleep(fault.delay, started, give_up):
                exchange.outcome = "gave-up"
                self.close_connection = True
                return
            if fault.kind == "trickle-headers":
                if not self._trickle(head, fault.delay, started, give_up):
                    exchange.outcome = "gave-up"
                    self.close_connection = True
                    return
            else:
                self._send(head)
            if fault.kind == "trickle-body":
                if not self._trickle(payload, fault.delay, started, give_up):
                    exchange.outcome = "gave-up"
                    self.close_connection = True
                    return
            elif fault.kind in ("truncate", "reset-mid-body") and payload:
                self._send(payload[: len(payload) // 2])
                if fault.kind == "reset-mid-body":
                    self._reset()
                    exchange.outcome = "reset"
                else:
                    exchange.outcome = "cut"
                self.close_connection = True
                return
            else:
                self._send(payload)
            exchange.outcome = "complete"

        # -------------------------------------------------------------- socket helpers
        def _send(self, data: bytes) -> None:
            if data:
                self.wfile.write(data)
                self.wfile.flush()

        def _trickle(self, data: bytes, interval: float, started: float, give_up: float) -> bool:
            """Send `data` a byte per `interval`; False if we gave up first."""
            for index in range(len(data)):
                if self._sleep(interval, started, give_up):
                    return False
                self._send(data[index : index + 1])
            return True

        def _sleep(self, seconds: float, started: float, give_up: float) -> bool:
            """Wait `seconds` (watching for a hang-up); True if the give-up time came first."""
            end = min(time.monotonic() + seconds, started + give_up)
            while time.monotonic() < end:
                if proxy.stopping.is_set():
                    return True
                self._check_client(min(0.05, max(0.0, end - time.monotonic())))
            return time.monotonic() >= started + give_up

        def _check_client(self, wait: float) -> None:
            readable, _, _ = select.select([self.connection], [], [], wait)
            if readable:
                try:
                    peek = self.connection.recv(1, socket.MSG_PEEK)
                except OSError:
                    raise _ClientGone from None
                if not peek:
                    raise _ClientGone
                time.sleep(wait)  # data from the client (not a hang-up): do not spin on it

        def _wait_for_hangup(self, started: float, give_up: float) -> str:
            try:
                while time.monotonic() < started + give_up and not proxy.stopping.is_set():
                    self._check_client(0.05)
            except _ClientGone:
                return "client-closed"
            return "gave-up"

        def _reset(self) -> None:
            # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()

    return Handler
