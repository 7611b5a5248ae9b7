"""Planets: ``planet=true`` finds the disk, crops around it and aligns colour on it.

Synthetic frames (`tests.support.planet_scene`: a limb-darkened disk, a moon inside the crop
and a star brighter than the disk pixel for pixel) written as Rice-compressed FITS and
rendered by the real renderer.
"""

from __future__ import annotations

import io
import tracemalloc
from collections import deque

import numpy as np
import pytest
from PIL import Image

from tests.support.fits_factory import reduced_frame_bytes
from tests.support.planet_scene import (
    COLOUR_SHIFTS,
    colour_set,
    disk_centroid,
    planet_image,
)
from thumbnails.errors import InvalidParameter, NoPlanetFound
from thumbnails.imaging import budget
from thumbnails.imaging.planet import find_disk, label_regions, planet_crop
from thumbnails.imaging.render import load_frame, render_frames, render_thumbnail
from thumbnails.params import ThumbnailParams
from thumbnails.positions import PixelCutout

FILTERS = ("rp", "V", "B")


def _fits(image: np.ndarray, filter_name: str = "rp") -> bytes:
    return reduced_frame_bytes(data=image, filter=filter_name, compression="RICE_1")


def _picture(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def test_a_colour_planet_comes_out_centred_with_its_channels_aligned():
    frames = [_fits(image, name) for image, name in zip(colour_set(), FILTERS, strict=True)]
    params = ThumbnailParams(planet=True, color=True, format="png", width=400, height=400)
    thumbnail = render_thumbnail(frames, params)
    assert thumbnail.alignment == "planet"
    assert thumbnail.color_balance == "per-channel"
    picture = _picture(thumbnail.data)
    assert picture.ndim == 3 and picture.shape[0] == picture.shape[1]
    # The crop is sized from the disk (radius 30: 3.5 radii across), never enlarged.
    assert 95 <= picture.shape[0] <= 115
    centre = (picture.shape[1] - 1) / 2.0
    centroids = [disk_centroid(picture[..., channel]) for channel in range(3)]
    for x, y in centroids:
        assert abs(x - centre) < 1.0 and abs(y - centre) < 1.0, centroids
    for x, y in centroids[1:]:
        assert abs(x - centroids[0][0]) < 0.2 and abs(y - centroids[0][1]) < 0.2, centroids


def test_the_aligner_recovers_the_frames_offsets_to_a_tenth_of_a_pixel():
    crop = planet_crop(colour_set(), (400, 400))
    assert crop.factor == 1
    for measured, known in zip(crop.shifts, COLOUR_SHIFTS, strict=True):
        assert measured == pytest.approx(known, abs=0.1)


@pytest.mark.parametrize("centre", [(300.6, 80.2), (90.3, 250.8)], ids=["low-right", "up-left"])
def test_a_grey_planet_is_centred_wherever_it_is_in_the_frame(centre):
    image = planet_image((340, 420), centre, radius=22.0)
    params = ThumbnailParams(planet=True, format="png", width=300, height=300)
    thumbnail = render_thumbnail([_fits(image)], params)
    assert thumbnail.alignment == "planet" and thumbnail.color_balance is None
    picture = _picture(thumbnail.data)
    assert picture.ndim == 2
    centre_out = (picture.shape[1] - 1) / 2.0
    x, y = disk_centroid(picture)
    assert abs(x - centre_out) < 1.0 and abs(y - centre_out) < 1.0
    # Black sky, a white disk: the linear stretch cuts the sky at a robust level.
    assert picture[:4, :4].max() == 0
    assert picture.max() == 255


def test_a_grey_planet_through_a_colormap_is_the_same_crop_in_colour():
    image = planet_image((340, 420), (200.4, 170.9), radius=22.0)
    grey_params = ThumbnailParams(planet=True, format="png")
    grey = _picture(render_thumbnail([_fits(image)], grey_params).data)
    params = ThumbnailParams(planet=True, format="png", cmap="inferno")
    thumbnail = render_thumbnail([_fits(image)], params)
    mapped = _picture(thumbnail.data)
    assert mapped.shape == grey.shape + (3,)
    # inferno is black at 0 and pale yellow at 255: the sky stays dark, the disk bright.
    assert mapped[:4, :4].max() <= 10
    assert mapped[grey == 255].min(axis=0).tolist()[0] > 200
    # The same budget covers it (the colormapped picture is counted).
    plan = budget.check_memory(_fits(image), params, 1 << 40)
    assert plan.colormapped and plan.planet
    grey_plan = budget.check_memory(_fits(image), grey_params, 1 << 40)
    assert plan.estimate() > grey_plan.estimate()


def test_the_crop_is_resized_into_a_smaller_box_still_centred():
    image = planet_image((600, 600), (310.2, 280.7), radius=60.0)
    thumbnail = render_thumbnail([_fits(image)], ThumbnailParams(planet=True, format="png"))
    picture = _picture(thumbnail.data)
    assert picture.shape == (200, 200)
    x, y = disk_centroid(picture)
    assert abs(x - 99.5) < 1.0 and abs(y - 99.5) < 1.0


def test_the_planet_is_the_extended_object_not_the_brighter_star_or_the_moon():
    image = planet_image((300, 300), (160.0, 150.0), radius=20.0)
    disk = find_disk(image)
    assert disk.x == pytest.approx(160.0, abs=0.3) and disk.y == pytest.approx(150.0, abs=0.3)
    assert 16.0 < disk.radius < 21.0


@pytest.mark.parametrize(
    ("image", "message"),
    [
        pytest.param(
            np.random.default_rng(3).normal(100.0, 5.0, (256, 256)).astype(np.float32),
            "no object stands out of the sky",
            id="featureless",
        ),
        pytest.param(np.full((64, 64), 7.0, np.float32), "no object stands out", id="flat"),
        pytest.param(
            planet_image((256, 256), (128.0, 128.0), radius=0.5),
            "no extended object found",
            id="stars-only",
        ),
    ],
)
def test_a_frame_without_a_planet_is_refused_with_what_was_found(image, message):
    with pytest.raises(NoPlanetFound, match=message) as raised:
        render_thumbnail([_fits(image)], ThumbnailParams(planet=True))
    assert raised.value.status == 422


def _flood_fill_regions(mask: np.ndarray) -> set[frozenset[int]]:
    """The 8-connected regions of `mask` by breadth-first flood fill (the slow, obvious way)."""
    rows, cols = mask.shape
    seen = np.zeros_like(mask)
    regions = set()
    for start in zip(*np.nonzero(mask), strict=True):
        if seen[start]:
            continue
        seen[start] = True
        queue, region = deque([start]), []
        while queue:
            y, x = queue.popleft()
            region.append(int(y * cols + x))
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    ny, nx = y + dy, x + dx
                    if 0 <= ny < rows and 0 <= nx < cols and mask[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        queue.append((ny, nx))
        regions.add(frozenset(region))
    return regions


@pytest.mark.parametrize("seed", range(6))
def test_labelling_finds_the_same_regions_as_a_flood_fill(seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((40, 50)) < (0.2 + 0.08 * seed)  # sparse to percolating
    pixels, labels, count = label_regions(mask)
    found = {frozenset(pixels[labels == label].tolist()) for label in range(count)}
    assert found == _flood_fill_regions(mask)
    assert len(found) == count


def test_planet_params_change_the_key_and_leave_every_other_key_alone():
    plain = ThumbnailParams()
    planet = ThumbnailParams(planet=True)
    assert "planet" not in plain.canonical()
    assert plain.digest() != planet.digest()
    assert ThumbnailParams(color=True).digest() != ThumbnailParams(color=True, planet=True).digest()
    # Its stretch is its own: stretch and median do not split its cache; percentile does.
    assert planet.digest() == ThumbnailParams(planet=True, stretch="log", median=True).digest()
    assert planet.digest() != ThumbnailParams(planet=True, percentile=99.0).digest()
    assert ThumbnailParams.from_query({"planet": "true"}) == planet


def test_planet_with_a_cutout_is_a_400():
    with pytest.raises(InvalidParameter, match="planet: cannot be combined with a cutout"):
        ThumbnailParams(planet=True, cutout=PixelCutout(10, 10, 50))
    with pytest.raises(InvalidParameter, match="^planet"):
        ThumbnailParams.from_query({"planet": "1", "x": "10", "y": "10"})


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "avif"])
@pytest.mark.parametrize("color", [False, True], ids=["grey", "colour"])
def test_the_memory_budget_plans_a_planet_and_covers_its_traced_peak(fmt, color):
    images = (
        colour_set((700, 760), base=(400.3, 310.8))
        if color
        else [planet_image((700, 760), (400.3, 310.8))]
    )
    data = [_fits(image, name) for image, name in zip(images, FILTERS, strict=False)]
    params = ThumbnailParams(planet=True, color=color, format=fmt, width=600, height=600)
    plan = budget.check_memory(data[0], params, 1 << 40)  # never a KeyError for any format
    assert plan.planet
    tracemalloc.start()
    try:
        render_frames([load_frame(item) for item in data], params)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= plan.estimate() - budget.FIXED_BYTES, (peak, plan.estimate())
