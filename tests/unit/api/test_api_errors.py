"""Every failure is JSON ``{"message": ...}`` with its status, never a traceback or a 500."""

from __future__ import annotations

import pytest
import requests

from tests.support.api_support import (
    ARCHIVE,
    BASENAME,
    FRAME_ID,
    ApiWorld,
    body_json,
    frame_record,
    header,
)


def _error(response: dict, status: int) -> str:
    assert response["statusCode"] == status, response.get("body")
    assert header(response, "Content-Type") == "application/json"
    assert header(response, "Cache-Control") == "no-store"
    return body_json(response)["message"]


# ---------------------------------------------------------------------------- 400
@pytest.mark.parametrize(
    "query, parameter",
    [
        ({"width": "abc"}, "width"),
        ({"height": "0"}, "height"),
        ({"width": "999999"}, "width"),
        ({"quality": "101"}, "quality"),
        ({"percentile": "nan"}, "percentile"),
        ({"stretch": "cubic"}, "stretch"),
        ({"format": "gif"}, "format"),
        ({"color": "maybe"}, "color"),
        ({"median": "2"}, "median"),
        ({"image": "sometimes"}, "image"),
        ({"image": ["true", "inline"]}, "image"),
        ({"width": ["100", "200"]}, "width"),
        ({"cmap": "jet"}, "cmap"),
        ({"color": "true", "cmap": "viridis"}, "cmap"),
    ],
)
def test_an_invalid_parameter_is_a_400_naming_it_before_any_archive_call(world, query, parameter):
    message = _error(world.invoke(query=query), 400)
    assert message.startswith(f"{parameter}:")
    assert len(world.archive.calls) == 0


def test_the_bad_parameters_event_is_a_400(world):
    assert _error(world.invoke("api-bad-parameters.json"), 400).startswith("width:")


def test_the_largest_size_follows_max_thumbnail_size(monkeypatch):
    with ApiWorld.started(monkeypatch, MAX_THUMBNAIL_SIZE="300") as world:
        assert _error(world.invoke(query={"width": "301"}), 400).startswith("width:")


@pytest.mark.parametrize(
    "path",
    [
        "/bad$name/",
        "/name,with,commas/",
        "/.hidden/",
        "/caf%C3%A9/",
        "/" + "a" * 201 + "/",
        "/nul\x00byte/",
        "/emoji\U0001f52d/",
        "/back\\slash/",
        "/caf\u00e9/",
    ],
)
def test_a_basename_outside_the_safe_alphabet_or_too_long_is_a_400(world, path):
    message = _error(world.invoke(path=path), 400)
    assert message.startswith("basename:")
    assert len(world.archive.calls) == 0


def test_the_bad_basename_event_is_a_400(world):
    assert _error(world.invoke("api-bad-basename.json"), 400).startswith("basename:")


def test_a_basename_of_200_characters_is_looked_up(world):
    world.add_frame(frame_record(basename="a" * 200, suffix=".fits"), by_id=False)
    assert world.invoke(path="/" + "a" * 200 + "/")["statusCode"] == 200


@pytest.mark.parametrize(
    "overrides, query, reason",
    [
        (
            {"configuration_type": "SCRIPT"},
            {},
            "Cannot generate thumbnail for configuration_type=SCRIPT",
        ),
        (
            {"filename": BASENAME + ".tar.gz"},
            {},
            "Cannot generate thumbnail for non FITS-type frame",
        ),
        (
            {"request_id": None},
            {"color": "true"},
            "Cannot generate color thumbnail for a frame that does not have a request",
        ),
        (
            {"configuration_type": "BIAS"},
            {"color": "true"},
            "Cannot generate color thumbnail for configuration_type=BIAS",
        ),
    ],
)
def test_an_ineligible_frame_is_a_400_with_the_old_services_reason(world, overrides, query, reason):
    world.add_frame(frame_record(**overrides))
    assert _error(world.invoke(query=query), 400) == reason
    assert world.downloads() == []


def test_a_record_without_a_required_key_is_a_400(world):
    record = frame_record()
    del record["configuration_type"]
    world.add_frame(record)
    assert _error(world.invoke(), 400) == "Cannot generate thumbnail for given frame"


# ---------------------------------------------------------------------------- 401 / 403
@pytest.mark.parametrize("status", [401, 403])
def test_an_archive_refusal_keeps_its_status_and_message(world, status):
    detail = "Authentication credentials were not provided."
    world.archive.get(f"{ARCHIVE}frames/{FRAME_ID}/", status=status, json={"detail": detail})
    assert _error(world.invoke(), status) == detail


def test_an_archive_refusal_without_a_message_still_says_what_happened(world):
    world.archive.get(f"{ARCHIVE}frames/{FRAME_ID}/", status=403, body="<html>no</html>")
    assert "refused" in _error(world.invoke(), 403)


# ---------------------------------------------------------------------------- 404
def test_an_unknown_frame_id_is_a_404(world):
    world.archive.get(f"{ARCHIVE}frames/{FRAME_ID}/", status=404, json={"detail": "Not found."})
    assert _error(world.invoke(), 404) == "Not found"


@pytest.mark.parametrize("count", [0, 2])
def test_a_basename_matching_other_than_one_frame_is_a_404(world, count):
    records = [frame_record(frame_id=FRAME_ID + i) for i in range(count)]
    world.archive.get(f"{ARCHIVE}frames/", json={"count": count, "results": records})
    assert _error(world.invoke("api-basename.json"), 404) == "Not found"


def test_an_unknown_path_is_a_json_404(world):
    assert _error(world.invoke(path="/a/b/c/"), 404) == "Not found"


def test_a_missing_frame_file_is_a_404(world):
    record = frame_record()
    world.archive.get(f"{ARCHIVE}frames/{FRAME_ID}/", json=record)
    world.archive.get(record["url"].split("?")[0], status=404)
    assert world.invoke()["statusCode"] == 404


# ---------------------------------------------------------------------------- 413 / 422
def test_a_frame_above_the_download_cap_is_a_413(monkeypatch):
    with ApiWorld.started(monkeypatch, MAX_DOWNLOAD_BYTES="1000") as world:
        world.add_frame()
        assert "larger than" in _error(world.invoke(), 413)


def test_a_frame_that_is_not_fits_is_a_422(world):
    world.add_frame(fits=b"SIMPLE  = this is not really a FITS file" * 100)
    _error(world.invoke(), 422)


def test_a_truncated_frame_is_a_422(world):
    from tests.support.fits_factory import reduced_frame_bytes

    world.add_frame(fits=reduced_frame_bytes((64, 80))[:4000])
    _error(world.invoke(), 422)


# ---------------------------------------------------------------------------- 502 / 504
@pytest.mark.parametrize("status", [500, 502, 503])
def test_an_archive_server_error_is_a_502(world, status):
    world.archive.get(f"{ARCHIVE}frames/{FRAME_ID}/", status=status)
    assert "archive" in _error(world.invoke(), 502)


def test_an_unreachable_archive_is_a_502(world):
    world.archive.get(f"{ARCHIVE}frames/{FRAME_ID}/", body=requests.ConnectionError("refused"))
    assert "reach the archive" in _error(world.invoke(), 502)


def test_an_archive_timeout_is_a_504(world):
    world.archive.get(f"{ARCHIVE}frames/{FRAME_ID}/", body=requests.ReadTimeout("slow"))
    assert "Timeout" in _error(world.invoke(), 504)


@pytest.mark.parametrize("body", ["<html>maintenance</html>", "[1, 2]", '"a string"'])
def test_a_non_json_or_malformed_archive_answer_is_a_502(world, body):
    world.archive.get(f"{ARCHIVE}frames/{FRAME_ID}/", body=body, content_type="application/json")
    _error(world.invoke(), 502)


def test_a_malformed_list_answer_is_a_502(world):
    world.archive.get(f"{ARCHIVE}frames/", json={"count": 1, "results": "nope"})
    _error(world.invoke("api-basename.json"), 502)


def test_a_record_without_a_download_url_is_a_502(world):
    world.archive.get(f"{ARCHIVE}frames/{FRAME_ID}/", json=frame_record(url=None))
    _error(world.invoke(), 502)


def test_a_failing_frame_download_is_retried_then_a_502(monkeypatch):
    with ApiWorld.started(monkeypatch, DOWNLOAD_RETRIES="1") as world:
        record = frame_record()
        world.archive.get(f"{ARCHIVE}frames/{FRAME_ID}/", json=record)
        world.archive.get(record["url"].split("?")[0], status=503)
        _error(world.invoke(), 502)
        assert len(world.downloads()) == 2


def test_a_frame_download_recovers_from_one_transient_failure(monkeypatch):
    with ApiWorld.started(monkeypatch, DOWNLOAD_RETRIES="1") as world:
        record = frame_record()
        world.archive.get(record["url"].split("?")[0], body=requests.ConnectionError("reset"))
        world.add_frame(record)  # registered second: served on the retry
        assert world.invoke()["statusCode"] == 200
        assert len(world.downloads()) == 2


def test_a_missing_bucket_is_a_502_naming_the_s3_error(monkeypatch):
    with ApiWorld.started(monkeypatch, THUMBNAIL_BUCKET="no-such-bucket") as world:
        world.add_frame()
        assert _error(world.invoke(), 502) == "Thumbnail cache write failed: NoSuchBucket"


def test_an_unset_bucket_is_a_clear_error_not_a_crash(monkeypatch):
    with ApiWorld.started(monkeypatch, THUMBNAIL_BUCKET="") as world:
        monkeypatch.delenv("AWS_BUCKET", raising=False)
        assert "THUMBNAIL_BUCKET" in _error(world.invoke(), 502)


def test_a_misconfigured_service_is_a_json_500_without_details(monkeypatch):
    with ApiWorld.started(monkeypatch, ARCHIVE_TIMEOUT="soon") as world:
        assert _error(world.invoke(), 500) == "The thumbnail service is misconfigured"


def test_an_unexpected_bug_is_a_json_500(world, monkeypatch):
    from thumbnails import service

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(service.ThumbnailService, "get_thumbnail", broken)
    assert _error(world.invoke(), 500) == "Internal error"
