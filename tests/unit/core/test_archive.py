"""The archive client: lookups, colour frame selection, downloads, and the error mapping."""

from __future__ import annotations

import logging

import pytest
import requests
import responses
from responses import matchers

from tests.support.api_support import frame_record
from thumbnails.archive import ArchiveClient
from thumbnails.errors import (
    AccessDenied,
    FrameNotFound,
    FrameTooLarge,
    UpstreamError,
    UpstreamTimeout,
)
from thumbnails.versions import normalise_etag

ARCHIVE = "https://archive.test/api/"
FILE = "https://data.test/frame.fits.fz"
TOKEN = "Bearer secret-token-value"


@pytest.fixture
def mock():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(sleeps) -> ArchiveClient:
    return ArchiveClient(ARCHIVE, download_retries=2, max_download_bytes=1000, sleep=sleeps.append)


# ---------------------------------------------------------------------------- lookups
def test_a_frame_is_looked_up_by_id_with_the_callers_authorization(mock, client):
    record = frame_record(42)
    mock.get(
        f"{ARCHIVE}frames/42/",
        json=record,
        match=[matchers.header_matcher({"Authorization": TOKEN})],
    )
    assert client.frame_by_id(42, TOKEN) == record


def test_a_frame_is_looked_up_by_exact_basename(mock, client):
    record = frame_record(42, "lsc1m005-fa15-20260101-0100-e91")
    mock.get(
        f"{ARCHIVE}frames/",
        json={"count": 1, "results": [record]},
        match=[matchers.query_param_matcher({"basename_exact": record["basename"]})],
    )
    assert client.frame_by_basename(record["basename"]) == record
    assert "Authorization" not in mock.calls[0].request.headers


@pytest.mark.parametrize("count", [0, 2, 3])
def test_a_basename_must_match_exactly_one_frame(mock, client, count):
    mock.get(f"{ARCHIVE}frames/", json={"count": count, "results": [frame_record()] * count})
    with pytest.raises(FrameNotFound, match="^Not found$"):
        client.frame_by_basename("x")


@pytest.mark.parametrize(
    "status, body, error, message",
    [
        (404, {"detail": "Not found."}, FrameNotFound, "^Not found$"),
        (401, {"detail": "Invalid token."}, AccessDenied, "^Invalid token.$"),
        (403, {"detail": "Forbidden."}, AccessDenied, "^Forbidden.$"),
        (403, {"message": "No."}, AccessDenied, "^No.$"),
        (400, {"detail": "bad"}, UpstreamError, "HTTP 400"),
        (500, None, UpstreamError, "HTTP 500"),
        (503, None, UpstreamError, "HTTP 503"),
    ],
)
def test_archive_statuses_map_to_typed_errors(mock, client, status, body, error, message):
    mock.get(f"{ARCHIVE}frames/7/", status=status, json=body)
    with pytest.raises(error, match=message) as raised:
        client.frame_by_id(7)
    if error is AccessDenied:
        assert raised.value.status == status


def test_connection_errors_are_502_and_timeouts_504(mock, client):
    mock.get(f"{ARCHIVE}frames/1/", body=requests.ConnectionError(f"{ARCHIVE}frames/1/ refused"))
    mock.get(f"{ARCHIVE}frames/2/", body=requests.ConnectTimeout("slow"))
    with pytest.raises(UpstreamError, match="ConnectionError"):
        client.frame_by_id(1)
    with pytest.raises(UpstreamTimeout):
        client.frame_by_id(2)


@pytest.mark.parametrize("body", ["not json", "[]", "null"])
def test_non_json_or_malformed_records_are_502(mock, client, body):
    mock.get(f"{ARCHIVE}frames/1/", body=body)
    mock.get(f"{ARCHIVE}frames/", body=body)
    with pytest.raises(UpstreamError):
        client.frame_by_id(1)
    with pytest.raises(UpstreamError):
        client.frame_by_basename("x")


def test_lookups_use_the_lookup_timeout(mock):
    mock.get(f"{ARCHIVE}frames/1/", json=frame_record(1))
    ArchiveClient(ARCHIVE, lookup_timeout=3.5).frame_by_id(1)
    assert mock.calls[0].request.req_kwargs["timeout"] == 3.5


# ---------------------------------------------------------------------------- colour
def test_colour_frames_are_the_first_red_visual_and_blue_of_the_request(mock, client):
    frames = [
        frame_record(i, f"f{i}", filter=f) for i, f in enumerate(["gp", "B", "V", "R", "rp", "B"])
    ]
    mock.get(
        f"{ARCHIVE}frames/",
        json={"count": len(frames), "results": frames},
        match=[
            matchers.query_param_matcher(
                {"request_id": "77", "reduction_level": "91"}, strict_match=False
            )
        ],
    )
    red, visual, blue = client.color_frames(77, TOKEN)
    assert (red["id"], visual["id"], blue["id"]) == (3, 2, 1)
    assert mock.calls[0].request.headers["Authorization"] == TOKEN


def test_a_missing_colour_filter_is_rvb_frames_not_found(mock, client):
    frames = [frame_record(i, f"f{i}", filter=f) for i, f in enumerate(["rp", "V"])]
    mock.get(f"{ARCHIVE}frames/", json={"count": 2, "results": frames})
    with pytest.raises(
        FrameNotFound, match="^RVB frames not found .*: the request has rp, V; missing B$"
    ):
        client.color_frames(77)


# ---------------------------------------------------------------------------- downloads
def test_a_download_returns_the_bytes_and_the_bare_etag(mock, client):
    mock.get(FILE, body=b"x" * 1000, headers={"ETag": '"abc123"'})
    download = client.download(FILE + "?X-Amz-Signature=sig", TOKEN)
    assert download.data == b"x" * 1000
    assert download.etag == "abc123"
    assert "Authorization" not in mock.calls[0].request.headers
    assert mock.calls[0].request.req_kwargs["stream"] is True


def test_a_download_without_etag_has_none(mock, client):
    mock.get(FILE, body=b"x")
    assert client.download(FILE).etag is None


def test_a_download_above_the_cap_is_refused_from_content_length(mock, client):
    # Declared too large: refused before reading a byte of the (here tiny) body.
    mock.get(FILE, body=b"x", headers={"Content-Length": "1001"})
    with pytest.raises(FrameTooLarge, match="1000 bytes"):
        client.download(FILE)


def test_a_download_above_the_cap_is_refused_while_streaming(mock, client):
    # No Content-Length (chunked transfer): the cap is enforced on the bytes read.
    mock.get(FILE, body=b"x" * 1200)
    with pytest.raises(FrameTooLarge):
        client.download(FILE)
    assert "Content-Length" not in mock.calls[0].response.headers


@pytest.mark.parametrize(
    "failure",
    [requests.ConnectionError("reset"), requests.ReadTimeout("slow")],
    ids=["connection", "timeout"],
)
def test_transient_download_failures_are_retried_with_backoff(mock, client, sleeps, failure):
    mock.get(FILE, body=failure)
    mock.get(FILE, status=503)
    mock.get(FILE, body=b"ok", headers={"ETag": "e"})
    assert client.download(FILE).data == b"ok"
    assert len(mock.calls) == 3
    assert sleeps == [0.25, 0.5]


def test_retries_are_bounded(mock, client, sleeps):
    mock.get(FILE, status=502)
    with pytest.raises(UpstreamError, match="502"):
        client.download(FILE)
    assert len(mock.calls) == 3  # one attempt and two retries
    mock.get(FILE + "2", body=requests.ReadTimeout("slow"))
    with pytest.raises(UpstreamTimeout):
        client.download(FILE + "2")


@pytest.mark.parametrize("status, error", [(404, FrameNotFound), (403, AccessDenied)])
def test_definitive_download_failures_are_not_retried(mock, client, status, error):
    mock.get(FILE, status=status)
    with pytest.raises(error):
        client.download(FILE)
    assert len(mock.calls) == 1


@pytest.mark.parametrize("url", [None, "", "ftp://data.test/x.fits", "/relative.fits"])
def test_a_record_without_a_usable_url_is_502(client, url):
    with pytest.raises(UpstreamError, match="download URL"):
        client.download(url)


def test_errors_and_logs_never_show_the_token_or_the_signed_query(mock, client, caplog):
    caplog.set_level(logging.DEBUG, logger="thumbnails")
    signed = FILE + "?X-Amz-Signature=very-secret-signature"
    mock.get(FILE, body=requests.ConnectionError(f"could not connect to {signed}"))
    with pytest.raises(UpstreamError) as raised:
        client.download(signed, TOKEN)
    text = caplog.text + raised.value.message
    assert caplog.records  # the retries were logged
    assert "very-secret-signature" not in text and "secret-token-value" not in text


@pytest.mark.parametrize(
    "raw, bare", [('"abc"', "abc"), ('W/"abc"', "abc"), ("abc", "abc"), ("", None), (None, None)]
)
def test_etags_are_normalised_to_their_bare_value(raw, bare):
    assert normalise_etag(raw) == bare
