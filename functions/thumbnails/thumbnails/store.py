"""The thumbnail cache: one S3 bucket (or any S3-compatible store), keyed by `cache_keys`.

Objects are immutable per key (the key holds the source version, the parameters' digest and
the render version), so they are written once with a long ``Cache-Control`` and read through
presigned URLs. The only writes to an existing key copy an object onto itself, bytes
unchanged: `ThumbnailStore.refresh` restarts its lifecycle expiry, and
`ThumbnailStore.mark_superseded` marks a thumbnail of a replaced version so that the lifecycle
removes it once every link handed out for it has expired (nothing is ever deleted here).
Every S3 failure becomes a `StorageError`: 503 when S3 throttles or is unreachable, 502
otherwise; messages name the operation and the S3 error code, never credentials or URLs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ReadTimeoutError
from botocore.exceptions import ConnectionError as S3ConnectionError
from urllib3.exceptions import HTTPError as Urllib3Error

from .abandoned_calls import watch
from .cache_keys import SUPERSEDED, SUPERSEDED_VALUE
from .deadline import Deadline
from .errors import StorageError
from .settings import Settings
from .url_signing import CloudFrontUrlSigner, read_secret

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: A key names one version of one frame rendered one way, so its bytes never change: browsers
#: and CloudFront's edge may keep them for a year. Access is checked before any cache is
#: consulted (the archive for the URL, CloudFront or S3 for the URL's signature).
OBJECT_CACHE_CONTROL = "public, max-age=31536000, immutable"
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_UNAVAILABLE_CODES = frozenset(
    {
        "503",
        "SlowDown",
        "ServiceUnavailable",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "InternalError",
        "500",
        # Another write to the key was in flight; after the retries of `put`, still worth one.
        "ConditionalRequestConflict",
    }
)
_LIST_PAGE = 1000  # ListObjectsV2's maximum
#: What a failed S3 call raises besides `ClientError`. botocore reads the body of a
#: non-streamed answer (an error's XML, a listing) after its own error handling, so a
#: connection reset in that body escapes as urllib3's ``ProtocolError`` (found by the
#: contract test: a reset 404 body made pregeneration log a crash).
S3_FAILURES = (BotoCoreError, Urllib3Error)
#: A conditional write that meets another write to its key in flight is answered 409
#: ConditionalRequestConflict (S3 says: retry). First wait and growth of the back-off, its
#: cap, and the attempts in all; the deadline ends them sooner.
_CONFLICT_BACKOFF = 0.1
_CONFLICT_BACKOFF_MAX = 1.6
_CONFLICT_ATTEMPTS = 8
#: What `mark_superseded` adds to a superseded thumbnail: the metadata the API reads on a
#: hit and the tag the bucket's lifecycle rule expires by.
_SUPERSEDED_METADATA = {SUPERSEDED: SUPERSEDED_VALUE}
_SUPERSEDED_TAGGING = f"{SUPERSEDED}={SUPERSEDED_VALUE}"


def make_s3_client(settings: Settings) -> Any:
    """A boto3 S3 client for the cache bucket.

    SigV4 (required for presigned URLs in newer regions and by MinIO), the region from
    ``AWS_DEFAULT_REGION`` (boto3 reads it), ``STORAGE_URL`` as the endpoint when set (with
    path-style addressing, which S3-compatible servers expect), standard retries with
    backoff, and timeouts well inside the Lambda's own. Abandonable
    (`abandoned_calls.watch`): a call `Deadline.call` gives up on is cut off, not retried.
    """
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path" if settings.storage_url else "virtual"},
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=5,
        read_timeout=30,
    )
    return watch(boto3.client("s3", endpoint_url=settings.storage_url, config=config))


def error_code(error: ClientError) -> str:
    """The S3 error code of a failed call (``NoSuchKey``, ``SlowDown``...), "" if none."""
    return str(error.response.get("Error", {}).get("Code", "") or "")


def _http_status(error: ClientError) -> int | None:
    return error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def is_not_found(error: ClientError) -> bool:
    """Whether S3 answered that the object (or key) does not exist."""
    return error_code(error) in _NOT_FOUND_CODES or _http_status(error) == 404


def _within(
    deadline: Deadline | None, operation: str, fn: Callable[..., T], *args: Any, **kwargs: Any
) -> T:
    """``fn(*args, **kwargs)`` bounded by `deadline` (`Deadline.call`): past it, the S3 call
    is given up on with `StorageError` 503 naming `operation`; without one, run here."""
    if deadline is None:
        return fn(*args, **kwargs)
    return deadline.call(StorageError.timed_out(operation), fn, *args, **kwargs)


def _storage_error(operation: str, error: Exception) -> StorageError:
    """The `StorageError` for a failed S3 call: 503 if retrying later may help, else 502."""
    if isinstance(error, ClientError):
        code = error_code(error) or str(_http_status(error) or "unknown")
        status = 503 if code in _UNAVAILABLE_CODES or _http_status(error) == 503 else 502
        return StorageError(f"Thumbnail cache {operation} failed: {code}", status=status)
    if isinstance(error, S3ConnectionError | ReadTimeoutError):
        return StorageError(f"Thumbnail cache unavailable during {operation}", status=503)
    return StorageError(f"Thumbnail cache {operation} failed: {type(error).__name__}")


@dataclass(frozen=True)
class StoredObject:
    """What one HEAD request tells about a cached thumbnail.

    Attributes
    ----------
    metadata : dict of str to str
        User metadata (``x-amz-meta-*``), names lower-case.
    last_modified : datetime or None
        When the object was written (timezone-aware): S3's lifecycle counts its age from it.
    content_type : str or None
    """

    metadata: dict[str, str]
    last_modified: datetime | None
    content_type: str | None

    @property
    def superseded(self) -> bool:
        """Whether the object is marked superseded (`ThumbnailStore.mark_superseded`)."""
        return self.metadata.get(SUPERSEDED) == SUPERSEDED_VALUE


class ThumbnailStore:
    """Cached thumbnails in one bucket.

    Parameters
    ----------
    s3_client : botocore client
        From `make_s3_client` (or moto in tests).
    bucket : str
        The cache bucket's name.
    presign_expiry : int
        Lifetime of presigned GET URLs in seconds (SigV4's maximum, 7 days, by default).
        A URL signed with temporary credentials (a Lambda role) stops working when those
        credentials expire, whichever comes first.
    url_signer : CloudFrontUrlSigner, optional
        Signs the links `presign` hands out instead of S3 (``URL_SIGNER=cloudfront``).
    """

    def __init__(
        self,
        s3_client: Any,
        bucket: str,
        *,
        presign_expiry: int = 604800,
        url_signer: CloudFrontUrlSigner | None = None,
    ) -> None:
        if not bucket:
            raise StorageError("The thumbnail bucket is not configured (THUMBNAIL_BUCKET)")
        self.s3 = s3_client
        self.bucket = bucket
        self.presign_expiry = presign_expiry
        self.url_signer = url_signer

    @classmethod
    def from_settings(cls, settings: Settings) -> ThumbnailStore:
        """The store of `settings.thumbnail_bucket`, through `make_s3_client`, signing links
        as ``URL_SIGNER`` says."""
        signer = None
        if settings.url_signer == "cloudfront":
            secret = settings.cloudfront_private_key_secret
            signer = CloudFrontUrlSigner(
                settings.cloudfront_domain,
                settings.cloudfront_key_pair_id,
                lambda: read_secret(secret),
                lifetime=settings.presigned_url_expiry,
            )
        return cls(
            make_s3_client(settings),
            settings.thumbnail_bucket,
            presign_expiry=settings.presigned_url_expiry,
            url_signer=signer,
        )

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if is_not_found(error):
                return None
            raise _storage_error("lookup", error) from None
        except S3_FAILURES as error:
            raise _storage_error("lookup", error) from None

    def exists(self, key: str, *, deadline: Deadline | None = None) -> bool:
        """Whether `key` is cached (one HEAD request, given up on at `deadline`).

        Raises
        ------
        StorageError
            For any answer but found / not found (403 too: the function's role needs
            ``s3:ListBucket`` for S3 to say 404 for a missing key); 503 past `deadline`.
        """
        return _within(deadline, "lookup", self._head, key) is not None

    def metadata(self, key: str) -> dict[str, str] | None:
        """The user metadata of `key` (``x-amz-meta-*``, names lower-case), None if absent."""
        stored = self.stat(key)
        return None if stored is None else stored.metadata

    def stat(self, key: str, *, deadline: Deadline | None = None) -> StoredObject | None:
        """Metadata, age and type of `key` (one HEAD request), None if absent.

        Raises
        ------
        StorageError
            As `exists`.
        """
        return _within(deadline, "lookup", self._stat, key)

    def _stat(self, key: str) -> StoredObject | None:
        head = self._head(key)
        if head is None:
            return None
        return StoredObject(
            metadata={str(k).lower(): str(v) for k, v in (head.get("Metadata") or {}).items()},
            last_modified=head.get("LastModified"),
            content_type=head.get("ContentType"),
        )

    def refresh(self, key: str, stored: StoredObject, *, deadline: Deadline | None = None) -> bool:
        """Restart the lifecycle age of `key`: copy it onto itself, bytes and headers unchanged.

        S3 expires objects by their creation time and refuses a copy onto itself that changes
        nothing; ``MetadataDirective=REPLACE`` with the same metadata is the documented way.
        The tags are copied (``TaggingDirective=COPY``), so a superseded object stays marked
        and the lifecycle still removes it a day after the links signed for it expire.

        Returns
        -------
        bool
            False if the object is gone (expired since it was looked at).

        Raises
        ------
        StorageError
            For any other failure; 503 past `deadline`.
        """
        return _within(deadline, "refresh", self._refresh, key, stored)

    def _refresh(self, key: str, stored: StoredObject) -> bool:
        # Tags copied: a superseded object stays marked.
        if not self._copy_onto_itself(key, stored, "refresh", {}, TaggingDirective="COPY"):
            return False
        logger.info("refreshed %s (restarted its expiry)", key)
        return True

    def _copy_onto_itself(
        self,
        key: str,
        stored: StoredObject,
        operation: str,
        metadata: Mapping[str, str],
        **tagging: str,
    ) -> bool:
        """Copy `key` onto itself (bytes and headers as they are, `metadata` added), which
        restarts its lifecycle age; False if it is gone."""
        try:
            self.s3.copy_object(
                Bucket=self.bucket,
                Key=key,
                CopySource={"Bucket": self.bucket, "Key": key},
                MetadataDirective="REPLACE",
                ContentType=stored.content_type or "application/octet-stream",
                CacheControl=OBJECT_CACHE_CONTROL,
                ServerSideEncryption="AES256",
                Metadata={**stored.metadata, **metadata},
                **tagging,
            )
        except ClientError as error:
            if is_not_found(error):
                return False
            raise _storage_error(operation, error) from None
        except S3_FAILURES as error:
            raise _storage_error(operation, error) from None
        return True

    def get(
        self, key: str, *, max_bytes: int | None = None, deadline: Deadline | None = None
    ) -> bytes | None:
        """The bytes of `key`; None if absent or larger than `max_bytes` (body not read).

        Raises
        ------
        StorageError
            If S3 fails; 503 past `deadline`.
        """
        return _within(deadline, "read", self._get, key, max_bytes)

    def _get(self, key: str, max_bytes: int | None) -> bytes | None:
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if is_not_found(error):
                return None
            raise _storage_error("read", error) from None
        except S3_FAILURES as error:
            raise _storage_error("read", error) from None
        body = response["Body"]
        try:
            if max_bytes is not None and int(response.get("ContentLength") or 0) > max_bytes:
                return None
            return body.read()
        except S3_FAILURES as error:
            raise _storage_error("read", error) from None
        finally:
            body.close()

    def put(
        self,
        key: str,
        data: bytes,
        content_type: str,
        *,
        metadata: Mapping[str, str] | None = None,
        deadline: Deadline | None = None,
    ) -> None:
        """Store a thumbnail: content type, immutable caching, AES256 server-side encryption.

        Written once: a conditional write (``If-None-Match: *``) leaves an object that is
        already there untouched (another worker stored the same version and parameters,
        hence the same image, which the caller then serves). `metadata` values must be ASCII
        (S3 user metadata travels in HTTP headers).

        S3 answers 409 ``ConditionalRequestConflict`` while another write to the key is in
        flight: the write is tried again after a growing pause, as long as `deadline` leaves
        time for the pause; the next answer is then a success or 412 (the other writer's
        object is there). A write still under way at `deadline` is given up on.

        Raises
        ------
        StorageError
            Any other failure, or still a conflict when the attempts or the time ran out (503).
        """
        _within(deadline, "write", self._put, key, data, content_type, metadata, deadline)

    def _put(
        self,
        key: str,
        data: bytes,
        content_type: str,
        metadata: Mapping[str, str] | None,
        deadline: Deadline | None,
    ) -> None:
        deadline = deadline or Deadline.unbounded()
        pause = _CONFLICT_BACKOFF
        for attempt in range(1, _CONFLICT_ATTEMPTS + 1):
            try:
                self.s3.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=data,
                    ContentType=content_type,
                    CacheControl=OBJECT_CACHE_CONTROL,
                    ServerSideEncryption="AES256",
                    Metadata=dict(metadata or {}),
                    IfNoneMatch="*",
                )
                return
            except ClientError as error:
                code, status = error_code(error), _http_status(error)
                if code in ("PreconditionFailed", "412") or status == 412:
                    logger.debug("%s was already stored; kept as it is", key)
                    return
                conflict = code == "ConditionalRequestConflict" or status == 409
                if not conflict or attempt == _CONFLICT_ATTEMPTS or deadline.remaining() <= pause:
                    raise _storage_error("write", error) from None
            except S3_FAILURES as error:
                raise _storage_error("write", error) from None
            logger.info("%s: another write was in flight (409); trying again", key)
            time.sleep(pause)
            pause = min(2 * pause, _CONFLICT_BACKOFF_MAX)

    def presign(self, key: str, *, deadline: Deadline | None = None) -> str:
        """A signed GET URL of `key`, valid for ``presign_expiry`` seconds: CloudFront's when
        a `url_signer` is set (its key read by `deadline`, else `StorageError` 503), else
        S3's (no I/O: computed from the client's credentials)."""
        if self.url_signer is not None:
            return self.url_signer.sign(key, deadline=deadline)
        try:
            return self.s3.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": key},
                ExpiresIn=self.presign_expiry,
            )
        except (ClientError, *S3_FAILURES) as error:
            raise _storage_error("signing", error) from None

    def others(self, prefix: str, *, keep: str, deadline: Deadline | None = None) -> list[str]:
        """The keys under `prefix` but not under `keep`, as S3 lists them now.

        For a frame's prefix and its current version's: the thumbnails of its other versions
        (and keys without a version, from earlier releases).

        Raises
        ------
        ValueError
            For an empty prefix, which would name the whole bucket.
        StorageError
            If listing fails; 503 past `deadline`.
        """
        if not prefix:
            raise ValueError("refusing to list an empty prefix (the whole bucket)")
        return _within(deadline, "listing", self._others, prefix, keep)

    def _others(self, prefix: str, keep: str) -> list[str]:
        try:
            pages = self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": _LIST_PAGE}
            )
            return [
                item["Key"]
                for page in pages
                for item in page.get("Contents", [])
                if not item["Key"].startswith(keep)
            ]
        except (ClientError, *S3_FAILURES) as error:
            raise _storage_error("listing", error) from None

    def mark_superseded(self, keys: Iterable[str], *, deadline: Deadline | None = None) -> int:
        """Mark each of `keys` superseded; return how many were marked now.

        Each is copied onto itself, bytes and headers unchanged, with the mark
        (``cache_keys.SUPERSEDED``) as its only tag, which the bucket's lifecycle rule
        expires after ``SUPERSEDED_EXPIRATION_DAYS``, and in its metadata, which `stat`
        shows the API. The copy restarts the object's age: S3 counts a rule's days from the
        object's creation, so a tag alone would let an object older than the rule's days go
        at once, under links handed out yesterday. Every link signed before the mark expires
        within `PRESIGNED_URL_EXPIRY` of it, and the API refreshes a marked object it still
        names (see `refresh`). An object already marked is left as it is (marking it again
        would lengthen its life), and so is one that is gone.

        Only the keys given are touched, never what appeared since they were listed; and
        nothing is started once `deadline` has passed, so a call its caller gave up on stops
        at its next object instead of acting later.

        Raises
        ------
        StorageError
            If a lookup or copy fails (what was marked before stays marked); 503 when
            `deadline` passes during a call.
        """
        return _within(deadline, "marking", self._mark_superseded, keys, deadline)

    def _mark_superseded(self, keys: Iterable[str], deadline: Deadline | None) -> int:
        deadline = deadline or Deadline.unbounded()
        marked = 0
        for key in keys:
            if deadline.expired:
                logger.info("stopped marking superseded thumbnails: the deadline passed")
                break
            stored = self._stat(key)
            if stored is None or stored.superseded:
                continue
            if deadline.expired:
                logger.info("stopped marking superseded thumbnails: the deadline passed")
                break
            if self._copy_onto_itself(
                key,
                stored,
                "marking",
                _SUPERSEDED_METADATA,
                TaggingDirective="REPLACE",
                Tagging=_SUPERSEDED_TAGGING,
            ):
                marked += 1
        return marked
