"""Big frames in bounded memory: a tile-compressed frame binned band by band.

A 10000 x 10000 float32 frame is 400 MB decoded but ~60 MB Rice-compressed. When every
image HDU of a frame is stored in tiles of whole rows that `rice.TileRows` decodes (Rice or
GZIP, quantized float32 or 8/16/32-bit integers), the frame is never decoded whole: one pass
walks each amplifier in bands of a few MB (`TileRows.bands`) and keeps only

- the samples the statistics are computed from (the very pixels `binning.sample` picks from
  the decoded image, so zscale and percentiles are the same),
- the overscan pixels (its median is the bias, as `mosaic` computes it),
- for every bin factor asked for, the sums of each block's rows (`binning.RowSums`): float32,
  ``rows / factor x cols``, the same bits as the decoded image's.

The display limits, known only at the end, are then applied to those sums as `block_mean`
applies them, so a thumbnail is pixel for pixel the one the decoded frame gives; the rows of
blocks holding NaN or Inf are decoded again, on their own, to be averaged pixel by pixel.
The peak is then the compressed file, the sums (8 MB for a 200 px thumbnail of a 10k
frame) and one band.

The pass runs when the first statistic or binned image is needed, for every factor
registered by then (`StreamedLayout.expect`): pregeneration registers all its presets first,
so that they cost one pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from .binning import RowSums, sample_positions
from .cards import card_value
from .hdus import Selection
from .mosaic import (
    Layout,
    LayoutError,
    Placement,
    amplifier_placements,
    corner_shifted,
    overscan_level,
    place_binned,
    shifted,
    tiling_factor,
    trimmed_placement,
)
from .pixels import check_decodable, decoding_errors
from .rice import TileRows, tile_rows


class _Amplifier:
    """One amplifier of a streamed frame: where its pixels come from, and what was kept."""

    def __init__(self, source: TileRows, place: Placement) -> None:
        self.source = source
        self.place = place
        self.bias: float | None = None
        self.samples: np.ndarray | None = None
        self.sums: dict[int, RowSums] = {}

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.place.y0, self.place.x0, *self.place.shape)

    def data_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of the amplifier's data (detector orientation), decoded anew."""
        place = self.place
        if place.flip_y:
            first, last = place.rows.stop - stop, place.rows.stop - start
        else:
            first, last = place.rows.start + start, place.rows.start + stop
        return self._data(self.source.read(first, last))

    def _data(self, band: np.ndarray) -> np.ndarray:
        """The data columns of a band of readout rows, flipped into detector orientation."""
        data = band[:, self.place.cols]
        if self.place.flip_x:
            data = data[:, ::-1]
        if self.place.flip_y:
            data = data[::-1]
        return data

    def walk(self, factors: Iterable[int], count: int | None) -> None:
        """One pass over the readout: row sums for `factors`, `count` samples, the bias."""
        place, source = self.place, self.source
        shape = place.shape
        sums = [RowSums(shape, factor) for factor in factors]
        top_row, end_row = place.rows.start, place.rows.stop
        overscan = []
        biassec = place.biassec.slices() if place.biassec and self.bias is None else None
        if biassec is not None:
            top_row, end_row = min(top_row, biassec[0].start), max(end_row, biassec[0].stop)
        if count is not None:
            rows, cols = sample_positions(shape, count, contiguous=self._contiguous())
            order = np.argsort(rows, kind="stable")
            rows, cols = rows[order], cols[order]
            values = np.empty(rows.size, np.float64)
        for top, band in source.bands(top_row, end_row, reverse=place.flip_y):
            bottom = top + band.shape[0]
            if biassec is not None:
                first, last = max(top, biassec[0].start), min(bottom, biassec[0].stop)
                if last > first:
                    overscan.append(band[first - top : last - top, biassec[1]].copy())
            first, last = max(top, place.rows.start), min(bottom, place.rows.stop)
            if last <= first:
                continue
            data = self._data(band[first - top : last - top])
            # The first data row of this band (data rows run upwards on the detector).
            row0 = place.rows.stop - last if place.flip_y else first - place.rows.start
            for row_sums in sums:
                row_sums.add(row0, data)
            if count is not None:
                lo, hi = np.searchsorted(rows, [row0, row0 + data.shape[0]])
                values[lo:hi] = data[rows[lo:hi] - row0, cols[lo:hi]]
        for row_sums in sums:
            self.sums[row_sums.factor] = row_sums
        if biassec is not None:
            self.bias = overscan_level(np.concatenate(overscan)) if overscan else 0.0
        elif self.bias is None:
            self.bias = 0.0
        if count is not None:
            self.samples = values - self.bias

    def _contiguous(self) -> bool:
        """Whether the decoded data would be C-contiguous: that picks `sample`'s grid.

        Asked of a view of the same shape and strides over a single element, so nothing
        of the size of the image is allocated.
        """
        rows, cols = self.source.shape
        itemsize = self.source.dtype.itemsize
        readout = np.lib.stride_tricks.as_strided(
            np.zeros(1, self.source.dtype), (rows, cols), (cols * itemsize, itemsize)
        )
        return bool(self.place.view(readout).flags.c_contiguous)


class StreamedLayout:
    """The amplifiers of a tile-compressed frame, binned band by band (see the module).

    Used by `frame.Frame` as it uses `mosaic.Layout`: ``shape``, ``boxes``,
    ``tiling_factor``, ``samples``, ``binned`` and ``assemble``.
    """

    def __init__(
        self,
        sources: list[TileRows],
        placements: list[Placement],
        eager: Callable[[], Layout],
    ) -> None:
        moved, self.shape = corner_shifted(placements)
        self._amps = [_Amplifier(s, p) for s, p in zip(sources, moved, strict=True)]
        self._eager = eager
        self._wanted: set[int] = set()
        self._count: int | None = None

    def __repr__(self) -> str:
        return f"StreamedLayout(shape={self.shape}, amplifiers={len(self._amps)})"

    @property
    def boxes(self) -> list[tuple[int, int, int, int]]:
        return [amp.box for amp in self._amps]

    def tiling_factor(self, factor: int) -> int:
        return tiling_factor(self.boxes, factor)

    def expect(self, factor: int) -> None:
        """Sum the rows for this (tiling) bin factor too in the next pass."""
        self._wanted.add(factor)

    def decode(self, count: int) -> None:
        """Make the pass now, if one is due: `count` samples and every expected factor."""
        missing = sorted(f for f in self._wanted if f not in self._amps[0].sums)
        if self._count == count and not missing:
            return
        per_amp = max(1, count // len(self._amps))
        with decoding_errors():
            for amp in self._amps:
                amp.walk(missing, per_amp if self._count != count else None)
        self._count = count

    def samples(self, count: int) -> np.ndarray:
        """As `Layout.samples`: the same pixels, bias subtracted, float64, unsorted."""
        self.decode(count)
        return np.concatenate([amp.samples for amp in self._amps])

    def binned(self, factor: int, clip: tuple[float, float] | None = None) -> np.ndarray:
        """As `Layout.binned` (the same pixels), from the row sums of one pass."""
        if factor not in self._amps[0].sums:
            self.expect(factor)
            with decoding_errors():
                for amp in self._amps:
                    amp.walk([factor], None)
        with decoding_errors():
            parts = [
                (amp.sums[factor].binned(shifted(clip, amp.bias), amp.data_rows), amp.bias)
                for amp in self._amps
            ]
        return place_binned(self.boxes, factor, parts)

    def assemble(self) -> np.ndarray:
        """The full-resolution image: the frame decoded whole (what streaming avoids)."""
        return self._eager().assemble()


def streamed_layout(
    raw: bytes, selection: Selection, header, eager: Callable[[], Layout]
) -> StreamedLayout | None:
    """A `StreamedLayout` of the selected image, or None when it cannot be streamed.

    It can when every selected HDU is a 2-D tile-compressed image that `rice.tile_rows`
    decodes. The layout is the one `render` builds from decoded arrays: amplifiers placed
    by ``DETSEC`` (or, if their keywords disagree, the first readout as it is), a trimmed
    single-amplifier raw frame, or the image as it is. Cubes are never streamed.

    Parameters
    ----------
    eager : callable
        Builds the decoded `Layout`, for `StreamedLayout.assemble`.
    """
    if selection.layout == "cube":
        return None
    check_decodable(selection)
    sources = []
    for info in selection.hdus:
        source = tile_rows(raw, info)
        if source is None:
            return None
        sources.append(source)
    if selection.layout == "amplifiers":
        try:
            placements = amplifier_placements(
                [source.shape for source in sources],
                [info.header for info in selection.hdus],
                selection.primary.header,
            )
        except LayoutError:
            sources, placements = sources[:1], [Placement.whole(sources[0].shape)]
    elif card_value(header, "RLEVEL") == 0 and "BIASSEC" in header:
        placements = [trimmed_placement(sources[0].shape, header)]
    else:
        placements = [Placement.whole(sources[0].shape)]
    return StreamedLayout(sources, placements, eager)
