"""Reading frames: every container and compression, the right HDU, and bad bytes refused."""

from __future__ import annotations

import io

import numpy as np
import pytest
from astropy.io import fits

from tests.support.fits_factory import (
    COMPRESSIONS,
    gzip_bytes,
    hdulist_bytes,
    image_hdu,
    reduced_frame_bytes,
    star_field,
    table_only_bytes,
)
from thumbnails.errors import FrameTooLarge, UnreadableFrame
from thumbnails.imaging.render import load_frame, read_header
from thumbnails.params import RenderLimits

SHAPE = (48, 64)


def _data() -> np.ndarray:
    return star_field(SHAPE, seed=3, stars=6)


# ------------------------------------------------------------------ containers
@pytest.mark.parametrize("compression", [None, *COMPRESSIONS])
def test_every_tile_compression_decodes_to_the_written_image(compression):
    data = _data()
    frame = load_frame(reduced_frame_bytes(data=data, compression=compression))
    assert frame.shape == SHAPE
    expected = np.clip(np.rint(data), 0, None) if compression == "PLIO_1" else data
    # Float tile compression quantises (to a fraction of the noise); lossless ones are exact.
    tolerance = 0.0 if compression in (None, "PLIO_1") else 2.0
    np.testing.assert_allclose(frame.data, expected, atol=tolerance)


def test_gzipped_fits_reads_like_the_plain_file():
    plain = reduced_frame_bytes(data=_data())
    frame = load_frame(gzip_bytes(plain))
    np.testing.assert_array_equal(frame.data, load_frame(plain).data)


def test_image_in_the_primary_hdu_is_found():
    data = _data()
    frame = load_frame(reduced_frame_bytes(data=data, in_primary=True))
    np.testing.assert_array_equal(frame.data, data)
    assert frame.header["FILTER"] == "rp"


@pytest.mark.parametrize("compression", [None, "RICE_1"])
def test_sci_is_rendered_and_bpm_err_cat_are_ignored(compression):
    data = _data()
    raw = reduced_frame_bytes(data=data, banzai_extensions=True, compression=compression)
    frame = load_frame(raw)
    np.testing.assert_allclose(frame.data, data, atol=0 if compression is None else 2.0)


def test_sci_extension_wins_over_an_earlier_unnamed_image():
    decoy = np.full(SHAPE, 7.0, np.float32)
    data = _data()
    raw = hdulist_bytes(
        [fits.PrimaryHDU(decoy), image_hdu(data, name="SCI"), image_hdu(decoy, name="ERR")]
    )
    np.testing.assert_array_equal(load_frame(raw).data, data)


def test_bscale_and_bzero_are_applied():
    stored = np.arange(SHAPE[0] * SHAPE[1], dtype=np.int16).reshape(SHAPE)
    hdu = fits.PrimaryHDU(stored)
    hdu.header["BSCALE"] = 2.0
    hdu.header["BZERO"] = 100.0
    frame = load_frame(hdulist_bytes([hdu]))
    np.testing.assert_allclose(frame.data, stored * 2.0 + 100.0)


def test_header_merges_primary_cards_under_the_image_cards():
    frame = load_frame(
        reduced_frame_bytes(data=_data(), obstype="SKYFLAT", filter="V", header={"FILTER": "B"})
    )
    assert frame.header["OBSTYPE"] == "SKYFLAT"  # from the primary
    assert frame.header["FILTER"] == "B"  # the image's own card wins
    assert frame.header["CTYPE1"] == "RA---TAN"


# ------------------------------------------------------------------ read_header
@pytest.mark.parametrize("compression", [None, "RICE_1"])
def test_read_header_needs_only_a_prefix_of_the_file(compression):
    raw = reduced_frame_bytes((256, 256), compression=compression, obstype="BIAS", reqnum=42)
    header = read_header(raw[: 2880 * 4])
    assert header["OBSTYPE"] == "BIAS"
    assert header["REQNUM"] == 42
    assert header["NAXIS1"] == 256


def test_read_header_of_a_compressed_image_describes_the_image_not_its_table():
    header = read_header(reduced_frame_bytes(SHAPE, compression="RICE_1"))
    assert (header["NAXIS1"], header["NAXIS2"], header["BITPIX"]) == (64, 48, -32)
    assert "TTYPE1" not in header and "ZCMPTYPE" not in header


def test_read_header_reads_a_gzip_prefix():
    raw = gzip_bytes(reduced_frame_bytes((256, 256), filter="ip"))
    assert read_header(raw[:4000])["FILTER"] == "ip"


def test_read_header_refuses_non_fits():
    with pytest.raises(UnreadableFrame, match="not a FITS file"):
        read_header(b"<html>Not Found</html>" * 200)


# ------------------------------------------------------------------ bad bytes
def _truncated(raw: bytes) -> bytes:
    return raw[: len(raw) - 4000]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "empty"),
        (b"PK\x03\x04 this is a zip file" * 100, "not a FITS file"),
        (b"SIMPLE  =                    T" + b" " * 50, "truncated"),
        (_truncated(reduced_frame_bytes(SHAPE)), "truncated"),
        (_truncated(reduced_frame_bytes(SHAPE, compression="RICE_1")), "truncated"),
        (gzip_bytes(reduced_frame_bytes(SHAPE))[:-300], "truncated"),
        (gzip_bytes(b"hello, not FITS" * 300), "not a FITS file"),
        (b"\x1f\x8b\x08\x00garbage-after-the-gzip-magic" * 10, "corrupt"),
        (table_only_bytes(), "no image data"),
        (reduced_frame_bytes(data=np.zeros((0, 5), np.float32), wcs=False), "no image data"),
    ],
    ids=[
        "empty",
        "zip",
        "header-cut",
        "data-cut",
        "fz-cut",
        "gz-cut",
        "gz-not-fits",
        "gz-corrupt",
        "tables-only",
        "zero-size-image",
    ],
)
def test_unreadable_bytes_raise_a_message_for_the_user(raw, message):
    with pytest.raises(UnreadableFrame, match=message):
        load_frame(raw)


@pytest.mark.parametrize("compression", ["RICE_1", "GZIP_1", "HCOMPRESS_1"])
def test_corrupt_compressed_tiles_raise_unreadable_frame(compression):
    raw = bytearray(reduced_frame_bytes((128, 128), compression=compression))
    with fits.open(io.BytesIO(bytes(raw))) as hdul:
        data_start = hdul.fileinfo(1)["datLoc"]
    garbage = np.random.default_rng(0).integers(0, 256, len(raw) - data_start, np.uint8)
    raw[data_start:] = garbage.tobytes()
    with pytest.raises(UnreadableFrame, match="could not be decoded"):
        load_frame(bytes(raw))


def test_corrupt_header_value_raises_unreadable_frame():
    raw = reduced_frame_bytes(SHAPE).replace(
        b"BITPIX  =                  -32", b"BITPIX  =                  -17"
    )
    with pytest.raises(UnreadableFrame, match="BITPIX"):
        load_frame(raw)


# ------------------------------------------------------------------ size limits
def _declared_only(naxis1: int, naxis2: int, *, compressed: bool = False) -> bytes:
    """A tiny file whose header declares a huge image (the data is not there at all)."""
    if compressed:
        cards = [
            ("XTENSION", "BINTABLE"),
            ("BITPIX", 8),
            ("NAXIS", 2),
            ("NAXIS1", 8),
            ("NAXIS2", 1),
            ("PCOUNT", 0),
            ("GCOUNT", 1),
            ("TFIELDS", 1),
            ("TTYPE1", "COMPRESSED_DATA"),
            ("TFORM1", "1PB(0)"),
            ("ZIMAGE", True),
            ("ZBITPIX", -32),
            ("ZNAXIS", 2),
            ("ZNAXIS1", naxis1),
            ("ZNAXIS2", naxis2),
            ("ZCMPTYPE", "RICE_1"),
            ("EXTNAME", "SCI"),
        ]
        header = fits.Header(cards).tostring().encode()
        return fits.PrimaryHDU().header.tostring().encode() + header + b"\0" * 2880
    cards = [("SIMPLE", True), ("BITPIX", -32), ("NAXIS", 2)]
    cards += [("NAXIS1", naxis1), ("NAXIS2", naxis2)]
    return fits.Header(cards).tostring().encode() + b"\0" * 2880


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "tile-compressed"])
def test_oversized_image_is_refused_from_its_header(compressed):
    raw = _declared_only(100_000, 100_000, compressed=compressed)
    assert len(raw) < 20_000
    with pytest.raises(FrameTooLarge, match="10,000,000,000 pixels"):
        load_frame(raw)


def test_oversized_gzipped_image_is_refused_before_inflating_it():
    raw = gzip_bytes(_declared_only(100_000, 100_000))
    with pytest.raises(FrameTooLarge):
        load_frame(raw)


def test_the_limit_counts_every_amplifier():
    from tests.support.fits_factory import raw_amplifier_frame_bytes

    raw = raw_amplifier_frame_bytes(data_shape=(32, 40), overscan=8)
    per_amp = 32 * 48
    load_frame(raw, limits=RenderLimits(max_pixels=4 * per_amp))
    with pytest.raises(FrameTooLarge):
        load_frame(raw, limits=RenderLimits(max_pixels=4 * per_amp - 1))


def test_a_frame_at_the_limit_is_accepted():
    frame = load_frame(reduced_frame_bytes(SHAPE), limits=RenderLimits(max_pixels=48 * 64))
    assert frame.shape == SHAPE
