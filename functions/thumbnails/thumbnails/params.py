"""The validated, canonical description of one thumbnail request.

`ThumbnailParams` is what the renderer needs to know and nothing else (no response mode, no
credentials). Its canonical serialisation is the cache key's source: the same request gives
the same key in every process and on every machine, unlike the old service, whose key hashed
``repr(frozenset(...))`` and changed with the interpreter's hash seed.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from urllib.parse import quote

from .errors import InvalidParameter
from .filter_sets import DEFAULT_PALETTE, PALETTES, normalise_palette
from .imaging.colormaps import COLORMAPS, GRAY
from .positions import CUTOUT_PARAMETERS, Cutout, PixelCutout, SkyCutout, parse_cutout

#: Bumped whenever rendering changes what the same parameters produce, so stale cache
#: entries are never served for the new renderer.
RENDER_VERSION = "v2"
#: The same for colour composites only (in their canonical form as ``color_render``), so
#: that a change to colour rendering leaves the single-frame cache alone. 2: skies
#: subtracted and channels flux-balanced (issue 16); 3: saturated stars white (issue 26).
COLOR_RENDER_VERSION = "3"
#: The same for planets (``planet=true``, `thumbnails.imaging.planet`), as ``planet_render``.
PLANET_RENDER_VERSION = "1"

STRETCHES = ("zscale", "linear", "log", "sqrt", "asinh")
#: ``north``: north up, east left from the frame's WCS (as fits2image); ``detector``: FITS
#: row 1 at the bottom, the camera's own view (see `thumbnails.imaging.orientation`).
ORIENTATIONS = ("north", "detector")

#: format name -> (MIME type, file extension)
FORMATS: dict[str, tuple[str, str]] = {
    "jpeg": ("image/jpeg", "jpg"),
    "png": ("image/png", "png"),
    "webp": ("image/webp", "webp"),
    "avif": ("image/avif", "avif"),
    # Not an image: the pixels and their WCS (`thumbnails.imaging.fits_output`).
    "fits": ("application/fits", "fits"),
}
#: The format that is data, not a picture: stretch, quality, label and orientation do not
#: apply to it, nor width and height to its cutouts (the frame's own pixels).
FITS_FORMAT = "fits"
#: The formats that are pictures (Pillow encodes them).
IMAGE_FORMATS = tuple(name for name in FORMATS if name != FITS_FORMAT)
#: What does not change a FITS product, dropped from its canonical form (`canonical`).
_NOT_FITS = ("label", "quality", "median", "percentile", "stretch", "orientation", "cmap", "wcs")
#: ``format=auto``: not a format of its own but the API's choice among these, from the
#: request's ``Accept`` (`thumbnails.accept`); never part of a cache key.
AUTO_FORMAT = "auto"
_FORMAT_ALIASES = {"jpg": "jpeg"}

DEFAULT_MAX_SIZE = 4096
#: Whether images carry their WCS as AVM XMP unless ``wcs=`` says otherwise (README,
#: "The WCS in the image and in the JSON answer": what the packet adds to a 200 px JPEG).
DEFAULT_WCS = False
MAX_LABEL_LENGTH = 200

_TRUE = frozenset({"1", "true", "yes", "on", "t", "y"})
_FALSE = frozenset({"0", "false", "no", "off", "f", "n", ""})
_INT_RE = re.compile(r"^\+?\d{1,9}$")
_FLOAT_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def parse_bool(name: str, raw: str) -> bool:
    """Parse a boolean query value (``true/false, 1/0, yes/no, on/off``, any case).

    Raises
    ------
    InvalidParameter
        For any other value.
    """
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidParameter(name, f"expected true or false, got {_shown(raw)}")


def _shown(raw: str, limit: int = 40) -> str:
    """A short, printable rendering of a user value for error messages."""
    text = raw if len(raw) <= limit else raw[:limit] + "..."
    return repr(text)


def _parse_int(name: str, raw: str, low: int, high: int) -> int:
    value = raw.strip()
    if not _INT_RE.match(value):
        raise InvalidParameter(name, f"expected a whole number, got {_shown(raw)}")
    number = int(value)
    if not low <= number <= high:
        raise InvalidParameter(name, f"must be between {low} and {high}, got {number}")
    return number


def _parse_float(name: str, raw: str, low: float, high: float) -> float:
    value = raw.strip()
    if not _FLOAT_RE.match(value):
        raise InvalidParameter(name, f"expected a number, got {_shown(raw)}")
    number = float(value)
    if not (math.isfinite(number) and low <= number <= high):
        raise InvalidParameter(name, f"must be between {low:g} and {high:g}, got {value}")
    return number


def _check_label(label: str) -> str:
    label = unicodedata.normalize("NFC", label)
    if len(label) > MAX_LABEL_LENGTH:
        raise InvalidParameter("label", f"at most {MAX_LABEL_LENGTH} characters")
    for char in label:
        # Control, format-less surrogate and private characters cannot be drawn; tabs and
        # newlines would be drawn as boxes. Bidi marks and emoji are fine.
        if unicodedata.category(char) in ("Cc", "Cs", "Co", "Cn"):
            raise InvalidParameter("label", f"contains an unprintable character U+{ord(char):04X}")
    return label


@dataclass(frozen=True)
class ThumbnailParams:
    """What to render: size, label, encoding and scaling of one thumbnail.

    Parameters
    ----------
    width, height : int
        The box the image must fit in, aspect ratio kept, never enlarged beyond the frame.
    label : str
        White text drawn in the lower-left corner; empty for none.
    quality : int
        JPEG/WebP/AVIF quality, 1 to 95.
    median : bool
        The old service's ``recalculate_median``: black at the median, white at `percentile`.
    percentile : float
        Upper percentile (0 to 100] used by ``median`` and by the ``linear`` stretch.
    stretch : str
        One of `STRETCHES`; ``zscale`` reproduces the old service's look.
    format : str
        One of `FORMATS`; ``fits`` is the pixels with their WCS, not a picture (single frames
        only; a cutout's are the frame's own, a whole frame's binned for the box).
    color : bool
        Compose three frames (red, visual, blue) into an RGB image.
    orientation : str
        One of `ORIENTATIONS`: ``north`` (north up, east left, from the frame's WCS when it
        has one) or ``detector`` (FITS row 1 at the bottom).
    cutout : SkyCutout or PixelCutout, optional
        Render only this square of the frame (`positions`); None for the whole frame.
    cmap : str
        One of `COLORMAPS`: ``gray`` (the grey image), or a map the stretched grey levels are
        looked up in for an RGB image (`thumbnails.imaging.colormaps`). Single frames only.
    wcs : bool
        Write the image's celestial WCS into it as AVM XMP (`thumbnails.imaging.avm`), when
        the frame has one. The API's JSON ``wcs`` is given either way.
    palette : str
        Colour only: how a narrowband set's lines become red, green and blue, one of
        `thumbnails.filter_sets.PALETTES` (``wavelength``, the default, ``hoo``, ``lco``;
        ``sho`` is ``wavelength``).
    planet : bool
        Find the planet (the brightest extended object), crop a square around it, align
        colour channels on it and stretch it linearly (`thumbnails.imaging.planet`); white
        at the disk's `percentile`, `stretch` and `median` do not apply. Not with a cutout.
    """

    width: int = 200
    height: int = 200
    label: str = ""
    quality: int = 80
    median: bool = False
    percentile: float = 99.5
    stretch: str = "zscale"
    format: str = "jpeg"
    color: bool = False
    orientation: str = "north"
    cutout: Cutout | None = None
    cmap: str = GRAY
    wcs: bool = DEFAULT_WCS
    palette: str = DEFAULT_PALETTE
    planet: bool = False

    def __post_init__(self) -> None:
        # Validate values built in code as strictly as parsed ones: the object is the contract.
        for name in ("width", "height"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidParameter(name, f"must be a positive whole number, got {value!r}")
        if isinstance(self.quality, bool) or not isinstance(self.quality, int):
            raise InvalidParameter("quality", f"expected a whole number, got {self.quality!r}")
        if not 1 <= self.quality <= 95:
            raise InvalidParameter("quality", f"must be between 1 and 95, got {self.quality}")
        percentile = float(self.percentile)
        if not (math.isfinite(percentile) and 0 < percentile <= 100):
            raise InvalidParameter("percentile", f"must be in (0, 100], got {self.percentile!r}")
        object.__setattr__(self, "percentile", percentile)
        if self.stretch not in STRETCHES:
            raise InvalidParameter(
                "stretch", f"must be one of {', '.join(STRETCHES)}, got {_shown(str(self.stretch))}"
            )
        if self.format not in FORMATS:
            raise InvalidParameter(
                "format", f"must be one of {', '.join(FORMATS)}, got {_shown(str(self.format))}"
            )
        if self.orientation not in ORIENTATIONS:
            raise InvalidParameter(
                "orientation",
                f"must be one of {', '.join(ORIENTATIONS)}, got {_shown(str(self.orientation))}",
            )
        if self.cmap not in COLORMAPS:
            raise InvalidParameter(
                "cmap", f"must be one of {', '.join(COLORMAPS)}, got {_shown(str(self.cmap))}"
            )
        if self.color and self.cmap != GRAY:
            raise InvalidParameter(
                "cmap", "colour composites have their own colours: use cmap with single frames"
            )
        if not isinstance(self.label, str):
            raise InvalidParameter("label", "must be text")
        object.__setattr__(self, "label", _check_label(self.label))
        object.__setattr__(self, "median", bool(self.median))
        object.__setattr__(self, "color", bool(self.color))
        object.__setattr__(self, "wcs", bool(self.wcs))
        palette = normalise_palette(self.palette) if isinstance(self.palette, str) else None
        if palette not in PALETTES:
            raise InvalidParameter(
                "palette", f"must be one of {', '.join(PALETTES)}, got {_shown(str(self.palette))}"
            )
        object.__setattr__(self, "palette", palette)
        if self.cutout is not None and not isinstance(self.cutout, SkyCutout | PixelCutout):
            raise InvalidParameter("cutout", f"expected a sky or pixel cutout, got {self.cutout!r}")
        if self.color and self.format == FITS_FORMAT:
            raise InvalidParameter(
                "format",
                "fits gives one frame's own pixels, and a colour composite (color=true) has no "
                "such pixels: ask for format=fits of each channel's frame, or for an image format",
            )
        object.__setattr__(self, "planet", bool(self.planet))
        if self.planet and self.cutout is not None:
            # The planet's crop is found, not asked for: two crops of one frame conflict.
            raise InvalidParameter(
                "planet", "cannot be combined with a cutout (ra/dec/fov or x/y/size)"
            )
        if self.planet and self.format == FITS_FORMAT:
            # A planet's crop and stretch make a picture; its pixels are the frame's own.
            raise InvalidParameter(
                "planet", "makes a picture: ask for format=fits without planet=true"
            )

    # ------------------------------------------------------------------ parsing
    @classmethod
    def from_query(
        cls,
        query: Mapping[str, str | Sequence[str] | None] | None,
        *,
        max_size: int = DEFAULT_MAX_SIZE,
    ) -> ThumbnailParams:
        """Build parameters from query-string values, validating every one.

        Parameters
        ----------
        query : mapping
            Parameter name to a string, or to a list of strings (API Gateway's
            ``multiValueQueryStringParameters``). Unknown names are ignored (browsers and
            caches add their own), known names given twice with different values are refused.
        max_size : int
            Upper bound for ``width`` and ``height``.

        Returns
        -------
        ThumbnailParams

        Raises
        ------
        InvalidParameter
            Naming the first offending parameter.
        """
        values = _single_values(query or {})
        # The defaults obey a smaller configured bound too (a 200 px default in a service
        # limited to 100 px means 100 px, not a request the service itself refuses).
        kwargs: dict[str, object] = {
            "width": min(cls.width, max_size),
            "height": min(cls.height, max_size),
        }
        for name in ("width", "height"):
            if name in values:
                kwargs[name] = _parse_int(name, values[name], 1, max_size)
        if "quality" in values:
            kwargs["quality"] = _parse_int("quality", values["quality"], 1, 95)
        if "percentile" in values:
            kwargs["percentile"] = _parse_float("percentile", values["percentile"], 0.0, 100.0)
            if kwargs["percentile"] == 0.0:
                raise InvalidParameter("percentile", "must be greater than 0")
        for name in ("median", "color", "wcs", "planet"):
            if name in values:
                kwargs[name] = parse_bool(name, values[name])
        if "label" in values:
            kwargs["label"] = values["label"]
        if "stretch" in values:
            kwargs["stretch"] = values["stretch"].strip().lower()
        if "orientation" in values:
            kwargs["orientation"] = values["orientation"].strip().lower()
        if "cmap" in values:
            kwargs["cmap"] = values["cmap"].strip().lower()
        if "palette" in values:
            kwargs["palette"] = values["palette"]
        if "format" in values:
            fmt = values["format"].strip().lower()
            kwargs["format"] = _FORMAT_ALIASES.get(fmt, fmt)
        kwargs["cutout"] = parse_cutout(values)
        return cls(**kwargs)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ canonical form
    @property
    def content_type(self) -> str:
        """The MIME type of the encoded image."""
        return FORMATS[self.format][0]

    @property
    def extension(self) -> str:
        """The file extension of the encoded image, without the dot."""
        return FORMATS[self.format][1]

    def canonical(self) -> str:
        """One stable string for these parameters: version tag, then sorted ``name=value``.

        Values are normalised so that requests that render identically share a key: the
        percentile only counts where it is used, the quality not at all for lossless PNG.
        """
        normalised = {f.name: getattr(self, f.name) for f in fields(self)}
        if not (self.median or self.stretch == "linear" or self.planet):
            normalised["percentile"] = ThumbnailParams.percentile
        if self.format == "png":
            normalised["quality"] = ThumbnailParams.quality
        if self.color:
            normalised["color_render"] = COLOR_RENDER_VERSION
        if self.cutout is None:
            del normalised["cutout"]  # keys of whole-frame thumbnails are as before cutouts
        if self.cmap == GRAY:
            del normalised["cmap"]  # keys of grey thumbnails are as before colormaps
        if self.wcs == DEFAULT_WCS:
            del normalised["wcs"]  # keys at the default are as before the AVM packet
        if self.format == FITS_FORMAT:
            # The pixels do not depend on how a picture of them would look; a cutout's not
            # on the box either (not resampled). Image formats' keys are untouched.
            for name in _NOT_FITS + (("width", "height") if self.cutout is not None else ()):
                normalised.pop(name, None)  # cmap and wcs may have gone above
        if self.palette == DEFAULT_PALETTE or not self.color:
            del normalised["palette"]  # keys are as before palettes; grey ignores it
        if self.planet:
            # A planet's stretch is its own (linear, white at the disk's percentile).
            normalised["stretch"] = ThumbnailParams.stretch
            normalised["median"] = ThumbnailParams.median
            normalised["planet_render"] = PLANET_RENDER_VERSION
        else:
            del normalised["planet"]  # keys of every other request are as before planets
        parts = [f"{name}={_canonical_value(normalised[name])}" for name in sorted(normalised)]
        return RENDER_VERSION + "&" + "&".join(parts)

    def digest(self) -> str:
        """A short hex digest of `canonical`, used in cache keys (32 hex chars, 128 bits)."""
        return hashlib.sha256(self.canonical().encode("utf-8")).hexdigest()[:32]


def _canonical_value(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)  # shortest round-trip repr: 99.5 -> "99.5", stable everywhere
    if isinstance(value, SkyCutout | PixelCutout):
        return value.canonical()
    if isinstance(value, str):
        # Percent-encode the UTF-8 bytes so that '&' or '=' in a label cannot collide with
        # the separators and every label has exactly one spelling.
        return quote(value, safe="")
    return str(value)


def _single_values(query: Mapping[str, str | Sequence[str] | None]) -> dict[str, str]:
    known = {f.name for f in fields(ThumbnailParams)} - {"cutout"} | set(CUTOUT_PARAMETERS)
    values: dict[str, str] = {}
    for name, raw in query.items():
        if name not in known or raw is None:
            continue
        if isinstance(raw, str):
            values[name] = raw
            continue
        distinct = list(dict.fromkeys(raw))
        if len(distinct) > 1:
            raise InvalidParameter(name, "given more than once with different values")
        if distinct:
            values[name] = distinct[0]
    return values


@dataclass(frozen=True)
class RenderLimits:
    """Resource limits the renderer enforces before doing expensive work.

    Parameters
    ----------
    max_pixels : int
        Largest image (all amplifiers together) accepted, checked from the headers before
        anything is decompressed. Default 150 Mpix.
    """

    max_pixels: int = 150_000_000

    def __post_init__(self) -> None:
        if self.max_pixels < 1:
            raise ValueError("max_pixels must be positive")
