"""Which objects of an archive's data bucket are FITS frames, and what their basenames are.

The science archive has stored frames under three layouts over the years:

- ``{first 4 hex digits of sha1(basename)}/{basename}`` (no extension);
- ``{SITEID}/{INSTRUME}/{DAYOBS}/{basename}`` (no extension);
- ``{site}/{instrument}/{dayobs}/{raw|processed}/{basename}{extension}`` (LCO's ingester,
  with ``Content-Type: image/fits`` for ``.fits``).

So an object is a frame when its name, its ``Content-Type`` or its first bytes say FITS, and
its basename is its last path segment less any FITS extension (`basename_of`).
"""

from __future__ import annotations

import posixpath
import zlib
from collections.abc import Sequence

#: Every FITS file starts with this card (FITS standard 4.0, section 4.4.1.1).
FITS_SIGNATURE = b"SIMPLE  ="
GZIP_MAGIC = b"\x1f\x8b"
FITS_CONTENT_TYPES = frozenset({"image/fits", "application/fits"})
FITS_SUFFIXES = (".fits.fz", ".fits.gz", ".fits", ".fit", ".fts")
#: How much of a frame is fetched to read its headers. LCO headers (~250 cards, 20 KiB for
#: the primary plus the image extension's) fit; longer ones fall back to the whole object.
HEADER_BYTES = 64 * 1024


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


def named_as_fits(key: str, suffixes: Sequence[str]) -> bool:
    """Whether the object's name ends with one of `suffixes` (``PREGENERATE_SUFFIXES``)."""
    return key.endswith(tuple(suffixes))


def has_no_extension(key: str) -> bool:
    """Whether the last path segment has no dot: the archive's older layouts name frames so."""
    name = posixpath.basename(key)
    return bool(name) and "." not in name


def looks_like_fits(content_type: str | None, first_bytes: bytes) -> bool:
    """Whether an object's ``Content-Type`` or its first bytes say it is FITS.

    Parameters
    ----------
    content_type : str or None
        The object's ``Content-Type`` (parameters such as ``; charset`` are ignored).
    first_bytes : bytes
        The start of the object (a few hundred bytes are enough).

    Returns
    -------
    bool
        True for ``image/fits`` or ``application/fits``, for bytes starting with
        ``SIMPLE  =``, and for gzip data (``.fits.gz``) whose decompressed start does.
    """
    if content_type and content_type.split(";", 1)[0].strip().lower() in FITS_CONTENT_TYPES:
        return True
    if first_bytes.startswith(FITS_SIGNATURE):
        return True
    if first_bytes.startswith(GZIP_MAGIC):
        try:
            start = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS).decompress(
                first_bytes, len(FITS_SIGNATURE)
            )
        except zlib.error:
            return False
        return start.startswith(FITS_SIGNATURE)
    return False
