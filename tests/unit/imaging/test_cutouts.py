"""Cutouts (``ra``/``dec``/``fov``, ``x``/``y``/``size``): located, decoded only where they fall,
rendered like any thumbnail. Stars are placed by a WCS and found again in the picture."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from PIL import Image

from tests.support.cutout_support import (
    SHAPE,
    TARGET,
    distance_from_centre,
    render_png,
    sky_frame,
    wcs_cards,
)
from tests.support.fits_factory import (
    gzip_bytes,
    hdulist_bytes,
    raw_amplifier_frame_bytes,
    reduced_frame_bytes,
    star_field,
)
from thumbnails.errors import CutoutOutsideFrame, InvalidParameter, NoUsableWcs
from thumbnails.imaging.render import load_frame, render_frames
from thumbnails.imaging.skywcs import TanWcs, celestial_wcs
from thumbnails.params import ThumbnailParams
from thumbnails.positions import PixelCutout, SkyCutout


# ---------------------------------------------------------------------------- parameters
def test_sexagesimal_and_decimal_positions_share_one_cache_key():
    sexagesimal = ThumbnailParams.from_query({"ra": "13:25:12.96", "dec": "-42:59:51"})
    decimal = ThumbnailParams.from_query({"ra": "201.304", "dec": "-42.9975"})
    assert sexagesimal.cutout == SkyCutout(201.304, -42.9975, 2.0)
    assert sexagesimal.canonical() == decimal.canonical()
    assert sexagesimal.digest() == decimal.digest()


def test_positions_round_to_a_twentieth_of_an_arcsecond_and_fov_to_a_hundredth_arcmin():
    def key(**query):
        return ThumbnailParams.from_query(query).digest()

    base = key(ra="201.3", dec="-43.0", fov="2")
    assert key(ra=str(201.3 + 0.02 / 3600), dec="-43.0", fov="2.004") == base
    assert key(ra=str(201.3 + 0.04 / 3600), dec="-43.0", fov="2") != base
    assert key(ra="201.3", dec=str(-43.0 - 0.04 / 3600), fov="2") != base
    assert key(ra="201.3", dec="-43.0", fov="2.006") != base
    assert ThumbnailParams.from_query({"ra": "1", "dec": "2", "fov": "2.006"}).cutout.fov == 2.01


def test_pixel_positions_move_to_the_centre_of_the_whole_pixels_cut():
    assert PixelCutout(10.2, 20.4, 4) == PixelCutout(10.4, 20.1, 4)
    assert (PixelCutout(10.2, 20.4, 4).x, PixelCutout(10.0, 20.0, 5).x) == (10.5, 10.0)


def test_whole_frame_parameters_keep_their_keys():
    assert "cutout" not in ThumbnailParams(width=300).canonical()
    assert ThumbnailParams.from_query({"width": "300"}) == ThumbnailParams(width=300)


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ({"ra": "201.3"}, "dec"),
        ({"dec": "-43"}, "ra"),
        ({"fov": "2"}, "ra"),
        ({"ra": "201.3", "dec": "-43", "x": "10"}, "x"),
        ({"ra": "360", "dec": "0"}, "ra"),
        ({"ra": "24:00:00", "dec": "0"}, "ra"),
        ({"ra": "-01:00:00", "dec": "0"}, "ra"),
        ({"ra": "12:61:00", "dec": "0"}, "ra"),
        ({"ra": "1", "dec": "90.5"}, "dec"),
        ({"ra": "1", "dec": "+90:30:00"}, "dec"),
        ({"ra": "north", "dec": "1"}, "ra"),
        ({"ra": "1", "dec": "1e3"}, "dec"),
        ({"ra": "1", "dec": "1", "fov": "0"}, "fov"),
        ({"ra": "1", "dec": "1", "fov": "-2"}, "fov"),
        ({"ra": "1", "dec": "1", "fov": "500"}, "fov"),
        ({"x": "10"}, "y"),
        ({"size": "10"}, "x"),
        ({"x": "10", "y": "nan"}, "y"),
        ({"x": "10", "y": "10", "size": "0"}, "size"),
        ({"x": "10", "y": "10", "size": "2.5"}, "size"),
        ({"x": "1e9", "y": "10"}, "x"),
    ],
)
def test_bad_cutout_parameters_are_refused_by_name(query, name):
    with pytest.raises(InvalidParameter) as error:
        ThumbnailParams.from_query(query)
    assert error.value.parameter == name


# ---------------------------------------------------------------------------- WCS
@pytest.mark.parametrize(
    ("rotation", "mirrored"), [(0, False), (33, False), (0, True), (250, True)]
)
def test_the_tan_wcs_agrees_with_astropy(rotation, mirrored):
    cards = wcs_cards(rotation=rotation, mirrored=mirrored)
    ours = celestial_wcs(fits.Header(list(cards.items())))
    assert isinstance(ours, TanWcs)
    theirs = WCS(fits.Header(list(cards.items())))
    xs, ys = np.meshgrid(np.linspace(-500, 900, 7), np.linspace(-300, 700, 5))
    ra, dec = theirs.all_pix2world(xs, ys, 0)
    np.testing.assert_allclose(ours.pixel_to_world(xs, ys), (ra, dec), atol=1e-9)
    np.testing.assert_allclose(ours.world_to_pixel(ra, dec), (xs, ys), atol=1e-6)


@pytest.mark.parametrize(
    "header",
    [{}, {**wcs_cards(), "WCSERR": 4}, {"CTYPE1": "PIXEL", "CTYPE2": "PIXEL"}],
    ids=["none", "failed-astrometry", "not-celestial"],
)
def test_a_sky_cutout_of_a_frame_without_usable_wcs_says_so(header):
    data = reduced_frame_bytes(SHAPE, wcs=False, header=header, compression="RICE_1")
    with pytest.raises(NoUsableWcs, match="no usable WCS") as error:
        load_frame(data, cutout=SkyCutout(*TARGET))
    assert error.value.status == 400
    assert load_frame(data, cutout=PixelCutout(50, 50, 20)).shape == (20, 20)


# ---------------------------------------------------------------------------- centring
@pytest.mark.parametrize(
    ("rotation", "mirrored"), [(0, False), (33, False), (90, False), (0, True), (120, True)]
)
@pytest.mark.parametrize(("fov", "box"), [(0.5, 48), (1.0, 50)])
def test_a_star_asked_for_by_ra_dec_is_at_the_centre(rotation, mirrored, fov, box):
    data = sky_frame(rotation=rotation, mirrored=mirrored)
    params = ThumbnailParams(width=box, height=box, format="png", cutout=SkyCutout(*TARGET, fov))
    picture = render_png([data], params)
    assert picture.shape == (box, box)
    assert distance_from_centre(picture) <= 1.0


def test_a_star_is_centred_under_a_distorted_wcs_too():
    sip = {
        "CTYPE1": "RA---TAN-SIP",
        "CTYPE2": "DEC--TAN-SIP",
        "A_ORDER": 2,
        "A_0_2": 2e-5,
        "A_2_0": -1e-5,
        "B_ORDER": 2,
        "B_1_1": 3e-5,
    }
    data = sky_frame(rotation=15, extra=sip)
    frame = load_frame(data, cutout=SkyCutout(*TARGET, 0.5))
    assert type(frame.cutout.wcs).__name__ == "AstropyWcs"
    params = ThumbnailParams(width=48, height=48, format="png", cutout=SkyCutout(*TARGET, 0.5))
    assert distance_from_centre(render_png([data], params)) <= 1.0


def test_the_fov_sets_the_side_from_the_pixel_scale():
    data = sky_frame()
    frame = load_frame(data, cutout=SkyCutout(*TARGET, 0.5))
    assert frame.shape == (60, 60)  # 30 arcsec at 0.5 arcsec a pixel


def test_sky_and_pixel_cutouts_of_the_same_region_match():
    data = sky_frame(rotation=33)
    wcs = WCS(fits.Header(list(wcs_cards(rotation=33).items())))
    x, y = (float(v) for v in wcs.all_world2pix(*TARGET, 1))  # FITS pixels
    sky = SkyCutout(*TARGET, 0.83)  # 99.6 pixels: 100
    pixel = PixelCutout(x, y, 100)
    by_sky, by_pixel = (load_frame(data, cutout=c) for c in (sky, pixel))
    assert by_sky.cutout.window == by_pixel.cutout.window
    np.testing.assert_array_equal(by_sky.data, by_pixel.data)
    pictures = [render_png([data], ThumbnailParams(format="png", cutout=c)) for c in (sky, pixel)]
    np.testing.assert_array_equal(*pictures)


def test_the_cutout_carries_its_wcs_moved_with_it():
    data = sky_frame(rotation=33)
    frame = load_frame(data, cutout=SkyCutout(*TARGET, 0.5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # astropy's notes on the header's dates
        x, y = WCS(frame.header).all_world2pix(*TARGET, 0)
    assert abs(x - 29.5) <= 0.5 and abs(y - 29.5) <= 0.5


# ---------------------------------------------------------------------------- edges
def test_a_cutout_entirely_off_the_frame_is_refused_with_the_frame_footprint():
    data = sky_frame()
    with pytest.raises(CutoutOutsideFrame) as error:
        load_frame(data, cutout=SkyCutout(201.5, -43.0, 2.0))
    message = error.value.message
    assert error.value.status == 400
    assert "entirely outside the frame" in message and "x 1 to 320, y 1 to 256" in message
    assert "centre is at ra 201.30" in message and "corners" in message
    with pytest.raises(CutoutOutsideFrame, match="x 1 to 320, y 1 to 256"):
        load_frame(data, cutout=PixelCutout(-100.0, 50.0, 50))
    with pytest.raises(CutoutOutsideFrame):  # the far side of the sky
        load_frame(data, cutout=SkyCutout(21.3, 43.0, 2.0))


def test_a_cutout_partly_off_the_frame_is_padded_transparent_in_png():
    data = sky_frame()
    params = ThumbnailParams(format="png", cutout=PixelCutout(11.0, 21.0, 60))
    frame = load_frame(data, cutout=params.cutout)
    thumbnail = render_frames([frame], params)
    assert thumbnail.padded is True
    picture = np.asarray(Image.open(io.BytesIO(thumbnail.data)))
    assert picture.shape == (60, 60, 2)  # grey + alpha
    alpha = picture[:, :, 1]
    # The 60 columns around x = 11 start 19 columns left of the frame's first (x = 1), the
    # 60 rows around y = 21 9 rows below its first, drawn at the bottom.
    assert (alpha[:, :19] == 0).all() and (alpha[-9:, :] == 0).all()
    assert (alpha[:-9, 19:] == 255).all()


def test_a_cutout_partly_off_the_frame_is_padded_black_in_jpeg():
    data = sky_frame()
    params = ThumbnailParams(format="jpeg", quality=95, cutout=PixelCutout(11.0, 21.0, 60))
    picture = render_png([data], params)
    assert picture.ndim == 2
    assert picture[:, :16].max() <= 8 and picture[-6:, :].max() <= 8
    assert picture[:-12, 24:].mean() > 20  # the sky's noise shows where there is data


def test_a_cutout_inside_the_frame_is_not_padded():
    data = sky_frame()
    params = ThumbnailParams(format="webp", cutout=SkyCutout(*TARGET, 0.5))
    thumbnail = render_frames([load_frame(data, cutout=params.cutout)], params)
    assert thumbnail.padded is False
    assert Image.open(io.BytesIO(thumbnail.data)).mode == "RGB"
    whole = render_frames([load_frame(data)], ThumbnailParams())
    assert whole.padded is None


def test_a_cutout_larger_than_the_limit_is_refused():
    from thumbnails.params import RenderLimits

    data = sky_frame()
    with pytest.raises(InvalidParameter, match="more than the limit") as error:
        load_frame(data, cutout=PixelCutout(100, 100, 5000), limits=RenderLimits(10_000_000))
    assert error.value.parameter == "size"


# ---------------------------------------------------------------------------- decoding
def dithered_frame(shape=SHAPE) -> bytes:
    """A Rice frame quantized with subtractive dithering (fpack's default, as LCO's): every
    tile's values depend on its own dither seed."""
    hdu = fits.CompImageHDU(
        star_field(shape),
        fits.Header(list(wcs_cards(shape).items())),
        name="SCI",
        compression_type="RICE_1",
        quantize_method=1,
        dither_seed=9900,  # the seeds of the last rows pass 10000 and wrap to 1
    )
    return hdulist_bytes([fits.PrimaryHDU(), hdu])


@pytest.mark.parametrize(
    "compression", [None, "RICE_1", "RICE_1-dithered", "GZIP_1", "HCOMPRESS_1", "gzip"]
)
@pytest.mark.parametrize(
    "cutout",
    [PixelCutout(60.0, 70.0, 21), PixelCutout(3.0, 250.0, 30), PixelCutout(315.0, 2.0, 16)],
    ids=["inside", "top-left", "bottom-right"],
)
def test_decoded_rows_equal_the_whole_frame_decoded(compression, cutout):
    if compression == "gzip":
        data = gzip_bytes(reduced_frame_bytes(SHAPE))
    elif compression == "RICE_1-dithered":
        data = dithered_frame()
    else:
        data = reduced_frame_bytes(SHAPE, compression=compression)
    whole = np.asarray(load_frame(data).data, dtype=np.float32)
    frame = load_frame(data, cutout=cutout)
    window = frame.cutout.window
    expected = np.full(window.shape, np.nan, np.float32)
    y0, x0 = max(window.y0, 0), max(window.x0, 0)
    part = whole[y0 : window.y1, x0 : window.x1]
    expected[y0 - window.y0 : y0 - window.y0 + part.shape[0], x0 - window.x0 :][
        :, : part.shape[1]
    ] = part
    np.testing.assert_array_equal(np.asarray(frame.data, dtype=np.float32), expected)


def test_a_small_cutout_decodes_only_the_tiles_of_its_rows(tiles_decoded):
    data = reduced_frame_bytes((1024, 128), compression="RICE_1", stars=4)
    # The lean decoder decodes the first tile once more to check astropy's C functions.
    load_frame(data, stream=False)  # decoded whole
    assert len(tiles_decoded) == 1024 + 1  # one tile a row
    tiles_decoded.clear()
    frame = load_frame(data, cutout=PixelCutout(64.0, 500.0, 40))
    assert len(tiles_decoded) == 40 + 1
    assert len(tiles_decoded) / 1024 < 0.05
    assert frame.cutout.window.shape == (40, 40)


def test_a_cutout_of_a_raw_mosaic_is_cut_from_the_assembled_detector():
    rng = np.random.default_rng(3)
    amplifiers = [rng.normal(100.0 * (i + 1), 3.0, (32, 40)) for i in range(4)]
    data = raw_amplifier_frame_bytes(amplifiers, compression="RICE_1")
    whole = load_frame(data).data  # 64 x 80, biases subtracted
    frame = load_frame(data, cutout=PixelCutout(40.5, 32.5, 20))  # across all four
    window = frame.cutout.window
    assert (window.y0, window.x0) == (22, 30)
    np.testing.assert_array_equal(frame.data, whole[22:42, 30:50])
    thumbnail = render_frames(
        [frame], ThumbnailParams(format="png", cutout=PixelCutout(40.5, 32.5, 20))
    )
    assert (thumbnail.width, thumbnail.height, thumbnail.padded) == (20, 20, False)


# ---------------------------------------------------------------------------- colour
def test_a_colour_cutout_aligns_the_channels_on_the_star():
    shifts = [(0.0, 0.0), (6.0, -4.0), (-5.0, 7.0)]
    data = [sky_frame(rotation=20, shift=s, seed=i) for i, s in enumerate(shifts)]
    params = ThumbnailParams(
        width=60, height=60, format="png", color=True, cutout=SkyCutout(*TARGET, 0.5)
    )
    frames = []
    for item in data:
        frames.append(
            load_frame(item, cutout=params.cutout, reference=frames[0] if frames else None)
        )
    thumbnail = render_frames(frames, params)
    assert thumbnail.alignment == "wcs"
    picture = np.asarray(Image.open(io.BytesIO(thumbnail.data)))
    assert picture.shape == (60, 60, 3)
    for channel in range(3):
        assert distance_from_centre(picture[:, :, channel]) <= 1.0


def test_a_plain_fits_cutout_reads_only_its_rows():
    from thumbnails.imaging.hdus import open_fits
    from thumbnails.params import RenderLimits

    data = reduced_frame_bytes(SHAPE)  # float32, uncompressed
    _, selection = open_fits(data, RenderLimits())
    start, row_bytes = selection.hdus[0].data_start, SHAPE[1] * 4
    cutout = PixelCutout(100.0, 120.0, 20)  # rows 110..129 (0-based)
    expected = load_frame(data, cutout=cutout).data
    # Every other row becomes NaN: a cutout that read any of them would show it.
    damaged = bytearray(data)
    nan_row = np.full(SHAPE[1], np.nan, ">f4").tobytes()
    for row in [*range(110), *range(130, SHAPE[0])]:
        damaged[start + row * row_bytes : start + (row + 1) * row_bytes] = nan_row
    np.testing.assert_array_equal(load_frame(bytes(damaged), cutout=cutout).data, expected)
    assert np.isnan(load_frame(bytes(damaged)).data[:110]).all()
