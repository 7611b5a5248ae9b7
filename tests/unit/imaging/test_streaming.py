"""Big frames in bounded memory: a row-tiled frame is binned band by band, never decoded whole.

The streamed frame must give the thumbnails the decoded frame gives (the same statistics,
the same binned pixels), whatever bands the rows arrive in, for reduced frames (quantized
float32, NaN included) and raw mosaics (uint16 amplifiers, flipped readouts, overscan),
while its memory stays near the compressed size.
"""

from __future__ import annotations

import io
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from tests.support.fits_factory import (
    quadrant_detsecs,
    raw_amplifier_frame_bytes,
    reduced_frame_bytes,
    star_field,
)
from thumbnails.imaging import rice
from thumbnails.imaging.binning import RowSums, block_mean, sample, sample_positions
from thumbnails.imaging.render import load_frame, prepare, render_frames
from thumbnails.imaging.streaming import StreamedLayout
from thumbnails.params import ThumbnailParams


@pytest.fixture
def small_bands(monkeypatch):
    """Bands of a few rows, so that band edges fall inside bin blocks."""
    monkeypatch.setattr(rice, "BAND_BYTES", 700)


def reduced_with_defects(shape=(203, 157), compression="RICE_1") -> bytes:
    image = star_field(shape, stars=25, sky=500.0, noise=20.0, seed=3)
    image[:, 40] += 5000.0  # a hot column
    image[:, 90] = 0.0  # a dead column
    image[17, 3:9] = np.nan  # NaN in a few blocks: those rows are decoded again
    image[150:, 120] = np.nan
    return reduced_frame_bytes(data=image, compression=compression)


def raw_mosaic(compression="RICE_1") -> bytes:
    rng = np.random.default_rng(5)
    shape = (67, 45)  # no factor tiles it evenly: partial edge blocks are dropped
    amplifiers = [star_field(shape, stars=4, sky=300.0 + 50 * k, seed=k) for k in range(4)]
    return raw_amplifier_frame_bytes(
        amplifiers,
        data_shape=shape,
        overscan=6,
        detsecs=quadrant_detsecs(shape),
        compression=compression,
        seed=int(rng.integers(1000)),
        read_noise=4.0,
    )


def raw_single_amplifier() -> bytes:
    shape = (58, 41)
    signal = star_field(shape, stars=3, sky=200.0, seed=9)
    return raw_amplifier_frame_bytes(
        [signal], data_shape=shape, overscan=5, detsecs=["[1:41,1:58]"], compression="RICE_1"
    )


FRAMES = {
    "reduced-rice": lambda: reduced_with_defects(),
    "reduced-gzip2": lambda: reduced_with_defects(compression="GZIP_2"),
    "raw-mosaic-rice": lambda: raw_mosaic(),
    "raw-mosaic-gzip1": lambda: raw_mosaic("GZIP_1"),
    "raw-single-amplifier": raw_single_amplifier,  # trimmed to DATASEC, overscan subtracted
}
QUERIES = [
    {"width": "40", "height": "40"},
    {"width": "100", "height": "100", "stretch": "linear", "percentile": "99"},
    {"width": "64", "height": "64", "stretch": "log", "median": "true"},
    {"width": "500", "height": "500"},  # factor 1: the whole image kept as its row sums
]


def levels(thumbnail) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(thumbnail.data)), dtype=np.int16)


@pytest.mark.parametrize("name", list(FRAMES))
def test_a_streamed_frame_renders_the_thumbnails_of_the_decoded_frame(small_bands, name):
    data = FRAMES[name]()
    decoded = load_frame(data, stream=False)
    streamed = load_frame(data)
    assert isinstance(streamed.layout, StreamedLayout)
    assert not isinstance(decoded.layout, StreamedLayout)

    for query in QUERIES:
        params = ThumbnailParams.from_query({**query, "format": "png"})
        ours, theirs = render_frames([streamed], params), render_frames([decoded], params)
        difference = np.abs(levels(ours) - levels(theirs))
        assert difference.max() <= 1, f"{query}: {difference.max()} grey levels apart"
        # In fact the statistics and the binned pixels are the same bits.
        np.testing.assert_array_equal(streamed.samples, decoded.samples)
        for factor, clip in streamed._binned:
            np.testing.assert_array_equal(
                streamed.binned(factor, clip)[0], decoded.binned(factor, clip)[0]
            )
    assert len(streamed._binned) >= 3


def test_other_compressions_cubes_and_plain_images_are_decoded_whole():
    for data in (
        reduced_frame_bytes((40, 50), compression="HCOMPRESS_1"),
        reduced_frame_bytes((40, 50)),
    ):
        assert not isinstance(load_frame(data).layout, StreamedLayout)


def test_a_corrupt_tile_in_a_streamed_frame_is_an_unreadable_frame():
    from thumbnails.errors import UnreadableFrame

    data = bytearray(reduced_with_defects())
    end = len(data) - 2880  # inside the heap of the SCI extension's tiles
    data[end - 4000 : end] = b"\x00" * 4000
    frame = load_frame(bytes(data))
    with pytest.raises(UnreadableFrame, match="corrupt"):
        prepare([frame], [ThumbnailParams()])


def test_presets_prepared_together_cost_one_pass(monkeypatch):
    frame = load_frame(raw_mosaic())
    passes = []
    original = rice.TileRows.bands

    def counting(self, *args, **kwargs):
        passes.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(rice.TileRows, "bands", counting)
    presets = [ThumbnailParams(width=20, height=20), ThumbnailParams(width=60, height=60)]

    prepare([frame], presets)
    assert len(passes) == 4  # each amplifier walked once
    for params in presets:
        render_frames([frame], params)
    assert len(passes) == 4  # rendering decoded nothing more


def test_a_big_frame_is_binned_in_a_fraction_of_its_decoded_size(monkeypatch):
    monkeypatch.setattr(rice, "BAND_BYTES", 256 << 10)
    rng = np.random.default_rng(0)
    image = rng.normal(1000.0, 20.0, (1600, 1600)).astype(np.float32)
    data = reduced_frame_bytes(data=image, compression="RICE_1", wcs=False)
    decoded_bytes = image.nbytes
    del image
    params = ThumbnailParams(width=50, height=50)

    def peak(stream: bool) -> int:
        tracemalloc.start()
        try:
            render_frames([load_frame(data, stream=stream)], params)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    whole, streamed = peak(False), peak(True)
    assert whole > decoded_bytes, f"decoded whole: {whole / 1e6:.1f} MB"
    assert streamed < decoded_bytes / 4, f"streamed: {streamed / 1e6:.1f} MB"


# ---------------------------------------------------------------------------- primitives
@pytest.mark.parametrize("factor", [1, 3, 8])
def test_row_sums_fed_in_any_bands_give_the_bits_of_block_mean(factor):
    rng = np.random.default_rng(factor)
    image = rng.normal(100.0, 30.0, (61, 44)).astype(np.float32)
    sums = RowSums(image.shape, factor)
    edges = [0, 1, 2, 7, 8, 20, 33, 34, 60, 61]
    for top, bottom in zip(edges[:-1], edges[1:], strict=True):
        sums.add(top, image[top:bottom])
    clip = (60.0, 150.0)
    np.testing.assert_array_equal(
        sums.binned(clip, lambda start, stop: image[start:stop]), block_mean(image, factor, clip)
    )


@pytest.mark.parametrize("shape", [(100, 100), (61, 44), (7, 3000), (3, 3)])
def test_sample_positions_are_the_pixels_sample_picks(shape):
    image = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    for view, contiguous in ((image, True), (image[:, ::-1], False)):
        rows, cols = sample_positions(view.shape, 500, contiguous=contiguous)
        np.testing.assert_array_equal(view[rows, cols], sample(view, 500))
