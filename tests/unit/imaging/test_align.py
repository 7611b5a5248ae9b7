"""Colour channels are aligned onto the red frame's pixel grid by their WCS, or centre-cropped.

Every channel here is built from one star catalogue placed by a known affine transform
(shift, rotation, scale, binning), with a TAN WCS that describes exactly that transform;
after alignment the stars must sit where they are in the reference frame.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from thumbnails.imaging.align import align_channels

REF_SHAPE = (96, 128)
CRVAL = (201.3, -43.0)
SCALE = 0.5 / 3600.0  # degrees per reference pixel
#: Reference CD matrix: north up, east left.
REF_CD = np.array([[-SCALE, 0.0], [0.0, SCALE]])
#: The reference WCS's reference pixel (0-based), at the frame's centre.
REF_CRPIX = np.array([(REF_SHAPE[1] - 1) / 2.0, (REF_SHAPE[0] - 1) / 2.0])
#: Star positions (x, y) in reference pixels, away from the edges.
STARS = np.array(
    [[20.3, 18.7], [64.1, 22.4], [105.6, 15.2], [30.8, 50.5], [70.2, 47.9], [101.4, 60.3],
     [18.9, 78.1], [58.6, 76.6], [97.7, 80.2]]
)  # fmt: skip
SKY = 100.0
#: Star centroids must coincide this closely (pixels). The service's target is 0.5 px on
#: real, noisy frames; these stars are noise-free and their geometry exact, so anything
#: worse than this is a convention error (e.g. a bin's centre off by half a pixel).
TOLERANCE = 0.1


def tan_header(cd: np.ndarray, crpix0: np.ndarray, crval=CRVAL) -> fits.Header:
    """A TAN WCS header; `crpix0` is the 0-based reference pixel."""
    return fits.Header(
        [
            ("CTYPE1", "RA---TAN"),
            ("CTYPE2", "DEC--TAN"),
            ("CUNIT1", "deg"),
            ("CUNIT2", "deg"),
            ("CRVAL1", crval[0]),
            ("CRVAL2", crval[1]),
            ("CRPIX1", float(crpix0[0]) + 1.0),
            ("CRPIX2", float(crpix0[1]) + 1.0),
            ("CD1_1", float(cd[0, 0])),
            ("CD1_2", float(cd[0, 1])),
            ("CD2_1", float(cd[1, 0])),
            ("CD2_2", float(cd[1, 1])),
        ]
    )


def rotation(degrees: float) -> np.ndarray:
    angle = np.radians(degrees)
    return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])


def stars_image(shape, positions, fwhm=2.5, peak=1000.0) -> np.ndarray:
    """Noise-free Gaussian stars on a flat sky, float32."""
    rows, cols = shape
    yy, xx = np.mgrid[0:rows, 0:cols]
    image = np.full(shape, SKY)
    sigma = fwhm / 2.3548
    for x, y in positions:
        image += peak * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2.0 * sigma**2))
    return image.astype(np.float32)


def channel(matrix, shift, shape, *, fwhm=2.5, crval=CRVAL):
    """A channel whose (unbinned) pixel p = matrix @ reference_pixel + shift, and its header.

    The stars are drawn at the transformed positions and the TAN WCS says the same:
    CD = REF_CD @ inverse(matrix), reference pixel = matrix @ REF_CRPIX + shift.
    """
    matrix = np.asarray(matrix, dtype=float)
    shift = np.asarray(shift, dtype=float)
    positions = STARS @ matrix.T + shift
    header = tan_header(REF_CD @ np.linalg.inv(matrix), matrix @ REF_CRPIX + shift, crval)
    return stars_image(shape, positions, fwhm=fwhm), header


def reference():
    return channel(np.eye(2), (0.0, 0.0), REF_SHAPE)


def block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    rows, cols = image.shape[0] // factor, image.shape[1] // factor
    trimmed = image[: rows * factor, : cols * factor]
    return trimmed.reshape(rows, factor, cols, factor).mean(axis=(1, 3), dtype=np.float32)


def centroid(image: np.ndarray, x: float, y: float, radius: int = 4) -> tuple[float, float]:
    """Intensity-weighted centroid above the sky in a window around (x, y)."""
    x0, y0 = int(round(x)), int(round(y))
    window = image[y0 - radius : y0 + radius + 1, x0 - radius : x0 + radius + 1]
    weights = np.nan_to_num(window - SKY, nan=0.0).clip(min=0.0)
    yy, xx = np.mgrid[y0 - radius : y0 + radius + 1, x0 - radius : x0 + radius + 1]
    total = weights.sum()
    return float((weights * xx).sum() / total), float((weights * yy).sum() / total)


def assert_stars_on_reference(image: np.ndarray, tolerance: float = TOLERANCE) -> None:
    for x, y in STARS:
        cx, cy = centroid(image, x, y)
        assert np.hypot(cx - x, cy - y) < tolerance, f"star at ({x}, {y}) found at ({cx}, {cy})"


# --- aligned by WCS ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("matrix", "shift"),
    [
        pytest.param(np.eye(2), (4.3, -3.1), id="pointing-shift"),
        pytest.param(np.eye(2), (-2.6, 5.7), id="other-pointing-shift"),
        pytest.param(np.eye(2), (3.0, -2.0), id="whole-pixel-shift"),
        pytest.param(rotation(4.0), (2.5, -6.0), id="rotated-and-shifted"),
        pytest.param(1.05 * rotation(-2.0), (-1.7, 1.2), id="rotated-and-scaled"),
        pytest.param(np.diag([-1.0, 1.0]), (127.4, 0.6), id="mirrored"),
    ],
)
def test_stars_of_every_channel_land_on_the_reference_stars(matrix, shift):
    red = reference()
    green = channel(matrix, shift, REF_SHAPE)
    blue = channel(np.eye(2), (-2.6, 5.7), REF_SHAPE)

    aligned, method = align_channels(
        [red[0], green[0], blue[0]], [red[1], green[1], blue[1]], [1, 1, 1]
    )

    assert method == "wcs"
    for image in aligned:
        assert image.shape == REF_SHAPE
        assert_stars_on_reference(image)


def test_without_alignment_the_shifted_stars_are_pixels_away():
    # The premise of the test above: the measurement can tell aligned from not aligned.
    shifted, _ = channel(np.eye(2), (4.3, -3.1), REF_SHAPE)
    for x, y in STARS:
        cx, cy = centroid(shifted, x, y)
        assert np.hypot(cx - x, cy - y) > 2.0


def test_the_reference_channel_is_returned_unchanged():
    red = reference()
    green = channel(np.eye(2), (4.3, -3.1), REF_SHAPE)

    aligned, _ = align_channels([red[0], green[0]], [red[1], green[1]], [1, 1])

    assert_array_equal(aligned[0], red[0])


@pytest.mark.parametrize(
    ("matrix", "shift"),
    [
        pytest.param(np.eye(2), (4.3, -3.1), id="shift"),
        pytest.param(rotation(5.0), (3.2, -4.4), id="rotation"),
    ],
)
def test_resampling_is_bilinear_so_a_linear_ramp_is_reproduced_exactly(matrix, shift):
    # A channel whose value is its own column coordinate u: after alignment, reference pixel
    # (x, y) must hold u = m00 x + m01 y + s0 wherever the channel has data.
    red = reference()
    matrix = np.asarray(matrix)
    rows, cols = REF_SHAPE
    ramp = np.tile(np.arange(cols, dtype=np.float32), (rows, 1))
    header = tan_header(REF_CD @ np.linalg.inv(matrix), matrix @ REF_CRPIX + np.asarray(shift))

    aligned, method = align_channels([red[0], ramp], [red[1], header], [1, 1])

    yy, xx = np.mgrid[0:rows, 0:cols]
    u = matrix[0, 0] * xx + matrix[0, 1] * yy + shift[0]
    v = matrix[1, 0] * xx + matrix[1, 1] * yy + shift[1]
    # Between the channel's outermost pixel centres (within half a pixel of its edge the
    # edge value may be repeated; further out there is no data).
    inside = (u >= 0) & (u <= cols - 1) & (v >= 0) & (v <= rows - 1)
    outside = (u < -0.5) | (u > cols - 0.5) | (v < -0.5) | (v > rows - 0.5)
    assert method == "wcs"
    assert inside.mean() > 0.8
    assert_allclose(aligned[1][inside], u[inside], atol=2e-3)
    assert np.isnan(aligned[1][outside]).all()


@settings(max_examples=40, deadline=None)
@given(
    dx=st.floats(-12.0, 12.0),
    dy=st.floats(-12.0, 12.0),
    degrees=st.floats(-8.0, 8.0),
    scale=st.floats(0.8, 1.25),
    factor=st.integers(1, 3),
)
def test_any_small_pointing_change_and_binning_maps_the_sampled_ramp_exactly(
    dx, dy, degrees, scale, factor
):
    # The channel's unbinned pixel is q = M p + t for reference pixel p; it is binned by
    # `factor`, and holds its own binned column coordinate. After alignment, reference pixel
    # p must hold ((M p + t)_x - (factor - 1) / 2) / factor, wherever it has data.
    red = reference()
    matrix = scale * factor * rotation(degrees)
    shift = np.array([dx, dy]) * factor
    header = tan_header(REF_CD @ np.linalg.inv(matrix), matrix @ REF_CRPIX + shift)
    rows, cols = REF_SHAPE
    ramp = np.tile(np.arange(cols, dtype=np.float32), (rows, 1))

    aligned, method = align_channels([red[0], ramp], [red[1], header], [1, factor])

    yy, xx = np.mgrid[0:rows, 0:cols]
    q_x = matrix[0, 0] * xx + matrix[0, 1] * yy + shift[0]
    q_y = matrix[1, 0] * xx + matrix[1, 1] * yy + shift[1]
    u, v = (q_x - (factor - 1) / 2) / factor, (q_y - (factor - 1) / 2) / factor
    inside = (u >= 0) & (u <= cols - 1) & (v >= 0) & (v <= rows - 1)
    assert method == "wcs"
    assert_allclose(aligned[1][inside], u[inside], atol=5e-3)


def test_pixels_a_channel_does_not_cover_are_nan():
    red = reference()
    green = channel(np.eye(2), (4.3, -3.1), REF_SHAPE)

    aligned, _ = align_channels([red[0], green[0]], [red[1], green[1]], [1, 1])

    # Reference x > 127 - 4.3 - 1 falls off the channel's right edge, y < 3.1 off its bottom.
    assert np.isnan(aligned[1][:, -5:]).all()
    assert np.isnan(aligned[1][:3, :]).all()
    assert np.isfinite(aligned[1][4:, :-6]).all()


def test_channels_of_different_sizes_are_resampled_onto_the_reference_grid():
    red = reference()
    # A larger frame whose centre coincides with the reference's centre, shifted a little.
    big_shape = (120, 150)
    offset = np.array([(150 - 128) / 2.0 + 1.4, (120 - 96) / 2.0 - 2.2])
    green = channel(np.eye(2), offset, big_shape)
    small_shape = (80, 110)
    blue = channel(rotation(1.5), (-7.0, -6.5), small_shape)

    aligned, method = align_channels(
        [red[0], green[0], blue[0]], [red[1], green[1], blue[1]], [1, 1, 1]
    )

    assert method == "wcs"
    assert [image.shape for image in aligned] == [REF_SHAPE] * 3
    assert_stars_on_reference(aligned[1])
    # The smaller frame covers only part of the reference: the stars it holds line up.
    covered = [
        (x, y)
        for x, y in STARS
        if np.isfinite(aligned[2][round(y) - 4 : round(y) + 5, round(x) - 4 : round(x) + 5]).all()
    ]
    assert 3 <= len(covered) < len(STARS)
    for x, y in covered:
        cx, cy = centroid(aligned[2], x, y)
        assert np.hypot(cx - x, cy - y) < TOLERANCE


@pytest.mark.parametrize(
    "bins",
    [pytest.param((1, 2, 1), id="channel-binned-2"), pytest.param((2, 4, 2), id="all-binned")],
)
def test_channels_binned_by_different_factors_are_aligned(bins):
    # Every frame is drawn at twice the reference resolution (unbinned pixel 2 p + 0.5 +
    # shift for reference pixel p), then block-averaged by its own factor; each WCS
    # describes the frame's unbinned pixels, as a real header does.
    unbinned_shape = (2 * REF_SHAPE[0], 2 * REF_SHAPE[1])
    shifts = [(0.0, 0.0), (8.6, -6.2), (-5.2, 11.4)]
    frames = [
        channel(2.0 * np.eye(2), np.array(shift) + 0.5, unbinned_shape, fwhm=5.0)
        for shift in shifts
    ]
    images = [block_mean(image, factor) for (image, _), factor in zip(frames, bins, strict=True)]

    aligned, method = align_channels(images, [header for _, header in frames], list(bins))

    assert method == "wcs"
    assert all(image.shape == images[0].shape for image in aligned)
    factor = bins[0]
    # Binned pixel j is centred on unbinned pixel j * factor + (factor - 1) / 2.
    expected = ((2.0 * STARS + 0.5) - (factor - 1) / 2.0) / factor
    radius = int(np.ceil(8 / factor))  # the stars' FWHM is 5 / factor binned pixels
    for image in aligned:
        for x, y in expected:
            cx, cy = centroid(image, x, y, radius=radius)
            assert np.hypot(cx - x, cy - y) < TOLERANCE


def test_an_on_chip_binned_frame_with_its_own_wcs_is_aligned():
    # CCDSUM 2x2: half the pixels, each twice the size on the sky; its WCS says so.
    red = reference()
    half = (REF_SHAPE[0] // 2, REF_SHAPE[1] // 2)
    green = channel(0.5 * np.eye(2), (-0.25 + 1.3, -0.25 - 0.9), half, fwhm=1.6)

    aligned, method = align_channels([red[0], green[0]], [red[1], green[1]], [1, 1])

    assert method == "wcs"
    assert aligned[1].shape == REF_SHAPE
    assert_stars_on_reference(aligned[1])


# --- not aligned: centre-cropped, and said so ----------------------------------------------


def no_wcs_header() -> fits.Header:
    return fits.Header([("OBJECT", "SYN-FIELD"), ("FILTER", "V")])


def linear_wcs_header() -> fits.Header:
    return fits.Header(
        [("CTYPE1", "LINEAR"), ("CTYPE2", "LINEAR"), ("CRPIX1", 1.0), ("CRPIX2", 1.0)]
    )


@pytest.mark.parametrize("missing", [0, 1, 2], ids=["red", "visual", "blue"])
@pytest.mark.parametrize(
    "header_factory",
    [
        pytest.param(lambda: None, id="no-header"),
        pytest.param(no_wcs_header, id="no-wcs-cards"),
        pytest.param(linear_wcs_header, id="non-celestial-wcs"),
    ],
)
def test_a_missing_wcs_falls_back_to_centre_cropping(missing, header_factory):
    frames = [reference(), channel(np.eye(2), (4.3, -3.1), REF_SHAPE), reference()]
    headers = [header for _, header in frames]
    headers[missing] = header_factory()

    aligned, method = align_channels([image for image, _ in frames], headers, [1, 1, 1])

    assert method == "none"
    for image, (original, _) in zip(aligned, frames, strict=True):
        assert_array_equal(image, original)


def test_centre_cropping_keeps_the_middle_of_every_frame_at_the_common_size():
    rng = np.random.default_rng(7)
    images = [rng.random(shape, dtype=np.float32) for shape in [(96, 128), (100, 120), (90, 131)]]

    aligned, method = align_channels(images, [None, None, None], [1, 1, 1])

    assert method == "none"
    assert [image.shape for image in aligned] == [(90, 120)] * 3
    assert_array_equal(aligned[0], images[0][3:93, 4:124])
    assert_array_equal(aligned[1], images[1][5:95, 0:120])
    assert_array_equal(aligned[2], images[2][0:90, 5:125])


@pytest.mark.parametrize(
    "wrong_header",
    [
        pytest.param(
            tan_header(REF_CD, REF_CRPIX, crval=(CRVAL[0], CRVAL[1] + 1.0)), id="a-degree-away"
        ),
        pytest.param(
            tan_header(REF_CD, REF_CRPIX, crval=(CRVAL[0] + 180.0, -CRVAL[1])),
            id="other-side-of-the-sky",
        ),
        pytest.param(tan_header(REF_CD * 3600.0, REF_CRPIX), id="scale-in-wrong-units"),
        pytest.param(
            tan_header(REF_CD, REF_CRPIX + np.array([100.0, 70.0])),
            id="footprints-barely-overlap",
        ),
    ],
)
def test_an_inconsistent_wcs_falls_back_to_centre_cropping(wrong_header):
    red = reference()
    green = channel(np.eye(2), (4.3, -3.1), REF_SHAPE)

    aligned, method = align_channels(
        [red[0], green[0], red[0]], [red[1], wrong_header, red[1]], [1, 1, 1]
    )

    assert method == "none"
    assert_array_equal(aligned[1], green[0])


def test_a_wcs_far_from_affine_over_the_frame_is_not_trusted():
    # A strong SIP distortion (x moves by 0.003 u^2 pixels: ~12 px at the frame's edge) is
    # not what two exposures of one field through one camera look like.
    red = reference()
    distorted = tan_header(REF_CD, REF_CRPIX)
    distorted["CTYPE1"], distorted["CTYPE2"] = "RA---TAN-SIP", "DEC--TAN-SIP"
    distorted.update({"A_ORDER": 2, "A_2_0": 3e-3, "B_ORDER": 2, "B_0_2": 0.0})

    _, method = align_channels([red[0], red[0]], [red[1], distorted], [1, 1])

    assert method == "none"


def test_a_mildly_distorted_wcs_is_still_aligned():
    red = reference()
    distorted = tan_header(REF_CD, REF_CRPIX + np.array([4.3, -3.1]))
    distorted["CTYPE1"], distorted["CTYPE2"] = "RA---TAN-SIP", "DEC--TAN-SIP"
    distorted.update({"A_ORDER": 2, "A_2_0": 1e-5, "B_ORDER": 2, "B_0_2": 1e-5})

    _, method = align_channels([red[0], red[0]], [red[1], distorted], [1, 1])

    assert method == "wcs"


def test_frames_in_different_sky_coordinate_systems_are_not_aligned():
    red = reference()
    galactic = tan_header(REF_CD, REF_CRPIX)
    galactic["CTYPE1"], galactic["CTYPE2"] = "GLON-TAN", "GLAT-TAN"

    _, method = align_channels([red[0], red[0]], [red[1], galactic], [1, 1])

    assert method == "none"


def test_the_fallback_is_logged_with_its_reason(caplog):
    red = reference()
    with caplog.at_level(logging.WARNING, logger="thumbnails.imaging.align"):
        _, method = align_channels([red[0], red[0]], [red[1], no_wcs_header()], [1, 1])

    assert method == "none"
    assert "frame 1 has no celestial WCS" in caplog.text


def test_wcs_alignment_logs_no_warning(caplog):
    red = reference()
    green = channel(np.eye(2), (4.3, -3.1), REF_SHAPE)
    with caplog.at_level(logging.WARNING, logger="thumbnails.imaging.align"):
        _, method = align_channels([red[0], green[0]], [red[1], green[1]], [1, 1])

    assert method == "wcs"
    assert caplog.records == []


def test_a_header_or_bin_factor_per_image_is_required():
    red = reference()
    with pytest.raises(ValueError, match="one header and one bin factor per image"):
        align_channels([red[0], red[0]], [red[1]], [1, 1])
