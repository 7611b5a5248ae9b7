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
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from . import cache_keys, frame_objects, snapstart, versions
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
from .frame_objects import HEADER_BYTES
from .observability import logger, metrics, tracer
from .params import RenderLimits, ThumbnailParams
from .presets import parse_presets
from .s3_events import ObjectCreated, UnrecognisedEvent, objects_created, objects_in_message
from .settings import Settings
from .source_objects import Fetched, ObjectChanged, SourceObjects

# A batch whose every record failed is still answered with a partial response (all ids
# listed) rather than an exception: the outcome for SQS is the same, and the log is clearer.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

#: Seconds of the invocation kept back from a record's S3 calls for what follows them and
#: cannot be cut short: the decode and the preset renders (2 s for a 4096x4096 frame's two
#: presets on one vCPU, README "Performance"; ten times that fits under MAX_FRAME_PIXELS).
#: A record with less than this left is not started.
RECORD_RESERVE = 20.0


# --------------------------------------------------------------------------- the work
@dataclass(frozen=True)
class Outcome:
    """What pregeneration did with one object: ``rendered`` keys, or why it was skipped."""

    bucket: str
    key: str
    rendered: tuple[str, ...] = ()
    skipped: str | None = None


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
        self.sources = SourceObjects(s3_client)
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
        basename = frame_objects.basename_of(obj.key)
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
        except ObjectChanged:
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
        try:
            head = self._read(obj, HEADER_BYTES, io)
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
            data = self._read(obj, None, io, etag).data
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
            data = self._read(obj, None, io, etag).data
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
            self.store.put(
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
            if not self.store.exists(key, deadline=deadline)
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
            others = self.store.others(
                cache_keys.frame_prefix(basename),
                keep=cache_keys.version_prefix(basename, version),
                deadline=deadline,
            )
            if not others:
                return
            current = self.sources.etag(obj.bucket, obj.key, deadline)
        except StorageError as error:
            logger.warning(
                "other versions left unmarked: they or the object could not be looked at",
                extra={**where, "error": type(error).__name__},
            )
            return
        if etag is not None and current != etag:
            logger.info(
                "other versions left unmarked: the object has changed since it was read",
                extra=where,
            )
            return
        try:
            marked = self.store.mark_superseded(others, deadline=deadline)
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

    def _read(
        self, obj: ObjectCreated, length: int | None, io: Deadline, etag: str | None = None
    ) -> Fetched:
        """`obj`'s first `length` bytes (None: all), of version `etag` if given.

        ``DOWNLOAD_TIMEOUT`` bounds each read of the frame, `io` (the invocation's clock) all
        of them.
        """
        within = io.within(self.settings.download_timeout)
        return self.sources.fetch(obj.bucket, obj.key, length, within, etag)

    def _check_size(self, size: int | None) -> None:
        limit = self.settings.max_download_bytes
        if size is not None and size > limit:
            raise FrameTooLarge(f"the frame is {size} bytes, more than MAX_DOWNLOAD_BYTES={limit}")


def _check_time(deadline: Deadline, step: str) -> None:
    if deadline.expired:
        raise DeadlineExceeded(f"no time was left in the invocation to {step}")


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


def _forget_resources() -> None:
    """Close and forget the container's clients (SnapStart: after a restore)."""
    if resources.cache_info().currsize:
        snapstart.close_clients(resources().pregenerator.s3)
    reset()


# With SnapStart the clients are built before the snapshot and again after each restore; the
# render path is primed too (`thumbnails.snapstart`). Registering runs nothing.
snapstart.register(resources, _forget_resources)


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
            if not isinstance(record, dict):
                return -1.0
            created = objects_in_message(SQSRecord(record))
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
        created = objects_in_message(record)
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
