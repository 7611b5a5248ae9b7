"""Assembling the whole detector from its amplifiers (raw multi-amplifier frames).

A raw frame stores each amplifier's readout with its overscan. ``DATASEC`` says which part of
the readout is light-sensitive, ``BIASSEC`` where the overscan is, and ``DETSEC`` where the
data goes on the detector; a reversed ``DETSEC`` range (``[4096:2049,...]``) means that
amplifier reads out from the other side, so its data is flipped on that axis. Where LCO files
leave these keywords out, BANZAI (``banzai/lco.py``) is the reference for what they are:
`cube_layout` for the old Sinistro cubes, `amplifier_placements` for an extension without
``DETSEC``.

An `Amplifier` is a *view* of the decoded array (trimmed, flipped into detector orientation)
with its overscan level; nothing is copied until the frame is binned, one amplifier at a
time, straight into the binned mosaic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from .binning import block_mean, sample
from .cards import card_value, has_section

if TYPE_CHECKING:
    from .hdus import Selection

_SECTION = re.compile(r"^\[\s*(\d+)\s*:\s*(\d+)\s*,\s*(\d+)\s*:\s*(\d+)\s*\]$")
#: How far below the requested bin factor we look for one that tiles the amplifiers exactly.
_MAX_FACTOR_SHRINK = 2


_CCDSUM = re.compile(r"^\s*(\d+)\s+(\d+)\s*$")

#: The old Sinistro cubes: 4 planes of 2080 columns (2048 of data, then overscan) and 2048
#: rows ("missing row": the detector's middle row was not read out) or more ("full"). They
#: carry no section keywords; these are BANZAI's (``banzai/lco.py``, ``_munge_data_cube``),
#: in plane order.
SINISTRO_COLUMNS = 2080
SINISTRO_ROWS = 2048
SINISTRO_BIASSEC = "[2055:2080,1:2048]"
SINISTRO_SECTIONS = {
    "missing": (
        ("[1:2048,1:2048]", "[1:2048,1:2048]", "[1:2048,2:2048]", "[1:2048,2:2048]"),
        ("[1:2048,1:2048]", "[4096:2049,1:2048]", "[4096:2049,4096:2050]", "[1:2048,4096:2050]"),
    ),
    "full": (
        ("[1:2048,1:2048]", "[1:2048,1:2048]", "[1:2048,2:2049]", "[1:2048,2:2049]"),
        ("[1:2048,1:2048]", "[4096:2049,1:2048]", "[4096:2049,4096:2049]", "[1:2048,4096:2049]"),
    ),
}


class LayoutError(ValueError):
    """The amplifier keywords do not describe a consistent mosaic."""


@dataclass(frozen=True)
class Section:
    """A FITS section ``[x0:x1,y0:y1]``: 1-based, inclusive, possibly reversed."""

    x0: int
    x1: int
    y0: int
    y1: int

    @classmethod
    def parse(cls, text: object) -> Section | None:
        if not isinstance(text, str):
            return None
        match = _SECTION.match(text.strip())
        if match is None:
            return None
        x0, x1, y0, y1 = (int(v) for v in match.groups())
        if min(x0, x1, y0, y1) < 1:
            return None
        return cls(x0, x1, y0, y1)

    @property
    def width(self) -> int:
        return abs(self.x1 - self.x0) + 1

    @property
    def height(self) -> int:
        return abs(self.y1 - self.y0) + 1

    def slices(self) -> tuple[slice, slice]:
        """numpy ``(rows, cols)`` slices of this section (as stored, not flipped)."""
        return (
            slice(min(self.y0, self.y1) - 1, max(self.y0, self.y1)),
            slice(min(self.x0, self.x1) - 1, max(self.x0, self.x1)),
        )

    def inside(self, shape: tuple[int, int]) -> bool:
        return max(self.y0, self.y1) <= shape[0] and max(self.x0, self.x1) <= shape[1]


@dataclass(frozen=True)
class Amplifier:
    """One amplifier's light-sensitive pixels, in detector orientation.

    Attributes
    ----------
    data : ndarray
        A view of the decoded readout: trimmed to DATASEC, flipped as DETSEC says; row 0 is
        the lowest detector row.
    bias : float
        The overscan level (median of BIASSEC) to subtract; 0 when unknown.
    y0, x0 : int
        Detector position of ``data[0, 0]`` (0-based, in this readout's binned pixels).
    """

    data: np.ndarray
    bias: float
    y0: int
    x0: int


@dataclass(frozen=True)
class Layout:
    """The amplifiers of a frame (one for ordinary images) and the detector shape."""

    amplifiers: tuple[Amplifier, ...]
    shape: tuple[int, int]

    @classmethod
    def single(cls, image: np.ndarray) -> Layout:
        return cls((Amplifier(image, 0.0, 0, 0),), (image.shape[0], image.shape[1]))

    def assemble(self) -> np.ndarray:
        """The full-resolution detector image (float32, NaN where no amplifier lands)."""
        if len(self.amplifiers) == 1 and self.amplifiers[0].bias == 0.0:
            return self.amplifiers[0].data
        mosaic = np.full(self.shape, np.nan, dtype=np.float32)
        for amp in self.amplifiers:
            rows, cols = amp.data.shape
            target = mosaic[amp.y0 : amp.y0 + rows, amp.x0 : amp.x0 + cols]
            np.subtract(amp.data, amp.bias, out=target, casting="unsafe")
        return mosaic

    @property
    def boxes(self) -> list[tuple[int, int, int, int]]:
        """``(y0, x0, rows, cols)`` of every amplifier on the detector."""
        return [(amp.y0, amp.x0, *amp.data.shape) for amp in self.amplifiers]

    def tiling_factor(self, factor: int) -> int:
        """A bin factor close to `factor` that tiles every amplifier exactly, if there is one.

        With such a factor each binned amplifier lands on whole binned pixels, with no seam.
        """
        return tiling_factor(self.boxes, factor)

    def samples(self, count: int) -> np.ndarray:
        """About `count` pixel values (bias subtracted, float64, unsorted; NaN kept).

        Each amplifier gives ``count // amplifiers`` of them, picked by `binning.sample`.
        """
        per_amp = max(1, count // len(self.amplifiers))
        return np.concatenate([sample(amp.data, per_amp) - amp.bias for amp in self.amplifiers])

    def binned(self, factor: int, clip: tuple[float, float] | None = None) -> np.ndarray:
        """Block-averaged detector image, binning each amplifier before placing it.

        `clip` (display limits, bias-subtracted) is passed to `block_mean`, shifted by each
        amplifier's bias.

        Returns
        -------
        ndarray
            float32 ``(rows // factor, cols // factor)``, bias-subtracted, NaN where no data.
        """
        return place_binned(
            self.boxes,
            factor,
            (
                (block_mean(amp.data, factor, shifted(clip, amp.bias)), amp.bias)
                for amp in self.amplifiers
            ),
        )


def tiling_factor(boxes: Sequence[tuple[int, int, int, int]], factor: int) -> int:
    """`Layout.tiling_factor` of amplifiers at ``(y0, x0, rows, cols)``."""
    if len(boxes) == 1:
        return factor
    lowest = max(1, factor // _MAX_FACTOR_SHRINK)
    for candidate in range(factor, lowest - 1, -1):
        if all(value % candidate == 0 for box in boxes for value in box):
            return candidate
    return factor


def place_binned(
    boxes: Sequence[tuple[int, int, int, int]],
    factor: int,
    binned: Iterable[tuple[np.ndarray, float]],
) -> np.ndarray:
    """The binned mosaic of amplifiers at `boxes`, from each one's ``(binned, bias)``.

    Each binned amplifier (float32, a new array) has its bias subtracted in place.
    """
    if len(boxes) == 1:
        image, bias = next(iter(binned))
        if bias:
            image -= np.float32(bias)
        return image
    # Positions round down, like sizes: amplifiers that abut on the detector then abut
    # in the binned mosaic too (no seam), whatever the factor.
    places = [(y0 // factor, x0 // factor) for y0, x0, _rows, _cols in boxes]
    ends = [
        (y + rows // factor, x + cols // factor)
        for (y, x), (_y0, _x0, rows, cols) in zip(places, boxes, strict=True)
    ]
    rows, cols = max(end[0] for end in ends), max(end[1] for end in ends)
    mosaic = np.full((rows, cols), np.nan, dtype=np.float32)
    for (y0, x0), (image, bias) in zip(places, binned, strict=True):
        image -= np.float32(bias)
        mosaic[y0 : y0 + image.shape[0], x0 : x0 + image.shape[1]] = image
    return mosaic


def shifted(clip: tuple[float, float] | None, bias: float) -> tuple[float, float] | None:
    """Display limits of bias-subtracted values, in the amplifier's own (raw) values."""
    return None if clip is None else (clip[0] + bias, clip[1] + bias)


@dataclass(frozen=True)
class Placement:
    """Where an amplifier's data lies in its readout and on the detector (no pixels).

    Attributes
    ----------
    rows, cols : slice
        ``DATASEC`` as numpy slices of the readout (as stored, not flipped).
    flip_y, flip_x : bool
        A reversed ``DETSEC`` range: the data is flipped on that axis.
    biassec : Section or None
        The overscan, when it lies inside the readout.
    y0, x0 : int
        Detector position of the data's first pixel (0-based, binned readout pixels).
    """

    rows: slice
    cols: slice
    flip_y: bool = False
    flip_x: bool = False
    biassec: Section | None = None
    y0: int = 0
    x0: int = 0

    @classmethod
    def whole(cls, shape: tuple[int, ...]) -> Placement:
        """All of a readout of `shape`, as it is (an ordinary image)."""
        return cls(slice(0, shape[-2]), slice(0, shape[-1]))

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows.stop - self.rows.start, self.cols.stop - self.cols.start

    def view(self, readout: np.ndarray) -> np.ndarray:
        """The data of `readout`, trimmed and flipped into detector orientation (a view)."""
        data = readout[self.rows, self.cols]
        if self.flip_x:
            data = data[:, ::-1]
        if self.flip_y:
            data = data[::-1, :]
        return data


def overscan_level(region: np.ndarray) -> float:
    """The bias level of an overscan region: the median of its finite values (0 if none)."""
    finite = region[np.isfinite(region)] if region.dtype.kind == "f" else region
    return float(np.median(finite)) if finite.size else 0.0


def _overscan_level(readout: np.ndarray, biassec: Section | None) -> float:
    if biassec is None or not biassec.inside(readout.shape):
        return 0.0
    return overscan_level(readout[biassec.slices()])


def amplifier_placement(shape: tuple[int, int], header, primary=None) -> Placement:
    """The `Placement` of one amplifier readout of `shape` from DATASEC/DETSEC/BIASSEC.

    An extension without DETSEC (missing, ``UNKNOWN`` or ``N/A``) is placed as BANZAI places
    it: at the detector's origin, its size from DATASEC and CCDSUM (`_detector_section`;
    `primary` gives the CCDSUM of an extension without one).

    Raises
    ------
    LayoutError
        When DATASEC is missing or outside the readout, or DETSEC invalid or of another size.
    """
    datasec = Section.parse(card_value(header, "DATASEC"))
    if datasec is None or not datasec.inside(shape):
        raise LayoutError("amplifier without a valid DATASEC")
    if has_section(header, "DETSEC"):
        detsec = Section.parse(card_value(header, "DETSEC"))
        if detsec is None:
            raise LayoutError("amplifier with an invalid DETSEC")
    else:
        detsec = _detector_section(datasec, header, primary)
    # DETSEC is in unbinned detector pixels, DATASEC in (possibly binned) readout pixels.
    if detsec.width % datasec.width or detsec.height % datasec.height:
        raise LayoutError("DETSEC and DATASEC sizes disagree")
    xbin, ybin = detsec.width // datasec.width, detsec.height // datasec.height
    biassec = Section.parse(card_value(header, "BIASSEC"))
    return Placement(
        *datasec.slices(),
        flip_y=detsec.y0 > detsec.y1,
        flip_x=detsec.x0 > detsec.x1,
        biassec=biassec if biassec is not None and biassec.inside(shape) else None,
        y0=(min(detsec.y0, detsec.y1) - 1) // ybin,
        x0=(min(detsec.x0, detsec.x1) - 1) // xbin,
    )


def _detector_section(datasec: Section, header, primary) -> Section:
    """The DETSEC BANZAI gives an amplifier without one (``_init_detector_sections``).

    BANZAI sets ``[1:max(x)*xbin,1:max(y)*ybin]`` from DATASEC and CCDSUM (the extension's,
    else the primary's); once trimmed to DATASEC that is ``[1:width*xbin,1:height*ybin]``:
    the data at the detector's origin, not flipped. That trimmed section is the one used here.
    """
    ccdsum = card_value(header, "CCDSUM")
    if ccdsum is None and primary is not None:
        ccdsum = card_value(primary, "CCDSUM")
    match = _CCDSUM.match(ccdsum) if isinstance(ccdsum, str) else None
    if ccdsum is not None and (match is None or "0" in match.groups()):
        raise LayoutError(f"amplifier without DETSEC and with an invalid CCDSUM {ccdsum!r}")
    xbin, ybin = (int(v) for v in match.groups()) if match else (1, 1)
    return Section(1, datasec.width * xbin, 1, datasec.height * ybin)


def amplifier_placements(
    shapes: Sequence[tuple[int, int]], headers: Sequence, primary=None
) -> list[Placement]:
    """Every amplifier's `Placement` (see `amplifier_placement`), checked not to overlap.

    Raises
    ------
    LayoutError
        When one cannot be placed, or two land on the same detector pixels (one would hide
        the other).
    """
    placements = [
        amplifier_placement(shape, header, primary)
        for shape, header in zip(shapes, headers, strict=True)
    ]
    _check_disjoint(placements)
    return placements


def _check_disjoint(placements: Sequence[Placement]) -> None:
    boxes = [(p.y0, p.y0 + p.shape[0], p.x0, p.x0 + p.shape[1]) for p in placements]
    for i, (top, bottom, left, right) in enumerate(boxes):
        for other in boxes[i + 1 :]:
            if top < other[1] and other[0] < bottom and left < other[3] and other[2] < right:
                raise LayoutError("two amplifiers cover the same detector pixels")


def corner_shifted(placements: Sequence[Placement]) -> tuple[list[Placement], tuple[int, int]]:
    """Placements moved so the mosaic starts at (0, 0), and the mosaic's shape.

    Windowed readouts need not start at the detector origin: shift to the smallest corner.
    """
    ymin = min(place.y0 for place in placements)
    xmin = min(place.x0 for place in placements)
    moved = [replace(place, y0=place.y0 - ymin, x0=place.x0 - xmin) for place in placements]
    rows = max(place.y0 + place.shape[0] for place in moved)
    cols = max(place.x0 + place.shape[1] for place in moved)
    return moved, (rows, cols)


def _layout(parts: Sequence[tuple[np.ndarray, float, int, int]]) -> Layout:
    # Windowed readouts need not start at the detector origin: shift to the smallest corner.
    ymin = min(part[2] for part in parts)
    xmin = min(part[3] for part in parts)
    amplifiers = tuple(Amplifier(d, b, y - ymin, x - xmin) for d, b, y, x in parts)
    rows = max(a.y0 + a.data.shape[0] for a in amplifiers)
    cols = max(a.x0 + a.data.shape[1] for a in amplifiers)
    return Layout(amplifiers, (rows, cols))


def amplifier_layout(readouts: Sequence[np.ndarray], headers: Sequence, primary=None) -> Layout:
    """The mosaic of several amplifier extensions, each with DATASEC, DETSEC and BIASSEC.

    An extension without DETSEC (missing, ``UNKNOWN`` or ``N/A``) is placed as BANZAI places
    it: at the detector's origin, its size from DATASEC and CCDSUM (see `_detector_section`).

    Parameters
    ----------
    readouts : sequence of ndarray
        Each amplifier's decoded readout, overscan included.
    headers : sequence of header
        Each amplifier extension's own header.
    primary : header, optional
        The primary header, for the CCDSUM of extensions without one.

    Raises
    ------
    LayoutError
        When the keywords are missing or inconsistent, or amplifiers overlap (the caller
        falls back to the first amplifier as it is).
    """
    placements = amplifier_placements([r.shape for r in readouts], headers, primary)
    return _layout(
        [
            (place.view(readout), _overscan_level(readout, place.biassec), place.y0, place.x0)
            for readout, place in zip(readouts, placements, strict=True)
        ]
    )


def cube_layout(cube: np.ndarray, header) -> Layout:
    """The mosaic of a 4-plane amplifier cube (older LCO Sinistro files).

    - With ``DETSEC1..4`` (and ``DATASEC1..4``, ``BIASSEC1..4``) the planes are placed by them.
    - A Sinistro cube (2080 columns, at least 2048 rows) takes BANZAI's sections
      (`SINISTRO_SECTIONS`): trimmed, each plane's overscan level subtracted, placed and
      flipped. In a "missing row" cube the detector's middle row was never read out; the
      upper planes are moved down one row to close it, so the picture has no black line
      across the middle (it is 4095 rows high).
    - Any other 4-plane cube takes the same corner layout untrimmed: readout corners at the
      detector corners, counter-clockwise from the lower left (plane 2 flipped in x, plane 3
      in x and y, plane 4 in y).
    """
    planes = [cube[k] for k in range(cube.shape[0])]
    keyed = [
        {
            key: card_value(header, f"{key}{k + 1}", card_value(header, key))
            for key in ("DATASEC", "DETSEC", "BIASSEC")
        }
        for k in range(len(planes))
    ]
    if all(Section.parse(keys["DETSEC"]) for keys in keyed):
        try:
            return amplifier_layout(planes, keyed)
        except LayoutError:
            pass
    rows, cols = planes[0].shape
    if len(planes) == 4 and cols == SINISTRO_COLUMNS and rows >= SINISTRO_ROWS:
        return _sinistro_layout(planes)
    corners = [(0, 0, False, False), (0, cols, True, False), (rows, cols, True, True)]
    corners.append((rows, 0, False, True))
    parts = []
    for plane, (y0, x0, flip_x, flip_y) in zip(planes, corners, strict=True):
        data = plane[::-1] if flip_y else plane
        parts.append((data[:, ::-1] if flip_x else data, 0.0, y0, x0))
    return _layout(parts)


def _sinistro_layout(planes: Sequence[np.ndarray]) -> Layout:
    """BANZAI's layout of an old Sinistro cube (see `cube_layout`)."""
    mode = "full" if planes[0].shape[0] > SINISTRO_ROWS else "missing"
    datasecs, detsecs = SINISTRO_SECTIONS[mode]
    headers = [
        {"DATASEC": datasec, "DETSEC": detsec, "BIASSEC": SINISTRO_BIASSEC}
        for datasec, detsec in zip(datasecs, detsecs, strict=True)
    ]
    layout = amplifier_layout(planes, headers)
    if mode == "full":
        return layout
    # Detector row 2049 is in no plane: the planes above it come down one row.
    amplifiers = tuple(
        replace(amp, y0=amp.y0 - 1) if amp.y0 >= SINISTRO_ROWS else amp for amp in layout.amplifiers
    )
    return Layout(amplifiers, (layout.shape[0] - 1, layout.shape[1]))


def trimmed_placement(shape: tuple[int, int], header) -> Placement:
    """A single-amplifier raw frame's `Placement`: DATASEC and BIASSEC, at (0, 0)."""
    datasec = Section.parse(card_value(header, "DATASEC"))
    if datasec is None or not datasec.inside(shape):
        return Placement.whole(shape)
    biassec = Section.parse(card_value(header, "BIASSEC"))
    return Placement(
        *datasec.slices(),
        biassec=biassec if biassec is not None and biassec.inside(shape) else None,
    )


def trimmed_layout(readout: np.ndarray, header) -> Layout:
    """A single-amplifier raw frame: trimmed to DATASEC, its overscan level subtracted."""
    place = trimmed_placement(readout.shape, header)
    bias = _overscan_level(readout, place.biassec)
    data = place.view(readout)
    return Layout((Amplifier(data, bias, 0, 0),), (data.shape[0], data.shape[1]))


def frame_layout(selection: Selection, arrays: list[np.ndarray], header) -> Layout:
    """How the decoded images of a frame lie on its detector.

    Parameters
    ----------
    selection : hdus.Selection
        The HDUs chosen (``layout`` says amplifier extensions or one image).
    arrays : list of ndarray
        Their decoded pixels (`pixels.read_arrays`).
    header
        The merged header of the primary and the first image HDU.

    Returns
    -------
    Layout
        The amplifiers placed by ``DETSEC`` (the first readout as it is when the keywords
        are inconsistent), a 4-plane cube's amplifiers, a raw single image trimmed of its
        overscan, or the image itself.
    """
    if selection.layout == "amplifiers":
        try:
            headers = [hdu.header for hdu in selection.hdus]
            return amplifier_layout(arrays, headers, selection.primary.header)
        except LayoutError:
            # Inconsistent amplifier keywords: show the first readout as it is (as the old
            # service did) rather than refuse the frame.
            return Layout.single(arrays[0])
    image = arrays[0]
    if image.ndim == 3:
        return cube_layout(image, header)
    if card_value(header, "RLEVEL") == 0 and "BIASSEC" in header:
        return trimmed_layout(image, header)
    return Layout.single(image)
