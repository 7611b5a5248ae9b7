"""What backfill and local mode send is what pregeneration reads: one S3 event, both ways."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aws_lambda_powertools.utilities.data_classes import SQSRecord

from tests.conftest import load_event
from thumbnails.backfill import notification_body
from thumbnails.local.notifications import s3_put_event
from thumbnails.s3_events import ObjectCreated, objects_created, objects_in_message

#: Keys S3 URL-encodes in its notifications: spaces, a plus, a percent sign, non-ASCII.
KEYS = [
    "coj/ep02/20260315/processed/coj2m002-ep02-20260315-0010-e91.fits.fz",
    "new dir/a+b%20c.fits",
    "ünïcode/frame one.fits",
]
ETAG = "9b2cf535f27731c974343645a3985328"


def _message(body: str) -> SQSRecord:
    """An SQS record (events/sqs-s3-batch.json) carrying `body`, as Lambda hands it over."""
    record = load_event("sqs-s3-batch.json")["Records"][0]
    return SQSRecord({**record, "body": body})


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("etag", [ETAG, f"{ETAG}-3", None])
def test_a_backfill_message_is_read_back_as_the_object_it_names(key, etag):
    body = notification_body("frames", key, 10368000, etag, "us-west-2")

    assert objects_in_message(_message(body)) == [ObjectCreated("frames", key, etag, 10368000)]


@pytest.mark.parametrize("key", KEYS)
def test_a_local_notification_is_read_back_as_the_object_it_names(key):
    entry = {
        "Key": key,
        "ETag": f'"{ETAG}"',  # quoted, as list_objects_v2 gives it
        "Size": 2048,
        "LastModified": datetime(2026, 3, 16, 2, 41, 7, tzinfo=UTC),
    }

    event = s3_put_event("frames-local", entry, "us-east-1")

    assert objects_created(event) == [ObjectCreated("frames-local", key, ETAG, 2048)]
