"""A frame's celestial WCS, for placing sky positions on its pixels (cutouts).

LCO frames carry a plain gnomonic (``RA---TAN``/``DEC--TAN``) WCS with a CD (or PC and CDELT)
matrix. That case is computed here directly (the gnomonic projection is a few lines of
vector algebra, Calabretta & Greisen 2002, section 5.1.3) because ``astropy.wcs`` imports
``astropy.io.fits``, which costs a Lambda cold start ~0.3 s of CPU: more than a whole
cutout. Every other WCS (SIP distortion, other projections, ``CROTA``, ``PV`` or ``LONPOLE``
cards, galactic axes...) goes to astropy's ``all_world2pix``/``all_pix2world``.

Pixel coordinates here are 0-based (numpy: the centre of the first pixel is 0.0).
"""

from __future__ import annotations

import math
import re
import warnings
from typing import Protocol

import numpy as np

from .cards import card_value

#: The cards a celestial WCS is made of (WCS papers I-III, SIP): astropy is handed only
#: these, not the ~250 cards of an LCO header.
_WCS_KEYWORD = re.compile(
    r"(WCSAXES|NAXIS|CTYPE|CUNIT|CRVAL|CRPIX|CDELT|CROTA|CD\d|PC\d|PV\d|PS\d|LONPOLE|LATPOLE"
    r"|RADESYS|RADECSYS|EQUINOX|EPOCH|A_|B_|AP_|BP_)"
)
_OTHER_TAN_CARDS = re.compile(r"(PV\d|PS\d|CROTA|A_|B_|AP_|BP_)")


class NoCelestialWcs(ValueError):
    """The header has no celestial WCS that places sky positions on its pixels."""


class SkyWcs(Protocol):
    """What cutouts need of a celestial WCS (0-based pixels, degrees)."""

    def world_to_pixel(self, ra, dec) -> tuple[np.ndarray, np.ndarray]: ...

    def pixel_to_world(self, x, y) -> tuple[np.ndarray, np.ndarray]: ...


def _unit_vectors(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    ra, dec = np.radians(ra), np.radians(dec)
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])


class TanWcs:
    """A gnomonic WCS: ``CRVAL``, ``CRPIX`` and the linear matrix (CD, or PC x CDELT).

    The intermediate coordinates ``(x, y)`` of FITS's TAN with the default ``LONPOLE`` of
    180 degrees are the standard coordinates (xi towards east, eta towards north) of the
    point, so a sky direction ``u`` projects to ``(u.east, u.north) / (u.centre)``.
    """

    def __init__(self, crval: tuple[float, float], crpix: tuple[float, float], matrix) -> None:
        self.crpix = np.asarray(crpix, dtype=np.float64)
        self.matrix = np.asarray(matrix, dtype=np.float64)
        if not np.all(np.isfinite(self.matrix)) or abs(np.linalg.det(self.matrix)) < 1e-30:
            raise NoCelestialWcs("its CD matrix is singular")
        self.inverse = np.linalg.inv(self.matrix)
        ra0, dec0 = math.radians(crval[0]), math.radians(crval[1])
        self.centre = _unit_vectors(np.array(crval[0]), np.array(crval[1]))
        self.east = np.array([-math.sin(ra0), math.cos(ra0), 0.0])
        self.north = np.array(
            [-math.sin(dec0) * math.cos(ra0), -math.sin(dec0) * math.sin(ra0), math.cos(dec0)]
        )

    def world_to_pixel(self, ra, dec) -> tuple[np.ndarray, np.ndarray]:
        """0-based pixel positions of sky positions (NaN on the far side of the sky)."""
        u = _unit_vectors(np.asarray(ra, np.float64), np.asarray(dec, np.float64))
        depth = np.tensordot(self.centre, u, axes=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            depth = np.where(depth > 1e-9, depth, np.nan)
            xi = np.degrees(np.tensordot(self.east, u, axes=1) / depth)
            eta = np.degrees(np.tensordot(self.north, u, axes=1) / depth)
        dx = self.inverse[0, 0] * xi + self.inverse[0, 1] * eta
        dy = self.inverse[1, 0] * xi + self.inverse[1, 1] * eta
        return dx + self.crpix[0] - 1.0, dy + self.crpix[1] - 1.0

    def pixel_to_world(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Sky positions (degrees) of 0-based pixel positions."""
        dx = np.asarray(x, np.float64) + 1.0 - self.crpix[0]
        dy = np.asarray(y, np.float64) + 1.0 - self.crpix[1]
        shape = np.broadcast(dx, dy).shape
        dx, dy = np.broadcast_to(dx, shape).ravel(), np.broadcast_to(dy, shape).ravel()
        xi = np.radians(self.matrix[0, 0] * dx + self.matrix[0, 1] * dy)
        eta = np.radians(self.matrix[1, 0] * dx + self.matrix[1, 1] * dy)
        v = self.centre[:, None] + self.east[:, None] * xi + self.north[:, None] * eta
        ra = np.degrees(np.arctan2(v[1], v[0])) % 360.0
        dec = np.degrees(np.arcsin(v[2] / np.linalg.norm(v, axis=0)))
        return ra.reshape(shape), dec.reshape(shape)


class AstropyWcs:
    """Any other celestial WCS, through ``astropy.wcs`` (distortions included)."""

    def __init__(self, header) -> None:
        from astropy import wcs as fits_wcs
        from astropy.io import fits

        from .cards import astropy_header

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # astropy fixes non-standard cards, noisily
                full = astropy_header(header)
                cards = fits.Header([c for c in full.cards if _WCS_KEYWORD.match(c.keyword)])
                celestial = fits_wcs.WCS(cards).celestial
        except (ValueError, KeyError, TypeError, MemoryError) as error:
            raise NoCelestialWcs(f"it cannot be read ({error})") from None
        if not celestial.has_celestial or celestial.naxis != 2:
            raise NoCelestialWcs("it has no celestial axes")
        if "RA" not in celestial.wcs.ctype[celestial.wcs.lng].upper():
            raise NoCelestialWcs(f"its axes are {', '.join(celestial.wcs.ctype)}, not RA/Dec")
        self.wcs = celestial

    def _order(self, a, b):
        world = [None, None]
        world[self.wcs.wcs.lng], world[self.wcs.wcs.lat] = a, b
        return world

    def world_to_pixel(self, ra, dec) -> tuple[np.ndarray, np.ndarray]:
        from astropy.wcs import NoConvergence

        try:
            x, y = self.wcs.all_world2pix(*self._order(np.asarray(ra), np.asarray(dec)), 0)
        except (ValueError, NoConvergence):
            nan = np.full(np.shape(ra), np.nan)
            return nan, nan.copy()
        return np.asarray(x), np.asarray(y)

    def pixel_to_world(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        world = self.wcs.all_pix2world(np.asarray(x), np.asarray(y), 0)
        return np.asarray(world[self.wcs.wcs.lng]) % 360.0, np.asarray(world[self.wcs.wcs.lat])


def _number(header, key: str, default: float | None = None) -> float | None:
    value = card_value(header, key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _plain_tan(header) -> TanWcs | None:
    """The `TanWcs` of a header whose WCS is exactly a plain RA/Dec TAN, else None."""
    ctypes = (card_value(header, "CTYPE1"), card_value(header, "CTYPE2"))
    if ctypes != ("RA---TAN", "DEC--TAN"):
        return None
    if _number(header, "LONPOLE", 180.0) != 180.0:
        return None
    for key in ("CUNIT1", "CUNIT2"):
        if str(card_value(header, key, "deg")).strip().lower() not in ("deg", ""):
            return None
    if hasattr(header, "keys"):  # an astropy Header
        names = list(header.keys())
    else:  # a CardHeader
        names = [card[:8].rstrip() for card in header.cards]
    if any(_OTHER_TAN_CARDS.match(name) for name in names):
        return None
    crval = (_number(header, "CRVAL1"), _number(header, "CRVAL2"))
    crpix = (_number(header, "CRPIX1"), _number(header, "CRPIX2"))
    if None in crval or None in crpix:
        return None
    if any(f"CD{i}_{j}" in header for i in (1, 2) for j in (1, 2)):
        matrix = [[_number(header, f"CD{i}_{j}", 0.0) for j in (1, 2)] for i in (1, 2)]
    else:
        cdelt = [_number(header, f"CDELT{i}", 1.0) for i in (1, 2)]
        pc = [[_number(header, f"PC{i}_{j}", float(i == j)) for j in (1, 2)] for i in (1, 2)]
        if None in cdelt:
            return None
        matrix = [[cdelt[i] * pc[i][j] if pc[i][j] is not None else None for j in (0, 1)]
                  for i in (0, 1)]  # fmt: skip
    if any(value is None for row in matrix for value in row):
        return None
    return TanWcs(crval, crpix, matrix)  # type: ignore[arg-type]


def celestial_wcs(header) -> SkyWcs:
    """The celestial WCS of a header (a `CardHeader` or an astropy ``Header``).

    Raises
    ------
    NoCelestialWcs
        No WCS, one that is not RA/Dec, or (BANZAI's ``WCSERR`` not 0) one whose
        astrometric solution failed; the message says which.
    """
    error = card_value(header, "WCSERR", 0)
    if isinstance(error, int | float) and not isinstance(error, bool) and error != 0:
        raise NoCelestialWcs(f"its astrometric solution failed (WCSERR = {error})")
    if "CTYPE1" not in header or "CTYPE2" not in header:
        raise NoCelestialWcs("it has no CTYPE1/CTYPE2 cards")
    tan = _plain_tan(header)
    return tan if tan is not None else AstropyWcs(header)


def pixel_scale(wcs: SkyWcs, x: float, y: float) -> float:
    """The side of a pixel at ``(x, y)`` in arcseconds (the square root of its area)."""
    ra, dec = wcs.pixel_to_world(np.array([x, x + 1.0, x]), np.array([y, y, y + 1.0]))
    vectors = _unit_vectors(ra, dec)
    along_x = vectors[:, 1] - vectors[:, 0]
    along_y = vectors[:, 2] - vectors[:, 0]
    area = float(np.linalg.norm(np.cross(along_x, along_y)))
    return math.degrees(math.sqrt(area)) * 3600.0
