"""Decoding the pixels of the HDUs `hdus.select_image` chose.

Pixels are decoded from memory, never through temporary files: a plain unscaled image as a
view of the bytes, the usual reduced frame (Rice-compressed float rows) by a leaner loop over
astropy's own C decoder (`rice`), bit for bit the same, and anything else by astropy
(tile-compressed Rice/GZIP/HCOMPRESS/PLIO included), imported only then.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from ..errors import FrameTooLarge, ThumbnailError, UnreadableFrame
from . import rice
from .cards import card_value
from .hdus import HduInfo, Selection
from .rice import rice_image


@contextmanager
def decoding_errors() -> Iterator[None]:
    """Any failure while decoding pixels as the frame's fault, in the service's terms.

    Our own errors pass; memory exhaustion is `FrameTooLarge`; anything else (astropy raises
    many types for corrupt data, zlib and the C decoders theirs) is `UnreadableFrame`. Used
    wherever pixels are decoded: whole (`read_arrays`), band by band (`streaming`) or as a
    cutout's rows (`cutout`).
    """
    try:
        yield
    except ThumbnailError:
        raise
    except MemoryError:
        raise FrameTooLarge("the frame is too large to decode in memory") from None
    except Exception as error:
        raise UnreadableFrame(
            f"the FITS image data could not be decoded ({type(error).__name__}): "
            "the file is corrupt"
        ) from None


def read_arrays(raw: bytes, selection: Selection) -> list[np.ndarray]:
    """Decode the selected images (BSCALE/BZERO applied).

    A plain image is a view of `raw`, the usual Rice-compressed float image goes through
    `rice`; astropy is imported and opens the file only for an HDU neither handles. A cube
    that is not four amplifiers is read as its first plane only.

    Raises
    ------
    UnreadableFrame
        For anything astropy cannot decode (corrupt compressed tiles, bad values...).
    """
    check_decodable(selection)
    arrays = []
    hdul = None
    with decoding_errors(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            for info in selection.hdus:
                plain = _plain_image(raw, info)
                if plain is None:
                    plain = rice_image(raw, info)
                if plain is not None:
                    arrays.append(plain)
                    continue
                if hdul is None:
                    from astropy.io import fits  # only for what the fast paths leave

                    hdul = fits.open(io.BytesIO(raw), memmap=False, lazy_load_hdus=True)
                arrays.append(_astropy_image(hdul[info.index], info))
        finally:
            if hdul is not None:
                hdul.close()
    return arrays


def check_decodable(selection: Selection) -> None:
    """Refuse, before any pixel is decoded, what astropy would refuse or crash on.

    Raises
    ------
    UnreadableFrame
        The first card is not ``SIMPLE = T``, or a dither seed is outside the convention.
    """
    # astropy refused these at open, before any decoding; the fast paths never open it.
    if not isinstance(card_value(selection.primary.header, "SIMPLE"), bool):
        raise UnreadableFrame("not a FITS file (its first card is not SIMPLE = T)")
    for info in selection.hdus:
        _check_dither_seed(info)


def _astropy_image(hdu, info: HduInfo) -> np.ndarray:
    """The image of one HDU as astropy decodes it (of a cube, its first plane)."""
    expected = info.shape
    if len(info.shape) > 2 and not is_amplifier_cube(info.shape):
        # Other cubes: only the first plane is shown, so only it is decoded.
        expected = info.shape[-2:]
        array = hdu.section[(0,) * (len(info.shape) - 2)]
    else:
        array = hdu.data
    if array is None or tuple(array.shape) != expected:
        raise UnreadableFrame("the FITS image data does not match its header")
    return np.asarray(array)


#: The dither seeds the tiled-image convention allows. The C unquantizer indexes a
#: 10000-entry table with ``(tile + ZDITHER0 - 1) % 10000``: a seed below 1 reads outside it
#: (a segmentation fault, or garbage), so it is refused before any tile is decoded.
_DITHER_SEEDS = range(1, 10001)

_DITHERED = frozenset({"SUBTRACTIVE_DITHER_1", "SUBTRACTIVE_DITHER_2"})


def _check_dither_seed(info: HduInfo) -> None:
    """Refuse a dithered compressed image whose ``ZDITHER0`` is outside 1..10000."""
    table = info.table
    if info.kind != "compressed" or table is None:
        return
    if str(card_value(table, "ZQUANTIZ", "")).strip().upper() not in _DITHERED:
        return
    seed = card_value(table, "ZDITHER0", 0)
    if "ZDITHER0" in table and (
        isinstance(seed, bool) or not isinstance(seed, int) or seed not in _DITHER_SEEDS
    ):
        raise UnreadableFrame(
            f"the FITS header has an invalid ZDITHER0 {seed!r} (allowed: 1 to 10000): "
            "the file is corrupt"
        )


_BITPIX_DTYPES = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


def _plain_dtype(info: HduInfo) -> np.dtype | None:
    """The stored dtype of an uncompressed, unscaled image (its bytes are its values), or
    None: scaled images (BSCALE/BZERO) and tile-compressed ones are left to the decoders."""
    header = info.header
    scaled = card_value(header, "BSCALE", 1) != 1 or card_value(header, "BZERO", 0) != 0
    if info.kind != "image" or scaled:
        return None
    return np.dtype(_BITPIX_DTYPES[header["BITPIX"]])


def _plain_image(raw: bytes, info: HduInfo) -> np.ndarray | None:
    """A zero-copy, read-only view of an uncompressed, unscaled image in `raw`, or None.

    astropy reads an uncompressed HDU from memory by copying it twice (BytesIO.read, then
    ndarray.copy): for a 64 MB frame that is 128 MB more memory and ~0.1 s.
    """
    dtype = _plain_dtype(info)
    if dtype is None:
        return None
    shape = info.shape
    if len(shape) > 2 and not is_amplifier_cube(shape):
        shape = shape[-2:]  # the first plane: the first rows x cols values
    count = math.prod(shape)
    return np.frombuffer(raw, dtype=dtype, count=count, offset=info.data_start).reshape(shape)


# ---------------------------------------------------------------------------- rows
def read_rows(raw: bytes, info: HduInfo, start: int, stop: int) -> np.ndarray:
    """Rows ``start..stop-1`` of a 2-D image HDU (all columns), decoding only what holds them.

    A plain image is a view of those rows' bytes; a tile-compressed one has only the tiles
    that hold them decompressed (the usual Rice-compressed reduced frame by `rice`, any other
    by astropy's ``section``).

    Raises
    ------
    UnreadableFrame
        For data that cannot be decoded.
    """
    _check_dither_seed(info)  # a bad seed crashes the C decoder: refuse it first
    with decoding_errors(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = _plain_rows(raw, info, start, stop)
        if rows is None:
            rows = _rice_rows(raw, info, start, stop)
        if rows is None:
            rows = _astropy_rows(raw, info, start, stop)
    if rows.shape != (stop - start, info.shape[1]):
        raise UnreadableFrame("the FITS image data does not match its header")
    return rows


def _plain_rows(raw: bytes, info: HduInfo, start: int, stop: int) -> np.ndarray | None:
    """A read-only view of the rows of an unscaled, uncompressed image, or None."""
    dtype = _plain_dtype(info)
    if dtype is None or len(info.shape) != 2:
        return None
    cols = info.shape[1]
    offset = info.data_start + start * cols * dtype.itemsize
    return np.frombuffer(raw, dtype=dtype, count=(stop - start) * cols, offset=offset).reshape(
        stop - start, cols
    )


def _rice_rows(raw: bytes, info: HduInfo, start: int, stop: int) -> np.ndarray | None:
    """The rows of a tile-compressed image through `rice` (only their tiles decoded), or
    None when `rice` does not decode it."""
    if info.kind != "compressed" or info.table is None or len(info.shape) != 2:
        return None
    rows = rice.tile_rows(raw, info)
    return None if rows is None else rows.read(start, stop)


def _astropy_rows(raw: bytes, info: HduInfo, start: int, stop: int) -> np.ndarray:
    """The rows through astropy's ``section`` (only the tiles needed are decompressed)."""
    from astropy.io import fits

    with fits.open(io.BytesIO(raw), memmap=False, lazy_load_hdus=True) as hdul:
        return np.array(hdul[info.index].section[start:stop, :])


def is_amplifier_cube(shape: tuple[int, ...]) -> bool:
    """A 3-D image of 4 planes: the amplifiers of an older multi-amplifier frame."""
    return len(shape) == 3 and shape[0] == 4
