"""Canonical S3 keys of cached thumbnails: the one place both handlers compute them.

Keys are ``{basename}/{params digest}.{ext}``. They are keyed by the frame's basename, not its
archive id, so that the API (which knows the id) and pregeneration (which knows only the
object key) meet on the same objects, and so that all thumbnails of one frame share a prefix
that can be replaced when the frame is.
"""

from __future__ import annotations

import posixpath
import re

from .errors import InvalidParameter
from .params import ThumbnailParams

MAX_BASENAME_LENGTH = 200
_BASENAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
FITS_SUFFIXES = (".fits.fz", ".fits.gz", ".fits", ".fit", ".fts")


def validate_basename(basename: str) -> str:
    """Return `basename` if it is safe to use as a key prefix, else raise.

    Only ``[A-Za-z0-9._-]``, at most 200 characters, not starting with a dot (so ``.`` and
    ``..`` are impossible), which keeps every key inside the basename's own prefix.

    Raises
    ------
    InvalidParameter
        For anything else.
    """
    if not isinstance(basename, str) or not basename:
        raise InvalidParameter("basename", "must not be empty")
    if len(basename) > MAX_BASENAME_LENGTH:
        raise InvalidParameter("basename", f"at most {MAX_BASENAME_LENGTH} characters")
    if not _BASENAME_RE.match(basename):
        raise InvalidParameter(
            "basename", "only letters, digits, '.', '_' and '-' are allowed, not starting with '.'"
        )
    return basename


def basename_of(filename: str) -> str:
    """The archive basename of a FITS file name or S3 key: no folders, no FITS suffix.

    >>> basename_of("raw/lsc1m005-fa15-20260101-0100-e91.fits.fz")
    'lsc1m005-fa15-20260101-0100-e91'
    """
    name = posixpath.basename(filename)
    for suffix in FITS_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def normalise_etag(etag: object) -> str | None:
    """An ETag as thumbnails record it (``source-etag``): no weak prefix, no quotes.

    S3 puts quotes around ETags in HTTP headers and listings but not in event
    notifications; the API (download headers), pregeneration (events, HEAD) and backfill
    (listings) must compare the same spelling, so all of them normalise here.
    """
    if not etag:
        return None
    value = str(etag).strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"') or None


def frame_prefix(basename: str) -> str:
    """The key prefix holding every cached thumbnail of one frame (ends with '/')."""
    return validate_basename(basename) + "/"


def thumbnail_key(basename: str, params: ThumbnailParams) -> str:
    """The cache key of the thumbnail of `basename` rendered with `params`.

    Parameters
    ----------
    basename : str
        The frame's archive basename (validated by `validate_basename`).
    params : ThumbnailParams
        The rendering parameters; their canonical digest names the object.

    Returns
    -------
    str
        For example ``lsc1m005-fa15-20260101-0100-e91/0f3c...9a.jpg``.
    """
    return f"{frame_prefix(basename)}{params.digest()}.{params.extension}"
