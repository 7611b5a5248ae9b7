"""``cmap``: single frames through a colormap, rendered by the real renderer from FITS bytes.

The tables the service ships (`thumbnails.imaging.colormap_tables`, generated once) are
checked against the `cmap` package here, so that neither it nor matplotlib is needed at run
time. Images are decoded from PNG, so that levels are exact.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from cmap import Colormap
from PIL import Image

from tests.support.fits_factory import reduced_frame_bytes
from thumbnails.errors import InvalidParameter, MemoryBudgetExceeded
from thumbnails.imaging import budget
from thumbnails.imaging.colormaps import COLORMAPS, GRAY, palette
from thumbnails.imaging.render import render_thumbnail
from thumbnails.params import IMAGE_FORMATS, ThumbnailParams
from thumbnails.positions import PixelCutout

#: Our names and the `cmap` catalogue's for them (what the tables must reproduce).
REFERENCE = {
    "viridis": "viridis",
    "inferno": "inferno",
    "magma": "magma",
    "plasma": "plasma",
    "cividis": "cividis",
    "hot": "matlab:hot",
    "afmhot": "gnuplot:afmhot",
    "bone": "matlab:bone",
    "cubehelix": "cubehelix",
}
FRAME = reduced_frame_bytes((96, 128), stars=12)


def _decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def _render(**params) -> tuple[np.ndarray, str]:
    thumbnail = render_thumbnail([FRAME], ThumbnailParams(format="png", **params))
    image = Image.open(io.BytesIO(thumbnail.data))
    return np.asarray(image), image.mode


def test_the_maps_offered_are_gray_the_perceptual_ones_and_classic_ones():
    assert COLORMAPS[0] == GRAY
    assert set(COLORMAPS) == {GRAY, *REFERENCE}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_each_table_is_the_cmap_packages_lookup_table(name):
    reference = np.asarray(Colormap(REFERENCE[name]).lut(256))[:, :3]
    table = np.frombuffer(palette(name), dtype=np.uint8).reshape(256, 3)
    # The nearest 8-bit level of each of the 256 entries: no entry more than half a level off.
    np.testing.assert_array_equal(table, np.clip(np.rint(reference * 255.0), 0, 255))


@pytest.mark.parametrize("name", sorted(REFERENCE))
@pytest.mark.parametrize("stretch", ["zscale", "asinh"])
def test_a_colormapped_thumbnail_is_the_grey_one_looked_up_in_the_table(name, stretch):
    grey, grey_mode = _render(stretch=stretch)
    coloured, mode = _render(stretch=stretch, cmap=name)
    assert (grey_mode, mode) == ("L", "RGB")
    table = np.frombuffer(palette(name), dtype=np.uint8).reshape(256, 3)
    np.testing.assert_array_equal(coloured, table[grey])
    assert len(np.unique(grey)) > 20  # a real picture (sky, noise, stars), not a flat one


@pytest.mark.parametrize("fmt", sorted(IMAGE_FORMATS))  # fits: pixels, not a picture
def test_every_format_carries_the_colormap_as_rgb(fmt):
    thumbnail = render_thumbnail([FRAME], ThumbnailParams(format=fmt, cmap="inferno"))
    image = Image.open(io.BytesIO(thumbnail.data))
    assert image.mode == "RGB"
    pixels = np.asarray(image.convert("RGB"), dtype=int)
    # inferno is red-orange in the middle: the channels differ, unlike any grey picture.
    assert np.abs(pixels[..., 0] - pixels[..., 2]).max() > 50


def test_the_label_stays_white_on_a_colormap():
    plain, _ = _render(cmap="viridis")
    labelled, _ = _render(cmap="viridis", label="M 42")
    drawn = np.any(labelled != plain, axis=-1)
    assert drawn.sum() > 20
    # Anti-aliased edges blend into the map; the strokes' own pixels are pure white.
    assert (labelled[drawn] == 255).all(axis=-1).sum() > 10
    assert (labelled[drawn].min(axis=-1) == labelled[drawn].max(axis=-1)).mean() > 0.3


def test_a_padded_cutout_keeps_its_transparency():
    coloured, mode = _render(cmap="magma", cutout=PixelCutout(10, 10, 60), width=60, height=60)
    grey, grey_mode = _render(cutout=PixelCutout(10, 10, 60), width=60, height=60)
    assert (grey_mode, mode) == ("LA", "RGBA")
    np.testing.assert_array_equal(coloured[..., 3], grey[..., 1])
    table = np.frombuffer(palette("magma"), dtype=np.uint8).reshape(256, 3)
    np.testing.assert_array_equal(coloured[..., :3], table[grey[..., 0]])


def test_colour_composites_refuse_a_colormap_and_unknown_names_list_the_maps():
    with pytest.raises(InvalidParameter, match="^cmap: colour composites"):
        ThumbnailParams.from_query({"color": "true", "cmap": "viridis"})
    ThumbnailParams.from_query({"color": "true", "cmap": "gray"})  # the default is fine
    with pytest.raises(InvalidParameter, match="^cmap: must be one of gray, viridis, .*'jet'"):
        ThumbnailParams.from_query({"cmap": "jet"})
    assert ThumbnailParams.from_query({"cmap": " Viridis "}).cmap == "viridis"


def test_gray_keeps_every_key_and_a_colormap_has_its_own():
    assert ThumbnailParams(cmap="gray").canonical() == ThumbnailParams().canonical()
    assert "cmap" not in ThumbnailParams().canonical()
    digests = {ThumbnailParams(cmap=name).digest() for name in COLORMAPS}
    assert len(digests) == len(COLORMAPS)
    assert "&cmap=viridis&" in ThumbnailParams(cmap="viridis").canonical()


@pytest.mark.parametrize("fmt", sorted(IMAGE_FORMATS))  # fits: pixels, not a picture
def test_the_memory_budget_counts_a_colormapped_output_as_rgb(fmt):
    grey = ThumbnailParams(format=fmt, width=4096, height=4096, cutout=PixelCutout(50, 50, 4096))
    coloured = ThumbnailParams(
        format=fmt, width=4096, height=4096, cutout=PixelCutout(50, 50, 4096), cmap="viridis"
    )
    grey_plan, plan = budget.plan_memory(FRAME, grey), budget.plan_memory(FRAME, coloured)
    assert plan.colormapped and not grey_plan.colormapped
    extra = plan.estimate() - grey_plan.estimate()
    assert extra == pytest.approx(plan.binned_pixels * budget.COLORMAP_BYTES, abs=1)
    # Too large for a budget: a 413 naming what to make smaller, never a KeyError.
    allowed = (grey_plan.estimate() + plan.estimate()) // 2
    budget.check_memory(FRAME, grey, allowed)
    with pytest.raises(MemoryBudgetExceeded, match="^size: ") as refused:
        budget.check_memory(FRAME, coloured, allowed)
    assert refused.value.status == 413
