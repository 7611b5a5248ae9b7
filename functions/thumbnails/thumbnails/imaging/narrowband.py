"""Narrowband colour: each line's channel on its own display range.

Emission lines have no neutral stars to balance on, and no common flux scale that makes a
picture: an H-Alpha region can be a hundred times brighter than its OIII or SII, so on one
flux scale two channels would stay black. As narrowband imagers do, each channel's sky is
removed and each is scaled to its own range (its zscale range above the sky, the range the
default stretch shows): the composite shows where each line is, not how bright it is
against the others. The result is a `ColorBalance` of method ``per-channel``, so the
channels then go through the same steps as a broadband set's (the shared stretch, the
matched smoothing, the neutral sky and the combine into RGB).

Pure numpy: no I/O, no AWS.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from .color_balance import ColorBalance, sky_background
from .scaling import zscale_limits

logger = logging.getLogger(__name__)

PER_CHANNEL = "per-channel"


def per_channel_balance(samples: Sequence[np.ndarray]) -> ColorBalance:
    """Each channel's sky, and the scale that makes its display range the first channel's.

    Parameters
    ----------
    samples : sequence of ndarray
        Each frame's sorted finite pixel sample (full resolution), red first.

    Returns
    -------
    ColorBalance
        Method ``per-channel``; ``scales[i]`` is the red channel's range over channel i's
        (1 where a channel has no range: a flat frame).
    """
    skies, spans = [], []
    for values in samples:
        level, _sigma = sky_background(values)
        _median, top = zscale_limits(values)
        skies.append(level)
        spans.append(top - level)
    reference = spans[0] if spans and spans[0] > 0.0 else 1.0
    scales = tuple(reference / span if span > 0.0 else 1.0 for span in spans)
    logger.info(
        "colour balance: %s, channel scales %s (narrowband: each line on its own range)",
        PER_CHANNEL,
        ", ".join(f"{scale:.4g}" for scale in scales),
    )
    return ColorBalance(PER_CHANNEL, tuple(skies), scales, "narrowband: each on its own range")
