"""Raw multi-amplifier frames render as the whole detector: trimmed, levelled, placed, flipped."""

from __future__ import annotations

import io

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from tests.support.fits_factory import (
    SINISTRO_DATA,
    SINISTRO_DETECTOR,
    cube_frame_bytes,
    hdulist_bytes,
    quadrant_detsecs,
    raw_amplifier_frame_bytes,
    section,
    sinistro_cube_bytes,
)
from thumbnails.imaging.binning import block_mean
from thumbnails.imaging.render import load_frame, render_frames
from thumbnails.params import ThumbnailParams

ROWS, COLS = 32, 40
MARKER = 5000.0


def _marked_amplifiers(levels=(100.0, 200.0, 300.0, 400.0)) -> list[np.ndarray]:
    """Flat amplifiers with a bright marker on the first pixel read out (the readout corner)."""
    amps = []
    for level in levels:
        amp = np.full((ROWS, COLS), level)
        amp[0, 0] = MARKER
        amps.append(amp)
    return amps


def _quadrants(image: np.ndarray) -> dict[str, np.ndarray]:
    """Quadrants of a detector-oriented image (row 0 = FITS row 1 = bottom)."""
    rows, cols = image.shape[0] // 2, image.shape[1] // 2
    return {
        "lower-left": image[:rows, :cols],
        "lower-right": image[:rows, cols:],
        "upper-right": image[rows:, cols:],
        "upper-left": image[rows:, :cols],
    }


@pytest.mark.parametrize("compression", [None, "RICE_1"])
def test_amplifiers_land_in_their_detsec_quadrants_with_overscan_removed(compression):
    frame = load_frame(
        raw_amplifier_frame_bytes(_marked_amplifiers(), overscan=8, compression=compression)
    )
    assert frame.shape == (2 * ROWS, 2 * COLS)  # the overscan columns are gone
    quadrants = _quadrants(frame.data)
    for name, level in zip(quadrants, (100, 200, 300, 400), strict=True):
        assert np.median(quadrants[name]) == pytest.approx(level), name


def test_reversed_detsec_flips_the_readout_so_every_readout_corner_is_a_detector_corner():
    frame = load_frame(raw_amplifier_frame_bytes(_marked_amplifiers()))
    image = frame.data
    corners = [image[0, 0], image[0, -1], image[-1, -1], image[-1, 0]]
    assert all(value == pytest.approx(MARKER) for value in corners)
    assert np.sum(image > MARKER / 2) == 4


def test_each_amplifier_overscan_level_is_subtracted_so_the_bias_steps_vanish():
    flat = [np.full((ROWS, COLS), 250.0) for _ in range(4)]
    raw = raw_amplifier_frame_bytes(flat, biases=(900.0, 1500.0, 700.0, 2000.0), read_noise=3.0)
    frame = load_frame(raw)
    medians = [np.median(q) for q in _quadrants(frame.data).values()]
    np.testing.assert_allclose(medians, 250.0, atol=2.0)


def test_rendered_mosaic_shows_all_four_amplifiers_with_fits_row_one_at_the_bottom():
    flat = [np.full((ROWS, COLS), level) for level in (0.0, 1000.0, 2000.0, 3000.0)]
    frame = load_frame(raw_amplifier_frame_bytes(flat))
    params = ThumbnailParams(width=400, height=400, stretch="linear", percentile=100.0)
    thumbnail = render_frames([frame], params)
    pixels = np.asarray(Image.open(io.BytesIO(thumbnail.data)))
    assert (thumbnail.width, thumbnail.height) == (2 * COLS, 2 * ROWS)  # never enlarged
    rows, cols = ROWS, COLS
    # Display coordinates: row 0 is the top of the picture.
    mean = {
        "lower-left": pixels[rows + 4 :, 4:cols].mean(),
        "lower-right": pixels[rows + 4 :, cols + 4 :].mean(),
        "upper-right": pixels[: rows - 4, cols + 4 :].mean(),
        "upper-left": pixels[: rows - 4, 4:cols].mean(),
    }
    order = ["lower-left", "lower-right", "upper-right", "upper-left"]
    assert [mean[name] for name in order] == sorted(mean.values())
    assert mean["lower-left"] < 20 < 235 < mean["upper-left"]


def test_binning_each_amplifier_gives_the_binned_assembled_detector():
    rng = np.random.default_rng(1)
    amps = [rng.uniform(0, 1000, (ROWS, COLS)) for _ in range(4)]
    frame = load_frame(raw_amplifier_frame_bytes(amps, dtype=np.float32))
    binned, factor = frame.binned(4)
    assert factor == 4
    np.testing.assert_allclose(binned, block_mean(frame.data, 4), rtol=1e-5)


def test_bin_factor_is_lowered_to_one_that_tiles_the_amplifiers_without_a_seam():
    frame = load_frame(raw_amplifier_frame_bytes(data_shape=(30, 40)))
    binned, factor = frame.binned(7)
    assert factor == 5  # 7 and 6 do not divide 30 and 40; 5 does
    assert np.isfinite(binned).all()


def test_amplifiers_that_no_factor_tiles_still_leave_no_gap():
    frame = load_frame(raw_amplifier_frame_bytes(data_shape=(31, 37)))
    binned, factor = frame.binned(4)
    assert factor == 4
    assert np.isfinite(binned).all()
    quadrant_levels = [np.median(q) for q in _quadrants(binned).values()]
    np.testing.assert_allclose(quadrant_levels, [100, 200, 300, 400])


def test_binned_detsec_sections_place_binned_readouts():
    # A 2x2-binned readout: DATASEC in binned pixels, DETSEC in unbinned detector pixels.
    detsecs = [section(1, 80, 1, 64), section(160, 81, 1, 64)]
    frame = load_frame(raw_amplifier_frame_bytes(_marked_amplifiers()[:2], detsecs=detsecs))
    assert frame.shape == (ROWS, 2 * COLS)
    assert frame.data[0, 0] == pytest.approx(MARKER)
    assert frame.data[0, -1] == pytest.approx(MARKER)


def test_inconsistent_amplifier_keywords_fall_back_to_the_first_readout():
    detsecs = ["[1:40,1:32]", "[nonsense]", "[1:40,33:64]", "[41:80,33:64]"]
    frame = load_frame(raw_amplifier_frame_bytes(detsecs=detsecs))
    assert frame.shape == (ROWS, COLS + 8)


def test_a_small_four_plane_cube_without_sections_takes_the_corner_layout():
    # Not a Sinistro cube (2080 columns): readout corners at the detector corners, untrimmed.
    planes = _marked_amplifiers()
    frame = load_frame(cube_frame_bytes([p.astype(np.float32) for p in planes]))
    assert frame.shape == (2 * ROWS, 2 * COLS)
    medians = [np.median(q) for q in _quadrants(frame.data).values()]
    assert medians == [100, 200, 300, 400]
    image = frame.data
    assert [image[0, 0], image[0, -1], image[-1, -1], image[-1, 0]] == [MARKER] * 4


def test_four_plane_cube_with_sections_is_trimmed_levelled_and_placed():
    overscan = 6
    planes = []
    for level, bias in zip((100.0, 200.0, 300.0, 400.0), (1000, 1200, 1400, 1600), strict=True):
        plane = np.full((ROWS, COLS + overscan), float(bias))
        plane[:, :COLS] += level
        planes.append(plane)
    header = {}
    for k, detsec in enumerate(quadrant_detsecs((ROWS, COLS)), start=1):
        header[f"DATASEC{k}"] = section(1, COLS, 1, ROWS)
        header[f"BIASSEC{k}"] = section(COLS + 1, COLS + overscan, 1, ROWS)
        header[f"DETSEC{k}"] = detsec
    frame = load_frame(cube_frame_bytes(planes, header=header))
    assert frame.shape == (2 * ROWS, 2 * COLS)
    medians = [np.median(q) for q in _quadrants(frame.data).values()]
    np.testing.assert_allclose(medians, [100, 200, 300, 400])


@pytest.mark.parametrize("planes", [2, 3, 5])
def test_other_cubes_show_their_first_plane(planes):
    frame = load_frame(cube_frame_bytes(count=planes))
    assert frame.shape == (ROWS, COLS)
    np.testing.assert_array_equal(frame.data, 100.0)


# ------------------------------------------------------------------ amplifiers without DETSEC
@pytest.mark.parametrize("missing", [None, "UNKNOWN", "N/A"], ids=["absent", "UNKNOWN", "N/A"])
def test_an_amplifier_without_detsec_is_placed_at_the_detector_origin_as_banzai_does(missing):
    # BANZAI's _init_detector_sections: DETSEC [1:x*xbin,1:y*ybin] from DATASEC and CCDSUM.
    detsecs = [missing, section(2 * COLS, COLS + 1, 1, ROWS)]
    raw = raw_amplifier_frame_bytes(_marked_amplifiers()[:2], detsecs=detsecs)
    frame = load_frame(raw)
    assert frame.shape == (ROWS, 2 * COLS)  # both amplifiers, overscan trimmed
    np.testing.assert_allclose(np.median(frame.data[:, :COLS]), 100.0)  # bias subtracted
    np.testing.assert_allclose(np.median(frame.data[:, COLS:]), 200.0)
    assert frame.data[0, 0] == pytest.approx(MARKER)  # not flipped
    assert frame.data[0, -1] == pytest.approx(MARKER)


def test_an_amplifier_without_detsec_takes_the_binning_of_the_primary_ccdsum():
    # 2x2 binned: the derived DETSEC is [1:80,1:64] unbinned, so the amplifier fills the
    # binned pixels left of the flipped one at [160:81,1:64].
    detsecs = [None, section(4 * COLS, 2 * COLS + 1, 1, 2 * ROWS)]
    raw = raw_amplifier_frame_bytes(
        _marked_amplifiers()[:2], detsecs=detsecs, ccdsum=None, primary_ccdsum="2 2"
    )
    frame = load_frame(raw)
    assert frame.shape == (ROWS, 2 * COLS)
    np.testing.assert_allclose(np.median(frame.data[:, :COLS]), 100.0)
    np.testing.assert_allclose(np.median(frame.data[:, COLS:]), 200.0)


@pytest.mark.parametrize("amplifiers", [1, 4])
def test_amplifiers_that_all_lack_detsec_show_the_first_one_trimmed_and_levelled(amplifiers):
    raw = raw_amplifier_frame_bytes(
        _marked_amplifiers()[:amplifiers], detsecs=[None] * amplifiers, read_noise=2.0
    )
    frame = load_frame(raw)
    assert frame.shape == (ROWS, COLS)
    assert np.median(frame.data) == pytest.approx(100.0, abs=2.0)


def test_a_derived_detsec_that_overlaps_another_amplifier_falls_back_to_the_first_readout():
    # Placed at the origin, amplifier 1 would land on amplifier 2 ([1:40,1:32]): neither
    # could be shown whole, so the frame falls back as for inconsistent keywords.
    detsecs = [None, section(1, COLS, 1, ROWS)]
    frame = load_frame(raw_amplifier_frame_bytes(_marked_amplifiers()[:2], detsecs=detsecs))
    assert frame.shape == (ROWS, COLS + 8)


# ------------------------------------------------------------------ old Sinistro cubes
SINISTRO_BIASES = (900.0, 1500.0, 700.0, 2000.0)


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return sinistro_scene()


def sinistro_scene() -> np.ndarray:
    """A 4096 x 4096 detector: sloped sky, a galaxy across the middle, stars everywhere.

    Nothing in it is symmetric, so a quadrant shown flipped or in the wrong place does not
    correlate with the same quadrant of the scene.
    """
    n = SINISTRO_DETECTOR
    rng = np.random.default_rng(3)
    yy, xx = (axis.astype(np.float32) for axis in np.ogrid[0:n, 0:n])
    galaxy = np.exp(-(((yy - 1900) / 260) ** 2) / 2) * np.exp(-(((xx - 2300) / 500) ** 2) / 2)
    image = 300 + 0.02 * xx + 0.04 * yy + 2500 * galaxy
    k = np.arange(-8, 9, dtype=np.float32)
    star = np.exp(-(k[:, None] ** 2 + k[None, :] ** 2) / 8)
    xs, ys = rng.integers(8, n - 8, (2, 800))
    for x, y, peak in zip(xs, ys, rng.uniform(200, 8000, 800), strict=True):
        image[y - 8 : y + 9, x - 8 : x + 9] += peak * star
    return image


def _detector(scene: np.ndarray, rows: int) -> np.ndarray:
    """The scene as a Sinistro cube of `rows` rows shows it: without the unread middle row."""
    return scene if rows > SINISTRO_DATA else np.delete(scene, SINISTRO_DATA, axis=0)


def _pixels(frame, params: ThumbnailParams) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(render_frames([frame], params).data)), float)


def _blocks(pixels: np.ndarray) -> np.ndarray:
    rows, cols = pixels.shape[0] // 2, pixels.shape[1] // 2
    return pixels[: 2 * rows, : 2 * cols].reshape(rows, 2, cols, 2).mean(axis=(1, 3)).ravel()


@pytest.mark.parametrize("rows", [2048, 2050], ids=["missing-row", "full"])
def test_sinistro_cube_assembles_to_the_detector_trimmed_and_levelled(scene, rows):
    frame = load_frame(sinistro_cube_bytes(scene, rows=rows, biases=SINISTRO_BIASES))
    expected = _detector(scene, rows)
    assert frame.shape == expected.shape  # overscan, junk rows and the missing row gone
    # Every pixel is the scene's, to the rounding of the uint16 readout.
    np.testing.assert_allclose(frame.data, expected, atol=0.501)
    # No gap where the middle row was not read out, at any bin factor (3 divides 2049).
    assert np.isfinite(frame.data).all()
    assert np.isfinite(frame.binned(3)[0]).all()


@pytest.mark.parametrize("rows", [2048, 2050], ids=["missing-row", "full"])
def test_sinistro_cube_thumbnail_is_the_scene_with_no_step_between_amplifiers(scene, rows):
    raw = sinistro_cube_bytes(scene, rows=rows, biases=SINISTRO_BIASES)
    params = ThumbnailParams(width=400, height=400, format="png")
    ours = _pixels(load_frame(raw), params)
    direct = _pixels(load_frame(hdulist_bytes([fits.PrimaryHDU(_detector(scene, rows))])), params)
    assert ours.shape == direct.shape == (400, 400)
    half = 200
    for rows_, cols_ in [
        (slice(0, half), slice(0, half)),
        (slice(0, half), slice(half, None)),
        (slice(half, None), slice(0, half)),
        (slice(half, None), slice(half, None)),
    ]:
        # Compared in 2x2 blocks: the upper amplifiers are binned from their own first row,
        # the direct image from its first, so a star may land one thumbnail pixel apart.
        quadrant, truth = _blocks(ours[rows_, cols_]), _blocks(direct[rows_, cols_])
        assert np.corrcoef(quadrant, truth)[0, 1] > 0.99
    # Across each amplifier boundary (each half of it on its own: two steps could cancel)
    # the thumbnail changes as the scene does, within three grey levels (a bias left in, or
    # an amplifier in the wrong place, makes steps of tens).
    for side in (slice(0, half), slice(half, None)):
        ours_step = ours[half, side].mean() - ours[half - 1, side].mean()
        direct_step = direct[half, side].mean() - direct[half - 1, side].mean()
        assert abs(ours_step - direct_step) < 3
        ours_step = ours[side, half].mean() - ours[side, half - 1].mean()
        direct_step = direct[side, half].mean() - direct[side, half - 1].mean()
        assert abs(ours_step - direct_step) < 3
