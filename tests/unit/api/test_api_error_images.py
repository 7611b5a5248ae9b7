"""Errors of ``<img>`` requests are images: an ``image=true|inline`` request whose ``Accept``
prefers an image to JSON gets its error status with a PNG in its box; ``*/*`` gets JSON."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.support.api_support import (
    ARCHIVE,
    FRAME_ID,
    TOKEN,
    ApiWorld,
    body_bytes,
    body_json,
    header,
)

#: What browsers send for an <img src> (Chrome 120, Firefox 120, Safari 17).
CHROME_IMG = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
FIREFOX_IMG = "image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"
SAFARI_IMG = (
    "image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,"
    "image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"
)


def _missing_frame(world: ApiWorld) -> None:
    world.archive.get(f"{ARCHIVE}frames/{FRAME_ID}/", status=404, json={"detail": "Not found."})


def _error_image(response: dict, status: int) -> Image.Image:
    assert response["statusCode"] == status
    assert header(response, "Content-Type") == "image/png"
    assert header(response, "Cache-Control") == "no-store"
    image = Image.open(io.BytesIO(body_bytes(response)))
    image.load()
    assert image.format == "PNG"
    return image


@pytest.mark.parametrize("accept", [CHROME_IMG, FIREFOX_IMG, SAFARI_IMG])
@pytest.mark.parametrize("mode", ["true", "inline"])
def test_a_404_of_an_img_request_is_an_image_in_the_box_asked(world, accept, mode):
    _missing_frame(world)
    response = world.invoke(
        query={"image": mode, "width": "300", "height": "150"}, headers={"Accept": accept}
    )
    image = _error_image(response, 404)
    assert image.size == (300, 150)
    # Something is drawn: the text's light pixels on the dark background.
    assert image.convert("L").getextrema() == (48, pytest.approx(224, abs=8))


def test_a_400_of_an_img_request_is_an_image_of_the_default_box(world):
    response = world.invoke(query={"image": "true", "width": "abc"}, headers={"Accept": CHROME_IMG})
    assert _error_image(response, 400).size == (200, 200)
    assert len(world.archive.calls) == 0


@pytest.mark.parametrize("accept", ["*/*", "application/json", None])
@pytest.mark.parametrize("status", [400, 404])
def test_curl_and_json_clients_still_get_json(world, accept, status):
    _missing_frame(world)
    query = {"image": "true", "width": "abc" if status == 400 else "300"}
    response = world.invoke(query=query, headers={"Accept": accept} if accept else {})
    assert response["statusCode"] == status
    assert header(response, "Content-Type") == "application/json"
    assert "message" in body_json(response)


def test_a_json_request_from_a_browser_gets_json(world):
    # No image=...: a fetch() of the JSON API from a page, whatever it accepts.
    _missing_frame(world)
    response = world.invoke(headers={"Accept": CHROME_IMG})
    assert header(response, "Content-Type") == "application/json"


def test_the_image_holds_no_credential_or_url(world):
    # The drawn text is the status and a fixed phrase; the PNG carries no text chunks either.
    _missing_frame(world)
    response = world.invoke(query={"image": "true"}, headers={"Accept": CHROME_IMG})
    data = body_bytes(response)
    for secret in (TOKEN, "X-Amz-Signature", "http", ARCHIVE):
        assert secret.encode() not in data
    assert Image.open(io.BytesIO(data)).info == {}
