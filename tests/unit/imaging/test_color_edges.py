"""Where the aligned channels do not overlap, a colour composite is black, not a false colour.

Three frames of one field, the visual one taken 12 pixels further east: once it is resampled
onto the red frame's grid, a 12-pixel band of the composite has no visual data. That band must
be black in every channel; the rest of the field shows sky noise and stars.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.support.fits_factory import reduced_frame_bytes
from thumbnails.imaging.render import render_thumbnail
from thumbnails.params import ThumbnailParams

SIZE = 96
SHIFT = 12  # pixels, the visual frame against the red and blue ones


def _frames() -> list[bytes]:
    shifts = {"rp": (0.0, 0.0), "V": (float(SHIFT), 0.0), "B": (0.0, 0.0)}
    return [
        reduced_frame_bytes((SIZE, SIZE), filter=band, shift=shifts[band], seed=index, stars=20)
        for index, band in enumerate(("rp", "V", "B"))
    ]


def _edge_bands(black: np.ndarray) -> dict[str, int]:
    """How many whole rows/columns are black, counted in from each edge."""

    def run(lines) -> int:
        count = 0
        for line in lines:
            if not line.all():
                break
            count += 1
        return count

    return {
        "left": run(black.T),
        "right": run(black.T[::-1]),
        "top": run(black),
        "bottom": run(black[::-1]),
    }


@pytest.mark.parametrize("stretch", ["zscale", "linear", "asinh"])
def test_the_band_one_channel_does_not_cover_is_black(stretch):
    params = ThumbnailParams(width=SIZE, height=SIZE, color=True, format="png", stretch=stretch)
    thumbnail = render_thumbnail(_frames(), params)
    assert thumbnail.alignment == "wcs"
    rgb = np.asarray(Image.open(io.BytesIO(thumbnail.data))).astype(int)
    black = (rgb == 0).all(axis=2)

    bands = _edge_bands(black)
    # One edge carries the uncovered band (which edge depends on the orientation), SHIFT wide
    # within a pixel of resampling; the others have none.
    wide = {edge: n for edge, n in bands.items() if n > 0}
    assert len(wide) == 1, bands
    [(edge, width)] = wide.items()
    assert SHIFT - 1 <= width <= SHIFT + 1, bands
    # ... and the covered field is not black: the band's blackness is the test's point.
    covered = np.ones_like(black)
    if edge in ("left", "right"):
        covered[:, :width] = covered[:, -width:] = False
    else:
        covered[:width] = covered[-width:] = False
    assert black[covered].mean() < 0.9
