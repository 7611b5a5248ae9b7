"""Rendering: orientation, size, scaling, NaNs, labels, formats, colour; asserted on pixels."""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
import pytest
from PIL import Image

from tests.support.fits_factory import COMPRESSIONS, gzip_bytes, reduced_frame_bytes, star_field
from thumbnails.errors import InvalidParameter
from thumbnails.imaging.render import (
    Thumbnail,
    fit_size,
    load_frame,
    read_header,
    render_frames,
    render_thumbnail,
)
from thumbnails.params import IMAGE_FORMATS, STRETCHES, ThumbnailParams

PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "avif": "AVIF"}


def _render(data: np.ndarray, **params) -> np.ndarray:
    """Render an image array (row 0 = FITS row 1) to PNG and decode it."""
    thumbnail = render_frames(
        [load_frame(reduced_frame_bytes(data=data))], ThumbnailParams(format="png", **params)
    )
    return np.asarray(Image.open(io.BytesIO(thumbnail.data)))


def _sky(shape=(64, 96), seed=0) -> np.ndarray:
    return star_field(shape, seed=seed, stars=0, sky=1000.0)


# ------------------------------------------------------------------ orientation
def test_fits_row_one_is_drawn_at_the_bottom_and_column_one_at_the_left():
    data = _sky()
    data[0:4, 0:4] = 1e5  # FITS rows 1-4, columns 1-4
    pixels = _render(data, width=96, height=64)
    assert pixels[-4:, :4].min() == 255  # bottom-left of the picture
    assert pixels[:4, :].max() < 255 and pixels[:, -4:].max() < 255


# ------------------------------------------------------------------ sizes
@pytest.mark.parametrize(
    ("shape", "box"),
    [
        ((4096, 4096), (200, 200)),
        ((2042, 3054), (200, 200)),
        ((3054, 2042), (200, 200)),
        ((2042, 3054), (500, 120)),
        ((100, 1000), (200, 200)),
        ((1000, 3), (200, 200)),
        ((96, 128), (400, 400)),
        ((96, 128), (128, 50)),
        ((96, 128), (1, 4096)),
    ],
)
def test_output_size_is_pillow_thumbnail_size_aspect_kept_never_enlarged(shape, box):
    rows, cols = shape
    reference = Image.new("L", (cols, rows))
    reference.thumbnail(box)  # what fits2image (the old service) did
    width, height = fit_size(cols, rows, *box)
    assert (width, height) == reference.size
    assert width <= max(box[0], 1) and height <= box[1]
    assert width <= cols and height <= rows


@pytest.mark.parametrize(
    ("shape", "box", "expected"),
    [
        ((96, 128), (64, 64), (64, 48)),
        ((96, 128), (500, 500), (128, 96)),
        ((50, 60), (60, 10), (12, 10)),
    ],
)
def test_rendered_image_has_the_fitted_size(shape, box, expected):
    thumbnail = render_thumbnail(
        [reduced_frame_bytes(shape)], ThumbnailParams(width=box[0], height=box[1])
    )
    assert (thumbnail.width, thumbnail.height) == expected
    assert Image.open(io.BytesIO(thumbnail.data)).size == expected


# ------------------------------------------------------------------ scaling
def _fits2image_zscale(data: np.ndarray) -> np.ndarray:
    """fits2image 1.1.0 get_scaled_image at full size, for a frame without a WCS."""
    samples = data.flatten()[int(data.size / 2000) :: int(data.size / 2000)].copy()
    samples.sort()
    median = np.median(samples)
    n = len(samples)
    slope, intercept = np.linalg.lstsq(
        np.vstack([np.arange(n), np.ones(n)]).T, samples.astype(float), rcond=None
    )[0]
    zmax = min(samples[-1], intercept + slope / 0.1 * n / 2)
    scaled = np.clip(data.astype(float), median, zmax)
    scaled = np.rint((scaled - median) * 255.0 / (zmax - median)).astype(int)
    table = np.array([int(256 * math.pow(i / 256, 1 / 2.5)) for i in range(256)])
    return np.flipud(table[scaled].astype(np.uint8))


def test_zscale_at_full_size_is_pixel_for_pixel_the_old_renderer():
    data = star_field((100, 120), seed=5, stars=15, sky=800.0)
    pixels = _render(data, width=120, height=100)
    np.testing.assert_array_equal(pixels, _fits2image_zscale(data))


def test_zscale_keeps_the_old_look_black_sky_grey_noise_white_stars():
    stars = [(256.0, 256.0, 20000.0), (100.0, 400.0, 60000.0)]
    data = star_field((512, 512), seed=2, stars=stars, sky=800.0, fwhm=6.0)
    pixels = _render(data, width=64, height=64)
    sky = np.median(pixels)
    assert 10 < sky < 90  # the old renderer's averaged noise: dark grey, not pure black
    assert pixels[28:36, 28:36].max() > 240  # the stars, white
    assert pixels[64 - 1 - 400 // 8, 100 // 8] > 240


def test_binning_keeps_a_faint_star_that_striding_would_miss():
    # A faint star 2 px wide, in a field whose bright stars set the white point: every 8th
    # pixel would most likely miss its core; an 8x8 average keeps its light.
    field = [(40.0, 40.0, 30000.0), (200.0, 60.0, 20000.0), (60.0, 210.0, 25000.0)]
    faint = [(101.0, 101.0, 150.0)]
    data = star_field((256, 256), seed=7, stars=field + faint, sky=1000.0, fwhm=2.0)
    pixels = _render(data, width=32, height=32).astype(int)
    star = pixels[32 - 1 - 101 // 8, 101 // 8]
    strided = data[::8, ::8][::-1]  # what striding would have looked at
    assert strided[32 - 1 - 101 // 8, 101 // 8] < 1000.0 + 4 * 5.0  # no trace of it there
    assert star > np.median(pixels) + 30


def test_median_option_puts_the_median_at_black_and_the_percentile_at_white():
    data = star_field((128, 128), seed=4, stars=20, sky=500.0)
    plain = _render(data, width=128, height=128)
    recalculated = _render(data, width=128, height=128, median=True, percentile=90.0)
    assert np.percentile(plain, 90.0) < 200  # sky noise: grey
    assert np.median(recalculated) == 0
    assert np.percentile(recalculated, 90.0) >= 254  # stretched to white


@pytest.mark.parametrize("stretch", STRETCHES)
def test_every_stretch_draws_sky_darker_than_stars(stretch):
    data = star_field((128, 128), seed=6, stars=[(64.0, 64.0, 30000.0)], sky=500.0)
    pixels = _render(data, width=64, height=64, stretch=stretch)
    assert pixels[30:34, 30:34].max() > np.median(pixels) + 100


@pytest.mark.parametrize("stretch", STRETCHES)
@pytest.mark.parametrize("fill", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_pixels_are_drawn_black_and_left_out_of_the_scaling(stretch, fill):
    data = star_field((64, 64), seed=1, stars=5, sky=500.0)
    reference = _render(data, width=64, height=64, stretch=stretch)
    data[:, :32] = fill  # the left half
    pixels = _render(data, width=64, height=64, stretch=stretch)
    assert pixels[:, :32].max() == 0
    # The right half is scaled from its own values only (as without the bad half, up to the
    # sample of the statistics).
    assert abs(float(np.median(pixels[:, 34:])) - float(np.median(reference[:, 34:]))) < 25


@pytest.mark.parametrize("stretch", STRETCHES)
def test_all_nan_image_renders_black(stretch):
    pixels = _render(np.full((40, 40), np.nan, np.float32), stretch=stretch)
    assert pixels.max() == 0


@pytest.mark.parametrize("stretch", STRETCHES)
@pytest.mark.parametrize("median", [False, True])
def test_constant_image_renders_without_dividing_by_zero(stretch, median):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pixels = _render(np.full((40, 50), 123.0, np.float32), stretch=stretch, median=median)
    assert pixels.shape == (40, 50)
    assert pixels.min() == pixels.max()


# ------------------------------------------------------------------ label
def test_label_draws_white_text_in_the_lower_left_corner():
    data = np.full((120, 200), np.nan, np.float32)  # renders black
    plain = _render(data, width=200, height=120).astype(int)
    labelled = _render(data, width=200, height=120, label="M31 rp 2026-01-02").astype(int)
    lower_left = (slice(90, 120), slice(0, 100))
    assert labelled[lower_left].sum() > plain[lower_left].sum() + 255 * 30
    assert labelled[lower_left].max() == 255
    np.testing.assert_array_equal(labelled[:60], plain[:60])  # the top is untouched


def test_long_label_shrinks_to_fit_the_width():
    data = np.full((100, 100), np.nan, np.float32)  # renders black
    short = _render(data, width=100, height=100, label="W")
    long = _render(data, width=100, height=100, label="W" * 15)
    columns = np.nonzero(long.max(axis=0))[0]
    assert 80 < columns.max() < 100 - 2  # wide, but not cut at the right edge
    height = np.ptp(np.nonzero(short.max(axis=1))[0])
    assert np.ptp(np.nonzero(long.max(axis=1))[0]) < height  # a smaller font


@pytest.mark.parametrize("label", ["Ωmega Centauri – η Car ✓", "北斗七星", "👍 done"])
def test_any_unicode_label_renders(label):
    black = np.full((60, 120), np.nan, np.float32)
    pixels = _render(black, width=120, height=60, label=label)
    assert pixels[30:].max() == 255


# ------------------------------------------------------------------ formats
@pytest.mark.parametrize("fmt", IMAGE_FORMATS)  # fits: tests/unit/imaging/test_fits_output.py
@pytest.mark.parametrize("stretch", STRETCHES)
def test_every_format_and_stretch_decodes_to_the_declared_type_and_size(fmt, stretch):
    params = ThumbnailParams(width=50, height=50, format=fmt, stretch=stretch, quality=60)
    thumbnail = render_thumbnail([reduced_frame_bytes((96, 128))], params)
    assert isinstance(thumbnail, Thumbnail)
    assert thumbnail.content_type == params.content_type
    assert thumbnail.alignment is None
    decoded = Image.open(io.BytesIO(thumbnail.data))
    assert decoded.format == PIL_FORMATS[fmt]
    assert decoded.size == (thumbnail.width, thumbnail.height) == (50, 38)


def test_jpeg_quality_changes_the_encoding():
    frame = load_frame(reduced_frame_bytes((96, 128)))
    low = render_frames([frame], ThumbnailParams(quality=5)).data
    high = render_frames([frame], ThumbnailParams(quality=95)).data
    assert len(low) < len(high)


@pytest.mark.parametrize("container", ["fits", "fits.gz", *COMPRESSIONS])
def test_every_container_renders(container):
    if container == "fits":
        raw = reduced_frame_bytes((64, 64))
    elif container == "fits.gz":
        raw = gzip_bytes(reduced_frame_bytes((64, 64)))
    else:
        raw = reduced_frame_bytes((64, 64), compression=container)
    thumbnail = render_thumbnail([raw], ThumbnailParams(width=32, height=32, format="png"))
    assert np.asarray(Image.open(io.BytesIO(thumbnail.data))).std() > 0


# ------------------------------------------------------------------ reuse, determinism
def test_rendering_is_deterministic_across_loads_and_reuse_of_a_frame():
    raw = reduced_frame_bytes((200, 300), compression="RICE_1")
    frame = load_frame(raw)
    presets = [ThumbnailParams(), ThumbnailParams(width=64, height=64), ThumbnailParams()]
    first = [render_frames([frame], p).data for p in presets]
    assert first[0] == first[2]
    again = [render_frames([load_frame(raw)], p).data for p in presets]
    assert first == again


def test_many_presets_from_one_frame_bin_it_once_per_size():
    frame = load_frame(reduced_frame_bytes((400, 400)))
    render_frames([frame], ThumbnailParams(width=100, height=100))
    binned = frame.binned(4)
    render_frames([frame], ThumbnailParams(width=100, height=100, format="webp"))
    assert frame.binned(4) is binned


def test_single_frame_with_color_or_wrong_frame_count_is_refused():
    frame = load_frame(reduced_frame_bytes((32, 32)))
    with pytest.raises(InvalidParameter, match="color"):
        render_frames([frame], ThumbnailParams(color=True))
    with pytest.raises(InvalidParameter, match="color"):
        render_frames([frame, frame], ThumbnailParams())


def test_read_header_returns_the_cards_the_service_filters_on():
    header = read_header(reduced_frame_bytes(obstype="EXPOSE", filter="V", reqnum=123))
    assert (header["OBSTYPE"], header["FILTER"], header["REQNUM"]) == ("EXPOSE", "V", 123)


# ------------------------------------------------------------------ colour
def _colour_frames(shape=(96, 96)) -> list[bytes]:
    """R, V, B frames of one field, each with one star of its own (same WCS)."""
    stars = [(20.0, 20.0), (48.0, 48.0), (76.0, 76.0)]
    frames = []
    for index, band in enumerate(("rp", "V", "B")):
        x, y = stars[index]
        data = star_field(shape, seed=index, stars=[(x, y, 50000.0)], sky=300.0)
        frames.append(reduced_frame_bytes(data=data, filter=band))
    return frames


@pytest.mark.parametrize("stretch", STRETCHES)
def test_colour_puts_the_three_frames_in_red_green_blue_order(stretch):
    params = ThumbnailParams(width=96, height=96, color=True, format="png", stretch=stretch)
    thumbnail = render_thumbnail(_colour_frames(), params)
    assert thumbnail.alignment == "wcs"
    rgb = np.asarray(Image.open(io.BytesIO(thumbnail.data))).astype(int)
    assert rgb.shape == (96, 96, 3)
    for channel, (x, y) in enumerate([(20, 20), (48, 48), (76, 76)]):
        pixel = rgb[95 - y, x]  # FITS row 1 at the bottom
        others = [c for c in range(3) if c != channel]
        assert pixel[channel] > max(pixel[others]) + 60, (channel, pixel)


def test_dead_and_hot_columns_are_clipped_while_binning_so_they_stay_faint():
    stars = [(60.0, 60.0, 30000.0), (400.0, 300.0, 20000.0), (300.0, 450.0, 25000.0)]
    data = star_field((512, 512), seed=3, stars=stars, sky=800.0, noise=30.0)
    data[:, 203] = 0.0  # dead
    data[:, 307] += 5000.0  # hot
    pixels = _render(data, width=64, height=64).astype(float)
    profile = np.median(pixels, axis=0)  # down each column of the picture
    sky = np.median(profile)
    # Unclipped, one dead column of eight drops the block mean 100 e- (3 sigma): black.
    assert sky - profile[203 // 8] < 15
    # Unclipped, the hot column adds 625 e- to its blocks: white. Clipped: grey.
    assert 0 < profile[307 // 8] - sky < 128
