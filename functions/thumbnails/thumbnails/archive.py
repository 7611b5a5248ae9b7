"""The science archive client: frame records and frame downloads, over HTTP.

Talks to an OCS science archive API (``ARCHIVE_API_URL``), forwarding the caller's
``Authorization`` header so that proprietary frames stay proprietary. Every failure becomes a
typed error from `thumbnails.errors`: 404 -> `FrameNotFound`, 401/403 -> `AccessDenied` with the
archive's own message, 5xx/connection errors/nonsense -> `UpstreamError` (502), 429 (or 503
with ``Retry-After``) -> `UpstreamThrottled` (503, its ``Retry-After`` passed on), timeouts ->
`UpstreamTimeout` (504), a frame above the size cap -> `FrameTooLarge` (413), an
``Authorization`` that HTTP cannot carry -> `InvalidHeader` (400, checked before it is sent).

Every call takes a `Deadline` (the invocation's time left): socket timeouts never exceed it, a
`Watchdog` ends an answer (headers or body, however framed) that trickles in past it, and a
retry, or a server's ``Retry-After``, is waited for only if the next attempt can still finish
in time.

Nothing here logs the ``Authorization`` header or a download URL's query string (the archive
hands out presigned URLs; their signature is a credential).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import requests
import urllib3
from urllib3.util import Retry

from .deadline import Deadline, Watchdog
from .errors import (
    AccessDenied,
    FrameNotFound,
    FrameTooLarge,
    InvalidHeader,
    ThumbnailError,
    UpstreamError,
    UpstreamThrottled,
    UpstreamTimeout,
)
from .filter_sets import DEFAULT_PALETTE, ColorSet, select_color_set
from .settings import Settings
from .versions import normalise_etag
from .watched_http import ConnectionSlot, tracking, watched_session

logger = logging.getLogger(__name__)

Frame = dict[str, Any]
"""One archive frame record, as the archive returns it (``id, basename, filename, url, ...``)."""

#: The reduction level of the frames a colour composite is made of (BANZAI's e91 products).
COLOR_REDUCTION_LEVEL = 91
#: Frames of one request asked for at once; the archive clamps it to its own maximum.
REQUEST_FRAMES_LIMIT = 1000
_CHUNK_BYTES = 1 << 20
_RETRY_STATUSES = frozenset({500, 502, 503, 504})
_MAX_MESSAGE_CHARS = 300
#: A frame record or a request's frame list is JSON of a few kB to a few MB; more is nonsense.
_MAX_JSON_BYTES = 64 << 20
#: urllib3's parser of ``Retry-After`` (seconds or an HTTP date).
_RETRY_AFTER = Retry(respect_retry_after_header=True)


@dataclass(frozen=True)
class Download:
    """The bytes of one downloaded frame file.

    Attributes
    ----------
    data : bytes
        The whole file, as served (``.fits``, ``.fits.fz`` ...).
    etag : str or None
        The response's ``ETag`` header, quotes removed (pregeneration compares it with the
        S3 object's ETag to skip frames whose thumbnails are up to date).
    """

    data: bytes
    etag: str | None


def _shown_url(url: str) -> str:
    """`url` without its query string and credentials, safe to log or show."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def _archive_message(response: requests.Response) -> str | None:
    """The human message of an archive error response (DRF's ``detail``), if it has one."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, Mapping):
        for field in ("detail", "message"):
            value = body.get(field)
            if isinstance(value, str) and value.strip():
                return value.strip()[:_MAX_MESSAGE_CHARS]
    return None


def _raise_for_status(response: requests.Response, what: str) -> None:
    """Turn an unsuccessful archive response into the matching typed error."""
    status = response.status_code
    if status < 400:
        return
    if status == 404:
        raise FrameNotFound("Not found")
    if status in (401, 403):
        message = _archive_message(response) or f"The archive refused access to {what}"
        raise AccessDenied(message, status=status)
    retry_after = _retry_after(response)
    if status == 429 or (status == 503 and retry_after is not None):
        raise UpstreamThrottled(
            f"The archive is busy (HTTP {status}) for {what}: try again later",
            retry_after=retry_after,
        )
    raise UpstreamError(f"The archive answered HTTP {status} for {what}")


def _retry_after(response: requests.Response) -> float | None:
    """The seconds a response's ``Retry-After`` asks for, None if absent or unreadable."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return _RETRY_AFTER.parse_retry_after(value)
    except urllib3.exceptions.InvalidHeader:
        return None


@dataclass(frozen=True)
class _Messages:
    """What to tell the caller when a lookup or a download fails."""

    timeout: str
    unreachable: str  # formatted with the exception's class name
    interrupted: str

    @classmethod
    def lookup(cls, what: str) -> _Messages:
        return cls(
            f"Timeout while looking up {what} in the archive",
            f"Could not reach the archive ({{}}) for {what}",
            f"The archive's answer for {what} was interrupted ({{}})",
        )


_DOWNLOAD = _Messages(
    "Timeout while downloading the frame file",
    "Could not download the frame file ({})",
    "The frame download was interrupted ({})",
)


class _Retryable(Exception):
    """An attempt failed in a way another attempt may not (wraps the error to raise)."""

    def __init__(self, error: ThumbnailError) -> None:
        super().__init__(error.message)
        self.error = error
        self.retry_after: float | None = getattr(error, "retry_after", None)


class ArchiveClient:
    """Frame lookups and downloads against an OCS science archive API.

    Parameters
    ----------
    base_url : str
        The archive API root, ending with ``/`` (``https://archive-api.lco.global/``).
    lookup_timeout : float
        Seconds allowed for one record lookup, the whole answer read (old service: 10).
    download_timeout : float
        Seconds allowed for one attempt at a frame download, the whole file read (old
        service: 60). Both are cut short by the deadline a call is given.
    max_download_bytes : int
        Frames larger than this are refused with `FrameTooLarge` before or while reading.
    download_retries : int
        Extra attempts after a transient download failure (connection error, timeout, 5xx,
        429), and after an archive lookup answered 429 (or 503 with ``Retry-After``).
    retry_backoff : float
        Seconds before the first retry, doubled for each further one.
    sleep : callable
        ``time.sleep``; injectable so tests of the retry do not wait.
    """

    def __init__(
        self,
        base_url: str,
        *,
        lookup_timeout: float = 10.0,
        download_timeout: float = 60.0,
        max_download_bytes: int = 1024**3,
        download_retries: int = 2,
        retry_backoff: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.lookup_timeout = lookup_timeout
        self.download_timeout = download_timeout
        self.max_download_bytes = max_download_bytes
        self.download_retries = download_retries
        self.retry_backoff = retry_backoff
        # Always a watched session: a deadline can then cut off any answer, its headers or
        # its body, however the server frames it (a session of the caller's could not be).
        self.session = watched_session()
        self._sleep = sleep
        base = urlsplit(self.base_url)
        self._archive_origin = (base.scheme, base.netloc)

    @classmethod
    def from_settings(cls, settings: Settings) -> ArchiveClient:
        """A client configured from `settings` (URL, timeouts, size cap, retries)."""
        return cls(
            settings.archive_api_url,
            lookup_timeout=settings.archive_timeout,
            download_timeout=settings.download_timeout,
            max_download_bytes=settings.max_download_bytes,
            download_retries=settings.download_retries,
        )

    # ------------------------------------------------------------------ lookups
    def frame_by_id(
        self, frame_id: int, authorization: str | None = None, *, deadline: Deadline | None = None
    ) -> Frame:
        """The record of frame `frame_id` (``GET frames/{id}/``).

        Raises
        ------
        FrameNotFound, AccessDenied, UpstreamError, UpstreamTimeout
        """
        body = self._get_json(
            f"frames/{int(frame_id)}/", None, authorization, f"frame {frame_id}", deadline
        )
        return _as_record(body)

    def frame_by_basename(
        self, basename: str, authorization: str | None = None, *, deadline: Deadline | None = None
    ) -> Frame:
        """The one record whose basename is exactly `basename` (``basename_exact=``).

        Raises
        ------
        FrameNotFound
            Unless the archive finds exactly one frame (as the old service).
        AccessDenied, UpstreamError, UpstreamTimeout
        """
        body = self._get_json(
            "frames/", {"basename_exact": basename}, authorization, f"frame {basename}", deadline
        )
        records = _as_results(body)
        if len(records) != 1:
            raise FrameNotFound("Not found")
        return records[0]

    def frames_of_request(
        self,
        request_id: int | str,
        authorization: str | None = None,
        *,
        reduction_level: int = COLOR_REDUCTION_LEVEL,
        deadline: Deadline | None = None,
    ) -> list[Frame]:
        """Every frame of observing request `request_id` at `reduction_level`."""
        params = {
            "request_id": str(request_id),
            "reduction_level": str(reduction_level),
            "limit": str(REQUEST_FRAMES_LIMIT),
        }
        body = self._get_json(
            "frames/", params, authorization, f"the frames of request {request_id}", deadline
        )
        return _as_results(body)

    def color_frames(
        self,
        request_id: int | str,
        authorization: str | None = None,
        *,
        requested: Frame | None = None,
        palette: str = DEFAULT_PALETTE,
        deadline: Deadline | None = None,
    ) -> ColorSet:
        """The red, green and blue frames of a request (reduction level 91), by filter family.

        See `thumbnails.filter_sets`: the family is the requested frame's (Johnson-Cousins
        ``R``/``rp``, ``V``, ``B`` first, as the old service), mapped by wavelength or by
        `palette`; the requested frame takes its own channel, the others are their filter's
        frames nearest in time to it (without `requested`: the first of each filter, as the
        old service).

        Returns
        -------
        ColorSet
            Iterates over the three records, red first.

        Raises
        ------
        FrameNotFound
            ``RVB frames not found: ...`` (a channel missing) or ``Wrong combination of RVB
            frames: ...`` (families mixed), naming what was found and what is missing.
        """
        frames = self.frames_of_request(request_id, authorization, deadline=deadline)
        return select_color_set(frames, requested, palette)

    def _get_json(
        self,
        path: str,
        params: Mapping[str, str] | None,
        authorization: str | None,
        what: str,
        deadline: Deadline | None,
    ) -> object:
        url = self.base_url + quote(path, safe="/")
        deadline = deadline or Deadline.unbounded()

        def attempt() -> object:
            # ARCHIVE_TIMEOUT bounds the whole lookup (a trickling answer too), and what is
            # left of the invocation bounds that.
            try:
                body = self._get(
                    url,
                    params,
                    _auth_headers(authorization),
                    deadline,
                    self.lookup_timeout,
                    what,
                    _Messages.lookup(what),
                    max_bytes=_MAX_JSON_BYTES,
                    retry_statuses=frozenset(),
                    on_too_large=lambda: UpstreamError(f"The archive answered too much for {what}"),
                ).data
            except _Retryable as failure:
                if not isinstance(failure.error, UpstreamThrottled):
                    raise failure.error from None
                raise
            try:
                return json.loads(body)
            except ValueError:
                raise UpstreamError(f"The archive answered non-JSON for {what}") from None

        # A lookup is retried only when the archive asks for it (429, or 503 with
        # Retry-After) and the wait fits the deadline; a slow archive is not asked twice.
        return self._retrying(attempt, deadline, url, what, retries=self.download_retries)

    # ------------------------------------------------------------------ downloads
    def download(
        self, url: str, authorization: str | None = None, *, deadline: Deadline | None = None
    ) -> Download:
        """Download a frame file into memory, streamed, with the size cap and retries.

        The ``Authorization`` header goes only to the archive's own host: frame URLs are
        usually presigned S3 URLs, which refuse a second authentication mechanism. The size
        is checked from ``Content-Length`` before the body is read, and the body is read into
        one buffer (a file of N bytes costs N bytes, not 2N).

        Parameters
        ----------
        url : str
        authorization : str, optional
        deadline : Deadline, optional
            Each attempt ends at ``download_timeout`` or at the deadline, whichever is
            sooner; a retry starts only if its wait ends before the deadline.

        Raises
        ------
        FrameTooLarge
            Above ``max_download_bytes`` (from ``Content-Length`` or while reading).
        FrameNotFound, AccessDenied
            The file's server answered 404, 401 or 403 (not retried).
        UpstreamThrottled
            The server answered 429 (or 503 with ``Retry-After``) to the last attempt.
        UpstreamError, UpstreamTimeout
            After the last attempt failed.
        """
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise UpstreamError("The archive record has no usable download URL")
        parts = urlsplit(url)
        headers = (
            _auth_headers(authorization)
            if (parts.scheme, parts.netloc) == self._archive_origin
            else {}
        )
        deadline = deadline or Deadline.unbounded()
        what = "the frame file"

        def attempt() -> Download:
            return self._get(
                url,
                None,
                headers,
                deadline,
                self.download_timeout,
                what,
                _DOWNLOAD,
                max_bytes=self.max_download_bytes,
                retry_statuses=_RETRY_STATUSES,
                on_too_large=self._too_large,
            )

        return self._retrying(attempt, deadline, url, what, retries=self.download_retries)

    def _retrying(
        self,
        attempt: Callable[[], Any],
        deadline: Deadline,
        url: str,
        what: str,
        *,
        retries: int,
    ) -> Any:
        """``attempt()``, again after a transient failure while retries and time are left.

        The wait is the server's ``Retry-After`` when it gave one, else exponential back-off;
        a wait that would end past the deadline is not started (the last error is raised).
        This loop and not urllib3's `Retry` on the session: `Retry` cannot end a series of
        attempts at a deadline (one timeout serves every attempt, and it sleeps whatever
        ``Retry-After`` says), nor retry a body cut off mid-stream.
        """
        tries = 0
        while True:
            if deadline.expired:
                raise UpstreamTimeout(f"No time was left to fetch {what}")
            try:
                return attempt()
            except _Retryable as failure:
                delay = (
                    failure.retry_after
                    if failure.retry_after is not None
                    else self.retry_backoff * (2**tries)
                )
                if tries >= retries or delay >= deadline.remaining():
                    raise failure.error from None
                tries += 1
                logger.warning(
                    "%s from %s failed (%s); retry %d of %d in %.2fs",
                    what,
                    _shown_url(url),
                    failure.error.message,
                    tries,
                    retries,
                    delay,
                )
                self._sleep(delay)

    def _get(
        self,
        url: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str],
        deadline: Deadline,
        limit: float,
        what: str,
        messages: _Messages,
        *,
        max_bytes: int,
        retry_statuses: frozenset[int],
        on_too_large: Callable[[], ThumbnailError],
    ) -> Download:
        """One GET of `url`, its body read whole within `limit` seconds and before `deadline`
        (else `UpstreamTimeout`).

        Raises `_Retryable` around the errors another attempt may cure.
        """
        timeout = deadline.timeout(limit)  # each connect and recv
        deadline = deadline.within(limit)  # the whole answer, headers and body
        slot = ConnectionSlot()
        with Watchdog(deadline, slot.socket) as watchdog:
            try:
                with tracking(slot):
                    response = self.session.get(
                        url, params=params, headers=dict(headers), timeout=timeout, stream=True
                    )
            except requests.Timeout:
                raise _Retryable(UpstreamTimeout(messages.timeout)) from None
            except requests.RequestException as error:
                if watchdog.fired:  # cut off while the headers trickled in
                    raise _Retryable(UpstreamTimeout(messages.timeout)) from None
                # The exception's text holds the URL; the class name says enough.
                raise _Retryable(
                    UpstreamError(messages.unreachable.format(type(error).__name__))
                ) from None
            with response:
                logger.debug("GET %s -> %s", _shown_url(url), response.status_code)
                status = response.status_code
                try:
                    _raise_for_status(response, what)
                except UpstreamThrottled as error:
                    raise _Retryable(error) from None
                except UpstreamError as error:
                    if status in retry_statuses:
                        raise _Retryable(error) from None
                    raise
                declared = response.headers.get("Content-Length")
                size = int(declared) if declared and declared.isdigit() else None
                if size is not None and size > max_bytes:
                    raise on_too_large()  # refused before a byte of the body is read
                data = _read_body(response, size, max_bytes, messages, on_too_large, watchdog)
        if watchdog.fired:
            raise _Retryable(UpstreamTimeout(messages.timeout))
        logger.debug("read %d bytes from %s", len(data), _shown_url(url))
        return Download(data, normalise_etag(response.headers.get("ETag")))

    def _too_large(self) -> ThumbnailError:
        return FrameTooLarge(
            f"The frame file is larger than the service's limit of {self.max_download_bytes} bytes"
        )


def _read_body(
    response: requests.Response,
    size: int | None,
    max_bytes: int,
    messages: _Messages,
    on_too_large: Callable[[], ThumbnailError],
    watchdog: Watchdog,
) -> bytes:
    """The body of a streamed `response`, read until `watchdog` cuts it off.

    With a ``Content-Length`` and no content coding (presigned S3 URLs, the archive) the body
    is read by one ``read(size)``, which fills a single ``bytes`` object: no second copy,
    which ``bytes(bytearray)`` would make and ``imaging.hdus.open_fits`` would make of a
    ``bytearray``. The socket's timeout bounds each ``recv`` only; the watchdog shuts the
    socket down at the deadline, so a server trickling bytes cannot hold the read past it.
    """
    raw = response.raw
    encoded = response.headers.get("Content-Encoding", "identity").strip().lower()
    try:
        if size is not None and encoded in ("", "identity"):
            data = raw.read(size, decode_content=False)
            complete = len(data) == size
        else:
            buffer = bytearray()
            while chunk := raw.read(_CHUNK_BYTES, decode_content=True):
                buffer += chunk
                if len(buffer) > max_bytes:
                    raise on_too_large()
            data, complete = bytes(buffer), True
    except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as error:
        if watchdog.fired or isinstance(error, urllib3.exceptions.ReadTimeoutError):
            raise _Retryable(UpstreamTimeout(messages.timeout)) from None
        raise _Retryable(UpstreamError(messages.interrupted.format(type(error).__name__))) from None
    if watchdog.fired:
        raise _Retryable(UpstreamTimeout(messages.timeout))
    if not complete:
        raise _Retryable(UpstreamError(messages.interrupted.format("cut short")))
    return data


#: What HTTP can carry in a header value (RFC 9110 field-value: visible ASCII, obs-text, and
#: spaces or tabs between them). ``http.client`` sends values as Latin-1, so anything past
#: U+00FF cannot be sent at all, and requests refuses CR, LF and leading whitespace.
_FIELD_VALUE = re.compile(r"[!-~\x80-\xff](?:[\t -~\x80-\xff]*[!-~\x80-\xff])?")


def sendable_header(name: str, value: str) -> str:
    """`value` as it can be sent upstream as header `name`: checked, spaces and tabs around
    it removed (HTTP's optional whitespace, never part of a value).

    The caller's ``Authorization`` goes to the archive as it came; ``http.client`` would
    raise on a character it cannot encode (``Token s3cr€T``), and that error's text names the
    character and its position in the credential.

    Raises
    ------
    InvalidHeader
        400, naming the header and never its value.
    """
    value = value.strip(" \t")
    if value and not _FIELD_VALUE.fullmatch(value):
        raise InvalidHeader(name)
    return value


def _auth_headers(authorization: str | None) -> dict[str, str]:
    value = sendable_header("Authorization", authorization or "")
    return {"Authorization": value} if value else {}


def _as_record(body: object) -> Frame:
    if not isinstance(body, dict):
        raise UpstreamError("The archive answered a malformed frame record")
    return body


def _as_results(body: object) -> list[Frame]:
    """The records of a paginated archive list response (``{"count", "results"}``)."""
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        raise UpstreamError("The archive answered a malformed list of frames")
    records = body["results"]
    if not all(isinstance(record, dict) for record in records):
        raise UpstreamError("The archive answered a malformed list of frames")
    return records
