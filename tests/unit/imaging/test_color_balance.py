"""Colour composites look like the sky: a neutral background, channels on one flux scale.

Frames are made in electrons (sky, stars, Poisson and read noise), converted to counts with
each camera's gain, written as reduced FITS frames with a TAN WCS and pointing shifts, and
rendered by the real renderer into PNG; levels are read from the decoded pixels. Positions
are FITS pixels of the red frame (0-based); the picture's row 0 is FITS row ``rows - 1``.
"""

from __future__ import annotations

import io
import logging

import numpy as np
import pytest
from PIL import Image

from tests.support.fits_factory import reduced_frame_bytes, star_field, star_positions
from thumbnails.imaging.color_balance import (
    ColorBalance,
    balance_channels,
    sky_background,
    zeropoint_scale,
)
from thumbnails.imaging.color_match import match_smoothing
from thumbnails.imaging.render import render_thumbnail
from thumbnails.params import ThumbnailParams

SHAPE = (160, 200)  # rows, cols
FILTERS = ("rp", "V", "B")
SHIFTS = {"rp": (0.0, 0.0), "V": (3.3, -2.1), "B": (-2.6, 4.7)}
#: Three cameras: skies a factor of 3 apart, different gains (electrons per count).
SKIES = {"rp": 900.0, "V": 500.0, "B": 300.0}
GAINS = {"rp": 1.0, "V": 2.2, "B": 0.6}
EXPTIME = 100.0
#: The field: stars of one colour, counts (electrons) in R : V : B of 1 : 0.5 : 0.25.
FIELD_COLOUR = {"rp": 1.0, "V": 0.5, "B": 0.25}
#: Peaks (electrons, red) from 5 to 170 sky sigmas: the bright ones saturate the stretch, the
#: faint ones show their colour in it.
FIELD = [
    (x, y, peak)
    for (x, y, _), peak in zip(
        star_positions(SHAPE, 60), np.geomspace(150.0, 5000.0, 60), strict=True
    )
]
#: A red and a blue star, far from the field's, and their colours in counts.
RED_STAR, BLUE_STAR = (30.5, 140.5), (170.5, 20.5)
RED_COLOUR = {"rp": 1.0, "V": 0.2, "B": 0.03}
BLUE_COLOUR = {"rp": 0.5, "V": 0.6, "B": 0.9}
SIZES = [pytest.param(SHAPE[1], id="full-size"), pytest.param(SHAPE[1] // 2, id="binned-2x")]
#: Also resampled to the output size (LANCZOS), which greys each channel's sky differently.
SKY_SIZES = [*SIZES, pytest.param(SHAPE[1] * 4 // 5, id="resized-0.8x")]
STRETCHES = ["zscale", "asinh"]


def frame(
    band: str,
    stars: list[tuple[float, float, float]],
    *,
    seed: int,
    header: dict | None = None,
    wcs: bool = True,
    fwhm: float = 4.0,
) -> bytes:
    """A reduced frame in counts: `stars` are (x, y, peak electrons) in the red frame."""
    electrons = star_field(
        SHAPE, stars=stars, sky=SKIES[band], noise=0.0, shift=SHIFTS[band], fwhm=fwhm
    )
    rng = np.random.default_rng(seed)
    electrons = rng.poisson(electrons).astype(np.float64) + rng.normal(0.0, 8.0, SHAPE)
    counts = (electrons / GAINS[band]).astype(np.float32)
    cards = {"GAIN": GAINS[band], "EXPTIME": EXPTIME, **(header or {})}
    return reduced_frame_bytes(data=counts, filter=band, shift=SHIFTS[band], header=cards, wcs=wcs)


def colour_set(
    *,
    field=FIELD_COLOUR,
    extra: dict[str, list] | None = None,
    headers: dict[str, dict] | None = None,
    stars=FIELD,
    wcs: bool = True,
    seed: int = 10,
    fwhm: float = 4.0,
) -> list[bytes]:
    """R, V, B frames of `stars` with colour `field`; `extra` adds (x, y, peak) per band."""
    extra, headers = extra or {}, headers or {}
    return [
        frame(
            band,
            [(x, y, peak * field[band]) for x, y, peak in stars] + extra.get(band, []),
            seed=seed + index,
            header=headers.get(band),
            wcs=wcs,
            fwhm=fwhm,
        )
        for index, band in enumerate(FILTERS)
    ]


def coloured(position, colour: dict[str, float], peak: float) -> dict[str, list]:
    """`extra` for `colour_set`: one star at `position` whose peak counts (not electrons:
    the gains differ) are `colour` times `peak`."""
    x, y = position
    return {band: [(x, y, peak * colour[band] * GAINS[band])] for band in FILTERS}


def merge(*extras: dict[str, list]) -> dict[str, list]:
    return {band: [star for extra in extras for star in extra.get(band, [])] for band in FILTERS}


def render(data: list[bytes], *, width: int = SHAPE[1], stretch: str = "zscale", **more):
    params = ThumbnailParams(
        width=width, height=width, color=True, stretch=stretch, format="png", **more
    )
    thumbnail = render_thumbnail(data, params)
    rgb = np.asarray(Image.open(io.BytesIO(thumbnail.data)).convert("RGB")).astype(float)
    return thumbnail, rgb


def to_picture(rgb: np.ndarray, x: float, y: float) -> tuple[int, int]:
    """Picture (row, col) of red-frame FITS pixel (x, y), at the picture's scale."""
    scale = rgb.shape[1] / SHAPE[1]
    return rgb.shape[0] - 1 - round((y + 0.5) * scale - 0.5), round((x + 0.5) * scale - 0.5)


def star_levels(rgb: np.ndarray, x: float, y: float) -> np.ndarray:
    """Mean R, G, B of the 3x3 box around a star (less noisy than its brightest pixel)."""
    row, col = to_picture(rgb, x, y)
    return rgb[row - 1 : row + 2, col - 1 : col + 2].reshape(-1, 3).mean(axis=0)


def sky_medians(rgb: np.ndarray, stars) -> np.ndarray:
    """Median R, G, B of the picture away from its edges and from every star."""
    scale = rgb.shape[1] / SHAPE[1]
    rows, cols = np.mgrid[0 : rgb.shape[0], 0 : rgb.shape[1]]
    sky = np.zeros(rgb.shape[:2], bool)
    edge = max(3, round(8 * scale))
    sky[edge:-edge, edge:-edge] = True
    for x, y, _peak in stars:
        row, col = to_picture(rgb, x, y)
        sky &= np.hypot(rows - row, cols - col) > 8 * scale
    return np.median(rgb[sky], axis=0)


# --- a neutral sky -------------------------------------------------------------------------


@pytest.mark.parametrize("width", SKY_SIZES)
@pytest.mark.parametrize("stretch", STRETCHES)
@pytest.mark.parametrize(
    ("method", "data"),
    [
        pytest.param("stars", lambda: colour_set(), id="stars"),
        pytest.param(
            "zeropoint",
            lambda: colour_set(headers={b: {"L1ZP": 24.0 - i} for i, b in enumerate(FILTERS)}),
            id="zeropoint",
        ),
        pytest.param("none", lambda: colour_set(stars=[]), id="no-stars"),
    ],
)
def test_skies_a_factor_3_apart_through_different_gains_come_out_neutral(
    method, data, stretch, width
):
    thumbnail, rgb = render(data(), width=width, stretch=stretch)

    assert thumbnail.color_balance == method
    medians = sky_medians(rgb, FIELD)
    assert medians.max() - medians.min() <= 4, medians


def test_the_sky_was_not_neutral_without_balancing_which_is_what_this_is_about():
    # The same frames, each channel stretched on its own as before (single renders, binned):
    # their skies' grey differs by more than the 4 levels the composite keeps.
    data = colour_set()
    greys = []
    for one in data:
        params = ThumbnailParams(width=SHAPE[1] // 2, format="png")
        picture = render_thumbnail([one], params)
        grey = np.asarray(Image.open(io.BytesIO(picture.data)), dtype=float)
        greys.append(float(np.median(grey[5:-5, 5:-5])))
    assert max(greys) - min(greys) > 4, greys


def test_median_on_colour_keeps_a_neutral_sky_and_the_balance():
    # recalculate_median: one black and one white point for the three channels.
    thumbnail, rgb = render(colour_set(), width=SHAPE[1] // 2, median=True)

    medians = sky_medians(rgb, FIELD)
    assert medians.max() <= 4, medians
    ratios = [
        levels / levels.max()
        for levels in (star_levels(rgb, x, y) for x, y, _peak in FIELD)
        if 40 < levels.max() < 250
    ]
    assert len(ratios) >= 10
    assert np.median(ratios, axis=0).min() >= 0.9


# --- calibrated colour from BANZAI's zero points -------------------------------------------

#: L1ZP and EXPTIME per band: a source of one calibrated flux has counts in the ratio
#: 10**(0.4 L1ZP) * EXPTIME, here 1 : 0.126 : 0.502 (R : V : B).
ZEROPOINTS = {"rp": 24.5, "V": 23.0, "B": 23.5}
EXPTIMES = {"rp": 100.0, "V": 50.0, "B": 200.0}
CALIBRATED = {
    band: 10 ** (0.4 * ZEROPOINTS[band])
    * EXPTIMES[band]
    / (10 ** (0.4 * ZEROPOINTS["rp"]) * EXPTIMES["rp"])
    for band in FILTERS
}
WHITE_STAR = (100.5, 80.5)


@pytest.mark.parametrize("width", SIZES)
@pytest.mark.parametrize("stretch", STRETCHES)
def test_with_l1zp_a_star_of_equal_calibrated_flux_is_neutral(stretch, width):
    headers = {b: {"L1ZP": ZEROPOINTS[b], "EXPTIME": EXPTIMES[b]} for b in FILTERS}
    # The field's stars are red (a white balance on them would tint the white star blue),
    # and the white star's counts differ by a factor of 8 between channels.
    # Bright enough to stand out of every channel's noise, faint enough not to saturate.
    peak = {"zscale": 600.0, "asinh": 2500.0}[stretch] * (1 if width == SHAPE[1] else 2)
    data = colour_set(
        field={"rp": 1.0, "V": 0.1, "B": 0.1},
        extra=coloured(WHITE_STAR, CALIBRATED, peak),
        headers=headers,
    )

    thumbnail, rgb = render(data, width=width, stretch=stretch)

    assert thumbnail.color_balance == "zeropoint"
    levels = star_levels(rgb, *WHITE_STAR)
    assert 40 < levels.max() < 250, levels  # neither lost in the sky nor saturated
    assert levels.min() / levels.max() >= 0.9, levels


def test_the_zero_point_is_banzais_magnitude_of_one_count_per_second():
    # mag = -2.5 log10(counts / EXPTIME) + L1ZP (banzai.utils.photometry_utils.to_magnitude),
    # so the flux of one count is 10**(-0.4 L1ZP) / EXPTIME.
    scale, why = zeropoint_scale({"L1ZP": 23.0, "EXPTIME": 50.0})
    assert scale == pytest.approx(10 ** (-0.4 * 23.0) / 50.0)
    assert why == "L1ZP"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ({"EXPTIME": 50.0}, "no L1ZP"),
        ({"L1ZP": "N/A", "EXPTIME": 50.0}, "not a number"),
        ({"L1ZP": float("nan"), "EXPTIME": 50.0}, "not a number"),
        ({"L1ZP": 0.0, "EXPTIME": 50.0}, "implausible"),
        ({"L1ZP": 23.0}, "EXPTIME"),
        ({"L1ZP": 23.0, "EXPTIME": 0.0}, "EXPTIME"),
    ],
)
def test_a_missing_or_damaged_zero_point_is_not_used(header, reason):
    scale, why = zeropoint_scale(header)
    assert scale is None
    assert reason in why


def test_a_zero_point_in_the_red_frame_only_falls_back_to_the_stars(caplog):
    # BANZAI calibrates gp, rp, ip and zs only: a real rp, V, B set has one zero point.
    data = colour_set(headers={"rp": {"L1ZP": 24.5}})
    with caplog.at_level(logging.INFO, logger="thumbnails.imaging.color_balance"):
        thumbnail, _ = render(data)
    assert thumbnail.color_balance == "stars"
    assert "channel 1 no L1ZP, channel 2 no L1ZP" in caplog.text


# --- white balance on the field's stars ----------------------------------------------------


@pytest.mark.parametrize("width", SIZES)
@pytest.mark.parametrize("stretch", STRETCHES)
def test_without_l1zp_stars_of_one_colour_come_out_neutral(stretch, width):
    thumbnail, rgb = render(colour_set(), width=width, stretch=stretch)

    assert thumbnail.color_balance == "stars"
    ratios = []
    for x, y, _peak in FIELD:
        levels = star_levels(rgb, x, y)
        if 40 < levels.max() < 250:
            ratios.append(levels / levels.max())
    assert len(ratios) >= 10
    median = np.median(ratios, axis=0)
    assert median.min() >= 0.9, median


@pytest.mark.parametrize("stretch", STRETCHES)
def test_stars_a_pixel_wide_are_as_sharp_in_every_channel(stretch):
    # Binned by 2, these stars are 1.25 pixels wide. The alignment resamples the V and B
    # channels bilinearly, which softens their stars and not the red one's: unmatched, each
    # star would show a red core in a cyan ring, and its mean colour would not be neutral.
    thumbnail, rgb = render(colour_set(fwhm=2.5), width=SHAPE[1] // 2, stretch=stretch)

    assert thumbnail.color_balance == "stars"
    ratios = []
    for x, y, _peak in FIELD:
        levels = star_levels(rgb, x, y)
        if 40 < levels.max() < 250:
            ratios.append(levels / levels.max())
    assert len(ratios) >= 10
    median = np.median(ratios, axis=0)
    assert median.min() >= 0.9, median


def test_matching_softens_the_sharper_channel_like_the_resampled_ones():
    rng = np.random.default_rng(5)
    sharp = rng.normal(0.0, 1.0, (120, 160)).astype(np.float32)
    noise = rng.normal(0.0, 1.0, (120, 161)).astype(np.float32)
    sharp[60, 80] += 1000.0  # a star one pixel wide
    noise[30, 40] += 1000.0
    # Bilinear at offset 0.5 along x, as the alignment resamples a shifted channel.
    soft = (0.5 * (noise[:, :-1] + noise[:, 1:])).astype(np.float32)

    soft_before = soft.copy()

    matched = match_smoothing([sharp, soft, soft])

    assert matched[0] is sharp  # softened in place
    assert np.array_equal(matched[1], soft_before)  # already the softest: untouched
    # The star's flux now spreads over the pixels of a row as the resampled star's does.
    row = matched[0][60, 77:84]
    assert np.sum(row**2) / np.sum(row) ** 2 == pytest.approx(0.5, abs=0.05)
    assert matched[0][59:62, 80].tolist() == pytest.approx([0.0, row.max(), 0.0], abs=5.0)


@pytest.mark.parametrize("stretch", STRETCHES)
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="stars"),
        pytest.param({b: {"L1ZP": 24.0, "EXPTIME": 100.0} for b in FILTERS}, id="zeropoint"),
    ],
)
def test_a_red_and_a_blue_star_keep_their_order(stretch, headers):
    peak = {"zscale": 1000.0, "asinh": 6000.0}[stretch]  # not saturated
    extra = merge(coloured(RED_STAR, RED_COLOUR, peak), coloured(BLUE_STAR, BLUE_COLOUR, peak))
    thumbnail, rgb = render(colour_set(extra=extra, headers=headers), stretch=stretch)

    assert thumbnail.color_balance == ("zeropoint" if headers else "stars")
    red, _, blue = star_levels(rgb, *RED_STAR)
    assert red > blue + 20, (red, blue)
    red, _, blue = star_levels(rgb, *BLUE_STAR)
    assert blue > red + 20, (red, blue)


def test_without_stars_or_zero_points_nothing_is_calibrated_and_the_log_says_why(caplog):
    with caplog.at_level(logging.INFO, logger="thumbnails.imaging.color_balance"):
        thumbnail, rgb = render(colour_set(stars=[]))
    assert thumbnail.color_balance == "none"
    assert "colour balance: none" in caplog.text
    assert "0 stars found in all channels" in caplog.text
    assert rgb.mean() < 60  # a dark sky, not a flat grey


def test_stars_are_not_matched_across_channels_that_are_not_aligned():
    thumbnail, _ = render(colour_set(wcs=False))
    assert thumbnail.alignment == "none"
    assert thumbnail.color_balance == "none"


# --- the pure parts ------------------------------------------------------------------------


def test_the_sky_is_the_background_under_the_stars_not_the_plain_median():
    rng = np.random.default_rng(3)
    sky = rng.normal(1000.0, 20.0, 1800)
    stars = 1000.0 + rng.uniform(20.0, 5000.0, 450)  # a crowded field: 20 % on stars
    samples = np.sort(np.concatenate([sky, stars]))

    level, sigma = sky_background(samples)

    assert level == pytest.approx(1000.0, abs=2.0)
    assert sigma == pytest.approx(20.0, rel=0.1)
    assert np.median(samples) > level + 3.0  # what the stretch used as black before


def test_balanced_fluxes_subtract_the_sky_and_scale_each_channel():
    balance = ColorBalance("zeropoint", sky=(10.0, 20.0, 30.0), scales=(1.0, 2.0, 0.5))
    images = [np.full((2, 2), value, np.float32) for value in (14.0, 21.0, 38.0)]
    images[1][0, 0] = np.nan

    fluxes = balance.apply(images)

    assert [float(f[1, 1]) for f in fluxes] == [4.0, 2.0, 4.0]
    assert np.isnan(fluxes[1][0, 0])
    assert float(images[0][1, 1]) == 14.0  # the inputs (cached binned frames) are untouched


def test_balance_needs_one_header_and_sample_per_channel():
    with pytest.raises(ValueError, match="one sample and one header"):
        balance_channels([np.zeros((4, 4))] * 3, [np.zeros(4)] * 3, [{}] * 2)
