"""Pregeneration inside Lambda's memory: frames refused by size before anything is read,
batch mates isolated from a frame too large, and the default cap from the function's memory.

Real boto3 against moto, the real renderer, EventBridge events (they carry the object size).
"""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from tests.conftest import load_event
from tests.support.fits_factory import reduced_frame_bytes
from thumbnails import pregenerate
from thumbnails.settings import (
    MEMORY_PER_DOWNLOAD_BYTE,
    MEMORY_RESERVED_MB,
    UNBOUNDED_MAX_DOWNLOAD_BYTES,
    Settings,
    derived_max_download_bytes,
)

DATA = "frames-test"
CACHE = "thumbnails-test"


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("THUMBNAIL_BUCKET", CACHE)
    monkeypatch.delenv("STORAGE_URL", raising=False)
    pregenerate.reset()
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=DATA)
        client.create_bucket(Bucket=CACHE)
        yield client
    pregenerate.reset()


def watch_reads() -> list[str]:
    """The keys pregeneration GETs from S3 from now on (a hook on its current client)."""
    keys: list[str] = []

    def record(params, **_kwargs):
        if params.get("Bucket") == DATA:
            keys.append(params["Key"])

    pregenerate.resources().pregenerator.s3.meta.events.register(
        "provide-client-params.s3.GetObject", record
    )
    return keys


def eventbridge_batch(*objects: tuple[str, int]) -> dict:
    """An SQS batch of EventBridge "Object Created" events for (key, declared size)."""
    event = load_event("sqs-s3-batch.json")
    template = event["Records"][0]
    event["Records"] = []
    for index, (key, size) in enumerate(objects):
        body = load_event("eventbridge-object-created.json")
        body["detail"]["bucket"]["name"] = DATA
        body["detail"]["object"].update({"key": key, "size": size})
        body["detail"]["object"].pop("etag")
        record = json.loads(json.dumps(template))
        record["messageId"] = f"message-{index}"
        record["body"] = json.dumps(body)
        event["Records"].append(record)
    return event


def put(s3, key: str) -> int:
    data = reduced_frame_bytes((48, 64), compression="RICE_1")
    s3.put_object(Bucket=DATA, Key=key, Body=data)
    return len(data)


def cached_basenames(s3) -> set[str]:
    listing = s3.list_objects_v2(Bucket=CACHE).get("Contents", [])
    return {item["Key"].split("/")[0] for item in listing}


# --------------------------------------------------------------------------- by size
def test_a_frame_the_event_says_is_too_large_fails_without_a_byte_read(
    s3, monkeypatch, lambda_context
):
    monkeypatch.setenv("MAX_DOWNLOAD_BYTES", "5000")
    pregenerate.reset()
    reads = watch_reads()
    size = put(s3, "big-e91.fits.fz")
    assert size > 5000
    answer = pregenerate.handler(eventbridge_batch(("big-e91.fits.fz", size)), lambda_context)

    assert answer["batchItemFailures"] == [{"itemIdentifier": "message-0"}]
    assert reads == []  # not even the header


def test_a_frame_too_large_fails_alone_and_its_batch_mates_are_rendered(
    s3, monkeypatch, lambda_context
):
    small = [put(s3, f"small{i}-e91.fits.fz") for i in range(2)]
    monkeypatch.setenv("MAX_DOWNLOAD_BYTES", str(max(small)))
    pregenerate.reset()
    batch = eventbridge_batch(
        ("small0-e91.fits.fz", small[0]),
        ("huge-e91.fits.fz", 10 * 1024**3),  # the event's word: never fetched
        ("small1-e91.fits.fz", small[1]),
    )
    answer = pregenerate.handler(batch, lambda_context)

    assert answer["batchItemFailures"] == [{"itemIdentifier": "message-1"}]
    assert cached_basenames(s3) == {"small0-e91", "small1-e91"}


def test_a_batch_is_processed_smallest_frame_first(s3, lambda_context):
    reads = watch_reads()
    sizes = {}
    for name in ("b-e91.fits.fz", "a-e91.fits.fz", "c-e91.fits.fz"):
        sizes[name] = put(s3, name)
    declared = {"b-e91.fits.fz": 3_000_000, "a-e91.fits.fz": 1_000, "c-e91.fits.fz": 20_000}
    batch = eventbridge_batch(*declared.items())
    batch["Records"].append(dict(batch["Records"][0], messageId="unsized", body="not json"))

    answer = pregenerate.handler(batch, lambda_context)

    assert answer["batchItemFailures"] == [{"itemIdentifier": "unsized"}]
    # Each frame is read (header, then whole) before the next one starts.
    order = list(dict.fromkeys(reads))
    assert order == ["a-e91.fits.fz", "c-e91.fits.fz", "b-e91.fits.fz"]


def test_records_without_a_size_go_after_those_with_one():
    sized = {"messageId": "sized", "body": json.dumps(_bridge("x.fits", 10**9))}
    unsized = {"messageId": "unsized", "body": json.dumps(_bridge("y.fits", None))}
    unreadable = {"messageId": "unreadable", "body": "{"}
    ordered = pregenerate.processing_order([unsized, sized, unreadable])
    assert [r["messageId"] for r in ordered] == ["unreadable", "sized", "unsized"]


def _bridge(key: str, size: int | None) -> dict:
    body = load_event("eventbridge-object-created.json")
    body["detail"]["object"]["key"] = key
    if size is None:
        del body["detail"]["object"]["size"]
    else:
        body["detail"]["object"]["size"] = size
    return body


# --------------------------------------------------------------------------- the default cap
def test_the_default_download_cap_follows_the_functions_memory():
    env = {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769"}
    cap = Settings.from_env(env).max_download_bytes
    assert cap == derived_max_download_bytes(1769)
    # What the cap leaves room for, at the measured factor, fits the function.
    assert cap * MEMORY_PER_DOWNLOAD_BYTE / 2**20 + MEMORY_RESERVED_MB <= 1769
    assert Settings.from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "3538"}).max_download_bytes > cap


def test_an_explicit_download_cap_wins_over_the_memory():
    env = {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769", "MAX_DOWNLOAD_BYTES": "123456"}
    assert Settings.from_env(env).max_download_bytes == 123456


def test_without_a_memory_size_the_cap_is_the_fixed_default():
    assert Settings.from_env({}).max_download_bytes == UNBOUNDED_MAX_DOWNLOAD_BYTES
    assert Settings.from_env({"MAX_DOWNLOAD_BYTES": " "}).max_download_bytes == (
        UNBOUNDED_MAX_DOWNLOAD_BYTES
    )


def test_a_tiny_function_still_gets_a_usable_cap():
    assert derived_max_download_bytes(128) == 2**20


def test_a_read_abandoned_as_it_ends_is_let_go_quietly():
    # Found by the contract test: the deadline passed just as a source read finished (or its
    # socket had been handed over or shut already); urllib3's shutdown() then raises
    # ValueError ("Cannot shutdown socket"), which pregeneration logged as a crash.
    import io

    from botocore.response import StreamingBody
    from urllib3.response import HTTPResponse

    from thumbnails.source_objects import _Reading

    data = b"SIMPLE  =                    T" * 10
    raw = HTTPResponse(body=io.BytesIO(data), preload_content=False)
    reading = _Reading()
    assert reading.read(StreamingBody(raw, len(data))) == data
    reading.abandon()  # no socket left to shut: nothing to do, nothing raised
