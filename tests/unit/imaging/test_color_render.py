"""Colour thumbnails through the real renderer: R, V, B frames (FITS bytes) -> one RGB image.

The frames are made here (`tests.support.fits_factory`), with pointing shifts between them and a TAN
WCS that says so, as the frames of one LCO colour request are. Images are decoded from PNG
so that pixel values are exact; FITS row 1 is the bottom row of the picture.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.support.fits_factory import reduced_frame_bytes
from thumbnails.imaging.render import render_thumbnail
from thumbnails.params import ThumbnailParams

SHAPE = (96, 128)  # rows, cols
#: Pointing offsets (dx, dy) of the V and B frames from the red one, as in a real request.
V_SHIFT = (4.3, -3.1)
B_SHIFT = (-2.6, 5.7)
#: Star positions (x, y, peak) in the red frame; every frame sees them at its own pointing.
FIELD = [(30.2, 25.6, 3000.0), (64.7, 48.3, 5000.0), (98.1, 70.4, 3000.0)]
#: Display levels (0-255) that a star's core exceeds, and that the sky's noise stays below.
BRIGHT = 200
DARK = 128
#: Where a star is in the red frame only, and one in the blue frame only.
RED_ONLY = (30.5, 70.5)
BLUE_ONLY = (98.5, 22.5)


#: Each frame's own noise.
NOISE_SEEDS = {"rp": 1, "V": 2, "B": 3}


def frame(filter_name: str, shift, stars, *, wcs: bool = True, shape=SHAPE) -> bytes:
    """A reduced frame of `stars` seen at pointing offset `shift` (stars and WCS both move)."""
    return reduced_frame_bytes(
        shape, filter=filter_name, stars=stars, shift=shift, wcs=wcs, seed=NOISE_SEEDS[filter_name]
    )


def colour_set(*, wcs: bool = True, extra=None, shape=SHAPE) -> list[bytes]:
    """R, V, B frames of FIELD at their pointings; `extra` adds stars to some channels."""
    extra = extra or {}
    return [
        frame(name, shift, FIELD + extra.get(name, []), wcs=wcs, shape=shape)
        for name, shift in (("rp", (0.0, 0.0)), ("V", V_SHIFT), ("B", B_SHIFT))
    ]


def render(data: list[bytes], **params):
    params = {"width": SHAPE[1], "height": SHAPE[0], "format": "png", **params}
    thumbnail = render_thumbnail(data, ThumbnailParams(color=True, **params))
    picture = Image.open(io.BytesIO(thumbnail.data))
    return thumbnail, picture


def tan_header(shape, offset=(0.0, 0.0), crval_dec=-43.0) -> dict[str, object]:
    """A TAN WCS in which pixel (x, y) shows what the red frame shows at (x - dx, y - dy)."""
    scale = 0.5 / 3600.0
    return {
        "CTYPE1": "RA---TAN",
        "CTYPE2": "DEC--TAN",
        "CRVAL1": 201.3,
        "CRVAL2": crval_dec,
        # The red frame's reference pixel is its centre (fits_factory.tan_wcs_cards).
        "CRPIX1": (SHAPE[1] + 1) / 2.0 + offset[0],
        "CRPIX2": (SHAPE[0] + 1) / 2.0 + offset[1],
        "CD1_1": -scale,
        "CD1_2": 0.0,
        "CD2_1": 0.0,
        "CD2_2": scale,
    }


def levels_at(picture: Image.Image, x: float, y: float, rows: int = SHAPE[0]) -> np.ndarray:
    """The brightest R, G, B levels in a 3x3 box around FITS pixel (x, y) (0-based)."""
    rgb = np.asarray(picture.convert("RGB")).astype(int)
    row, col = rows - 1 - round(y), round(x)
    return rgb[row - 1 : row + 2, col - 1 : col + 2].reshape(-1, 3).max(axis=0)


# --- a colour image, aligned by WCS --------------------------------------------------------


def test_three_frames_make_an_rgb_thumbnail_aligned_by_wcs():
    thumbnail, picture = render(colour_set())

    assert picture.mode == "RGB"
    assert (thumbnail.width, thumbnail.height) == picture.size == (SHAPE[1], SHAPE[0])
    assert thumbnail.alignment == "wcs"


def test_stars_seen_in_all_three_frames_are_white_where_the_red_frame_has_them():
    _, picture = render(colour_set())

    for x, y, _peak in FIELD:
        assert (levels_at(picture, x, y) > BRIGHT).all(), f"star at ({x}, {y})"


def test_without_wcs_the_frames_are_stacked_as_they_are_and_stars_split_into_colours():
    thumbnail, picture = render(colour_set(wcs=False))

    assert thumbnail.alignment == "none"
    # Stacked pixel by pixel, the V and B stars are ~5 px away from the red ones.
    for x, y, _peak in FIELD:
        red, green, blue = levels_at(picture, x, y)
        assert red > BRIGHT
        assert green < DARK and blue < DARK
        assert levels_at(picture, x + V_SHIFT[0], y + V_SHIFT[1])[1] > BRIGHT
        assert levels_at(picture, x + B_SHIFT[0], y + B_SHIFT[1])[2] > BRIGHT


def test_one_frame_without_wcs_turns_alignment_off():
    data = colour_set()
    data[2] = frame("B", B_SHIFT, FIELD, wcs=False)

    thumbnail, picture = render(data)

    assert thumbnail.alignment == "none"
    assert picture.mode == "RGB"


def test_frames_of_another_field_are_not_aligned():
    data = colour_set()
    far_away = reduced_frame_bytes(
        SHAPE, filter="V", stars=FIELD, wcs=False, header=tan_header(SHAPE, crval_dec=-42.0)
    )

    thumbnail, _ = render([data[0], far_away, data[2]])

    assert thumbnail.alignment == "none"


@pytest.mark.parametrize(
    ("channel", "position", "colour"),
    [
        pytest.param("rp", RED_ONLY, 0, id="red-only-star-is-red"),
        pytest.param("B", BLUE_ONLY, 2, id="blue-only-star-is-blue"),
    ],
)
def test_a_star_in_one_frame_only_shows_in_that_colour_only(channel, position, colour):
    x, y = position
    # The star is drawn where the frame's own pointing puts it (fits_factory adds the shift).
    data = colour_set(extra={channel: [(x, y, 4000.0)]})

    _, picture = render(data)

    levels = levels_at(picture, x, y)
    assert levels[colour] > BRIGHT, levels
    others = [level for index, level in enumerate(levels) if index != colour]
    assert max(others) < DARK, levels


def test_frames_of_different_sizes_render_at_the_red_frames_size():
    red = frame("rp", (0.0, 0.0), FIELD)
    # A larger V frame: the stars are further from its origin by half the size difference.
    big = (110, 150)
    offset = ((150 - SHAPE[1]) / 2.0 + V_SHIFT[0], (110 - SHAPE[0]) / 2.0 + V_SHIFT[1])
    visual = reduced_frame_bytes(
        big,
        filter="V",
        stars=[(x + offset[0], y + offset[1], p) for x, y, p in FIELD],
        header=tan_header(big, offset),
        wcs=False,
        seed=5,
    )
    blue = frame("B", B_SHIFT, FIELD)

    thumbnail, picture = render([red, visual, blue])

    assert thumbnail.alignment == "wcs"
    assert picture.size == (SHAPE[1], SHAPE[0])
    for x, y, _peak in FIELD:
        assert (levels_at(picture, x, y) > BRIGHT).all(), f"star at ({x}, {y})"


def test_frames_binned_for_a_smaller_thumbnail_are_aligned_too():
    # 2x the size, rendered at half: the renderer bins by 2 before aligning.
    shape = (2 * SHAPE[0], 2 * SHAPE[1])
    stars = [(2 * x, 2 * y, p) for x, y, p in FIELD]
    data = [
        reduced_frame_bytes(shape, filter=name, stars=stars, shift=shift, seed=NOISE_SEEDS[name])
        for name, shift in [("rp", (0.0, 0.0)), ("V", (8.6, -6.2)), ("B", (-5.2, 11.4))]
    ]

    thumbnail, picture = render(data)

    assert thumbnail.alignment == "wcs"
    assert picture.size == (SHAPE[1], SHAPE[0])
    for x, y, _peak in FIELD:
        # Binned pixel j covers unbinned 2j, 2j + 1: the star at 2x is at binned x - 0.25.
        assert (levels_at(picture, x - 0.25, y - 0.25) > 150).all(), f"star at ({x}, {y})"


# --- stretch=asinh: Lupton et al. (2004), colour-preserving -------------------------------


def test_asinh_colour_is_rgb_and_aligned():
    thumbnail, picture = render(colour_set(), stretch="asinh")

    assert picture.mode == "RGB"
    assert thumbnail.alignment == "wcs"
    for x, y, _peak in FIELD:
        assert (levels_at(picture, x, y) > 60).all(), f"star at ({x}, {y})"


def test_asinh_keeps_a_bright_stars_colour_instead_of_saturating_it_to_white():
    # A bright star whose flux halves from R to V to B: an independent stretch per channel
    # saturates its core to white; Lupton's asinh keeps the ratio of the channels.
    x, y = RED_ONLY
    data = [
        frame(name, shift, FIELD + [(x, y, peak)])
        for name, shift, peak in (
            ("rp", (0.0, 0.0), 40000.0),
            ("V", V_SHIFT, 20000.0),
            ("B", B_SHIFT, 10000.0),
        )
    ]

    _, lupton = render(data, stretch="asinh")
    _, zscale = render(data)

    red, green, blue = levels_at(lupton, x, y)
    assert red > green > blue
    assert green / red == pytest.approx(0.5, abs=0.12)
    assert blue / red == pytest.approx(0.25, abs=0.12)
    assert (levels_at(zscale, x, y) > 240).all()  # the contrast this test is about
