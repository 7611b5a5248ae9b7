"""The archive client inside Lambda's limits: throttling, retries within a deadline, memory.

The archive API is faked with `responses`; memory and trickling are measured against a real
local HTTP server (`tests.support.slow_servers`).
"""

from __future__ import annotations

import tracemalloc

import pytest
import responses

from tests.support.api_support import ApiWorld, body_json, frame_record, header
from tests.support.slow_servers import SlowServer
from thumbnails.archive import ArchiveClient
from thumbnails.deadline import Deadline
from thumbnails.errors import FrameTooLarge, UpstreamThrottled, UpstreamTimeout

ARCHIVE = "https://archive.test/api/"
FILE = "https://data.test/frame.fits.fz"


@pytest.fixture
def mock():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(sleeps) -> ArchiveClient:
    return ArchiveClient(ARCHIVE, download_retries=2, sleep=sleeps.append)


# ---------------------------------------------------------------------------- throttling
def test_a_throttled_lookup_is_retried_after_the_wait_the_archive_asks_for(mock, client, sleeps):
    mock.get(f"{ARCHIVE}frames/7/", status=429, headers={"Retry-After": "2"})
    mock.get(f"{ARCHIVE}frames/7/", json=frame_record(7))
    assert client.frame_by_id(7, deadline=Deadline.after(20))["id"] == 7
    assert sleeps == [2.0]


def test_a_wait_past_the_deadline_is_not_started_and_the_wait_is_passed_on(mock, client, sleeps):
    mock.get(f"{ARCHIVE}frames/7/", status=429, headers={"Retry-After": "30"})
    with pytest.raises(UpstreamThrottled, match="HTTP 429") as raised:
        client.frame_by_id(7, deadline=Deadline.after(20))
    assert raised.value.status == 503
    assert raised.value.retry_after == 30.0
    assert sleeps == []
    assert len(mock.calls) == 1


def test_a_503_with_retry_after_is_throttling_and_a_bare_503_an_upstream_error(mock, client):
    mock.get(f"{ARCHIVE}frames/7/", status=503, headers={"Retry-After": "600"})
    with pytest.raises(UpstreamThrottled):
        client.frame_by_id(7, deadline=Deadline.after(20))
    mock.get(f"{ARCHIVE}frames/8/", status=503)
    with pytest.raises(Exception) as raised:
        client.frame_by_id(8, deadline=Deadline.after(20))
    assert type(raised.value).__name__ == "UpstreamError"
    assert raised.value.status == 502


def test_a_retry_after_date_is_understood(mock, client, sleeps):
    mock.get(FILE, status=429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    mock.get(FILE, body=b"ok")
    # A date in the past: retry at once.
    assert client.download(FILE, deadline=Deadline.after(20)).data == b"ok"
    assert sleeps == [0.0]


def test_a_throttled_download_honours_retry_after_then_gives_up_with_it(mock, client, sleeps):
    mock.get(FILE, status=429, headers={"Retry-After": "3"})
    with pytest.raises(UpstreamThrottled) as raised:
        client.download(FILE, deadline=Deadline.after(20))
    assert sleeps == [3.0, 3.0]  # two retries, each after the wait asked for
    assert raised.value.retry_after == 3.0


def test_back_off_that_would_end_past_the_deadline_is_not_started(mock, client, sleeps):
    mock.get(FILE, status=502)
    with pytest.raises(Exception, match="502"):
        client.download(FILE, deadline=Deadline.after(0.1))
    assert sleeps == []  # the 0.25 s back-off would end after the deadline
    assert len(mock.calls) == 1


def test_nothing_is_asked_once_the_deadline_has_passed(mock, client):
    with pytest.raises(UpstreamTimeout, match="No time"):
        client.download(FILE, deadline=Deadline.after(-1))
    assert len(mock.calls) == 0


def test_the_api_answers_a_throttled_archive_with_503_and_its_retry_after(monkeypatch):
    with ApiWorld.started(monkeypatch) as world:
        world.archive.get(
            "https://archive-api.test/frames/3863274/", status=429, headers={"Retry-After": "120"}
        )
        response = world.invoke()
    assert response["statusCode"] == 503
    assert header(response, "Retry-After") == "120"
    assert "try again later" in body_json(response)["message"]


# ---------------------------------------------------------------------------- real HTTP
def test_a_download_is_held_once_in_memory_not_copied():
    size = 16 << 20
    body = bytes(range(256)) * (size // 256)
    with SlowServer("serve", body=body) as server:
        client = ArchiveClient(server.url)
        tracemalloc.start()
        try:
            download = client.download(server.url + "frame.fits", deadline=Deadline.after(60))
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert download.data == body
    assert type(download.data) is bytes  # what imaging.hdus keeps without copying
    # One buffer of the file (plus small change); a bytearray turned into bytes was 2x.
    assert peak < 1.25 * size


def test_a_declared_size_above_the_cap_is_refused_before_the_body_is_read():
    with SlowServer("trickle", declared_length=5000) as server:
        client = ArchiveClient(server.url, max_download_bytes=4999)
        with pytest.raises(FrameTooLarge):
            client.download(server.url + "frame.fits", deadline=Deadline.after(60))
    assert server.bytes_sent <= 1  # it was refused from its headers


def test_the_per_attempt_timeout_ends_a_read_from_a_trickling_server():
    # Each recv gets a byte within the socket timeout; the attempt's whole-read limit (the
    # old code checked it between 1 MiB chunks only, so never here) ends it.
    with SlowServer("trickle", declared_length=1000) as server:
        client = ArchiveClient(server.url, download_timeout=1.0, download_retries=0)
        with pytest.raises(UpstreamTimeout, match="Timeout while downloading"):
            client.download(server.url + "frame.fits")
        assert server.client_hung_up.wait(5)


def test_the_deadline_ends_a_lookup_whose_headers_trickle_in():
    # The status line comes, then an endless header, a byte per 0.2 s: no socket timeout
    # fires, and the headers are read inside requests, before any body.
    with SlowServer("trickle-headers", declared_length=1000) as server:
        client = ArchiveClient(server.url, lookup_timeout=10.0)
        with pytest.raises(UpstreamTimeout, match="Timeout while looking up frame 7"):
            client.frame_by_id(7, deadline=Deadline.after(1.0))
        # Cut off by the client (the server notices at its next byte), not given up on by
        # the server after its 15 s.
        assert server.client_hung_up.wait(5)


def test_the_deadline_ends_a_tls_handshake_that_trickles():
    # Before any socket is noted: Python bounds a whole TLS handshake by the socket's timeout,
    # which is never more than what is left of the deadline.
    with SlowServer("trickle-handshake") as server:
        client = ArchiveClient(server.url, lookup_timeout=10.0)
        with pytest.raises(UpstreamTimeout, match="Timeout while looking up frame 7"):
            client.frame_by_id(7, deadline=Deadline.after(1.0))
        assert server.client_hung_up.wait(5)


def test_the_deadline_ends_an_answer_on_a_connection_kept_alive_from_an_earlier_request():
    # The second lookup reuses the first one's connection: no new connect to note its socket
    # at, so the request notes it.
    record = b'{"id": 7, "basename": "frame"}'
    with SlowServer(
        "trickle",
        content_type="application/json",
        body=record,
        declared_length=100_000,
        served_first=1,
    ) as server:
        client = ArchiveClient(server.url, lookup_timeout=10.0)
        assert client.frame_by_id(7, deadline=Deadline.after(30))["id"] == 7
        with pytest.raises(UpstreamTimeout, match="Timeout while looking up frame 8"):
            client.frame_by_id(8, deadline=Deadline.after(1.0))
        assert server.client_hung_up.wait(5)
    assert server.requests == [("GET", "/frames/7/"), ("GET", "/frames/8/")]
    assert server.connections == 1
