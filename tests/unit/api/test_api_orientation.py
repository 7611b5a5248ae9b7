"""``orientation=north|detector`` over the API: the answer says what was applied, hit or miss."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from tests.support.api_support import BASENAME, BUCKET, body_bytes, body_json, header
from tests.support.fits_factory import marker_sky, mounted_frame_bytes, reduced_frame_bytes
from thumbnails.api import cors_config
from thumbnails.cache_keys import thumbnail_key
from thumbnails.params import ThumbnailParams


def _turned_frame() -> bytes:
    sky, _labels = marker_sky((48, 64))
    return mounted_frame_bytes(sky, "rotated-90")  # stored 64 rows x 48 columns


def _size(response: dict) -> tuple[int, int]:
    return Image.open(io.BytesIO(body_bytes(response))).size


def test_the_default_is_north_and_the_answer_says_so_hit_or_miss(world):
    world.add_frame(fits=_turned_frame())
    miss = world.invoke(query={"image": "inline", "format": "png"})
    hit = world.invoke(query={"image": "inline", "format": "png"})
    assert miss["statusCode"] == hit["statusCode"] == 200
    assert header(miss, "X-Thumbnail-Orientation") == "north"
    assert header(hit, "X-Thumbnail-Orientation") == "north"
    assert len(world.downloads()) == 1  # the hit came from the cache
    assert _size(miss) == _size(hit) == (64, 48)  # turned back a quarter: wider than high


def test_detector_is_a_separate_thumbnail_under_its_own_key(world):
    record = world.add_frame(fits=_turned_frame())
    north = world.invoke(query={"image": "inline", "format": "png"})
    detector = world.invoke(query={"image": "inline", "format": "png", "orientation": "detector"})
    assert header(detector, "X-Thumbnail-Orientation") == "detector"
    assert _size(detector) == (48, 64)  # as stored
    assert len(world.downloads()) == 2  # not served from the north thumbnail's object
    version = record["version_set"][0]["md5"]
    keys = {
        thumbnail_key(BASENAME, version, ThumbnailParams(format="png", orientation=value))
        for value in ("north", "detector")
    }
    assert len(keys) == 2
    for key in keys:
        world.s3.head_object(Bucket=BUCKET, Key=key)  # both stored
    pixels = [np.asarray(Image.open(io.BytesIO(body_bytes(r)))) for r in (north, detector)]
    assert pixels[0].shape != pixels[1].shape


def test_a_frame_without_wcs_says_it_was_not_turned(world):
    world.add_frame(fits=reduced_frame_bytes((40, 56), wcs=False))
    response = world.invoke()
    assert response["statusCode"] == 200
    assert header(response, "X-Thumbnail-Orientation") == "detector-no-wcs"
    assert header(world.invoke(), "X-Thumbnail-Orientation") == "detector-no-wcs"  # the hit


def test_a_spectrum_says_it_was_not_turned(world):
    sky, _labels = marker_sky((48, 64))
    world.add_frame(fits=mounted_frame_bytes(sky, "rotated-90", obstype="SPECTRUM"))
    response = world.invoke(query={"image": "inline"})
    assert header(response, "X-Thumbnail-Orientation") == "detector-spectrum"
    assert _size(response) == (48, 64)


def test_an_unknown_orientation_is_a_400_naming_it(world):
    world.add_frame()
    response = world.invoke(query={"orientation": "sideways"})
    assert response["statusCode"] == 400
    message = body_json(response)["message"]
    assert "orientation" in message and "north, detector" in message
    assert header(response, "X-Thumbnail-Orientation") is None


def test_the_orientation_header_is_exposed_to_browsers():
    headers = cors_config("https://a.example").to_dict("https://a.example")
    assert "X-Thumbnail-Orientation" in headers["Access-Control-Expose-Headers"]
