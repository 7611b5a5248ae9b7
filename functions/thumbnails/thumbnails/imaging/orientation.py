"""North up, east left: which quarter turn and mirror put a frame's sky the way it is seen.

LCO's cameras are mounted at different rotations and some see the sky mirrored. The old
renderer, ``fits2image`` (1.0 and later), turns every thumbnail north up, east left from the
frame's CD matrix, snapped to the nearest quarter turn, so that frames from different
telescopes can be compared by eye. This module does the same, agreeing with fits2image 1.1.0
(``fits2image/orientation.py``) on every frame that both can orient, and additionally reads
``PC`` with ``CDELT`` (or the older ``CROTA2``) and celestial axes given latitude first.

Conventions, stated because every bug in this area is a convention bug:

* the renderer's images have row 0 = FITS row 1; the *detector view* shows them with FITS
  row 1 at the bottom, which is how this service showed every frame before;
* in the detector view, x (FITS axis 1) points right and y (FITS axis 2) points up;
* the CD matrix maps a pixel step ``(dx, dy)`` to ``(dxi, deta)`` on the sky: xi toward the
  east (increasing RA), eta toward the north;
* the sky as seen on the sky has north up and east *left*, so a detector view whose CD
  matrix has a negative determinant has the sky's parity, and a positive one is mirrored.

An `Orientation` says how to get from the detector view to the displayed image: mirror left
to right first, then turn counter-clockwise by a number of quarter turns. Spectra (and their
arcs and lamp flats) are never turned: their WCS is a prototype, and "north up" can put a
spectrum on its side.

Pure: numbers in, numbers out; no astropy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..params import ORIENTATIONS

__all__ = [
    "DETECTOR",
    "DETECTOR_NO_WCS",
    "DETECTOR_SPECTRUM",
    "KEYWORDS",
    "NORTH",
    "ORIENTATIONS",
    "Orientation",
    "choose_orientation",
    "orient",
    "oriented_size",
    "sky_matrix",
    "sky_orientation",
]

#: The values of the ``orientation`` request parameter (``params`` owns them: the API's cold
#: start imports it, and must not import numpy through this module).
NORTH, DETECTOR = ORIENTATIONS

#: What was applied (``X-Thumbnail-Orientation``) when north was asked for but not possible.
DETECTOR_NO_WCS = "detector-no-wcs"
DETECTOR_SPECTRUM = "detector-spectrum"

#: OBSTYPEs whose frames carry only a prototype WCS (as fits2image's NON_IMAGING_OBSTYPES).
NON_IMAGING_OBSTYPES = frozenset({"SPECTRUM", "ARC", "LAMPFLAT"})

#: Below this |det| (deg^2 per pixel^2) the matrix is not invertible in any useful sense:
#: fits2image's threshold, so that both give up on the same headers.
MIN_DETERMINANT = 1e-20

#: Every keyword this module reads: a caller can hand over just these.
KEYWORDS = (
    "OBSTYPE",
    "CTYPE1",
    "CTYPE2",
    *(f"CD{i}_{j}" for i in (1, 2) for j in (1, 2)),
    *(f"PC{i}_{j}" for i in (1, 2) for j in (1, 2)),
    "CDELT1",
    "CDELT2",
    "CROTA2",
)

_LONGITUDES = ("RA--", "GLON", "ELON", "SLON", "HLON")
_LATITUDES = ("DEC-", "GLAT", "ELAT", "SLAT", "HLAT")


@dataclass(frozen=True)
class Orientation:
    """How the detector view (FITS row 1 at the bottom) is turned for display.

    Attributes
    ----------
    applied : str
        What the answer says was done (``X-Thumbnail-Orientation``): ``"north"`` (north up,
        east left from the WCS), ``"detector"`` (asked for), ``"detector-no-wcs"`` or
        ``"detector-spectrum"`` (north asked for, but the frame has no usable celestial WCS,
        or is a spectrum, arc or lamp flat).
    mirror : bool
        Mirror left to right first.
    quarter_turns : int
        Then turn counter-clockwise by this many quarter turns (0 to 3).
    """

    applied: str = DETECTOR
    mirror: bool = False
    quarter_turns: int = 0

    def __post_init__(self) -> None:
        if self.quarter_turns not in (0, 1, 2, 3):
            raise ValueError(f"quarter_turns must be 0 to 3, got {self.quarter_turns!r}")

    @property
    def swaps_axes(self) -> bool:
        """True when a quarter turn makes the image's width its height."""
        return self.quarter_turns % 2 == 1


def _number(header: Mapping[str, object], key: str) -> float | None:
    value = header.get(key)
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _ctype(header: Mapping[str, object], axis: int) -> str | None:
    value = header.get(f"CTYPE{axis}")
    return value.strip().upper() if isinstance(value, str) else None


def _linear_part(header: Mapping[str, object]) -> tuple[np.ndarray | None, bool]:
    """``CDi_j``; else ``CDELTi`` times ``PCi_j`` (missing terms: the identity) or ``CROTA2``.

    The flag says whether the matrix came from ``CD``.
    """
    cd = [_number(header, f"CD{i}_{j}") for i in (1, 2) for j in (1, 2)]
    if all(value is not None for value in cd):
        return np.array(cd, dtype=float).reshape(2, 2), True
    cdelt = [_number(header, f"CDELT{i}") for i in (1, 2)]
    if cdelt[0] is None or cdelt[1] is None:
        return None, False
    pc = [_number(header, f"PC{i}_{j}") for i in (1, 2) for j in (1, 2)]
    if any(value is not None for value in pc):
        defaults = (1.0, 0.0, 0.0, 1.0)
        matrix = np.array([d if v is None else v for v, d in zip(pc, defaults, strict=True)])
        return np.diag(cdelt) @ matrix.reshape(2, 2), False
    rho = math.radians(_number(header, "CROTA2") or 0.0)
    # Calabretta & Greisen (2002), eq. 189: CROTA2 turns the axes after CDELT scales them.
    return np.array(
        [
            [cdelt[0] * math.cos(rho), -cdelt[1] * math.sin(rho)],
            [cdelt[0] * math.sin(rho), cdelt[1] * math.cos(rho)],
        ]
    ), False


def sky_matrix(header: Mapping[str, object]) -> np.ndarray | None:
    """The 2x2 matrix from a pixel step ``(dx, dy)`` to ``(east, north)`` on the sky.

    Parameters
    ----------
    header : mapping
        A FITS header, or any mapping with ``get`` holding its `KEYWORDS` (a missing
        keyword: absent or None).

    Returns
    -------
    numpy.ndarray or None
        In degrees per pixel; None when the header has no usable celestial WCS: no ``CD``,
        no ``CDELT`` with celestial ``CTYPE1``/``CTYPE2``, axes that are not a celestial pair
        (a spectrum's wavelength axis, say), or a singular matrix.
    """
    matrix, from_cd = _linear_part(header)
    if matrix is None or not np.all(np.isfinite(matrix)):
        return None
    first, second = _ctype(header, 1), _ctype(header, 2)
    # A CD matrix without CTYPE is taken as celestial, as fits2image does; CDELT alone is
    # common on non-celestial axes, so it counts only with celestial CTYPEs.
    if not from_cd or first is not None or second is not None:
        first, second = first or "", second or ""
        if first.startswith(_LATITUDES) and second.startswith(_LONGITUDES):
            matrix = matrix[::-1]  # latitude first: the rows are (north, east)
        elif not (first.startswith(_LONGITUDES) and second.startswith(_LATITUDES)):
            return None
    if abs(np.linalg.det(matrix)) < MIN_DETERMINANT:
        return None
    return matrix


def sky_orientation(header: Mapping[str, object] | None) -> Orientation:
    """The orientation that shows `header`'s frame north up and east left.

    Parameters
    ----------
    header : mapping or None
        The header holding the rendered image's WCS (for a raw multi-amplifier frame, the
        primary header, which describes the whole detector).

    Returns
    -------
    Orientation
        ``applied == "north"`` with the nearest quarter turn (and a mirror when the detector
        does not see the sky's parity); otherwise the detector view, saying why.
    """
    if header is None:
        return Orientation(DETECTOR_NO_WCS)
    obstype = header.get("OBSTYPE")
    if isinstance(obstype, str) and obstype.strip().upper() in NON_IMAGING_OBSTYPES:
        return Orientation(DETECTOR_SPECTRUM)
    matrix = sky_matrix(header)
    if matrix is None:
        return Orientation(DETECTOR_NO_WCS)
    # North's direction in the detector view: the pixel step that moves due north.
    north = np.linalg.solve(matrix, np.array([0.0, 1.0]))
    mirror = bool(np.linalg.det(matrix) > 0)
    if mirror:
        north[0] = -north[0]
    # North's angle counter-clockwise from up; turning by minus that brings it up. Mirror
    # first: a mirror does not commute with a turn, so the angle is taken after it.
    angle = math.degrees(math.atan2(-north[0], north[1]))
    turns = int(np.rint(-angle / 90.0)) % 4
    return Orientation(NORTH, mirror, turns)


def choose_orientation(requested: str, header: Mapping[str, object] | None) -> Orientation:
    """The orientation to apply for the request's ``orientation`` value.

    Parameters
    ----------
    requested : str
        ``"north"`` or ``"detector"`` (`ORIENTATIONS`).
    header : mapping or None
        As for `sky_orientation`; not read for ``"detector"``.

    Returns
    -------
    Orientation
    """
    if requested == DETECTOR:
        return Orientation(DETECTOR)
    if requested != NORTH:
        raise ValueError(f"orientation must be one of {', '.join(ORIENTATIONS)}: {requested!r}")
    return sky_orientation(header)


def oriented_size(cols: int, rows: int, orientation: Orientation) -> tuple[int, int]:
    """``(width, height)`` of a ``cols`` x ``rows`` image once oriented."""
    return (rows, cols) if orientation.swaps_axes else (cols, rows)


def orient(image: np.ndarray, orientation: Orientation) -> np.ndarray:
    """Turn an image with row 0 = FITS row 1 into display order (row 0 at the top).

    Parameters
    ----------
    image : numpy.ndarray
        2-D, or 3-D with the colour channels last. Meant for the binned image, so that the
        copy made here is small.
    orientation : Orientation

    Returns
    -------
    numpy.ndarray
        C-contiguous, ready for ``PIL.Image.fromarray``; width and height are swapped when
        ``orientation.swaps_axes``. The detector view is ``image[::-1]``.
    """
    view = image[:, ::-1] if orientation.mirror else image
    # Axis 0 points up in the detector view, so numpy's rot90 (counter-clockwise when row 0
    # is at the top) turns it clockwise: a negative count turns it counter-clockwise.
    view = np.rot90(view, -orientation.quarter_turns, axes=(0, 1))
    return np.ascontiguousarray(view[::-1])
