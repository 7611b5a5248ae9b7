"""No one is let in by the cache, no secret reaches a log, redirects only lead to our own
bucket, and no request can make the service write outside the frame's own key prefix."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from responses import matchers

from tests.robustness.harness import (
    ARCHIVE,
    BASENAME,
    BUCKET,
    DATA_HOST,
    DOWNLOAD_SIGNATURE,
    FRAME_ID,
    TOKEN,
    Harness,
    api_event,
    default_fits,
    frame_record,
    header,
    json_body,
    powertools_logs_to_stdout,
)

LOOKUP = f"{ARCHIVE}frames/{FRAME_ID}/"
OTHER_TOKEN = "Token someone-else-0000000000000000"
REFUSAL = "You do not have permission to perform this action."
#: {basename}/{version: MD5 of the file}/{digest}.{ext}
KEY_PATTERN = re.compile(rf"{re.escape(BASENAME)}/[0-9a-f]{{32}}/[0-9a-f]{{32}}\.(jpg|png|webp)")


def _private_frame(harness: Harness) -> dict:
    """A frame the archive shows to TOKEN only: 401 without credentials, 403 for others."""
    record = frame_record()

    def answer(body):
        def callback(request):
            authorization = request.headers.get("Authorization")
            if authorization == TOKEN:
                return 200, {}, json.dumps(body)
            if authorization is None:
                detail = "Authentication credentials were not provided."
                return 401, {}, json.dumps({"detail": detail})
            return 403, {}, json.dumps({"detail": REFUSAL})

        return callback

    harness.archive.add_callback(
        responses.GET, LOOKUP, callback=answer(record), content_type="application/json"
    )
    harness.archive.add_callback(
        responses.GET,
        f"{ARCHIVE}frames/",
        callback=answer({"count": 1, "results": [record]}),
        content_type="application/json",
        match=[matchers.query_param_matcher({"basename_exact": BASENAME})],
    )
    harness.serve_file(record["url"], default_fits())
    return record


class TestTheCacheLetsNoOneIn:
    @pytest.mark.parametrize("event_name", ["api-frame-id.json", "api-basename.json"])
    @pytest.mark.parametrize("mode", [None, "true", "inline"])
    def test_a_refused_caller_gets_the_archives_refusal_even_when_cached(
        self, harness, event_name, mode
    ):
        _private_frame(harness)
        query = {"image": mode} if mode else {}
        owner = harness.invoke(api_event(event_name, query=query))
        assert owner["statusCode"] in (200, 302)
        assert len(harness.cached()) == 1

        for token, status in ((OTHER_TOKEN, 403), (None, 401)):
            response = harness.invoke(api_event(event_name, query=query, authorization=token))
            assert response["statusCode"] == status, response["body"]
            assert header(response, "Location") is None
            body = json_body(response)
            assert set(body) == {"message"}  # no url, no propid, no image
            assert BUCKET not in response["body"]

    def test_the_refusal_comes_from_a_fresh_archive_lookup_every_time(self, harness):
        _private_frame(harness)
        harness.invoke(api_event())
        before = len(harness.archive_calls())
        harness.invoke(api_event(authorization=OTHER_TOKEN))
        harness.invoke(api_event())  # a hit for the owner, still looked up
        assert len(harness.archive_calls()) == before + 2


class TestSecretsNeverReachTheLogs:
    def test_authorization_and_signatures_stay_out_of_json_logs(self, monkeypatch, s3, capsys):
        with (
            Harness.started(monkeypatch, s3, DOWNLOAD_RETRIES="1") as harness,
            powertools_logs_to_stdout("DEBUG"),
        ):
            harness.archive.get(LOOKUP, json=frame_record())
            file_url = frame_record()["url"].split("?")[0]
            harness.archive.get(file_url, status=503)  # a retry, logged with the URL
            harness.serve_frame()
            presigned = []
            for query in ({}, {"image": "true"}, {"image": "inline"}, {"width": "64"}):
                response = harness.invoke(api_event(query=query))
                assert response["statusCode"] in (200, 302), response["body"]
                if response["statusCode"] == 302:
                    presigned.append(header(response, "Location"))
                elif not response.get("isBase64Encoded"):
                    presigned.append(json_body(response)["url"])
            # Failures log more: a refused caller and an unreachable frame.
            harness.invoke(api_event("api-basename.json", authorization=OTHER_TOKEN))

        logs = capsys.readouterr()
        captured = logs.out + logs.err
        assert '"level"' in captured and "thumbnail" in captured  # the logs were captured
        assert "retry" in captured  # including the download retry, which names the URL
        secrets = [TOKEN, TOKEN.split()[-1], DOWNLOAD_SIGNATURE]
        signatures = [parse_qs(urlsplit(url).query)["X-Amz-Signature"][0] for url in presigned]
        assert len(signatures) == 3
        for secret in secrets + signatures:
            assert secret not in captured
        assert "X-Amz-Signature=" not in captured
        assert "X-Amz-Credential=" not in captured

    def test_an_error_message_never_echoes_the_download_url(self, harness):
        record = frame_record()
        harness.archive.get(LOOKUP, json=record)
        harness.archive.get(record["url"].split("?")[0], status=403, body="denied")
        response = harness.invoke(api_event())
        assert response["statusCode"] == 403
        assert DOWNLOAD_SIGNATURE not in response["body"]
        assert DATA_HOST not in response["body"]


def _assert_points_at_our_bucket(url: str) -> None:
    """A presigned GET of a thumbnail key in our bucket (virtual-hosted or path style)."""
    parts = urlsplit(url)
    assert parts.scheme == "https"
    assert parts.hostname in (f"{BUCKET}.s3.amazonaws.com", "s3.amazonaws.com")
    path = parts.path
    if parts.hostname == "s3.amazonaws.com":
        assert path.startswith(f"/{BUCKET}/")
        path = path.removeprefix(f"/{BUCKET}")
    assert KEY_PATTERN.fullmatch(path.lstrip("/")), path
    query = parse_qs(parts.query)
    assert query["X-Amz-Signature"] and query["X-Amz-Expires"]


class TestRedirectsOnlyLeadToTheThumbnailBucket:
    @pytest.mark.parametrize(
        "extra",
        [
            pytest.param({}, id="plain"),
            pytest.param({"redirect": "https://evil.example/"}, id="redirect-param"),
            pytest.param({"url": "https://evil.example/"}, id="url-param"),
            pytest.param({"next": "//evil.example"}, id="next-param"),
            pytest.param({"bucket": "evil-bucket", "key": "../x"}, id="bucket-and-key-params"),
        ],
    )
    def test_image_true_redirects_to_a_presigned_url_of_our_bucket(self, harness, extra):
        harness.serve_frame()
        event = api_event(query={"image": "true", **extra})
        event["headers"]["Host"] = "evil.example"
        event["headers"]["X-Forwarded-Host"] = "evil.example"
        response = harness.invoke(event)
        assert response["statusCode"] == 302
        _assert_points_at_our_bucket(header(response, "Location"))

    def test_a_record_url_elsewhere_never_becomes_the_redirect(self, harness):
        record = frame_record(url="https://evil.example/frame.fits.fz?X-Amz-Signature=x")
        harness.serve_frame(record)
        # The archive may host frames anywhere; we only ever download from there.
        harness.serve_file(record["url"], default_fits())
        for _ in range(2):  # miss, then hit
            response = harness.invoke(api_event(query={"image": "true"}))
            assert response["statusCode"] == 302
            location = header(response, "Location")
            assert "evil.example" not in location
            _assert_points_at_our_bucket(location)

    def test_json_answers_carry_only_our_presigned_url(self, harness):
        harness.serve_frame()
        body = json_body(harness.invoke(api_event()))
        # Besides them only the image's WCS, whose one text is its two CTYPEs: no other link.
        assert set(body) - {"wcs"} == {"url", "propid"}
        wcs = body.get("wcs") or {}
        assert all(isinstance(v, list | int) for v in wcs.values())
        assert all(len(c) == 8 and "/" not in c for c in wcs.get("ctype", []))
        _assert_points_at_our_bucket(body["url"])


class TestCacheKeysStayInTheFramesPrefix:
    @pytest.mark.parametrize(
        "query",
        [
            pytest.param({"label": "../../other-frame/x"}, id="label-traversal"),
            pytest.param({"label": "/etc/passwd"}, id="label-absolute"),
            pytest.param({"label": "a%2F..%2Fb"}, id="label-encoded"),
            pytest.param({"format": "png", "label": "x.png/../../y"}, id="label-with-extension"),
            pytest.param({"key": "../other/x.jpg"}, id="key-param"),
            pytest.param({"basename": "other-frame"}, id="basename-param"),
        ],
    )
    def test_whatever_the_query_the_key_is_basename_version_digest(self, harness, query):
        harness.serve_frame()
        response = harness.invoke(api_event("api-basename.json", query=query))
        assert response["statusCode"] == 200, response["body"]
        [key] = harness.cached()
        assert KEY_PATTERN.fullmatch(key), key

    def test_unknown_parameters_do_not_change_the_key(self, harness):
        harness.serve_frame()
        harness.invoke(api_event(query={"width": "64"}))
        harness.invoke(api_event(query={"width": "64", "key": "x", "Bucket": "y", "v": "2"}))
        assert len(harness.cached()) == 1

    @pytest.mark.parametrize(
        "basename",
        ["../other-frame", "a/b", "/abs", ".hidden", "", "x" * 201, "frame\x00", "frame\u2024x"],
    )
    def test_an_archive_record_cannot_steer_the_key_either(self, harness, basename):
        # A compromised or buggy archive answering with a hostile basename (by frame id).
        harness.serve_frame(frame_record(basename=basename, filename="frame.fits"))
        response = harness.invoke(api_event())
        if response["statusCode"] == 200:
            # An empty basename falls back to the filename's: still a plain prefix.
            assert all(key.startswith("frame/") for key in harness.cached())
        else:
            assert response["statusCode"] == 502, response["body"]
            assert harness.cached() == []
        for key in harness.cached():
            assert ".." not in key and key.count("/") == 2


class TestTooLargeToInline:
    def test_falls_back_to_a_redirect_to_our_bucket(self, harness):
        import numpy as np

        from tests.support.fits_factory import reduced_frame_bytes
        from thumbnails import api

        # Noise does not compress: a 2900 x 2900 PNG of it is ~5.4 MB, over the inline limit
        # that keeps a base64 body inside Lambda's 6 MB response.
        noise = np.random.default_rng(5).uniform(0, 1000, (2900, 2900)).astype(np.float32)
        harness.serve_frame(fits=reduced_frame_bytes(data=noise, wcs=False))
        query = {
            "image": "inline",
            "format": "png",
            "width": "4096",
            "height": "4096",
            "stretch": "linear",
            "percentile": "100",
        }
        response = harness.invoke(api_event(query=query))
        assert response["statusCode"] == 302, response["statusCode"]
        assert len(response.get("body") or "") < 1024
        _assert_points_at_our_bucket(header(response, "Location"))
        [key] = harness.cached()
        size = harness.s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"]
        assert size > api.INLINE_LIMIT_BYTES  # really too large, not a failure to render
