"""Canonical S3 keys of cached thumbnails: the one place both handlers compute them.

Keys are ``{basename}/{version}/{digest}.{ext}``:

- ``basename``: the frame's archive basename, not its id, so that the API (which knows the
  id) and pregeneration (which knows only the object key) meet on the same objects;
- ``version``: the MD5 of the source file (`thumbnails.versions`), so an answer can only come
  from the version it names: a reprocessed frame gets new keys, and nothing needs deleting
  for correctness;
- ``digest``: of the canonical parameters; for a colour composite, of the parameters and the
  three channels' ``(basename, version)`` pairs, so a reprocessed channel gives a new key.

Every key of a frame lies under ``{basename}/``, whatever the parameters or channels.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .errors import InvalidParameter
from .params import ThumbnailParams

if TYPE_CHECKING:
    from .imaging import Thumbnail

MAX_BASENAME_LENGTH = 200
_BASENAME_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_VERSION_RE = re.compile(r"[0-9a-f]{32}")


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
    # fullmatch: with match, "$" would also accept a trailing newline.
    if not _BASENAME_RE.fullmatch(basename):
        raise InvalidParameter(
            "basename", "only letters, digits, '.', '_' and '-' are allowed, not starting with '.'"
        )
    return basename


def frame_prefix(basename: str) -> str:
    """The key prefix holding every cached thumbnail of one frame (ends with '/')."""
    return validate_basename(basename) + "/"


def validate_version(version: str) -> str:
    """Return `version` if it is 32 lower-case hex digits (an MD5), else raise ValueError.

    Versions come from `thumbnails.versions`, never from a caller; anything else is a bug.
    """
    if not isinstance(version, str) or not _VERSION_RE.fullmatch(version):
        raise ValueError(f"not a source version (32 lower-case hex digits): {version!r}")
    return version


def version_prefix(basename: str, version: str) -> str:
    """The key prefix of every thumbnail made from one version of a frame (ends with '/')."""
    return f"{frame_prefix(basename)}{validate_version(version)}/"


def thumbnail_key(
    basename: str,
    version: str,
    params: ThumbnailParams,
    channels: Sequence[tuple[str, str]] = (),
) -> str:
    """The cache key of the thumbnail of `basename` at `version` rendered with `params`.

    Parameters
    ----------
    basename : str
        The requested frame's archive basename (validated by `validate_basename`).
    version : str
        The requested frame's source version (see `thumbnails.versions`).
    params : ThumbnailParams
        The rendering parameters.
    channels : sequence of (basename, version), colour only
        The red, visual and blue frames the composite is made of, in that order.

    Returns
    -------
    str
        For example ``lsc1m005-fa15-20260101-0100-e91/5d41...92/0f3c...9a.jpg``.

    Raises
    ------
    ValueError
        A colour request without its three channels, or channels for a single frame.
    """
    if params.color:
        if len(channels) != 3:
            raise ValueError("a colour key needs the (basename, version) of its three channels")
        parts = [params.canonical()]
        parts += [f"{validate_basename(b)}:{validate_version(v)}" for b, v in channels]
        digest = hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:32]
    elif channels:
        raise ValueError("channels are for colour composites only")
    else:
        digest = params.digest()
    return f"{version_prefix(basename, version)}{digest}.{params.extension}"


#: Object metadata of a cached thumbnail. A hit answers its ``X-Thumbnail-*`` headers from these,
#: so the API and pregeneration must write the same names.
BASENAME = "basename"
SOURCE_VERSION = "source-version"
CHANNELS = "channels"
ALIGNMENT = "alignment"
ORIENTATION = "orientation"
COLOR_BALANCE = "color-balance"
#: Colour only: the family, palette and frames of the channels (`filter_sets.ColorSet.describe`).
COLOR_FRAMES = "color-frames"
CUTOUT = "cutout"
#: The image's celestial WCS as compact JSON (`thumbnails.imaging.avm.ImageWcs.to_metadata`,
#: about 200 bytes of S3's 2 KB of user metadata): a hit answers the JSON ``wcs`` from it
#: without reading the image. Absent for frames without a usable WCS.
WCS = "wcs"

#: The mark of a superseded thumbnail: one made from a version of its frame that a newer one
#: replaced. Pregeneration writes it as an object tag, which the thumbnail bucket's lifecycle
#: rule in template.yaml filters on, and as user metadata, which a HEAD shows the API
#: (tests/unit/template/test_template.py checks that the rule names this tag and lifetime).
SUPERSEDED = "superseded"
SUPERSEDED_VALUE = "true"
#: Days S3 keeps a superseded thumbnail after it was marked (or last refreshed): a link lives
#: at most 7 days (SigV4's limit, the template's largest ``PresignedUrlExpiry``), plus a day.
SUPERSEDED_EXPIRATION_DAYS = 8


def thumbnail_metadata(
    basename: str,
    version: str,
    thumbnail: Thumbnail,
    channels: Sequence[tuple[str, str]] = (),
    *,
    color_frames: str | None = None,
) -> dict[str, str]:
    """The object metadata stored with a rendered thumbnail.

    Parameters
    ----------
    basename, version : str
        The requested frame and the version rendered.
    thumbnail : thumbnails.imaging.Thumbnail
        The render; what it says of alignment, orientation, colour balance, cutout padding
        and the image's WCS is kept for the hits to come.
    channels : sequence of (basename, version), optional
        A colour composite's three channels; empty for a single frame.
    color_frames : str, optional
        A colour composite's family, palette and channel frames, for its hits' header.

    Returns
    -------
    dict of str to str
    """
    metadata = {BASENAME: basename, SOURCE_VERSION: version}
    if channels:
        metadata[CHANNELS] = ",".join(f"{name}:{channel}" for name, channel in channels)
    if thumbnail.alignment is not None:
        metadata[ALIGNMENT] = thumbnail.alignment
    metadata[ORIENTATION] = thumbnail.orientation
    if thumbnail.color_balance is not None:
        metadata[COLOR_BALANCE] = thumbnail.color_balance
    if thumbnail.padded is not None:
        metadata[CUTOUT] = "padded" if thumbnail.padded else "inside"
    if thumbnail.wcs is not None:
        metadata[WCS] = thumbnail.wcs.to_metadata()
    if color_frames is not None:
        metadata[COLOR_FRAMES] = color_frames
    return metadata
