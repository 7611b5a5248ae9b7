"""The response forms of ``GET /{frame}/``: JSON by default, a redirect, or the image itself."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from tests.support.api_support import (
    BASENAME,
    BUCKET,
    DATA_HOST,
    ApiWorld,
    body_bytes,
    body_json,
    header,
)
from thumbnails import api
from thumbnails.cache_keys import thumbnail_key
from thumbnails.params import ThumbnailParams


def _image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_by_default_the_answer_is_json_with_a_presigned_url_and_the_proposal(world):
    record = world.add_frame()
    response = world.invoke("api-frame-id.json")
    assert response["statusCode"] == 200
    assert header(response, "Content-Type") == "application/json"
    body = body_json(response)
    assert body["propid"] == "LCO2026A-001"
    version = record["version_set"][0]["md5"]
    key = thumbnail_key(BASENAME, version, ThumbnailParams(width=200, height=200))
    assert f"/{BUCKET}/{key}" in body["url"] or f"{BUCKET}.s3" in body["url"]
    assert "X-Amz-Signature=" in body["url"] and "X-Amz-Expires=604800" in body["url"]


def test_the_presigned_url_lifetime_follows_the_setting(monkeypatch):
    with ApiWorld.started(monkeypatch, PRESIGNED_URL_EXPIRY="3600") as world:
        world.add_frame()
        body = body_json(world.invoke("api-frame-id.json"))
    assert "X-Amz-Expires=3600" in body["url"]


def test_a_miss_renders_and_stores_the_thumbnail_under_the_basename_and_version_key(world):
    record = world.add_frame()
    world.invoke("api-frame-id.json")
    version = record["version_set"][0]["md5"]
    key = thumbnail_key(BASENAME, version, ThumbnailParams(width=200, height=200))
    assert key == f"{BASENAME}/{version}/{ThumbnailParams(width=200, height=200).digest()}.jpg"
    stored = world.s3.head_object(Bucket=BUCKET, Key=key)
    assert stored["ContentType"] == "image/jpeg"
    assert stored["ServerSideEncryption"] == "AES256"
    assert "immutable" in stored["CacheControl"]
    wcs = stored["Metadata"].pop("wcs")  # the image's WCS (test_api_wcs.py checks it)
    assert json.loads(wcs)["ctype"] == ["RA---TAN", "DEC--TAN"]
    assert stored["Metadata"] == {
        "basename": BASENAME,
        "source-version": version,
        "orientation": "north",
    }
    image = _image(world.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert image.format == "JPEG"
    assert max(image.size) <= 200


def test_a_hit_downloads_nothing_and_renders_nothing(world, monkeypatch):
    world.add_frame()
    first = body_json(world.invoke("api-frame-id.json"))
    assert len(world.downloads()) == 1
    # Any render now would fail loudly.
    from thumbnails.imaging import render

    def no_render(*args, **kwargs):
        raise AssertionError("rendered on a cache hit")

    monkeypatch.setattr(render, "load_frame", no_render)
    monkeypatch.setattr(render, "render_frames", no_render)
    second = world.invoke("api-frame-id.json")
    assert second["statusCode"] == 200
    assert len(world.downloads()) == 1
    assert body_json(second)["url"].split("?")[0] == first["url"].split("?")[0]


def test_the_id_and_basename_routes_share_one_cache_entry(world):
    world.add_frame()
    by_id = body_json(world.invoke("api-frame-id.json"))
    by_name = body_json(world.invoke("api-basename.json"))
    assert by_id["url"].split("?")[0] == by_name["url"].split("?")[0]
    assert len(world.downloads()) == 1


@pytest.mark.parametrize("value", ["true", "1", "yes", "True"])
def test_image_true_redirects_to_the_presigned_url(world, value):
    world.add_frame()
    response = world.invoke("api-image-redirect.json", query={"image": value})
    assert response["statusCode"] == 302
    location = header(response, "Location")
    assert "X-Amz-Signature=" in location
    assert header(response, "Cache-Control").startswith("private, max-age=")


@pytest.mark.parametrize("value", ["false", "0", "no", ""])
def test_image_false_gives_json(world, value):
    world.add_frame()
    response = world.invoke("api-image-redirect.json", query={"image": value})
    assert response["statusCode"] == 200
    assert "url" in body_json(response)


def test_image_inline_returns_the_image_bytes_base64_encoded_for_api_gateway(world):
    world.add_frame()
    response = world.invoke("api-image-inline.json")
    assert response["statusCode"] == 200
    assert header(response, "Content-Type") == "image/png"
    image = _image(body_bytes(response))
    assert image.format == "PNG"


def test_image_inline_on_a_hit_reads_the_cached_object(world):
    world.add_frame()
    first = body_bytes(world.invoke("api-image-inline.json"))
    second = world.invoke("api-image-inline.json")
    assert len(world.downloads()) == 1
    assert body_bytes(second) == first


def test_image_inline_too_large_for_lambda_falls_back_to_the_redirect(world, monkeypatch):
    monkeypatch.setattr(api, "INLINE_LIMIT_BYTES", 10)
    world.add_frame()
    miss = world.invoke("api-image-inline.json")
    hit = world.invoke("api-image-inline.json")
    for response in (miss, hit):
        assert response["statusCode"] == 302
        assert "X-Amz-Signature=" in header(response, "Location")


@pytest.mark.parametrize("fmt, mime", [("jpeg", "image/jpeg"), ("webp", "image/webp")])
def test_inline_content_type_follows_the_format(world, fmt, mime):
    world.add_frame()
    response = world.invoke("api-image-inline.json", query={"image": "inline", "format": fmt})
    assert header(response, "Content-Type") == mime
    assert _image(body_bytes(response)).format == fmt.upper()


def test_successful_answers_may_be_cached_privately_for_less_than_the_url_lives(world):
    world.add_frame()
    for query in ({}, {"image": "true"}, {"image": "inline"}):
        cache_control = header(world.invoke(query=query), "Cache-Control")
        assert cache_control.startswith("private, max-age=")
        assert int(cache_control.split("=")[1]) < 604800


@pytest.mark.parametrize("path", ["/3863274", "/3863274/", f"/{BASENAME}", f"/{BASENAME}/"])
def test_the_trailing_slash_is_optional(world, path):
    world.add_frame()
    assert world.invoke(path=path)["statusCode"] == 200


def test_cors_headers_allow_any_origin_by_default(world):
    world.add_frame()
    response = world.invoke(headers={"Origin": "https://example.org"})
    assert header(response, "Access-Control-Allow-Origin") == "*"


def test_a_frame_id_with_leading_zeros_is_the_same_frame(world):
    world.add_frame()
    assert world.invoke(path="/0003863274/")["statusCode"] == 200
    assert world.calls_to("https://archive-api.test/frames/3863274/")


def test_the_frame_file_url_query_is_used_as_given(world):
    world.add_frame()
    world.invoke()
    assert "X-Amz-Signature=presigned-archive-secret" in world.downloads()[0].request.url
    assert world.downloads()[0].request.url.startswith(DATA_HOST)
