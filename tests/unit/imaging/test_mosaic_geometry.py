"""Mosaic geometry beyond the full-frame 2x2 case: windowed readouts whose DETSEC does not
start at the detector origin, and unequal binning in x and y (``CCDSUM '1 2'``).

Each case runs on both paths that place amplifiers: an uncompressed frame is decoded whole
(`mosaic._layout`), a tile-compressed one is streamed (`streaming.StreamedLayout`, placed by
`mosaic.corner_shifted`). Each path's placement is checked against the scene.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.fits_factory import raw_amplifier_frame_bytes, section
from thumbnails.imaging.render import load_frame
from thumbnails.imaging.streaming import StreamedLayout

ROWS, COLS = 16, 20


def _ramps() -> list[np.ndarray]:
    """Two amplifiers whose every pixel says where it was read: 1000 * amp + 10 * row + col."""
    rows, cols = np.mgrid[0:ROWS, 0:COLS]
    return [1000.0 * (k + 1) + 10.0 * rows + cols for k in range(2)]


# None: an uncompressed frame, decoded whole. RICE_1: tile-compressed, streamed band by band.
PATHS = pytest.mark.parametrize("compression", [None, "RICE_1"], ids=["decoded", "streamed"])


def _mosaic(detsecs: list[str], compression: str | None) -> np.ndarray:
    """The bias-subtracted mosaic the renderer sees, at full resolution (bin factor 1)."""
    raw = raw_amplifier_frame_bytes(
        _ramps(), data_shape=(ROWS, COLS), detsecs=detsecs, compression=compression
    )
    frame = load_frame(raw)
    # Rice on integers is lossless, so both paths must give the same pixels.
    assert isinstance(frame.layout, StreamedLayout) == (compression is not None)
    image, factor = frame.binned(1)
    assert factor == 1
    assert image.shape == frame.shape
    return image


@PATHS
def test_a_windowed_readout_is_placed_relative_to_its_own_corner(compression):
    # A 2-amplifier subframe read from the middle of a 4096-wide detector: columns 2001-2040,
    # rows 1001-1016. The mosaic starts at the window's corner, without empty detector around.
    detsecs = [
        section(2001, 2000 + COLS, 1001, 1000 + ROWS),
        section(2000 + 2 * COLS, 2001 + COLS, 1001, 1000 + ROWS),  # read from the right
    ]
    image = _mosaic(detsecs, compression)
    assert image.shape == (ROWS, 2 * COLS)
    first, second = _ramps()
    np.testing.assert_allclose(image[:, :COLS], first)  # the overscan level removed
    np.testing.assert_allclose(image[:, COLS:], second[:, ::-1])  # flipped in x


@PATHS
def test_a_window_offset_within_the_mosaic_keeps_the_gap_between_amplifiers(compression):
    # Amplifier 2 starts 4 columns after amplifier 1 ends: the gap stays as no-data (NaN).
    detsecs = [
        section(101, 100 + COLS, 51, 50 + ROWS),
        section(105 + COLS, 104 + 2 * COLS, 51, 50 + ROWS),
    ]
    image = _mosaic(detsecs, compression)
    assert image.shape == (ROWS, 2 * COLS + 4)
    assert np.isnan(image[:, COLS : COLS + 4]).all()
    assert np.isfinite(image[:, :COLS]).all() and np.isfinite(image[:, COLS + 4 :]).all()


@PATHS
@pytest.mark.parametrize("xbin, ybin", [(1, 2), (2, 1), (2, 2)])
def test_unequal_binning_places_amplifiers_in_binned_pixels(compression, xbin, ybin):
    # DATASEC counts binned readout pixels, DETSEC unbinned detector pixels: the ratio of
    # their sizes is the binning on each axis, which may differ (CCDSUM '1 2').
    width, height = COLS * xbin, ROWS * ybin  # one amplifier's detector footprint
    detsecs = [
        section(1, width, 1, height),
        section(2 * width, width + 1, 1, height),
    ]
    image = _mosaic(detsecs, compression)
    assert image.shape == (ROWS, 2 * COLS)  # binned pixels, no gap, no overlap
    first, second = _ramps()
    np.testing.assert_allclose(image[:, :COLS], first)
    np.testing.assert_allclose(image[:, COLS:], second[:, ::-1])


@PATHS
def test_unequal_binning_stacks_amplifiers_vertically_at_their_binned_rows(compression):
    # CCDSUM '1 2': amplifier 2 sits above amplifier 1, at detector row 2*ROWS+1, which is
    # binned row ROWS.
    detsecs = [
        section(1, COLS, 1, 2 * ROWS),
        section(1, COLS, 4 * ROWS, 2 * ROWS + 1),  # read from the top
    ]
    image = _mosaic(detsecs, compression)
    assert image.shape == (2 * ROWS, COLS)
    first, second = _ramps()
    np.testing.assert_allclose(image[:ROWS], first)
    np.testing.assert_allclose(image[ROWS:], second[::-1])  # flipped in y
