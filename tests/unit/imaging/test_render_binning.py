"""Binning and sampling: block averages without copies, NaN-aware, deterministic samples."""

from __future__ import annotations

import numpy as np
import pytest

from thumbnails.imaging.binning import block_mean, sample
from thumbnails.imaging.scaling import robust_sigma, transfer_table, zscale_limits


def _reference_mean(image: np.ndarray, factor: int) -> np.ndarray:
    rows, cols = image.shape[0] // factor, image.shape[1] // factor
    blocks = np.asarray(image[: rows * factor, : cols * factor], dtype=np.float64)
    return blocks.reshape(rows, factor, cols, factor).mean(axis=(1, 3))


@pytest.mark.parametrize("factor", [1, 2, 3, 7, 16])
@pytest.mark.parametrize("dtype", [np.float32, ">f4", np.float64, np.uint16, ">i2", np.int32])
def test_block_mean_is_the_mean_of_each_block_for_any_dtype(factor, dtype):
    rng = np.random.default_rng(factor)
    image = rng.uniform(0, 3000, (53, 71)).astype(dtype)
    binned = block_mean(image, factor)
    assert binned.dtype == np.float32
    assert binned.shape == (53 // factor, 71 // factor)
    np.testing.assert_allclose(binned, _reference_mean(image, factor), rtol=1e-5)


def test_block_mean_reads_flipped_views():
    image = np.arange(48 * 40, dtype=np.float32).reshape(48, 40)
    flipped = image[::-1, ::-1]
    np.testing.assert_allclose(block_mean(flipped, 4), _reference_mean(flipped.copy(), 4))


def test_block_mean_leaves_nan_and_inf_out_of_each_block():
    image = np.full((8, 8), 10.0, np.float32)
    image[0, 0] = np.nan
    image[0, 1] = np.inf
    image[4:, 4:] = np.nan  # a block with no finite pixel
    image[0, 4] = 30.0
    binned = block_mean(image, 4)
    assert binned[0, 0] == pytest.approx(10.0)  # 14 finite pixels of 10
    assert binned[0, 1] == pytest.approx((15 * 10.0 + 30.0) / 16)
    assert np.isnan(binned[1, 1])


def test_sample_takes_fits2image_flat_stride_samples_of_contiguous_images():
    image = np.arange(100 * 100, dtype=np.float32).reshape(100, 100)
    samples = sample(image, count=2000)
    np.testing.assert_array_equal(samples, image.flatten()[5::5])


def test_sample_of_a_view_is_a_regular_grid_and_deterministic():
    image = np.arange(200 * 300, dtype=np.float32).reshape(200, 300)[10:190, ::-1]
    first = sample(image, count=600)
    assert 400 <= first.size <= 1000
    np.testing.assert_array_equal(first, sample(image, count=600))


def test_zscale_limits_are_the_median_and_the_clipped_line_fit():
    samples = np.sort(np.random.default_rng(0).normal(1000.0, 20.0, 2000))
    low, high = zscale_limits(samples)
    assert low == pytest.approx(np.median(samples))
    assert samples[1000] < high <= samples[-1]


def test_robust_sigma_ignores_stars():
    samples = np.random.default_rng(1).normal(500.0, 10.0, 5000)
    samples[:100] = 60000.0
    assert robust_sigma(np.sort(samples)) == pytest.approx(10.0, rel=0.1)


def test_display_table_without_noise_is_the_curve_and_with_noise_is_smooth():
    values, sharp = transfer_table("zscale", 0.0, 255.0, 0.0)
    assert sharp[0] == 0.0 and sharp[-1] == 1.0
    values, smooth = transfer_table("zscale", 0.0, 255.0, 20.0)
    assert np.all(np.diff(smooth) >= -1e-12)  # still monotonic
    # Noise lifts the sky: at the black point the mean of the curve is well above black.
    assert np.interp(0.0, values, smooth) > 0.1
