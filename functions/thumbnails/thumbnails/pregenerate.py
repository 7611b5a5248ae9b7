"""Pregeneration: render the preset thumbnails of every frame that lands in the data bucket.

In AWS this handler reads an SQS queue (with a dead-letter queue) fed by the data bucket's
Object Created notifications, so bursts are buffered and failures retried per message. It
accepts:

- SQS batches whose bodies are S3 event notifications (``s3:TestEvent`` bodies are ignored)
  or EventBridge "Object Created" events; failures are reported per message (partial batch
  response), so one corrupt frame is retried and dead-lettered without re-rendering the rest;
- a plain S3 event notification or EventBridge event (``sam local invoke -e events/...``),
  processed directly; any failure is raised after every object was tried.

For each object: suffix filter, then the header (a ranged GET of its first 64 KiB) for the
OBSTYPE check, then one download and one decode for all presets, each stored under the key
the API computes for the equivalent request. Every thumbnail carries the source object's
ETag as metadata: a second delivery of the same object finds them all current and renders
nothing; a new version (new ETag) first clears the frame's whole cache prefix, so renders of
old data are never served after it.
"""

from __future__ import annotations

import functools
import json
import os
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
from botocore.exceptions import BotoCoreError, ClientError

from . import cache_keys
from .errors import (
    FrameNotFound,
    FrameTooLarge,
    InvalidParameter,
    StorageError,
    ThumbnailError,
    UnreadableFrame,
)
from .params import RenderLimits, ThumbnailParams
from .presets import parse_presets
from .settings import Settings

# Powertools reads its settings when these are built (at import): the defaults keep a
# template without POWERTOOLS_METRICS_NAMESPACE from failing every batch at the flush.
logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "thumbnails")
tracer = Tracer(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "thumbnails")
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "Thumbnails")
# A batch whose every record failed is still answered with a partial response (all ids
# listed) rather than an exception: the outcome for SQS is the same, and the log is clearer.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

#: How much of a frame is fetched to read its headers. LCO headers (~250 cards, 20 KiB for
#: the primary plus the image extension's) fit; longer ones fall back to the whole object.
HEADER_BYTES = 64 * 1024
#: Object metadata written with every pregenerated thumbnail.
SOURCE_ETAG = "source-etag"
BASENAME = "basename"


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
    """

    bucket: str
    key: str
    etag: str | None = None


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
                    )
                )
            return created
    except (KeyError, TypeError) as error:
        raise UnrecognisedEvent(f"malformed S3 event: missing {error}") from None
    raise UnrecognisedEvent("neither an S3 notification nor an EventBridge S3 event")


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
    def pregenerate(self, obj: ObjectCreated) -> Outcome:
        """Render and store every preset of `obj` that is not already current.

        Returns
        -------
        Outcome
            The keys written, or the reason nothing was (wrong suffix, unusable basename,
            ineligible OBSTYPE, already pregenerated, superseded by a newer version).

        Raises
        ------
        FrameNotFound
            The object no longer exists.
        UnreadableFrame, FrameTooLarge
            The object cannot be rendered (corrupt, not FITS, too big).
        StorageError
            S3 failed; worth a retry.
        """
        # Case-sensitive, as the API's own FITS check: it would never serve "X.FITS".
        if not obj.key.endswith(self.settings.pregenerate_suffixes):
            return self._skip(
                obj, "not a FITS suffix: " + ", ".join(self.settings.pregenerate_suffixes)
            )
        basename = cache_keys.basename_of(obj.key)
        try:
            keys = {cache_keys.thumbnail_key(basename, p): p for p in self.presets}
        except InvalidParameter as error:
            # The API could never serve such a name, so a thumbnail of it is useless.
            return self._skip(obj, f"basename cannot be a cache key ({error})")

        stored = {key: self._stored_etag(key) for key in keys}
        if obj.etag is not None and all(etag == obj.etag for etag in stored.values()):
            return self._skip(obj, "already pregenerated")
        try:
            return self._pregenerate(obj, basename, keys, stored)
        except _Superseded:
            # The newer version's own event renders it; this one has nothing left to do.
            return self._skip(obj, "superseded by a newer version of the object")

    # ------------------------------------------------------------------ steps
    def _pregenerate(
        self,
        obj: ObjectCreated,
        basename: str,
        keys: Mapping[str, ThumbnailParams],
        stored: Mapping[str, str | None],
    ) -> Outcome:
        from . import render  # numpy/astropy/PIL: only once there is something to read

        head = self._fetch(obj, HEADER_BYTES)
        etag = head.etag or obj.etag
        if etag != obj.etag and all(value == etag for value in stored.values()):
            return self._skip(obj, "already pregenerated")
        self._check_size(head.size)

        data = head.data if head.complete else None
        try:
            header = render.read_header(head.data)
        except UnreadableFrame:
            if head.complete:
                raise
            # Headers longer than the prefix: read them from the whole object.
            data = self._fetch(obj, None, if_match=etag).data
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
            data = self._fetch(obj, None, if_match=etag).data
        frame = render.load_frame(data, limits=RenderLimits(self.settings.max_frame_pixels))
        del data  # a decoded frame no longer needs the file's bytes (a streamed one keeps them)
        # One decoding pass for every preset, and a corrupt tile found before any deletion.
        render.prepare([frame], keys.values())

        # Not every preset is current, so this version is being rendered now: whatever is
        # under the prefix was rendered from other data, or cannot be told apart from such
        # (an API render of the old data under other parameters), and goes first.
        self.store.delete_prefix(cache_keys.frame_prefix(basename))
        metadata = {SOURCE_ETAG: etag or "", BASENAME: basename}
        written = []
        for key, params in keys.items():
            thumbnail = render.render_frames([frame], params)
            self.store.put(key, thumbnail.data, thumbnail.content_type, metadata=metadata)
            written.append(key)
        metrics.add_metric(name="PregeneratedThumbnails", unit=MetricUnit.Count, value=len(written))
        logger.info(
            "pregenerated",
            extra={
                "bucket": obj.bucket,
                "key": obj.key,
                "thumbnails": written,
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
        return Outcome(obj.bucket, obj.key, rendered=tuple(written))

    def _skip(self, obj: ObjectCreated, reason: str) -> Outcome:
        metrics.add_metric(name="PregenerateSkipped", unit=MetricUnit.Count, value=1)
        logger.info("skipped", extra={"bucket": obj.bucket, "key": obj.key, "reason": reason})
        return Outcome(obj.bucket, obj.key, skipped=reason)

    def _stored_etag(self, key: str) -> str | None:
        metadata = self.store.metadata(key)
        if metadata is None:
            return None
        return cache_keys.normalise_etag(metadata.get(SOURCE_ETAG))

    def _check_size(self, size: int | None) -> None:
        limit = self.settings.max_download_bytes
        if size is not None and size > limit:
            raise FrameTooLarge(f"the frame is {size} bytes, more than MAX_DOWNLOAD_BYTES={limit}")

    def _fetch(
        self, obj: ObjectCreated, length: int | None, *, if_match: str | None = None
    ) -> _Fetched:
        """GET the object (or its first `length` bytes), mapping S3 errors to ours."""
        kwargs: dict[str, str] = {"Bucket": obj.bucket, "Key": obj.key}
        if length is not None:
            kwargs["Range"] = f"bytes=0-{length - 1}"
        if if_match is not None:
            # Header and data must come from the same version of the object.
            kwargs["IfMatch"] = f'"{if_match}"'
        try:
            response = self.s3.get_object(**kwargs)
            data = response["Body"].read()
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                raise FrameNotFound(f"s3://{obj.bucket}/{obj.key} does not exist") from None
            if code == "InvalidRange":
                raise UnreadableFrame("the object is empty") from None
            if code in ("PreconditionFailed", "412"):
                raise _Superseded() from None
            raise StorageError(f"reading s3://{obj.bucket}/{obj.key} failed: {code}") from None
        except BotoCoreError as error:
            raise StorageError(f"reading s3://{obj.bucket}/{obj.key} failed: {error}") from None
        size = _total_size(response.get("ContentRange"))
        if size is None:
            size = response.get("ContentLength")
        return _Fetched(
            data=data,
            etag=cache_keys.normalise_etag(response.get("ETag")),
            complete=length is None or size is None or len(data) >= size,
            size=size,
        )


class _Superseded(Exception):
    """The object changed between reading its header and its data."""


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


def pregenerate_event(event: Mapping[str, Any]) -> list[Outcome]:
    """Pregenerate every object an S3 notification or EventBridge event names.

    Raises
    ------
    UnrecognisedEvent, ThumbnailError
        Each object is tried; the first failure is raised afterwards (all are logged).
    """
    return _pregenerate_all(objects_created(event))


def _pregenerate_all(created: Iterable[ObjectCreated]) -> list[Outcome]:
    pregenerator = resources().pregenerator
    outcomes, failures = [], []
    for obj in created:
        try:
            outcomes.append(_pregenerate_logged(pregenerator, obj))
        except Exception as error:  # noqa: BLE001 - re-raised below, after the others
            failures.append(error)
    if failures:
        raise failures[0]
    return outcomes


def _pregenerate_logged(pregenerator: Pregenerator, obj: ObjectCreated) -> Outcome:
    try:
        return pregenerator.pregenerate(obj)
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


def _sqs_record(record: SQSRecord) -> list[dict[str, Any]]:
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
    return [asdict(outcome) for outcome in _pregenerate_all(created)]


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point: an SQS batch (partial batch response), or a direct S3 event."""
    records = event.get("Records")
    if isinstance(records, list) and records and records[0].get("eventSource") == "aws:sqs":
        return process_partial_response(
            event=event, record_handler=_sqs_record, processor=processor, context=context
        )
    return {"results": [asdict(outcome) for outcome in pregenerate_event(event)]}
