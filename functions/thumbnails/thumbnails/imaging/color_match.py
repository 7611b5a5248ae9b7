"""Make the balanced channels of a colour composite look alike where they should.

After `thumbnails.imaging.color_balance`, zero flux is the sky in every channel and a star of flat
spectrum has equal fluxes. Two things still tell the channels apart:

- The sky's grey. A display curve turns the sky's *noise* into a grey (the curve is steep
  at black, and binning and resampling to the output size average it): a noisier channel's
  sky shows lighter, a channel resampled by the alignment (smoothed) darker. `sky_shifts`
  measures the few levels that, taken off each channel of the finished picture
  (`shift_table`), make the sky's median the same in all three.
- The stars' sharpness. The alignment resamples every channel but the red one bilinearly,
  which softens its stars by up to a quarter of a pixel squared in variance, depending on
  the sub-pixel offset. At thumbnail scale stars are a pixel or two wide, so the red
  channel's would be the sharpest: red cores in cyan rings, whatever the balance.
  `match_smoothing` measures each channel's softening from its sky noise (bilinear weights
  ``1 - f, f`` correlate neighbouring pixels' noise) and softens the sharper channels to
  match.

Pure numpy: no I/O, no AWS.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .color_balance import image_noise

#: Fewer sky pixels than this in the picture and its sky is not neutralised.
MIN_SKY_PIXELS = 100
#: Fewer sky pixels than this and the channels' smoothing is not measured (nor matched);
#: softening by less than this tap weight is not worth a pass over the image.
MIN_SMOOTHING_PIXELS = 2000
MIN_TAP = 0.01


def match_smoothing(
    fluxes: Sequence[np.ndarray], mask: np.ndarray | None = None
) -> list[np.ndarray]:
    """The channels softened (where needed) to the same small-scale smoothing.

    Along each axis, bilinear resampling at sub-pixel offset ``f`` convolves with
    ``[1 - f, f]``: a star's peak pixel keeps a share of its flux that falls from 1 to 1/2
    as ``f`` goes to 1/2, and the pixel noise shrinks by ``sum(k**2) = 1 - 2 f (1 - f)``
    while neighbouring pixels' noise correlates by ``rho = f (1 - f) / sum(k**2)``. Each
    channel's kernel is measured from its sky's ``rho``; every channel then gets a
    three-tap kernel ``[a, 1 - 2a, a]`` that brings its ``sum(k**2)`` (how much it spreads a
    point) down to the softest channel's.

    Parameters
    ----------
    fluxes : sequence of ndarray
        Aligned, sky-subtracted channels (NaN where uncovered).
    mask : ndarray, optional
        Their `sky_mask`, if already known.

    Returns
    -------
    list of ndarray
        The same arrays, softened in place where needed.
    """
    if mask is None:
        mask = sky_mask(fluxes)
    if int(np.count_nonzero(mask)) < MIN_SMOOTHING_PIXELS:
        return list(fluxes)
    # The sky pairs are the same for every channel: found once per axis.
    pairs = [_sky_pairs(mask, axis) for axis in (0, 1)]
    kernels = [
        [_bilinear_kernel(values, pairs[axis], axis) for axis in (0, 1)] for values in fluxes
    ]
    target = [min(float(np.sum(own[axis] ** 2)) for own in kernels) for axis in (0, 1)]
    matched = []
    for values, own in zip(fluxes, kernels, strict=True):
        out = values
        for axis in (0, 1):
            tap = _matching_tap(own[axis], target[axis])
            if tap > MIN_TAP:
                out = _three_tap(out, tap, axis)
        matched.append(out)
    return matched


def _sky_pairs(mask: np.ndarray, axis: int) -> np.ndarray:
    """Which neighbouring pairs of `_lines` along `axis` are both sky."""
    sky = _lines(mask, axis)
    return sky[:-1] & sky[1:]


def _bilinear_kernel(values: np.ndarray, pairs: np.ndarray, axis: int) -> np.ndarray:
    """The ``[1 - f, f]`` that correlates the sky noise of `values` as much along `axis`.

    `pairs` is `_sky_pairs` of the sky mask along `axis`.
    """
    # Neighbouring pairs along the axis, in ~64 lines spread over the image: plenty. The
    # lines are copied out first (a small array, lines contiguous): picking every step-th
    # line of the image in place reads all of it, once per use.
    lines = _lines(values, axis)
    a, b = lines[:-1][pairs].astype(np.float64), lines[1:][pairs].astype(np.float64)
    power = 0.5 * (np.mean(a * a) + np.mean(b * b))
    rho = min(max(float(np.mean(a * b)) / power, 0.0), 0.5) if power > 0.0 else 0.0
    # rho = u / (1 - 2u) with u = f (1 - f)
    u = min(rho / (1.0 + 2.0 * rho), 0.25)
    f = 0.5 * (1.0 - math.sqrt(max(0.0, 1.0 - 4.0 * u)))
    return np.array([1.0 - f, f])


def _lines(values: np.ndarray, axis: int) -> np.ndarray:
    """About 64 lines of `values` across `axis` (every step-th), as the columns of a
    contiguous array whose rows run along `axis`."""
    if axis == 0:
        step = max(1, values.shape[1] // 64)
        return np.ascontiguousarray(values[:, ::step])
    step = max(1, values.shape[0] // 64)
    return np.ascontiguousarray(values[::step].T)


def _matching_tap(own: np.ndarray, target: float) -> float:
    """The ``a`` of ``[a, 1 - 2a, a]`` that brings ``sum(k**2)`` of ``own * it`` to `target`."""
    p, q = float(own[0]), float(own[1])

    def spread(tap: float) -> float:
        # sum(k**2) of [p, q] convolved with [tap, 1 - 2 tap, tap], in plain floats: the
        # terms and sums of np.convolve and np.sum, in their order (so the same bits), at a
        # hundredth of the cost of the two calls.
        middle = 1.0 - 2.0 * tap
        terms = (p * tap, q * tap + p * middle, q * middle + p * tap, q * tap)
        total = 0.0
        for term in terms:
            total += term * term
        return total

    if spread(0.0) <= target + 1e-6:
        return 0.0
    low, high = 0.0, 1.0 / 3.0  # sum(k**2) falls as the tap grows up to 1/3 (flat kernel)
    for _ in range(30):
        middle = 0.5 * (low + high)
        if spread(middle) > target:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


def _three_tap(values: np.ndarray, tap: float, axis: int) -> np.ndarray:
    """`values` convolved in place with ``[tap, 1 - 2 tap, tap]`` along `axis` (edge rows or
    columns kept as they are)."""
    if axis == 1 and values.flags.c_contiguous and values.shape[1] > 2:
        # Along rows, the image taken as one long line: every pixel's neighbours are its
        # neighbours in memory, so the passes run over contiguous memory (three times
        # faster than row by row). The first and last columns, which this mixes with the
        # next row's, are put back afterwards.
        edges = values[:, [0, -1]].copy()
        _three_tap_lines(values.reshape(-1), tap)
        values[:, [0, -1]] = edges
        return values
    _three_tap_lines(values.T if axis == 1 else values, tap)
    return values


def _three_tap_lines(lines: np.ndarray, tap: float) -> None:
    """``[tap, 1 - 2 tap, tap]`` along the first axis of `lines`, in place, ends kept."""
    wings = np.add(lines[:-2], lines[2:], dtype=np.float32)
    wings *= np.float32(tap)
    inner = lines[1:-1]
    inner *= np.float32(1.0 - 2.0 * tap)
    inner += wings


def sky_mask(fluxes: Sequence[np.ndarray]) -> np.ndarray:
    """Where every channel shows sky: finite and within 3 sigma of zero flux (no star).

    Parameters
    ----------
    fluxes : sequence of ndarray
        Balanced, sky-subtracted channels of one shape.
    """
    mask = np.ones(fluxes[0].shape, dtype=bool)
    scratch = np.empty(fluxes[0].shape, dtype=np.float32)
    with np.errstate(invalid="ignore"):  # NaN compares False: not sky
        for values in fluxes:
            np.abs(values, out=scratch)
            mask &= scratch <= np.float32(3.0 * image_noise(values))
    return mask


def sky_shifts(rgb: np.ndarray, mask: np.ndarray) -> tuple[int, ...] | None:
    """The levels to take off each channel so that the skies' medians meet the darkest one's.

    The display curve turns each channel's sky noise into a grey, and binning, alignment
    (which smooths the resampled channels) and resampling to the output size each change
    it differently per channel; the shift is measured on the picture as it will be shown
    and applied by `shift_table`.

    Parameters
    ----------
    rgb : ndarray
        ``(rows, cols, channels)`` uint8 levels.
    mask : ndarray
        ``(rows, cols)`` bool: the sky pixels.

    Returns
    -------
    tuple of int or None
        One shift per channel (0 for the darkest); None when fewer than `MIN_SKY_PIXELS`
        sky pixels are left (the picture is then left as it is).
    """
    # ~100k pixels spread over the picture give the medians to well under a level.
    step = max(1, int(math.sqrt(mask.size / 100_000)))
    sky = mask[::step, ::step]
    if int(np.count_nonzero(sky)) < MIN_SKY_PIXELS:
        return None
    levels = rgb[::step, ::step]
    medians = [_median_level(levels[..., channel][sky]) for channel in range(rgb.shape[2])]
    target = min(medians)
    return tuple(median - target for median in medians)


def _median_level(levels: np.ndarray) -> int:
    """``int(np.median(levels))`` of uint8 levels, from their histogram instead of a sort:
    the mean of the two middle values (one, for an odd count), rounded down."""
    below_or_at = np.cumsum(np.bincount(levels, minlength=256))
    low = int(np.searchsorted(below_or_at, (levels.size - 1) // 2, side="right"))
    high = int(np.searchsorted(below_or_at, levels.size // 2, side="right"))
    return (low + high) // 2


def shift_table(shifts: Sequence[int], extra_bands: int = 0) -> list[int]:
    """The lookup table (Pillow's ``Image.point``) that lowers each channel by its shift.

    Levels below a channel's shift become 0; `extra_bands` more bands (an alpha channel)
    are kept as they are.
    """
    table: list[int] = []
    for shift in shifts:
        table.extend(max(level - shift, 0) for level in range(256))
    for _ in range(extra_bands):
        table.extend(range(256))
    return table
