"""``sam local invoke ThumbnailFunction``: the built function and layer answer API events."""

from __future__ import annotations

import base64

import pytest

from tests.conftest import load_event
from tests.support.api_support import body_json, header

from .events import api_event
from .frames import FULL_SIZE, assert_visible, fetch, frame_bytes, frame_key, image_of, key_of
from .stack import THUMBNAIL_BUCKET

pytestmark = pytest.mark.integration


def test_the_index_page_is_html(sam):
    result = sam.invoke("ThumbnailFunction", load_event("api-root.json"), label="GET /")

    assert result["statusCode"] == 200, result
    assert header(result, "Content-Type").startswith("text/html")
    assert "<html" in result["body"].lower()


def test_a_miss_renders_caches_and_presigns_a_jpeg(sam, stack):
    frame = stack.add_frame(frame_key(101), frame_bytes(seed=101))
    assert stack.thumbnails(frame.basename) == {}

    result = sam.invoke(
        "ThumbnailFunction",
        api_event(f"/{frame.id}/", {"width": "200", "height": "200"}),
        label="frame id, miss",
    )

    assert result["statusCode"] == 200, result
    answer = body_json(result)
    cached = stack.thumbnails(frame.basename)
    assert list(cached) == [key_of(answer["url"], THUMBNAIL_BUCKET)]
    status, content_type, data = fetch(answer["url"])
    assert (status, content_type) == (200, "image/jpeg")
    image = image_of(data)
    assert (image.format, image.size) == ("JPEG", (200, 150))
    assert_visible(image)


def test_image_inline_returns_the_jpeg_itself(sam, stack):
    frame = stack.add_frame(frame_key(102), frame_bytes(seed=102))

    result = sam.invoke(
        "ThumbnailFunction",
        api_event(f"/{frame.id}/", {"width": "120", "height": "120", "image": "inline"}),
        label="image=inline, miss",
    )

    assert result["statusCode"] == 200, {k: v for k, v in result.items() if k != "body"}
    assert result["isBase64Encoded"] is True
    assert header(result, "Content-Type") == "image/jpeg"
    image = image_of(base64.b64decode(result["body"]))
    assert (image.format, image.size) == ("JPEG", (120, 90))
    assert_visible(image)
    assert len(stack.thumbnails(frame.basename)) == 1  # cached as well


def test_a_bad_parameter_is_a_400_naming_it(sam, stack):
    frame = stack.add_frame(frame_key(103), frame_bytes(seed=103))

    result = sam.invoke(
        "ThumbnailFunction",
        api_event(f"/{frame.id}/", {"width": "abc"}),
        label="bad parameter",
    )

    assert result["statusCode"] == 400, result
    assert header(result, "Content-Type").startswith("application/json")
    assert "width" in body_json(result)["message"]
    assert stack.thumbnails(frame.basename) == {}


def test_the_frame_is_never_enlarged(sam, stack):
    frame = stack.add_frame(frame_key(104), frame_bytes(seed=104))

    result = sam.invoke(
        "ThumbnailFunction",
        api_event(f"/{frame.basename}/", {"width": "1000", "height": "1000", "format": "png"}),
        label="by basename, png, miss",
    )

    assert result["statusCode"] == 200, result
    status, content_type, data = fetch(body_json(result)["url"])
    assert (status, content_type) == (200, "image/png")
    assert image_of(data).size == FULL_SIZE
