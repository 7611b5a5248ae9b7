"""The science archive client: frame records and frame downloads, over HTTP.

Talks to an OCS science archive API (``ARCHIVE_API_URL``), forwarding the caller's
``Authorization`` header so that proprietary frames stay proprietary. Every failure becomes a
typed error from `thumbnails.errors`: 404 -> `FrameNotFound`, 401/403 -> `AccessDenied` with the
archive's own message, 5xx/connection errors/nonsense -> `UpstreamError` (502), timeouts ->
`UpstreamTimeout` (504), a frame above the size cap -> `FrameTooLarge` (413).

Nothing here logs the ``Authorization`` header or a download URL's query string (the archive
hands out presigned URLs; their signature is a credential).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from .cache_keys import normalise_etag
from .errors import (
    AccessDenied,
    FrameNotFound,
    FrameTooLarge,
    ThumbnailError,
    UpstreamError,
    UpstreamTimeout,
)
from .settings import Settings

logger = logging.getLogger(__name__)

Frame = dict[str, Any]
"""One archive frame record, as the archive returns it (``id, basename, filename, url, ...``)."""

#: The reduction level of the frames a colour composite is made of (BANZAI's e91 products).
COLOR_REDUCTION_LEVEL = 91
#: Filters of the red, visual and blue channels, in the order the renderer expects.
COLOR_FILTERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("red", ("R", "rp")),
    ("visual", ("V",)),
    ("blue", ("B",)),
)
#: Frames of one request asked for at once; the archive clamps it to its own maximum.
REQUEST_FRAMES_LIMIT = 1000
_CHUNK_BYTES = 1 << 20
_RETRY_STATUSES = frozenset({500, 502, 503, 504})
_MAX_MESSAGE_CHARS = 300


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
    raise UpstreamError(f"The archive answered HTTP {status} for {what}")


class ArchiveClient:
    """Frame lookups and downloads against an OCS science archive API.

    Parameters
    ----------
    base_url : str
        The archive API root, ending with ``/`` (``https://archive-api.lco.global/``).
    lookup_timeout : float
        Seconds to connect and to wait for each read of a record lookup (old service: 10).
    download_timeout : float
        Total seconds allowed for one frame download, retries excluded (old service: 60).
    max_download_bytes : int
        Frames larger than this are refused with `FrameTooLarge` before or while reading.
    download_retries : int
        Extra attempts after a transient download failure (connection error, timeout, 5xx).
    retry_backoff : float
        Seconds before the first retry, doubled for each further one.
    session : requests.Session, optional
        Shared connection pool; one is made when not given.
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
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.lookup_timeout = lookup_timeout
        self.download_timeout = download_timeout
        self.max_download_bytes = max_download_bytes
        self.download_retries = download_retries
        self.retry_backoff = retry_backoff
        self.session = session or requests.Session()
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
    def frame_by_id(self, frame_id: int, authorization: str | None = None) -> Frame:
        """The record of frame `frame_id` (``GET frames/{id}/``).

        Raises
        ------
        FrameNotFound, AccessDenied, UpstreamError, UpstreamTimeout
        """
        body = self._get_json(f"frames/{int(frame_id)}/", None, authorization, f"frame {frame_id}")
        return _as_record(body)

    def frame_by_basename(self, basename: str, authorization: str | None = None) -> Frame:
        """The one record whose basename is exactly `basename` (``basename_exact=``).

        Raises
        ------
        FrameNotFound
            Unless the archive finds exactly one frame (as the old service).
        AccessDenied, UpstreamError, UpstreamTimeout
        """
        body = self._get_json(
            "frames/", {"basename_exact": basename}, authorization, f"frame {basename}"
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
    ) -> list[Frame]:
        """Every frame of observing request `request_id` at `reduction_level`."""
        params = {
            "request_id": str(request_id),
            "reduction_level": str(reduction_level),
            "limit": str(REQUEST_FRAMES_LIMIT),
        }
        body = self._get_json(
            "frames/", params, authorization, f"the frames of request {request_id}"
        )
        return _as_results(body)

    def color_frames(self, request_id: int | str, authorization: str | None = None) -> list[Frame]:
        """The red, visual and blue frames of a request, in that order (reduction level 91).

        The first frame of each filter group is taken, as the old service did.

        Raises
        ------
        FrameNotFound
            ``RVB frames not found`` when a filter is missing.
        """
        frames = self.frames_of_request(request_id, authorization)
        selected = []
        for _colour, filters in COLOR_FILTERS:
            match = next((f for f in frames if f.get("primary_optical_element") in filters), None)
            if match is None:
                raise FrameNotFound("RVB frames not found")
            selected.append(match)
        return selected

    def _get_json(
        self, path: str, params: Mapping[str, str] | None, authorization: str | None, what: str
    ) -> object:
        url = self.base_url + quote(path, safe="/")
        try:
            response = self.session.get(
                url,
                params=params,
                headers=_auth_headers(authorization),
                timeout=self.lookup_timeout,
            )
        except requests.Timeout:
            raise UpstreamTimeout(f"Timeout while looking up {what} in the archive") from None
        except requests.RequestException as error:
            # The exception's text holds the URL; the class name says enough.
            raise UpstreamError(
                f"Could not reach the archive ({type(error).__name__}) for {what}"
            ) from None
        with response:
            logger.debug("archive GET %s -> %s", _shown_url(url), response.status_code)
            _raise_for_status(response, what)
            try:
                return response.json()
            except ValueError:
                raise UpstreamError(f"The archive answered non-JSON for {what}") from None

    # ------------------------------------------------------------------ downloads
    def download(self, url: str, authorization: str | None = None) -> Download:
        """Download a frame file into memory, streamed, with the size cap and retries.

        The ``Authorization`` header goes only to the archive's own host: frame URLs are
        usually presigned S3 URLs, which refuse a second authentication mechanism.

        Raises
        ------
        FrameTooLarge
            Above ``max_download_bytes`` (from ``Content-Length`` or while reading).
        FrameNotFound, AccessDenied
            The file's server answered 404, 401 or 403 (not retried).
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
        attempt = 0
        while True:
            try:
                return self._download_once(url, headers)
            except (UpstreamError, UpstreamTimeout) as error:
                if attempt >= self.download_retries:
                    raise
                delay = self.retry_backoff * (2**attempt)
                attempt += 1
                logger.warning(
                    "frame download from %s failed (%s); retry %d of %d in %.2fs",
                    _shown_url(url),
                    error.message,
                    attempt,
                    self.download_retries,
                    delay,
                )
                self._sleep(delay)

    def _download_once(self, url: str, headers: Mapping[str, str]) -> Download:
        what = "the frame file"
        started = time.monotonic()
        try:
            response = self.session.get(
                url, headers=dict(headers), timeout=self.download_timeout, stream=True
            )
        except requests.Timeout:
            raise UpstreamTimeout("Timeout while downloading the frame file") from None
        except requests.RequestException as error:
            raise UpstreamError(
                f"Could not download the frame file ({type(error).__name__})"
            ) from None
        with response:
            if response.status_code in _RETRY_STATUSES:
                raise UpstreamError(f"The frame file's server answered HTTP {response.status_code}")
            _raise_for_status(response, what)
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > self.max_download_bytes:
                raise self._too_large()
            buffer = bytearray()
            try:
                for chunk in response.iter_content(_CHUNK_BYTES):
                    buffer += chunk
                    if len(buffer) > self.max_download_bytes:
                        raise self._too_large()
                    # requests' timeout bounds each read; this bounds the whole download.
                    if time.monotonic() - started > self.download_timeout:
                        raise UpstreamTimeout("Timeout while downloading the frame file")
            except requests.Timeout:
                raise UpstreamTimeout("Timeout while downloading the frame file") from None
            except requests.RequestException as error:
                raise UpstreamError(
                    f"The frame download was interrupted ({type(error).__name__})"
                ) from None
            logger.debug("downloaded %d bytes from %s", len(buffer), _shown_url(url))
            return Download(bytes(buffer), normalise_etag(response.headers.get("ETag")))

    def _too_large(self) -> ThumbnailError:
        return FrameTooLarge(
            f"The frame file is larger than the service's limit of {self.max_download_bytes} bytes"
        )


def _auth_headers(authorization: str | None) -> dict[str, str]:
    return {"Authorization": authorization} if authorization else {}


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
