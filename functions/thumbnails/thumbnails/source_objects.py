"""The data bucket, as pregeneration reads it: a new frame's bytes (or first bytes) and ETag.

Every call is bounded by a `Deadline`, as the thumbnail store's (`thumbnails.store`), and S3's
answers become our errors with the store's reading of them: an object that is gone is
`FrameNotFound`, an empty one `UnreadableFrame`, one replaced since its header was read
`ObjectChanged`, any other failure a `StorageError`.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from .deadline import Deadline
from .errors import FrameNotFound, StorageError, UnreadableFrame
from .store import S3_FAILURES, error_code, is_not_found
from .versions import normalise_etag


@dataclass(frozen=True)
class Fetched:
    """What one GET of a source object read.

    Attributes
    ----------
    data : bytes
        The object, or its first bytes.
    etag : str or None
        Its ETag, quotes removed.
    complete : bool
        Whether `data` is the whole object.
    size : int or None
        The whole object's size.
    content_type : str or None
    """

    data: bytes
    etag: str | None
    complete: bool
    size: int | None
    content_type: str | None = None


class ObjectChanged(Exception):
    """The object changed between reading its header and its data (``If-Match`` failed)."""


class SourceObjects:
    """Reads the objects of the data buckets, each call given up on at its deadline.

    Parameters
    ----------
    s3_client : botocore client
        One that can read the data buckets.
    """

    def __init__(self, s3_client: Any) -> None:
        self.s3 = s3_client

    def fetch(
        self,
        bucket: str,
        key: str,
        length: int | None,
        deadline: Deadline,
        if_match: str | None = None,
    ) -> Fetched:
        """GET the object (or its first `length` bytes) before `deadline`, mapping S3 errors
        to ours. A read still going at the deadline is abandoned: its connection is shut
        down and what it read is dropped, so it neither reads on nor holds the memory while
        the next record downloads.

        Raises
        ------
        FrameNotFound
            The object does not exist.
        UnreadableFrame
            The object is empty (a range of nothing).
        ObjectChanged
            `if_match` is not the object's ETag any more.
        StorageError
            S3 failed, or the read did not finish in time (503).
        """
        reading = _Reading()

        def timed_out() -> StorageError:
            reading.abandon()
            return StorageError(f"reading s3://{bucket}/{key} did not finish in time", status=503)

        return deadline.call(timed_out, self._fetch, bucket, key, length, if_match, reading)

    def etag(self, bucket: str, key: str, deadline: Deadline) -> str | None:
        """The object's current ETag (one HEAD request), quotes removed.

        Raises
        ------
        StorageError
            S3 failed, or did not answer in time (503).
        """

        def timed_out() -> StorageError:
            return StorageError(f"looking at s3://{bucket}/{key} did not finish in time", 503)

        try:
            head = deadline.call(timed_out, self.s3.head_object, Bucket=bucket, Key=key)
        except ClientError as error:
            raise StorageError(
                f"looking at s3://{bucket}/{key} failed: {error_code(error)}"
            ) from None
        except S3_FAILURES as error:
            raise StorageError(f"looking at s3://{bucket}/{key} failed: {error}") from None
        return normalise_etag(head.get("ETag"))

    def _fetch(
        self,
        bucket: str,
        key: str,
        length: int | None,
        if_match: str | None,
        reading: _Reading | None = None,
    ) -> Fetched:
        reading = reading or _Reading()
        kwargs: dict[str, str] = {"Bucket": bucket, "Key": key}
        if length is not None:
            kwargs["Range"] = f"bytes=0-{length - 1}"
        if if_match is not None:
            # Header and data must come from the same version of the object.
            kwargs["IfMatch"] = f'"{if_match}"'
        try:
            response = self.s3.get_object(**kwargs)
            data = reading.read(response["Body"])
        except ClientError as error:
            code = error_code(error)
            if is_not_found(error):
                raise FrameNotFound(f"s3://{bucket}/{key} does not exist") from None
            if code == "InvalidRange":
                raise UnreadableFrame("the object is empty") from None
            if code in ("PreconditionFailed", "412"):
                raise ObjectChanged() from None
            raise StorageError(f"reading s3://{bucket}/{key} failed: {code}") from None
        except S3_FAILURES as error:
            raise StorageError(f"reading s3://{bucket}/{key} failed: {error}") from None
        size = total_size(response.get("ContentRange"))
        if size is None:
            size = response.get("ContentLength")
        return Fetched(
            data=data,
            etag=normalise_etag(response.get("ETag")),
            complete=length is None or size is None or len(data) >= size,
            size=size,
            content_type=response.get("ContentType"),
        )


class _Abandoned(Exception):
    """The caller of a fetch gave up on it (`_Reading.abandon`)."""


class _Reading:
    """The body of one GET, read so that a caller who gave up can stop it.

    `Deadline.call` stops waiting at the deadline but cannot stop its thread; `abandon`
    (called from the waiting thread) does: it shuts the connection down, which ends the read
    at its next ``recv`` (blocked on a slow server or not) with an error, and the reading
    thread ends, dropping what it read. The body is read in one call, into one buffer: a
    frame's bytes are held once, never twice (as pieces and joined).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._abandoned = False
        self._body: Any = None

    def read(self, body: Any) -> bytes:
        """All of `body` (a botocore ``StreamingBody``), unless abandoned meanwhile."""
        with self._lock:
            self._body = body
            abandoned = self._abandoned
        try:
            if abandoned:
                raise _Abandoned()
            data = body.read()
            with self._lock:
                abandoned = self._abandoned
            if abandoned:  # a shutdown can also look like the end of the body
                raise _Abandoned()
            return data
        finally:
            body.close()

    def abandon(self) -> None:
        """Stop the read, whether it is under way or not started yet."""
        with self._lock:
            self._abandoned = True
            body = self._body
        if body is not None:
            # urllib3's response (botocore keeps it as ``_raw_stream``) shuts its socket down
            # from another thread; ``close`` alone would not wake a blocked ``recv``.
            # urllib3 raises ValueError when the response holds no socket to shut any more:
            # the read ended just as it was abandoned, or the connection was handed over or
            # already shut by `Deadline.call`'s abandonment (found by the contract test: a
            # record logged as a crash). There is nothing left to stop then.
            shutdown = getattr(getattr(body, "_raw_stream", None), "shutdown", None)
            if callable(shutdown):
                with contextlib.suppress(ValueError, OSError):
                    shutdown()


def total_size(content_range: str | None) -> int | None:
    """The object size from ``Content-Range: bytes 0-65535/10368000``."""
    if not content_range or "/" not in content_range:
        return None
    total = content_range.rsplit("/", 1)[1]
    return int(total) if total.isdigit() else None
