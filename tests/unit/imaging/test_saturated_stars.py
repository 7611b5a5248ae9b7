"""Saturated stars come out white in colour composites, through the real renderer.

A white star (the same flux in every channel) so bright that it saturates in the red and
visual frames (clipped at their ``SATURATE``) but not in the blue one: before, its core took
the blue frame's excess (a blue core, worst with ``asinh``), and the channels' saturated edges,
resampled onto the red frame's grid, drew a coloured ring around it. The frames are made here
(`tests.support.fits_factory`), with pointing shifts and a TAN WCS that says so; images are
decoded from PNG so that levels are exact.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from tests.support.fits_factory import reduced_frame_bytes, star_field
from thumbnails.imaging import saturation
from thumbnails.imaging.render import render_thumbnail
from thumbnails.params import STRETCHES, ThumbnailParams

SHAPE = (128, 160)  # rows, cols
FWHM = 4.0
#: Where the red, visual and blue frames clip (the blue one never reaches its level).
SATURATE = 20000.0
#: Isolated white stars, enough for the star balance; the saturated one; a red one.
FIELD = [
    (20.3, 20.6, 3000.0),
    (50.7, 30.3, 4000.0),
    (120.1, 20.4, 3000.0),
    (30.5, 95.2, 3500.0),
    (140.4, 100.7, 3000.0),
    (110.2, 75.3, 2500.0),
]
BRIGHT = (80.4, 60.6, 2.0e6)
RED = (40.3, 60.2)
RED_PEAKS = {"rp": 4000.0, "V": 2000.0, "B": 800.0}
SHIFTS = {"rp": (0.0, 0.0), "V": (4.3, -3.1), "B": (-2.6, 5.7)}
#: The radius (px) inside which the red and visual frames are clipped.
CORE_RADIUS = FWHM / 2.3548 * math.sqrt(2.0 * math.log(BRIGHT[2] / SATURATE))
#: "White": the channels within this many grey levels of each other.
WHITE = 5
BALANCES = ("zeropoint", "stars", "none")


def colour_set(
    balance: str,
    *,
    levels: str = "header",
    saturated: bool = True,
    filters: tuple[str, str, str] = ("rp", "V", "B"),
    blue_peak: float | None = None,
) -> list[bytes]:
    """R, V, B frames for `balance`: BANZAI zero points in every channel; none (the stars
    balance them); or no WCS (not aligned, nothing balanced: then no pointing shifts either).

    `levels`: ``header`` writes ``SATURATE``; ``none`` writes none (the plateau counts);
    ``above`` writes a level above the data (nothing counts as saturated: the renderer's
    picture without the whitening). `saturated` False: nothing is clipped. `filters`: the
    ``FILTER`` of the red, visual and blue frames (the first two clipped); `blue_peak`: the
    bright star's peak in the blue frame, if not `BRIGHT`'s.
    """
    frames = []
    for seed, (name, shift) in enumerate(SHIFTS.items(), start=1):
        if balance == "none":
            shift = (0.0, 0.0)
        bright = BRIGHT if blue_peak is None or name != "B" else (*BRIGHT[:2], blue_peak)
        stars = [*FIELD, bright, (*RED, RED_PEAKS[name])]
        data = star_field(SHAPE, seed=seed, stars=stars, shift=shift, fwhm=FWHM)
        header: dict[str, object] = {}
        clipped = saturated and name != "B"
        if clipped:
            np.minimum(data, np.float32(SATURATE), out=data)
        if levels == "header":
            header["SATURATE"] = SATURATE if clipped else 1.0e9
        elif levels == "above":
            header["SATURATE"] = 1.0e9
        if balance == "zeropoint":
            header |= {"L1ZP": 23.0, "EXPTIME": 60.0}
        frames.append(
            reduced_frame_bytes(
                SHAPE,
                filter=filters[seed - 1],
                data=data,
                shift=shift,
                wcs=balance != "none",
                header=header,
            )
        )
    return frames


def render(frames: list[bytes], stretch: str, *, width: int = SHAPE[1]):
    params = ThumbnailParams(
        color=True, width=width, height=SHAPE[0], format="png", stretch=stretch
    )
    thumbnail = render_thumbnail(frames, params)
    return thumbnail, np.asarray(Image.open(io.BytesIO(thumbnail.data))).astype(int)


def distance_from(star, shape, scale=1.0) -> np.ndarray:
    """Output pixels' distance (in frame pixels) from a star's centre (FITS row 1 at the
    bottom of the picture; `scale` output pixels per frame pixel)."""
    rows, cols = shape
    yy, xx = np.mgrid[0:rows, 0:cols]
    x, y = star[0] * scale, (SHAPE[0] - 1 - star[1]) * scale
    return np.hypot(yy - y, xx - x) / scale


def chroma(picture: np.ndarray) -> np.ndarray:
    """The spread of the channels at each pixel (0 for grey)."""
    return picture.max(axis=-1) - picture.min(axis=-1)


@pytest.mark.parametrize("balance", BALANCES)
@pytest.mark.parametrize("stretch", STRETCHES)
def test_a_star_saturated_in_two_channels_has_a_white_core_and_no_coloured_ring(balance, stretch):
    thumbnail, picture = render(colour_set(balance), stretch)
    assert thumbnail.color_balance == balance
    distance = distance_from(BRIGHT, picture.shape[:2])
    spread = chroma(picture)
    core = distance < CORE_RADIUS
    assert spread[core].max() <= WHITE, spread[core].max()
    assert picture[core].min() >= 250  # white, not a grey
    # Just outside the clipped core (where the channels' clipped edges were resampled and
    # partly saturated block edges lie), the star's own colour: white, no ring.
    ring = (distance >= CORE_RADIUS) & (distance < CORE_RADIUS + 2.0)
    assert spread[ring].mean() <= WHITE, spread[ring].mean()


@pytest.mark.parametrize("stretch", ["asinh", "log", "zscale"])
def test_a_binned_core_is_white_too(stretch):
    # At half size: blocks only partly saturated lie at the core's edge.
    _thumbnail, picture = render(colour_set("stars"), stretch, width=SHAPE[1] // 2)
    distance = distance_from(BRIGHT, picture.shape[:2], scale=0.5)
    spread = chroma(picture)
    assert spread[distance < CORE_RADIUS].max() <= WHITE
    ring = (distance >= CORE_RADIUS) & (distance < CORE_RADIUS + 3.0)
    assert spread[ring].mean() <= WHITE, spread[ring].mean()


@pytest.mark.parametrize("stretch", ["asinh", "log"])
def test_without_a_header_level_the_clipped_plateau_counts(stretch):
    _thumbnail, picture = render(colour_set("stars", levels="none"), stretch)
    distance = distance_from(BRIGHT, picture.shape[:2])
    assert chroma(picture)[distance < CORE_RADIUS].max() <= WHITE


@pytest.mark.parametrize("balance", BALANCES)
@pytest.mark.parametrize("stretch", ["asinh", "zscale"])
def test_only_the_saturated_core_changes_and_unsaturated_stars_keep_their_colour(balance, stretch):
    _thumbnail, picture = render(colour_set(balance), stretch)
    _thumbnail, unmarked = render(colour_set(balance, levels="above"), stretch)
    distance = distance_from(BRIGHT, picture.shape[:2])
    reach = CORE_RADIUS + saturation.GROW + saturation.SOFT_EDGE + 1.0
    far = distance > reach
    np.testing.assert_array_equal(picture[far], unmarked[far])
    assert not np.array_equal(picture[~far], unmarked[~far])
    red = picture[distance_from(RED, picture.shape[:2]) < 1.0]
    assert (red[:, 0] - red[:, 2]).min() > 60  # still red


def test_no_saturation_no_change():
    _thumbnail, picture = render(colour_set("stars", saturated=False), "asinh")
    _thumbnail, unmarked = render(colour_set("stars", saturated=False, levels="above"), "asinh")
    np.testing.assert_array_equal(picture, unmarked)


# ---------------------------------------------------------------------------- the module
def test_the_level_is_the_lowest_of_saturate_and_maxlin():
    image = np.zeros((4, 4), dtype=np.float32)
    assert saturation.saturation_level({"SATURATE": 5e4, "MAXLIN": 4e4}, image) == 4e4
    assert saturation.saturation_level({"SATURATE": 5e4}, image) == 5e4
    assert saturation.saturation_level({"MAXLIN": 4e4, "SATURATE": "bad"}, image) == 4e4


def test_without_a_level_a_plateau_counts_and_a_lone_peak_does_not():
    rng = np.random.default_rng(0)
    image = rng.normal(100.0, 5.0, (60, 60)).astype(np.float32)
    image[10, 10] = 9000.0  # the brightest pixel of an unsaturated star
    assert saturation.saturation_level({}, image) is None
    image[30:32, 30:33] = 65535.0  # a clipped core
    assert saturation.saturation_level({}, image) == 65535.0
    assert saturation.saturation_level(None, np.full((60, 60), 7.0, np.float32)) is None


def test_whiten_fades_from_the_grown_core_to_the_colour():
    levels = np.zeros((15, 15, 3), dtype=np.uint8)
    levels[..., 2] = 200
    core = np.zeros((15, 15), dtype=bool)
    core[7, 7] = True
    out = saturation.whiten(levels.copy(), core).astype(int)
    yy, xx = np.mgrid[0:15, 0:15]
    distance = np.hypot(yy - 7, xx - 7)
    assert (out[distance <= saturation.GROW] == 255).all()  # grown: white
    edge = (distance > saturation.GROW) & (distance < saturation.GROW + saturation.SOFT_EDGE)
    assert edge.any()
    assert ((out[edge][:, 0] > 0) & (out[edge][:, 0] < 255)).all()  # fading to the colour
    assert (out[edge][:, 2] > 200).all()
    far = distance >= saturation.GROW + saturation.SOFT_EDGE
    np.testing.assert_array_equal(out[far], levels[far])


@pytest.mark.parametrize("stretch", STRETCHES)
def test_a_narrowband_set_whitens_its_saturated_core_too(stretch):
    # Issue 30: narrowband channels are balanced each on its own range, then whitened as
    # broadband ones are, so a star saturated in SII and H-Alpha is not magenta or green.
    # Each line is stretched to its own range, so a star far above every channel's white is
    # white anyway: the OIII star here is faint (an emission-line star), and its saturated
    # SII and H-Alpha core would be yellow-red without the whitening.
    frames = colour_set("zeropoint", filters=("SII", "H-Alpha", "OIII"), blue_peak=300.0)
    thumbnail, picture = render(frames, stretch)
    assert thumbnail.color_balance == "per-channel"
    distance = distance_from(BRIGHT, picture.shape[:2])
    core = distance < CORE_RADIUS
    assert chroma(picture)[core].max() <= WHITE, chroma(picture)[core].max()
    assert picture[core].min() >= 250
