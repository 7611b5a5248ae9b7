"""The WCS of a thumbnail as delivered, and its AVM ``Spatial.*`` XMP packet.

A thumbnail is the frame binned, perhaps cut, turned by quarter turns, mirrored and resized:
every step is an affine map of pixel positions, so the image's WCS is the frame's with the
reference pixel carried through those maps and the CD matrix through their inverse
(`delivered_wcs`). It is written into the image as the Astronomy Visualization Metadata
standard's ``Spatial`` tags (AVM 1.2, the form Aladin Lite and WorldWide Telescope read;
`xmp_packet`), and given to the API's JSON answer (`ImageWcs.as_json`).

Conventions (AVM's, which are FITS's): pixel ``(1, 1)`` is the centre of the image's
*bottom-left* pixel, x to the right, y *up*. A JPEG's rows go top down, so the top row of a
``height``-pixel image is ``y = height``; a web page's top-down pixel row ``r`` (0-based) is
``y = height - r``.

Only the linear part of the frame's WCS is carried (CRVAL, CRPIX, CD, the projection): AVM
cannot hold distortion terms (SIP, TPV), which LCO frames do not use; where a frame has them
the thumbnail's WCS is off by the distortion divided by the bin factor.

Pure: numbers in, bytes out; no astropy, no Pillow.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .orientation import KEYWORDS as ORIENTATION_KEYWORDS
from .orientation import NON_IMAGING_OBSTYPES, Orientation, sky_matrix

__all__ = [
    "KEYWORDS",
    "PROJECTIONS",
    "ImageWcs",
    "delivered_wcs",
    "frame_wcs",
    "xmp_packet",
]

#: Every header keyword this module reads (a `Frame` keeps just these, `Frame.wcs_cards`).
KEYWORDS = (
    *ORIENTATION_KEYWORDS,
    "CRVAL1",
    "CRVAL2",
    "CRPIX1",
    "CRPIX2",
    "RADESYS",
    "RADECSYS",
    "EQUINOX",
    "WCSERR",
)

#: AVM 1.2's ``Spatial.CoordsystemProjection`` values. ``TPV`` and ``-SIP`` are TAN with
#: distortion terms: their linear part is TAN.
PROJECTIONS = ("TAN", "SIN", "ARC", "AIT", "CAR", "CEA")
_PROJECTION_ALIASES = {"TPV": "TAN"}

#: Celestial axis pairs (longitude, latitude) and AVM's ``Spatial.CoordinateFrame`` of each;
#: RA/Dec's frame comes from ``RADESYS`` (or the equinox).
_AXES = {("RA", "DEC"): None, ("GLON", "GLAT"): "GAL", ("ELON", "ELAT"): "ECL"}
_AXES.update({("SLON", "SLAT"): "SGAL"})
_RADESYS = ("ICRS", "FK5", "FK4")

#: A Scale and Rotation stand for the CD matrix when they rebuild it to this fraction of the
#: pixel scale (else the deprecated ``Spatial.CDMatrix`` is written as well).
_CONFORMAL_TOLERANCE = 1e-9

_NAMESPACE = "http://www.communicatingastronomy.org/avm/1.0/"


@dataclass(frozen=True)
class ImageWcs:
    """A celestial WCS in FITS convention (1-based pixels, y up), without distortion.

    Attributes
    ----------
    ctype : (str, str)
        Longitude axis first, e.g. ``("RA---TAN", "DEC--TAN")``.
    crpix : (float, float)
        The reference pixel (FITS: ``(1, 1)`` is the centre of the bottom-left pixel).
    crval : (float, float)
        The sky position there, degrees.
    cd : ((float, float), (float, float))
        ``CDi_j``: degrees of (longitude, latitude) per pixel step in (x, y).
    width, height : int
        The image's size in pixels (0 for a frame's WCS before it is delivered).
    frame : str
        AVM's ``Spatial.CoordinateFrame``: ``ICRS``, ``FK5``, ``FK4``, ``GAL``, ``ECL``,
        ``SGAL``.
    equinox : str
        AVM's ``Spatial.Equinox``, e.g. ``J2000``.
    """

    ctype: tuple[str, str]
    crpix: tuple[float, float]
    crval: tuple[float, float]
    cd: tuple[tuple[float, float], tuple[float, float]]
    width: int = 0
    height: int = 0
    frame: str = "ICRS"
    equinox: str = "J2000"

    @property
    def projection(self) -> str:
        """The projection's three letters (``TAN``...)."""
        code = self.ctype[0][5:8]
        return _PROJECTION_ALIASES.get(code, code)

    def as_json(self) -> dict[str, object]:
        """The API's ``wcs`` object: ``ctype``, ``crpix``, ``crval``, ``cd``, ``width``,
        ``height`` (FITS convention, see the module's docstring)."""
        return {
            "ctype": list(self.ctype),
            "crpix": [_rounded(v) for v in self.crpix],
            "crval": [_rounded(v) for v in self.crval],
            "cd": [[_rounded(v) for v in row] for row in self.cd],
            "width": self.width,
            "height": self.height,
        }

    def to_metadata(self) -> str:
        """`as_json` as compact ASCII JSON, for S3 user metadata (about 250 bytes)."""
        return json.dumps(self.as_json(), separators=(",", ":"))


def _rounded(value: float) -> float:
    # 12 significant digits: a CD term of 1e-3 deg keeps 1e-15 deg, CRVAL 1e-10 deg, far
    # below any pixel; shorter packets and metadata, and the JSON answer on a hit (from the
    # metadata) equals the one on a miss exactly.
    return float(f"{value:.12g}")


def _number(cards: Mapping[str, object], key: str) -> float | None:
    value = cards.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _axis_pair(ctype1: str, ctype2: str) -> tuple[str | None, bool] | None:
    """The AVM frame of a celestial CTYPE pair, and whether latitude comes first; None if
    the pair is not celestial."""
    first, second = ctype1[:4].rstrip("-"), ctype2[:4].rstrip("-")
    for (lon, lat), frame in _AXES.items():
        if (first, second) == (lon, lat):
            return frame, False
        if (first, second) == (lat, lon):
            return frame, True
    return None


def frame_wcs(cards: Mapping[str, object]) -> ImageWcs | None:
    """The linear celestial WCS of a frame's header, or None when it has no usable one.

    Parameters
    ----------
    cards : mapping
        The frame's header, or any mapping with ``get`` holding its `KEYWORDS` (missing: None).

    Returns
    -------
    ImageWcs or None
        Longitude axis first (a header with latitude first is swapped); None for no
        ``CTYPE``/``CRVAL``/``CRPIX``/matrix, axes that are not a celestial pair, a
        projection AVM does not know (`PROJECTIONS`), a singular matrix, a spectrum's
        prototype WCS, or a failed astrometric solution (BANZAI's ``WCSERR`` not 0).
    """
    error = cards.get("WCSERR")
    if isinstance(error, int | float) and not isinstance(error, bool) and error != 0:
        return None
    obstype = cards.get("OBSTYPE")
    if isinstance(obstype, str) and obstype.strip().upper() in NON_IMAGING_OBSTYPES:
        return None
    ctypes = [cards.get(f"CTYPE{axis}") for axis in (1, 2)]
    if not all(isinstance(c, str) for c in ctypes):
        return None
    ctype1, ctype2 = (str(c).strip().upper() for c in ctypes)
    pair = _axis_pair(ctype1, ctype2)
    matrix = sky_matrix(cards)  # rows (longitude, latitude), whichever axis is first
    crval = [_number(cards, f"CRVAL{axis}") for axis in (1, 2)]
    crpix = [_number(cards, f"CRPIX{axis}") for axis in (1, 2)]
    if pair is None or matrix is None or None in crval or None in crpix:
        return None
    frame, latitude_first = pair
    if latitude_first:
        ctype1, ctype2 = ctype2, ctype1
        crval = crval[::-1]
    projection = ctype1[5:8]
    if _PROJECTION_ALIASES.get(projection, projection) not in PROJECTIONS:
        return None
    if ctype2[5:8] != projection:
        return None
    equinox = _number(cards, "EQUINOX")
    if frame is None:  # RA/Dec
        radesys = cards.get("RADESYS") or cards.get("RADECSYS")
        radesys = radesys.strip().upper() if isinstance(radesys, str) else ""
        if radesys not in _RADESYS:
            radesys = "FK4" if equinox is not None and equinox < 1984.0 else "ICRS"
        frame = radesys
    if equinox is None:
        equinox = 1950.0 if frame == "FK4" else 2000.0
    # Only the linear part: the projection's code, without "-SIP" or other suffixes.
    return ImageWcs(
        ctype=(ctype1[:8], ctype2[:8]),
        crpix=(crpix[0], crpix[1]),  # type: ignore[arg-type]
        crval=(crval[0] % 360.0, crval[1]),  # type: ignore[operator]
        cd=((matrix[0, 0], matrix[0, 1]), (matrix[1, 0], matrix[1, 1])),
        frame=frame,
        equinox=f"B{equinox:g}" if frame == "FK4" else f"J{equinox:g}",
    )


def _display_map(
    binned: tuple[int, int], orientation: Orientation
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """The affine map from a binned image's 0-based ``(column, row)`` to the oriented image's
    0-based ``(column, row from the top)`` (`orientation.orient`), and that image's
    ``(width, height)``.

    Worked in the detector view (row 0 at the bottom, y up): a mirror takes x to
    ``width - 1 - x``, a counter-clockwise quarter turn of a ``w`` x ``h`` image takes
    ``(x, y)`` to ``(h - 1 - y, x)``; the shown image's rows then count from the top.
    """
    rows, cols = binned
    matrix, offset = np.eye(2), np.zeros(2)
    width, height = cols, rows
    if orientation.mirror:
        matrix = np.array([[-1.0, 0.0], [0.0, 1.0]]) @ matrix
        offset = np.array([width - 1.0, 0.0])
    turn = np.array([[0.0, -1.0], [1.0, 0.0]])
    for _ in range(orientation.quarter_turns):
        matrix = turn @ matrix
        offset = turn @ offset + np.array([height - 1.0, 0.0])
        width, height = height, width
    flip = np.array([[1.0, 0.0], [0.0, -1.0]])
    return flip @ matrix, flip @ offset + np.array([0.0, height - 1.0]), (width, height)


def delivered_wcs(
    wcs: ImageWcs,
    *,
    factor: int,
    binned: tuple[int, int],
    orientation: Orientation,
    size: tuple[int, int],
) -> ImageWcs:
    """The WCS of the thumbnail made from a frame (or a cutout's frame) with WCS `wcs`.

    Parameters
    ----------
    wcs : ImageWcs
        The frame's (`frame_wcs`; a cutout's frame has its reference pixel moved already).
    factor : int
        The bin factor used: binned pixel ``j`` averages frame pixels ``j f .. j f + f - 1``.
    binned : (rows, cols)
        The binned image's shape (row 0 = FITS row 1).
    orientation : Orientation
        How the binned image was turned (`orientation.orient`).
    size : (width, height)
        The delivered image's, to which the oriented binned image was resized (Pillow:
        output pixel ``i``'s centre samples input ``(i + 0.5) in / out - 0.5``).

    Returns
    -------
    ImageWcs
        In the delivered image's pixels, FITS convention (bottom row is y = 1).
    """
    # Frame pixel (0-based) -> binned pixel: the centre of block j is j f + (f - 1) / 2.
    matrix = np.eye(2) / factor
    offset = np.full(2, -(factor - 1) / (2.0 * factor))
    shown_matrix, shown_offset, (shown_w, shown_h) = _display_map(binned, orientation)
    matrix, offset = shown_matrix @ matrix, shown_matrix @ offset + shown_offset
    # Resampling to the delivered size (0-based centres).
    out_w, out_h = size
    stretch = np.diag([out_w / shown_w, out_h / shown_h])
    matrix = stretch @ matrix
    offset = stretch @ (offset + 0.5) - 0.5
    # 0-based, rows from the top -> FITS: x + 1, y = height - row.
    fits = np.array([[1.0, 0.0], [0.0, -1.0]])
    matrix = fits @ matrix
    offset = fits @ offset + np.array([1.0, out_h])
    crpix = matrix @ (np.asarray(wcs.crpix) - 1.0) + offset
    cd = np.asarray(wcs.cd) @ np.linalg.inv(matrix)
    return ImageWcs(
        ctype=wcs.ctype,
        crpix=(float(crpix[0]), float(crpix[1])),
        crval=wcs.crval,
        cd=((float(cd[0, 0]), float(cd[0, 1])), (float(cd[1, 0]), float(cd[1, 1]))),
        width=out_w,
        height=out_h,
        frame=wcs.frame,
        equinox=wcs.equinox,
    )


def scale_rotation(cd) -> tuple[float, float, float, bool]:
    """AVM's ``Spatial.Scale`` and ``Spatial.Rotation`` of a CD matrix (Calabretta & Greisen
    2002, section 6.2: ``CDELTi`` and ``CROTA2``), and whether they rebuild it exactly.

    The second scale is positive; the first is negative for the sky's parity (east left
    when north is up) and positive for a mirrored image, which AVM 1.2 readers may take as
    negative regardless: `xmp_packet` then writes the CD matrix too.
    """
    (cd11, cd12), (cd21, cd22) = cd
    rho = math.atan2(-cd12, cd22)
    scale2 = math.hypot(cd12, cd22)
    scale1 = cd11 * math.cos(rho) + cd21 * math.sin(rho)
    rebuilt = (
        (scale1 * math.cos(rho), -scale2 * math.sin(rho)),
        (scale1 * math.sin(rho), scale2 * math.cos(rho)),
    )
    error = max(abs(a - b) for row, again in zip(cd, rebuilt, strict=True)
                for a, b in zip(row, again, strict=True))  # fmt: skip
    exact = error <= _CONFORMAL_TOLERANCE * scale2 and scale1 < 0.0
    return scale1, scale2, math.degrees(rho) % 360.0, exact


def _seq(name: str, values) -> str:
    items = "".join(f"<rdf:li>{_rounded(value)!r}</rdf:li>" for value in values)
    return f"<avm:Spatial.{name}><rdf:Seq>{items}</rdf:Seq></avm:Spatial.{name}>"


def _tag(name: str, value: str) -> str:
    return f"<avm:Spatial.{name}>{value}</avm:Spatial.{name}>"


def xmp_packet(wcs: ImageWcs) -> bytes:
    """The XMP packet of AVM 1.2 ``Spatial.*`` tags for a delivered image's WCS.

    Written by hand (no XMP library at run time), compact: no padding, no whitespace, floats
    rounded to 12 significant digits as in the JSON answer (`ImageWcs.as_json`).
    ``Spatial.CDMatrix`` (deprecated since AVM 1.1 but read by pyavm before Scale and
    Rotation) is added only when Scale and Rotation cannot stand for the matrix: a mirrored
    image (``orientation=detector`` of a mirrored camera), or a skewed matrix.

    Parameters
    ----------
    wcs : ImageWcs
        From `delivered_wcs` (its width and height are ``Spatial.ReferenceDimension``).

    Returns
    -------
    bytes
        UTF-8, ``<?xpacket begin=...?> ... <?xpacket end="r"?>`` (about 950 bytes).
    """
    scale1, scale2, rotation, exact = scale_rotation(wcs.cd)
    tags = [
        _tag("CoordinateFrame", wcs.frame),
        _tag("Equinox", wcs.equinox),
        _seq("ReferenceValue", wcs.crval),
        _seq("ReferenceDimension", (float(wcs.width), float(wcs.height))),
        _seq("ReferencePixel", wcs.crpix),
        _seq("Scale", (scale1, scale2)),
        _tag("Rotation", repr(_rounded(rotation))),
        _tag("CoordsystemProjection", wcs.projection),
        _tag("Quality", "Full"),
    ]
    if not exact:
        tags.append(_seq("CDMatrix", (value for row in wcs.cd for value in row)))
    body = "".join(tags)
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:avm="{_NAMESPACE}">'
        f"<avm:MetadataVersion>1.2</avm:MetadataVersion>{body}"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="r"?>'
    ).encode()
