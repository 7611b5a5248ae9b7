"""The rendering core: FITS bytes in, image bytes out. Pure: no AWS, no HTTP, no environment.

The pipeline, in the order that keeps a 4096 x 4096 frame cheap:

1. headers first: the image is found (``SCI`` extension or primary, amplifiers, cube) and an
   oversized one refused before anything is decompressed (`hdus`, `cards`);
2. the pixels of the chosen HDUs only are decoded (by astropy only when needed: the usual
   frame, plain or Rice-compressed, never imports ``astropy``, which costs a cold start
   ~0.3 s of CPU; see `pixels`);
3. the scaling limits come from a deterministic sample of ~2000 pixels (`binning.sample`);
4. the frame is block-averaged by an integer factor to within 2x of the output size, each
   amplifier separately (`mosaic`), before any float work on the whole frame. A frame
   compressed in rows (Rice or GZIP, as LCO writes them) is never decoded whole: steps 2 to
   4 run band by band in one pass (`streaming`), so memory stays near the compressed size;
5. the stretch maps the binned image to 0..255 (`scaling`); colour: the three binned frames
   are first aligned by WCS (`align`), their skies removed and fluxes balanced
   (`color_balance`), their softness matched (`color_match`), and one stretch maps all three;
6. the binned image is turned north up, east left from the WCS, or else shown with FITS row 1
   at the bottom (`orientation`): a cheap copy of the small image, never of the frame;
7. Pillow LANCZOS-resamples to the final size (colour: the sky's grey is then made the same
   in all three channels, `color_match`; a single frame with a ``cmap``: its grey levels
   are looked up in the colormap, `colormaps`), the label is drawn (`label`), and the image
   is encoded.

``planet=true`` takes another road after step 2: the planet is found in the frame's own
pixels, cropped, its colour channels aligned on the disk and stretched linearly (`planet`),
then steps 6 and 7 as above.

A `Frame` caches its sample and binned versions, so several presets rendered from one
`load_frame` decode the file once (a streamed frame: once `prepare` has named them all).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from ..errors import InvalidParameter
from ..params import FITS_FORMAT, RenderLimits, ThumbnailParams
from ..positions import Cutout
from .avm import ImageWcs, delivered_wcs, frame_wcs, xmp_packet
from .budget import check_memory
from .cards import parse_header
from .colormaps import GRAY, apply_colormap
from .frame import Frame
from .hdus import merged_cards, open_fits, read_headers
from .mosaic import Layout, frame_layout
from .orientation import Orientation, choose_orientation, orient, oriented_size
from .pixels import read_arrays
from .scaling import clip_limits, limits, robust_sigma, scale_channel
from .streaming import streamed_layout

__all__ = [
    "Frame",
    "Thumbnail",
    "check_memory",
    "expect",
    "fit_size",
    "load_frame",
    "prepare",
    "read_header",
    "render_fits",
    "render_frames",
    "render_thumbnail",
]

#: The default resource limits (150 Mpix).
DEFAULT_LIMITS = RenderLimits()
#: Lupton et al. (2004) asinh softening ``Q`` for colour images: fluxes well below the
#: linear range (`LUPTON_STRETCH`) are shown linearly, far above it logarithmically, so that
#: bright stars keep their colour instead of saturating to white. 8 is astropy's default.
LUPTON_Q = 8.0
#: Its linear range ("stretch", the softening scale), as a fraction of the channels' median
#: zscale range in balanced flux (chosen by eye on LCO colour sets: 1.0 shows only the
#: bright stars, 0.1 the faint ones too). Relative to the field, so no query parameter.
LUPTON_STRETCH = 0.1
#: Colour composites clip binned block columns this many display ranges further above the
#: white point than single frames: the channels share one white point after balancing,
#: which can lie above a channel's own, and a clipped star core would change colour.
COLOR_CLIP_WIDENING = 2.0
#: Colour composites (other than asinh) put black this many sky sigmas above the sky. At
#: black, fits2image's curve jumps from level 0 to 27 in one step: with black at the sky
#: itself, half the sky's pixels would fall either side of that step and its median would
#: flip between black and grey channel by channel; half a sigma up, it is black in all.
COLOR_BLACK_SIGMAS = 0.5


@dataclass(frozen=True)
class Thumbnail:
    """The result of a render.

    Attributes
    ----------
    data : bytes
        The encoded image.
    content_type : str
        Its MIME type, e.g. ``image/jpeg``.
    width, height : int
        Its size in pixels.
    alignment : str or None
        Colour images only: ``"wcs"`` when the channels were aligned by their WCS,
        ``"none"`` when they were stacked as they are; ``"planet"`` for planets, grey or
        colour (cropped on the disk, channels aligned on it); None for single frames.
    orientation : str
        What was applied (`Orientation.applied`): ``"north"``, ``"detector"``,
        ``"detector-no-wcs"`` or ``"detector-spectrum"``.
    color_balance : str or None
        Colour images only: how the channels were put on one flux scale, ``"zeropoint"``
        (BANZAI's ``L1ZP``), ``"stars"`` (the field's stars neutral) or ``"none"`` (see
        `thumbnails.imaging.color_balance`), or ``"per-channel"`` (a narrowband set, each
        line on its own range: `thumbnails.imaging.narrowband`); None for single frames.
    padded : bool or None
        Cutouts only: True when part of the cutout fell outside the frame (padded,
        transparent in PNG and WebP, black in JPEG); None for whole frames.
    wcs : avm.ImageWcs or None
        The delivered image's celestial WCS (`avm.delivered_wcs`; colour: the red frame's,
        which the channels are aligned to); None when the frame has no usable one. Written
        into the image as AVM XMP when ``params.wcs``.
    """

    data: bytes
    content_type: str
    width: int
    height: int
    alignment: str | None = None
    orientation: str = "detector"
    color_balance: str | None = None
    padded: bool | None = None
    wcs: ImageWcs | None = None


def load_frame(
    data: bytes,
    *,
    limits: RenderLimits = DEFAULT_LIMITS,
    cutout: Cutout | None = None,
    reference: Frame | None = None,
    stream: bool = True,
) -> Frame:
    """Decode one frame from its bytes (``.fits``, ``.fits.fz`` or ``.fits.gz``).

    A frame stored in tiles of whole rows (Rice or GZIP: every reduced and raw LCO
    ``.fits.fz``) is not decoded here but band by band when it is rendered, into its
    statistics and binned images only (`streaming`): memory stays near the compressed size.
    Anything else is decoded here.

    Parameters
    ----------
    data : bytes
        The whole file.
    limits : RenderLimits
        ``max_pixels`` is checked against the headers before anything is decompressed.
    cutout : SkyCutout or PixelCutout, optional
        Decode only this square of the frame (`cutout.load_cutout`): the frame returned is
        the cutout's.
    reference : Frame, optional
        With `cutout`, for the second and third channels of a colour image: the first
        channel's cutout frame, whose patch of sky they are cut around (ignored without
        `cutout`).
    stream : bool
        False decodes the whole image now even when it could be streamed (the two give the
        same thumbnails).

    Returns
    -------
    Frame

    Raises
    ------
    FrameTooLarge
        The image (all amplifiers together) has more than ``limits.max_pixels`` pixels.
    UnreadableFrame
        Not FITS, truncated, corrupt, or without image data.
    NoUsableWcs, CutoutOutsideFrame, InvalidParameter
        For a cutout that cannot be located on this frame.
    """
    if cutout is not None:
        from .cutout import load_cutout

        return load_cutout(data, cutout, limits=limits, reference=reference)
    raw, selection = open_fits(data, limits)
    first = selection.hdus[0]
    header = parse_header(merged_cards(selection.primary, first))
    # Amplifier extensions carry their own readout's keywords; the detector's WCS, which
    # the mosaic is shown in, is the primary header's.
    wcs_header = selection.primary.header if selection.layout == "amplifiers" else None

    def decoded() -> Layout:
        return frame_layout(selection, read_arrays(raw, selection), header)

    layout = streamed_layout(raw, selection, header, decoded) if stream else None
    return Frame(header, decoded() if layout is None else layout, wcs_header=wcs_header)


def read_header(data: bytes) -> Mapping[str, object]:
    """The primary header merged with the image extension's (OBSTYPE, FILTER, REQNUM...).

    Reads headers only, so a prefix of the file (its first 64 KiB, say) is enough; works on
    ``.fits``, ``.fits.fz`` and ``.fits.gz`` bytes.

    Returns
    -------
    astropy.io.fits.Header
        A mapping from keyword to value (case-insensitive keys).

    Raises
    ------
    UnreadableFrame
        Not FITS, or not even the first header is complete.
    """
    return read_headers(bytes(data))


def fit_size(cols: int, rows: int, width: int, height: int) -> tuple[int, int]:
    """The output ``(width, height)``: inside the box, aspect kept, never enlarged.

    The same arithmetic as Pillow's ``Image.thumbnail`` (which fits2image used), so sizes
    match the old service pixel for pixel.
    """
    if width >= cols and height >= rows:
        return cols, rows
    aspect = cols / rows
    if width / height >= aspect:
        options = (int(height * aspect), int(height * aspect) + 1)
        out_w = min(options, key=lambda n: abs(aspect - n / height))
        return max(min(out_w, cols), 1), height
    options = (int(width / aspect), int(width / aspect) + 1)
    out_h = min(options, key=lambda n: 0 if n == 0 else abs(aspect - width / n))
    return width, max(min(out_h, rows), 1)


def _bin_factor(cols: int, rows: int, out_w: int, out_h: int) -> int:
    # The largest factor that keeps the binned image at least as large as the output: the
    # binned image is then within 2x of it, and LANCZOS does the last step.
    return max(1, min(cols // out_w, rows // out_h))


def prepare(frames: Sequence[Frame], presets: Iterable[ThumbnailParams]) -> None:
    """Decode streamed `frames` now, in one pass for all of `presets`.

    Rendering the presets then decodes nothing more: pregeneration calls this so that its
    presets cost one pass and a corrupt tile is found before anything is written.

    Raises
    ------
    UnreadableFrame
        A corrupt tile.
    """
    expect(frames, presets)
    for frame in frames:
        frame.decode()


def expect(frames: Sequence[Frame], presets: Iterable[ThumbnailParams]) -> None:
    """Tell streamed `frames` the bin factors that rendering them with `presets` needs."""
    for params in presets:
        _orientation, _size, factor = _geometry(frames, params)
        for frame in frames:
            frame.expect(factor)


def _geometry(frames: Sequence[Frame], params: ThumbnailParams):
    """How `frames` are shown with `params`: the orientation (colour: the first frame's, the
    channels are aligned on its grid), the output size, and the bin factor."""
    orientation = choose_orientation(params.orientation, frames[0].sky_cards)
    rows, cols = frames[0].shape
    # A quarter turn makes the frame's rows the thumbnail's width.
    shown_w, shown_h = oriented_size(cols, rows, orientation)
    out_w, out_h = fit_size(shown_w, shown_h, params.width, params.height)
    return orientation, (out_w, out_h), _bin_factor(shown_w, shown_h, out_w, out_h)


def _align(
    images: list[np.ndarray],
    frames: Sequence[Frame],
    bins: list[int],
    saturated: list[np.ndarray | None],
):
    """The channels aligned on the first one's grid, their saturated pixels carried along:
    (images, method, the pixels saturated in any channel or None)."""
    from .align import align_with_masks  # owned by the colour work; imported only for colour

    headers = [frame.header for frame in frames]
    images, masks, method = align_with_masks(images, saturated, headers, bins)
    core = None
    for mask in masks:
        if mask is not None:
            core = mask if core is None else core | mask
    return images, method, core


def _saturated_pixels(
    frame: Frame, binned: tuple[np.ndarray, int], clip: tuple[float, float] | None
) -> np.ndarray | None:
    """The binned pixels of `frame` at or above its saturation level (see `saturation`).

    They are found in the image binned without `clip` (a clipped block no longer shows its
    level); that image is binned again only when a block reached the clip's top, and not
    kept (`Frame.binned` would cache it: one more binned image per channel in memory).
    """
    from .saturation import saturated_pixels, saturation_level

    image, used = binned
    if clip is not None and bool(np.nanmax(image, initial=-np.inf) >= clip[1]):
        image = frame.layout.binned(used, None)
    return saturated_pixels(image, saturation_level(frame.header, image))


def _color_levels(
    images: list[np.ndarray],
    frames: Sequence[Frame],
    bin_factor: int,
    aligned: bool,
    params: ThumbnailParams,
    saturated: np.ndarray | None = None,
) -> tuple[np.ndarray, str, np.ndarray]:
    """RGB levels of aligned channels: skies removed, fluxes balanced, one stretch for all,
    and the `saturated` pixels (in any channel) white (`saturation.whiten`).

    A narrowband set (every ``FILTER`` a line: `filter_sets.is_narrowband`) is balanced per
    channel instead (`narrowband`): each line on its own range.

    Returns the levels, the balance method (``zeropoint``, ``stars``, ``none`` or
    ``per-channel``) and the sky pixels (for `color_match.sky_shifts`).
    """
    from ..filter_sets import is_narrowband
    from .color_balance import balance_channels  # imported only for colour
    from .color_match import match_smoothing, sky_mask
    from .saturation import whiten

    samples = [frame.samples for frame in frames]
    headers = [frame.header for frame in frames]
    if is_narrowband([header.get("FILTER") for header in headers]):
        from .narrowband import per_channel_balance  # emission lines: each on its own range

        own = params.stretch == "linear" or params.median  # where the user says white is
        balance = per_channel_balance(samples, *((params.percentile,) if own else ()))
    else:
        balance = balance_channels(images, samples, headers, bin_factor=bin_factor, aligned=aligned)
    fluxes = balance.apply(images)
    sky = sky_mask(fluxes)
    fluxes = match_smoothing(fluxes, sky)
    flux_samples = balance.apply_samples(samples)
    white = getattr(balance, "white", None)  # narrowband: each channel's own range
    if params.stretch == "asinh" and white is None:
        levels = _lupton_rgb(fluxes, stretch=_lupton_stretch(flux_samples))
    else:
        levels = _shared_stretch(fluxes, flux_samples, params, bin_factor, white=white)
    # Here, where the channels have become RGB, whatever balanced and stretched them.
    return whiten(levels, saturated), balance.method, sky


def _shared_stretch(
    fluxes: list[np.ndarray],
    samples: list[np.ndarray],
    params: ThumbnailParams,
    bin_factor: int,
    *,
    white: float | None = None,
) -> np.ndarray:
    """Every channel through the same display curve: black just above the sky (zero flux),
    one white point (the channels' median range, or `white`) and one pixel noise (their
    median), so that equal fluxes get equal levels."""
    spans, noises = [], []
    for values in samples:
        low, high = limits(params.stretch, values, params.percentile)
        spans.append(high - low)
        noises.append(robust_sigma(values))
    noise = float(np.median(noises))
    top = float(np.median(spans)) if white is None else white
    interval = (COLOR_BLACK_SIGMAS * noise, top)
    levels = np.dstack(
        [
            scale_channel(
                image,
                values,
                stretch=params.stretch,
                bin_factor=bin_factor,
                interval=interval,
                noise=noise,
            )
            for image, values in zip(fluxes, samples, strict=True)
        ]
    )
    if params.median:
        from .scaling import recalculate_median

        levels = recalculate_median(levels, params.percentile)
    return levels


def _lupton_stretch(samples: list[np.ndarray]) -> float:
    """Lupton's linear range: `LUPTON_STRETCH` times the channels' median zscale range."""
    from .scaling import zscale_limits

    spans = [high - low for low, high in (zscale_limits(values) for values in samples)]
    span = float(np.median(spans))
    return (span if span > 0.0 else 1.0) * LUPTON_STRETCH


def _lupton_rgb(fluxes: list[np.ndarray], *, stretch: float) -> np.ndarray:
    """Colour-preserving asinh (Lupton et al. 2004) of balanced, sky-subtracted fluxes.

    ``f(I) = asinh(Q I / stretch) / Q`` of the mean flux ``I``, each channel scaled by
    ``f(I) / I`` (`LUPTON_Q`, `LUPTON_STRETCH`): a star's colour is its flux ratios, at
    any brightness. Black is zero flux, the sky, in every channel.
    """
    from astropy.visualization import ManualInterval, make_lupton_rgb

    channels = [np.nan_to_num(image, nan=0.0, posinf=0.0, neginf=0.0) for image in fluxes]
    with np.errstate(invalid="ignore", divide="ignore"):  # astropy divides 0 by 0 at I = 0
        return make_lupton_rgb(
            *channels,
            interval=ManualInterval(vmin=0.0, vmax=np.inf),
            stretch=stretch,
            Q=LUPTON_Q,
        )


def render_frames(
    frames: Sequence[Frame],
    params: ThumbnailParams,
    *,
    source: tuple[str | None, str | None] = (None, None),
) -> Thumbnail:
    """Render one frame, or three (red, green, blue) when ``params.color``, into a thumbnail.

    Parameters
    ----------
    frames : sequence of Frame
        From `load_frame`; the same frames can be rendered with many parameters.
    params : ThumbnailParams
    source : (basename, version), optional
        ``format=fits`` only: the source named in the FITS header.

    Returns
    -------
    Thumbnail
    """
    expected = 3 if params.color else 1
    if len(frames) != expected:
        raise InvalidParameter(
            "color", f"needs {expected} frame{'s' if expected > 1 else ''}, got {len(frames)}"
        )
    if params.format == FITS_FORMAT:
        return _fits_binned(frames[0], params, source)
    if params.planet:
        return _render_planet(frames, params)
    orientation, (out_w, out_h), factor = _geometry(frames, params)
    for frame in frames:
        frame.expect(factor)  # a streamed frame: one pass for the statistics and the binning
    clips = [_binning_clip(frame, params) for frame in frames]
    binned = [frame.binned(factor, clip) for frame, clip in zip(frames, clips, strict=True)]
    images = [image for image, _used in binned]
    alignment = balance = sky = None
    if params.color:
        saturated = [
            _saturated_pixels(frame, pair, clip)
            for frame, pair, clip in zip(frames, binned, clips, strict=True)
        ]
        images, alignment, core = _align(
            images, frames, [used for _image, used in binned], saturated
        )
        # The channels are on the red frame's grid now, binned by the red frame's factor.
        levels, balance, sky = _color_levels(
            images, frames, binned[0][1], alignment == "wcs", params, core
        )
    else:
        levels = scale_channel(
            images[0],
            frames[0].samples,
            stretch=params.stretch,
            percentile=params.percentile,
            median=params.median,
            bin_factor=binned[0][1],
        )
    if params.color:
        # Where any channel has no data (edges uncovered after alignment) draw black rather
        # than a false colour. (By flat index: those pixels are few, and a 2-D mask on the
        # 3-D levels costs milliseconds.)
        covered = np.isfinite(images[0])
        for image in images[1:]:
            covered &= np.isfinite(image)
        levels[np.divmod(np.flatnonzero(~covered), covered.shape[1])] = 0
    geometry = frames[0].cutout
    if geometry is not None and geometry.padded:
        levels = _padded(levels, geometry.data, binned[0][1], params.format != "jpeg")
    picture = _as_shown(levels, orientation)
    if picture.size != (out_w, out_h):
        picture = picture.resize((out_w, out_h), Image.Resampling.LANCZOS)
    if sky is not None:
        picture = _neutral_sky(picture, _as_shown(sky.view(np.uint8), orientation))
    picture = _finished(picture, params)
    wcs = frame_wcs(frames[0].wcs_cards)
    if wcs is not None:
        wcs = delivered_wcs(
            wcs,
            factor=binned[0][1],
            binned=binned[0][0].shape[:2],
            orientation=orientation,
            size=(out_w, out_h),
        )
    return Thumbnail(
        data=_encode(picture, params, xmp_packet(wcs) if wcs and params.wcs else None),
        content_type=params.content_type,
        width=out_w,
        height=out_h,
        alignment=alignment,
        orientation=orientation.applied,
        color_balance=balance,
        padded=None if geometry is None else geometry.padded,
        wcs=wcs,
    )


def _render_planet(frames: Sequence[Frame], params: ThumbnailParams) -> Thumbnail:
    """``planet=true``: the planet found, cropped and (colour) aligned on its disk
    (`planet`), then shown like any thumbnail: oriented, resized, labelled, encoded."""
    from .planet import ALIGNED_ON_PLANET, PER_CHANNEL, linear_levels, planet_crop

    orientation = choose_orientation(params.orientation, frames[0].sky_cards)
    for frame in frames:
        frame.expect(1)  # the frame's own pixels: the disk may be a few dozen across
    # No column clipping: it would flatten the disk, which is what is looked at.
    crop = planet_crop([frame.binned(1)[0] for frame in frames], (params.width, params.height))
    picture = _as_shown(linear_levels(crop, params.percentile), orientation)
    out_w, out_h = fit_size(picture.width, picture.height, params.width, params.height)
    if picture.size != (out_w, out_h):
        picture = picture.resize((out_w, out_h), Image.Resampling.LANCZOS)
    picture = _finished(picture, params)
    # No WCS (JSON nor AVM): the crop follows the planet, not a window the cards describe,
    # and a planet frame's WCS points at the ephemeris target, not the disk.
    return Thumbnail(
        data=_encode(picture, params),
        content_type=params.content_type,
        width=out_w,
        height=out_h,
        alignment=ALIGNED_ON_PLANET,
        orientation=orientation.applied,
        color_balance=PER_CHANNEL if params.color else None,
    )


def _finished(picture: Image.Image, params: ThumbnailParams) -> Image.Image:
    """The resized picture through its colormap (a single frame's ``cmap``), then labelled."""
    if params.cmap != GRAY:
        # After resizing: the lookup then runs on the output's pixels only, and LANCZOS
        # interpolates grey levels, not colours a colormap may put far apart.
        picture = apply_colormap(picture, params.cmap)
    if params.label:
        from .label import draw_label  # ImageFont only when there is a label

        draw_label(picture, params.label)
    return picture


def _as_shown(array: np.ndarray, orientation: Orientation) -> Image.Image:
    """`array` (levels, or a mask of them) as an image the way up it is shown: turned north up
    by `orientation`, or with FITS row 1 at the bottom, as the old service showed it."""
    return Image.fromarray(orient(array, orientation))


def _neutral_sky(picture: Image.Image, sky: Image.Image) -> Image.Image:
    """The colour picture with its sky's median the same grey in every channel.

    `sky` is the sky-pixel mask (0/1, `_as_shown` like the picture's levels), at the levels'
    size: it is resized (nearest) as the picture was.
    """
    from .color_match import shift_table, sky_shifts

    if sky.size != picture.size:
        sky = sky.resize(picture.size, Image.Resampling.NEAREST)
    # A padded cutout's PNG/WebP carries an alpha channel: only the colours are levelled.
    colours = np.asarray(picture)[..., :3]
    shifts = sky_shifts(colours, np.asarray(sky, dtype=bool))
    if shifts is None or not any(shifts):
        return picture
    # Pillow's lookup table: one pass in C, no copy of the picture to numpy and back.
    return picture.point(shift_table(shifts, extra_bands=len(picture.getbands()) - 3))


def _binning_clip(frame: Frame, params: ThumbnailParams) -> tuple[float, float] | None:
    """What `Frame.binned` clips block columns to (see `scaling.clip_limits`)."""
    if params.color and params.stretch == "asinh":
        return None  # Lupton's colours of bright stars need their unclipped flux
    clip = clip_limits(params.stretch, frame.samples, params.percentile)
    if clip is None or not params.color:
        return clip
    low, high = clip
    return low, high + COLOR_CLIP_WIDENING * (high - low)


def _padded(levels: np.ndarray, data, factor: int, transparent: bool) -> np.ndarray:
    """`levels` with the cutout's padding black, or transparent (an alpha channel added).

    `data` is the window of the cutout that holds the frame's pixels (unbinned); a binned
    pixel is padding when its centre is outside it.
    """
    rows, cols = levels.shape[:2]
    centres_y = np.arange(rows) * factor + (factor - 1) / 2.0
    centres_x = np.arange(cols) * factor + (factor - 1) / 2.0
    inside = ((centres_y >= data.y0 - 0.5) & (centres_y < data.y1 - 0.5))[:, None] & (
        (centres_x >= data.x0 - 0.5) & (centres_x < data.x1 - 0.5)
    )[None, :]
    if not transparent:
        levels = levels.copy()
        levels[~inside] = 0
        return levels
    alpha = np.where(inside, np.uint8(255), np.uint8(0))
    if levels.ndim == 2:
        return np.dstack([levels, alpha])
    return np.dstack([levels, alpha[:, :, None]])


#: libaom's encoder speed for AVIF (0 slowest and smallest, 10 fastest), chosen for latency:
#: at 1000 px the default 6 took 0.88 s, 8 0.24 s, 10 0.09 s for files 5% and 9% larger than
#: 8's and 6's at the same PSNR; 9 made the same bytes as 10 in the same time (make bench,
#: README "Performance").
AVIF_SPEED = 10
#: AVIF's quality scale reaches JPEG's fidelity about 20 points lower: AVIF at 60 has the PSNR
#: of JPEG at 80 (within 1 dB) in two thirds to three quarters of the bytes (make bench), so
#: ``quality`` q means AVIF q - 20 and one ``quality`` asks for about the same picture in
#: every format.
AVIF_QUALITY_OFFSET = 20


def _encode(picture: Image.Image, params: ThumbnailParams, xmp: bytes | None = None) -> bytes:
    """The encoded image, with the XMP packet `xmp` (AVM) when given: JPEG in an APP1
    segment, PNG in an ``iTXt`` chunk ``XML:com.adobe.xmp``, WebP and AVIF in their XMP
    boxes (where Aladin Lite, WorldWide Telescope and pyavm look)."""
    buffer = io.BytesIO()
    extra: dict[str, object] = {} if xmp is None else {"xmp": xmp}
    if params.format == "jpeg":
        picture.save(buffer, "JPEG", quality=params.quality, **extra)
    elif params.format == "webp":
        if picture.mode == "LA":  # WebP has no grey-with-alpha mode
            picture = picture.convert("RGBA")
        picture.save(buffer, "WEBP", quality=params.quality, method=4, **extra)
    elif params.format == "avif":
        if picture.mode in ("L", "LA"):  # the AVIF plugin encodes RGB(A) only
            picture = picture.convert("RGBA" if picture.mode == "LA" else "RGB")
        quality = max(1, params.quality - AVIF_QUALITY_OFFSET)
        picture.save(buffer, "AVIF", quality=quality, speed=AVIF_SPEED, **extra)
    else:
        if xmp is not None:
            # Pillow's PNG writer takes no xmp=: the standard iTXt chunk, uncompressed.
            from PIL.PngImagePlugin import PngInfo

            info = PngInfo()
            info.add_itxt("XML:com.adobe.xmp", xmp.decode(), zip=False)
            extra = {"pnginfo": info}
        picture.save(buffer, "PNG", **extra)
    return buffer.getvalue()


def render_fits(
    data: bytes,
    params: ThumbnailParams,
    *,
    limits: RenderLimits = DEFAULT_LIMITS,
    source: tuple[str | None, str | None] = (None, None),
) -> Thumbnail:
    """``format=fits`` of one frame's bytes (`fits_output`): a cutout's own pixels, or the
    whole frame binned as a thumbnail of the ``width`` x ``height`` box would bin it.

    Parameters
    ----------
    data : bytes
        The frame's file.
    params : ThumbnailParams
        With ``format="fits"``.
    limits : RenderLimits
    source : (basename, version), optional
        Named in the FITS header (the service knows them; the core does not).

    Returns
    -------
    Thumbnail
        ``content_type`` ``application/fits``; ``orientation`` ``detector`` (never turned).
    """
    if params.format != FITS_FORMAT or params.color:
        raise InvalidParameter("format", "render_fits makes format=fits of one frame")
    if params.cutout is None:
        return _fits_binned(load_frame(data, limits=limits), params, source)
    from .fits_output import fits_cutout

    product = fits_cutout(data, params.cutout, limits=limits, source=source)
    return _fits_thumbnail(product, params)


def _fits_binned(frame: Frame, params: ThumbnailParams, source) -> Thumbnail:
    """The whole frame binned for the box, as FITS (`fits_output.fits_binned`)."""
    from .fits_output import fits_binned

    if frame.cutout is not None:
        # Its pixels were made float32 for rendering: a FITS cutout is made from the file.
        raise ValueError("format=fits of a cutout is made by render_fits, from the file")
    # Never turned: the box is laid on the frame's own rows and columns.
    _orientation, _size, factor = _geometry([frame], replace(params, orientation="detector"))
    frame.expect(factor)
    return _fits_thumbnail(fits_binned(frame, factor, source=source), params)


def _fits_thumbnail(product, params: ThumbnailParams) -> Thumbnail:
    return Thumbnail(
        data=product.data,
        content_type=params.content_type,
        width=product.width,
        height=product.height,
        orientation="detector",
        padded=product.padded,
    )


def render_thumbnail(
    data: Sequence[bytes], params: ThumbnailParams, *, limits: RenderLimits = DEFAULT_LIMITS
) -> Thumbnail:
    """Decode and render in one call: ``render_frames([load_frame(d) for d in data], params)``.

    Parameters
    ----------
    data : sequence of bytes
        One frame, or three (R, V, B) when ``params.color``.
    """
    if isinstance(data, bytes | bytearray):
        raise TypeError("data must be a sequence of frames' bytes, not bytes")
    if params.format == FITS_FORMAT and not params.color and len(data) == 1:
        return render_fits(data[0], params, limits=limits)
    frames: list[Frame] = []
    for item in data:
        # Colour cutouts: the other channels are cut around the first one's patch of sky.
        reference = frames[0] if frames else None
        frames.append(load_frame(item, limits=limits, cutout=params.cutout, reference=reference))
    return render_frames(frames, params)
