"""``planet=true`` through the API: the planet cropped and aligned, its own cache key, 422
when a frame has no planet, 400 with a cutout."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.support.api_support import (
    BASENAME,
    BUCKET,
    FRAME_ID,
    ApiWorld,
    body_bytes,
    body_json,
    frame_record,
    header,
)
from tests.support.fits_factory import reduced_frame_bytes
from tests.support.planet_scene import colour_set, disk_centroid, planet_image


def _objects(world: ApiWorld) -> list[str]:
    listed = world.s3.list_objects_v2(Bucket=BUCKET)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def _planet_frame(world: ApiWorld, image: np.ndarray) -> None:
    world.add_frame(fits=reduced_frame_bytes(data=image, compression="RICE_1"))


def test_a_grey_planet_is_cropped_centred_and_says_planet_hit_or_miss(world):
    _planet_frame(world, planet_image((300, 340), (220.4, 90.6), radius=25.0))
    query = {"planet": "true", "image": "inline", "format": "png", "width": "300"}
    miss = world.invoke(query=query)
    hit = world.invoke(query=query)
    assert miss["statusCode"] == 200, miss["body"]
    for response in (miss, hit):
        assert header(response, "X-Thumbnail-Alignment") == "planet"
        assert header(response, "X-Thumbnail-Color-Balance") is None
    picture = np.asarray(Image.open(io.BytesIO(body_bytes(miss))))
    centre = (picture.shape[1] - 1) / 2.0
    x, y = disk_centroid(picture)
    assert abs(x - centre) < 1.0 and abs(y - centre) < 1.0
    assert body_bytes(hit) == body_bytes(miss)
    assert len(world.downloads()) == 1  # the hit rendered nothing


def test_planet_has_its_own_cache_key(world):
    _planet_frame(world, planet_image((300, 340), (170.0, 150.0), radius=25.0))
    assert world.invoke()["statusCode"] == 200
    assert world.invoke(query={"planet": "true"})["statusCode"] == 200
    assert world.invoke(query={"planet": "false"})["statusCode"] == 200  # the first again
    assert len(_objects(world)) == 2


def test_a_featureless_frame_is_a_422_saying_no_planet_was_found(world):
    noise = np.random.default_rng(7).normal(100.0, 5.0, (200, 240)).astype(np.float32)
    _planet_frame(world, noise)
    response = world.invoke(query={"planet": "true"})
    assert response["statusCode"] == 422
    assert body_json(response)["message"].startswith("planet: no object stands out of the sky")
    assert _objects(world) == []
    # The same frame without planet=true is an ordinary thumbnail.
    assert world.invoke()["statusCode"] == 200


@pytest.mark.parametrize(
    "cutout", [{"x": "100", "y": "100"}, {"ra": "201.3", "dec": "-43.0", "fov": "1"}]
)
def test_planet_with_a_cutout_is_a_400_before_any_download(world, cutout):
    world.add_frame()
    response = world.invoke(query={"planet": "true", **cutout})
    assert response["statusCode"] == 400
    assert body_json(response)["message"].startswith("planet: cannot be combined with a cutout")
    assert world.downloads() == []


def test_a_colour_planet_is_aligned_on_the_disk(world):
    listed = []
    for index, (image, name) in enumerate(zip(colour_set(), ("rp", "V", "B"), strict=True)):
        frame_id = FRAME_ID if name == "rp" else FRAME_ID + 100 + index
        basename = BASENAME if name == "rp" else f"coj2m002-ep02-20260102-{index:04d}-e91"
        record = frame_record(frame_id, basename, filter=name)
        fits = reduced_frame_bytes(data=image, filter=name, compression="RICE_1")
        world.add_frame(record, fits=fits, etag=f'"etag-{name}"', by_basename=False)
        listed.append(record)
    world.add_request_frames(listed)
    query = {"planet": "true", "color": "true", "image": "inline", "format": "png"}
    response = world.invoke("api-color.json", query={**query, "width": "400", "height": "400"})
    assert response["statusCode"] == 200, response["body"]
    assert header(response, "X-Thumbnail-Alignment") == "planet"
    assert header(response, "X-Thumbnail-Color-Balance") == "per-channel"
    picture = np.asarray(Image.open(io.BytesIO(body_bytes(response))))
    centroids = [disk_centroid(picture[..., channel]) for channel in range(3)]
    for x, y in centroids[1:]:
        assert abs(x - centroids[0][0]) < 0.2 and abs(y - centroids[0][1]) < 0.2, centroids
