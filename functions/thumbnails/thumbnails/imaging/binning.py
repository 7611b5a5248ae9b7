"""Block-average binning and deterministic sampling of large images, without full copies.

Binning (not striding) keeps faint stars: a star of a few pixels survives a 20x20 average
where taking every 20th pixel would miss it. Both functions read the input through strided
views, so a 4096 x 4096 frame is never copied or converted to float as a whole.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

#: fits2image took 2000 samples; the same count keeps the same zscale limits.
SAMPLE_COUNT = 2000
#: How much of the row sums `RowSums.binned` clips at a time (a copy).
_CLIP_BYTES = 4 << 20


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

    Notes
    -----
    The work is split as a streamed frame needs it (`streaming`): `RowSums` adds up the rows
    of each block (any number of rows at a time), `RowSums.binned` clips and sums the
    columns once the display limits are known, and only the rows of blocks that are not
    finite then are read again (`finite_block_row`). Both ways give the same pixels.
    """
    if factor < 1:
        raise ValueError("factor must be >= 1")
    sums = RowSums(image.shape, factor)
    sums.add(0, image)
    return sums.binned(clip, lambda start, stop: image[start:stop])


class RowSums:
    """The column sums of every block row of an image, fed rows in order, in any bands.

    For block row ``b`` and column ``j``, ``sums[b, j]`` is the float32 sum of pixels
    ``(b * factor + k, j)`` for ``k = 0 .. factor - 1``, added in that order, whatever bands
    the rows came in: the same bits as summing the whole image's strided views.

    Parameters
    ----------
    shape : (rows, cols)
        The whole image's.
    factor : int
        The bin factor.
    """

    def __init__(self, shape: tuple[int, int], factor: int) -> None:
        if factor < 1:
            raise ValueError("factor must be >= 1")
        self.factor = factor
        self.rows, self.cols = shape[0] // factor, shape[1] // factor
        self.sums = np.zeros((self.rows, self.cols * factor), dtype=np.float32)

    def add(self, first: int, band: np.ndarray) -> None:
        """Add rows ``first .. first + len(band) - 1`` of the image (in increasing order).

        Rows below the last whole block row are ignored, as are columns past the last
        whole block column.
        """
        factor = self.factor
        stop = min(first + band.shape[0], self.rows * factor)
        width = self.cols * factor
        for offset in range(factor):
            # The first row at or after `first` that is row `offset` of its block.
            row = first + (offset - first) % factor
            if row >= stop:
                continue
            count = (stop - 1 - row) // factor + 1
            block = row // factor
            target = self.sums[block : block + count]
            np.add(target, band[row - first : stop - first : factor, :width], out=target)

    def binned(
        self,
        clip: tuple[float, float] | None,
        read_rows: Callable[[int, int], np.ndarray],
    ) -> np.ndarray:
        """The block means (see `block_mean`), with `clip` applied to the block columns.

        Parameters
        ----------
        clip : (low, high) or None
        read_rows : callable
            ``read_rows(start, stop)`` gives image rows ``start:stop`` again: called only for
            the blocks that hold NaN or Inf, which are averaged pixel by pixel.
        """
        factor, cols = self.factor, self.cols
        if factor == 1:
            return np.array(self.sums, dtype=np.float32)
        binned = np.empty((self.rows, cols), dtype=np.float32)
        # The sums stay as they are (another clip may follow): clip a copy of a few MB of
        # block rows at a time.
        step = max(1, _CLIP_BYTES // max(1, self.sums.shape[1] * 4))
        for start in range(0, self.rows, step):
            rowsum = self.sums[start : start + step]
            if clip is not None:
                rowsum = np.clip(rowsum, factor * clip[0], factor * clip[1])
            out = binned[start : start + step]
            np.copyto(out, rowsum[:, 0::factor])
            for offset in range(1, factor):
                out += rowsum[:, offset::factor]
        binned *= np.float32(1.0 / (factor * factor))
        bad = np.flatnonzero(~np.isfinite(binned).all(axis=1))
        for block in bad:
            start = int(block) * factor
            band = read_rows(start, start + factor)
            binned[block] = finite_block_row(band, factor, cols, clip)
        return binned


def finite_block_row(
    band: np.ndarray, factor: int, cols: int, clip: tuple[float, float] | None
) -> np.ndarray:
    """One row of block means of a band of `factor` rows holding NaN or Inf.

    Non-finite pixels are left out; here `clip` applies to each finite pixel (the column
    sums would mix in the bad ones). A block with no finite pixel is NaN.
    """
    values = np.array(band[:factor, : cols * factor], np.float64)
    finite = np.isfinite(values)
    if clip is not None:
        np.clip(values, clip[0], clip[1], out=values)
    values[~finite] = 0.0
    total = values.reshape(factor, cols, factor).sum(axis=(0, 2))
    count = finite.reshape(factor, cols, factor).sum(axis=(0, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan).astype(np.float32)


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


def sample_positions(
    shape: tuple[int, int], count: int = SAMPLE_COUNT, *, contiguous: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, cols)`` of the pixels `sample` picks from an image of `shape`.

    `contiguous` says whether the image is C-contiguous (``image.flags.c_contiguous``),
    which is what chooses between `sample`'s two grids. A streamed frame uses this to pick
    the same pixels band by band.
    """
    rows, cols = shape
    size = rows * cols
    if size == 0:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    if contiguous:
        stride = max(1, size // count)
        start = stride if size // count >= 1 else 0
        return np.divmod(np.arange(start, size, stride, dtype=np.intp), cols)
    step = max(1, math.isqrt(size // max(count, 1)))
    grid_rows = np.arange(step // 2, rows, step, dtype=np.intp)
    grid_cols = np.arange(step // 2, cols, step, dtype=np.intp)
    return (
        np.repeat(grid_rows, grid_cols.size),
        np.tile(grid_cols, grid_rows.size),
    )
