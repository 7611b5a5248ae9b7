"""Source versions: which bytes of a frame a thumbnail is made from.

A frame's version is the MD5 of its file, as 32 lower-case hex digits. LCO's ingester uploads
every file with one ``PutObject`` and records the ETag S3 returns (the MD5 of a single-part
upload) as the version's ``md5`` in the archive's ``version_set``, newest first. So the API
reads the version from the archive record, pregeneration from the S3 event's ETag, and both
arrive at the same value without reading the file. Where neither is a plain MD5 (no
``version_set``, a multipart upload's ``"<md5 of the parts' md5s>-<parts>"`` ETag), the MD5
is computed over the bytes, which gives the same value again.

Only `hashlib` and `re`: the API imports this on a cache hit in a cold container.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping

_MD5 = re.compile(r"[0-9a-f]{32}")


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


def plain_md5(value: object) -> str | None:
    """`value` (an ETag or an archive ``md5``) as a version, if it is a plain MD5; else None.

    Quotes and a weak prefix are dropped and hex is lower-cased. A multipart ETag
    (``"9b2cf535f27731c974343645a3985328-3"``) is not an MD5 of the bytes and gives None.

    >>> plain_md5('"5D41402ABC4B2A76B9719D911017C592"')
    '5d41402abc4b2a76b9719d911017c592'
    """
    etag = normalise_etag(value)
    if etag is None:
        return None
    etag = etag.lower()
    return etag if _MD5.fullmatch(etag) else None


def of_bytes(data: bytes) -> str:
    """The version of a file: the MD5 of its bytes (not used for security)."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def of_record(record: Mapping[str, object]) -> str | None:
    """The version of the newest file of an archive frame record, or None.

    The archive lists ``version_set`` newest first; the record's ``url`` downloads that one.
    None when the record has no such list or its newest ``md5`` is not a plain MD5.
    """
    version_set = record.get("version_set")
    if not isinstance(version_set, list) or not version_set:
        return None
    newest = version_set[0]
    if not isinstance(newest, Mapping):
        return None
    return plain_md5(newest.get("md5"))


def of_download(data: bytes | Callable[[], bytes], etag: str | None) -> str:
    """The version of a file: its ETag when that is a plain MD5, else the MD5 of its bytes.

    `data` may be a function that reads the bytes: it is called only when the ETag is no
    MD5 (a multipart upload), so a plain upload is never read for its version.
    """
    return plain_md5(etag) or of_bytes(data() if callable(data) else data)
