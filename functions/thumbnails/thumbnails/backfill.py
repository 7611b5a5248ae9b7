"""``python -m thumbnails backfill s3://BUCKET/PREFIX --queue-url URL``: pregenerate an archive.

Lists the frames already under a prefix and enqueues one message per frame on the
pregeneration queue, shaped like the S3 Object Created notification S3 itself would have
sent, so the same Lambda fleet (and the same handler, retries and dead-letter queue) renders
them. Progress goes to stderr, a one-line summary to stdout.

Running it again is safe: a frame whose thumbnails are already current is recognised by the
handler from its ETag (carried in the message, the frame's version for a single-part upload)
with a few HEAD requests, or after reading it (a multipart upload), and not rendered again.
An interrupted run can be resumed with ``--start-after`` the last key it reported.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from .errors import InvalidParameter, StorageError
from .frame_objects import has_no_extension, named_as_fits
from .s3_events import object_created_event
from .versions import normalise_etag

BATCH_SIZE = 10  # SendMessageBatch's maximum
ATTEMPTS = 4  # per message: the first send and three retries of transient failures
_QUEUE_REGION_RE = re.compile(r"^https://sqs[.-]([a-z0-9-]+)\.amazonaws\.com(\.cn)?/")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The backfill subcommand's arguments."""
    parser.add_argument("source", metavar="s3://BUCKET/PREFIX", help="where the frames are")
    parser.add_argument("--queue-url", help="the pregeneration queue (required unless --dry-run)")
    parser.add_argument(
        "--dry-run", action="store_true", help="list and count the frames, enqueue nothing"
    )
    parser.add_argument(
        "--suffix",
        action="append",
        dest="suffixes",
        metavar="SUFFIX",
        help="file name endings to enqueue, repeatable (default: PREGENERATE_SUFFIXES)",
    )
    parser.add_argument(
        "--start-after", metavar="KEY", help="resume an interrupted run after this key"
    )
    parser.add_argument(
        "--limit", type=int, metavar="N", help="enqueue at most N frames (to try things out)"
    )
    parser.add_argument(
        "--endpoint-url", metavar="URL", help="S3 and SQS endpoint (a local emulator); default AWS"
    )


@dataclass
class BackfillReport:
    """What a backfill did: counts, and the keys that could not be enqueued (with why)."""

    source: str
    dry_run: bool = False
    listed: int = 0
    matched: int = 0
    enqueued: int = 0
    batches: int = 0
    retried: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    last_key: str | None = None

    def summary(self) -> str:
        """One line for the end of the run."""
        if self.dry_run:
            return (
                f"{self.source}: {self.listed} objects listed, {self.matched} frames "
                "would be enqueued (dry run: nothing sent)"
            )
        return (
            f"{self.source}: {self.listed} objects listed, {self.enqueued} of {self.matched} "
            f"frames enqueued in {self.batches} batch{'' if self.batches == 1 else 'es'}, "
            f"{self.listed - self.matched} skipped "
            f"(not frames by name), {len(self.failed)} failed"
        )


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix")`` (the prefix may be empty).

    Raises
    ------
    InvalidParameter
        For anything that is not an ``s3://`` URL with a bucket.
    """
    match = re.fullmatch(r"s3://([^/]+)/?(.*)", url or "", flags=re.DOTALL)
    if not match:
        raise InvalidParameter("source", f"expected s3://BUCKET/PREFIX, got {url!r}")
    return match.group(1), match.group(2)


def notification_body(bucket: str, key: str, size: int, etag: str | None, region: str) -> str:
    """An SQS message body shaped like S3's Object Created notification for one object.

    The key is URL-encoded as S3 encodes it; the ETag lets the handler recognise a frame
    that is already pregenerated without downloading it.
    """
    event = object_created_event(
        bucket,
        key,
        size=size,
        etag=etag,
        region=region,
        event_name="ObjectCreated:Backfill",
        sender="thumbnails-backfill",
    )
    return json.dumps(event, separators=(",", ":"))


def list_objects(
    s3: Any, bucket: str, prefix: str, *, start_after: str | None = None, page_size: int = 1000
) -> Iterator[dict[str, Any]]:
    """Every object under `prefix`, in key order, one page (up to 1000 keys) at a time.

    Raises
    ------
    StorageError
        When listing fails (no such bucket, access denied...).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    kwargs: dict[str, Any] = {
        "Bucket": bucket,
        "Prefix": prefix,
        "PaginationConfig": {"PageSize": page_size},
    }
    if start_after:
        kwargs["StartAfter"] = start_after
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(**kwargs):
            yield from page.get("Contents", [])
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "unknown")
        raise StorageError(f"listing s3://{bucket}/{prefix} failed: {code}") from None
    except BotoCoreError as error:
        raise StorageError(f"listing s3://{bucket}/{prefix} failed: {error}") from None


class Enqueuer:
    """Sends message bodies to SQS in batches of 10, retrying what SQS did not accept.

    Parameters
    ----------
    sqs : botocore client
    queue_url : str
    sleep : callable
        Waits between retries (``time.sleep``; tests pass a no-op).
    """

    def __init__(
        self, sqs: Any, queue_url: str, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.sleep = sleep

    def send(self, batch: Sequence[tuple[str, str]], report: BackfillReport) -> None:
        """Send ``(key, body)`` pairs (at most 10); record successes and final failures."""
        pending = {str(index): item for index, item in enumerate(batch)}
        report.batches += 1
        for attempt in range(ATTEMPTS):
            if attempt:
                report.retried += len(pending)
                self.sleep(0.2 * 2**attempt)  # transient failures: back off before retrying
            failures = self._send_once(pending)
            report.enqueued += len(pending) - len(failures)
            retry = {}
            for entry_id, (permanent, reason) in failures.items():
                if permanent or attempt == ATTEMPTS - 1:
                    report.failed.append((pending[entry_id][0], reason))
                else:
                    retry[entry_id] = pending[entry_id]
            pending = retry
            if not pending:
                return

    def _send_once(self, pending: dict[str, tuple[str, str]]) -> dict[str, tuple[bool, str]]:
        """One SendMessageBatch call: entry id -> (permanent?, reason) for each failure."""
        from botocore.exceptions import BotoCoreError, ClientError

        entries = [{"Id": entry_id, "MessageBody": body} for entry_id, (_, body) in pending.items()]
        try:
            answer = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "unknown")
            return {entry_id: (False, f"SendMessageBatch failed: {code}") for entry_id in pending}
        except BotoCoreError as error:
            return {entry_id: (False, f"SendMessageBatch failed: {error}") for entry_id in pending}
        return {
            item["Id"]: (
                bool(item.get("SenderFault")),
                f"{item.get('Code', 'unknown')}: {item.get('Message', '')}".rstrip(": "),
            )
            for item in answer.get("Failed", [])
        }


def backfill(
    s3: Any,
    enqueuer: Enqueuer | None,
    source: str,
    *,
    suffixes: Sequence[str],
    region: str,
    start_after: str | None = None,
    limit: int | None = None,
    progress: TextIO | None = None,
    page_size: int = 1000,
) -> BackfillReport:
    """Enqueue every frame under `source` (``s3://bucket/prefix``) for pregeneration.

    Parameters
    ----------
    s3 : botocore client
        Lists the data bucket.
    enqueuer : Enqueuer or None
        None for a dry run (count only).
    suffixes : sequence of str
        File name endings that are frames (case-sensitive, as the handler's check); keys
        whose last segment has no extension are enqueued too (older archive layouts).
    region : str
        Written into the messages as S3 would.
    start_after, limit
        Resume after a key; stop after `limit` frames.
    progress : text stream, optional
        Where a progress line is written every 1000 objects and at the end (stderr).
    page_size : int
        Keys per ListObjectsV2 call (1000, S3's maximum).

    Returns
    -------
    BackfillReport
    """
    bucket, prefix = parse_s3_url(source)
    progress = progress if progress is not None else sys.stderr
    report = BackfillReport(source=source, dry_run=enqueuer is None)
    batch: list[tuple[str, str]] = []
    for item in list_objects(s3, bucket, prefix, start_after=start_after, page_size=page_size):
        if limit is not None and report.matched >= limit:
            break
        report.listed += 1
        key = item["Key"]
        report.last_key = key
        if report.listed % 1000 == 0:
            _progress(report, progress)
        # The archive's older layouts name frames without an extension; the handler tells
        # those (and FITS bytes under any name it is sent) by their Content-Type or bytes.
        if not (named_as_fits(key, suffixes) or has_no_extension(key)):
            continue
        report.matched += 1
        if enqueuer is not None:
            etag = normalise_etag(item.get("ETag"))
            batch.append((key, notification_body(bucket, key, item.get("Size", 0), etag, region)))
            if len(batch) == BATCH_SIZE:
                enqueuer.send(batch, report)
                batch = []
    if batch and enqueuer is not None:
        enqueuer.send(batch, report)
    _progress(report, progress)
    return report


def _progress(report: BackfillReport, stream: TextIO) -> None:
    done = "counted" if report.dry_run else "enqueued"
    count = report.matched if report.dry_run else report.enqueued
    print(
        f"backfill: {report.listed} objects listed, {count} frames {done}, "
        f"{len(report.failed)} failed (last key: {report.last_key})",
        file=stream,
        flush=True,
    )


def _queue_region(queue_url: str) -> str | None:
    match = _QUEUE_REGION_RE.match(queue_url)
    return match.group(1) if match else None


def run(args: argparse.Namespace) -> int:
    """Run the backfill; exit status 0 when every frame was enqueued, 1 otherwise."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from .settings import Settings

    parse_s3_url(args.source)  # refuse a bad URL before touching AWS
    if not args.dry_run and not args.queue_url:
        raise InvalidParameter("--queue-url", "required unless --dry-run")
    if args.limit is not None and args.limit < 1:
        raise InvalidParameter("--limit", "must be at least 1")
    suffixes = tuple(args.suffixes or Settings.from_env().pregenerate_suffixes)

    s3 = boto3.client("s3", endpoint_url=args.endpoint_url)
    region = s3.meta.region_name or "us-east-1"
    enqueuer = None
    if not args.dry_run:
        sqs = boto3.client(
            "sqs",
            endpoint_url=args.endpoint_url,
            region_name=_queue_region(args.queue_url) or region,
        )
        try:  # a wrong queue URL fails once, here, not once per batch
            sqs.get_queue_attributes(QueueUrl=args.queue_url, AttributeNames=["QueueArn"])
        except (ClientError, BotoCoreError) as error:
            code = (
                error.response.get("Error", {}).get("Code", "unknown")
                if isinstance(error, ClientError)
                else str(error)
            )
            raise StorageError(f"the queue {args.queue_url} is not usable: {code}") from None
        enqueuer = Enqueuer(sqs, args.queue_url)

    report = backfill(
        s3,
        enqueuer,
        args.source,
        suffixes=suffixes,
        region=region,
        start_after=args.start_after,
        limit=args.limit,
    )
    for key, reason in report.failed:
        print(f"backfill: not enqueued: {key} ({reason})", file=sys.stderr)
    print(report.summary())
    return 1 if report.failed else 0
