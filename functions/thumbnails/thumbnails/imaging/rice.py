"""A faster decoder for tile-compressed images stored in whole rows, decoded in row bands.

astropy decodes a tile-compressed image tile by tile with ~25 us of Python around each call
to its C decoder; LCO frames are compressed one row per tile, so a 4096-row frame spends
more time in that loop than in decoding. Here the same C functions (``decompress_rice_1_c``,
``unquantize_float_c``, with the arguments astropy passes) are called from a lean loop, so
the pixels are bit for bit astropy's, in a third (1k frames) to two thirds (4k) of the time.

Handled: two axes, tiles of whole rows, ``RICE_1``, ``GZIP_1`` or ``GZIP_2``, and either
float32 quantized with any dither method (NaN from ``ZBLANK``), every tile compressed (none
stored raw or gzipped whole), or 8, 16 and 32-bit integers, unsigned through ``BZERO``
(raw frames: int16 + 32768), without ``BLANK`` or other scaling. For anything else
`tile_rows` and `rice_image` return None and astropy decodes the HDU.

`TileRows` decodes any band of rows (``read(row_start, row_stop)``), touching only the tiles
that hold them, or walks the image in bands (`TileRows.bands`) so that a big frame is never
decoded whole (see `streaming`).

The C extension is loaded straight from its file, without importing astropy: a Lambda cold
start pays for every import, and ``astropy.io.fits`` costs ~0.3 s of CPU, half of a whole cold
render. If that fails in any way (a moved or renamed file, a changed signature), the
functions come from an ordinary astropy import, or else astropy decodes everything: only
the speed changes.

The functions are private and take positional arguments: an astropy release that changed an
argument's meaning would still accept the call and return wrong pixels. So the fast path is
on only for the astropy versions in `VERIFIED_ASTROPY`; with any other, astropy decodes.
"""

from __future__ import annotations

import gzip
import importlib.util
import re
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .hdus import HduInfo

_DITHER_METHODS = {"NO_DITHER": -1, "SUBTRACTIVE_DITHER_1": 1, "SUBTRACTIVE_DITHER_2": 2}
#: Binary table column formats of a compressed image: heap descriptors and scalars.
_DESCRIPTOR = re.compile(r"1?([PQ])([BIJKED])(\(\d+\))?")
_SCALARS = {"D": ">f8", "1D": ">f8", "J": ">i4", "1J": ">i4", "E": ">f4", "1E": ">f4"}
_COLUMNS = frozenset({"COMPRESSED_DATA", "ZSCALE", "ZZERO", "ZBLANK"})
#: Columns for tiles that did not quantize well (stored gzipped or raw): astropy writes them
#: even when empty. A tile using one has no COMPRESSED_DATA, and astropy then decodes it all.
_FALLBACK_COLUMNS = frozenset({"GZIP_COMPRESSED_DATA", "UNCOMPRESSED_DATA"})


#: The astropy versions the fast path was checked against, bit for bit: the tests in
#: tests/unit/imaging/test_fast_paths.py compare it with astropy's own decoding on every layout it
#: takes, and fail when the installed astropy is not listed here. To add a version, install
#: it (layers/scientific/requirements.txt pins the one Lambda runs), run those tests, then
#: list it.
VERIFIED_ASTROPY = frozenset({"8.0.2"})

#: Where astropy keeps the C extension, inside its package (pinned astropy 8.0.x).
_EXTENSION_DIR = ("io", "fits", "hdu", "compressed")
_EXTENSION_FILE = "_compression"
_ASTROPY_NAME = "astropy.io.fits.hdu.compressed._compression"
#: The name it is loaded under: its last part must stay "_compression" (the init function is
#: ``PyInit__compression``), and the whole must be ours: loading registers the module in
#: `sys.modules`, and a bare "_compression" would hide the standard library's (gzip, bz2).
_LOADED_NAME = f"{__name__}._compression"


def _load_extension() -> ModuleType:
    """astropy's ``_compression`` extension, loaded from its file without importing astropy.

    Raises
    ------
    ImportError, OSError, AttributeError...
        Whatever goes wrong (the caller falls back to importing astropy).
    """
    if _ASTROPY_NAME in sys.modules:  # astropy is imported already: no second copy
        return sys.modules[_ASTROPY_NAME]
    spec = importlib.util.find_spec("astropy")  # finds the package; does not import it
    if spec is None or spec.origin is None:
        raise ImportError("astropy is not installed")
    folder = Path(spec.origin).parent.joinpath(*_EXTENSION_DIR)
    path = next(
        (p for p in sorted(folder.glob(f"{_EXTENSION_FILE}*")) if p.suffix in (".so", ".pyd")),
        None,
    )
    if path is None:
        raise ImportError(f"no {_EXTENSION_FILE} extension in {folder}")
    extension = importlib.util.spec_from_file_location(_LOADED_NAME, path)
    if extension is None or extension.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(extension)
    extension.loader.exec_module(module)
    return module


def _import_extension() -> ModuleType:
    """The same extension through an ordinary (slower, astropy-importing) import."""
    from astropy.io.fits.hdu.compressed import _compression

    return _compression


def astropy_version() -> str | None:
    """The version of the astropy installed where `_load_extension` finds it, or None.

    Read from the ``Version`` field of the ``astropy-*.dist-info/METADATA`` next to the
    package, without importing astropy, nor ``importlib.metadata`` (30-200 ms of imports on a
    cold start). None when there is no such file, or more than one.
    """
    spec = importlib.util.find_spec("astropy")  # finds the package; does not import it
    if spec is None or spec.origin is None:
        return None
    found = list(Path(spec.origin).parent.parent.glob("astropy-*.dist-info"))
    if len(found) != 1:
        return None
    try:
        with open(found[0] / "METADATA", encoding="utf-8") as metadata:
            for line in metadata:
                if not line.strip():
                    break  # the end of the header fields
                if line.startswith("Version:"):
                    return line.partition(":")[2].strip()
    except OSError:
        return None
    return None


@cache
def fast_path_verified() -> bool:
    """Whether the installed astropy is one the fast path was verified against."""
    return astropy_version() in VERIFIED_ASTROPY


#: False once the directly loaded functions failed where the imported ones worked.
_DIRECT = {"usable": True}


@cache
def decoders(direct: bool = True):
    """``(decompress_rice_1_c, unquantize_float_c)``, or None when neither way finds them.

    Parameters
    ----------
    direct : bool
        Try the direct load first; false after it has failed on first use.

    Returns None, whatever is installed, unless `fast_path_verified`.
    """
    if not fast_path_verified():
        return None
    loaders = (_load_extension, _import_extension) if direct else (_import_extension,)
    for loader in loaders:
        try:
            module = loader()
            return module.decompress_rice_1_c, module.unquantize_float_c
        except Exception:  # any failure: the next way, then astropy decodes everything
            continue
    return None


#: Decoded bytes per band that `TileRows.bands` aims at: big enough that the per-band
#: Python work is negligible, small enough to stay in cache and add little to the peak.
BAND_BYTES = 4 << 20
_ALGORITHMS = {"RICE_1": "RICE_1", "RICE_ONE": "RICE_1", "GZIP_1": "GZIP_1", "GZIP_2": "GZIP_2"}
_INTEGERS = {8: np.uint8, 16: np.int16, 32: np.int32}
_UNSIGNED = {16: np.uint16, 32: np.uint32}


@dataclass(frozen=True)
class _Plan:
    """How the tiles of one HDU are stored (from its headers only)."""

    rows: int
    cols: int
    tile_rows: int
    algorithm: str  # "RICE_1", "GZIP_1" or "GZIP_2"
    zbitpix: int
    quantized: bool  # float32 stored as quantized int32 (ZSCALE/ZZERO per tile)
    method: int  # dither method (-1 = none)
    blocksize: int
    bytepix: int
    seed: int
    header_blank: int | None
    records: np.dtype  # the binary table's rows
    pixel: np.dtype  # what astropy's ``hdu.data`` holds
    unsigned: bool  # BZERO = 2**(bits - 1): flip the sign bit


class TileRows:
    """The rows of one tile-compressed HDU, decoded band by band with astropy's C functions.

    Build one with `tile_rows`. Attributes ``shape`` and ``dtype`` are those of astropy's
    ``hdu.data`` (float32 for quantized images, uint16 for int16 + 32768...).
    """

    def __init__(self, raw: bytes, info: HduInfo, plan: _Plan, functions: tuple) -> None:
        self.raw = raw
        self.plan = plan
        self.shape = (plan.rows, plan.cols)
        self.dtype = plan.pixel
        self._decompress_rice, self._unquantize = functions
        table = info.table
        count = table["NAXIS2"]
        self._heap = info.data_start + table.get("THEAP", table["NAXIS1"] * count)
        records = np.frombuffer(raw, dtype=plan.records, count=count, offset=info.data_start)
        self._tiles = records["COMPRESSED_DATA"].tolist()
        if any(
            length <= 0 or offset < 0 or self._heap + offset + length > info.data_end
            for length, offset in self._tiles
        ):
            raise _NotLean  # tiles stored raw or gzipped, or a damaged table: astropy's
        names = plan.records.names
        self._scales = records["ZSCALE"].tolist() if plan.quantized else None
        self._zeros = records["ZZERO"].tolist() if plan.quantized else None
        if "ZBLANK" in names:
            self._blanks = records["ZBLANK"].tolist()
        else:
            self._blanks = [plan.header_blank] * count

    def read(self, row_start: int, row_stop: int, out: np.ndarray | None = None) -> np.ndarray:
        """Rows ``row_start:row_stop`` (clipped to the image), decoding only their tiles.

        Parameters
        ----------
        row_start, row_stop : int
            0-based, ``row_stop`` exclusive, as a numpy slice of ``hdu.data``.
        out : ndarray, optional
            A 1-D buffer of `dtype` to decode into (reused by `bands`); its size must be at
            least the whole tiles' pixels.

        Returns
        -------
        ndarray
            ``(rows, cols)``: a view of `out` when given, else a new array.

        Raises
        ------
        ValueError
            From the C decoder or zlib, for a corrupt tile.
        """
        rows, cols = self.shape
        tile_rows = self.plan.tile_rows
        row_start, row_stop = max(0, row_start), min(rows, row_stop)
        if row_stop <= row_start:
            return np.empty((0, cols), self.dtype)
        first, last = row_start // tile_rows, -(-row_stop // tile_rows)
        top = first * tile_rows
        bottom = min(rows, last * tile_rows)
        size = (bottom - top) * cols
        flat = np.empty(size, self.dtype) if out is None else out[:size]
        for index in range(first, last):
            begin = (index * tile_rows - top) * cols
            end = min(size, begin + tile_rows * cols)
            self._tile(index, flat[begin:end])
        block = flat.reshape(-1, cols)
        return block[row_start - top : row_stop - top]

    def bands(
        self,
        row_start: int = 0,
        row_stop: int | None = None,
        *,
        band_rows: int | None = None,
        reverse: bool = False,
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(first_row, rows)`` bands covering ``row_start:row_stop`` in order.

        Each band is a view of one reused buffer: use it (or copy it) before asking for the
        next. Bands start on tile boundaries (apart from the first), so no tile is decoded
        twice. With `reverse` the bands come from the top down (rows within a band are still
        in ascending order).
        """
        rows, cols = self.shape
        row_stop = rows if row_stop is None else min(rows, row_stop)
        row_start = max(0, row_start)
        tile_rows = self.plan.tile_rows
        if band_rows is None:
            band_rows = BAND_BYTES // max(1, cols * self.dtype.itemsize)
        band_rows = max(tile_rows, band_rows // tile_rows * tile_rows)
        buffer = np.empty((band_rows + tile_rows) * cols, self.dtype)
        # Band edges: row_start, then tile-aligned steps of band_rows, then row_stop.
        edges = [row_start]
        edge = (row_start // tile_rows) * tile_rows + band_rows
        while edge < row_stop:
            edges.append(edge)
            edge += band_rows
        edges.append(row_stop)
        spans = list(zip(edges[:-1], edges[1:], strict=True))
        for top, bottom in reversed(spans) if reverse else spans:
            if bottom > top:
                yield top, self.read(top, bottom, buffer)

    def _tile(self, index: int, target: np.ndarray) -> None:
        """Decode tile `index` into `target` (its pixels, flat)."""
        plan = self.plan
        size = target.size
        length, offset = self._tiles[index]
        start = self._heap + offset
        data = self.raw[start : start + length]
        decoded = None
        if plan.algorithm == "RICE_1":
            decoded = self._decompress_rice(data, plan.blocksize, plan.bytepix, size)
            values = np.frombuffer(decoded, dtype=f"i{plan.bytepix}", count=size)
        else:
            values = _gunzip_tile(data, size, plan.algorithm)
        blank = self._blanks[index]
        if plan.quantized:
            if plan.method == -1:
                target[...] = values * self._scales[index] + self._zeros[index]
            else:
                if decoded is None or len(decoded) != 4 * size:  # big-endian, or padded
                    decoded = values.astype(np.int32).tobytes()
                target[...] = np.frombuffer(
                    self._unquantize(
                        decoded, index + plan.seed, size, self._scales[index],
                        self._zeros[index], plan.method, 0, 0, 0.0, 4,
                    ),
                    dtype=np.float32,
                    count=size,
                )  # fmt: skip
            if blank is not None:
                target[values == blank] = np.nan
            return
        if plan.unsigned:
            # BZERO = 2**(bits-1): adding it modulo 2**bits flips the sign bit.
            native = values.astype(values.dtype.newbyteorder("="), copy=False)
            np.bitwise_xor(native.view(target.dtype), 1 << (plan.zbitpix - 1), out=target)
        else:
            target[...] = values


def _gunzip_tile(data: bytes, size: int, algorithm: str) -> np.ndarray:
    """The (big-endian) values of a GZIP_1 or GZIP_2 tile of `size` pixels."""
    inflated = gzip.decompress(data)
    itemsize, remainder = divmod(len(inflated), size)
    if remainder or itemsize not in (1, 2, 4):
        raise ValueError(f"a {algorithm} tile holds {len(inflated)} bytes for {size} pixels")
    values = np.frombuffer(inflated, dtype=np.uint8)
    if algorithm == "GZIP_2":  # bytes shuffled: all first bytes, then all second bytes...
        values = values.reshape(itemsize, size).T.ravel()
    return values.view(">i1" if itemsize == 1 else f">i{itemsize}")


class _NotLean(Exception):
    """The HDU is stored in a way the lean loop does not decode (astropy does)."""


def tile_rows(raw: bytes, info: HduInfo) -> TileRows | None:
    """The lean row decoder of a tile-compressed HDU, or None if it is not laid out for it.

    Parameters
    ----------
    raw : bytes
        The whole (uncompressed) FITS file.
    info : hdus.HduInfo
        The HDU; its ``table`` header describes the compressed binary table.

    Returns
    -------
    TileRows or None
        None when the HDU is laid out otherwise or the C functions cannot be used (astropy
        then decodes it). The first tile has been decoded once to check the functions.
    """
    from .cards import header_errors

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plan = _plan(info)
    except (*header_errors(), KeyError, TypeError):
        return None
    if plan is None:
        return None
    direct = _DIRECT["usable"]
    # The imported functions are looked up (astropy imported) only if the loaded ones fail.
    attempts = (direct, False) if direct else (False,)
    for number, way in enumerate(attempts):
        functions = decoders(way)
        if functions is None:
            continue
        try:
            rows = TileRows(raw, info, plan, functions)
        except _NotLean:
            return None
        try:
            # The first tile, decoded once: a changed signature shows here, as a TypeError.
            rows.read(0, 1)
        except TypeError:
            continue
        except Exception:  # noqa: BLE001 - a corrupt first tile: reported when it is read
            pass
        if number > 0:
            _DIRECT["usable"] = False  # the imported functions work where the loaded did not
        return rows
    return None


def rice_image(raw: bytes, info: HduInfo) -> np.ndarray | None:
    """The whole image of a tile-compressed HDU that `tile_rows` decodes, or None.

    Returns
    -------
    numpy.ndarray or None
        Equal to astropy's ``hdu.data`` (same values, NaN and dtype), or None when the HDU
        is laid out otherwise (astropy then decodes it).

    Raises
    ------
    ValueError
        From the C decoder, for a corrupt tile (the caller reports an unreadable frame).
    """
    rows = tile_rows(raw, info)
    if rows is None:
        return None
    return rows.read(0, rows.shape[0])


def _plan(info: HduInfo) -> _Plan | None:
    """The decoding parameters of `info`, or None when the lean loop does not apply."""
    table = info.table
    if info.kind != "compressed" or table is None or len(info.shape) != 2:
        return None
    algorithm = _ALGORITHMS.get(str(table.get("ZCMPTYPE", "")).strip())
    zbitpix = table.get("ZBITPIX")
    if algorithm is None or table.get("ZNAXIS") != 2 or zbitpix not in (-32, 8, 16, 32):
        return None
    rows, cols = info.shape
    if table.get("ZTILE1", cols) != cols:
        return None
    tile_rows = table.get("ZTILE2", 1)
    method = _DITHER_METHODS.get(str(table.get("ZQUANTIZ", "NO_DITHER")).strip())
    if method is None or not _positive_int(tile_rows):
        return None
    settings = {"BLOCKSIZE": 32, "BYTEPIX": 4}
    for n in range(1, 1000):
        name = table.get(f"ZNAME{n}")
        if name is None:
            break
        settings[str(name).strip().upper()] = table.get(f"ZVAL{n}")
    blocksize, bytepix = settings["BLOCKSIZE"], settings["BYTEPIX"]
    if not _positive_int(blocksize):
        return None
    records = _table_dtype(table)
    if records is None:
        return None
    quantized = zbitpix == -32
    if quantized != ({"ZSCALE", "ZZERO"} <= set(records.names)):
        return None  # lossless floats, or scaled integers: astropy's
    if algorithm == "RICE_1" and bytepix != (4 if quantized else zbitpix // 8):
        return None
    if records.itemsize != table["NAXIS1"] or table["NAXIS2"] != -(-rows // tile_rows):
        return None
    header_blank = table.get("ZBLANK")
    if header_blank is not None and not _int(header_blank):
        return None
    seed = table.get("ZDITHER0", 0)
    if not _int(seed):
        return None
    image = info.header
    if quantized:
        if any(key in image for key in ("BLANK", "BSCALE", "BZERO")):
            return None
        pixel, unsigned = np.dtype(np.float32), False
    else:
        pixel, unsigned = _integer_pixel(image, zbitpix)
        if pixel is None or header_blank is not None or "ZBLANK" in records.names:
            return None  # integer blanks (and their scaling) stay astropy's
    return _Plan(
        rows, cols, tile_rows, algorithm, zbitpix, quantized, method, blocksize, bytepix,
        seed, header_blank, records, pixel, unsigned,
    )  # fmt: skip


def _integer_pixel(image, zbitpix: int) -> tuple[np.dtype | None, bool]:
    """astropy's dtype for integer pixels with this header: stored, or unsigned by BZERO."""
    if "BLANK" in image or image.get("BSCALE", 1) != 1:
        return None, False
    bzero = image.get("BZERO", 0)
    if bzero == 0:
        return np.dtype(_INTEGERS[zbitpix]), False
    if zbitpix in _UNSIGNED and bzero == 1 << (zbitpix - 1):
        return np.dtype(_UNSIGNED[zbitpix]), True
    return None, False


def _table_dtype(table) -> np.dtype | None:
    """The record layout of the compressed table, or None for columns we do not expect."""
    fields = []
    for n in range(1, table["TFIELDS"] + 1):
        if any(f"{key}{n}" in table for key in ("TSCAL", "TZERO", "TNULL")):
            return None
        name = str(table[f"TTYPE{n}"]).strip().upper()
        form = str(table[f"TFORM{n}"]).strip().upper()
        if name not in _COLUMNS | _FALLBACK_COLUMNS or (n == 1) != (name == "COMPRESSED_DATA"):
            return None
        descriptor = _DESCRIPTOR.fullmatch(form)
        if name == "COMPRESSED_DATA" and descriptor and descriptor.group(2) != "B":
            return None
        if descriptor and (name == "COMPRESSED_DATA" or name in _FALLBACK_COLUMNS):
            fields.append((name, ">i4" if descriptor.group(1) == "P" else ">i8", (2,)))
        elif name in _COLUMNS and name != "COMPRESSED_DATA" and form in _SCALARS:
            fields.append((name, _SCALARS[form]))
        else:
            return None
    if any(field[0] == "ZBLANK" and field[1] != ">i4" for field in fields):
        return None
    return np.dtype(fields)


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(value: object) -> bool:
    return _int(value) and value > 0
