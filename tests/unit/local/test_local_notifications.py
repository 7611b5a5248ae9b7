"""Local mode notices what is written to the data bucket and notifies as S3 would."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import unquote_plus

import boto3
import pytest
from moto import mock_aws

from thumbnails.local.notifications import BucketListing, s3_put_event


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="data")
        yield client


def keys(entries):
    return [entry["Key"] for entry in entries]


def test_new_objects_are_reported_once(s3):
    listing = BucketListing(s3, "data")
    s3.put_object(Bucket="data", Key="a.fits", Body=b"1")

    first = listing.changes()
    second = listing.changes()

    assert (keys(first[0]), first[1]) == (["a.fits"], [])
    assert second == ([], [])


def test_an_overwritten_object_is_reported_again(s3):
    listing = BucketListing(s3, "data")
    s3.put_object(Bucket="data", Key="a.fits", Body=b"1")
    listing.changes()
    s3.put_object(Bucket="data", Key="a.fits", Body=b"2")

    assert keys(listing.changes()[0]) == ["a.fits"]


def test_deleted_objects_are_reported_as_deleted(s3):
    listing = BucketListing(s3, "data")
    s3.put_object(Bucket="data", Key="a.fits", Body=b"1")
    listing.changes()
    s3.delete_object(Bucket="data", Key="a.fits")

    assert listing.changes() == ([], ["a.fits"])


def test_the_event_has_the_shape_of_an_s3_put_notification():
    entry = {
        "Key": "raw/x.fits.fz",
        "ETag": '"0123abcd"',
        "Size": 1024,
        "LastModified": datetime(2026, 3, 16, 2, 41, 7, tzinfo=UTC),
    }

    record = s3_put_event("data", entry, "us-east-1")["Records"][0]

    assert (record["eventSource"], record["eventName"]) == ("aws:s3", "ObjectCreated:Put")
    assert record["eventTime"] == "2026-03-16T02:41:07.000Z"
    assert record["s3"]["bucket"] == {
        "name": "data",
        "ownerIdentity": {"principalId": "LOCAL"},
        "arn": "arn:aws:s3:::data",
    }
    assert record["s3"]["object"]["eTag"] == "0123abcd"
    assert record["s3"]["object"]["size"] == 1024


def test_keys_are_url_encoded_as_s3_encodes_them():
    entry = {"Key": "new dir/a+b.fits", "ETag": '"e"', "Size": 1}

    key = s3_put_event("data", entry, "us-east-1")["Records"][0]["s3"]["object"]["key"]

    assert key == "new+dir/a%2Bb.fits"
    assert unquote_plus(key) == "new dir/a+b.fits"
