"""A boto3 call given up on at the deadline is cut off, and nothing of it reaches S3 after.

Real boto3 against real local servers that stall (`tests.support.slow_servers.SlowServer`, or moto
behind `tests.support.faulty_s3.FaultyS3` holding one request): the handler answers 503 at its
deadline, the server sees the client hang up, and once the abandoned call's thread has ended
no further request has arrived (no retry, no new exchange). Before `abandoned_calls` the
exchange stayed open until botocore's ``read_timeout`` and botocore then retried it, after
the answer (in Lambda: in the next invocation, once the container thaws).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import pytest
import responses

from tests.conftest import load_event
from tests.robustness.test_deadlines import TimedContext
from tests.support.api_support import ARCHIVE, BUCKET, FRAME_ID, ApiWorld, body_json, frame_record
from tests.support.faulty_s3 import FaultyS3, Request
from tests.support.moto_http import moto_server
from tests.support.slow_servers import SlowServer
from thumbnails import api
from thumbnails.abandoned_calls import watch
from thumbnails.url_signing import SECRET_READ_TIMEOUT_S

pytestmark = pytest.mark.integration

#: The function's timeout in these tests: its deadline (less the answer margin) comes during
#: the stalled call.
TIMEOUT = 5.0
#: The stalling servers keep a connection this long unless the client hangs up: longer
#: than any wait here, so a hang-up they see is the client's.
STALL = 120.0
#: Bound on waiting for a thread a fixed build ends at once (a broken one only after
#: botocore's timeouts and retries).
WAIT = 60.0
CLOUDFRONT = {
    "URL_SIGNER": "cloudfront",
    "CLOUDFRONT_DOMAIN": "d111111abcdef8.cloudfront.net",
    "CLOUDFRONT_KEY_PAIR_ID": "K2JCJMDEHXQW5F",
    "CLOUDFRONT_PRIVATE_KEY_SECRET": "thumbnails/cloudfront-private-key",
}


def _threads(name: str) -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == name}


def _join_new(name: str, before: set[threading.Thread]) -> None:
    """Wait for the threads called `name` started since `before` to end; fail if one lives."""
    for thread in _threads(name) - before:
        thread.join(WAIT)
    assert _threads(name) - before == set(), f"an abandoned {name} thread is still running"


def _read_timeout() -> float:
    """The S3 client's own read timeout: a hang-up before it is the abandonment's."""
    return float(api.get_service().store.s3.meta.config.read_timeout)


@contextlib.contextmanager
def _api_with_s3_at(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> Iterator[None]:
    """The API's settings with S3 at `endpoint` (a stalling server), the archive mocked."""
    for name, value in {
        "ARCHIVE_API_URL": ARCHIVE,
        "THUMBNAIL_BUCKET": BUCKET,
        "STORAGE_URL": endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    with responses.RequestsMock() as archive:
        archive.get(f"{ARCHIVE}frames/{FRAME_ID}/", json=frame_record())
        api.get_service.cache_clear()
        try:
            yield
        finally:
            api.get_service.cache_clear()


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_a_stalled_cache_lookup_is_cut_off_at_the_answer_and_not_retried(monkeypatch, tls):
    # Over HTTPS (as S3 is reached) the TLS socket is the one noted and shut down.
    calls = _threads("deadline-call")
    with (
        SlowServer("stall", give_up_after=STALL, tls=tls) as s3,
        _api_with_s3_at(monkeypatch, s3.url),
    ):
        if tls:
            monkeypatch.setenv("AWS_CA_BUNDLE", s3.ca_file)
        read_timeout = _read_timeout()
        response = api.handler(load_event("api-frame-id.json"), TimedContext(timeout_s=TIMEOUT))
        answered = time.monotonic()
        assert response["statusCode"] == 503, response["body"]
        assert body_json(response) == {"message": "Thumbnail cache lookup did not finish in time"}
        # The client hung up, and before botocore's read timeout could have made it.
        assert s3.client_hung_up.wait(max(0.0, s3.arrivals[0] + read_timeout - time.monotonic()))
        _join_new("deadline-call", calls)
        requests, hang_ups = list(s3.requests), list(s3.hang_ups)

    assert [method for method, _path in requests] == ["HEAD"]  # no retry, ever
    print(
        f"\ncache HEAD: the server saw the hang-up {hang_ups[0] - answered:+.3f} s after the answer"
    )


@pytest.fixture
def faulty_s3() -> Iterator[FaultyS3]:
    with moto_server() as upstream, FaultyS3(upstream) as proxy:
        yield proxy


def _thumbnail_put(request: Request) -> bool:
    return request.is_object_put and request.bucket == BUCKET


def test_a_stalled_cache_write_is_cut_off_at_the_answer_and_not_retried(monkeypatch, faulty_s3):
    # A cache miss: the frame is rendered, and S3 holds its PutObject past the deadline.
    held = faulty_s3.hold(_thumbnail_put)
    calls = _threads("deadline-call")
    with ApiWorld.started(monkeypatch, s3_endpoint=faulty_s3.endpoint) as world:
        world.add_frame()
        read_timeout = _read_timeout()
        response = world.invoke(context=TimedContext(timeout_s=TIMEOUT))
        answered = time.monotonic()
        arrived = held.seen and held.arrived.is_set()
        assert response["statusCode"] == 503, response["body"]
        assert body_json(response) == {"message": "Thumbnail cache write did not finish in time"}
        assert arrived
        assert held.hung_up.wait(read_timeout)  # the client's hang-up, not its read timeout
        hung_up = time.monotonic()
        _join_new("deadline-call", calls)

    assert len([r for r in faulty_s3.requests if _thumbnail_put(r)]) == 1  # no retry, ever
    print(f"\nPutObject: the proxy saw the hang-up within {hung_up - answered:.3f} s of the answer")


def test_a_stalled_signing_key_read_is_cut_off_at_each_answer(monkeypatch):
    # URL_SIGNER=cloudfront: the container's first signature (after the render and write;
    # the second invocation is a cache hit) reads the key from Secrets Manager, which never
    # answers. Each invocation answers 503 by its deadline,
    # its read cut off (the next invocation starts its own) and never retried.
    reads = _threads("url-signing-key")
    with (
        SlowServer("stall", give_up_after=STALL) as secrets,
        ApiWorld.started(monkeypatch, **CLOUDFRONT) as world,
    ):
        monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", secrets.url)
        world.add_frame()
        delays = []
        for invocation in (1, 2):
            response = world.invoke(context=TimedContext(timeout_s=TIMEOUT))
            answered = time.monotonic()
            assert response["statusCode"] == 503, response["body"]
            assert body_json(response) == {
                "message": "The URL signing key could not be read in time"
            }
            # Hung up before the client's own read timeout could have done it ...
            assert secrets.client_hung_up.wait(
                max(0.0, secrets.arrivals[-1] + SECRET_READ_TIMEOUT_S - time.monotonic())
            )
            delays.append(secrets.hang_ups[-1] - answered)
            secrets.client_hung_up.clear()
            # ... and once the read's thread has ended, nothing more was asked.
            _join_new("url-signing-key", reads)
            assert len(secrets.requests) == invocation
            assert len(secrets.hang_ups) == invocation

    print("\nGetSecretValue: hang-ups " + ", ".join(f"{d:+.3f} s" for d in delays) + " after")


def test_a_client_that_cannot_be_watched_is_refused():
    # botocore's private pool table is the hook: if an upgrade moves it, fail loudly.
    with pytest.raises(RuntimeError, match="cannot be watched"):
        watch(object())
