"""The memory a render will need, estimated from the headers before anything is decoded.

A request's peak memory follows from what the headers and the parameters say: the pixels
decoded (a cutout's part of the frame, or the whole frame), the binned image each channel
keeps (the window, padding included, over the bin factor), and the output box and format.
`plan_memory` reads those from the first frame's bytes; `MemoryPlan.estimate` adds them up
with the factors measured by ``bench/memory_factor.py`` (peak RSS of fresh processes, the
largest measured, rounded up); `check_memory` refuses a request whose estimate exceeds the
budget it is given, naming the parameter and the largest value of it that fits
(`MemoryBudgetExceeded`, 413).

Pure: the budget is an argument (the service derives it from the function's memory size).
A cutout's padding is never stored (`cutout.PaddedLayout`), so it counts only through the
binned image and the output, never as pixels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from ..errors import MemoryBudgetExceeded
from ..params import FITS_FORMAT, RenderLimits, ThumbnailParams
from ..positions import FOV_STEPS_PER_ARCMIN, MAX_FOV, PixelCutout, SkyCutout
from .cards import card_value, parse_header
from .colormaps import GRAY
from .cutout import locate, pixel_window, single_image, sky_centre, sky_window
from .hdus import Selection, merged_cards, open_fits

__all__ = ["MemoryPlan", "check_memory", "plan_memory", "planner"]

MIB = 1 << 20

#: Bytes per pixel of a decoded part (float32), kept for the whole render, per channel.
PART_BYTES = 4
#: Bytes per pixel while an image is decoded (the decoded HDU and its float32 copy, or
#: astropy's scaled copy of 16-bit counts): a raw 16-bit 4k frame, decoded whole and
#: rendered, peaks 6.0 bytes a pixel above the imports, its file included
#: (``bench/memory_factor.py --only files``).
DECODE_BYTES = 8
#: Bytes per pixel of the binned image, per channel, for everything that follows binning
#: (the binned images, their levels, alignment, sky and flux balance, the picture before
#: resizing and after, Pillow's copies, the encoder's buffers: the output is never larger
#: than the binned image), by colour mode, format, and whether the padding is drawn
#: transparent (an alpha channel: Pillow holds grey with alpha at 4 bytes a pixel and
#: resizes a premultiplied copy). The largest that ``bench/memory_factor.py`` found needed
#: for each kind, with 15 % or more to spare (measured: grey 7.6 JPEG, 0.0 PNG, 13.7 WebP;
#: transparent 18.0 PNG, 26.9 WebP; colour 16.8 at most; 52 cases): a PNG costs no
#: less than a JPEG, whatever a few cases showed.
_MEASURED_BINNED_BYTES: dict[tuple[str, str, bool], float] = {
    ("grey", "jpeg", False): 9.0,
    ("grey", "png", False): 9.0,
    ("grey", "webp", False): 16.0,
    ("grey", "png", True): 21.0,
    ("grey", "webp", True): 31.0,
    ("colour", "jpeg", False): 20.0,
    ("colour", "png", False): 20.0,
    ("colour", "webp", False): 20.0,
    ("colour", "png", True): 20.0,
    ("colour", "webp", True): 20.0,
    # FITS (`fits_output`): its "binned" image is a cutout's window itself (not resampled)
    # or a whole frame's binned image. Peak over the imports, a 3000 px padded cutout
    # (ru_maxrss of one process): 4.0 bytes a pixel for int16, 8.0 float32, 16.0 float64 (the
    # array, then the file's bytes); 20 keeps 25 % to spare over the largest. A whole frame
    # binned (``bench/memory_factor.py --match fits``: a 2k frame at 200, 1000 and 2048 px)
    # needed at most 9.6 bytes a binned pixel, its estimates 1.4 to 1.7 times the peak.
    ("grey", "fits", False): 20.0,
    ("grey", "fits", True): 20.0,
    # Never planned (colour with fits is refused by the parameters), listed so no plan of any
    # format and mode can be a KeyError.
    ("colour", "fits", False): 20.0,
    ("colour", "fits", True): 20.0,
}
#: AVIF came after the factors were measured: until ``bench/memory_factor.py`` covers it, it
#: takes the largest factor measured for any format.
BINNED_BYTES: dict[tuple[str, str, bool], float] = {
    **_MEASURED_BINNED_BYTES,
    **{
        (mode, "avif", transparent): max(_MEASURED_BINNED_BYTES.values())
        for mode in ("grey", "colour")
        for transparent in (False, True)
    },
}
#: Bytes per binned pixel (per channel) that a stretch adds to `BINNED_BYTES` (which are
#: for ``zscale``, whose grey curve is a table lookup): the other grey curves compute in
#: float (measured +2.5), Lupton's asinh colour works on float64 copies of the channels
#: (+16.2); ``median`` (``recalculate_median``) on float64 copies of the levels (grey +10.6,
#: colour +7.8). Measured by ``bench/memory_factor.py`` the same way, rounded up.
STRETCH_BYTES: dict[tuple[str, str], float] = {
    ("grey", "linear"): 4.0,
    ("grey", "log"): 4.0,
    ("grey", "sqrt"): 4.0,
    ("grey", "asinh"): 4.0,
    ("colour", "asinh"): 20.0,
}
MEDIAN_BYTES: dict[str, float] = {"grey": 13.0, "colour": 10.0}
#: Bytes per binned pixel that a colormap (``cmap``, single frames) adds to the grey
#: factors: the picture is RGB (RGBA with transparent padding) from the lookup on, so it
#: is counted as three channels at encode time: its indexed copy (1 byte a pixel) and the
#: RGB(A) picture (3 or 4), never larger than the binned image. ``bench/memory_factor.py
#: --match cmap`` measured no more than the grey factors already hold (6 cases: at most
#: -2.5 bytes over them opaque, -4.5 transparent), so this is the picture's own size, kept
#: for safety.
COLORMAP_BYTES = 4.0

#: ``planet=true`` (`planet`) works on the frame's own pixels, not a binned image: each
#: channel keeps its unbinned float32 image (`PART_BYTES` a pixel); the planet is searched
#: in a copy binned to at most `planet.DETECT_SIDE` (smoothing, threshold and labelling:
#: `PLANET_DETECT_BYTES` a pixel of it, one channel at a time); the crop, at most
#: `planet.MAX_CROP_SIDE` binned pixels a side, is aligned with float64 FFTs and grids
#: (`PLANET_CROP_BYTES` a pixel, one channel at a time, each kept at 4). Counted from the
#: arrays the code allocates, with room to spare (``bench/memory_factor.py`` does not
#: cover planets yet); tests/unit/imaging/test_planet.py checks a render's traced peak
#: stays under the estimate.
PLANET_DETECT_BYTES = 64.0
PLANET_CROP_BYTES = 160.0
#: What every render holds besides: the samples, a band of rows being binned, Pillow's and
#: the encoder's own buffers.
FIXED_BYTES = 24 * MIB
_DEFAULT_LIMITS = RenderLimits()
_UNKNOWN_SIDE = 1 << 40


@dataclass(frozen=True)
class MemoryPlan:
    """What one render will hold, known from the headers and the parameters.

    Attributes
    ----------
    channels : int
        1, or 3 for colour.
    file_bytes : int
        The (uncompressed) file, held while it is decoded.
    part_pixels : int
        Pixels decoded and kept, per channel: a cutout's part of the frame, or the whole frame
        (0 for a frame binned while it is decoded, `streaming`).
    decode_pixels : int
        Pixels decoded at once while loading one channel (full-width rows of a cutout, a
        whole raw frame).
    window : (rows, cols)
        The image rendered: a cutout's window with its padding, or the frame.
    output : (width, height)
        The thumbnail's size.
    format : str
    padded : bool
        A cutout reaching beyond the frame (its padding is transparent in PNG and WebP).
    stretch : str
    median : bool
    colormapped : bool
        A single frame through a colormap (``cmap`` not ``gray``): an RGB output.
    planet : bool
        ``planet=true``: the frame's own pixels, a detection image and a crop are held
        instead of a binned image (`estimate`).
    """

    channels: int
    file_bytes: int
    part_pixels: int
    decode_pixels: int
    window: tuple[int, int]
    output: tuple[int, int]
    format: str
    padded: bool = False
    stretch: str = "zscale"
    median: bool = False
    colormapped: bool = False
    planet: bool = False

    @property
    def factor(self) -> int:
        """The bin factor (`render._bin_factor` of the window and the output)."""
        rows, cols = self.window
        width, height = self.output
        # A quarter turn swaps the sides; the smaller factor (the larger binned image) counts.
        return max(1, min(cols // width, rows // height, rows // width, cols // height))

    @property
    def binned_pixels(self) -> int:
        """Pixels of one channel's binned image."""
        rows, cols = self.window
        factor = self.factor
        return (rows // factor) * (cols // factor)

    @property
    def kind(self) -> tuple[str, str, bool]:
        """The key of `BINNED_BYTES`: colour mode, format, transparent padding."""
        mode = "colour" if self.channels > 1 else "grey"
        return mode, self.format, self.padded and self.format != "jpeg"

    def estimate(self) -> int:
        """Peak bytes of the render over what the process held before it."""
        if self.planet:
            return self._planet_estimate()
        binned = self.binned_pixels
        rows, cols = self.window
        # While a channel loads: its file, its decoded rows. While it is binned: the row sums
        # of its part, or of the whole window for a frame binned as it is decoded (one channel
        # at a time; a padded cutout is binned a band at a time).
        loading = self.file_bytes + self.decode_pixels * DECODE_BYTES
        summed = self.part_pixels if self.padded else max(self.part_pixels, rows * cols)
        summing = summed // self.factor * PART_BYTES
        return int(
            FIXED_BYTES
            + self.channels * self.part_pixels * PART_BYTES
            + max(loading, summing)
            + self.channels * binned * self.binned_bytes
        )

    def _planet_estimate(self) -> int:
        """`estimate` for ``planet=true`` (see `PLANET_CROP_BYTES`)."""
        from .planet import CROP_MARGIN, DETECT_SIDE, MAX_CROP_SIDE, SHIFT_PAD

        rows, cols = self.window
        pixels = rows * cols
        detect = math.ceil(max(rows, cols) / DETECT_SIDE)
        crop_side = min(MAX_CROP_SIDE, math.ceil(CROP_MARGIN * max(rows, cols))) + 2 * SHIFT_PAD
        crop = crop_side * crop_side
        loading = self.file_bytes + self.decode_pixels * DECODE_BYTES
        return int(
            FIXED_BYTES
            + self.channels * self.part_pixels * PART_BYTES
            + max(loading, pixels * PART_BYTES)
            + self.channels * pixels * PART_BYTES
            + (pixels // (detect * detect)) * PLANET_DETECT_BYTES
            + crop * (PLANET_CROP_BYTES + self.channels * PART_BYTES)
            # A colormap's RGB picture: no larger than the crop it is made from.
            + (crop * COLORMAP_BYTES if self.colormapped else 0)
        )

    @property
    def binned_bytes(self) -> float:
        """Bytes per binned pixel of each channel after binning (`BINNED_BYTES` and the
        stretch's own)."""
        mode = self.kind[0]
        extra = STRETCH_BYTES.get((mode, self.stretch), 0.0)
        if self.median:
            extra += MEDIAN_BYTES[mode]
        if self.colormapped:
            extra += COLORMAP_BYTES
        return BINNED_BYTES[self.kind] + extra


@dataclass(frozen=True)
class _Frame:
    """What the headers say about the first frame."""

    file_bytes: int
    shape: tuple[int, int] | None  # the 2-D image; None for raw frames (laid out on decode)
    pixels: int  # all amplifiers together
    streamed: bool
    header: object


def _frame(data: bytes, limits: RenderLimits) -> _Frame:
    raw, selection = open_fits(data, limits)
    header = parse_header(merged_cards(selection.primary, selection.hdus[0]))
    shape = None
    if single_image(selection, header):
        rows, cols = selection.hdus[0].shape
        shape = (rows, cols)
    return _Frame(len(raw), shape, selection.pixels, _row_tiled(selection), header)


def planner(
    shape: tuple[int, int],
    params: ThumbnailParams,
    *,
    file_bytes: int = 0,
    streamed: bool = True,
    header=None,
    limits: RenderLimits = _DEFAULT_LIMITS,
) -> Callable[[ThumbnailParams], MemoryPlan | None]:
    """The plans of requests like `params` on a frame of `shape` described by hand (for
    tables of what fits: ``bench/memory_factor.py --only table``); see `plan_memory`.

    `header` (with a WCS) is needed for sky cutouts only; `streamed` says whether the
    frame is binned as it is decoded (row-tiled ``.fits.fz``, the usual LCO frame).
    """
    rows, cols = shape
    frame = _Frame(file_bytes, (rows, cols), rows * cols, streamed, header or parse_header([]))
    return _planner(frame, params, limits)


def _row_tiled(selection: Selection) -> bool:
    """Whether `render.load_frame` will bin the frame while decoding it (`streaming`)."""
    if selection.layout == "cube":
        return False
    for info in selection.hdus:
        table = info.table
        if info.kind != "compressed" or table is None or len(info.shape) != 2:
            return False
        if card_value(table, "ZTILE1", info.shape[1]) != info.shape[1]:
            return False
    return True


def plan_memory(
    data: bytes, params: ThumbnailParams, *, limits: RenderLimits = _DEFAULT_LIMITS
) -> MemoryPlan:
    """The `MemoryPlan` of rendering `params` from `data` (the first frame, for colour).

    Reads the headers only (a ``.fits.gz`` is inflated, within `limits`). Colour assumes the
    other two channels are like the first (LCO's colour sets come from one camera).

    Raises
    ------
    FrameTooLarge, UnreadableFrame, NoUsableWcs, CutoutOutsideFrame, InvalidParameter
        As `render.load_frame` would for this frame.
    """
    plan = _planner(_frame(data, limits), params, limits)(params)
    assert plan is not None  # the request itself was located
    return plan


def _planner(
    frame: _Frame, params: ThumbnailParams, limits: RenderLimits
) -> Callable[[ThumbnailParams], MemoryPlan | None]:
    """A function giving the plan of `params`-like requests (other sizes, boxes) of `frame`;
    None for a cutout `locate` would refuse."""
    from .render import fit_size  # render imports this module

    channels = 3 if params.color else 1
    cutout = params.cutout
    if cutout is None:
        rows_cols = frame.shape
        if rows_cols is None:
            side = math.isqrt(frame.pixels)
            rows_cols = (side, side)
        part = 0 if frame.streamed else frame.pixels
        decode = 0 if frame.streamed else frame.pixels

        def whole(p: ThumbnailParams) -> MemoryPlan:
            rows, cols = rows_cols
            box = fit_size(cols, rows, p.width, p.height)
            return MemoryPlan(
                channels,
                frame.file_bytes,
                part,
                decode,
                (rows, cols),
                box,
                p.format,
                stretch=p.stretch,
                median=p.median,
                colormapped=p.cmap != GRAY,
                planet=p.planet,
            )

        return whole

    # The window is located now, so that a cutout off the frame or too large is refused
    # here as it would be when decoding. A raw frame's detector is only known once it is
    # laid out: any window not wholly before its first pixel is planned, and `load_cutout`
    # refuses one off the detector.
    shape = frame.shape
    located_on = shape if shape is not None else (_UNKNOWN_SIDE, _UNKNOWN_SIDE)
    locate(cutout, frame.header, located_on, limits)
    if isinstance(cutout, SkyCutout):
        _wcs, x, y, scale = sky_centre(cutout, frame.header, located_on)

    def windowed(p: ThumbnailParams) -> MemoryPlan | None:
        # Located as `cutout.locate` locates it, without the WCS again for every size tried.
        cut = p.cutout
        win = sky_window(x, y, scale, cut.fov) if isinstance(cut, SkyCutout) else pixel_window(cut)
        rows, cols = win.shape
        if rows * cols > limits.max_pixels or win.within(located_on) is None:
            return None  # refused by `locate` (`check_memory` never proposes it)
        padded = False
        if shape is not None:
            inside = win.within(shape)
            padded = inside != win
            part = 0 if inside is None else inside.shape[0] * inside.shape[1]
            if channels > 1:  # the other channels are cut with a margin (`CHANNEL_MARGIN`)
                part = min((rows + 4) * (cols + 4), part + 4 * (rows + cols + 4))
            # The rows holding the part are decoded full width.
            decode = 0 if inside is None else inside.shape[0] * shape[1]
        else:  # a raw frame: decoded whole, then cut (whether padded is not known yet)
            part = min(rows * cols, frame.pixels)
            decode = frame.pixels
            padded = True
        # A FITS cutout is the window's own pixels, never binned to the box.
        box = (cols, rows) if p.format == FITS_FORMAT else fit_size(cols, rows, p.width, p.height)
        return MemoryPlan(
            channels,
            frame.file_bytes,
            part,
            decode,
            (rows, cols),
            box,
            p.format,
            padded,
            p.stretch,
            p.median,
            p.cmap != GRAY,
        )

    return windowed


def check_memory(
    data: bytes,
    params: ThumbnailParams,
    budget: int,
    *,
    limits: RenderLimits = _DEFAULT_LIMITS,
) -> MemoryPlan:
    """Refuse `params` if rendering them from `data` would need more than `budget` bytes.

    Parameters
    ----------
    data : bytes
        The (first) frame's file.
    params : ThumbnailParams
    budget : int
        Bytes the render may use on top of what the process holds already.
    limits : RenderLimits

    Returns
    -------
    MemoryPlan
        The plan, when it fits.

    Raises
    ------
    MemoryBudgetExceeded
        Naming the parameter to change (``size``, ``fov``, ``width`` or ``height``) and the
        largest value of it that fits with the others unchanged (None if none does).
    FrameTooLarge, UnreadableFrame, NoUsableWcs, CutoutOutsideFrame, InvalidParameter
        As `plan_memory`.
    """
    frame = _frame(data, limits)
    plan_of = _planner(frame, params, limits)
    plan = plan_of(params)
    assert plan is not None  # the request itself was located
    needed = plan.estimate()
    if needed <= budget:
        return plan

    def fits(p: ThumbnailParams) -> bool:
        candidate = plan_of(p)
        return candidate is not None and candidate.estimate() <= budget

    name, largest = _largest(params, fits)
    what = "colour thumbnail" if params.color else "thumbnail"
    rows, cols = plan.window
    message = (
        f"this {what} ({cols} x {rows} pixels shown at {plan.output[0]} x {plan.output[1]} "
        f"{params.format.upper()}) needs about {_mb(needed)} MB, more than the {_mb(budget)} MB "
        "this function has for a render; "
    )
    if largest is None:
        message += f"no {name} fits with the other parameters as they are"
    else:
        message += f"the largest {name} that fits with the other parameters is {largest}"
    raise MemoryBudgetExceeded(name, message, largest)


def _mb(count: int) -> str:
    return f"{count / MIB:,.0f}"


def _largest(
    params: ThumbnailParams, fits: Callable[[ThumbnailParams], bool]
) -> tuple[str, int | float | None]:
    """The parameter to name and its largest value below the one asked for that fits.

    A cutout's size (or fov) first, then the output box. The estimate is not monotonic in
    the size (a window just under twice the box bins by 1, not 2), so values are tried from
    the one asked for downwards, not bisected.
    """
    cutout = params.cutout
    if isinstance(cutout, PixelCutout):
        for size in range(cutout.size - 1, 0, -1):
            if fits(replace(params, cutout=PixelCutout(cutout.x, cutout.y, size))):
                return "size", size
    elif isinstance(cutout, SkyCutout):
        steps = round(min(cutout.fov, MAX_FOV) * FOV_STEPS_PER_ARCMIN)
        for step in range(steps - 1, 0, -1):
            fov = step / FOV_STEPS_PER_ARCMIN
            if fits(replace(params, cutout=SkyCutout(cutout.ra, cutout.dec, fov))):
                return "fov", fov
    name = "width" if params.width >= params.height else "height"
    for side in range(max(params.width, params.height) - 1, 0, -1):
        box = replace(params, width=min(params.width, side), height=min(params.height, side))
        if fits(box):
            return name, side
    return ("size" if isinstance(cutout, PixelCutout) else "fov" if cutout else name), None
