"""An embedded archive: the OCS science archive's frame API over a local catalogue.

`LocalArchive` is an in-memory catalogue of frames, each described by its FITS header the way
the OCS archive describes it (``id, basename, filename, url, proposal_id, request_id,
configuration_type, primary_optical_element, reduction_level, observation_date,
version_set, ...``). `ArchiveServer` serves it over HTTP on loopback with the routes the API's
archive client uses:

- ``GET /frames/{id}/``: one record, or 404 ``{"detail": "Not found."}``;
- ``GET /frames/?basename_exact=...`` (and ``request_id``, ``reduction_level``,
  ``primary_optical_element``, ``configuration_type``, ``proposal_id``, ..., ``limit``,
  ``offset``): ``{"count", "next", "previous", "results"}``;
- ``GET /frames/{id}/headers/``: ``{"data": {header card: value}}``.

The catalogue knows nothing about where the bytes live: the record's ``url`` comes from a
function given to it (in local mode, a fresh presigned URL of the object in the local data
bucket), so a client downloads frames exactly as it would from the real archive.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import threading
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..frame_objects import FITS_SUFFIXES, basename_of
from .background import BackgroundServer

#: Query parameter -> record field, for filters compared exactly. The header-card spellings
#: are accepted too, as the archive's older API used them.
_EXACT_FILTERS = {
    "basename_exact": "basename",
    "request_id": "request_id",
    "REQNUM": "request_id",
    "reduction_level": "reduction_level",
    "RLEVEL": "reduction_level",
    "primary_optical_element": "primary_optical_element",
    "FILTER": "primary_optical_element",
    "configuration_type": "configuration_type",
    "OBSTYPE": "configuration_type",
    "proposal_id": "proposal_id",
    "PROPID": "proposal_id",
    "site_id": "site_id",
    "telescope_id": "telescope_id",
    "instrument_id": "instrument_id",
    "target_name": "target_name",
    "observation_day": "observation_day",
}
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def frame_id(key: str) -> int:
    """A stable 9-digit frame id for an object key (the same key, the same id, every run)."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return 100_000_000 + int.from_bytes(digest[:8], "big") % 900_000_000


def _json_value(value: object) -> object:
    """A header value as JSON: numbers and booleans kept, anything else as text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _as_int(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None  # "UNSPECIFIED", "N/A", missing: the archive stores no number


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _iso_date(value: object) -> str | None:
    text = _text(value)
    if text is None:
        return None
    return text if text.endswith("Z") or "+" in text[10:] else text + "Z"


def frame_record(
    key: str,
    header: Mapping[str, object],
    *,
    size: int,
    etag: str,
    modified: str,
    md5: str | None = None,
) -> dict[str, Any]:
    """The archive record of the FITS object `key`, from its header (no ``url`` yet).

    Parameters
    ----------
    key : str
        The object's key (or file name); its last component is the record's ``filename``.
    header : mapping
        The frame's header cards (primary merged with the image extension's).
    size : int
        The object's size in bytes.
    etag : str
        The object's ETag (without quotes): the version's ``key``, and its ``md5`` unless
        `md5` is given.
    modified : str
        ISO 8601 time the object was written.
    md5 : str, optional
        The MD5 of the file, for an object whose ETag is not one (a multipart upload): the
        archive's ingester uploads in one part, so its ``md5`` always is.
    """
    filename = posixpath.basename(key)
    extension = next((suffix for suffix in FITS_SUFFIXES if filename.lower().endswith(suffix)), "")
    ident = frame_id(key)
    return {
        "id": ident,
        "basename": basename_of(filename),
        "filename": filename,
        "filesize": size,
        "area": None,
        "related_frames": [],
        "version_set": [
            {
                "id": ident,
                "key": etag,
                "md5": md5 or etag,
                "extension": extension,
                "created": modified,
            }
        ],
        "proposal_id": _text(header.get("PROPID")),
        "request_id": _as_int(header.get("REQNUM")),
        "observation_id": _as_int(header.get("BLKUID")),
        "configuration_type": _text(header.get("OBSTYPE")),
        "primary_optical_element": _text(header.get("FILTER")),
        "reduction_level": _as_int(header.get("RLEVEL")) or 0,
        "observation_date": _iso_date(header.get("DATE-OBS")),
        "observation_day": _text(header.get("DAY-OBS")),
        "site_id": _text(header.get("SITEID")),
        "telescope_id": _text(header.get("TELESCOP")),
        "instrument_id": _text(header.get("INSTRUME")),
        "target_name": _text(header.get("OBJECT")),
        "exposure_time": _json_value(header.get("EXPTIME")),
        "public": True,
        "modified": modified,
        # Not part of the OCS record: where the bytes are, for url_for (dropped when served).
        "_key": key,
        "_header": {name: _json_value(value) for name, value in header.items()},
    }


class LocalArchive:
    """A thread-safe, in-memory catalogue of frames, queried like the OCS archive.

    Parameters
    ----------
    url_for : callable
        Object key -> download URL, called each time a record is served (so presigned URLs
        are always fresh).
    """

    def __init__(self, url_for: Callable[[str], str]) -> None:
        self._url_for = url_for
        self._records: dict[str, dict[str, Any]] = {}  # key -> record
        self._lock = threading.Lock()

    def add(self, record: Mapping[str, Any]) -> None:
        """Add or replace the record of one object (see `frame_record`)."""
        with self._lock:
            self._records[record["_key"]] = dict(record)

    def remove(self, key: str) -> None:
        """Forget the object `key` (deleted from the bucket); unknown keys are ignored."""
        with self._lock:
            self._records.pop(key, None)

    def keys(self) -> set[str]:
        with self._lock:
            return set(self._records)

    def _snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return sorted(self._records.values(), key=lambda r: (r["basename"], r["_key"]))

    def _served(self, record: Mapping[str, Any]) -> dict[str, Any]:
        served = {name: value for name, value in record.items() if not name.startswith("_")}
        url = self._url_for(record["_key"])
        served["url"] = url
        served["version_set"] = [dict(v, url=url) for v in record["version_set"]]
        return served

    def frames(self) -> list[dict[str, Any]]:
        """Every record as served, in basename order."""
        return [self._served(record) for record in self._snapshot()]

    def get(self, ident: int) -> dict[str, Any] | None:
        """The record with id `ident`, as served, or None."""
        for record in self._snapshot():
            if record["id"] == ident:
                return self._served(record)
        return None

    def headers(self, ident: int) -> dict[str, Any] | None:
        """The header cards of frame `ident`, or None."""
        for record in self._snapshot():
            if record["id"] == ident:
                return dict(record["_header"])
        return None

    def query(self, params: Mapping[str, Sequence[str]]) -> tuple[int, list[dict[str, Any]]]:
        """Filter like the archive's ``/frames/`` list; return ``(count, page of records)``.

        Exact filters (`_EXACT_FILTERS`) compare as text, ``basename`` matches a
        case-insensitive substring, unknown parameters are ignored (as django-filter does).

        Raises
        ------
        ValueError
            If ``limit`` or ``offset`` is not a whole number.
        """
        matches = self._snapshot()
        for name, values in params.items():
            if not values:
                continue
            wanted = values[-1]
            if name in _EXACT_FILTERS:
                field = _EXACT_FILTERS[name]
                matches = [r for r in matches if r[field] is not None and str(r[field]) == wanted]
            elif name == "basename":
                matches = [r for r in matches if wanted.lower() in r["basename"].lower()]
        limit = int(params.get("limit", [str(DEFAULT_LIMIT)])[-1])
        offset = int(params.get("offset", ["0"])[-1])
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must not be negative")
        page = matches[offset : offset + min(limit, MAX_LIMIT)]
        return len(matches), [self._served(record) for record in page]


def _handler_for(archive: LocalArchive) -> type[BaseHTTPRequestHandler]:
    class ArchiveRequestHandler(BaseHTTPRequestHandler):
        server_version = "LocalArchive/1"
        timeout = 5  # idle connections cannot hold up stop()

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            url = urlsplit(self.path)
            parts = [part for part in url.path.split("/") if part]
            if parts == ["frames"]:
                try:
                    count, results = archive.query(parse_qs(url.query, keep_blank_values=True))
                except ValueError as error:
                    self._json(400, {"detail": str(error)})
                    return
                self._json(
                    200, {"count": count, "next": None, "previous": None, "results": results}
                )
                return
            if len(parts) in (2, 3) and parts[0] == "frames" and parts[1].isdigit():
                ident = int(parts[1])
                if len(parts) == 2:
                    record = archive.get(ident)
                    body = record
                elif parts[2] == "headers":
                    cards = archive.headers(ident)
                    body = None if cards is None else {"data": cards}
                else:
                    body = None
                if body is not None:
                    self._json(200, body)
                    return
            self._json(404, {"detail": "Not found."})

        def _json(self, status: int, body: object) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # the API's own logs say what it asked; keep the console readable

    return ArchiveRequestHandler


class ArchiveServer(BackgroundServer):
    """`LocalArchive` over HTTP on loopback; `url` is what ``ARCHIVE_API_URL`` is set to."""

    def __init__(self, archive: LocalArchive, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(_handler_for(archive), host=host, port=port, name="archive")
        self.archive = archive
