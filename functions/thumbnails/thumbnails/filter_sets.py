"""Which three frames of an observing request make a colour composite, and in which channel.

A colour composite is made of three frames of one *family* of filters, mapped to red, green
and blue by wavelength, longest to red:

``johnson-cousins``
    ``R`` or ``rp``, ``V``, ``B`` (the old service's set, ``rp`` standing in for ``R``).
``sdss``
    ``ip``, ``rp``, ``gp``. When one of them is missing, ``zs`` or ``up`` may take its
    place (the nearer in wavelength first: ``zs`` for ``ip`` and ``rp``, ``up`` for ``gp``),
    and the three are then ordered by wavelength: ``zs, ip, gp``; ``ip, gp, up``...
``narrowband``
    ``SII``, ``H-Alpha``, ``OIII`` (672, 656, 501 nm: the "Hubble palette", SHO), or another
    `PALETTES` mapping.

Filter names are matched case-insensitively, in the spellings of LCO's archive records
(``primary_optical_element``, the configdb filter *code*; see `FILTER_SPELLINGS`).

Of several frames of one filter, the frame asked for takes its own channel; the other
channels take their filter's frame nearest in time (``observation_date``, the frames'
``DATE-OBS``) to it, the first in the archive's order on a tie or without dates.

Pure Python: no numpy, no I/O (a cache hit never loads the renderer).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .errors import FrameNotFound

JOHNSON_COUSINS = "johnson-cousins"
SDSS = "sdss"
NARROWBAND = "narrowband"

#: ``palette=``: how a narrowband set's lines become red, green and blue. ``wavelength`` (the
#: default, every family: longest wavelength red; for narrowband SII, H-Alpha, OIII, the
#: "Hubble palette"), ``hoo`` (H-Alpha red, OIII green and blue: two filters suffice) and
#: ``lco`` (H-Alpha red, OIII green, SII blue: the mapping of LCO's 2024 narrowband branch of
#: its thumbnail service).
DEFAULT_PALETTE = "wavelength"
PALETTES = (DEFAULT_PALETTE, "hoo", "lco")
#: Other names of the palettes, accepted in a request.
PALETTE_ALIASES = {"sho": DEFAULT_PALETTE, "hubble": DEFAULT_PALETTE}

#: Central wavelengths (nm) of the filters used, by canonical name: LCO's Bessell and SDSS/
#: PanSTARRS filters and its narrowband lines.
WAVELENGTHS: dict[str, float] = {
    "zs": 870.0,
    "ip": 763.0,
    "SII": 672.4,
    "H-Alpha": 656.3,
    "R": 641.0,
    "rp": 622.0,
    "V": 545.0,
    "OIII": 500.7,
    "gp": 477.0,
    "B": 436.0,
    "up": 356.0,
}
#: Spellings seen in LCO's archive records and configuration (lower case) -> canonical name.
#: ``H-Alpha``, ``OIII``, ``SII``: the filter codes of LCO's narrowband wheels (BANZAI's
#: ``banzai/tests/data/configdb_example.json``); ``Ha``: configdb's own tests
#: (``configdb/hardware/tests.py``); the broadband codes: observation-portal's
#: ``observation_portal/common/test_data/filterwheels.json``.
FILTER_SPELLINGS: dict[str, str] = {
    **{name.lower(): name for name in WAVELENGTHS},
    "ha": "H-Alpha",
}

_NARROWBAND_FILTERS = frozenset({"H-Alpha", "OIII", "SII"})


@dataclass(frozen=True)
class Family:
    """A family of filters a composite is made of.

    Attributes
    ----------
    name : str
        ``johnson-cousins``, ``sdss`` or ``narrowband``.
    filters : tuple of str
        Its filters (canonical names).
    """

    name: str
    filters: tuple[str, ...]

    def channels(
        self, present: Sequence[str], palette: str
    ) -> tuple[tuple[str, ...], ...] | list[str]:
        """The filters (alternatives) of red, green and blue, or the filters missing."""
        have = set(present)
        if self.name == JOHNSON_COUSINS:
            wanted: list[tuple[str, ...]] = [("R", "rp"), ("V",), ("B",)]
        elif self.name == SDSS:
            return _sdss_channels(have)
        else:
            wanted = [(name,) for name in _NARROWBAND_PALETTES[palette]]
        missing = [" or ".join(w) for w in dict.fromkeys(wanted) if not have.intersection(w)]
        return missing if missing else tuple(wanted)

    def needs(self, palette: str) -> str:
        """The set it makes, for messages: ``R or rp, V, B``."""
        if self.name == JOHNSON_COUSINS:
            return "R or rp, V, B"
        if self.name == SDSS:
            return "ip, rp, gp; zs or up in place of one"
        return ", ".join(dict.fromkeys(_NARROWBAND_PALETTES[palette]))


FAMILIES = (
    Family(JOHNSON_COUSINS, ("R", "rp", "V", "B")),
    Family(SDSS, ("zs", "ip", "rp", "gp", "up")),
    Family(NARROWBAND, ("SII", "H-Alpha", "OIII")),
)
_NARROWBAND_PALETTES = {
    DEFAULT_PALETTE: ("SII", "H-Alpha", "OIII"),
    "hoo": ("H-Alpha", "OIII", "OIII"),
    "lco": ("H-Alpha", "OIII", "SII"),
}
#: SDSS: the substitutes of a missing core filter, nearer in wavelength first.
_SDSS_CORE = ("ip", "rp", "gp")
_SDSS_SUBSTITUTES = {"ip": ("zs", "up"), "rp": ("zs", "up"), "gp": ("up", "zs")}


def _sdss_channels(have: set[str]) -> tuple[tuple[str, ...], ...] | list[str]:
    missing = [name for name in _SDSS_CORE if name not in have]
    if not missing:
        chosen = list(_SDSS_CORE)
    elif len(missing) == 1:
        substitute = next((s for s in _SDSS_SUBSTITUTES[missing[0]] if s in have), None)
        if substitute is None:
            return [f"{missing[0]} (or zs or up in its place)"]
        chosen = [name for name in _SDSS_CORE if name in have] + [substitute]
    else:
        return missing
    chosen.sort(key=lambda name: -WAVELENGTHS[name])
    return tuple((name,) for name in chosen)


def canonical_filter(name: object) -> str | None:
    """The canonical name of an archive filter spelling (any case), None if not a colour one."""
    if not isinstance(name, str):
        return None
    return FILTER_SPELLINGS.get(name.strip().lower())


def is_narrowband(filters: Sequence[object]) -> bool:
    """Whether every one of `filters` (any spelling) is a narrowband line filter."""
    return bool(filters) and all(canonical_filter(f) in _NARROWBAND_FILTERS for f in filters)


def normalise_palette(name: str) -> str:
    """The canonical palette name of `name` (any case, aliases), or `name` if unknown."""
    key = name.strip().lower()
    return PALETTE_ALIASES.get(key, key)


@dataclass(frozen=True)
class ColorSet:
    """The frames of a colour composite, red, green and blue (iterating gives them).

    Attributes
    ----------
    frames : tuple of dict
        The archive records of red, green and blue (``hoo``: the OIII frame twice).
    filters : tuple of str
        Their filters' canonical names.
    family : str
    palette : str
    """

    frames: tuple[Mapping[str, Any], ...]
    filters: tuple[str, ...]
    family: str
    palette: str

    def __iter__(self):
        return iter(self.frames)

    def __len__(self) -> int:
        return len(self.frames)

    def describe(self, basenames: Sequence[str]) -> str:
        """The set as one line: ``family=sdss; palette=wavelength; red=ip:<basename>; ...``
        (`basenames` of red, green, blue), for the ``X-Thumbnail-Color-Frames`` header."""
        channels = "; ".join(
            f"{colour}={name}:{basename}"
            for colour, name, basename in zip(
                ("red", "green", "blue"), self.filters, basenames, strict=True
            )
        )
        return f"family={self.family}; palette={self.palette}; {channels}"


def select_color_set(
    frames: Sequence[Mapping[str, Any]],
    requested: Mapping[str, Any] | None = None,
    palette: str = DEFAULT_PALETTE,
) -> ColorSet:
    """Choose the three frames of a composite among a request's frames.

    Parameters
    ----------
    frames : sequence of dict
        The request's archive records (reduction level 91), in the archive's order.
    requested : dict, optional
        The record of the frame asked for: its filter chooses the family (``rp`` belongs to
        Johnson-Cousins and SDSS: Johnson-Cousins first, as before), it takes its own
        channel when it is one of `frames`, and the others are chosen nearest to its time.
        Without it, or when its filter is in no family, the families are tried in the order
        Johnson-Cousins, SDSS, narrowband.
    palette : str
        One of `PALETTES`; ``hoo`` and ``lco`` ask for a narrowband set.

    Returns
    -------
    ColorSet

    Raises
    ------
    FrameNotFound
        No complete set: ``RVB frames not found: ...`` naming the family tried, the filters
        found and those missing, or ``Wrong combination of RVB frames: ...`` when the filters
        found belong to more than one family.
    """
    by_filter: dict[str, list[Mapping[str, Any]]] = {}
    found: list[str] = []
    for frame in frames:
        raw = frame.get("primary_optical_element")
        name = canonical_filter(raw)
        if name is not None:
            by_filter.setdefault(name, []).append(frame)
        shown = name or str(raw)
        if shown not in found:
            found.append(shown)
    own = canonical_filter(requested.get("primary_optical_element")) if requested else None
    if palette != DEFAULT_PALETTE:
        candidates = [f for f in FAMILIES if f.name == NARROWBAND]
    else:
        candidates = [f for f in FAMILIES if own in f.filters] or list(FAMILIES)
    outcomes = [(family, family.channels(list(by_filter), palette)) for family in candidates]
    for family, channels in outcomes:
        if isinstance(channels, tuple):
            chosen = tuple(_nearest(frames, alternatives, requested) for alternatives in channels)
            names = (canonical_filter(f.get("primary_optical_element")) or "" for f in chosen)
            return ColorSet(
                frames=chosen,
                filters=tuple(names),
                family=family.name,
                palette=palette,
            )
    raise FrameNotFound(_not_found_message(outcomes, found, palette))


def _not_found_message(outcomes, found: list[str], palette: str) -> str:
    # The family the frame asked for belongs to, else the one closest to complete.
    family, missing = min(outcomes, key=lambda outcome: len(outcome[1]))
    # Mixed: no one family holds every colour filter found (rp is in two of them).
    colours = {name for name in found if name in WAVELENGTHS}
    mixed = not any(colours <= set(f.filters) for f in FAMILIES)
    prefix = "Wrong combination of RVB frames" if mixed else "RVB frames not found"
    have = ", ".join(found) if found else "no frames"
    return (
        f"{prefix} for the {family.name} set ({family.needs(palette)}): the request has {have}; "
        f"missing {', '.join(missing)}"
    )


def _nearest(
    frames: Sequence[Mapping[str, Any]],
    alternatives: tuple[str, ...],
    requested: Mapping[str, Any] | None,
) -> Mapping[str, Any]:
    """The requested frame if it has one of `alternatives`, else their frame nearest in time."""
    # In the archive's order (R and rp are both red: the first listed wins a tie).
    candidates = [
        frame
        for frame in frames
        if canonical_filter(frame.get("primary_optical_element")) in alternatives
    ]
    if requested is not None:
        for frame in candidates:
            if frame.get("id") is not None and frame.get("id") == requested.get("id"):
                return frame
    when = _time(requested) if requested is not None else None

    def distance(frame: Mapping[str, Any]) -> float:
        other = _time(frame)
        if when is None or other is None:
            return math.inf
        return abs((other - when).total_seconds())

    return min(candidates, key=distance)  # min keeps the first of equals: archive order


def _time(record: Mapping[str, Any]) -> datetime | None:
    value = record.get("observation_date")
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:  # the archive's dates are UTC, with or without a zone
        moment = moment.replace(tzinfo=UTC)
    return moment
