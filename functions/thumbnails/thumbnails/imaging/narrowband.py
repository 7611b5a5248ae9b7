"""Narrowband colour: each line's channel on its own display range.

Emission lines have no neutral stars to balance on, and no common flux scale that makes a
picture: an H-Alpha region can be a hundred times brighter than its OIII or SII, so on one
flux scale two channels would stay black. As narrowband imagers do, each channel's sky is
removed and each is stretched to its own range: black just above its sky, white at its own
`WHITE_PERCENTILE` (the user's ``percentile`` for a ``linear`` stretch or ``median``), so the
composite shows where each line is, not how bright it is against the others.

The zscale range (the broadband white point) is no use here: fits2image's zscale fits a line
to the whole sorted sample, so a field's bright stars, which every narrowband frame has,
set it, far above a faint line's nebula.

The result is a `PerChannelBalance`, a `ColorBalance` of method ``per-channel``, so the
channels then go through the same steps as a broadband set's (the matched smoothing, the
stretch, the neutral sky and the combine into RGB); only ``asinh`` is applied per channel
rather than as Lupton's colour-preserving curve, which would keep the lines' flux ratios and
so hide the faint ones again.

Pure numpy: no I/O, no AWS.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .color_balance import ColorBalance, sky_background

logger = logging.getLogger(__name__)

PER_CHANNEL = "per-channel"
#: Each line's white point, as a percentile of its frame's pixels: its nebula's bright parts,
#: with the 5 % of pixels above them (stars, mostly) saturating.
WHITE_PERCENTILE = 95.0
#: A line's range is at least this many sky sigmas, so that a frame with no emission (the
#: line absent from the field) shows its sky dark rather than its noise stretched to white.
MIN_RANGE_SIGMAS = 10.0


@dataclass(frozen=True)
class PerChannelBalance(ColorBalance):
    """A `ColorBalance` that also says where white is.

    Attributes
    ----------
    white : float
        The white point in balanced flux (every channel's range, scaled to the red one's).
    """

    white: float = 1.0


def per_channel_balance(
    samples: Sequence[np.ndarray], percentile: float = WHITE_PERCENTILE
) -> PerChannelBalance:
    """Each channel's sky, and the scale that makes its range the first (red) channel's.

    Parameters
    ----------
    samples : sequence of ndarray
        Each frame's sorted finite pixel sample (full resolution), red first.
    percentile : float
        Where each channel's white is, as a percentile of its sample.

    Returns
    -------
    PerChannelBalance
        Method ``per-channel``; ``scales[i]`` is the red channel's range over channel i's,
        ``white`` the red channel's range.
    """
    skies, spans = [], []
    for values in samples:
        level, sigma = sky_background(values)
        top = float(np.percentile(values, percentile)) if values.size else level
        skies.append(level)
        spans.append(max(top - level, MIN_RANGE_SIGMAS * sigma))
    white = spans[0] if spans and spans[0] > 0.0 else 1.0
    scales = tuple(white / span if span > 0.0 else 1.0 for span in spans)
    logger.info(
        "colour balance: %s, channel scales %s (narrowband: each line on its own range)",
        PER_CHANNEL,
        ", ".join(f"{scale:.4g}" for scale in scales),
    )
    return PerChannelBalance(
        PER_CHANNEL, tuple(skies), scales, "narrowband: each on its own range", white=white
    )
