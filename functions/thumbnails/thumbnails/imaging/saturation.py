"""Saturated stars white in colour composites.

A star that saturates in some channels stops growing there while the others keep rising: its
core takes the colour of the unsaturated channels (a blue core on a star saturated in red and
visual, most visible with Lupton's asinh, which keeps the colours of bright stars). Nothing
about that colour is true, so the core is drawn white, the colour of "more light than the
detector measures", as photographic and processed colour images show bright stars.

How, and why so:

1. Each channel's **saturation level** is its header's (`saturation_level`): the lower of
   ``SATURATE`` and ``MAXLIN`` (above the latter the response is no longer linear, so the
   channel ratios are wrong already), else the plateau its brightest pixels form when they
   all stopped at one value (a star clipped by the detector or the data type). A lone
   brightest pixel is a bright star, not a saturated one: no level then.
2. A channel's **saturated pixels** are found on its own grid, before alignment resamples it
   (`saturated_pixels`): resampling blends a core's edge with its neighbours, after which no
   pixel would be "at the level" any more. They are carried through alignment as a mask
   (`align.align_with_masks`), and the union over the channels is the core.
3. The core is **blended toward white** in the combined RGB levels (`whiten`), grown by
   `GROW` binned pixels and with a soft edge `SOFT_EDGE` pixels wide. Growing covers where
   the unsaturated channel's excess spreads beyond the core: the binned pixels only partly
   saturated (a block average of clipped and unclipped pixels, still tinted), then one pixel
   more each for the alignment's bilinear resampling and `color_match.match_smoothing`'s
   three-tap kernel (with one pixel, a blue ring was left at the edge of binned cores); the
   soft edge keeps the white core from ending in a hard step, which LANCZOS would draw with a
   dark, coloured ring around it. Setting the saturated values to a common maximum before
   the stretch was the alternative; it does not give white (the stretch then still draws each
   channel by its own curve, and Lupton's colour of a core of equal large fluxes is white only
   where all three are set), and it leaves the tinted partly saturated pixels at the edge.

This runs where the three channels become RGB levels (`render`), for every balance method,
so any other colour mode that goes through that step gets it too. Pure numpy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

#: Header keywords of the saturation level (the lowest present counts).
LEVEL_KEYWORDS = ("SATURATE", "MAXLIN")
#: A pixel is at the level when within this fraction of it (the block means of equal
#: values differ from them by float32 rounding only).
LEVEL_TOLERANCE = 1e-5
#: Without a header level: the brightest value is a plateau (saturation) when at least this
#: many pixels share it, and not more than `PLATEAU_MAX_FRACTION` of the image (beyond that
#: it is a flat image or a filled region, not stars).
PLATEAU_MIN_PIXELS = 3
PLATEAU_MAX_FRACTION = 0.01
#: The core is grown by this many binned pixels at full white, then fades to the colour
#: over `SOFT_EDGE` more (linearly in the distance from the nearest core pixel); see the
#: module docstring for why two.
GROW = 2.0
SOFT_EDGE = 1.5

__all__ = ["saturated_pixels", "saturation_level", "whiten"]


def saturation_level(header: Mapping[str, object] | None, image: np.ndarray) -> float | None:
    """The value at and above which a channel's pixels are saturated, or None.

    Parameters
    ----------
    header : mapping or None
        The frame's header (``SCI`` over primary).
    image : ndarray
        The channel's binned image, not clipped (NaN where there is no data); used only
        when the header gives no level.

    Returns
    -------
    float or None
        The lowest positive ``SATURATE``/``MAXLIN``; else the brightest value when at least
        `PLATEAU_MIN_PIXELS` (and at most `PLATEAU_MAX_FRACTION`) pixels share it; else None.
    """
    levels = [_positive(header.get(key)) for key in LEVEL_KEYWORDS] if header is not None else []
    known = [level for level in levels if level is not None]
    if known:
        return min(known)
    finite = image[np.isfinite(image)]
    if finite.size == 0:
        return None
    top = float(finite.max())
    count = int(np.count_nonzero(finite >= top - LEVEL_TOLERANCE * abs(top)))
    if PLATEAU_MIN_PIXELS <= count <= PLATEAU_MAX_FRACTION * finite.size:
        return top
    return None


def _positive(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        return None
    number = float(value)
    return number if math.isfinite(number) and number > 0.0 else None


def saturated_pixels(image: np.ndarray, level: float | None) -> np.ndarray | None:
    """The pixels of `image` at or above `level` (a bool mask), or None when there are none.

    Parameters
    ----------
    image : ndarray
        The channel's binned image on its own grid, not clipped.
    level : float or None
        From `saturation_level`; None: nothing is saturated.
    """
    if level is None:
        return None
    with np.errstate(invalid="ignore"):  # NaN (no data) is never saturated
        mask = image >= level - LEVEL_TOLERANCE * abs(level)
    return mask if mask.any() else None


def whiten(levels: np.ndarray, core: np.ndarray | None) -> np.ndarray:
    """Blend the RGB `levels` toward white over the saturated `core`, grown, with a soft edge.

    Parameters
    ----------
    levels : ndarray
        ``(rows, cols, 3)`` uint8 levels of the combined channels; changed in place.
    core : ndarray or None
        ``(rows, cols)`` bool: pixels saturated in any channel (on the levels' grid).

    Returns
    -------
    ndarray
        `levels`. Pixels within `GROW` of the core are white, those up to `SOFT_EDGE`
        further are moved toward white by ``1 - (distance - GROW) / SOFT_EDGE``.
    """
    if core is None:
        return levels
    where, weight = _weights(core)
    if where.size == 0:
        return levels
    # By row and column (not a flat view): `levels` need not be contiguous.
    ys, xs = np.divmod(where, core.shape[1])
    pixels = levels[ys, xs].astype(np.float32)
    pixels += weight[:, None] * (np.float32(255.0) - pixels)
    levels[ys, xs] = np.rint(pixels).astype(np.uint8)
    return levels


def _weights(core: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pixels (flat indices) near the core and their white weight: 1 within `GROW` of a
    core pixel, fading over `SOFT_EDGE`. Sparse: only the neighbourhoods of core pixels are
    touched (a few hundred pixels per saturated star), never a pass over the whole image."""
    rows, cols = core.shape
    radius = math.ceil(GROW + SOFT_EDGE)
    ys, xs = np.divmod(np.flatnonzero(core), cols)
    indices, strengths = [], []
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            strength = min(1.0, (GROW + SOFT_EDGE - math.hypot(dy, dx)) / SOFT_EDGE)
            if strength <= 0.0:
                continue
            ty, tx = ys + dy, xs + dx
            inside = (ty >= 0) & (ty < rows) & (tx >= 0) & (tx < cols)
            indices.append(ty[inside] * cols + tx[inside])
            strengths.append(np.full(int(inside.sum()), strength, dtype=np.float32))
    if not indices:
        return np.empty(0, np.intp), np.empty(0, np.float32)
    flat, strength = np.concatenate(indices), np.concatenate(strengths)
    # Each pixel's largest weight: sorted by pixel, then by weight, the last of each run.
    order = np.lexsort((strength, flat))
    flat, strength = flat[order], strength[order]
    last = np.ones(flat.size, dtype=bool)
    last[:-1] = flat[1:] != flat[:-1]
    return flat[last], strength[last]
