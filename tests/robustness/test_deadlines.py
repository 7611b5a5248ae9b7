"""The function answers before Lambda stops it, whatever the archive, the download or S3 do.

A 5 s function timeout (the test's Lambda context counts down a real clock) against real
local HTTP servers that trickle bytes or never answer: the caller gets our JSON error in
under 5 s, the function's timeout being the contract. Pregeneration reports the records it
could not finish or start as batch item failures, before its timeout.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import boto3
import pytest
import responses
from moto import mock_aws

from tests.conftest import FakeLambdaContext, load_event
from tests.support.api_support import (
    ARCHIVE,
    BUCKET,
    FRAME_ID,
    ApiWorld,
    body_json,
    frame_record,
    header,
)
from tests.support.slow_servers import FRAMINGS, SlowServer
from thumbnails import api, pregenerate
from thumbnails.deadline import ANSWER_MARGIN
from thumbnails.service import RENDER_RESERVE

FUNCTION_TIMEOUT = 5.0


@dataclass
class TimedContext(FakeLambdaContext):
    """A Lambda context whose remaining time runs down from `timeout_s`, as Lambda's does."""

    timeout_s: float = FUNCTION_TIMEOUT
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - self.elapsed()) * 1000))

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def _invoke_api(context: TimedContext) -> dict:
    return api.handler(load_event("api-frame-id.json"), context)


# --------------------------------------------------------------------------- the API
def test_an_archive_that_trickles_its_answer_is_a_json_504_before_the_timeout(monkeypatch):
    trickle = SlowServer("trickle", content_type="application/json", declared_length=100_000)
    with trickle, mock_aws():
        # Retries and the archive's own 10 s timeout as deployed: only the deadline can stop it.
        for name, value in {
            "ARCHIVE_API_URL": trickle.url,
            "THUMBNAIL_BUCKET": BUCKET,
            "DOWNLOAD_RETRIES": "2",
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("STORAGE_URL", raising=False)
        api.get_service.cache_clear()
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        context = TimedContext()
        response = _invoke_api(context)
        elapsed = context.elapsed()
        api.get_service.cache_clear()

    assert response["statusCode"] == 504
    assert "Timeout" in body_json(response)["message"]
    assert elapsed < FUNCTION_TIMEOUT
    # It was the archive's slowness that was cut short: asked, and sending when stopped.
    assert trickle.requests == [("GET", f"/frames/{FRAME_ID}/")]
    assert trickle.bytes_sent > 0


def test_a_frame_download_that_trickles_is_a_json_504_before_the_timeout(monkeypatch):
    with (
        SlowServer("trickle") as trickle,
        ApiWorld.started(monkeypatch, DOWNLOAD_RETRIES="2", DOWNLOAD_TIMEOUT="60") as world,
    ):
        world.archive.add_passthru(trickle.url)
        record = frame_record(url=f"{trickle.url}frame.fits.fz?X-Amz-Signature=s")
        world.archive.get(f"{ARCHIVE}frames/{FRAME_ID}/", json=record)
        context = TimedContext()
        response = world.invoke(context=context)
        elapsed = context.elapsed()

    assert response["statusCode"] == 504
    assert body_json(response) == {"message": "Timeout while downloading the frame file"}
    assert elapsed < FUNCTION_TIMEOUT
    assert [method for method, _path in trickle.requests] == ["GET"]
    assert 0 < trickle.bytes_sent < trickle.declared_length


# However the server frames its answer, the deadline cuts it off. An answer that ends its
# connection (``Connection: close``, HTTP/1.0, a body until the close) takes the socket away
# from its connection while the body is read: the watchdog must hold the socket itself.
# The lookup gets 4 s of it, ANSWER_MARGIN the rest: room for building the service on a
# loaded machine, so that the lookup, not the time left before it, is what times out.
SHORT_TIMEOUT = 5.0


def _archive_world(monkeypatch, archive_url: str):
    """The API with `archive_url` as the archive, retries and timeouts as deployed."""
    for name, value in {
        "ARCHIVE_API_URL": archive_url,
        "THUMBNAIL_BUCKET": BUCKET,
        "DOWNLOAD_RETRIES": "2",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("STORAGE_URL", raising=False)
    api.get_service.cache_clear()


@pytest.mark.parametrize("framing", sorted(FRAMINGS))
def test_an_archive_answer_that_trickles_is_cut_off_however_it_is_framed(monkeypatch, framing):
    trickle = SlowServer(
        "trickle", content_type="application/json", declared_length=100_000, **FRAMINGS[framing]
    )
    with trickle, mock_aws():
        _archive_world(monkeypatch, trickle.url)
        context = TimedContext(timeout_s=SHORT_TIMEOUT)
        response = _invoke_api(context)
        elapsed = context.elapsed()
        # Cut off by the function (the server notices at its next byte), not given up on
        # by the server after its 15 s.
        cut_off = trickle.client_hung_up.wait(5)
        api.get_service.cache_clear()

    assert response["statusCode"] == 504
    assert body_json(response) == {
        "message": f"Timeout while looking up frame {FRAME_ID} in the archive"
    }
    assert elapsed < SHORT_TIMEOUT
    assert cut_off
    assert trickle.requests == [("GET", f"/frames/{FRAME_ID}/")]  # no retry of a slow archive
    assert trickle.bytes_sent > 0


@pytest.mark.parametrize("protocol", ["HTTP/1.1", "HTTP/1.0"])
def test_an_archive_answer_whose_headers_trickle_is_cut_off(monkeypatch, protocol):
    trickle = SlowServer("trickle-headers", declared_length=100_000, protocol=protocol)
    with trickle, mock_aws():
        _archive_world(monkeypatch, trickle.url)
        context = TimedContext(timeout_s=SHORT_TIMEOUT)
        response = _invoke_api(context)
        elapsed = context.elapsed()
        cut_off = trickle.client_hung_up.wait(5)
        api.get_service.cache_clear()

    assert response["statusCode"] == 504
    assert elapsed < SHORT_TIMEOUT
    assert cut_off


@pytest.mark.parametrize("framing", sorted(FRAMINGS))
def test_an_https_frame_download_that_trickles_is_cut_off_however_it_is_framed(
    monkeypatch, framing
):
    # Presigned frame URLs are HTTPS: the socket to watch is the TLS one. The download gets
    # what is left after RENDER_RESERVE, 1 s here.
    timeout = ANSWER_MARGIN + RENDER_RESERVE + 1.0
    with (
        SlowServer("trickle", tls=True, **FRAMINGS[framing]) as trickle,
        ApiWorld.started(monkeypatch, DOWNLOAD_RETRIES="2", DOWNLOAD_TIMEOUT="60") as world,
    ):
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", trickle.ca_file)
        world.archive.add_passthru(trickle.url)
        record = frame_record(url=f"{trickle.url}frame.fits.fz?X-Amz-Signature=s")
        world.archive.get(f"{ARCHIVE}frames/{FRAME_ID}/", json=record)
        context = TimedContext(timeout_s=timeout)
        response = world.invoke(context=context)
        elapsed = context.elapsed()
        cut_off = trickle.client_hung_up.wait(5)

    assert response["statusCode"] == 504
    assert body_json(response) == {"message": "Timeout while downloading the frame file"}
    assert elapsed < timeout
    assert cut_off
    assert [method for method, _path in trickle.requests] == ["GET"]
    assert 0 < trickle.bytes_sent < trickle.declared_length


def test_a_stalled_s3_is_a_json_503_before_the_timeout(monkeypatch):
    with SlowServer("stall") as s3, responses.RequestsMock() as archive:
        for name, value in {
            "ARCHIVE_API_URL": ARCHIVE,
            "THUMBNAIL_BUCKET": BUCKET,
            "STORAGE_URL": s3.url,
        }.items():
            monkeypatch.setenv(name, value)
        archive.get(f"{ARCHIVE}frames/{FRAME_ID}/", json=frame_record())
        api.get_service.cache_clear()
        context = TimedContext()
        response = _invoke_api(context)
        elapsed = context.elapsed()
        api.get_service.cache_clear()

    assert response["statusCode"] == 503
    assert body_json(response) == {"message": "Thumbnail cache lookup did not finish in time"}
    assert header(response, "Cache-Control") == "no-store"
    assert elapsed < FUNCTION_TIMEOUT
    assert s3.requests and s3.requests[0][0] == "HEAD"  # the cache lookup reached it


def test_a_stalled_secrets_manager_is_a_json_503_before_the_timeout(monkeypatch):
    # URL_SIGNER=cloudfront: a container's first signature reads the private key from
    # Secrets Manager (real boto3, through AWS_ENDPOINT_URL_SECRETS_MANAGER), which never
    # answers. Two invocations in a row: each answers by its own deadline (each read is cut
    # off when its invocation gives up: tests/integration/test_abandoned_calls.py).
    timeout = 4.0
    cloudfront = {
        "URL_SIGNER": "cloudfront",
        "CLOUDFRONT_DOMAIN": "d111111abcdef8.cloudfront.net",
        "CLOUDFRONT_KEY_PAIR_ID": "K2JCJMDEHXQW5F",
        "CLOUDFRONT_PRIVATE_KEY_SECRET": "thumbnails/cloudfront-private-key",
    }
    with SlowServer("stall") as secrets, ApiWorld.started(monkeypatch, **cloudfront) as world:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", secrets.url)
        world.add_frame()
        answers = []
        for _invocation in range(2):
            context = TimedContext(timeout_s=timeout)
            answers.append((world.invoke(context=context), context.elapsed()))
        asked = list(secrets.requests)

    for response, elapsed in answers:
        assert response["statusCode"] == 503
        assert body_json(response) == {"message": "The URL signing key could not be read in time"}
        assert header(response, "Cache-Control") == "no-store"
        assert elapsed < timeout
    assert asked and set(asked) == {("POST", "/")}  # GetSecretValue reached it


# --------------------------------------------------------------------------- pregeneration
def _sqs_batch(*keys: str, bucket: str = "frames-test", size: int = 1000) -> dict:
    event = load_event("sqs-s3-batch.json")
    template = event["Records"][0]
    body = load_event("eventbridge-object-created.json")
    event["Records"] = []
    for index, key in enumerate(keys):
        record = json.loads(json.dumps(template))
        record["messageId"] = f"message-{index}"
        message = json.loads(json.dumps(body))
        message["detail"]["bucket"]["name"] = bucket
        message["detail"]["object"].update({"key": key, "size": size})
        message["detail"]["object"].pop("etag", None)
        record["body"] = json.dumps(message)
        event["Records"].append(record)
    return event


def test_a_stalled_s3_fails_the_batch_records_before_the_pregeneration_timeout(monkeypatch):
    # Just enough time for the first record to start: its S3 calls get 2 s, the rest none.
    timeout = pregenerate.RECORD_RESERVE + ANSWER_MARGIN + 2.0
    keys = [f"lsc1m005-fa15-20260101-010{i}-e91.fits.fz" for i in range(3)]
    with SlowServer("stall") as s3:
        monkeypatch.setenv("THUMBNAIL_BUCKET", "thumbnails-test")
        monkeypatch.setenv("STORAGE_URL", s3.url)
        pregenerate.reset()
        context = TimedContext(timeout_s=timeout)
        answer = pregenerate.handler(_sqs_batch(*keys), context)
        elapsed = context.elapsed()
        pregenerate.reset()

    failed = sorted(item["itemIdentifier"] for item in answer["batchItemFailures"])
    assert failed == ["message-0", "message-1", "message-2"]  # none dropped
    assert elapsed < timeout
    assert len(s3.requests) == 1  # the first record's first call; the others never started


@pytest.fixture
def frames_s3(monkeypatch):
    monkeypatch.setenv("THUMBNAIL_BUCKET", "thumbnails-test")
    monkeypatch.delenv("STORAGE_URL", raising=False)
    pregenerate.reset()
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket="frames-test")
        client.create_bucket(Bucket="thumbnails-test")
        yield client
    pregenerate.reset()


def test_records_that_cannot_start_in_time_are_reported_failed_untouched(frames_s3):
    from tests.support.fits_factory import reduced_frame_bytes

    key = "lsc1m005-fa15-20260101-0100-e91.fits.fz"
    frames_s3.put_object(
        Bucket="frames-test", Key=key, Body=reduced_frame_bytes((64, 80), compression="RICE_1")
    )
    context = TimedContext(timeout_s=pregenerate.RECORD_RESERVE / 2)
    answer = pregenerate.handler(_sqs_batch(key, key), context)

    assert sorted(i["itemIdentifier"] for i in answer["batchItemFailures"]) == [
        "message-0",
        "message-1",
    ]
    assert frames_s3.list_objects_v2(Bucket="thumbnails-test").get("KeyCount") == 0

    # With the time, the same batch renders.
    answer = pregenerate.handler(_sqs_batch(key, key), TimedContext(timeout_s=300))
    assert answer["batchItemFailures"] == []
    assert frames_s3.list_objects_v2(Bucket="thumbnails-test")["KeyCount"] == 2
