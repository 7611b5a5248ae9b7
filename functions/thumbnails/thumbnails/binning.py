"""Block-average binning and deterministic sampling of large images, without full copies.

Binning (not striding) keeps faint stars: a star of a few pixels survives a 20x20 average
where taking every 20th pixel would miss it. Both functions read the input through strided
views, so a 4096 x 4096 frame is never copied or converted to float as a whole.
"""

from __future__ import annotations

import math

import numpy as np

#: fits2image took 2000 samples; the same count keeps the same zscale limits.
SAMPLE_COUNT = 2000


def block_mean(
    image: np.ndarray, factor: int, clip: tuple[float, float] | None = None
) -> np.ndarray:
    """Average `image` over ``factor x factor`` blocks (partial edge blocks dropped).

    Non-finite pixels (NaN, +-Inf) are left out of their block's average; a block with no
    finite pixel is NaN.

    Parameters
    ----------
    image : ndarray, 2-D
        Any real dtype, any strides (flipped views included).
    factor : int
        The bin factor, >= 1.
    clip : (low, high), optional
        Display limits: each block column (the sum of its `factor` pixels down a column) is
        clipped to ``factor`` times these before the columns are summed. A hot or dead
        column then weighs in its block as a clipped pixel would, as when the old renderer
        clipped every pixel before reducing the image, at ~1/factor of the cost of clipping
        every pixel. (Ignored at factor 1, where the display curve clips anyway.)

    Returns
    -------
    ndarray
        float32, shape ``(rows // factor, cols // factor)``; a new array.
    """
    if factor < 1:
        raise ValueError("factor must be >= 1")
    rows, cols = image.shape[0] // factor, image.shape[1] // factor
    if factor == 1:
        return np.array(image[:rows, :cols], dtype=np.float32)
    # Sum the rows of each block through strided views (no copy of the frame), then the
    # columns of the much smaller row sums, again with strided views: numpy's reduction
    # over a short trailing axis (reshape(..., factor).sum) is ~10x slower for small factors.
    rowsum = np.zeros((rows, cols * factor), dtype=np.float32)
    for offset in range(factor):
        np.add(rowsum, image[offset : rows * factor : factor, : cols * factor], out=rowsum)
    if clip is not None:
        np.clip(rowsum, factor * clip[0], factor * clip[1], out=rowsum)
    binned = np.array(rowsum[:, 0::factor], dtype=np.float32)
    for offset in range(1, factor):
        binned += rowsum[:, offset::factor]
    binned *= np.float32(1.0 / (factor * factor))
    if not np.isfinite(binned).all():
        return _finite_block_mean(image, factor, rows, cols, clip)
    return binned


def _finite_block_mean(
    image: np.ndarray, factor: int, rows: int, cols: int, clip: tuple[float, float] | None
) -> np.ndarray:
    """The slow path of `block_mean` for images holding NaN or Inf: one band at a time.

    Here `clip` applies to each finite pixel (the column sums would mix in the bad ones).
    """
    out = np.empty((rows, cols), dtype=np.float32)
    for row in range(rows):
        band = np.array(image[row * factor : (row + 1) * factor, : cols * factor], np.float64)
        finite = np.isfinite(band)
        if clip is not None:
            np.clip(band, clip[0], clip[1], out=band)
        band[~finite] = 0.0
        total = band.reshape(factor, cols, factor).sum(axis=(0, 2))
        count = finite.reshape(factor, cols, factor).sum(axis=(0, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[row] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return out


def sample(image: np.ndarray, count: int = SAMPLE_COUNT) -> np.ndarray:
    """About `count` pixels of `image`, picked on a fixed grid (deterministic).

    A C-contiguous image is sampled exactly as fits2image did (every ``size // count``-th
    pixel of the flattened array), so ``zscale`` limits match the old service's. Other
    views (trimmed or flipped amplifiers) are sampled on a regular 2-D grid.

    Returns
    -------
    ndarray
        float64 values, non-finite ones included (the caller drops them).
    """
    size = image.size
    if size == 0:
        return np.empty(0)
    if image.flags.c_contiguous:
        stride = max(1, size // count)
        start = stride if size // count >= 1 else 0
        return np.array(image.reshape(-1)[start::stride], dtype=np.float64)
    step = max(1, math.isqrt(size // max(count, 1)))
    grid = image[step // 2 :: step, step // 2 :: step]
    return np.array(grid, dtype=np.float64).reshape(-1)
