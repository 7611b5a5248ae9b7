"""Broken and extreme FITS files for the robustness tests, built byte by byte in memory.

`tests.support.fits_factory` makes valid frames; these helpers damage them in the ways real archives
and hostile uploads do (truncation, corrupt cards, corrupt compressed tiles, lying headers)
or write the degenerate shapes a renderer must survive (zero-sized, 1 x 1, 1 x 100000).
"""

from __future__ import annotations

import io
import zlib

import numpy as np
from astropy.io import fits

from tests.support.fits_factory import hdulist_bytes, reduced_frame_bytes

BLOCK = 2880
CARD = 80


def _card(keyword: str, value: str) -> bytes:
    """One fixed-format header card (value right-aligned in columns 11-30)."""
    text = f"{keyword:<8}= {value:>20}" if value else f"{keyword:<8}"
    return text.ljust(CARD).encode("ascii")


def header_block(cards: list[tuple[str, str]]) -> bytes:
    """A complete FITS header: `cards` (keyword, already-formatted value), END, padding."""
    raw = b"".join(_card(k, v) for k, v in cards) + _card("END", "")
    return raw.ljust(-(-len(raw) // BLOCK) * BLOCK, b" ")


def set_card(data: bytes, keyword: str, value: str, occurrence: int = 0) -> bytes:
    """Overwrite the value of the `occurrence`-th card named `keyword`, keeping all offsets.

    Works on raw bytes, so it can write values astropy would refuse to write itself
    (a lying ``NAXIS1``, a non-number, a negative size).
    """
    seen = 0
    name = keyword.encode("ascii").ljust(8)
    for offset in range(0, len(data) - CARD + 1, CARD):
        if data[offset : offset + 8] == name and data[offset + 8 : offset + 10] == b"= ":
            if seen == occurrence:
                return data[:offset] + _card(keyword, value) + data[offset + CARD :]
            seen += 1
    raise KeyError(f"no card {keyword!r} (occurrence {occurrence})")


def data_location(data: bytes, index: int) -> tuple[int, int]:
    """``(offset, length)`` of HDU `index`'s data in the file (compressed HDUs as tables)."""
    with fits.open(io.BytesIO(data), disable_image_compression=True) as hdul:
        info = hdul.fileinfo(index)
        return info["datLoc"], info["datSpan"]


def small_frame(compression: str | None = None) -> bytes:
    """A small valid reduced frame (16 x 20), plain or tile-compressed."""
    return reduced_frame_bytes((16, 20), compression=compression, stars=3)


def truncated_in_data() -> bytes:
    """A valid frame cut in the middle of its image data."""
    frame = small_frame()
    start, _ = data_location(frame, 1)
    return frame[: start + 16 * 20 * 4 // 2]  # half of the 16 x 20 float32 pixels


def truncated_in_header() -> bytes:
    """Only the first 1000 bytes: the primary header never reaches its END card."""
    return small_frame()[:1000]


def corrupt_simple_card() -> bytes:
    """The first card is not ``SIMPLE = T``: not a FITS file at all."""
    frame = small_frame()
    return b"SIMPLE  = banana".ljust(CARD) + frame[CARD:]


def non_numeric_naxis() -> bytes:
    """The image extension's ``NAXIS1`` holds text."""
    return set_card(small_frame(), "NAXIS1", "'twenty'")


def negative_naxis() -> bytes:
    """The image extension's ``NAXIS2`` is negative."""
    return set_card(small_frame(), "NAXIS2", "-16")


def bad_bitpix() -> bytes:
    """``BITPIX = 13``: not a FITS data type."""
    return set_card(small_frame(), "BITPIX", "13", occurrence=1)


def corrupt_tiles(compression: str = "GZIP_1") -> bytes:
    """A ``.fits.fz`` whose compressed tiles (the table's heap) are overwritten with noise."""
    frame = small_frame(compression)
    start, length = data_location(frame, 1)
    with fits.open(io.BytesIO(frame), disable_image_compression=True) as hdul:
        header = hdul[1].header
        heap = start + header.get("THEAP", header["NAXIS1"] * header["NAXIS2"])
        heap_end = start + header["NAXIS1"] * header["NAXIS2"] + header["PCOUNT"]
    noise = np.random.default_rng(7).integers(0, 256, heap_end - heap, dtype=np.uint8)
    return frame[:heap] + noise.tobytes() + frame[heap_end:]


def corrupt_tile_descriptors(compression: str = "RICE_1") -> bytes:
    """A ``.fits.fz`` whose tile descriptors point far outside the heap."""
    frame = small_frame(compression)
    start, _ = data_location(frame, 1)
    # The first row's first column is a (length, offset) descriptor of two big-endian int32s.
    lie = np.array([2**30, 2**30], dtype=">i4").tobytes()
    return frame[:start] + lie + frame[start + len(lie) :]


def table_with_image_header_lie() -> bytes:
    """An image extension that says 16 x 20 pixels but has no data blocks after it."""
    frame = small_frame()
    start, _ = data_location(frame, 1)
    return frame[:start]


def zero_sized_image() -> bytes:
    """A primary HDU declaring ``NAXIS1 = 0``: a valid header, no pixels."""
    return header_block(
        [("SIMPLE", "T"), ("BITPIX", "-32"), ("NAXIS", "2"), ("NAXIS1", "0"), ("NAXIS2", "16")]
    )


def declared_huge(extension: bool = False, side: int = 100_000) -> bytes:
    """A file of a few KiB whose header declares a `side` x `side` float32 image.

    The data would be 40 GB; the file holds one block of it. A renderer that allocates from
    the header before checking the size limit runs out of memory here.
    """
    image = [("BITPIX", "-32"), ("NAXIS", "2"), ("NAXIS1", str(side)), ("NAXIS2", str(side))]
    if not extension:
        return header_block([("SIMPLE", "T"), *image]) + bytes(BLOCK)
    primary = header_block([("SIMPLE", "T"), ("BITPIX", "8"), ("NAXIS", "0"), ("EXTEND", "T")])
    ext = header_block(
        [("XTENSION", "'IMAGE   '"), *image, ("PCOUNT", "0"), ("GCOUNT", "1"), ("EXTNAME", "'SCI'")]
    )
    return primary + ext + bytes(BLOCK)


def declared_huge_compressed(side: int = 100_000) -> bytes:
    """A small ``.fits.fz`` whose compressed-image header declares `side` x `side` pixels."""
    frame = small_frame("RICE_1")
    return set_card(set_card(frame, "ZNAXIS1", str(side)), "ZNAXIS2", str(side))


def image_bytes(data: np.ndarray) -> bytes:
    """A reduced frame holding exactly `data` (no WCS: degenerate shapes have none)."""
    return reduced_frame_bytes(data=data, wcs=False)


def dithered_frame(compression: str = "RICE_1", zdither0: int = 5) -> bytes:
    """A quantized, subtractively dithered ``.fits.fz`` with ``ZDITHER0 = zdither0``.

    The FITS tiled-image convention allows 1 to 10000; the decoders index a 10000-entry
    random table with ``(tile + ZDITHER0 - 1) % 10000`` in C, so a negative seed reads
    outside the table.
    """
    data = np.random.default_rng(0).normal(100, 5, (16, 20)).astype(np.float32)
    hdu = fits.CompImageHDU(
        data, name="SCI", compression_type=compression, quantize_method=1, dither_seed=5
    )
    frame = hdulist_bytes([fits.PrimaryHDU(), hdu])
    return set_card(frame, "ZDITHER0", str(zdither0))


def gzip_with_trailing_zeros(megabytes: int) -> bytes:
    """A small valid frame gzipped together with `megabytes` MiB of zeros after its last HDU.

    A few hundred KiB on the wire that inflate to as much as asked: bytes after the last
    HDU are not part of any image and need not be inflated at all.
    """
    deflate = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    zeros = bytes(1 << 20)
    parts = [deflate.compress(small_frame())]
    parts += [deflate.compress(zeros) for _ in range(megabytes)]
    parts.append(deflate.flush())
    return b"".join(parts)
