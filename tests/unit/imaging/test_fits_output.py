"""``format=fits``: a cutout's own pixels with its WCS moved, or the whole frame binned with its
WCS scaled (`thumbnails.imaging.fits_output`), checked on real FITS files read back by astropy.

Stars are placed on the sky by the frame's WCS (astropy's, distortion included) and found
again through the output's WCS: the sky position of a star must map to the pixel it is at in
the output to 0.01 px.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from tests.support.cutout_support import OTHERS, TARGET, sky_frame
from tests.support.fits_factory import raw_amplifier_frame_bytes, reduced_frame_bytes
from thumbnails.cache_keys import thumbnail_key
from thumbnails.errors import InvalidParameter, MemoryBudgetExceeded
from thumbnails.imaging import budget
from thumbnails.imaging.render import load_frame, render_fits, render_thumbnail
from thumbnails.params import ThumbnailParams
from thumbnails.positions import PixelCutout, SkyCutout

#: A TAN-SIP distortion of a few pixels at the frame's edges (a 2nd-order SIP as BANZAI's
#: astrometry writes), with its inverse left out: only the forward one is checked.
SIP = {
    "CTYPE1": "RA---TAN-SIP",
    "CTYPE2": "DEC--TAN-SIP",
    "A_ORDER": 2,
    "A_2_0": 4.0e-5,
    "A_1_1": -2.5e-5,
    "A_0_2": 1.5e-5,
    "B_ORDER": 2,
    "B_2_0": -1.0e-5,
    "B_1_1": 3.0e-5,
    "B_0_2": 2.0e-5,
}
WCS_KINDS = {
    "tan": {},
    "tan-sip": {"extra": SIP},
    "rotated": {"rotation": 37.0},
    "mirrored": {"mirrored": True, "rotation": -20.0},
}
STARS = [TARGET, *[(ra, dec) for ra, dec, _peak in OTHERS]]
SOURCE = ("coj2m002-ep02-20260102-0050-e91", "0123456789abcdef0123456789abcdef")


def opened(data: bytes) -> fits.PrimaryHDU:
    hdul = fits.open(io.BytesIO(data))
    assert len(hdul) == 1
    return hdul[0]


def celestial(header) -> WCS:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return WCS(header)


def sci(data: bytes) -> fits.ImageHDU:
    with fits.open(io.BytesIO(data)) as hdul:
        hdu = hdul["SCI"]
        return fits.ImageHDU(hdu.data.copy(), hdu.header.copy())


def stars_on(wcs: WCS, stars=STARS) -> np.ndarray:
    """``(x, y)`` 0-based pixels of `stars` (ra, dec) through `wcs`, distortion included."""
    ra, dec = np.array(stars).T
    return np.column_stack(wcs.all_world2pix(ra, dec, 0))


# ---------------------------------------------------------------------------- cutouts
@pytest.mark.parametrize("kind", WCS_KINDS)
@pytest.mark.parametrize(
    "cutout",
    [PixelCutout(150.0, 120.0, 101), PixelCutout(20.0, 240.0, 90), SkyCutout(*TARGET, 1.2)],
    ids=["pixel-inside", "pixel-padded", "sky"],
)
def test_a_cutouts_wcs_puts_every_star_where_the_frames_does(kind, cutout):
    data = sky_frame(**WCS_KINDS[kind])
    source = sci(data)
    product = render_fits(data, ThumbnailParams(format="fits", cutout=cutout), source=SOURCE)
    hdu = opened(product.data)
    out_wcs = celestial(hdu.header)
    if kind == "tan-sip":
        assert out_wcs.sip is not None  # the distortion kept, not dropped
    # The window's first pixel, found from the pixels themselves: the output is the frame's
    # pixels at some offset, and that offset is what the WCS must have moved by.
    x0, y0 = _offset(hdu.data, source.data)
    expected = stars_on(celestial(source.header)) - (x0, y0)
    np.testing.assert_allclose(stars_on(out_wcs), expected, atol=0.01, rtol=0)
    # Not turned north up nor mirrored: the target star is the brightest pixel at its place.
    tx, ty = np.rint(expected[0]).astype(int)
    if 0 <= tx < hdu.data.shape[1] and 0 <= ty < hdu.data.shape[0]:
        near = hdu.data[ty - 2 : ty + 3, tx - 2 : tx + 3]
        assert np.nanmax(near) == np.nanmax(hdu.data)


def _offset(cut: np.ndarray, frame: np.ndarray) -> tuple[int, int]:
    """Where `cut` (NaN where padded) lies in `frame`: the one offset at which every finite
    pixel of `cut` equals the frame's."""
    rows, cols = cut.shape
    finite = np.argwhere(np.isfinite(cut))
    (y, x) = finite[0]
    matches = np.argwhere(frame == cut[y, x])
    found = []
    for fy, fx in matches:
        y0, x0 = fy - y, fx - x
        ys, xs = finite[:, 0] + y0, finite[:, 1] + x0
        if ys.min() < 0 or xs.min() < 0 or ys.max() >= frame.shape[0] or xs.max() >= frame.shape[1]:
            continue
        if np.array_equal(frame[ys, xs], cut[finite[:, 0], finite[:, 1]]):
            found.append((int(x0), int(y0)))
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("compression", [None, "RICE_1", "GZIP_2"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.int32, np.uint16, np.uint8])
def test_a_cutouts_pixels_are_the_frames_own_in_its_data_type(compression, dtype):
    rng = np.random.default_rng(4)
    values = rng.uniform(0, 250, (60, 70)).astype(dtype)
    if compression == "RICE_1" and np.dtype(dtype).kind == "f":
        compression = "GZIP_2"  # lossless for floats too: the stored pixels are the values
    data = reduced_frame_bytes(data=values, compression=compression)
    frame = sci(data).data  # as astropy gives it (after BSCALE/BZERO)
    cutout = PixelCutout(30.0, 20.0, 15)
    hdu = opened(render_fits(data, ThumbnailParams(format="fits", cutout=cutout)).data)
    x0, y0 = cutout.first_pixel("x"), cutout.first_pixel("y")
    assert hdu.data.dtype.newbyteorder("=") == frame.dtype.newbyteorder("=")
    assert np.array_equal(hdu.data, frame[y0 : y0 + 15, x0 : x0 + 15])
    assert "BLANK" not in hdu.header  # nothing padded


def test_an_fpacked_float_frame_gives_float32_bit_for_bit():
    data = sky_frame()  # RICE_1 quantised float32, as BANZAI writes
    frame = sci(data).data
    cutout = PixelCutout(100.0, 80.0, 33)
    hdu = opened(render_fits(data, ThumbnailParams(format="fits", cutout=cutout)).data)
    x0, y0 = cutout.first_pixel("x"), cutout.first_pixel("y")
    assert hdu.data.dtype.newbyteorder("=") == np.dtype(np.float32)
    assert np.array_equal(hdu.data, frame[y0 : y0 + 33, x0 : x0 + 33])


@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.uint16, np.uint8])
def test_padding_is_nan_for_floats_and_blank_for_integers(dtype):
    values = np.arange(40 * 50).reshape(40, 50).astype(dtype) % 200 + 1
    data = reduced_frame_bytes(data=values.astype(dtype), compression="RICE_1")
    cutout = PixelCutout(3.0, 38.0, 10)  # over the lower-left... upper-left corner
    product = render_fits(data, ThumbnailParams(format="fits", cutout=cutout))
    assert product.padded is True
    x0, y0 = cutout.first_pixel("x"), cutout.first_pixel("y")
    inside = np.zeros((10, 10), bool)
    inside[max(0, -y0) : 40 - y0, max(0, -x0) : 50 - x0] = True
    assert 0 < inside.sum() < 100
    hdu = opened(product.data)
    frame = sci(data).data
    assert np.array_equal(hdu.data[inside], frame[max(0, y0) :, max(0, x0) : x0 + 10].ravel())
    if np.dtype(dtype).kind == "f":
        assert "BLANK" not in hdu.header
        assert np.isnan(hdu.data[~inside]).all()
        return
    # BLANK names the stored value of the padding (before BZERO, as FITS defines it).
    with fits.open(io.BytesIO(product.data), do_not_scale_image_data=True) as raw:
        stored = raw[0].data
        blank = raw[0].header["BLANK"]
    assert (stored[~inside] == blank).all()
    assert not (stored[inside] == blank).any()


def test_only_the_row_tiles_of_the_cutout_are_decoded(tiles_decoded):
    calls = tiles_decoded
    data = reduced_frame_bytes((512, 64), compression="RICE_1")  # one tile a row
    render_fits(data, ThumbnailParams(format="fits", cutout=PixelCutout(32.0, 300.0, 20)))
    assert len(calls) == 20 + 1  # its 20 rows, and the first tile the decoder checks itself
    calls.clear()
    render_fits(data, ThumbnailParams(format="fits", width=64, height=64))  # the whole frame
    assert len(calls) >= 512


def test_the_header_keeps_the_users_cards_the_source_and_how_it_was_cut():
    cards = {
        "MJD-OBS": 61042.583333,
        "TELESCOP": "2m0-02",
        "BUNIT": "electron",
        "L1ZP": 23.71,
        "SATURATE": 1e9,  # not asked for: left out
    }
    data = sky_frame(extra={**SIP, **cards})
    product = render_fits(
        data, ThumbnailParams(format="fits", cutout=PixelCutout(20.0, 240.0, 90)), source=SOURCE
    )
    header = opened(product.data).header
    frame = fits.open(io.BytesIO(data))
    merged = {**frame[0].header, **frame["SCI"].header}
    for key in ("OBJECT", "DATE-OBS", "MJD-OBS", "EXPTIME", "FILTER", "INSTRUME", "TELESCOP"):
        assert header[key] == merged[key], key
    for key in ("SITEID", "ORIGIN", "BUNIT", "L1ZP", "RLEVEL"):
        assert header[key] == merged[key], key
    assert "SATURATE" not in header and "REQNUM" not in header
    assert (header["SRCBASE"], header["SRCVER"]) == SOURCE
    history = " ".join(header["HISTORY"])
    assert "Cutout of 90 x 90 pixels, not resampled" in history
    assert "CRPIX moved by" in history and "NaN" in history
    for key in ("A_2_0", "B_1_1", "A_ORDER"):
        assert header[key] == merged[key]


def test_a_raw_frame_gives_its_assembled_bias_subtracted_detector():
    data = raw_amplifier_frame_bytes(compression="RICE_1")  # 4 amplifiers, 32 x 40 each
    detector = load_frame(data, stream=False).data  # the renderer's assembly
    cutout = PixelCutout(40.0, 32.0, 20)  # across the four amplifiers
    hdu = opened(render_fits(data, ThumbnailParams(format="fits", cutout=cutout)).data)
    x0, y0 = cutout.first_pixel("x"), cutout.first_pixel("y")
    assert hdu.data.dtype.newbyteorder("=") == np.dtype(np.float32)
    assert np.array_equal(hdu.data, detector[y0 : y0 + 20, x0 : x0 + 20])
    # Bias subtracted: the amplifiers' signals (100, 200, 300, 400), not their raw counts.
    assert set(np.unique(hdu.data)) == {100.0, 200.0, 300.0, 400.0}
    # The primary header's WCS (the detector's), moved by the window.
    primary = fits.open(io.BytesIO(data))[0].header
    assert hdu.header["CRPIX1"] == primary["CRPIX1"] - x0
    assert hdu.header["CRPIX2"] == primary["CRPIX2"] - y0


# ---------------------------------------------------------------------------- binned
@pytest.mark.parametrize("kind", WCS_KINDS)
def test_a_whole_frame_is_binned_for_the_box_with_its_wcs_scaled(kind):
    data = sky_frame(**WCS_KINDS[kind])  # 256 x 320
    source = sci(data)
    params = ThumbnailParams(format="fits", width=80, height=80)
    product = render_fits(data, params, source=SOURCE)
    hdu = opened(product.data)
    factor = 4  # the largest keeping 320 x 256 at least the 80 x 64 thumbnail
    rows, cols = 256 // factor, 320 // factor
    assert hdu.data.shape == (rows, cols) and hdu.data.dtype.kind == "f"
    assert hdu.data.dtype.itemsize == 4
    blocks = source.data.astype(np.float64).reshape(rows, factor, cols, factor).mean(axis=(1, 3))
    np.testing.assert_allclose(hdu.data, blocks, rtol=1e-6)
    out_wcs = celestial(hdu.header)
    if kind == "tan-sip":
        assert out_wcs.sip is not None  # rescaled, not dropped
    # Binned pixel i (0-based) averages pixels i f .. i f + f - 1: centre (i + 0.5) f - 0.5.
    expected = (stars_on(celestial(source.header)) + 0.5) / factor - 0.5
    np.testing.assert_allclose(stars_on(out_wcs), expected, atol=0.01, rtol=0)
    # And the star is there in the binned pixels: the brightest one is next to it.
    tx, ty = expected[0]
    by, bx = np.unravel_index(np.nanargmax(hdu.data), hdu.data.shape)
    assert abs(bx - tx) <= 1 and abs(by - ty) <= 1
    assert f"Binned {factor} x {factor}" in " ".join(hdu.header["HISTORY"])


def test_a_whole_raw_frame_is_binned_from_its_assembled_detector():
    data = raw_amplifier_frame_bytes(compression="RICE_1")  # detector 64 x 80
    hdu = opened(render_fits(data, ThumbnailParams(format="fits", width=40, height=40)).data)
    assert hdu.data.shape == (32, 40)
    assert set(np.unique(hdu.data)) == {100.0, 200.0, 300.0, 400.0}


def test_the_fits_does_not_depend_on_how_a_picture_would_look():
    data = sky_frame()
    plain = ThumbnailParams(format="fits", width=80, height=80)
    styled = ThumbnailParams(
        format="fits", width=80, height=80, stretch="asinh", quality=20, label="M83"
    )
    turned = ThumbnailParams(format="fits", width=80, height=80, orientation="detector")
    assert plain.digest() == styled.digest() == turned.digest()
    assert render_thumbnail([data], plain).data == render_thumbnail([data], styled).data
    cut = ThumbnailParams(format="fits", cutout=PixelCutout(50.0, 50.0, 30))
    assert (
        cut.digest()
        == ThumbnailParams(
            format="fits", width=37, height=512, cutout=PixelCutout(50.0, 50.0, 30)
        ).digest()
    )
    # The box still counts for a whole frame: it sets the binning.
    assert plain.digest() != ThumbnailParams(format="fits", width=40, height=40).digest()


# ---------------------------------------------------------------------------- parameters
def test_colour_with_fits_is_refused():
    with pytest.raises(InvalidParameter, match=r"^format: fits gives one frame's own pixels"):
        ThumbnailParams.from_query({"color": "true", "format": "fits"})


def test_fits_has_its_type_extension_and_cache_key():
    fits_params = ThumbnailParams.from_query({"format": "fits"})
    jpeg = ThumbnailParams()
    assert (fits_params.content_type, fits_params.extension) == ("application/fits", "fits")
    version = "0" * 32
    fits_key = thumbnail_key(SOURCE[0], version, fits_params)
    assert fits_key.endswith(".fits")
    assert (
        fits_key.rsplit("/", 1)[1].split(".")[0]
        != thumbnail_key(SOURCE[0], version, jpeg).rsplit("/", 1)[1].split(".")[0]
    )


def test_a_fits_cutout_too_large_for_the_budget_is_a_413_naming_the_size():
    frame = reduced_frame_bytes((100, 100), compression="RICE_1")
    params = ThumbnailParams(format="fits", cutout=PixelCutout(50.0, 50.0, 6000))
    allowed = 300 * (1 << 20)
    with pytest.raises(MemoryBudgetExceeded, match=r"^size: ") as refused:
        budget.check_memory(frame, params, allowed)
    largest = refused.value.largest
    assert largest is not None and largest < 6000
    smaller = ThumbnailParams(format="fits", cutout=PixelCutout(50.0, 50.0, largest))
    assert budget.check_memory(frame, smaller, allowed).window == (largest, largest)
    # The plan counts the whole window, never binned to the (ignored) box.
    assert budget.plan_memory(frame, smaller).binned_pixels == largest * largest
