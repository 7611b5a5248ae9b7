"""Narrowband composites: every line shows, however faint against the others (issue 30)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.support.fits_factory import reduced_frame_bytes, star_field
from thumbnails.imaging import render_thumbnail
from thumbnails.params import ThumbnailParams

SHAPE = (128, 128)
#: How far (display levels of 255) each channel's median over the nebula must rise above its
#: median over the sky.
MARGIN = 100
#: Surface brightness of each line (counts above a sky of 100 with noise 5): H-Alpha 120 times
#: OIII's, 600 times SII's, whose nebula is 5 sky sigmas.
LINES = {"SII": 25.0, "H-Alpha": 3000.0, "OIII": 120.0}


def _nebula() -> np.ndarray:
    """A smooth shell-like nebula, 1 at its brightest, filling a third of the frame."""
    yy, xx = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]]
    r = np.hypot(xx - 64.0, yy - 60.0)
    return np.exp(-0.5 * (r / 22.0) ** 4)


def _frame(name: str, seed: int) -> bytes:
    stars = star_field(SHAPE, seed=seed, stars=12, catalog_seed=3, sky=100.0)
    data = stars + np.float32(LINES[name]) * _nebula().astype(np.float32)
    return reduced_frame_bytes(data=data.astype(np.float32), filter=name)


@pytest.mark.parametrize("stretch", ["zscale", "asinh", "sqrt", "log"])
def test_every_line_of_a_narrowband_nebula_shows_in_its_channel(stretch):
    frames = [_frame(name, seed) for seed, name in enumerate(("SII", "H-Alpha", "OIII"))]
    params = ThumbnailParams(
        width=128, height=128, color=True, format="png", orientation="detector", stretch=stretch
    )
    thumbnail = render_thumbnail(frames, params)
    assert thumbnail.color_balance == "per-channel"
    image = np.asarray(Image.open(io.BytesIO(thumbnail.data)).convert("RGB")).astype(float)
    model = _nebula()[::-1]  # detector orientation: FITS row 1 at the bottom
    nebula, sky = model > 0.6, model < 0.01
    for channel, name in enumerate(("SII", "H-Alpha", "OIII")):
        rise = np.median(image[..., channel][nebula]) - np.median(image[..., channel][sky])
        assert rise >= MARGIN, (name, stretch, rise)


def test_a_broadband_set_keeps_its_flux_balance():
    frames = [
        reduced_frame_bytes(SHAPE, filter=name, seed=seed, stars=25, catalog_seed=3)
        for seed, name in enumerate(("rp", "V", "B"))
    ]
    thumbnail = render_thumbnail(frames, ThumbnailParams(color=True, format="png"))
    assert thumbnail.color_balance in ("stars", "zeropoint", "none")
    assert thumbnail.color_balance != "per-channel"
