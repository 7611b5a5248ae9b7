"""North up, east left: every thumbnail is turned by its frame's WCS, as fits2image does.

The frames are what a camera mounted in each of the ways of `fits_factory.CAMERAS` records of
one sky with an asymmetric marker (an 8x8 centre, a 12x12 north end, a 6x6 east end); their
WCS is derived from how the camera maps pixels, and checked here with astropy's WCS, so
neither the frames nor the expectations come from the code under test. The thumbnails are
decoded and the marker found in their pixels.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from PIL import Image

from tests.support.fits_factory import (
    CAMERAS,
    MARKER_EAST,
    MARKER_NORTH,
    marker_sky,
    mounted_frame_bytes,
    mounted_wcs_cards,
    raw_amplifier_frame_bytes,
    reduced_frame_bytes,
)
from thumbnails.errors import InvalidParameter
from thumbnails.imaging.orientation import (
    Orientation,
    choose_orientation,
    orient,
    sky_matrix,
    sky_orientation,
)
from thumbnails.imaging.render import render_thumbnail
from thumbnails.params import ThumbnailParams

SHAPE = (96, 128)  # rows, cols: not square, so a quarter turn shows in the size
ISSUE_CASES = ("north-up", "mirrored", "rotated-90", "rotated-180")


def _render(data: bytes | list[bytes], **params) -> tuple[np.ndarray, str]:
    """The decoded thumbnail (rows from the top; grey, or RGB for colour) and its orientation."""
    frames = data if isinstance(data, list) else [data]
    thumbnail = render_thumbnail(frames, ThumbnailParams(format="png", **params))
    image = Image.open(io.BytesIO(thumbnail.data))
    assert image.size == (thumbnail.width, thumbnail.height)
    return np.asarray(image), thumbnail.orientation


def _bright(picture: np.ndarray) -> np.ndarray:
    grey = picture if picture.ndim == 2 else picture.min(axis=2)  # white in every channel
    return grey > 200


def _assert_north_up_east_left(picture: np.ndarray, arm: int = 30) -> None:
    """The marker as the sky shows it: its north end on top, its east end on the left."""
    rows, cols = SHAPE
    assert picture.shape[:2] == (rows, cols)  # a quarter-turned frame is turned back
    bright = _bright(picture)
    ys, xs = np.nonzero(bright)
    cy, cx = rows // 2, cols // 2  # the centre of the frame, counted from the top
    top, bottom = ys.min(), ys.max()
    left, right = xs.min(), xs.max()
    # North end (12x12, `arm` north of the centre) is the top of the marker...
    assert top == pytest.approx(rows - 1 - (rows // 2 + arm + 5), abs=1)
    assert xs[ys == top].mean() == pytest.approx(cx - 0.5, abs=1)
    # ...the east end (6x6, `arm` east of it) its left end, level with the centre...
    assert left == pytest.approx(cx - arm - 3, abs=1)
    assert rows - 1 - ys[xs == left].mean() == pytest.approx(cy - 0.5, abs=1)
    # ...and nothing lies south or west of the centre square but the north end's half width.
    assert bottom == pytest.approx(rows - 1 - (rows // 2 - 4), abs=1)
    assert right == pytest.approx(cx + 5, abs=1)


def _world(header_cards, pixel_yx) -> tuple[float, float]:
    y, x = pixel_yx
    ra, dec = WCS(fits.Header(header_cards)).wcs_pix2world([[x, y]], 0)[0]
    return ra, dec


@pytest.mark.parametrize("camera", CAMERAS)
def test_the_test_frames_wcs_puts_the_marker_ends_north_and_east(camera):
    # The fixtures' own check, by astropy: in the mounted frame, the marker's north end is
    # north of its east end's declination and its east end at a larger right ascension.
    sky, labels = marker_sky(SHAPE)
    mounted = CAMERAS[camera](labels)
    cards = mounted_wcs_cards(SHAPE, camera)
    north = np.argwhere(mounted == MARKER_NORTH).mean(axis=0)
    east = np.argwhere(mounted == MARKER_EAST).mean(axis=0)
    centre_ra, centre_dec = _world(cards, (np.array(mounted.shape) - 1) / 2)
    north_ra, north_dec = _world(cards, north)
    east_ra, east_dec = _world(cards, east)
    assert north_dec - centre_dec > 30 * 0.5 / 3600 * 0.9
    assert north_ra == pytest.approx(centre_ra, abs=1e-5)
    assert (east_ra - centre_ra) * math.cos(math.radians(centre_dec)) > 30 * 0.5 / 3600 * 0.9
    assert east_dec == pytest.approx(centre_dec, abs=1e-5)


@pytest.mark.parametrize("camera", CAMERAS)
def test_every_mounting_is_shown_north_up_east_left(camera):
    sky, _labels = marker_sky(SHAPE)
    picture, applied = _render(mounted_frame_bytes(sky, camera))
    assert applied == "north"
    _assert_north_up_east_left(picture)


def test_the_issue_cases_give_the_same_thumbnail():
    sky, _labels = marker_sky(SHAPE)
    pictures = [_render(mounted_frame_bytes(sky, c))[0].astype(float) for c in ISSUE_CASES]
    for picture in pictures[1:]:
        assert np.corrcoef(pictures[0].ravel(), picture.ravel())[0, 1] > 0.99


@pytest.mark.parametrize(
    ("camera", "mirror", "turns"),
    [("north-up", False, 0), ("mirrored", True, 0), ("rotated-90", False, 1)]
    + [("rotated-180", False, 2), ("rotated-270", False, 3), ("flipped", True, 2)],
)
def test_the_turn_and_mirror_are_the_nearest_to_the_wcs(camera, mirror, turns):
    # (mirror, counter-clockwise quarter turns) from the detector view, FITS row 1 at the
    # bottom. fits2image 1.1.0 states its transform from the array shown top-down, so its
    # numbers differ by that flip; the images agree (a one-off run: 20,000 random CD
    # matrices, every oriented array identical to fits2image's).
    cards = dict(mounted_wcs_cards(SHAPE, camera))
    assert sky_orientation(cards) == Orientation("north", mirror, turns)
    # A camera a few degrees off the quarter turn snaps to it.
    cd = np.array([[cards["CD1_1"], cards["CD1_2"]], [cards["CD2_1"], cards["CD2_2"]]])
    tilt = math.radians(30.0)
    rotation = np.array([[math.cos(tilt), -math.sin(tilt)], [math.sin(tilt), math.cos(tilt)]])
    tilted = rotation @ cd
    cards.update({f"CD{i + 1}_{j + 1}": tilted[i, j] for i in range(2) for j in range(2)})
    assert sky_orientation(cards) == Orientation("north", mirror, turns)


def test_a_quarter_turn_swaps_which_side_the_box_bounds():
    sky, _labels = marker_sky(SHAPE)
    turned = mounted_frame_bytes(sky, "rotated-90")  # stored 128 rows x 96 columns
    north, _ = _render(turned, width=64, height=200)
    detector, _ = _render(turned, width=64, height=200, orientation="detector")
    assert north.shape == (48, 64)  # 128 wide x 96 high once turned: width bounds it
    assert detector.shape == (85, 64)  # 96 wide x 128 high as stored


def test_the_label_is_drawn_lower_left_after_turning():
    sky, _labels = marker_sky(SHAPE)
    frame = mounted_frame_bytes(sky, "rotated-90")
    plain, _ = _render(frame)
    labelled, _ = _render(frame, label="M1")
    changed = np.argwhere(plain != labelled)
    assert changed.size
    rows, cols = plain.shape
    assert changed[:, 0].min() > rows / 2  # lower half
    assert changed[:, 1].max() < cols / 2  # left half: the label went on after the turn
    _assert_north_up_east_left(plain)


def test_orientation_detector_shows_fits_row_1_at_the_bottom_as_before():
    sky, _labels = marker_sky(SHAPE)
    for camera in ISSUE_CASES:
        stored = CAMERAS[camera](sky)
        picture, applied = _render(mounted_frame_bytes(sky, camera), orientation="detector")
        assert applied == "detector"
        assert picture.shape == stored.shape
        # The grey levels follow the stored data with its first row at the bottom.
        assert np.corrcoef(picture.ravel(), stored[::-1].ravel())[0, 1] > 0.95
        if camera != "north-up" and stored.shape == sky.shape:
            assert np.corrcoef(picture.ravel(), sky[::-1].ravel())[0, 1] < 0.9


def test_a_north_up_frame_looks_as_it_did_before():
    # Frames already north up, east left (most LCO imagers) are unchanged by the default.
    sky, _labels = marker_sky(SHAPE)
    frame = mounted_frame_bytes(sky, "north-up")
    north, applied = _render(frame)
    detector, _ = _render(frame, orientation="detector")
    assert applied == "north"
    np.testing.assert_array_equal(north, detector)


@pytest.mark.parametrize("obstype", ["SPECTRUM", "ARC", "LAMPFLAT"])
def test_spectra_arcs_and_lamp_flats_are_never_turned(obstype):
    sky, _labels = marker_sky(SHAPE)
    frame = mounted_frame_bytes(sky, "rotated-90", obstype=obstype)
    picture, applied = _render(frame)
    detector, _ = _render(frame, orientation="detector")
    assert applied == "detector-spectrum"
    np.testing.assert_array_equal(picture, detector)
    assert picture.shape == (128, 96)  # as stored, FITS row 1 at the bottom


def test_a_frame_without_wcs_is_shown_as_stored_and_says_so():
    sky, _labels = marker_sky(SHAPE)
    frame = reduced_frame_bytes(data=np.rot90(sky), wcs=False)
    picture, applied = _render(frame)
    assert applied == "detector-no-wcs"
    assert picture.shape == (128, 96)
    np.testing.assert_array_equal(picture, _render(frame, orientation="detector")[0])


def _unmount(camera: str, stored: np.ndarray, sky_shape: tuple[int, int]) -> np.ndarray:
    """The sky that a camera mounted as `camera` recorded as `stored` (by index bookkeeping)."""
    where = CAMERAS[camera](np.arange(stored.size).reshape(sky_shape))
    sky = np.empty(stored.size, dtype=stored.dtype)
    sky[where.ravel()] = stored.ravel()
    return sky.reshape(sky_shape)


@pytest.mark.parametrize("camera", ISSUE_CASES)
def test_a_raw_mosaic_is_turned_by_the_wcs_in_its_primary_header(camera):
    # Amplifiers 1..4 (signal 100..400) sit lower-left, lower-right, upper-right, upper-left
    # of a 64x80 detector. Each amplifier's extension carries a north-up WCS of its own
    # readout, which must not be used: the primary header's describes the mosaic.
    detector_shape = (64, 80)
    turned = camera in ("rotated-90", "rotated-270")
    sky_shape = detector_shape[::-1] if turned else detector_shape
    frame = raw_amplifier_frame_bytes(
        wcs_cards=mounted_wcs_cards(sky_shape, camera),
        amplifier_cards=mounted_wcs_cards((32, 40), "north-up"),
    )
    picture, applied = _render(frame)
    detector, _ = _render(frame, orientation="detector")
    assert applied == "north"
    rows, cols = detector.shape
    assert detector[: rows // 2, : cols // 2].mean() > detector[: rows // 2, cols // 2 :].mean()
    # The whole mosaic, pixel for pixel, as the sky shows it (rows counted from the top).
    expected = _unmount(camera, detector[::-1], sky_shape)[::-1]
    np.testing.assert_array_equal(picture, expected)


def test_a_colour_set_is_turned_once_by_its_red_frame():
    # Three exposures of the one sky, each shifted a little; the red frame's camera is turned
    # a quarter, the others are not: after alignment onto the red frame's grid, that frame's
    # WCS orients all three, and the marker is white (in every channel) north up, east left.
    frames = []
    for index, camera in enumerate(("rotated-90", "north-up", "mirrored")):
        sky, _labels = marker_sky(SHAPE, seed=index)
        frames.append(mounted_frame_bytes(sky, camera, filter=("rp", "V", "B")[index]))
    thumbnail = render_thumbnail(frames, ThumbnailParams(format="png", color=True))
    picture = np.asarray(Image.open(io.BytesIO(thumbnail.data)).convert("RGB"))
    assert thumbnail.alignment == "wcs"
    assert thumbnail.orientation == "north"
    _assert_north_up_east_left(picture)
    detector, applied = _render(frames, color=True, orientation="detector")
    assert applied == "detector"
    assert detector.shape[:2] == (128, 96)


def test_orientation_is_part_of_the_cache_key_and_north_is_the_default():
    assert ThumbnailParams().orientation == "north"
    north, detector = ThumbnailParams(), ThumbnailParams(orientation="detector")
    assert "orientation=north" in north.canonical()
    assert north.digest() != detector.digest()
    assert ThumbnailParams.from_query({"orientation": " Detector "}) == detector
    assert ThumbnailParams.from_query({}) == north


@pytest.mark.parametrize("value", ["up", "", "wcs", "north,detector"])
def test_an_unknown_orientation_is_refused_by_name(value):
    with pytest.raises(InvalidParameter, match="orientation") as error:
        ThumbnailParams.from_query({"orientation": value})
    assert "north, detector" in str(error.value)


# ---------------------------------------------------------------------------- the WCS read
def _cd(matrix) -> dict[str, float]:
    return {f"CD{i + 1}_{j + 1}": float(matrix[i][j]) for i in range(2) for j in range(2)}


def test_pc_with_cdelt_and_crota2_orient_as_the_equivalent_cd():
    scale = 0.5 / 3600
    celestial = {"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN"}
    # Rotated 90 degrees: PC = [[0, -1], [1, 0]] with CDELT = (-s, s).
    pc = {**celestial, "CDELT1": -scale, "CDELT2": scale, "PC1_1": 0.0, "PC1_2": -1.0}
    pc.update(PC2_1=1.0, PC2_2=0.0)
    cd = _cd(np.diag([-scale, scale]) @ np.array([[0.0, -1.0], [1.0, 0.0]]))
    assert sky_orientation(pc) == sky_orientation(cd)
    assert sky_orientation(pc).quarter_turns in (1, 3)
    crota = {**celestial, "CDELT1": -scale, "CDELT2": scale, "CROTA2": 180.0}
    assert sky_orientation(crota) == Orientation("north", False, 2)
    plain = {**celestial, "CDELT1": -scale, "CDELT2": scale}  # PC defaults to the identity
    assert sky_orientation(plain) == Orientation("north", False, 0)


def test_latitude_first_axes_are_read_as_such():
    scale = 0.5 / 3600
    # Axis 1 is declination (north to the right), axis 2 right ascension (east up).
    header = {"CTYPE1": "DEC--TAN", "CTYPE2": "RA---TAN", **_cd([[scale, 0.0], [0.0, scale]])}
    assert sky_matrix(header) == pytest.approx(np.array([[0.0, scale], [scale, 0.0]]))
    data = np.zeros((4, 6))
    data[0, 5] = 1.0  # FITS pixel (6, 1): the far (north) end of axis 1, the west end of axis 2
    shown = orient(data, sky_orientation(header))
    assert shown.shape == (6, 4)
    assert np.argwhere(shown == 1.0).tolist() == [[0, 3]]  # top (north), right (west)


@pytest.mark.parametrize(
    "header",
    [
        {},
        {"CD1_1": 1e-4, "CD1_2": 0.0, "CD2_1": 0.0},  # incomplete
        _cd([[1e-4, 2e-4], [2e-4, 4e-4]]),  # singular
        {**_cd([[-1e-4, 0.0], [0.0, 1e-4]]), "CD1_1": float("nan")},
        {**_cd([[-1e-4, 0.0], [0.0, 1e-4]]), "CD1_1": "not a number"},
        {**_cd([[-1e-4, 0.0], [0.0, 1e-4]]), "CTYPE1": "WAVE", "CTYPE2": "LINEAR"},
        {"CDELT1": 1.5, "CDELT2": 1.0},  # CDELT on axes not said to be celestial
    ],
)
def test_no_usable_celestial_wcs_means_the_detector_view(header):
    assert sky_orientation(header) == Orientation("detector-no-wcs")
    assert choose_orientation("north", header).applied == "detector-no-wcs"


def test_detector_ignores_the_wcs():
    header = dict(mounted_wcs_cards(SHAPE, "rotated-90"))
    assert choose_orientation("detector", header) == Orientation("detector")
    data = np.arange(12).reshape(3, 4)
    np.testing.assert_array_equal(orient(data, Orientation("detector")), data[::-1])
