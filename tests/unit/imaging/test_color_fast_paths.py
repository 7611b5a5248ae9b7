"""The colour render's cheap steps give exactly what their plain numpy forms give.

The sky's grey is levelled from histogram medians and a Pillow lookup table, and channels
are softened along rows as one long line: each must match, pixel for pixel, the direct
computation it replaces (``int(np.median(...))`` per channel, a saturating subtraction, a
three-tap convolution line by line with the end pixels kept).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from thumbnails.imaging.color_match import MIN_SKY_PIXELS, _three_tap, shift_table, sky_shifts


def direct_shifts(rgb: np.ndarray, mask: np.ndarray) -> tuple[int, ...]:
    """Each channel's sky median (``int(np.median)``) minus the darkest one's."""
    step = max(1, int(math.sqrt(mask.size / 100_000)))
    sky = rgb[::step, ::step][mask[::step, ::step]]
    medians = [int(np.median(sky[:, channel])) for channel in range(rgb.shape[2])]
    return tuple(median - min(medians) for median in medians)


@pytest.mark.parametrize("shape", [(120, 90), (121, 91), (700, 500), (1024, 1024)], ids=str)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sky_shifts_are_the_channels_median_differences(shape, seed):
    rng = np.random.default_rng(seed)
    # Skies a few levels apart, stars on top; an odd or even count of sky pixels, so that
    # the medians of two middle values (rounded down) are exercised too.
    levels = rng.normal([30.0, 24.0, 27.0], [6.0, 9.0, 3.0], (*shape, 3))
    rgb = np.clip(levels, 0, 255).astype(np.uint8)
    mask = rng.random(shape) < 0.8
    rgb[~mask] = 255

    assert sky_shifts(rgb, mask) == direct_shifts(rgb, mask)


def test_a_sky_split_between_two_levels_takes_their_mean_rounded_down():
    # An even count of sky pixels, half at 20 and half at 23 in red: np.median says 21.5,
    # which int() makes 21.
    rgb = np.empty((100, 100, 3), dtype=np.uint8)
    rgb[..., 0] = np.where(np.arange(100) % 2 == 0, 20, 23)
    rgb[..., 1], rgb[..., 2] = 20, 10
    mask = np.ones((100, 100), dtype=bool)

    assert sky_shifts(rgb, mask) == direct_shifts(rgb, mask) == (11, 10, 0)


def test_too_few_sky_pixels_leave_the_picture_as_it_is():
    rgb = np.full((100, 100, 3), 40, dtype=np.uint8)
    mask = np.zeros((100, 100), dtype=bool)
    mask.flat[: MIN_SKY_PIXELS - 1] = True

    assert sky_shifts(rgb, mask) is None
    mask.flat[MIN_SKY_PIXELS - 1] = True
    assert sky_shifts(rgb, mask) == (0, 0, 0)


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_the_shift_table_lowers_each_colour_and_stops_at_black(mode):
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (64, 48, len(mode)), dtype=np.uint8)
    shifts = (3, 0, 17)

    shifted = np.asarray(
        Image.fromarray(pixels, mode).point(shift_table(shifts, extra_bands=len(mode) - 3))
    )

    expected = pixels.astype(int)
    expected[..., :3] = np.maximum(expected[..., :3] - np.array(shifts), 0)
    np.testing.assert_array_equal(shifted, expected)  # alpha, if any, untouched


def direct_three_tap(values: np.ndarray, tap: float, axis: int) -> np.ndarray:
    """``[tap, 1 - 2 tap, tap]`` along `axis`, line by line, ends kept (float32 arithmetic)."""
    out = values.copy()
    lines = out if axis == 0 else out.T
    source = values if axis == 0 else values.T
    for index in range(1, lines.shape[0] - 1):
        wings = (source[index - 1] + source[index + 1]) * np.float32(tap)
        lines[index] = source[index] * np.float32(1.0 - 2.0 * tap) + wings
    return out


@pytest.mark.parametrize("axis", [0, 1], ids=["along-columns", "along-rows"])
@pytest.mark.parametrize("shape", [(40, 33), (3, 3), (1, 7), (7, 1), (2, 9), (9, 2)], ids=str)
def test_three_tap_softening_is_the_line_by_line_convolution(axis, shape):
    rng = np.random.default_rng(11)
    values = rng.normal(0.0, 10.0, shape).astype(np.float32)
    values[rng.random(shape) < 0.05] = np.nan
    expected = direct_three_tap(values, 0.137, axis)

    softened = _three_tap(values.copy(), 0.137, axis)

    np.testing.assert_array_equal(softened, expected)  # NaN where expected is NaN
