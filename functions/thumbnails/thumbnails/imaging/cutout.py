"""Cutouts: the square of a frame around a sky or pixel position, decoded only where it falls.

A cutout is located on the frame's pixels (`locate`: by its WCS for ``ra``/``dec``), and only
the rows it touches are decoded (`read_rows`): reduced frames are tile-compressed one row per
tile, so a 2-arcminute cutout of a 4k frame decodes ~300 of its 4096 tiles, and a plain
``.fits`` is read only there. The result is an ordinary `frame.Frame` of the cutout (its WCS
moved with it), rendered by the same pipeline as any thumbnail (binning, scaling, colour
alignment, orientation). Where the square falls outside the frame it is padded with NaN and
`Frame.cutout` says which part holds data, so the renderer can make the rest transparent
(PNG, WebP) or black (JPEG). The padding is never stored (`PaddedLayout`): only the frame's
part is kept, so memory follows the pixels decoded, not the size asked for.

Raw multi-amplifier frames are decoded whole (their amplifiers are placed first), then cut.
For colour, the first (red) frame's cutout is the reference: the other channels are cut
around the same patch of sky (with a margin), and `align` then resamples them onto it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import (
    CutoutOutsideFrame,
    InvalidParameter,
    NoUsableWcs,
)
from ..params import RenderLimits
from ..positions import Cutout, PixelCutout, SkyCutout
from .binning import block_mean, finite_block_row, sample_positions
from .cards import CardHeader, card_value, parse_header
from .frame import Frame
from .hdus import Selection, merged_cards, open_fits
from .mosaic import Layout, frame_layout
from .pixels import check_decodable, read_arrays, read_rows
from .skywcs import NoCelestialWcs, SkyWcs, celestial_wcs, pixel_scale

__all__ = ["CutoutGeometry", "PaddedLayout", "Window", "load_cutout", "locate", "read_rows"]

#: Pixels added around a colour channel's cutout, so that resampling it onto the reference
#: cutout has data up to the reference's edges.
CHANNEL_MARGIN = 2


@dataclass(frozen=True)
class Window:
    """A rectangle of pixels: rows ``y0..y1-1``, columns ``x0..x1-1`` (0-based).

    It may reach beyond the image it is a window on (negative, or past the last pixel).
    """

    y0: int
    y1: int
    x0: int
    x1: int

    @classmethod
    def centred(cls, x_first: int, y_first: int, side: int) -> Window:
        return cls(y_first, y_first + side, x_first, x_first + side)

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0

    def within(self, shape: tuple[int, int]) -> Window | None:
        """The part of this window inside an image of `shape`, or None if there is none."""
        y0, y1 = max(self.y0, 0), min(self.y1, shape[0])
        x0, x1 = max(self.x0, 0), min(self.x1, shape[1])
        return Window(y0, y1, x0, x1) if y0 < y1 and x0 < x1 else None

    def relative_to(self, outer: Window) -> Window:
        """This window in the pixels of `outer` (whose first pixel becomes 0)."""
        return Window(
            self.y0 - outer.y0, self.y1 - outer.y0, self.x0 - outer.x0, self.x1 - outer.x0
        )


@dataclass(frozen=True)
class CutoutGeometry:
    """Where a cutout frame came from (`Frame.cutout`).

    Attributes
    ----------
    window : Window
        The cutout in the source image's pixels.
    data : Window
        The part of the cutout that holds the frame's pixels, in the cutout's own pixels;
        the rest is padding.
    wcs : SkyWcs or None
        The source frame's celestial WCS, when it has a usable one.
    """

    window: Window
    data: Window
    wcs: SkyWcs | None

    @property
    def padded(self) -> bool:
        """True when part of the cutout falls outside the frame."""
        return self.data.shape != self.window.shape


# ---------------------------------------------------------------------------- locating
def _round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


def _usable_wcs(header) -> SkyWcs | None:
    try:
        return celestial_wcs(header)
    except NoCelestialWcs:
        return None


def locate(
    cutout: Cutout, header, shape: tuple[int, int], limits: RenderLimits
) -> tuple[Window, SkyWcs | None]:
    """The window a cutout asks for on an image of `shape`, and the image's WCS.

    Parameters
    ----------
    cutout : SkyCutout or PixelCutout
    header : CardHeader or astropy.io.fits.Header
        The image's (merged) header, with its WCS.
    shape : (rows, cols)
        The image (for raw frames, the assembled detector).
    limits : RenderLimits
        The cutout, padding included, may not have more than ``limits.max_pixels`` pixels.

    Raises
    ------
    NoUsableWcs
        A sky cutout of a frame without a usable celestial WCS.
    CutoutOutsideFrame
        The window does not overlap the image at all; the message gives its footprint.
    InvalidParameter
        The window is too large (``fov`` or ``size``).
    """
    if isinstance(cutout, SkyCutout):
        wcs: SkyWcs | None
        wcs, x, y, scale = sky_centre(cutout, header, shape)
        window = sky_window(x, y, scale, cutout.fov)
        name = "fov"
    else:
        wcs = _usable_wcs(header)
        window = pixel_window(cutout)
        name = "size"
    _check_pixels(name, window, limits)
    if window.within(shape) is None:
        raise CutoutOutsideFrame(_outside_message(cutout, shape, wcs))
    return window, wcs


def sky_centre(
    cutout: SkyCutout, header, shape: tuple[int, int]
) -> tuple[SkyWcs, float, float, float]:
    """The frame's WCS, the cutout's centre ``(x, y)`` (0-based pixels) and the pixel scale
    there (arcsec), as `locate` finds them.

    Raises
    ------
    NoUsableWcs, CutoutOutsideFrame
        As `locate`.
    """
    try:
        wcs = celestial_wcs(header)
    except NoCelestialWcs as reason:
        raise NoUsableWcs(
            f"ra/dec: this frame has no usable WCS ({reason}); ask for a pixel cutout "
            "(x, y, size) instead"
        ) from None
    x, y = (float(v) for v in wcs.world_to_pixel(cutout.ra, cutout.dec))
    if not (math.isfinite(x) and math.isfinite(y)):
        raise CutoutOutsideFrame(_outside_message(cutout, shape, wcs))
    return wcs, x, y, pixel_scale(wcs, x, y)


def sky_window(x: float, y: float, scale: float, fov: float) -> Window:
    """The window of a `fov`-arcminute cutout centred on pixel ``(x, y)`` (see `sky_centre`)."""
    side = max(1, _round_half_up(fov * 60.0 / scale))
    return Window.centred(
        _round_half_up(x - (side - 1) / 2.0), _round_half_up(y - (side - 1) / 2.0), side
    )


def pixel_window(cutout: PixelCutout) -> Window:
    """The window of a pixel cutout."""
    return Window.centred(cutout.first_pixel("x"), cutout.first_pixel("y"), cutout.size)


def _check_pixels(name: str, window: Window, limits: RenderLimits) -> None:
    rows, cols = window.shape
    if rows * cols > limits.max_pixels:
        raise InvalidParameter(
            name,
            f"the cutout would be {cols} x {rows} pixels of this frame, more than the limit "
            f"of {limits.max_pixels:,} pixels",
        )


def _outside_message(cutout: Cutout, shape: tuple[int, int], wcs: SkyWcs | None) -> str:
    rows, cols = shape
    pixels = f"x 1 to {cols}, y 1 to {rows}"
    if isinstance(cutout, PixelCutout):
        where = f"x {cutout.x:g}, y {cutout.y:g} ({cutout.size} pixels)"
    else:
        where = f"ra {cutout.ra:.5f}, dec {cutout.dec:+.5f} ({cutout.fov:g} arcmin)"
    message = f"the cutout at {where} lies entirely outside the frame, which covers {pixels}"
    if wcs is not None:
        xs = np.array([-0.5, cols - 0.5, cols - 0.5, -0.5, (cols - 1) / 2.0])
        ys = np.array([-0.5, -0.5, rows - 0.5, rows - 0.5, (rows - 1) / 2.0])
        ra, dec = wcs.pixel_to_world(xs, ys)
        corners = ", ".join(f"({a:.5f}, {d:+.5f})" for a, d in zip(ra[:4], dec[:4], strict=True))
        message += (
            f"; on the sky (ICRS degrees) its centre is at ra {ra[4]:.5f}, dec {dec[4]:+.5f} "
            f"and its corners at (ra, dec) {corners}"
        )
    return message


def _channel_window(
    reference: CutoutGeometry, wcs: SkyWcs | None, limits: RenderLimits, name: str
) -> Window:
    """The window of a colour channel covering the sky of the reference (red) cutout; too
    large, it is refused naming `name`, the parameter that sized the cutout."""
    if reference.wcs is None or wcs is None:
        return reference.window  # nothing to align by: the same pixels
    window = reference.window
    # The outline of the reference cutout (its corners and edge midpoints, at pixel edges).
    xs = np.array([window.x0, (window.x0 + window.x1) / 2.0, window.x1]) - 0.5
    ys = np.array([window.y0, (window.y0 + window.y1) / 2.0, window.y1]) - 0.5
    grid_x, grid_y = np.meshgrid(xs, ys)
    ra, dec = reference.wcs.pixel_to_world(grid_x.ravel(), grid_y.ravel())
    x, y = wcs.world_to_pixel(ra, dec)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        return reference.window
    channel = Window(
        math.floor(float(y.min()) + 0.5) - CHANNEL_MARGIN,
        math.ceil(float(y.max()) + 0.5) + CHANNEL_MARGIN,
        math.floor(float(x.min()) + 0.5) - CHANNEL_MARGIN,
        math.ceil(float(x.max()) + 0.5) + CHANNEL_MARGIN,
    )
    _check_pixels(name, channel, limits)
    return channel


def single_image(selection: Selection, header) -> bool:
    """True when the frame is one 2-D image rendered as it is stored (rows decodable alone).

    Raw frames (amplifiers, cubes, a single readout with overscan, as `render` lays them
    out) are decoded whole and assembled before they are cut.
    """
    if selection.layout != "single" or len(selection.hdus[0].shape) != 2:
        return False
    return not (card_value(header, "RLEVEL") == 0 and "BIASSEC" in header)


# ---------------------------------------------------------------------------- frames
def open_for_cutout(data: bytes, limits: RenderLimits) -> tuple[object, Selection, CardHeader]:
    """Open `data` to cut a window of it (`load_cutout`, `fits_output.fits_cutout`).

    What the whole frame refuses (not FITS, a bad dither seed), a cutout refuses too, before
    a WCS or a row is read: a cutout is never made of an unreadable file.

    Returns
    -------
    raw, selection, header
        As `hdus.open_fits` gives them, and the image's cards merged over the primary's.

    Raises
    ------
    FrameTooLarge, UnreadableFrame
        As `render.load_frame`.
    """
    raw, selection = open_fits(data, limits)
    check_decodable(selection)
    return raw, selection, parse_header(merged_cards(selection.primary, selection.hdus[0]))


def load_cutout(
    data: bytes,
    cutout: Cutout,
    *,
    limits: RenderLimits,
    reference: Frame | None = None,
) -> Frame:
    """Decode the cutout of one frame into a `Frame` of its own.

    Parameters
    ----------
    data : bytes
        The whole file (``.fits``, ``.fits.fz`` or ``.fits.gz``).
    cutout : SkyCutout or PixelCutout
    limits : RenderLimits
    reference : Frame, optional
        For the second and third colour channels: the first channel's cutout frame, whose
        patch of sky this one must cover.

    Returns
    -------
    Frame
        Of the cutout's pixels (NaN where it falls outside the frame), with its WCS moved to
        match and ``cutout`` set.

    Raises
    ------
    NoUsableWcs, CutoutOutsideFrame, InvalidParameter
        See `locate` (never for a colour channel: they are cut where the reference is).
    FrameTooLarge, UnreadableFrame
        As `render.load_frame`.
    """
    raw, selection, header = open_for_cutout(data, limits)
    if single_image(selection, header):
        info = selection.hdus[0]
        shape = (info.shape[0], info.shape[1])
        window, wcs = _window(cutout, header, shape, limits, reference)
        inside = window.within(shape)
        part = None
        if inside is not None:
            part = read_rows(raw, info, inside.y0, inside.y1)[:, inside.x0 : inside.x1]
    else:
        layout = frame_layout(selection, read_arrays(raw, selection), header)
        shape = layout.shape
        window, wcs = _window(cutout, header, shape, limits, reference)
        inside = window.within(shape)
        part = None if inside is None else assembled(layout, inside)
    del raw
    layout: Layout | PaddedLayout
    if inside is None:  # a colour channel that misses the reference's sky entirely
        data_box = Window(0, 0, 0, 0)
        layout = PaddedLayout(np.empty((0, 0), dtype=np.float32), window.shape, data_box)
    elif inside == window:
        # A copy: a view would keep the whole file (plain .fits) or the decoded band of
        # full-width rows alive for as long as the frame.
        data_box = inside.relative_to(window)
        layout = Layout.single(np.array(part, dtype=np.float32))
    else:
        # Only the frame's part is kept: the padding is made a band at a time as it is
        # binned, so a cutout reaching far off a small frame costs no more than its part.
        data_box = inside.relative_to(window)
        layout = PaddedLayout(np.array(part, dtype=np.float32), window.shape, data_box)
    del part
    frame = Frame(_moved_header(header, window), layout)
    frame.cutout = CutoutGeometry(window, data_box, wcs)
    return frame


class PaddedLayout:
    """A cutout reaching beyond its frame: the frame's part, and NaN around it, never stored.

    It stands for `mosaic.Layout.single` of the padded image (``np.full(shape, nan)`` with
    `part` at `data`) and gives the same samples and binned images bit for bit, but the
    padding only ever exists a band of block rows at a time (`rows`), so its memory is the
    part's, however much padding the window has.

    Parameters
    ----------
    part : ndarray
        float32, C-contiguous: the frame's pixels inside the window (may be empty).
    shape : (rows, cols)
        The whole window's.
    data : Window
        Where `part` lies in the window.
    """

    #: About how many bytes of padded rows are made at a time while binning.
    BAND_BYTES = 4 << 20

    def __init__(self, part: np.ndarray, shape: tuple[int, int], data: Window) -> None:
        self.part = part
        self.shape = (int(shape[0]), int(shape[1]))
        self.data = data

    @property
    def boxes(self) -> list[tuple[int, int, int, int]]:
        return [(0, 0, *self.shape)]

    def tiling_factor(self, factor: int) -> int:
        return factor  # one box: every factor tiles it

    def rows(self, start: int, stop: int, left: int = 0, right: int | None = None) -> np.ndarray:
        """Rows ``start..stop-1``, columns ``left..right-1`` (default: all) of the padded
        image (a new float32 array)."""
        right = self.shape[1] if right is None else right
        band = np.full((stop - start, right - left), np.nan, dtype=np.float32)
        data = self.data
        y0, y1 = max(start, data.y0), min(stop, data.y1)
        x0, x1 = max(left, data.x0), min(right, data.x1)
        if y0 < y1 and x0 < x1:
            band[y0 - start : y1 - start, x0 - left : x1 - left] = self.part[
                y0 - data.y0 : y1 - data.y0, x0 - data.x0 : x1 - data.x0
            ]
        return band

    def assemble(self) -> np.ndarray:
        """The whole padded image (what rendering never needs)."""
        return self.rows(0, self.shape[0])

    def samples(self, count: int) -> np.ndarray:
        """`binning.sample` of the padded image (float64, NaN where it picks padding)."""
        rows, cols = sample_positions(self.shape, count, contiguous=True)
        data = self.data
        inside = (rows >= data.y0) & (rows < data.y1) & (cols >= data.x0) & (cols < data.x1)
        values = np.full(rows.size, np.nan)
        values[inside] = self.part[rows[inside] - data.y0, cols[inside] - data.x0]
        return values

    def binned(self, factor: int, clip: tuple[float, float] | None = None) -> np.ndarray:
        """`binning.block_mean` of the padded image, bit for bit, from the part's blocks only.

        A block of padding alone is NaN, so only the blocks that hold some of the part are
        computed (a 12247 px window around a 100 px frame bins 100 px, not 150 Mpx of NaN),
        a band of block rows at a time. `block_mean` averages a whole block row pixel by
        pixel (`finite_block_row`) as soon as one of its blocks is not finite, which a row
        with padding beside the part always has: such rows are computed that way here too,
        so the pixels are the same.
        """
        rows, cols = self.shape[0] // factor, self.shape[1] // factor
        out = np.full((rows, cols), np.nan, dtype=np.float32)
        data = self.data
        top, bottom = data.y0 // factor, min(rows, -(-data.y1 // factor))
        left, right = data.x0 // factor, min(cols, -(-data.x1 // factor))
        if top >= bottom or left >= right:
            return out
        x0, x1 = left * factor, right * factor
        # Padding beside the part in every block row: `block_mean` takes the per-pixel path
        # there (it ignores clip at factor 1, where it never takes it).
        per_pixel = factor > 1 and (left > 0 or right < cols)
        step = max(1, self.BAND_BYTES // max(1, factor * (x1 - x0) * 4))
        for first in range(top, bottom, step):
            last = min(bottom, first + step)
            band = self.rows(first * factor, last * factor, x0, x1)
            target = out[first:last, left:right]
            if not per_pixel:
                target[:] = block_mean(band, factor, clip)
                continue
            for block in range(last - first):
                target[block] = finite_block_row(
                    band[block * factor : (block + 1) * factor], factor, right - left, clip
                )
        return out


def _window(cutout, header, shape, limits, reference: Frame | None):
    if reference is None or reference.cutout is None:
        return locate(cutout, header, shape, limits)
    wcs = _usable_wcs(header)
    name = "fov" if isinstance(cutout, SkyCutout) else "size"
    return _channel_window(reference.cutout, wcs, limits, name), wcs


def assembled(layout: Layout, window: Window) -> np.ndarray:
    """The detector pixels of `window` (inside the layout), bias-subtracted, float32.

    Parameters
    ----------
    layout : mosaic.Layout
        A raw frame's readouts placed on its detector (`mosaic.frame_layout`).
    window : Window
        Inside ``layout.shape``.

    Returns
    -------
    numpy.ndarray
        float32, ``window.shape``; NaN where no amplifier lies (between readouts).
    """
    out = np.full(window.shape, np.nan, dtype=np.float32)
    for amp in layout.amplifiers:
        rows, cols = amp.data.shape
        placed = Window(amp.y0, amp.y0 + rows, amp.x0, amp.x0 + cols)
        y0, y1 = max(placed.y0, window.y0), min(placed.y1, window.y1)
        x0, x1 = max(placed.x0, window.x0), min(placed.x1, window.x1)
        if y0 >= y1 or x0 >= x1:
            continue
        source = amp.data[y0 - amp.y0 : y1 - amp.y0, x0 - amp.x0 : x1 - amp.x0]
        target = out[y0 - window.y0 : y1 - window.y0, x0 - window.x0 : x1 - window.x0]
        np.subtract(source, amp.bias, out=target, casting="unsafe")
    return out


def _moved_header(header, window: Window):
    """`header` for the cutout: the WCS reference pixel moved by the window, its size set."""
    values: dict[str, object] = {"NAXIS1": window.shape[1], "NAXIS2": window.shape[0]}
    for key, offset in (("CRPIX1", window.x0), ("CRPIX2", window.y0)):
        crpix = card_value(header, key)
        if isinstance(crpix, int | float) and not isinstance(crpix, bool):
            values[key] = float(crpix) - offset
    if not isinstance(header, CardHeader):  # an astropy Header (unusual cards)
        moved = header.copy()
        for key, value in values.items():
            moved[key] = value
        return moved
    cards = [card for card in header.cards if card[:8].rstrip() not in values]
    # Formatted as astropy formats them: the value right-aligned in 20 columns.
    cards[1:1] = [f"{key:<8}= {value!r:>20}".ljust(80) for key, value in values.items()]
    return parse_header(cards)
