"""API Gateway's REST proxy integration, locally: HTTP request -> event -> handler -> HTTP.

`request_event` builds the event API Gateway (REST API, Lambda proxy integration, payload
format 1.0) would give the function for an HTTP request; `http_response` turns the function's
proxy response back into what API Gateway would send: ``multiValueHeaders`` merged with
``headers``, base64 bodies decoded, a malformed or failed invocation answered with 502.
`GatewayServer` does both around a handler, on loopback, and serves a few local pages (the
gallery) itself.
"""

from __future__ import annotations

import base64
import json
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .background import BackgroundServer

#: Lambda's limit on a synchronous response; beyond it API Gateway answers 502.
MAX_RESPONSE_BYTES = 6 * 1024 * 1024
STAGE = "local"
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})

Invoke = Callable[[dict[str, Any]], Mapping[str, Any]]
Page = Callable[[], tuple[str, bytes]]


@dataclass
class LocalLambdaContext:
    """The Lambda context attributes the handlers (and Powertools) read."""

    function_name: str = "thumbnails-local"
    memory_limit_in_mb: int = 1769
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_stream_name: str = "local"
    timeout_s: float = 30.0
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self._started)) * 1000))


def _grouped(pairs: Iterable[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """API Gateway's two views of repeated names: the last value, and all values in order."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def request_event(
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    body: bytes | None = None,
    *,
    source_ip: str = "127.0.0.1",
    request_id: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The API Gateway REST proxy event (format 1.0) for one HTTP request.

    Parameters
    ----------
    method : str
        The HTTP method.
    target : str
        The request target: path and query string as sent (``/x/?width=300&label=a%20b``).
    headers : iterable of (name, value)
        The request's headers in order; repeated names are kept in ``multiValueHeaders``.
    body : bytes or None
        The request body; text bodies are passed as is, others base64-encoded.
    source_ip : str
        The caller's address (``requestContext.identity.sourceIp``).
    request_id : str, optional
        ``requestContext.requestId``; a fresh UUID by default.
    now : datetime, optional
        The request time (UTC); now by default.

    Returns
    -------
    dict
        As API Gateway sends it: query values percent-decoded (``+`` as a space), absent parts
        ``None`` rather than empty, ``resource`` ``/`` or ``/{proxy+}``.
    """
    url = urlsplit(target)
    path = unquote(url.path or "/", errors="replace")
    header_pairs = list(headers)
    single_headers, multi_headers = _grouped(header_pairs)
    query_single, query_multi = _grouped(parse_qsl(url.query, keep_blank_values=True))
    moment = now or datetime.now(UTC)
    text_body: str | None = None
    encoded = False
    if body:
        try:
            text_body = body.decode("utf-8")
        except UnicodeDecodeError:
            text_body, encoded = base64.b64encode(body).decode("ascii"), True
    resource = "/" if path == "/" else "/{proxy+}"
    lower = {name.lower(): value for name, value in header_pairs}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": single_headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query_single or None,
        "multiValueQueryStringParameters": query_multi or None,
        "pathParameters": None if path == "/" else {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "resourceId": "local",
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/{STAGE}{path}",
            "stage": STAGE,
            "protocol": "HTTP/1.1",
            "domainName": lower.get("host", "127.0.0.1"),
            "requestId": request_id or str(uuid.uuid4()),
            "requestTime": moment.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(moment.timestamp() * 1000),
            "identity": {
                "sourceIp": source_ip,
                "userAgent": lower.get("user-agent"),
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "user": None,
                "userArn": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
            },
        },
        "body": text_body,
        "isBase64Encoded": encoded,
    }


class MalformedResponse(ValueError):
    """The function's result is not a valid proxy response (API Gateway answers 502)."""


def http_response(result: Mapping[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """What API Gateway sends for a proxy response: ``(status, headers, body bytes)``.

    ``multiValueHeaders`` and ``headers`` are merged as API Gateway does: every multi-value
    entry, then each single-value header whose name and value are not already there.

    Raises
    ------
    MalformedResponse
        If the status is missing or not a number, the headers are not mappings, the body is
        not text, or a base64 body does not decode.
    """
    if not isinstance(result, Mapping):
        raise MalformedResponse(f"the result is a {type(result).__name__}, not an object")
    try:
        status = int(result["statusCode"])
    except (KeyError, TypeError, ValueError):
        raise MalformedResponse("statusCode is missing or not a number") from None
    single = result.get("headers") or {}
    multi = result.get("multiValueHeaders") or {}
    if not isinstance(single, Mapping) or not isinstance(multi, Mapping):
        raise MalformedResponse("headers and multiValueHeaders must be objects")
    merged: list[tuple[str, str]] = []
    for name, values in multi.items():
        values = values if isinstance(values, list | tuple) else [values]
        merged.extend((str(name), str(value)) for value in values)
    present = {(name.lower(), value) for name, value in merged}
    merged.extend(
        (str(name), str(value))
        for name, value in single.items()
        if (str(name).lower(), str(value)) not in present
    )
    body = result.get("body")
    if body is None:
        data = b""
    elif not isinstance(body, str):
        raise MalformedResponse(f"body must be a string, not {type(body).__name__}")
    elif result.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except ValueError:
            raise MalformedResponse("isBase64Encoded is true but the body is not base64") from None
    else:
        data = body.encode("utf-8")
    return status, merged, data


def _gateway_error(status: int, message: str) -> tuple[int, list[tuple[str, str]], bytes]:
    body = json.dumps({"message": message}).encode("utf-8")
    return status, [("Content-Type", "application/json")], body


def respond(invoke: Invoke, event: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """Invoke the function with `event` and answer as API Gateway would, errors included.

    A function that raises, returns a malformed response, or one larger than Lambda's 6 MB
    limit gives 502 ``{"message": "Internal server error"}``; the traceback goes to stderr.
    """
    try:
        result = invoke(event)
        if len(json.dumps(result, default=str)) > MAX_RESPONSE_BYTES:
            raise MalformedResponse("the response exceeds Lambda's 6 MB payload limit")
        return http_response(result)
    except Exception:  # any function failure is a 502 to the caller, as in API Gateway
        traceback.print_exc()
        return _gateway_error(502, "Internal server error")


def _handler_for(
    invoke: Invoke,
    pages: Mapping[str, Page],
    aliases: Mapping[str, str],
    log: Callable[[str], None] | None,
) -> type[BaseHTTPRequestHandler]:
    class GatewayRequestHandler(BaseHTTPRequestHandler):
        server_version = "LocalGateway/1"
        timeout = 5  # idle connections cannot hold up stop()

        def _handle(self) -> None:
            started = time.perf_counter()
            url = urlsplit(self.path)
            path = aliases.get(url.path, url.path)
            if self.command in ("GET", "HEAD") and path in pages and path == url.path:
                content_type, data = pages[path]()
                status, headers = 200, [("Content-Type", content_type)]
                headers.append(("Cache-Control", "no-store"))
            else:
                target = path + (f"?{url.query}" if url.query else "")
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length > 0 else None
                request_headers = list(self.headers.items())
                request_headers += [
                    ("X-Forwarded-For", self.client_address[0]),
                    ("X-Forwarded-Proto", "http"),
                    ("X-Forwarded-Port", str(self.server.server_address[1])),
                ]
                request_id = str(uuid.uuid4())
                event = request_event(
                    self.command,
                    target,
                    request_headers,
                    body,
                    source_ip=self.client_address[0],
                    request_id=request_id,
                )
                status, headers, data = respond(invoke, event)
                headers.append(("x-amzn-RequestId", request_id))
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in _HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            if log is not None:
                elapsed = (time.perf_counter() - started) * 1000
                log(f"{self.command} {self.path} -> {status} ({elapsed:.0f} ms)")

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _handle

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # one line per request comes from `log`, with the status and the time

    return GatewayRequestHandler


class GatewayServer(BackgroundServer):
    """An HTTP server on loopback that calls a Lambda handler as API Gateway would.

    Parameters
    ----------
    invoke : callable
        Event -> proxy response; wraps the handler with its Lambda context.
    pages : mapping, optional
        Local pages served without the function: path -> callable returning
        ``(content type, bytes)`` (the gallery at ``/``).
    aliases : mapping, optional
        Paths rewritten before the function sees them, e.g. ``{"/api": "/"}`` to reach the
        API's own ``/`` when a local page takes that path.
    host, port : str, int
        Where to listen (port 0: a free one).
    log : callable, optional
        Receives one line per request.
    """

    def __init__(
        self,
        invoke: Invoke,
        *,
        pages: Mapping[str, Page] | None = None,
        aliases: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 3000,
        log: Callable[[str], None] | None = None,
    ) -> None:
        handler = _handler_for(invoke, pages or {}, aliases or {}, log)
        super().__init__(handler, host=host, port=port, name="gateway")
