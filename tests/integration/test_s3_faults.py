"""Real S3 behaviour moto does not have, through `tests.support.faulty_s3.FaultyS3` (issue 23).

moto's ``ThreadedMotoServer`` is S3, reached over HTTP through the fault-injecting proxy
(``STORAGE_URL`` is the proxy): S3's 409 ``ConditionalRequestConflict`` on a conditional
write racing another write, a listing that stalls until the caller gave up, a frame body that
trickles. The API and pregeneration run their Lambda handlers (or, where the test must move
the invocation's clock, `Pregenerator.pregenerate` with a `Deadline` on a test clock).
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
import urllib.request
from collections.abc import Iterator

import boto3
import pytest
from PIL import Image

from tests.support.api_support import BASENAME, BUCKET, ApiWorld, body_json
from tests.support.faulty_s3 import FaultyS3, Request
from tests.support.fits_factory import reduced_frame_bytes
from tests.support.moto_http import moto_server
from tests.support.pregenerate_support import DATA_BUCKET, LambdaContext, s3_put_event, sqs_event
from thumbnails import pregenerate
from thumbnails.cache_keys import SUPERSEDED, thumbnail_key
from thumbnails.deadline import Deadline
from thumbnails.params import ThumbnailParams

pytestmark = pytest.mark.integration

KEY = f"raw/{BASENAME}.fits.fz"
PRESETS = (ThumbnailParams(), ThumbnailParams(width=1000, height=1000))
#: Generous bounds on waiting for something a fixed build does at once; a broken one never.
WAIT = 30.0


@pytest.fixture
def upstream() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def proxy(upstream) -> Iterator[FaultyS3]:
    with FaultyS3(upstream) as proxy:
        yield proxy


@pytest.fixture
def world(monkeypatch, proxy) -> Iterator[ApiWorld]:
    """The API's and pregeneration's S3 is the proxy; the data bucket exists."""
    with ApiWorld.started(monkeypatch, s3_endpoint=proxy.endpoint) as world:
        pregenerate.reset()
        world.s3.create_bucket(Bucket=DATA_BUCKET)
        yield world
    pregenerate.reset()


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (127.0.0.1 only)
        assert response.status == 200
        return response.read()


def _thumbnail_put(request: Request) -> bool:
    return request.is_object_put and request.bucket == BUCKET


def _upload(world: ApiWorld, data: bytes) -> str:
    return world.s3.put_object(Bucket=DATA_BUCKET, Key=KEY, Body=data)["ETag"].strip('"')


def _frame(seed: int) -> bytes:
    return reduced_frame_bytes((64, 80), compression="RICE_1", catalog_seed=seed, seed=seed)


# --------------------------------------------------------------------------- 409
def test_a_write_racing_another_is_retried_and_the_image_served(world, proxy):
    conflicts = proxy.conflict(_thumbnail_put, times=2)
    world.add_frame()

    response = world.invoke("api-frame-id.json")

    assert response["statusCode"] == 200, response["body"]
    assert len(conflicts.seen) == 2
    Image.open(io.BytesIO(_fetch(body_json(response)["url"]))).verify()


def test_after_a_conflict_the_other_writers_object_is_served(world, proxy, upstream):
    # While our write was refused with 409, another worker stored the same key: the retry is
    # answered 412, and the link names the object that is there.
    theirs = b"the other writer's thumbnail"

    def another_writer_stores_it(request: Request) -> None:
        s3 = boto3.client("s3", endpoint_url=upstream)
        s3.put_object(Bucket=BUCKET, Key=request.key, Body=theirs, ContentType="image/jpeg")

    proxy.conflict(_thumbnail_put, before=another_writer_stores_it)
    world.add_frame()

    response = world.invoke("api-frame-id.json")

    assert response["statusCode"] == 200, response["body"]
    assert _fetch(body_json(response)["url"]) == theirs


def test_pregeneration_retries_a_write_racing_another(world, proxy):
    conflicts = proxy.conflict(_thumbnail_put, times=2)
    version = _upload(world, _frame(1))

    response = pregenerate.handler(sqs_event(s3_put_event(KEY, etag=version)), LambdaContext())

    assert response == {"batchItemFailures": []}
    assert len(conflicts.seen) == 2
    for params in PRESETS:
        assert world.s3.head_object(Bucket=BUCKET, Key=thumbnail_key(BASENAME, version, params))


def test_a_cache_that_keeps_throttling_is_a_503(world, proxy):
    # botocore retries SlowDown itself (retries max_attempts=3: four attempts in all); then
    # the API answers 503 JSON.
    slow = proxy.fail(
        lambda r: r.method == "HEAD" and r.bucket == BUCKET, status=503, code="SlowDown", times=4
    )
    world.add_frame()

    response = world.invoke("api-frame-id.json")

    assert response["statusCode"] == 503
    assert len(slow.seen) == 4
    assert body_json(response)["message"] == "Thumbnail cache lookup failed: 503"


# --------------------------------------------------------------------------- after the deadline
def _deadline_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "deadline-call"]


def _join_abandoned_calls(before: set[threading.Thread]) -> None:
    """Wait for the calls given up on since `before` to end; fail if one does not."""
    for thread in set(_deadline_threads()) - before:
        thread.join(WAIT)
    assert set(_deadline_threads()) - before == set()


def test_a_read_given_up_on_stops_and_hangs_up(world, proxy, monkeypatch):
    # The frame's header arrives a byte every half second; pregeneration gives the read one
    # second (DOWNLOAD_TIMEOUT) and fails the record (retried). The abandoned read must not
    # go on reading (and holding the bytes) while the next record downloads.
    monkeypatch.setenv("DOWNLOAD_TIMEOUT", "1")
    pregenerate.reset()
    calls = set(_deadline_threads())
    version = _upload(world, _frame(1))
    trickle = proxy.trickle(
        lambda r: r.method == "GET" and r.bucket == DATA_BUCKET and "range" in r.headers
    )

    response = pregenerate.handler(sqs_event(s3_put_event(KEY, etag=version)), LambdaContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
    assert trickle.closed_early.wait(WAIT)  # the client hung up mid-body
    _join_abandoned_calls(calls)


def test_a_late_marking_cannot_mark_what_appeared_after_its_caller_gave_up(world, proxy):
    # v2's worker lists the frame's thumbnails to mark the other versions'; the listing stalls
    # past the invocation's deadline (the clock jumps when it arrives) and the worker gives
    # up. Meanwhile v3 is uploaded and pregenerated. Then the stalled listing goes through,
    # naming v3's thumbnails: nothing may act on it.
    _upload_and_pregenerate = _pregenerated(world)
    v1 = _upload_and_pregenerate(_frame(1))
    calls = set(_deadline_threads())
    offset = [0.0]

    def clock() -> float:
        return time.monotonic() + offset[0]

    def invocation_ends(_request: Request) -> None:
        offset[0] = 1000.0

    listing = proxy.hold(lambda r: r.is_listing and r.bucket == BUCKET, on_arrival=invocation_ends)
    v2 = _upload(world, _frame(2))
    outcome = pregenerate.resources().pregenerator.pregenerate(
        pregenerate.ObjectCreated(DATA_BUCKET, KEY, v2), Deadline(clock() + 100, clock=clock)
    )
    assert len(outcome.rendered) == 2
    assert listing.arrived.is_set()

    v3 = _upload_and_pregenerate(_frame(3))
    listing.release()
    _join_abandoned_calls(calls)

    for version, superseded in ((v1, True), (v2, True), (v3, False)):
        for params in PRESETS:
            key = thumbnail_key(BASENAME, version, params)
            head = world.s3.head_object(Bucket=BUCKET, Key=key)  # nothing was deleted
            assert (SUPERSEDED in head["Metadata"]) is superseded, (version, key)


def _pregenerated(world: ApiWorld):
    def upload_and_pregenerate(data: bytes) -> str:
        version = _upload(world, data)
        assert version == hashlib.md5(data).hexdigest()
        response = pregenerate.handler(s3_put_event(KEY, etag=version), LambdaContext())
        assert len(response["results"][0]["rendered"]) == 2
        return version

    return upload_and_pregenerate


def test_a_version_uploaded_while_the_others_are_listed_is_not_marked(world, proxy):
    # v2's worker lists the frame's thumbnails; while the listing is under way v3 is uploaded
    # and pregenerated, so the listing names v3's thumbnails too. v2's worker must then see
    # that the object is no longer v2 and mark nothing; v3's own worker marks v1's and v2's.
    upload_and_pregenerate = _pregenerated(world)
    v1 = upload_and_pregenerate(_frame(1))
    v3 = []

    def v3_arrives(_request: Request) -> None:
        v3.append(upload_and_pregenerate(_frame(3)))

    listing = proxy.hold(lambda r: r.is_listing and r.bucket == BUCKET, on_arrival=v3_arrives)
    listing.release()  # not held: only v3_arrives runs before it is forwarded
    v2 = _upload(world, _frame(2))
    response = pregenerate.handler(s3_put_event(KEY, etag=v2), LambdaContext())

    assert len(response["results"][0]["rendered"]) == 2
    assert listing.arrived.is_set() and len(v3) == 1
    for version, superseded in ((v1, True), (v2, True), (v3[0], False)):
        for params in PRESETS:
            key = thumbnail_key(BASENAME, version, params)
            head = world.s3.head_object(Bucket=BUCKET, Key=key)
            assert (SUPERSEDED in head["Metadata"]) is superseded, (version, key)
