"""The renderer's fast paths give exactly what the general code gives, and skip only waste.

Reduced frames (Rice, quantized float32, one row per tile) are decoded by a lean loop over
astropy's own C decoder, and full-resolution zscale levels are computed in fewer passes: both
must be bit for bit what astropy and the plain pipeline produce, and anything outside the
fast path must still be decoded by astropy. A .fits.gz is inflated only up to the end of its
last HDU. The statistics' median is numpy's, value and type.
"""

from __future__ import annotations

import gzip
import io
import tracemalloc
import warnings
import zlib

import numpy as np
import pytest
from astropy.io import fits

from thumbnails.errors import UnreadableFrame
from thumbnails.imaging.hdus import HduInfo, iter_hdus, select_image
from thumbnails.imaging.render import load_frame, render_frames
from thumbnails.imaging.rice import rice_image, tile_rows
from thumbnails.imaging.scaling import (
    LEVEL_BAND,
    display_curve,
    normalise,
    sample_median,
    to_uint8,
    zscale_levels,
)
from thumbnails.params import ThumbnailParams

DITHERS = {"NO_DITHER": -1, "SUBTRACTIVE_DITHER_1": 1, "SUBTRACTIVE_DITHER_2": 2}


def compressed_bytes(data: np.ndarray, **options) -> bytes:
    hdu = fits.CompImageHDU(data, name="SCI", **options)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buffer)
    return buffer.getvalue()


def astropy_image(raw: bytes) -> np.ndarray:
    with fits.open(io.BytesIO(raw)) as hdul:
        return hdul["SCI"].data


def science_hdu(raw: bytes) -> HduInfo:
    return select_image(list(iter_hdus(raw))).hdus[0]


def noisy_image(shape=(45, 61), *, nans: bool = False, zeros: bool = False) -> np.ndarray:
    rng = np.random.default_rng(7)
    image = rng.normal(1000.0, 30.0, shape).astype(np.float32)
    image[5, 7] = 60000.0
    if nans:
        image[rng.random(shape) < 0.05] = np.nan
    if zeros:
        image[0, :5] = 0.0
    return image


@pytest.mark.parametrize("dither", list(DITHERS))
@pytest.mark.parametrize("nans", [False, True], ids=["finite", "with-nan"])
@pytest.mark.parametrize("tile_rows", [1, 4], ids=["row-tiles", "4-row-tiles"])
def test_quantized_rice_rows_decode_bit_for_bit_as_astropy(dither, nans, tile_rows):
    image = noisy_image(nans=nans, zeros=dither == "SUBTRACTIVE_DITHER_2")
    raw = compressed_bytes(
        image,
        compression_type="RICE_1",
        quantize_method=DITHERS[dither],
        dither_seed=1234,
        tile_shape=(tile_rows, image.shape[1]),
    )
    expected = astropy_image(raw)

    fast = rice_image(raw, science_hdu(raw))

    assert fast is not None, "this layout is the fast path's"
    assert fast.dtype == expected.dtype and fast.shape == expected.shape
    np.testing.assert_array_equal(fast, expected)
    assert np.array_equal(np.isnan(fast), np.isnan(expected))
    np.testing.assert_array_equal(load_frame(raw).data, expected)


def integer_image(dtype, shape=(45, 61)) -> np.ndarray:
    info = np.iinfo(dtype)
    rng = np.random.default_rng(11)
    return rng.integers(info.min, info.max, shape, endpoint=True, dtype=np.int64).astype(dtype)


@pytest.mark.parametrize("compression", ["RICE_1", "GZIP_1", "GZIP_2"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.int32, np.uint32, "float"])
@pytest.mark.parametrize("tile_rows", [1, 4], ids=["row-tiles", "4-row-tiles"])
def test_row_tiled_rice_and_gzip_images_decode_bit_for_bit_as_astropy(
    compression, dtype, tile_rows
):
    # Raw frames are int16 + 32768 (uint16); the lean loop now decodes integers and GZIP.
    image = noisy_image(nans=True) if dtype == "float" else integer_image(dtype)
    raw = compressed_bytes(
        image, compression_type=compression, tile_shape=(tile_rows, image.shape[1])
    )
    expected = astropy_image(raw)

    fast = rice_image(raw, science_hdu(raw))

    assert fast is not None, "this layout is the lean loop's"
    assert fast.dtype == expected.dtype
    np.testing.assert_array_equal(fast, expected)


@pytest.mark.parametrize("reverse", [False, True], ids=["upwards", "downwards"])
def test_row_bands_cover_exactly_the_rows_asked_for(reverse):
    image = integer_image(np.uint16, (50, 61))
    raw = compressed_bytes(image, compression_type="RICE_1", tile_shape=(4, 61))
    rows = tile_rows(raw, science_hdu(raw))

    bands = [(top, band.copy()) for top, band in rows.bands(6, 47, band_rows=8, reverse=reverse)]

    tops = [top for top, _band in bands]
    assert tops == sorted(tops, reverse=reverse) and min(tops) == 6
    assert all(band.shape[0] <= 8 + 3 for _top, band in bands)
    stacked = np.concatenate([band for _top, band in sorted(bands, key=lambda b: b[0])])
    np.testing.assert_array_equal(stacked, image[6:47])
    np.testing.assert_array_equal(rows.read(13, 14), image[13:14])


@pytest.mark.parametrize(
    ("data", "options"),
    [
        (noisy_image(), {"compression_type": "RICE_1", "tile_shape": (8, 8)}),
        (noisy_image(), {"compression_type": "HCOMPRESS_1"}),
        (noisy_image(), {"compression_type": "RICE_1", "quantize_level": 0}),
        (np.arange(45 * 61, dtype=np.int16).reshape(45, 61), {"compression_type": "PLIO_1"}),
    ],
    ids=["square-tiles", "hcompress", "lossless-float", "plio"],
)
def test_other_compressed_layouts_are_left_to_astropy(data, options):
    raw = compressed_bytes(data, **options)
    expected = astropy_image(raw)

    assert rice_image(raw, science_hdu(raw)) is None
    decoded = load_frame(raw).data
    assert decoded.dtype == expected.dtype
    np.testing.assert_array_equal(decoded, expected)


def test_corrupt_rice_tiles_make_an_unreadable_frame():
    raw = bytearray(compressed_bytes(noisy_image(), compression_type="RICE_1"))
    info = science_hdu(bytes(raw))
    heap = info.data_start + info.table["NAXIS1"] * info.table["NAXIS2"]
    raw[heap : info.data_end] = b"\xff" * (info.data_end - heap)

    with pytest.raises(UnreadableFrame):
        load_frame(bytes(raw), stream=False)
    # Streamed, the tiles are decoded when the frame is rendered (or prepared).
    frame = load_frame(bytes(raw))
    with pytest.raises(UnreadableFrame, match="corrupt"):
        render_frames([frame], ThumbnailParams(width=20, height=20))


@pytest.mark.parametrize(
    ("vmin", "vmax"), [(950.0, 1100.0), (1000.0, 1000.0), (1200.0, 900.0)], ids=str
)
def test_full_resolution_zscale_levels_are_those_of_the_display_curve(vmin, vmax):
    values = noisy_image(nans=True)
    values[1, 1], values[2, 2] = np.inf, -np.inf

    levels = zscale_levels(values, vmin, vmax)

    expected = to_uint8(display_curve("zscale", normalise(values, vmin, vmax)))
    assert levels.dtype == np.uint8
    np.testing.assert_array_equal(levels, expected)


def test_full_resolution_zscale_levels_are_the_same_across_bands():
    # More pixels than one band, and not a whole number of bands: each band's pixels get
    # the same levels as the whole image in one pass would.
    values = noisy_image((311, 257), nans=True)
    values[300, 250], values[200, 3] = np.inf, -np.inf
    assert values.size > LEVEL_BAND and values.size % LEVEL_BAND

    levels = zscale_levels(values, 950.0, 1100.0)

    expected = to_uint8(display_curve("zscale", normalise(values, 950.0, 1100.0)))
    assert levels.shape == values.shape
    np.testing.assert_array_equal(levels, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [1, 2, 3, 2000, 2001])
@pytest.mark.parametrize("content", ["spread", "ties", "nan"])
def test_sample_median_is_numpys_median_value_and_type(dtype, size, content):
    rng = np.random.default_rng(size)
    values = rng.normal(5.0, 3.0, size).astype(dtype)
    if content == "ties":
        values = np.round(values)
    elif content == "nan":
        values[size // 2] = np.nan

    result, expected = sample_median(values), np.median(values)

    # The type matters: a float32 median keeps the arithmetic after it in float32.
    assert type(result) is type(expected)
    np.testing.assert_array_equal(result, expected)


def with_dither_seed(raw: bytes, seed: int) -> bytes:
    """`raw` with its ZDITHER0 card rewritten (same length, so nothing else moves)."""
    start = raw.index(b"ZDITHER0=")
    card = f"ZDITHER0= {seed:>20}".ljust(80).encode("ascii")
    return raw[:start] + card + raw[start + 80 :]


@pytest.mark.parametrize("compression", ["RICE_1", "GZIP_2"])
@pytest.mark.parametrize("seed", [0, -100000, 10001])
def test_a_dither_seed_outside_the_convention_is_an_unreadable_frame(compression, seed):
    # The C unquantizer indexes its random table with the seed: out of range, it would read
    # outside the table (a crash), so the frame is refused before any tile is decoded.
    raw = compressed_bytes(
        noisy_image(), compression_type=compression, quantize_method=1, dither_seed=5
    )

    with pytest.raises(UnreadableFrame, match="ZDITHER0"):
        load_frame(with_dither_seed(raw, seed))


@pytest.mark.parametrize("seed", [1, 10000])
def test_dither_seeds_at_the_ends_of_the_convention_decode(seed):
    raw = with_dither_seed(
        compressed_bytes(noisy_image(), compression_type="RICE_1", quantize_method=1), seed
    )

    np.testing.assert_array_equal(load_frame(raw).data, astropy_image(raw))


def test_a_fits_gz_is_inflated_only_up_to_the_end_of_its_last_hdu():
    frame = compressed_bytes(noisy_image(), compression_type="RICE_1")
    deflate = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    zeros = bytes(1 << 20)
    # 32 MiB of zeros after the last HDU: a few tens of KiB on the wire.
    data = b"".join(
        [deflate.compress(frame)] + [deflate.compress(zeros) for _ in range(32)] + [deflate.flush()]
    )
    tracemalloc.start()
    try:
        decoded = load_frame(data).data
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 8 * 1024**2, f"peak {peak / 1024**2:.0f} MiB"
    np.testing.assert_array_equal(decoded, astropy_image(frame))
    np.testing.assert_array_equal(load_frame(gzip.compress(frame)).data, decoded)
