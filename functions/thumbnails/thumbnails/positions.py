"""Where a cutout is: sky (``ra``/``dec``/``fov``) or pixel (``x``/``y``/``size``) positions.

The query values are parsed, validated and normalised here, before they enter the canonical
parameters (and so the cache key): requests that cut the same pixels share one key. A sky
position is rounded to 0.05 arcsec (far below any telescope's pixel) and the field of view
to 0.01 arcmin; a pixel position is moved to the centre of the whole pixels it cuts.

Pure Python (no numpy): the API parses parameters on every request, cache hits included.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import InvalidParameter

#: The query parameters of a cutout.
CUTOUT_PARAMETERS = ("ra", "dec", "fov", "x", "y", "size")
#: Default side of a sky cutout, in arcminutes (the issue's, and a typical finder chart).
DEFAULT_FOV = 2.0
#: The largest side of a sky cutout, in arcminutes: wider than any LCO imager's field.
MAX_FOV = 120.0
#: Default side of a pixel cutout: about 2 arcmin on LCO's 1 m imagers (0.39 arcsec/pixel).
DEFAULT_SIZE = 300
#: The largest side of a pixel cutout; the renderer also bounds its pixel count.
MAX_SIZE = 20_000
#: Pixel positions further than this from pixel 1 are refused outright.
MAX_PIXEL = 1_000_000.0
#: Positions are rounded to multiples of 0.05 arcsec: 72,000 steps a degree.
POSITION_STEPS_PER_DEGREE = 72_000
#: Field-of-view steps per arcminute (0.01 arcmin).
FOV_STEPS_PER_ARCMIN = 100

#: ASCII digits only (Python's \d and float() also take other scripts' digits).
_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$", re.ASCII)
#: ``hh:mm:ss.s`` or ``dd:mm:ss`` (colons or spaces), the seconds optional.
_SEXAGESIMAL = re.compile(
    r"^(?P<sign>[+-]?)(?P<a>\d{1,3})[: ](?P<b>\d{1,2})(?:[: ](?P<c>\d{1,2}(?:\.\d*)?))?$",
    re.ASCII,
)


def _round_half_up(value: float) -> int:
    # Not round(): banker's rounding would send x.5 up or down depending on x's parity.
    return math.floor(value + 0.5)


def _shown(raw: str, limit: int = 40) -> str:
    return repr(raw if len(raw) <= limit else raw[:limit] + "...")


def _sexagesimal(name: str, raw: str) -> tuple[int, float] | None:
    """``(sign, value in hours or degrees)`` of a sexagesimal string, or None if decimal."""
    match = _SEXAGESIMAL.match(raw)
    if match is None:
        return None
    minutes = int(match["b"])
    seconds = float(match["c"]) if match["c"] else 0.0
    if minutes >= 60 or seconds >= 60.0:
        raise InvalidParameter(name, f"minutes and seconds must be below 60, got {_shown(raw)}")
    value = int(match["a"]) + minutes / 60.0 + seconds / 3600.0
    return (-1 if match["sign"] == "-" else 1), value


def parse_ra(raw: str) -> float:
    """Right ascension in degrees from decimal degrees or sexagesimal hours ``hh:mm:ss.s``.

    Raises
    ------
    InvalidParameter
        Malformed, or outside 0 <= ra < 360 degrees (24 hours).
    """
    text = raw.strip()
    sexagesimal = _sexagesimal("ra", text)
    if sexagesimal is not None:
        sign, hours = sexagesimal
        if sign < 0 or text.startswith("+") or hours >= 24.0:
            raise InvalidParameter("ra", f"hours must be from 00 to 23, got {_shown(raw)}")
        degrees = hours * 15.0
    elif _DECIMAL.match(text):
        degrees = float(text)
        if not 0.0 <= degrees < 360.0:
            raise InvalidParameter("ra", f"must be from 0 to below 360 degrees, got {text}")
    else:
        raise InvalidParameter("ra", f"expected decimal degrees or hh:mm:ss.s, got {_shown(raw)}")
    return _rounded_position(degrees) % 360.0


def parse_dec(raw: str) -> float:
    """Declination in degrees from decimal degrees or sexagesimal ``+dd:mm:ss``.

    Raises
    ------
    InvalidParameter
        Malformed, or outside -90 <= dec <= 90 degrees.
    """
    text = raw.strip()
    sexagesimal = _sexagesimal("dec", text)
    if sexagesimal is not None:
        sign, degrees = sexagesimal
        degrees *= sign
    elif _DECIMAL.match(text):
        degrees = float(text)
    else:
        raise InvalidParameter("dec", f"expected decimal degrees or +dd:mm:ss, got {_shown(raw)}")
    if not -90.0 <= degrees <= 90.0:
        raise InvalidParameter("dec", f"must be from -90 to 90 degrees, got {_shown(raw)}")
    return _rounded_position(degrees)


def _rounded_position(degrees: float) -> float:
    """`degrees` rounded to a multiple of 0.05 arcsec (the same float in every process)."""
    steps = _round_half_up(degrees * POSITION_STEPS_PER_DEGREE)
    return steps / POSITION_STEPS_PER_DEGREE + 0.0  # + 0.0: no "-0.0" in the key


def parse_fov(raw: str) -> float:
    """The side of a sky cutout in arcminutes, rounded to 0.01 arcmin."""
    text = raw.strip()
    if not _DECIMAL.match(text) or text.startswith("-"):
        raise InvalidParameter(
            "fov", f"expected a positive number of arcminutes, got {_shown(raw)}"
        )
    return _checked_fov(float(text))


def _checked_fov(value: float) -> float:
    steps = _round_half_up(value * FOV_STEPS_PER_ARCMIN)
    if steps < 1 or value > MAX_FOV:
        raise InvalidParameter("fov", f"must be from 0.01 to {MAX_FOV:g} arcminutes, got {value:g}")
    return steps / FOV_STEPS_PER_ARCMIN


def _parse_pixel(name: str, raw: str) -> float:
    text = raw.strip()
    if not _DECIMAL.match(text):
        raise InvalidParameter(name, f"expected a pixel position (a number), got {_shown(raw)}")
    value = float(text)
    if abs(value) > MAX_PIXEL:
        raise InvalidParameter(name, f"must be within {MAX_PIXEL:g} pixels, got {text}")
    return value


def _parse_size(raw: str) -> int:
    text = raw.strip()
    if not re.fullmatch(r"\+?\d{1,9}", text, re.ASCII):
        raise InvalidParameter("size", f"expected a whole number of pixels, got {_shown(raw)}")
    size = int(text)
    if not 1 <= size <= MAX_SIZE:
        raise InvalidParameter("size", f"must be from 1 to {MAX_SIZE} pixels, got {size}")
    return size


@dataclass(frozen=True)
class SkyCutout:
    """A square centred on a sky position (ICRS), `fov` arcminutes on a side.

    Parameters
    ----------
    ra, dec : float
        Degrees; rounded to 0.05 arcsec.
    fov : float
        Arcminutes; rounded to 0.01 arcmin.
    """

    ra: float
    dec: float
    fov: float = DEFAULT_FOV

    def __post_init__(self) -> None:
        for name, low, high in (("ra", 0.0, 360.0), ("dec", -90.0, 90.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidParameter(name, f"expected degrees, got {value!r}")
            if not (math.isfinite(value) and low <= value <= high):
                raise InvalidParameter(name, f"must be from {low:g} to {high:g}, got {value!r}")
            rounded = _rounded_position(float(value))
            object.__setattr__(self, name, rounded % 360.0 if name == "ra" else rounded)
        if isinstance(self.fov, bool) or not isinstance(self.fov, int | float):
            raise InvalidParameter("fov", f"expected arcminutes, got {self.fov!r}")
        if not math.isfinite(self.fov):
            raise InvalidParameter("fov", f"must be a finite number, got {self.fov!r}")
        object.__setattr__(self, "fov", _checked_fov(float(self.fov)))

    def canonical(self) -> str:
        """``sky:<ra>,<dec>,<fov>``: degrees and arcminutes (shortest round-trip floats)."""
        return f"sky:{self.ra!r},{self.dec!r},{self.fov!r}"


@dataclass(frozen=True)
class PixelCutout:
    """A square of `size` x `size` whole pixels centred on pixel ``(x, y)``.

    Parameters
    ----------
    x, y : float
        FITS pixel coordinates (1-based: the centre of the first pixel is 1.0) of the image
        the service renders (for raw frames, the assembled detector). Moved to the centre of
        the whole pixels cut (by at most half a pixel).
    size : int
        The side in pixels.
    """

    x: float
    y: float
    size: int = DEFAULT_SIZE

    def __post_init__(self) -> None:
        size = self.size
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_SIZE:
            raise InvalidParameter("size", f"must be a whole number from 1 to {MAX_SIZE}")
        for name in ("x", "y"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidParameter(name, f"expected a pixel position, got {value!r}")
            if not (math.isfinite(value) and abs(value) <= MAX_PIXEL):
                raise InvalidParameter(name, f"must be within {MAX_PIXEL:g} pixels")
            object.__setattr__(self, name, pixel_centre(float(value), size))

    def first_pixel(self, axis: str) -> int:
        """0-based index of the first pixel cut along ``"x"`` or ``"y"``."""
        return _first_pixel(getattr(self, axis), self.size)

    def canonical(self) -> str:
        """``pixel:<x>,<y>,<size>``."""
        return f"pixel:{self.x!r},{self.y!r},{self.size}"


def _first_pixel(position: float, size: int) -> int:
    # 1-based position -> 0-based; the window's centre is first + (size - 1) / 2.
    return _round_half_up(position - 1.0 - (size - 1) / 2.0)


def pixel_centre(position: float, size: int) -> float:
    """The 1-based centre of the `size` whole pixels nearest to be centred on `position`."""
    return _first_pixel(position, size) + 1.0 + (size - 1) / 2.0


Cutout = SkyCutout | PixelCutout


def parse_cutout(values: Mapping[str, str]) -> Cutout | None:
    """The cutout a request's query values ask for, or None for the whole frame.

    Parameters
    ----------
    values : mapping
        Query parameter name to its (single) value; other names are ignored.

    Raises
    ------
    InvalidParameter
        A malformed or out-of-range value, half a position (``ra`` without ``dec``...), both
        a sky and a pixel position, or ``fov``/``size`` without their position.
    """
    given = {name for name in CUTOUT_PARAMETERS if name in values}
    if not given:
        return None
    sky, pixel = given & {"ra", "dec", "fov"}, given & {"x", "y", "size"}
    if sky and pixel:
        raise InvalidParameter(
            sorted(pixel)[0], "a cutout is either by sky (ra, dec, fov) or by pixel (x, y, size)"
        )
    if sky:
        for name, other in (("ra", "dec"), ("dec", "ra")):
            if name not in given:
                raise InvalidParameter(name, f"required with {other if other in given else 'fov'}")
        fov = parse_fov(values["fov"]) if "fov" in values else DEFAULT_FOV
        return SkyCutout(parse_ra(values["ra"]), parse_dec(values["dec"]), fov)
    for name, other in (("x", "y"), ("y", "x")):
        if name not in given:
            raise InvalidParameter(name, f"required with {other if other in given else 'size'}")
    size = _parse_size(values["size"]) if "size" in values else DEFAULT_SIZE
    return PixelCutout(_parse_pixel("x", values["x"]), _parse_pixel("y", values["y"]), size)
