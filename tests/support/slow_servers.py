"""Real HTTP servers on 127.0.0.1 that misbehave on purpose, for the deadline tests.

- ``trickle``: answers 200 with a large ``Content-Length``, then sends one byte per
  `interval`: every ``recv`` returns within any socket timeout, yet the body never ends
  (until `give_up_after`, so that a client that would wait for ever fails its test instead
  of hanging it);
- ``trickle-headers``: the same with the status line and headers (an endless header line);
- ``trickle-handshake``: an HTTPS server (`url` says ``https``) whose TLS handshake trickles:
  a record header announcing 16 KiB, then a byte per `interval`;
- ``stall``: reads the request and answers nothing (a stalled S3 endpoint) until
  `give_up_after`, or until the client hangs up (`client_hung_up`, `hang_ups`);
- ``serve``: answers `status` with `body` (and ``Content-Length``), to every method.

With `served_first` N, the first N requests are answered as ``serve`` whatever the mode (a
connection kept alive, then reused for a request that misbehaves).

How a body is framed is a server's choice, and a client reads each differently (``http.client``
hands the socket of a response that ends the connection to the response, and its connection
then has none): `protocol` (``HTTP/1.1`` or ``HTTP/1.0``) and `framing` (``length``: a
``Content-Length``; ``chunked``: ``Transfer-Encoding: chunked``; ``close``: neither, the body
ends when the connection does) say which; `FRAMINGS` names every combination worth a test.
With `tls` the server speaks HTTPS with a certificate of its own (`ca_file`, for
``REQUESTS_CA_BUNDLE``), as presigned frame URLs and S3 do.

Each runs in its own threads, records what it was asked and how many body bytes it sent, and
stops (its threads too) when the ``with`` block ends.
"""

from __future__ import annotations

import datetime
import ipaddress
import select
import shutil
import ssl
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

#: Every way to frame an answer that a client must cut off alike, as `SlowServer` keywords:
#: kept alive (the connection's socket stays with the connection), ending the connection
#: (``Connection: close``, HTTP/1.0, or a body that only the close ends: the socket goes to
#: the response), and chunked, either way.
FRAMINGS: dict[str, dict[str, Any]] = {
    "keep-alive": {},
    "connection-close": {"headers": {"Connection": "close"}},
    "http-1.0": {"protocol": "HTTP/1.0"},
    "http-1.0-until-close": {"protocol": "HTTP/1.0", "framing": "close"},
    "chunked": {"framing": "chunked"},
    "chunked-connection-close": {"framing": "chunked", "headers": {"Connection": "close"}},
}


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
        protocol: str = "HTTP/1.1",
        framing: str = "length",
        tls: bool = False,
        served_first: int = 0,
    ) -> None:
        assert mode in ("trickle", "trickle-headers", "trickle-handshake", "stall", "serve")
        assert protocol in ("HTTP/1.1", "HTTP/1.0")
        assert framing in ("length", "chunked", "close")
        assert not (framing == "chunked" and protocol == "HTTP/1.0")  # chunked is HTTP/1.1
        self.protocol = protocol
        self.framing = framing
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
        self.served_first = served_first
        self.connections = 0  # accepted
        self.requests: list[tuple[str, str]] = []  # (method, path with query)
        self.request_headers: list[dict[str, str]] = []  # each request's, decoded as Latin-1
        self.bytes_sent = 0
        # Set when the client closes the connection while we trickle or stall (not when we
        # give up); `hang_ups` has the moment of each (``time.monotonic``), `arrivals` each
        # request's.
        self.client_hung_up = threading.Event()
        self.hang_ups: list[float] = []
        self.arrivals: list[float] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._folder = Path(tempfile.mkdtemp(prefix="slow-server-")) if tls else None
        self._tls = _tls_context(self._folder) if self._folder is not None else None
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        https = self._tls is not None or self.mode == "trickle-handshake"
        return f"{'https' if https else 'http'}://{host}:{port}/"

    @property
    def ca_file(self) -> str:
        """The server's self-signed certificate, the one authority a client must trust."""
        assert self._folder is not None, "a server without tls has no certificate"
        return str(self._folder / "cert.pem")

    def __enter__(self) -> SlowServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)

    def _sent(self, count: int) -> None:
        with self._lock:
            self.bytes_sent += count


def _handler_for(server: SlowServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = server.protocol

        def log_message(self, *_args: object) -> None:  # quiet
            pass

        def setup(self) -> None:
            with server._lock:
                server.connections += 1
            if server._tls is not None:  # the handshake in this connection's own thread
                self.request = server._tls.wrap_socket(self.request, server_side=True)
            super().setup()

        def handle(self) -> None:
            if server.mode == "trickle-handshake":
                started = time.monotonic()
                self.request.recv(65536)  # the ClientHello
                # A TLS handshake record of 16 KiB, which the client reads whole before it
                # looks at it: every recv gets a byte, the handshake never ends.
                self._trickle(b"\x16\x03\x03\x40\x00", started)
                return
            super().handle()

        def _answer(self) -> None:
            server.arrivals.append(time.monotonic())
            server.requests.append((self.command, self.path))
            server.request_headers.append(dict(self.headers.items()))
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            started = time.monotonic()
            mode = "serve" if len(server.requests) <= server.served_first else server.mode
            if mode == "stall":
                self._stall(started)
                self.close_connection = True
                return
            if mode == "trickle-headers":
                status_line = f"{server.protocol} 200 OK\r\nX-Slow: ".encode("ascii")
                self._trickle(status_line + b"a" * server.declared_length, started)
                return
            self.send_response(server.status)
            self.send_header("Content-Type", server.content_type)
            for name, value in server.headers.items():
                self.send_header(name, value)
            if mode == "serve":
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(server.body)
                    server._sent(len(server.body))
                return
            if server.framing == "length":
                self.send_header("Content-Length", str(server.declared_length))
            elif server.framing == "chunked":
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.close_connection = True  # the close is the end of the body
            self.end_headers()
            self._trickle(server.body, started, chunked=server.framing == "chunked")

        def _stall(self, started: float) -> None:
            """Answer nothing until we give up, watching for the client to hang up."""
            while not server.stop.is_set() and time.monotonic() - started < server.give_up_after:
                readable, _, _ = select.select([self.request], [], [], 0.02)
                if not readable:
                    continue
                try:
                    hung_up = not self.request.recv(65536)  # a request sent after this one
                except OSError:  # reset
                    hung_up = True
                if hung_up:
                    server.hang_ups.append(time.monotonic())
                    server.client_hung_up.set()
                    return

        def _trickle(self, data: bytes, started: float, *, chunked: bool = False) -> None:
            """Send `data` (spaces past its end) a byte per interval, up to the declared
            length; `chunked`: each byte as a chunk of its own."""
            for index in range(server.declared_length):
                if server.stop.is_set() or time.monotonic() - started > server.give_up_after:
                    self.close_connection = True
                    return
                byte = data[index : index + 1] or b" "
                try:
                    self.wfile.write(b"1\r\n" + byte + b"\r\n" if chunked else byte)
                    self.wfile.flush()
                except OSError:
                    server.client_hung_up.set()  # as it should, at its deadline
                    self.close_connection = True
                    return
                server._sent(1)
                time.sleep(server.interval)

        do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _answer

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gives up mid-handshake or mid-request is what these servers are
        # for; anything else is a bug in them, reported as usual.
        if not isinstance(sys.exc_info()[1], OSError):  # ssl.SSLError is an OSError
            super().handle_error(request, client_address)


def _tls_context(folder: Path) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for 127.0.0.1, written to
    `folder` (``cert.pem``, ``key.pem``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context
