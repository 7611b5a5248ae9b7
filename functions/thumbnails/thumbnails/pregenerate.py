"""Pregeneration: render the preset thumbnails of every frame that lands in the data bucket.

In AWS this handler reads an SQS queue (with a dead-letter queue) fed by the data bucket's
Object Created notifications, so bursts are buffered and failures retried per message. It
accepts:

- SQS batches whose bodies are S3 event notifications (``s3:TestEvent`` bodies are ignored)
  or EventBridge "Object Created" events; failures are reported per message (partial batch
  response), so one corrupt frame is retried and dead-lettered without re-rendering the rest;
- a plain S3 event notification or EventBridge event (``sam local invoke -e events/...``),
  processed directly; any failure is raised after every object was tried.

For each object: its version (`thumbnails.versions`: the event's ETag when it is a plain MD5,
else the MD5 of the bytes), the header (a ranged GET of its first 64 KiB) to tell a FITS
frame by name, ``Content-Type`` or first bytes (`thumbnails.frame_objects`) and for the
OBSTYPE check, then one download and one decode for all presets, each stored under the key
the API computes for the equivalent request: ``{basename}/{version}/{digest}.{ext}``. A
second delivery of the same object finds every preset stored and renders nothing. Objects
are never overwritten. Once a version's presets are stored, the thumbnails of the frame's
other versions are marked superseded, best effort (`ThumbnailStore.mark_superseded`): a link
handed out for one still works until it expires, then the lifecycle removes the object.
An event for an object that is gone (deleted, or replaced while it was read) is skipped:
no retry could succeed, and a replacement has an event of its own.

Inside Lambda's limits: a frame whose event says it is larger than ``MAX_DOWNLOAD_BYTES``
fails before anything is read; the records of a batch are taken smallest first, so a frame
that would exhaust the memory goes last, after its batch mates are done; every S3 call of a
record is bounded by the invocation's clock, keeping `RECORD_RESERVE` back for the decode
and renders, and a record that cannot start in time is reported failed (SQS retries it),
never dropped.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import ClientError

from . import cache_keys, frame_objects, versions
from .deadline import ANSWER_MARGIN, Deadline
from .errors import (
    DeadlineExceeded,
    FrameNotFound,
    FrameTooLarge,
    InvalidParameter,
    MemoryBudgetExceeded,
    StorageError,
    ThumbnailError,
    UnreadableFrame,
)
from .params import RenderLimits, ThumbnailParams
from .presets import parse_presets
from .settings import Settings
from .store import S3_FAILURES

# Powertools reads its settings when these are built (at import): the defaults keep a
# template without POWERTOOLS_METRICS_NAMESPACE from failing every batch at the flush.
logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "thumbnails")
# Only botocore is patched for X-Ray: the default also patches requests and http.client, whose
# subsegments record exception text, and a failed frame download's text holds its presigned URL
# (X-Amz-Signature). Our own errors never carry URLs; tests/robustness/test_trace_secrets.py.
tracer = Tracer(
    service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "thumbnails", patch_modules=("botocore",)
)
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "Thumbnails")
# A batch whose every record failed is still answered with a partial response (all ids
# listed) rather than an exception: the outcome for SQS is the same, and the log is clearer.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

#: How much of a frame is fetched to read its headers. LCO headers (~250 cards, 20 KiB for
#: the primary plus the image extension's) fit; longer ones fall back to the whole object.
HEADER_BYTES = 64 * 1024
#: Seconds of the invocation kept back from a record's S3 calls for what follows them and
#: cannot be cut short: the decode and the preset renders (2 s for a 4096x4096 frame's two
#: presets on one vCPU, README "Performance"; ten times that fits under MAX_FRAME_PIXELS).
#: A record with less than this left is not started.
RECORD_RESERVE = 20.0


class UnrecognisedEvent(ValueError):
    """An event or SQS message body that names no S3 object (and is not an S3 test event)."""


# --------------------------------------------------------------------------- events
@dataclass(frozen=True)
class ObjectCreated:
    """One new S3 object, as an event names it.

    Attributes
    ----------
    bucket, key : str
        Where the object is; `key` already URL-decoded.
    etag : str or None
        The object's ETag without quotes, when the event carries it.
    size : int or None
        The object's size in bytes, when the event carries it.
    """

    bucket: str
    key: str
    etag: str | None = None
    size: int | None = None


def objects_created(event: Mapping[str, Any]) -> list[ObjectCreated]:
    """The new objects named by an S3 notification or an EventBridge event.

    Parameters
    ----------
    event : mapping
        An S3 event notification (``{"Records": [{"eventSource": "aws:s3", ...}]}``), an S3
        test event (``{"Event": "s3:TestEvent"}``), or an EventBridge event from S3
        (``{"source": "aws.s3", "detail-type": "Object Created", ...}``).

    Returns
    -------
    list of ObjectCreated
        Empty for a test event. Records of other event types (a delete routed to the same
        queue) are left out with a log line.

    Raises
    ------
    UnrecognisedEvent
        For anything else.
    """
    if event.get("Event") == "s3:TestEvent":
        logger.info("ignoring s3:TestEvent", extra={"bucket": event.get("Bucket")})
        return []
    try:
        if event.get("source") == "aws.s3" and "detail" in event:
            if event.get("detail-type") != "Object Created":
                logger.info("ignoring event", extra={"detail_type": event.get("detail-type")})
                return []
            detail = event["detail"]
            return [
                ObjectCreated(
                    bucket=detail["bucket"]["name"],
                    key=unquote_plus(detail["object"]["key"]),
                    etag=cache_keys.normalise_etag(detail["object"].get("etag")),
                    size=_size(detail["object"].get("size")),
                )
            ]
        if isinstance(event.get("Records"), list):
            created = []
            for record in event["Records"]:
                name = record.get("eventName", "")
                if record.get("eventSource") != "aws:s3" or not name.startswith("ObjectCreated:"):
                    logger.info("ignoring record", extra={"event_name": name})
                    continue
                s3 = record["s3"]
                created.append(
                    ObjectCreated(
                        bucket=s3["bucket"]["name"],
                        key=unquote_plus(s3["object"]["key"]),
                        etag=cache_keys.normalise_etag(s3["object"].get("eTag")),
                        size=_size(s3["object"].get("size")),
                    )
                )
            return created
    except (KeyError, TypeError) as error:
        raise UnrecognisedEvent(f"malformed S3 event: missing {error}") from None
    raise UnrecognisedEvent("neither an S3 notification nor an EventBridge S3 event")


def _size(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --------------------------------------------------------------------------- the work
@dataclass(frozen=True)
class Outcome:
    """What pregeneration did with one object: ``rendered`` keys, or why it was skipped."""

    bucket: str
    key: str
    rendered: tuple[str, ...] = ()
    skipped: str | None = None


@dataclass(frozen=True)
class _Fetched:
    data: bytes
    etag: str | None
    complete: bool
    size: int | None
    content_type: str | None = None


class Pregenerator:
    """Renders and stores the preset thumbnails of new frames.

    Parameters
    ----------
    s3_client
        A boto3 S3 client that can read the data buckets.
    store : ThumbnailStore
        The thumbnail cache (the API's store).
    presets : sequence of ThumbnailParams
        What to render (see `thumbnails.presets`).
    settings : Settings
        For the suffixes, eligible OBSTYPEs and size limits.
    """

    def __init__(
        self, s3_client: Any, store: Any, presets: Iterable[ThumbnailParams], settings: Settings
    ) -> None:
        self.s3 = s3_client
        self.store = store
        self.presets = tuple(presets)
        self.settings = settings

    @tracer.capture_method(capture_response=False)
    def pregenerate(self, obj: ObjectCreated, deadline: Deadline | None = None) -> Outcome:
        """Render and store every preset of `obj` that is not already stored.

        Parameters
        ----------
        obj : ObjectCreated
        deadline : Deadline, optional
            When the invocation must be done. S3 calls end `RECORD_RESERVE` seconds before
            it (``DOWNLOAD_TIMEOUT`` bounds the frame's read too); no decode or render
            starts after it.

        Returns
        -------
        Outcome
            The keys written, or the reason nothing was (not FITS, unusable basename,
            ineligible OBSTYPE, already pregenerated, superseded by a newer version, gone).

        Raises
        ------
        UnreadableFrame, FrameTooLarge
            The object cannot be rendered (corrupt, not FITS, too big: from the event's size
            before anything is read).
        StorageError
            S3 failed, or did not answer in time (503); worth a retry.
        DeadlineExceeded
            Not enough of the invocation was left to start or finish; worth a retry.
        """
        deadline = deadline or Deadline.unbounded()
        io = deadline.less(RECORD_RESERVE)
        if io.expired:
            raise DeadlineExceeded(
                f"not started: {max(0.0, deadline.remaining()):.1f} s were left of the "
                f"invocation, less than the {RECORD_RESERVE:.0f} s a frame is given"
            )
        self._check_size(obj.size)  # from the event: nothing is read for a frame too large
        named = frame_objects.named_as_fits(obj.key, self.settings.pregenerate_suffixes)
        basename = cache_keys.basename_of(obj.key)
        version = versions.plain_md5(obj.etag)
        if named and version is not None:
            # A redelivery of a single-part upload is recognised without reading the object.
            try:
                keys = self._keys(basename, version)
            except InvalidParameter as error:
                return self._skip(obj, f"basename cannot be a cache key ({error})")
            if not self._missing(keys, io):
                return self._skip(obj, "already pregenerated")
        try:
            return self._pregenerate(obj, basename, deadline, io, named=named)
        except _Superseded:
            # The newer version's own event renders it; this one has nothing left to do.
            return self._skip(obj, "superseded by a newer version of the object")
        except FrameNotFound:
            # Deleted before (or while) it was read: no retry can succeed, and an object
            # stored again under the key comes with an event of its own.
            return self._skip(obj, "the object no longer exists")

    # ------------------------------------------------------------------ steps
    def _pregenerate(
        self, obj: ObjectCreated, basename: str, deadline: Deadline, io: Deadline, *, named: bool
    ) -> Outcome:
        # DOWNLOAD_TIMEOUT bounds each read of the frame, the invocation's clock all of them.
        try:
            head = self._fetch(obj, HEADER_BYTES, io.within(self.settings.download_timeout))
        except UnreadableFrame:
            if named:
                raise
            return self._skip(obj, "not FITS: the object is empty")
        if not named and not frame_objects.looks_like_fits(head.content_type, head.data):
            return self._skip(
                obj,
                "not FITS: neither its name ("
                + ", ".join(self.settings.pregenerate_suffixes)
                + "), its Content-Type nor its first bytes",
            )
        try:
            cache_keys.validate_basename(basename)
        except InvalidParameter as error:
            # The API could never serve such a name, so a thumbnail of it is useless.
            return self._skip(obj, f"basename cannot be a cache key ({error})")
        # The ETag of the bytes read (the event's may be older); every later read must match.
        etag = head.etag or obj.etag
        version = versions.plain_md5(etag)
        missing: dict[str, ThumbnailParams] = {}
        if version is not None:
            missing = self._missing(self._keys(basename, version), io)
            if not missing:
                return self._skip(obj, "already pregenerated")
        self._check_size(head.size)

        from . import imaging as render  # numpy/astropy/PIL: only once there is something to read

        data = head.data if head.complete else None
        try:
            header = render.read_header(head.data)
        except UnreadableFrame:
            if head.complete:
                raise
            # Headers longer than the prefix: read them from the whole object.
            data = self._fetch(obj, None, io.within(self.settings.download_timeout), etag).data
            header = render.read_header(data)
        del head
        # Compared as the API compares configuration_type: case-insensitively.
        obstype = str(header.get("OBSTYPE") or "").strip().upper()
        if obstype not in {t.upper() for t in self.settings.valid_configuration_types}:
            return self._skip(
                obj, f"OBSTYPE {obstype or '(missing)'} is not in VALID_CONFIGURATION_TYPES"
            )

        started = time.perf_counter()
        if data is None:
            data = self._fetch(obj, None, io.within(self.settings.download_timeout), etag).data
        if version is None:
            # A multipart upload's ETag is no MD5: the version is the MD5 of the bytes.
            version = versions.of_bytes(data)
            missing = self._missing(self._keys(basename, version), io)
            if not missing:
                return self._skip(obj, "already pregenerated")
        missing = self._within_memory(obj, render, data, missing)
        if not missing:
            return self._skip(obj, "no preset fits in the function's memory")
        _check_time(deadline, "decode the frame")
        frame = render.load_frame(data, limits=RenderLimits(self.settings.max_frame_pixels))
        del data  # a decoded frame no longer needs the file's bytes (a streamed one keeps them)
        # One decoding pass for every missing preset, and a corrupt tile found before any
        # thumbnail is written.
        render.prepare([frame], missing.values())

        written = []
        for key, params in missing.items():
            _check_time(deadline, "render every preset")
            thumbnail = render.render_frames([frame], params)
            deadline.call(
                StorageError.timed_out("write"),
                self.store.put,
                key,
                thumbnail.data,
                thumbnail.content_type,
                metadata=cache_keys.thumbnail_metadata(basename, version, thumbnail),
                deadline=deadline,
            )
            written.append(key)
        metrics.add_metric(name="PregeneratedThumbnails", unit=MetricUnit.Count, value=len(written))
        logger.info(
            "pregenerated",
            extra={
                "bucket": obj.bucket,
                "key": obj.key,
                "version": version,
                "thumbnails": written,
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
        self._mark_other_versions(obj, basename, version, etag, deadline)
        return Outcome(obj.bucket, obj.key, rendered=tuple(written))

    def _within_memory(
        self, obj: ObjectCreated, render: Any, data: bytes, presets: dict[str, ThumbnailParams]
    ) -> dict[str, ThumbnailParams]:
        """The presets whose render fits the function's memory (from the frame's headers);
        the others are logged as skipped, so that one big preset cannot kill the container."""
        budget = self.settings.render_memory_bytes
        if budget is None:
            return presets
        limits = RenderLimits(self.settings.max_frame_pixels)
        kept = {}
        for key, params in presets.items():
            try:
                render.check_memory(data, params, budget, limits=limits)
            except MemoryBudgetExceeded as error:
                logger.warning(
                    "preset skipped: too large for the function's memory",
                    extra={
                        "bucket": obj.bucket,
                        "key": obj.key,
                        "preset": params.canonical(),
                        "reason": error.message,
                    },
                )
                continue
            kept[key] = params
        return kept

    def _skip(self, obj: ObjectCreated, reason: str) -> Outcome:
        metrics.add_metric(name="PregenerateSkipped", unit=MetricUnit.Count, value=1)
        logger.info("skipped", extra={"bucket": obj.bucket, "key": obj.key, "reason": reason})
        return Outcome(obj.bucket, obj.key, skipped=reason)

    def _keys(self, basename: str, version: str) -> dict[str, ThumbnailParams]:
        """Preset key -> parameters for one version of a frame."""
        return {cache_keys.thumbnail_key(basename, version, p): p for p in self.presets}

    def _missing(
        self, keys: Mapping[str, ThumbnailParams], deadline: Deadline
    ) -> dict[str, ThumbnailParams]:
        """The presets not stored yet (one HEAD each): stored objects are never rewritten."""
        return {
            key: params
            for key, params in keys.items()
            if not deadline.call(StorageError.timed_out("lookup"), self.store.exists, key)
        }

    def _mark_other_versions(
        self,
        obj: ObjectCreated,
        basename: str,
        version: str,
        etag: str | None,
        deadline: Deadline,
    ) -> None:
        """Mark the thumbnails of the frame's other versions superseded; log, never raise.

        The keys are listed first, then the object is checked to still be the version just
        rendered, then exactly the listed keys are marked. So a worker that rendered an older
        version late marks nothing (the object is newer), and nothing stored after the
        listing is marked: another version's thumbnails can only be listed if that version
        was uploaded before, and then the check fails. A marking its caller gave up on stops
        at the deadline (`ThumbnailStore.mark_superseded`).
        """
        where = {"bucket": obj.bucket, "key": obj.key, "version": version}
        try:
            others = deadline.call(
                StorageError.timed_out("listing"),
                self.store.others,
                cache_keys.frame_prefix(basename),
                keep=cache_keys.version_prefix(basename, version),
            )
            if not others:
                return
            current = deadline.call(
                StorageError.timed_out("check"), self.s3.head_object, Bucket=obj.bucket, Key=obj.key
            ).get("ETag")
        except (ClientError, *S3_FAILURES, StorageError) as error:
            logger.warning(
                "other versions left unmarked: they or the object could not be looked at",
                extra={**where, "error": type(error).__name__},
            )
            return
        if etag is not None and cache_keys.normalise_etag(current) != etag:
            logger.info(
                "other versions left unmarked: the object has changed since it was read",
                extra=where,
            )
            return
        try:
            marked = deadline.call(
                StorageError.timed_out("marking"),
                self.store.mark_superseded,
                others,
                deadline=deadline,
            )
        except StorageError as error:
            logger.warning(
                "other versions left unmarked: marking them failed",
                extra={**where, "error": type(error).__name__, "reason": error.message},
            )
            return
        if marked:
            logger.info(
                "marked other versions' thumbnails superseded", extra={**where, "marked": marked}
            )

    def _check_size(self, size: int | None) -> None:
        limit = self.settings.max_download_bytes
        if size is not None and size > limit:
            raise FrameTooLarge(f"the frame is {size} bytes, more than MAX_DOWNLOAD_BYTES={limit}")

    def _fetch(
        self,
        obj: ObjectCreated,
        length: int | None,
        deadline: Deadline,
        if_match: str | None = None,
    ) -> _Fetched:
        """GET the object (or its first `length` bytes) before `deadline`, mapping S3 errors
        to ours. A read still going at the deadline is abandoned: its connection is shut
        down and what it read is dropped, so it neither reads on nor holds the memory while
        the next record downloads."""
        reading = _Reading()

        def timed_out() -> StorageError:
            reading.abandon()
            return StorageError(
                f"reading s3://{obj.bucket}/{obj.key} did not finish in time", status=503
            )

        return deadline.call(timed_out, self._fetch_now, obj, length, if_match, reading)

    def _fetch_now(
        self,
        obj: ObjectCreated,
        length: int | None,
        if_match: str | None,
        reading: _Reading | None = None,
    ) -> _Fetched:
        reading = reading or _Reading()
        kwargs: dict[str, str] = {"Bucket": obj.bucket, "Key": obj.key}
        if length is not None:
            kwargs["Range"] = f"bytes=0-{length - 1}"
        if if_match is not None:
            # Header and data must come from the same version of the object.
            kwargs["IfMatch"] = f'"{if_match}"'
        try:
            response = self.s3.get_object(**kwargs)
            data = reading.read(response["Body"])
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                raise FrameNotFound(f"s3://{obj.bucket}/{obj.key} does not exist") from None
            if code == "InvalidRange":
                raise UnreadableFrame("the object is empty") from None
            if code in ("PreconditionFailed", "412"):
                raise _Superseded() from None
            raise StorageError(f"reading s3://{obj.bucket}/{obj.key} failed: {code}") from None
        except S3_FAILURES as error:
            raise StorageError(f"reading s3://{obj.bucket}/{obj.key} failed: {error}") from None
        size = _total_size(response.get("ContentRange"))
        if size is None:
            size = response.get("ContentLength")
        return _Fetched(
            data=data,
            etag=cache_keys.normalise_etag(response.get("ETag")),
            complete=length is None or size is None or len(data) >= size,
            size=size,
            content_type=response.get("ContentType"),
        )


class _Superseded(Exception):
    """The object changed between reading its header and its data."""


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
            shutdown = getattr(getattr(body, "_raw_stream", None), "shutdown", None)
            if callable(shutdown):
                shutdown()


def _check_time(deadline: Deadline, step: str) -> None:
    if deadline.expired:
        raise DeadlineExceeded(f"no time was left in the invocation to {step}")


def _total_size(content_range: str | None) -> int | None:
    """The object size from ``Content-Range: bytes 0-65535/10368000``."""
    if not content_range or "/" not in content_range:
        return None
    total = content_range.rsplit("/", 1)[1]
    return int(total) if total.isdigit() else None


# --------------------------------------------------------------------------- Lambda glue
@dataclass(frozen=True)
class _Resources:
    settings: Settings
    pregenerator: Pregenerator


@functools.cache
def resources() -> _Resources:
    """Settings, clients and presets, built once per container on first use.

    Tests call `reset` (after changing the environment) instead of replacing globals.
    """
    from .store import ThumbnailStore, make_s3_client

    settings = Settings.from_env()
    s3_client = make_s3_client(settings)
    store = ThumbnailStore(
        s3_client, settings.thumbnail_bucket, presign_expiry=settings.presigned_url_expiry
    )
    presets = parse_presets(settings.pregenerate_presets, max_size=settings.max_thumbnail_size)
    return _Resources(settings, Pregenerator(s3_client, store, presets, settings))


def reset() -> None:
    """Forget the cached settings and clients (for tests that change the environment)."""
    resources.cache_clear()


def pregenerate_event(event: Mapping[str, Any], deadline: Deadline | None = None) -> list[Outcome]:
    """Pregenerate every object an S3 notification or EventBridge event names.

    Raises
    ------
    UnrecognisedEvent, ThumbnailError
        Each object is tried; the first failure is raised afterwards (all are logged).
    """
    return _pregenerate_all(objects_created(event), deadline)


def _pregenerate_all(
    created: Iterable[ObjectCreated], deadline: Deadline | None = None
) -> list[Outcome]:
    pregenerator = resources().pregenerator
    outcomes, failures = [], []
    for obj in sorted(created, key=_size_order):
        try:
            outcomes.append(_pregenerate_logged(pregenerator, obj, deadline))
        except Exception as error:  # noqa: BLE001 - re-raised below, after the others
            failures.append(error)
    if failures:
        raise failures[0]
    return outcomes


def _size_order(obj: ObjectCreated) -> float:
    """Smallest first, unknown sizes last: a frame that would exhaust the memory (or crash
    the decoder, taking the invocation down) is tried after its batch mates are done, so on
    the next delivery they are found already pregenerated."""
    return float("inf") if obj.size is None else obj.size


def processing_order(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The SQS records of a batch in the order to process them: by the size their events
    declare, smallest first (see `_size_order`); unreadable bodies first (they fail fast)."""

    def size(record: dict[str, Any]) -> float:
        try:
            body = json.loads(record.get("body") or "") if isinstance(record, dict) else None
            if not isinstance(body, dict):
                return -1.0
            created = objects_created(body)
        except Exception:  # noqa: BLE001 - the record's own handler reports what is wrong
            return -1.0
        return max((_size_order(obj) for obj in created), default=-1.0)

    return sorted(records, key=size)


def _pregenerate_logged(
    pregenerator: Pregenerator, obj: ObjectCreated, deadline: Deadline | None = None
) -> Outcome:
    try:
        return pregenerator.pregenerate(obj, deadline)
    except ThumbnailError as error:
        metrics.add_metric(name="PregenerateFailed", unit=MetricUnit.Count, value=1)
        logger.warning(
            "pregeneration failed",
            extra={
                "bucket": obj.bucket,
                "key": obj.key,
                "error": type(error).__name__,
                "reason": error.message,
            },
        )
        raise
    except Exception:
        # A bug, not a bad frame: the record fails (and is retried) with its traceback logged.
        metrics.add_metric(name="PregenerateFailed", unit=MetricUnit.Count, value=1)
        logger.exception("pregeneration crashed", extra={"bucket": obj.bucket, "key": obj.key})
        raise


def _sqs_record(record: SQSRecord, lambda_context: Any = None) -> list[dict[str, Any]]:
    # Each record's budget is read from the invocation's clock when the record starts.
    deadline = Deadline.from_context(lambda_context, margin=ANSWER_MARGIN)
    try:
        body = json.loads(record.body)
        if not isinstance(body, dict):
            raise UnrecognisedEvent("the SQS message body is not a JSON object")
        created = objects_created(body)
    except (TypeError, ValueError) as error:  # UnrecognisedEvent included
        reason = str(error) if isinstance(error, UnrecognisedEvent) else "the body is not JSON"
        metrics.add_metric(name="PregenerateFailed", unit=MetricUnit.Count, value=1)
        logger.warning(
            "unrecognised message",
            extra={"message_id": record.message_id, "error": "UnrecognisedEvent", "reason": reason},
        )
        raise UnrecognisedEvent(reason) from None
    return [asdict(outcome) for outcome in _pregenerate_all(created, deadline)]


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point: an SQS batch (partial batch response), or a direct S3 event."""
    records = event.get("Records")
    if isinstance(records, list) and records and records[0].get("eventSource") == "aws:sqs":
        return process_partial_response(
            event={**event, "Records": processing_order(records)},
            record_handler=_sqs_record,
            processor=processor,
            context=context,
        )
    deadline = Deadline.from_context(context, margin=ANSWER_MARGIN)
    return {"results": [asdict(outcome) for outcome in pregenerate_event(event, deadline)]}
