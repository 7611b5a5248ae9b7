"""``format=fits``: the pixels themselves as a FITS file, with a WCS that is right for them.

Two products, both one 2-D primary HDU:

* a **cutout** (`fits_cutout`): the frame's own pixels in the cutout's window, not resampled,
  in the frame's data type (as astropy reads it, after ``BSCALE``/``BZERO``: float32 for an
  fpacked reduced frame); only the row tiles the window touches are decoded (`pixels.read_rows`,
  the same row decoder as image cutouts). The WCS is the frame's with ``CRPIX`` moved by the
  window; SIP and ``PV`` distortion cards are kept as they are (both are functions of the
  offset from ``CRPIX``, which the move leaves unchanged). Padding outside the frame is NaN
  (float) or ``BLANK`` (integer). Not turned north up nor mirrored: FITS readers orient by the
  WCS.
* a **binned** whole frame (`fits_binned`): the float32 block average a thumbnail of the same
  box is made from (`Frame.binned`, without the display clip of hot columns, which is a display
  choice), with the WCS scaled to the bin factor ``f``: ``CD``/``CDELT`` times ``f``, ``CRPIX``
  to ``(CRPIX - 0.5) / f + 0.5`` (binned pixel 1 covers pixels 1 to ``f``), and SIP rescaled
  exactly: the offset from ``CRPIX`` is ``f`` times the binned one, so a term of order
  ``p + q`` is multiplied by ``f ** (p + q - 1)``.

Raw multi-amplifier frames give their assembled, bias-subtracted detector (float32, `mosaic`),
with the primary header's WCS, which describes the detector.

The header keeps the cards a user needs (`KEPT_CARDS`), the source's basename and version
(`SOURCE_CARDS`, passed in by the caller: this module knows no archive) and ``HISTORY`` cards
saying how the data were cut or binned. Pure: bytes in, bytes out.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..params import RenderLimits
from ..positions import Cutout
from .cards import astropy_header
from .cutout import assembled, locate, open_for_cutout, single_image
from .mosaic import frame_layout
from .pixels import read_arrays, read_rows

__all__ = ["CONTENT_TYPE", "FitsProduct", "fits_binned", "fits_cutout", "output_header"]

CONTENT_TYPE = "application/fits"
#: Descriptive cards copied from the frame's header when present.
KEPT_CARDS = (
    "OBJECT",
    "DATE-OBS",
    "MJD-OBS",
    "EXPTIME",
    "FILTER",
    "INSTRUME",
    "TELESCOP",
    "SITEID",
    "ORIGIN",
    "BUNIT",
    "L1ZP",
    "RLEVEL",
)
#: Where the source's basename and version (the MD5 the cache key names) are written.
SOURCE_CARDS = ("SRCBASE", "SRCVER")
#: The primary celestial WCS of axes 1 and 2, and its distortion: SIP (``A_``, ``B_``,
#: ``AP_``, ``BP_``) and ``PV``/``PS`` parameters (TPV, ZPN...). Alternate WCSs (a trailing
#: letter), higher axes and lookup-table distortions (``CPDIS``/``D2IM``, which point to
#: extensions not copied) are left out.
_WCS_CARD = re.compile(
    r"^(CTYPE[12]|CUNIT[12]|CRPIX[12]|CRVAL[12]|CDELT[12]|CROTA[12]|CD[12]_[12]|PC[12]_[12]"
    r"|P[VS][12]_\d{1,2}|LONPOLE|LATPOLE|RADESYS|RADECSYS|EQUINOX|EPOCH|MJDREF|DATEREF"
    r"|A_ORDER|B_ORDER|AP_ORDER|BP_ORDER|A_DMAX|B_DMAX|A_\d_\d|B_\d_\d|AP_\d_\d|BP_\d_\d)$"
)
_SIP_TERM = re.compile(r"^(A|B|AP|BP)_(\d)_(\d)$")


@dataclass(frozen=True)
class FitsProduct:
    """A written FITS file and what the service reports of it.

    Attributes
    ----------
    data : bytes
        The FITS file.
    width, height : int
        ``NAXIS1``, ``NAXIS2``.
    padded : bool or None
        Cutouts: True when part of the window fell outside the frame; None for whole frames.
    """

    data: bytes
    width: int
    height: int
    padded: bool | None = None


def output_header(
    header,
    wcs_header,
    *,
    crpix: Iterable[float] | None = None,
    factor: int = 1,
    source: tuple[str | None, str | None] = (None, None),
    history: Iterable[str] = (),
):
    """The output's header: the kept cards, the WCS moved or scaled, provenance, history.

    Parameters
    ----------
    header : CardHeader or astropy.io.fits.Header
        The frame's (merged) header, for the descriptive cards.
    wcs_header : CardHeader or astropy.io.fits.Header
        The header whose WCS describes the pixels cut or binned (the primary header of a
        raw mosaic, else `header`).
    crpix : (x0, y0), optional
        A cutout's first pixel (0-based) in the frame: ``CRPIX`` is moved by it.
    factor : int
        A bin factor: ``CRPIX``, ``CD``/``CDELT`` and SIP are scaled to it.
    source : (basename, version)
        Written to `SOURCE_CARDS` when given.
    history : iterable of str
        ``HISTORY`` lines.

    Returns
    -------
    astropy.io.fits.Header
    """
    from astropy.io import fits

    header, wcs_header = astropy_header(header), astropy_header(wcs_header)
    out = fits.Header()
    for key in KEPT_CARDS:
        if key in header:
            out.append(header.cards[key])
    offset = (0.0, 0.0) if crpix is None else tuple(float(v) for v in crpix)
    for card in wcs_header.cards:
        key = card.keyword
        if not _WCS_CARD.match(key) or key in out:
            continue
        value = card.value
        if not isinstance(value, str | bool) and isinstance(value, int | float):
            value = _moved(key, float(value), offset, factor)
        out.append(fits.Card(key, value, card.comment))
    for key, value in zip(SOURCE_CARDS, source, strict=True):
        if value:
            out[key] = (value, "basename" if key == "SRCBASE" else "version (MD5) of the source")
    for line in history:
        out.add_history(line)
    return out


def _moved(key: str, value: float, offset: tuple[float, float], factor: int) -> float:
    """A numeric WCS card's value for pixels cut at `offset` (0-based) and binned by `factor`."""
    if key in ("CRPIX1", "CRPIX2"):
        value -= offset[0] if key == "CRPIX1" else offset[1]
        # Binned pixel j (1-based) averages pixels (j - 1) f + 1 .. j f: its centre is pixel
        # j f - (f - 1) / 2, so pixel p is binned pixel (p - 0.5) / f + 0.5.
        return (value - 0.5) / factor + 0.5
    if key.startswith(("CD1_", "CD2_", "CDELT")):
        return value * factor
    if key in ("A_DMAX", "B_DMAX"):
        return value / factor  # a distortion in pixels: in binned pixels, f times fewer
    term = _SIP_TERM.match(key)
    if term and factor != 1:
        # The offset from CRPIX is f times the binned one (u = f u'), and the distortion is
        # in pixels: A'(u', v') = A(f u', f v') / f, term by term.
        order = int(term.group(2)) + int(term.group(3))
        return value * float(factor) ** (order - 1)
    return value


def _blank(dtype: np.dtype) -> tuple[int, int]:
    """``(fill, BLANK)`` for integer padding: the value stored in the array and the card.

    astropy stores unsigned 16/32/64-bit integers as signed ones with ``BZERO`` 2**(n-1), and
    ``BLANK`` names the stored value: the array's 0 is stored as the smallest signed value.
    """
    info = np.iinfo(dtype)
    if info.min < 0:
        return int(info.min), int(info.min)
    if dtype.itemsize == 1:
        return 0, 0  # BITPIX 8 is unsigned itself
    return 0, -(1 << (8 * dtype.itemsize - 1))


def _write(data: np.ndarray, header, blank: int | None) -> bytes:
    from astropy.io import fits

    hdu = fits.PrimaryHDU(data=data, header=header)
    if blank is not None:
        hdu.header.set("BLANK", blank, "stored value of pixels outside the frame", after="NAXIS2")
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # astropy warns about BLANK with BZERO; both are meant
        # No CHECKSUM: its comment holds the time of writing, and equal requests should
        # give equal bytes.
        hdu.writeto(buffer)
    return buffer.getvalue()


def fits_cutout(
    data: bytes,
    cutout: Cutout,
    *,
    limits: RenderLimits,
    source: tuple[str | None, str | None] = (None, None),
) -> FitsProduct:
    """The FITS file of one frame's cutout: its own pixels and its WCS moved.

    Parameters
    ----------
    data : bytes
        The whole file (``.fits``, ``.fits.fz`` or ``.fits.gz``).
    cutout : SkyCutout or PixelCutout
        Located as image cutouts are (`cutout.locate`): the same request, the same window.
    limits : RenderLimits
    source : (basename, version)
        Written to the header (`SOURCE_CARDS`).

    Returns
    -------
    FitsProduct

    Raises
    ------
    NoUsableWcs, CutoutOutsideFrame, InvalidParameter
        As `cutout.locate`.
    FrameTooLarge, UnreadableFrame
        As `render.load_frame`.
    """
    raw, selection, header = open_for_cutout(data, limits)
    if single_image(selection, header):
        info = selection.hdus[0]
        shape = (info.shape[0], info.shape[1])
        wcs_header = header
        window, _wcs = locate(cutout, wcs_header, shape, limits)
        inside = window.within(shape)
        # Rows decoded by the row decoder, only the tiles holding them (`rice.TileRows`).
        part = read_rows(raw, info, inside.y0, inside.y1)[:, inside.x0 : inside.x1]
        how = "The frame's own pixels and data type."
    else:
        # A raw frame: its readouts decoded and placed, bias subtracted (float32), then cut.
        layout = frame_layout(selection, read_arrays(raw, selection), header)
        shape = layout.shape
        amplifiers = selection.layout == "amplifiers"
        # The primary header's WCS describes the assembled detector (as `render.load_frame`).
        wcs_header = selection.primary.header if amplifiers else header
        window, _wcs = locate(cutout, wcs_header, shape, limits)
        inside = window.within(shape)
        part = assembled(layout, inside)
        how = "Raw frame: the assembled, bias-subtracted detector (float32)."
    dtype = part.dtype.newbyteorder("=")
    blank = None
    if inside == window:
        image = np.array(part, dtype=dtype)
    else:
        fill: float | int = np.nan
        if dtype.kind in "iu":
            fill, blank = _blank(dtype)
        image = np.full(window.shape, fill, dtype=dtype)
        box = inside.relative_to(window)
        image[box.y0 : box.y1, box.x0 : box.x1] = part
    del part, raw
    rows, cols = window.shape
    history = [
        f"Cutout of {cols} x {rows} pixels, not resampled: frame pixels",
        f"x {window.x0 + 1} to {window.x1}, y {window.y0 + 1} to {window.y1} (1-based).",
        how,
        f"WCS: CRPIX moved by ({-window.x0}, {-window.y0}); distortion kept as it is.",
    ]
    if inside != window:
        padding = "NaN" if blank is None else f"BLANK ({blank})"
        history.append(f"Pixels outside the frame are {padding}.")
    out = output_header(
        header, wcs_header, crpix=(window.x0, window.y0), source=source, history=history
    )
    return FitsProduct(_write(image, out, blank), cols, rows, inside != window)


def fits_binned(
    frame,
    factor: int,
    *,
    source: tuple[str | None, str | None] = (None, None),
) -> FitsProduct:
    """The FITS file of a whole frame block-averaged by `factor`, its WCS scaled to match.

    Parameters
    ----------
    frame : Frame
        A whole frame (`render.load_frame` without a cutout).
    factor : int
        The bin factor a thumbnail of the requested box uses (`render._geometry`); a raw
        mosaic may bin by a nearby factor that tiles its amplifiers (`Frame.binned`), which
        is the one the WCS is scaled by.
    source : (basename, version)
        Written to the header (`SOURCE_CARDS`).

    Returns
    -------
    FitsProduct
    """
    image, used = frame.binned(factor, None)
    rows, cols = image.shape
    full_rows, full_cols = frame.shape
    wcs_header = frame.wcs_header if frame.wcs_header is not None else frame.header
    history = [
        f"Binned {used} x {used}: the mean of each block of the frame's",
        f"{full_cols} x {full_rows} pixels (NaN left out), float32; the last",
        f"{full_cols - cols * used} columns and {full_rows - rows * used} rows left out.",
        f"WCS scaled: CRPIX -> (CRPIX - 0.5) / {used} + 0.5, CD and CDELT",
        f"times {used}, SIP terms of order n times {used}**(n - 1).",
    ]
    if len(frame.layout.boxes) > 1:
        history.insert(0, "Raw frame: amplifiers assembled on the detector, bias subtracted.")
    out = output_header(frame.header, wcs_header, factor=used, source=source, history=history)
    return FitsProduct(_write(np.asarray(image, dtype=np.float32), out, None), cols, rows)
