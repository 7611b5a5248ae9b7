"""The WCS inside the image (AVM ``Spatial.*`` XMP): read back with pyavm, checked on the sky.

The frames hold stars placed at known sky positions by astropy's WCS of the frame; the
thumbnail is rendered by the real renderer from the frame's FITS bytes; its AVM is read back
by pyavm (not by the code under test) and turned into an astropy WCS; each star's sky
position is projected through it and must land within half an output pixel of where the
star is found in the delivered image's own pixels.
"""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from PIL import Image
from pyavm import AVM
from pyavm.exceptions import NoXMPPacketFound

from tests.support.cutout_support import wcs_cards
from tests.support.fits_factory import reduced_frame_bytes, star_field
from thumbnails.imaging.avm import _display_map, frame_wcs, scale_rotation, xmp_packet
from thumbnails.imaging.orientation import Orientation, orient
from thumbnails.imaging.render import load_frame, render_frames
from thumbnails.params import ThumbnailParams
from thumbnails.positions import PixelCutout, SkyCutout

SHAPE = (480, 640)  # rows, cols: not square, so a quarter turn shows in the size
#: Star positions (0-based frame pixels), spread over the frame, none near another.
STAR_PIXELS = [(120.0, 100.0), (500.0, 130.0), (330.0, 250.0), (160.0, 380.0), (540.0, 360.0)]
FWHM = 8.0  # frame pixels: a star still 2-3 output pixels wide at 200 px
EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp", "avif": "avif"}


def _frame(rotation: float = 0.0, mirrored: bool = False) -> tuple[bytes, list[tuple]]:
    """A frame with stars at `STAR_PIXELS`, and their sky positions from its WCS."""
    cards = wcs_cards(SHAPE, rotation=rotation, mirrored=mirrored)
    wcs = WCS(fits.Header(list(cards.items())))
    sky = [tuple(float(v) for v in wcs.all_pix2world(x, y, 0)) for x, y in STAR_PIXELS]
    data = star_field(SHAPE, stars=[(x, y, 20000.0) for x, y in STAR_PIXELS], fwhm=FWHM)
    return reduced_frame_bytes(data=data, wcs=False, header=cards, compression="RICE_1"), sky


def _render(data: bytes, **params):
    params.setdefault("wcs", True)
    return render_frames([load_frame(data, cutout=params.get("cutout"))], ThumbnailParams(**params))


def _avm(thumbnail, tmp_path, fmt: str) -> AVM:
    path = tmp_path / f"thumbnail.{EXTENSIONS[fmt]}"
    path.write_bytes(thumbnail.data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # WebP/AVIF: "scanning file contents for XMP packet"
        return AVM.from_image(str(path))


def _centroid(grey: np.ndarray, x: float, y: float, half: int = 4) -> tuple[float, float]:
    """The light-weighted centre of the star nearest ``(x, y)`` (0-based column, row from
    the top), from the pixels of a small box around it above 30% of its peak."""
    col, row = int(round(x)), int(round(y))
    box = grey[row - half : row + half + 1, col - half : col + half + 1].astype(float)
    box -= np.median(grey)
    weights = np.clip(box - 0.3 * box.max(), 0.0, None)
    rows, cols = np.mgrid[row - half : row + half + 1, col - half : col + half + 1]
    total = weights.sum()
    return float((weights * cols).sum() / total), float((weights * rows).sum() / total)


def _assert_stars_where_avm_says(thumbnail, avm: AVM, sky: list[tuple]) -> None:
    grey = np.asarray(Image.open(io.BytesIO(thumbnail.data)).convert("L"))
    height, width = grey.shape
    assert (width, height) == (thumbnail.width, thumbnail.height)
    wcs = avm.to_wcs()
    found = 0
    for ra, dec in sky:
        x, y = (float(v) for v in wcs.all_world2pix(ra, dec, 0))
        row = height - 1 - y  # AVM (FITS): y up from the bottom row; the image: rows down
        if not (4 <= x <= width - 5 and 4 <= row <= height - 5):
            continue  # outside (a cutout), or too near an edge to measure
        found += 1
        cx, cy = _centroid(grey, x, row)
        assert math.hypot(cx - x, cy - row) < 0.5, (ra, dec, (x, row), (cx, cy))
    assert found >= 1


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "avif"])
def test_north_up_avm_read_back_from_each_format(fmt, tmp_path):
    data, sky = _frame()
    thumbnail = _render(data, format=fmt)
    assert thumbnail.orientation == "north"
    avm = _avm(thumbnail, tmp_path, fmt)
    assert avm.Spatial.CoordinateFrame == "ICRS"
    assert avm.Spatial.CoordsystemProjection == "TAN"
    assert list(avm.Spatial.ReferenceDimension) == [thumbnail.width, thumbnail.height]
    _assert_stars_where_avm_says(thumbnail, avm, sky)


@pytest.mark.parametrize(
    ("case", "rotation", "mirrored", "orientation"),
    [
        ("north-up", 0.0, False, "north"),
        ("detector, rotated 30 degrees", 30.0, False, "detector"),
        ("quarter-turned", 93.0, False, "north"),
        ("half-turned", 181.0, False, "north"),
        ("mirrored, turned north up", 0.0, True, "north"),
        ("mirrored, quarter turn", 268.0, True, "north"),
        ("mirrored, detector", 12.0, True, "detector"),
    ],
)
def test_stars_land_where_the_avm_puts_them(case, rotation, mirrored, orientation, tmp_path):
    data, sky = _frame(rotation, mirrored)
    thumbnail = _render(data, orientation=orientation)
    if case.startswith("quarter") or "quarter" in case:
        assert (thumbnail.width, thumbnail.height) == (150, 200)  # turned: rows are the width
    avm = _avm(thumbnail, tmp_path, "jpeg")
    _assert_stars_where_avm_says(thumbnail, avm, sky)


def test_mirrored_image_carries_the_cd_matrix_and_a_north_up_one_scale_and_rotation(tmp_path):
    """AVM 1.2 readers take Scale[0] as negative: a mirrored image (east right) needs the
    CD matrix, which pyavm reads first; a north-up one is read from Scale and Rotation."""
    data, sky = _frame(12.0, mirrored=True)
    mirrored = _avm(_render(data, orientation="detector"), tmp_path, "jpeg")
    assert mirrored.Spatial.CDMatrix is not None
    north = _avm(_render(data, orientation="north"), tmp_path, "jpeg")
    assert north.Spatial.CDMatrix is None
    assert north.Spatial.Scale[0] < 0 < north.Spatial.Scale[1]
    # Mirroring x negates CDELT1 and keeps the y axis, whose angle CROTA2 is: still 12.
    assert north.Spatial.Rotation == pytest.approx(12.0, abs=1e-6)


@pytest.mark.parametrize(
    "cutout",
    [
        PixelCutout(x=300.0, y=200.0, size=300),  # inside
        PixelCutout(x=600.0, y=420.0, size=300),  # padded: reaches past the frame's corner
    ],
    ids=["inside", "padded"],
)
@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_cutouts(cutout, fmt, tmp_path):
    data, sky = _frame(93.0)
    thumbnail = _render(data, cutout=cutout, format=fmt, width=150, height=150)
    _assert_stars_where_avm_says(thumbnail, _avm(thumbnail, tmp_path, fmt), sky)


def test_sky_cutout(tmp_path):
    data, sky = _frame(30.0)
    ra, dec = sky[2]
    thumbnail = _render(data, cutout=SkyCutout(ra=ra, dec=dec, fov=1.5), width=120, height=120)
    avm = _avm(thumbnail, tmp_path, "jpeg")
    _assert_stars_where_avm_says(thumbnail, avm, sky)


def test_colour_composite_carries_the_red_frames_wcs(tmp_path):
    """Colour: the channels are aligned to the red frame, whose WCS the image carries; the
    green and blue frames here are pointed a few pixels away from it."""
    frames, sky = [], None
    for shift in ((0.0, 0.0), (6.0, -4.0), (-5.0, 3.0)):
        cards = wcs_cards(SHAPE, rotation=20.0)
        cards["CRPIX1"] += shift[0]
        cards["CRPIX2"] += shift[1]
        wcs = WCS(fits.Header(list(cards.items())))
        stars = [(x + shift[0], y + shift[1], 20000.0) for x, y in STAR_PIXELS]
        if sky is None:
            sky = [tuple(float(v) for v in wcs.all_pix2world(x, y, 0)) for x, y, _ in stars]
        data = star_field(SHAPE, stars=stars, fwhm=FWHM)
        frames.append(load_frame(reduced_frame_bytes(data=data, wcs=False, header=cards)))
    thumbnail = render_frames(frames, ThumbnailParams(color=True, wcs=True))
    assert thumbnail.alignment == "wcs"
    _assert_stars_where_avm_says(thumbnail, _avm(thumbnail, tmp_path, "jpeg"), sky)


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
def test_frame_without_wcs_carries_none(fmt, tmp_path):
    thumbnail = _render(reduced_frame_bytes((96, 128), wcs=False), format=fmt)
    assert thumbnail.wcs is None
    assert "xmp" not in Image.open(io.BytesIO(thumbnail.data)).info
    with pytest.raises(NoXMPPacketFound):
        _avm(thumbnail, tmp_path, fmt)


def test_failed_astrometry_carries_none():
    data, _sky = _frame()
    header = {**wcs_cards(SHAPE), "WCSERR": 4}
    data = reduced_frame_bytes(SHAPE, wcs=False, header=header)
    assert _render(data).wcs is None


def test_wcs_false_omits_the_packet_but_keeps_the_wcs():
    data, _sky = _frame()
    with_packet = _render(data, wcs=True)
    without = _render(data, wcs=False)
    assert "xmp" in Image.open(io.BytesIO(with_packet.data)).info
    assert "xmp" not in Image.open(io.BytesIO(without.data)).info
    assert without.wcs == with_packet.wcs is not None
    # The packet is the only difference: the same pixels.
    assert np.array_equal(
        np.asarray(Image.open(io.BytesIO(without.data))),
        np.asarray(Image.open(io.BytesIO(with_packet.data))),
    )


def test_packet_matches_the_json_wcs(tmp_path):
    """The packet and `ImageWcs.as_json` (the API's ``wcs``) hold the same numbers."""
    data, _sky = _frame(93.0)
    thumbnail = _render(data)
    avm = _avm(thumbnail, tmp_path, "jpeg")
    answer = thumbnail.wcs.as_json()
    assert list(avm.Spatial.ReferencePixel) == answer["crpix"]
    assert list(avm.Spatial.ReferenceValue) == answer["crval"]
    from_avm = avm.to_wcs().pixel_scale_matrix
    assert np.allclose(from_avm, answer["cd"], rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("mirror", [False, True])
@pytest.mark.parametrize("turns", [0, 1, 2, 3])
def test_display_map_is_what_orient_does(mirror, turns):
    """Every binned pixel lands where `orient` puts it (a non-square image of indices)."""
    rows, cols = 5, 7
    indices = np.arange(rows * cols).reshape(rows, cols)
    orientation = Orientation("north", mirror, turns)
    shown = orient(indices, orientation)
    matrix, offset, (width, height) = _display_map((rows, cols), orientation)
    assert shown.shape == (height, width)
    for row in range(rows):
        for col in range(cols):
            x, y = matrix @ np.array([col, row]) + offset
            assert shown[int(round(y)), int(round(x))] == indices[row, col]


def test_latitude_first_header_is_swapped():
    cards = wcs_cards(SHAPE, rotation=10.0)
    swapped = {
        **cards,
        "CTYPE1": cards["CTYPE2"],
        "CTYPE2": cards["CTYPE1"],
        "CRVAL1": cards["CRVAL2"],
        "CRVAL2": cards["CRVAL1"],
        "CD1_1": cards["CD2_1"],
        "CD1_2": cards["CD2_2"],
        "CD2_1": cards["CD1_1"],
        "CD2_2": cards["CD1_2"],
    }
    assert frame_wcs(swapped) == frame_wcs(cards) is not None


@pytest.mark.parametrize(
    "cards",
    [
        {"CTYPE1": "WAVE", "CTYPE2": "LINEAR", "CRVAL1": 1.0, "CRVAL2": 1.0},
        {"OBSTYPE": "SPECTRUM"},
        {"CTYPE1": "RA---MOL", "CTYPE2": "DEC--MOL"},  # a projection AVM does not know
        {"CD1_1": 0.0, "CD2_2": 0.0},  # singular
    ],
    ids=["not celestial", "spectrum", "projection", "singular"],
)
def test_unusable_wcs(cards):
    assert frame_wcs({**wcs_cards(SHAPE), **cards}) is None


def test_scale_rotation_rebuilds_the_matrix():
    for degrees in (0.0, 30.0, 93.0, 181.0, 268.0):
        cards = wcs_cards(SHAPE, rotation=degrees)
        cd = ((cards["CD1_1"], cards["CD1_2"]), (cards["CD2_1"], cards["CD2_2"]))
        scale1, scale2, rotation, exact = scale_rotation(cd)
        assert exact
        assert scale1 == pytest.approx(-0.5 / 3600) and scale2 == pytest.approx(0.5 / 3600)
        assert rotation == pytest.approx(degrees % 360.0)


def test_packet_is_ascii_xml_pyavm_parses():
    wcs = frame_wcs(wcs_cards(SHAPE))
    packet = xmp_packet(
        type(wcs)(**{**wcs.__dict__, "width": 200, "height": 150})  # type: ignore[arg-type]
    )
    avm = AVM.from_xml(packet[packet.index(b"?>") + 2 : packet.rindex(b"<?xpacket")])
    assert list(avm.Spatial.ReferenceDimension) == [200.0, 150.0]


def _clean_frame(rotation: float, mirrored: bool) -> tuple[bytes, list[tuple]]:
    """`_frame` without noise, so that the stars' centres can be measured to a few hundredths
    of a pixel."""
    cards = wcs_cards(SHAPE, rotation=rotation, mirrored=mirrored)
    wcs = WCS(fits.Header(list(cards.items())))
    sky = [tuple(float(v) for v in wcs.all_pix2world(x, y, 0)) for x, y in STAR_PIXELS]
    stars = [(x, y, 20000.0) for x, y in STAR_PIXELS]
    data = star_field(SHAPE, stars=stars, fwhm=FWHM, noise=0.0)
    return reduced_frame_bytes(data=data, wcs=False, header=cards), sky


@pytest.mark.parametrize(
    ("rotation", "mirrored", "orientation", "size"),
    [
        (0.0, False, "north", 200),
        (93.0, False, "north", 200),
        (268.0, True, "north", 150),
        (12.0, True, "detector", 130),
    ],
)
def test_the_wcs_is_exact_to_a_tenth_of_a_pixel(rotation, mirrored, orientation, size, tmp_path):
    """Stricter than half a pixel: on a noiseless frame, shown linearly (no clipped cores) in
    PNG, the stars are where the AVM says to 0.1 output pixel, which a convention slip of a
    quarter of a binned pixel or half a resampled one (Pillow's pixel centres) would break."""
    data, sky = _clean_frame(rotation, mirrored)
    params = {"format": "png", "stretch": "linear", "percentile": 100.0}
    thumbnail = _render(data, orientation=orientation, width=size, height=size, **params)
    grey = np.asarray(Image.open(io.BytesIO(thumbnail.data)), dtype=float)
    wcs = _avm(thumbnail, tmp_path, "png").to_wcs()
    height = grey.shape[0]
    for ra, dec in sky:
        x, y = (float(v) for v in wcs.all_world2pix(ra, dec, 0))
        row = height - 1 - y
        col0, row0, half = int(round(x)), int(round(row)), 5
        box = grey[row0 - half : row0 + half + 1, col0 - half : col0 + half + 1]
        rows, cols = np.mgrid[row0 - half : row0 + half + 1, col0 - half : col0 + half + 1]
        cx, cy = (float((box * c).sum() / box.sum()) for c in (cols, rows))
        assert math.hypot(cx - x, cy - row) < 0.1, ((x, row), (cx, cy))
