"""A faster decoder for the usual reduced frame: Rice-compressed, quantized float32 rows.

astropy decodes a tile-compressed image tile by tile with ~25 us of Python around each call
to its C decoder; LCO frames are compressed one row per tile, so a 4096-row frame spends
more time in that loop than in decoding. Here the same C functions (``decompress_rice_1_c``,
``unquantize_float_c``, with the arguments astropy passes) are called from a lean loop, so
the pixels are bit for bit astropy's, in a third (1k frames) to two thirds (4k) of the time.

Only the common layout is handled: ``RICE_1``, two axes, tiles of whole rows, float32 data
quantized with any dither method (NaN from ``ZBLANK``), every tile Rice-compressed, no
scaling. For anything else `rice_image` returns None and astropy decodes the HDU.

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

import importlib.util
import re
import sys
import warnings
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .fits_io import HduInfo

_DITHER_METHODS = {"NO_DITHER": -1, "SUBTRACTIVE_DITHER_1": 1, "SUBTRACTIVE_DITHER_2": 2}
#: Binary table column formats of a compressed image: heap descriptors and scalars.
_DESCRIPTOR = re.compile(r"1?([PQ])([BIJKED])(\(\d+\))?")
_SCALARS = {"D": ">f8", "1D": ">f8", "J": ">i4", "1J": ">i4", "E": ">f4", "1E": ">f4"}
_COLUMNS = frozenset({"COMPRESSED_DATA", "ZSCALE", "ZZERO", "ZBLANK"})
#: Columns for tiles that did not quantize well (stored gzipped or raw): astropy writes them
#: even when empty. A tile using one has no COMPRESSED_DATA, and astropy then decodes it all.
_FALLBACK_COLUMNS = frozenset({"GZIP_COMPRESSED_DATA", "UNCOMPRESSED_DATA"})


#: The astropy versions the fast path was checked against, bit for bit: the tests in
#: tests/unit/test_fast_paths.py compare it with astropy's own decoding on every layout it
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


def rice_image(raw: bytes, info: HduInfo) -> np.ndarray | None:
    """The float32 image of a Rice-compressed, quantized HDU, or None if it is not one.

    Parameters
    ----------
    raw : bytes
        The whole (uncompressed) FITS file.
    info : fits_io.HduInfo
        The HDU; its ``table`` header describes the compressed binary table.

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
    from .fits_io import header_errors

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plan = _plan(info)
    except (*header_errors(), KeyError, TypeError):
        return None
    if plan is None:
        return None
    direct = _DIRECT["usable"]
    functions = decoders(direct)
    if functions is None:
        return None
    try:
        return _decode(raw, info, plan, *functions)
    except TypeError:
        # The functions do not take astropy 8.0's arguments: try those of an astropy import
        # (if the direct load is what differs), else astropy decodes the HDU.
        imported = decoders(direct=False) if direct else None
        if imported is None:
            return None
        try:
            image = _decode(raw, info, plan, *imported)
        except TypeError:
            return None
        _DIRECT["usable"] = False
        return image


def _decode(raw: bytes, info: HduInfo, plan: tuple, decompress_rice_1_c, unquantize_float_c):
    """Decode the tiles of `info` as `plan` says, with the C functions given."""
    rows, cols, tile_rows, method, blocksize, seed, header_blank, dtype = plan
    table = info.table
    count = table["NAXIS2"]
    heap = info.data_start + table.get("THEAP", table["NAXIS1"] * count)
    records = np.frombuffer(raw, dtype=dtype, count=count, offset=info.data_start)
    descriptors = records["COMPRESSED_DATA"].tolist()
    if any(
        length <= 0 or offset < 0 or heap + offset + length > info.data_end
        for length, offset in descriptors
    ):
        return None  # tiles stored raw or gzipped, or a damaged table: astropy's business
    scales = records["ZSCALE"].tolist()
    zeros = records["ZZERO"].tolist()
    blanks = records["ZBLANK"].tolist() if "ZBLANK" in dtype.names else [header_blank] * count
    image = np.empty((rows, cols), dtype=np.float32)
    flat = image.reshape(-1)
    for index, (length, offset) in enumerate(descriptors):
        first = index * tile_rows * cols
        size = min(rows * cols, first + tile_rows * cols) - first
        start = heap + offset
        quantized = decompress_rice_1_c(raw[start : start + length], blocksize, 4, size)
        target = flat[first : first + size]
        if method == -1:
            values = np.frombuffer(quantized, dtype=np.int32, count=size)
            target[...] = values * scales[index] + zeros[index]
        else:
            target[...] = np.frombuffer(
                unquantize_float_c(
                    quantized, index + seed, size, scales[index], zeros[index],
                    method, 0, 0, 0.0, 4,
                ),
                dtype=np.float32,
                count=size,
            )  # fmt: skip
        if blanks[index] is not None:
            values = np.frombuffer(quantized, dtype=np.int32, count=size)
            target[values == blanks[index]] = np.nan
    return image


def _plan(info: HduInfo):
    """The decoding parameters of `info`, or None when the fast path does not apply."""
    table = info.table
    if info.kind != "compressed" or table is None or len(info.shape) != 2:
        return None
    if str(table.get("ZCMPTYPE", "")).strip() not in ("RICE_1", "RICE_ONE"):
        return None
    if table.get("ZBITPIX") != -32 or table.get("ZNAXIS") != 2:
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
    blocksize = settings["BLOCKSIZE"]
    if settings["BYTEPIX"] != 4 or not _positive_int(blocksize):
        return None
    dtype = _table_dtype(table)
    if dtype is None or not {"ZSCALE", "ZZERO"} <= set(dtype.names):
        return None
    if dtype.itemsize != table["NAXIS1"] or table["NAXIS2"] != -(-rows // tile_rows):
        return None
    image = info.header
    if any(key in image for key in ("BLANK", "BSCALE", "BZERO")):
        return None
    header_blank = table.get("ZBLANK")
    if header_blank is not None and not _int(header_blank):
        return None
    seed = table.get("ZDITHER0", 0)
    if not _int(seed):
        return None
    return rows, cols, tile_rows, method, blocksize, seed, header_blank, dtype


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
