"""From pixel values to display levels: intervals (limits) and stretches.

Each stretch is an interval that picks ``(vmin, vmax)`` from the frame's sample, composed with
a curve mapping ``[0, 1]`` to ``[0, 1]`` (astropy.visualization stretches).

``zscale`` reproduces fits2image 1.1.0 ``fits_to_jpg``, the old service's renderer: black at
the median of 2000 samples, white at the upper end of a zscale-style line fit through the
sorted samples (contrast 0.1, one iteration), then its 256-entry gamma 2.5 lookup table.
``median=True`` is its ``recalculate_median``: the median of the scaled image becomes black
and the `percentile`-th value white.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

GAMMA = 2.5
#: Entries of the display table of one channel (see `transfer_table`).
TABLE_POINTS = 4096
#: Pixels `zscale_levels` maps at a time (its float64 scratch: 512 KiB).
LEVEL_BAND = 65536
CONTRAST = 0.1


def _gamma_table(gamma: float = GAMMA) -> np.ndarray:
    # fits2image's table, entry for entry: int(256 * (i / 256) ** (1 / gamma)).
    size = 256
    return np.array([int(size * math.pow(i / size, 1.0 / gamma)) for i in range(size)], np.uint8)


GAMMA_TABLE = _gamma_table()

#: How far below the black point (in sky noise) binning clips dead columns.
CLIP_SIGMAS = 3.0
#: White points of the non-linear stretches, in zscale ranges above the sky: log lifts faint
#: levels most, so its white point is the highest (chosen by looking at LCO-like frames).
UPPER_SPANS = {"log": 8.0, "sqrt": 1.5, "asinh": 2.0}


@cache
def stretch_curve(stretch: str):
    """The astropy.visualization curve of a stretch other than zscale.

    Imported on first use: astropy.visualization costs ~0.1 s to import, which the default
    (zscale) render in a cold Lambda container does not need to pay.
    """
    from astropy.visualization import AsinhStretch, LinearStretch, LogStretch, SqrtStretch

    curves = {
        "linear": LinearStretch,
        "log": lambda: LogStretch(a=1000.0),
        "sqrt": SqrtStretch,
        "asinh": lambda: AsinhStretch(a=0.02),
    }
    return curves[stretch]()


def finite_sorted(samples: np.ndarray) -> np.ndarray:
    """The finite values of `samples`, sorted (NaN/Inf never count in statistics)."""
    values = samples[np.isfinite(samples)]
    values.sort()
    return values


def sample_median(values: np.ndarray) -> np.floating:
    """``np.median(values)`` of a float array, the same value and type, in a half to a third
    of the time on the few thousand samples the statistics use (np.median's own overhead is
    most of its cost there; a colour render takes ~45 of them).

    Both select the middle value(s) with ``np.partition`` and average the two middle values
    of an even count in the array's own precision; NaN anywhere gives NaN.
    """
    flat = np.ravel(values)
    if flat.dtype.kind != "f" or flat.size == 0:
        return np.median(flat)
    half = flat.size // 2
    odd = flat.size % 2 == 1
    part = np.partition(flat, [half, -1] if odd else [half - 1, half, -1])
    if np.isnan(part[-1]):
        return part[-1]
    if odd:
        return part[half]
    return (part[half - 1] + part[half]) / 2


def zscale_limits(samples: np.ndarray, contrast: float = CONTRAST) -> tuple[float, float]:
    """fits2image's ``auto_scale_data`` limits: ``(median, zmax)`` of sorted finite samples.

    The line is fitted by least squares to the sorted samples against their index; its
    value at index 0 plus ``slope / contrast * n / 2`` (capped at the largest sample) is the
    white point. This is fits2image's arithmetic, quirks included, so thumbnails match.
    """
    n = samples.size
    if n == 0:
        return 0.0, 1.0
    middle = float(sample_median(samples))
    if n < 2:
        return middle, middle
    x = np.arange(n, dtype=np.float64)
    slope, intercept = np.polyfit(x, samples.astype(np.float64), 1)
    zmax = min(float(samples[-1]), float(intercept + slope / contrast * n / 2.0))
    return middle, zmax


def limits(stretch: str, samples: np.ndarray, percentile: float) -> tuple[float, float]:
    """``(vmin, vmax)`` for `stretch`; black is always the sky (the median of the samples).

    Parameters
    ----------
    samples : ndarray
        Sorted finite samples of the full-resolution frame.
    percentile : float
        The white point of ``linear``, as a percentile of the samples.
    """
    median, zmax = zscale_limits(samples)
    if stretch == "zscale" or samples.size == 0:
        return median, zmax
    if stretch == "linear":
        return median, float(np.percentile(samples, percentile))
    # log, sqrt and asinh lift faint levels, so their white point lies further out, in
    # units of the zscale range (which follows the sky noise, field after field).
    return median, median + UPPER_SPANS[stretch] * (zmax - median)


def clip_limits(stretch: str, samples: np.ndarray, percentile: float) -> tuple[float, float] | None:
    """What binning clips block columns to: the display range, with room below for noise.

    The white point is the stretch's own (nothing above it shows anyway); the black point is
    `CLIP_SIGMAS` sky noise below the stretch's, so that clipping never biases the sky (its
    mean level, noise included, is what the display table draws) yet a dead column only
    darkens its block a little, as when the old renderer clipped each pixel at black.
    """
    vmin, vmax = limits(stretch, samples, percentile)
    if not vmax > vmin:
        return None
    return vmin - CLIP_SIGMAS * robust_sigma(samples), vmax


def normalise(values: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """``(values - vmin) / (vmax - vmin)`` clipped to [0, 1] in a new float array.

    NaN/Inf become 0 (drawn black). A zero or inverted range is widened as fits2image did
    (``vmin - 1, vmax + 1``), so a constant image renders without a division by zero.
    """
    if not vmax > vmin:
        vmin, vmax = vmin - 1.0, vmax + 1.0
    bad = ~np.isfinite(values)
    out = np.subtract(values, vmin, dtype=np.float64)
    out[bad] = 0.0
    out *= 1.0 / (vmax - vmin)
    np.clip(out, 0.0, 1.0, out=out)
    return out


def median_sigma(values: np.ndarray) -> tuple[float, float]:
    """The median of `values` and their robust noise, 1.4826 x the median absolute deviation
    (NaN anywhere gives NaN: pass finite values)."""
    middle = float(sample_median(values))
    return middle, float(1.4826 * sample_median(np.abs(values - middle)))


def robust_sigma(samples: np.ndarray) -> float:
    """The sky noise: 1.4826 x the median absolute deviation of the samples."""
    if samples.size == 0:
        return 0.0
    return float(1.4826 * sample_median(np.abs(samples - sample_median(samples))))


def display_curve(stretch: str, unit: np.ndarray) -> np.ndarray:
    """Display levels in [0, 1] of normalised values (``unit`` is overwritten)."""
    if stretch == "zscale":
        # fits2image rounds to 0..255 and then looks the level up in its gamma table.
        return GAMMA_TABLE[np.rint(unit * 255.0).astype(np.intp)] / 255.0
    return stretch_curve(stretch)(unit, out=unit, clip=True)


def transfer_table(
    stretch: str, vmin: float, vmax: float, sigma: float, points: int = TABLE_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """The mean display level of a binned pixel, as a table ``(values, levels)``.

    The old renderer applied its curve to every full-resolution pixel and then averaged
    them down; averaging first and applying the same curve to the mean would turn the
    steep start of the gamma curve into salt-and-pepper noise and lose the sky's grey. So the
    curve is averaged over the pixel noise the binning removed (a Gaussian of `sigma`): the
    result is what the old pipeline showed, for the cost of a 1-D table.
    """
    if not vmax > vmin:
        vmin, vmax = vmin - 1.0, vmax + 1.0
    margin = 6.0 * sigma
    values = np.linspace(vmin - margin, vmax + margin, points)
    levels = display_curve(stretch, normalise(values, vmin, vmax))
    step = values[1] - values[0]
    if sigma > step:
        half = min(int(np.ceil(4.0 * sigma / step)), points)
        offsets = np.arange(-half, half + 1) * step
        kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
        kernel /= kernel.sum()
        padded = np.concatenate([np.full(half, levels[0]), levels, np.full(half, levels[-1])])
        levels = np.convolve(padded, kernel, mode="valid")
    return values, levels


def zscale_levels(values: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """``to_uint8(display_curve("zscale", normalise(values, vmin, vmax)))``, in fewer passes.

    The same float64 arithmetic as `normalise` picks the gamma table's entry, which is the
    level itself (``entry / 255 * 255`` rounds back to the entry): identical levels, for a
    fraction of the time. The pixels are done `LEVEL_BAND` at a time, so the float64
    scratch stays in the CPU cache instead of costing a fresh 8 MB array per channel, and
    the table is read with ``np.take`` (half the time of fancy indexing).
    """
    if not vmax > vmin:
        vmin, vmax = vmin - 1.0, vmax + 1.0
    scale = 1.0 / (vmax - vmin)
    flat = np.ascontiguousarray(values).reshape(-1)
    levels = np.empty(flat.size, dtype=np.uint8)
    unit_buffer = np.empty(min(flat.size, LEVEL_BAND), dtype=np.float64)
    index_buffer = np.empty(unit_buffer.size, dtype=np.uint8)
    for start in range(0, flat.size, LEVEL_BAND):
        chunk = flat[start : start + LEVEL_BAND]
        unit, index = unit_buffer[: chunk.size], index_buffer[: chunk.size]
        np.subtract(chunk, vmin, out=unit, dtype=np.float64)
        finite = np.isfinite(chunk)
        if not finite.all():
            unit[~finite] = 0.0
        unit *= scale
        np.maximum(unit, 0.0, out=unit)
        np.minimum(unit, 1.0, out=unit)
        unit *= 255.0
        np.rint(unit, out=unit)
        np.copyto(index, unit, casting="unsafe")
        np.take(GAMMA_TABLE, index, out=levels[start : start + chunk.size])
    return levels.reshape(np.shape(values))


def to_uint8(unit: np.ndarray) -> np.ndarray:
    """[0, 1] floats to 0..255 levels (rounded); `unit` is overwritten."""
    unit *= 255.0
    np.rint(unit, out=unit)
    return unit.astype(np.uint8)


def recalculate_median(levels: np.ndarray, percentile: float) -> np.ndarray:
    """fits2image's ``recalculate_median``: median -> black, the percentile-th value -> white.

    Unlike the original, an image whose levels above the median are all zero stays black
    instead of dividing by zero. Colour levels ``(rows, cols, 3)`` share one black and one
    white point, which keeps their balance.
    """
    data = levels.astype(np.float64)
    data -= np.median(data)
    np.maximum(data, 0.0, out=data)
    top = float(np.percentile(data, percentile))
    if top <= 0.0:
        return np.zeros_like(levels)
    data *= 255.0 / top
    np.minimum(data, 255.0, out=data)
    return data.astype(np.uint8)


def scale_channel(
    binned: np.ndarray,
    samples: np.ndarray,
    *,
    stretch: str,
    percentile: float = 99.5,
    median: bool = False,
    bin_factor: int = 1,
    interval: tuple[float, float] | None = None,
    noise: float | None = None,
) -> np.ndarray:
    """Display levels (uint8, same shape) of one binned channel.

    Parameters
    ----------
    binned : ndarray
        The block-averaged image (float32; NaN where there is no data): drawn black.
    samples : ndarray
        Sorted finite samples of the full-resolution frame.
    stretch : str
        ``zscale``, ``linear``, ``log``, ``sqrt`` or ``asinh``.
    percentile, median
        As in `ThumbnailParams`.
    bin_factor : int
        The factor `binned` was averaged by: the pixel noise it removed (from the samples'
        spread) is put back into the display curve, see `transfer_table`.
    interval : (vmin, vmax), optional
        Display limits instead of the stretch's own from `samples` (colour composites share
        one interval between channels, so that equal fluxes get equal levels).
    noise : float, optional
        The full-resolution pixel noise instead of the samples' spread (colour composites
        share one, so that their skies get the same grey).
    """
    vmin, vmax = interval if interval is not None else limits(stretch, samples, percentile)
    sigma = noise if noise is not None else robust_sigma(samples)
    removed = sigma * math.sqrt(max(0.0, 1.0 - 1.0 / bin_factor**2))
    if removed > 0.0:
        values, table = transfer_table(stretch, vmin, vmax, removed)
        unit = np.interp(binned, values, table)
        unit[~np.isfinite(binned)] = 0.0
        levels = to_uint8(unit)
    elif stretch == "zscale":  # full resolution: fits2image's table, as the old renderer
        levels = zscale_levels(binned, vmin, vmax)
    else:  # full resolution: the curve itself, exactly as the old renderer applied it
        levels = to_uint8(display_curve(stretch, normalise(binned, vmin, vmax)))
    if median:
        levels = recalculate_median(levels, percentile)
    return levels
