"""Walking the HDUs of FITS bytes from their headers, before any pixel is read.

The FITS structure is walked by hand, header by header (a header is 2880-byte blocks of
80-character cards ending in ``END``; the size of the data that follows comes from BITPIX,
NAXISn, PCOUNT and GCOUNT). That lets us

- refuse an oversized image from its header before a single pixel is decompressed,
- tell truncated and non-FITS bytes apart with a message a user understands,
- read the headers of a prefix of a file (``read_header`` on the first 64 KiB),
- decompress a ``.fits.gz`` with a bound on its output (no gzip bombs).

It then picks the image to render (`select_image`) and merges the primary's cards into it
(`merged_cards`). The cards themselves are read by `cards`; the pixels are decoded by `pixels`.
"""

from __future__ import annotations

import math
import re
import warnings
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import FrameTooLarge, UnreadableFrame
from ..params import RenderLimits
from .cards import (
    CARD,
    CardHeader,
    astropy_header,
    card_value,
    has_section,
    header_errors,
    parse_header,
)

if TYPE_CHECKING:
    from astropy.io import fits


BLOCK = 2880

GZIP_MAGIC = b"\x1f\x8b"

#: A header longer than this is not a header (real LCO headers are ~250 cards, 7 blocks).
MAX_HEADER_BLOCKS = 2000

#: Extensions BANZAI writes next to the science image; never rendered.
AUXILIARY_EXTNAMES = frozenset({"BPM", "ERR", "CAT", "MASK", "DQ", "WHT", "WEIGHT", "VAR"})

#: Keywords that describe a compressed HDU's binary table (or the compression), not the
#: image it holds.
_TABLE_KEYWORD = re.compile(
    r"(XTENSION|BITPIX|NAXIS\d*|PCOUNT|GCOUNT|TFIELDS|THEAP|CHECKSUM|DATASUM|END"
    r"|T(TYPE|FORM|UNIT|DIM|NULL|SCAL|ZERO)\d+|ZIMAGE|ZCMPTYPE|ZBITPIX|ZNAXIS\d*|ZTILE\d+"
    r"|ZNAME\d+|ZVAL\d+|ZMASKCMP|ZSIMPLE|ZTENSION|ZEXTEND|ZBLOCKED|ZPCOUNT|ZGCOUNT"
    r"|ZHECKSUM|ZDATASUM|ZQUANTIZ|ZDITHER0)"
)

#: Cards of the primary that describe the primary's own (empty) data, not the frame.
_PRIMARY_STRUCTURE = re.compile(r"(SIMPLE|BITPIX|NAXIS\d*|EXTEND|PCOUNT|GCOUNT|GROUPS)")

_CONTINUATION = frozenset({"CONTINUE"})

_REPEATABLE = frozenset({"COMMENT", "HISTORY", ""})

_GZIP_CHUNK = 1 << 20


@dataclass(frozen=True)
class HduInfo:
    """What a header says about one HDU, before any of its data is read.

    Attributes
    ----------
    index : int
        Position in the file (0 = primary).
    header : CardHeader or astropy.io.fits.Header
        The image header: for a tile-compressed HDU, the image it holds (``ZNAXISn`` turned
        into ``NAXISn`` and so on), not the binary table that stores it.
    kind : str
        ``"image"`` (primary or IMAGE extension), ``"compressed"`` (tile-compressed image) or
        ``"other"`` (tables and anything else).
    shape : tuple of int
        Image shape in numpy order (slowest axis first); ``()`` for non-images.
    data_start, data_end : int
        Offsets of this HDU's data and just past it (unpadded).
    cards : tuple of str
        The 80-character cards of `header` (without END), for merging headers cheaply.
    table : CardHeader or astropy.io.fits.Header or None
        For a tile-compressed HDU, the binary table's own header (how the tiles are stored).
    """

    index: int
    header: CardHeader | fits.Header
    kind: str
    shape: tuple[int, ...]
    data_start: int
    data_end: int
    cards: tuple[str, ...] = ()
    table: CardHeader | fits.Header | None = None

    @property
    def extname(self) -> str:
        return str(card_value(self.header, "EXTNAME", "")).strip().upper()

    @property
    def pixels(self) -> int:
        return math.prod(self.shape) if self.shape else 0

    @property
    def is_image(self) -> bool:
        """An image with at least two non-empty axes (something we can draw)."""
        return self.kind != "other" and len(self.shape) >= 2 and self.pixels > 0


def _header_end(raw: bytes, start: int) -> int | None:
    """Offset just past the header block holding ``END``, or None if `raw` stops first."""
    offset = start
    for _ in range(MAX_HEADER_BLOCKS):
        block = raw[offset : offset + BLOCK]
        if len(block) < BLOCK:
            return None
        for card in range(0, BLOCK, CARD):
            if block[card : card + 8] == b"END     ":
                return offset + BLOCK
        offset += BLOCK
    raise UnreadableFrame("the FITS header never ends (no END card): the file is corrupt")


def _int_card(header: fits.Header, key: str, default: int | None = None) -> int:
    value = header.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise UnreadableFrame(f"the FITS header has an invalid {key} value: the file is corrupt")
    return int(value)


def _axes(header: fits.Header, prefix: str) -> tuple[int, ...]:
    naxis = _int_card(header, f"{prefix}NAXIS", 0)
    if naxis > 999:
        raise UnreadableFrame(f"the FITS header declares {naxis} axes: the file is corrupt")
    return tuple(_int_card(header, f"{prefix}NAXIS{n}") for n in range(1, naxis + 1))


def _data_size(header: fits.Header) -> int:
    bitpix = header.get("BITPIX")
    if bitpix not in (8, 16, 32, 64, -32, -64):
        raise UnreadableFrame(f"the FITS header has an invalid BITPIX {bitpix!r}: corrupt file")
    axes = _axes(header, "")
    if not axes:
        return 0
    groups = _int_card(header, "GCOUNT", 1)
    extra = _int_card(header, "PCOUNT", 0)
    # Random-groups primaries have NAXIS1 = 0 and the groups in NAXIS2..n.
    count = math.prod(axes[1:]) if axes[0] == 0 and header.get("GROUPS") else math.prod(axes)
    return abs(bitpix) // 8 * groups * (extra + count)


def _keyword(card: str) -> str:
    return card[:8].rstrip()


def _image_cards(table_cards: list[str], table_header: fits.Header) -> list[str]:
    """The cards of the image a tile-compressed binary table holds."""
    axes = _axes(table_header, "Z")
    bitpix = table_header["ZBITPIX"]
    structure = [("XTENSION", "IMAGE"), ("BITPIX", bitpix), ("NAXIS", len(axes))]
    structure += [(f"NAXIS{n}", length) for n, length in enumerate(axes, start=1)]
    kept = [card for card in table_cards if not _TABLE_KEYWORD.fullmatch(_keyword(card))]
    if isinstance(bitpix, bool) or not isinstance(bitpix, int):
        from astropy.io import fits  # an odd ZBITPIX: formatted as astropy always did

        return [str(fits.Card(*card)) for card in structure] + kept
    # astropy's formatting of these cards: a string padded to 8 inside its quotes, an
    # integer right-aligned in 20 columns.
    return (
        ["XTENSION= 'IMAGE   '".ljust(CARD)]
        + [f"{key:<8}= {value:>20}".ljust(CARD) for key, value in structure[1:]]
        + kept
    )


def iter_hdus(raw: bytes, *, complete: bool = True) -> Iterator[HduInfo]:
    """Walk the HDUs of a FITS file from their headers alone.

    Parameters
    ----------
    raw : bytes
        The (uncompressed) file, or a prefix of it when ``complete=False``.
    complete : bool
        When true a header cut short means a truncated file (`UnreadableFrame`); when false
        the walk stops quietly at the first incomplete header.

    Raises
    ------
    UnreadableFrame
        Not FITS, a corrupt header, or (``complete=True``) a truncated file.
    """
    if not raw.startswith(b"SIMPLE  ="):
        raise UnreadableFrame("not a FITS file (it does not start with a FITS header)")
    offset, index = 0, 0
    while offset < len(raw):
        if index > 0 and not raw.startswith(b"XTENSION", offset):
            return  # padding or junk after the last HDU: legal enough to ignore
        end = _header_end(raw, offset)
        if end is None:
            if complete and index == 0 or complete and raw[offset:].strip(b"\0 "):
                raise UnreadableFrame("the FITS file is truncated (a header is cut short)")
            return
        info = _hdu_at(raw, offset, end, index)
        yield info
        offset = _next_offset(info)
        index += 1


def _hdu_at(raw: bytes | bytearray, offset: int, end: int, index: int) -> HduInfo:
    """The `HduInfo` of the complete header ``raw[offset:end]``, the `index`-th of the file."""
    text = bytes(raw[offset:end])
    if not text.isascii():
        raise UnreadableFrame("the FITS header is corrupt (it holds non-ASCII bytes)")
    cards = _split_cards(text.decode("ascii"))
    try:
        info = _describe(index, cards, end)
    except (*header_errors(), KeyError, TypeError, IndexError) as error:
        reason = str(error).split(",")[0] or type(error).__name__
        raise UnreadableFrame(f"the FITS header is corrupt ({reason})") from None
    if info is None:
        raise UnreadableFrame("not a FITS file (it does not start with a FITS header)")
    return info


def _next_offset(info: HduInfo) -> int:
    """Where the header after `info` starts: its data, padded to whole blocks."""
    size = info.data_end - info.data_start
    return info.data_start + -(-size // BLOCK) * BLOCK


def _split_cards(text: str) -> list[str]:
    cards = [text[i : i + CARD] for i in range(0, len(text), CARD)]
    end = next((i for i, card in enumerate(cards) if _keyword(card) == "END"), len(cards))
    return cards[:end]


def _describe(index: int, cards: list[str], data_start: int) -> HduInfo | None:
    """The `HduInfo` of one header's cards (structural values parsed strictly)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        header = parse_header(cards)
        first = _keyword(cards[0]) if cards else ""
        if first != ("SIMPLE" if index == 0 else "XTENSION"):
            return None
        size = _data_size(header)
        kind, shape, table = "other", (), None
        if index == 0 or str(header.get("XTENSION", "")).strip() == "IMAGE":
            kind, shape = "image", tuple(reversed(_axes(header, "")))
        elif card_value(header, "ZIMAGE") is True and "ZBITPIX" in header:
            kind, table = "compressed", header
            cards = _image_cards(cards, header)
            header = parse_header(cards)
            shape = tuple(reversed(_axes(header, "")))
    return HduInfo(index, header, kind, shape, data_start, data_start + size, tuple(cards), table)


@dataclass(frozen=True)
class Selection:
    """The HDUs holding the image to render, and how they are laid out."""

    hdus: tuple[HduInfo, ...]
    primary: HduInfo
    #: "single": one 2-D image; "amplifiers": several DETSEC-placed extensions;
    #: "cube": a 3-D image (4 amplifiers, or else its first plane)
    layout: str

    @property
    def pixels(self) -> int:
        return sum(hdu.pixels for hdu in self.hdus)


def select_image(hdus: Sequence[HduInfo]) -> Selection:
    """Pick the image to render: the ``SCI`` extension(s), else the first image HDU.

    Several ``SCI`` images that all carry ``DATASEC``, and ``DETSEC`` at least one of them
    (BANZAI places an amplifier without it: `mosaic.amplifier_layout`), are the amplifiers of
    one raw frame. ``BPM``/``ERR`` images and ``CAT`` tables are never chosen.

    Raises
    ------
    UnreadableFrame
        When no HDU holds image data.
    """
    if not hdus:
        raise UnreadableFrame("the FITS file holds no HDU")
    images = [hdu for hdu in hdus if hdu.is_image]
    science = [hdu for hdu in images if hdu.extname == "SCI"]
    candidates = science or [hdu for hdu in images if hdu.extname not in AUXILIARY_EXTNAMES]
    if not candidates:
        raise UnreadableFrame("the FITS file holds no image data (only headers or tables)")
    primary = hdus[0]
    amplifiers = [hdu for hdu in candidates if len(hdu.shape) == 2]
    if (
        len(amplifiers) > 1
        and all(has_section(hdu.header, "DATASEC") for hdu in amplifiers)
        and any(has_section(hdu.header, "DETSEC") for hdu in amplifiers)
    ):
        return Selection(tuple(amplifiers), primary, "amplifiers")
    first = candidates[0]
    return Selection((first,), primary, "single" if len(first.shape) == 2 else "cube")


def merged_header(primary: HduInfo, image: HduInfo) -> fits.Header:
    """The astropy header of `merged_cards` (imports astropy)."""
    return astropy_header(merged_cards(primary, image))


def merged_cards(primary: HduInfo, image: HduInfo) -> list[str]:
    """The image header's cards, then the primary header's other cards (the image's win).

    LCO raw frames keep the full header (OBSTYPE, WCS...) on the primary HDU and only the
    amplifier keywords on the extensions; reduced frames carry most cards in ``SCI``. Built
    from the cards' text, so nothing is parsed until it is looked up (astropy's
    ``Header.update`` parses every card: ~20 ms for a 250-card LCO header).
    """
    if image.index == primary.index:
        return list(image.cards)
    own = {_keyword(card) for card in image.cards} - _REPEATABLE
    merged = list(image.cards)
    dropping = False
    for card in primary.cards:
        keyword = _keyword(card)
        if keyword not in _CONTINUATION:
            dropping = keyword in own or bool(_PRIMARY_STRUCTURE.fullmatch(keyword))
        if not dropping:
            merged.append(card)
    return merged


def _check_size(selection_pixels: int, limits: RenderLimits) -> None:
    if selection_pixels > limits.max_pixels:
        raise FrameTooLarge(
            f"the frame has {selection_pixels:,} pixels, more than the limit of "
            f"{limits.max_pixels:,}"
        )


class _InflatedHdus:
    """Walks the HDUs of a .fits.gz as it is inflated, each header once.

    Refuses an oversized image as soon as its header arrives, and says when the last HDU is
    complete: whatever follows it (padding, junk, a gzip bomb of zeros) is never part of an
    image, so it need not be inflated at all.
    """

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self.offset = 0  # where the next header starts
        self.index = 0
        self.pixels = 0
        self.finished = False

    def feed(self, out: bytearray) -> None:
        """Walk the headers `out` now holds in full (`out` only grows between calls)."""
        while not self.finished:
            if self.index == 0 and len(out) >= BLOCK and not out.startswith(b"SIMPLE  ="):
                raise UnreadableFrame("not a FITS file (it does not start with a FITS header)")
            if self.index > 0:
                if len(out) < self.offset + 8:
                    return
                if not out.startswith(b"XTENSION", self.offset):
                    self.finished = True  # as `iter_hdus`: what follows is ignored
                    return
            end = _header_end(out, self.offset)
            if end is None:
                return
            info = _hdu_at(out, self.offset, end, self.index)
            if info.is_image and info.extname not in AUXILIARY_EXTNAMES:
                self.pixels += info.pixels
                _check_size(self.pixels, self.limits)
            self.offset = _next_offset(info)
            self.index += 1


def gunzip_bounded(data: bytes, limits: RenderLimits) -> bytes:
    """Inflate gzip bytes in memory, refusing oversized images as soon as headers show them.

    The output is also capped (8 bytes per allowed pixel plus room for headers and tables),
    so a gzip bomb cannot exhaust memory, and inflating stops at the end of the last HDU.
    """
    cap = limits.max_pixels * 8 + (64 << 20)
    out = bytearray()
    hdus = _InflatedHdus(limits)
    remaining = memoryview(data)
    try:
        while remaining:
            inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
            chunk = remaining
            while chunk:
                out += inflater.decompress(chunk, _GZIP_CHUNK)
                chunk = inflater.unconsumed_tail
                if len(out) > cap:
                    raise FrameTooLarge("the decompressed .fits.gz file exceeds the size limit")
                hdus.feed(out)
                if hdus.finished:
                    return bytes(out[: hdus.offset])
            out += inflater.flush()
            hdus.feed(out)
            if not inflater.eof:
                raise UnreadableFrame("the .fits.gz file is truncated")
            # Concatenated gzip members are one stream (gzip -c a b > c).
            remaining = memoryview(inflater.unused_data) if inflater.unused_data else b""
            if remaining and bytes(remaining[:2]) != GZIP_MAGIC:
                break
    except zlib.error as error:
        raise UnreadableFrame(f"the .fits.gz file is corrupt ({error})") from None
    return bytes(out)


def gunzip_prefix(data: bytes, limit: int) -> bytes:
    """Inflate at most `limit` bytes of a (possibly truncated) gzip prefix."""
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    try:
        return inflater.decompress(data, limit)
    except zlib.error as error:
        raise UnreadableFrame(f"the .fits.gz file is corrupt ({error})") from None


def read_headers(data: bytes, *, header_limit: int = 8 << 20) -> fits.Header:
    """The merged header (primary + image) from the start of a file; see `render.read_header`."""
    if data[:2] == GZIP_MAGIC:
        data = gunzip_prefix(data, header_limit)
    hdus = list(iter_hdus(data, complete=False))
    if not hdus:
        raise UnreadableFrame("the FITS file is truncated (its first header is cut short)")
    images = [hdu for hdu in hdus if hdu.is_image]
    science = [hdu for hdu in images if hdu.extname == "SCI"]
    candidates = science or [hdu for hdu in images if hdu.extname not in AUXILIARY_EXTNAMES]
    image = candidates[0] if candidates else hdus[0]
    return merged_header(hdus[0], image)


def open_fits(data: bytes, limits: RenderLimits) -> tuple[bytes, Selection]:
    """Validate bytes and pick the image, refusing oversized frames before decompression.

    Returns
    -------
    raw : bytes
        The uncompressed FITS file (``data`` itself unless it was gzipped).
    selection : Selection
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise UnreadableFrame("the frame is not bytes")
    data = bytes(data)
    if not data:
        raise UnreadableFrame("the frame is empty")
    raw = gunzip_bounded(data, limits) if data[:2] == GZIP_MAGIC else data
    hdus = list(iter_hdus(raw))
    selection = select_image(hdus)
    _check_size(selection.pixels, limits)
    for hdu in selection.hdus:
        if hdu.data_end > len(raw):
            raise UnreadableFrame("the FITS file is truncated (its image data is cut short)")
    return raw, selection
