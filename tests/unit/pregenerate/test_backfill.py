"""``thumbnails backfill``: list the frames under a prefix, enqueue them for pregeneration."""

from __future__ import annotations

import hashlib
import io
import json

import boto3
import pytest

from tests.support.fits_factory import reduced_frame_bytes
from tests.support.pregenerate_support import (
    DATA_BUCKET,
    DEFAULT_PRESETS,
    cached,
    drain,
    preset_keys,
)
from thumbnails import backfill
from thumbnails.cli import main

FITS_KEYS = [f"raw/2026/frame{i:02d}-e91.fits{'.fz' if i % 2 else ''}" for i in range(13)]
OTHER_KEYS = ["raw/2026/notes.txt", "raw/2026/frame00-e91.fits.gz", "raw/2026/preview.jpg"]
ELSEWHERE = ["processed/frame99-e91.fits"]


def reduced_frame_bytes_md5() -> str:
    """The version of every frame of `archive`: the MD5 of its bytes."""
    return hashlib.md5(reduced_frame_bytes((24, 32))).hexdigest()


@pytest.fixture
def archive(s3):  # the s3 fixture starts moto and creates the buckets
    """13 frames and 3 other files under raw/2026/, one frame under another prefix."""
    data = reduced_frame_bytes((24, 32))
    for key in FITS_KEYS + OTHER_KEYS + ELSEWHERE:
        s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=data)
    return s3


@pytest.fixture
def queue(archive):
    sqs = boto3.client("sqs")
    return sqs, sqs.create_queue(QueueName="thumbnails-pregenerate")["QueueUrl"]


@pytest.fixture
def batches(queue):
    """The number of entries of every SendMessageBatch call."""
    sizes: list[int] = []
    queue[0].meta.events.register(
        "before-call.sqs.SendMessageBatch",
        lambda params, **kwargs: sizes.append(len(json.loads(params["body"])["Entries"])),
    )
    return sizes


def run_backfill(sqs, queue_url, *, source=f"s3://{DATA_BUCKET}/raw/2026/", **kwargs):
    enqueuer = backfill.Enqueuer(sqs, queue_url, sleep=lambda seconds: None)
    return backfill.backfill(
        boto3.client("s3"),
        enqueuer,
        source,
        suffixes=(".fits", ".fits.fz"),
        region="us-east-1",
        progress=io.StringIO(),
        **kwargs,
    )


def queued_keys(sqs, queue_url) -> list[str]:
    keys = []
    for _ in range(10):
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        if not messages:
            break
        for message in messages:
            (record,) = json.loads(message["Body"])["Records"]
            keys.append(record["s3"]["object"]["key"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return sorted(keys)


# --------------------------------------------------------------------------- listing and batching
def test_every_frame_under_the_prefix_is_enqueued_in_batches_of_ten(queue, batches):
    sqs, url = queue
    report = run_backfill(sqs, url)

    assert batches == [10, 3]
    assert queued_keys(sqs, url) == sorted(FITS_KEYS)
    assert (report.listed, report.matched, report.enqueued, report.failed) == (16, 13, 13, [])


def test_listing_follows_every_page(queue):
    sqs, url = queue
    listings = []
    s3_client = boto3.client("s3")
    s3_client.meta.events.register(
        "before-call.s3.ListObjectsV2", lambda params, **kwargs: listings.append(params)
    )
    report = backfill.backfill(
        s3_client,
        backfill.Enqueuer(sqs, url),
        f"s3://{DATA_BUCKET}/raw/2026/",
        suffixes=(".fits", ".fits.fz"),
        region="us-east-1",
        progress=io.StringIO(),
        page_size=5,
    )

    assert len(listings) == 4  # 16 keys, 5 a page
    assert report.enqueued == 13
    assert queued_keys(sqs, url) == sorted(FITS_KEYS)


def test_a_message_is_the_s3_notification_the_handler_consumes(queue, renders, lambda_context):
    sqs, url = queue
    run_backfill(sqs, url)

    assert all(failed == [] for failed in drain(sqs, url, lambda_context))
    version = reduced_frame_bytes_md5()
    expected = set().union(
        *(preset_keys(k.rsplit("/", 1)[1].split(".")[0], version) for k in FITS_KEYS)
    )
    assert set(cached(boto3.client("s3"))) == expected


def test_running_again_is_safe_nothing_is_rendered_twice(queue, renders, lambda_context):
    sqs, url = queue
    run_backfill(sqs, url)
    drain(sqs, url, lambda_context)
    rendered = len(renders["render_frames"])

    report = run_backfill(sqs, url)  # the second run enqueues every frame again...
    drain(sqs, url, lambda_context)

    assert report.enqueued == 13
    assert rendered == 13 * len(DEFAULT_PRESETS)
    assert len(renders["render_frames"]) == rendered  # ...and the handler renders none of them


def test_keys_are_url_encoded_as_s3_encodes_them(queue, archive):
    sqs, url = queue
    archive.put_object(Bucket=DATA_BUCKET, Key="odd/a b/c+d-e91.fits", Body=b"x")
    run_backfill(sqs, url, source=f"s3://{DATA_BUCKET}/odd/")

    assert queued_keys(sqs, url) == ["odd/a+b/c%2Bd-e91.fits"]


def test_frames_of_the_archives_extensionless_layouts_are_enqueued_and_pregenerated(
    queue,
    archive,
    renders,
    lambda_context,
):
    sqs, url = queue
    data = reduced_frame_bytes((24, 32))
    layouts = {
        "old/3f2a/lsc1m005-fa15-20260101-0100-e91": "lsc1m005-fa15-20260101-0100-e91",
        "old/LSC/fa15/20260101/lsc1m005-fa15-20260101-0101-e91": "lsc1m005-fa15-20260101-0101-e91",
    }
    for key in layouts:
        archive.put_object(Bucket=DATA_BUCKET, Key=key, Body=data)
    archive.put_object(Bucket=DATA_BUCKET, Key="old/3f2a/README", Body=b"not a frame")
    archive.put_object(Bucket=DATA_BUCKET, Key="old/3f2a/notes.txt", Body=b"not a frame")

    report = run_backfill(sqs, url, source=f"s3://{DATA_BUCKET}/old/")
    assert (report.listed, report.matched) == (4, 3)  # notes.txt is not a frame by name

    assert all(failed == [] for failed in drain(sqs, url, lambda_context))
    version = hashlib.md5(data).hexdigest()
    expected = set().union(*(preset_keys(basename, version) for basename in layouts.values()))
    assert set(cached(boto3.client("s3"))) == expected  # README was looked at and skipped


def test_start_after_resumes_and_limit_stops(queue):
    sqs, url = queue
    report = run_backfill(sqs, url, start_after=FITS_KEYS[9], limit=2)

    assert queued_keys(sqs, url) == sorted(FITS_KEYS)[10:12]
    assert report.enqueued == 2


def test_a_dry_run_counts_and_sends_nothing(queue, batches):
    sqs, url = queue
    report = backfill.backfill(
        boto3.client("s3"),
        None,
        f"s3://{DATA_BUCKET}/raw/",
        suffixes=(".fits", ".fits.fz"),
        region="us-east-1",
        progress=io.StringIO(),
    )

    assert batches == []
    assert report.matched == 13
    assert "13 frames would be enqueued (dry run" in report.summary()


# --------------------------------------------------------------------------- failures
class FlakySQS:
    """The real (moto) client, except SQS refuses some entries: first transiently, or always."""

    def __init__(self, sqs, *, transient: set[str], permanent: set[str]):
        self.sqs = sqs
        self.transient = set(transient)
        self.permanent = permanent
        self.calls = []

    def send_message_batch(self, QueueUrl, Entries):  # noqa: N803 - boto3's names
        self.calls.append([e["Id"] for e in Entries])
        refused = []
        for entry in Entries:
            key = json.loads(entry["MessageBody"])["Records"][0]["s3"]["object"]["key"]
            if key in self.permanent:
                refused.append(
                    {"Id": entry["Id"], "SenderFault": True, "Code": "InvalidMessageContents"}
                )
            elif key in self.transient:
                self.transient.discard(key)
                refused.append({"Id": entry["Id"], "SenderFault": False, "Code": "InternalError"})
        refused_ids = {r["Id"] for r in refused}
        accepted = [e for e in Entries if e["Id"] not in refused_ids]
        if accepted:
            self.sqs.send_message_batch(QueueUrl=QueueUrl, Entries=accepted)
        return {"Successful": [{"Id": e["Id"]} for e in accepted], "Failed": refused}


def test_entries_sqs_refuses_are_retried_or_reported(queue):
    sqs, url = queue
    flaky = FlakySQS(sqs, transient={FITS_KEYS[1], FITS_KEYS[2]}, permanent={FITS_KEYS[3]})
    report = backfill.backfill(
        boto3.client("s3"),
        backfill.Enqueuer(flaky, url, sleep=lambda seconds: None),
        f"s3://{DATA_BUCKET}/raw/2026/",
        suffixes=(".fits", ".fits.fz"),
        region="us-east-1",
        progress=io.StringIO(),
    )

    assert queued_keys(sqs, url) == sorted(set(FITS_KEYS) - {FITS_KEYS[3]})
    assert report.failed == [(FITS_KEYS[3], "InvalidMessageContents")]
    assert report.retried == 2
    assert flaky.calls[1] == ["1", "2"]  # only the refused entries were sent again


def test_a_batch_that_keeps_failing_is_reported_after_the_retries(queue):
    sqs, url = queue
    report = run_backfill(sqs, url + "-gone")

    assert report.enqueued == 0
    assert len(report.failed) == 13
    assert report.failed[0][1].startswith("SendMessageBatch failed: ")


# --------------------------------------------------------------------------- command line
def test_the_command_enqueues_and_prints_progress_and_a_summary(queue, capsys):
    sqs, url = queue
    status = main(["backfill", f"s3://{DATA_BUCKET}/raw/2026", "--queue-url", url])

    out, err = capsys.readouterr()
    assert status == 0
    assert out == (
        f"s3://{DATA_BUCKET}/raw/2026: 16 objects listed, 13 of 13 frames enqueued in 2 "
        "batches, 3 skipped (not frames by name), 0 failed\n"
    )
    assert "backfill: 16 objects listed, 13 frames enqueued, 0 failed" in err
    assert len(queued_keys(sqs, url)) == 13


def test_the_command_dry_run_needs_no_queue(archive, capsys):
    status = main(["backfill", f"s3://{DATA_BUCKET}/raw/", "--dry-run", "--suffix", ".fits"])

    assert status == 0
    assert "7 frames would be enqueued" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["backfill", "bucket/prefix", "--queue-url", "q"], "expected s3://BUCKET/PREFIX"),
        (["backfill", f"s3://{DATA_BUCKET}/raw/"], "--queue-url: required unless --dry-run"),
        (["backfill", "s3://no-such-bucket/", "--dry-run"], "NoSuchBucket"),
        (
            [
                "backfill",
                f"s3://{DATA_BUCKET}/",
                "--queue-url",
                "https://sqs.us-east-1.amazonaws.com/123456789012/nope",
            ],
            "is not usable",
        ),
    ],
)
def test_a_usage_or_aws_error_is_one_line_and_exit_status_2(archive, capsys, argv, message):
    status = main(argv)

    err = capsys.readouterr().err
    assert status == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("url", "parts"),
    [
        ("s3://bucket", ("bucket", "")),
        ("s3://bucket/", ("bucket", "")),
        ("s3://bucket/raw/2026/", ("bucket", "raw/2026/")),
        ("s3://bucket/raw/lsc", ("bucket", "raw/lsc")),
    ],
)
def test_an_s3_url_is_a_bucket_and_a_key_prefix(url, parts):
    assert backfill.parse_s3_url(url) == parts
