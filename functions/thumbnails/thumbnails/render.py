"""The rendering core: FITS bytes in, image bytes out. Pure: no AWS, no HTTP, no environment.

The pipeline, in the order that keeps a 4096 x 4096 frame cheap:

1. headers first: the image is found (``SCI`` extension or primary, amplifiers, cube) and an
   oversized one refused before anything is decompressed (`fits_io`);
2. the pixels of the chosen HDUs only are decoded (by astropy only when needed: the usual
   frame, plain or Rice-compressed, never imports ``astropy``, which costs a cold start
   ~0.3 s of CPU; see `fits_io`);
3. the scaling limits come from a deterministic sample of ~2000 pixels (`binning.sample`);
4. the frame is block-averaged by an integer factor to within 2x of the output size, each
   amplifier separately (`mosaic`), before any float work on the whole frame. A frame
   compressed in rows (Rice or GZIP, as LCO writes them) is never decoded whole: steps 2 to
   4 run band by band in one pass (`streaming`), so memory stays near the compressed size;
5. the stretch maps the binned image to 0..255 (`scaling`); FITS row 1 goes to the bottom;
6. Pillow LANCZOS-resamples to the final size, the label is drawn (`label`), and the image
   is encoded.

A `Frame` caches its sample and binned versions, so several presets rendered from one
`load_frame` decode the file once (a streamed frame: once `prepare` has named them all).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from . import fits_io
from .binning import SAMPLE_COUNT
from .errors import InvalidParameter
from .mosaic import Layout, LayoutError, amplifier_layout, cube_layout, trimmed_layout
from .params import RenderLimits, ThumbnailParams
from .scaling import clip_limits, finite_sorted, scale_channel
from .streaming import StreamedLayout, streamed_layout

if TYPE_CHECKING:
    from astropy.io import fits

__all__ = [
    "Frame",
    "Thumbnail",
    "expect",
    "fit_size",
    "load_frame",
    "prepare",
    "read_header",
    "render_frames",
    "render_thumbnail",
]

#: The default resource limits (150 Mpix).
DEFAULT_LIMITS = RenderLimits()
#: Lupton et al. asinh softening for colour images.
LUPTON_Q = 8.0
#: Its linear range, as a fraction of the widest channel's zscale range (chosen by eye on
#: LCO colour sets: 1.0 shows only the bright stars, 0.1 the faint ones too).
LUPTON_STRETCH = 0.1


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
        ``"none"`` when they were stacked as they are; None for single frames.
    """

    data: bytes
    content_type: str
    width: int
    height: int
    alignment: str | None = None


class Frame:
    """A decoded frame: its header and image, with cached statistics and binned versions.

    Attributes
    ----------
    header : astropy.io.fits.Header
        The image HDU's header merged over the primary header (image cards win). Built (and
        astropy imported) on first access: rendering a single frame does not need it.
    shape : tuple of int
        ``(rows, cols)`` of the whole image (the detector, for amplifier mosaics).
    """

    def __init__(
        self, header: fits.Header | fits_io.CardHeader, layout: Layout | StreamedLayout
    ) -> None:
        self._header = header
        self.layout = layout
        self.shape: tuple[int, int] = layout.shape
        self._samples: np.ndarray | None = None
        self._binned: dict[tuple, tuple[np.ndarray, int]] = {}
        self._data: np.ndarray | None = None

    def __repr__(self) -> str:
        amps = len(self.layout.boxes)
        return f"Frame(shape={self.shape}, amplifiers={amps})"

    @property
    def header(self) -> fits.Header:
        self._header = fits_io.astropy_header(self._header)
        return self._header

    @property
    def data(self) -> np.ndarray:
        """The 2-D image: amplifiers trimmed, bias-subtracted and placed; row 0 = FITS row 1.

        Built on first access for mosaics (rendering never needs it); for ordinary images
        it is the decoded array itself.
        """
        if self._data is None:
            self._data = self.layout.assemble()
        return self._data

    @property
    def samples(self) -> np.ndarray:
        """Sorted finite pixel values sampled on a fixed grid (about 2000 of them)."""
        if self._samples is None:
            self._samples = finite_sorted(self.layout.samples(SAMPLE_COUNT))
            self._samples.setflags(write=False)
        return self._samples

    def expect(self, factor: int) -> None:
        """Say that `binned` will be asked for `factor`: a streamed frame then bins at it
        in the same pass as the others (see `prepare`). Nothing for a decoded frame."""
        if isinstance(self.layout, StreamedLayout):
            self.layout.expect(self.layout.tiling_factor(factor))

    def decode(self) -> None:
        """Decode a streamed frame now, for the factors expected (the statistics always).

        Raises
        ------
        UnreadableFrame
            A corrupt tile (a decoded frame raised this from `load_frame`).
        """
        if isinstance(self.layout, StreamedLayout):
            self.layout.decode(SAMPLE_COUNT)

    def binned(
        self, factor: int, clip: tuple[float, float] | None = None
    ) -> tuple[np.ndarray, int]:
        """The image block-averaged by about `factor` (read-only, cached).

        Parameters
        ----------
        factor : int
            The bin factor wanted.
        clip : (low, high), optional
            Display limits that hot and dead columns are clipped to while binning (see
            `binning.block_mean`); each distinct value is its own cache entry.

        Returns
        -------
        image : ndarray
            float32, NaN where there is no data.
        factor : int
            The factor actually used: for mosaics, the nearest one at or below `factor` (down
            to half) that tiles every amplifier exactly.
        """
        key = (factor, clip)
        if key not in self._binned:
            used = self.layout.tiling_factor(factor)
            image = self.layout.binned(used, clip)
            image.setflags(write=False)
            self._binned[key] = (image, used)
        return self._binned[key]


def load_frame(data: bytes, *, limits: RenderLimits = DEFAULT_LIMITS, stream: bool = True) -> Frame:
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
    """
    raw, selection = fits_io.open_fits(data, limits)
    first = selection.hdus[0]
    header = fits_io.parse_header(fits_io.merged_cards(selection.primary, first))

    def decoded() -> Layout:
        return _layout(selection, fits_io.read_arrays(raw, selection), header)

    layout = streamed_layout(raw, selection, header, decoded) if stream else None
    return Frame(header, decoded() if layout is None else layout)


def _layout(selection: fits_io.Selection, arrays: list[np.ndarray], header) -> Layout:
    if selection.layout == "amplifiers":
        try:
            return amplifier_layout(arrays, [hdu.header for hdu in selection.hdus])
        except LayoutError:
            # Inconsistent amplifier keywords: show the first readout as it is (as the old
            # service did) rather than refuse the frame.
            return Layout.single(arrays[0])
    image = arrays[0]
    if image.ndim == 3:
        return cube_layout(image, header)
    if fits_io.card_value(header, "RLEVEL") == 0 and "BIASSEC" in header:
        return trimmed_layout(image, header)
    return Layout.single(image)


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
    return fits_io.read_headers(bytes(data))


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
    rows, cols = frames[0].shape
    for params in presets:
        out_w, out_h = fit_size(cols, rows, params.width, params.height)
        factor = _bin_factor(cols, rows, out_w, out_h)
        for frame in frames:
            frame.expect(factor)


def _align(images: list[np.ndarray], frames: Sequence[Frame], bins: list[int]):
    from .align import align_channels  # owned by the colour work; imported only for colour

    return align_channels(images, [frame.header for frame in frames], bins)


def _lupton_rgb(images: list[np.ndarray], frames: Sequence[Frame]) -> np.ndarray:
    """Colour-preserving asinh (Lupton et al. 2004) of aligned R, G, B images."""
    from astropy.visualization import ManualInterval, make_lupton_rgb

    from .scaling import zscale_limits

    limits = [zscale_limits(frame.samples) for frame in frames]
    # One linear range for all channels keeps the colours: a fraction of the widest zscale
    # range, so that faint stars come up as in the single-frame asinh.
    span = max(max(high - low, 1e-6) for low, high in limits) * LUPTON_STRETCH
    channels = [
        np.nan_to_num(image, nan=low, posinf=low, neginf=low)
        for image, (low, _high) in zip(images, limits, strict=True)
    ]
    intervals = [ManualInterval(vmin=low, vmax=np.inf) for low, _high in limits]
    return make_lupton_rgb(*channels, interval=intervals, stretch=span, Q=LUPTON_Q)


def render_frames(frames: Sequence[Frame], params: ThumbnailParams) -> Thumbnail:
    """Render one frame, or three (R, V, B) when ``params.color``, into a thumbnail.

    Parameters
    ----------
    frames : sequence of Frame
        From `load_frame`; the same frames can be rendered with many parameters.
    params : ThumbnailParams

    Returns
    -------
    Thumbnail
    """
    expected = 3 if params.color else 1
    if len(frames) != expected:
        raise InvalidParameter(
            "color", f"needs {expected} frame{'s' if expected > 1 else ''}, got {len(frames)}"
        )
    rows, cols = frames[0].shape
    out_w, out_h = fit_size(cols, rows, params.width, params.height)
    factor = _bin_factor(cols, rows, out_w, out_h)
    for frame in frames:
        frame.expect(factor)  # a streamed frame: one pass for the statistics and the binning
    lupton = params.color and params.stretch == "asinh"
    binned = [
        frame.binned(
            factor,
            None if lupton else clip_limits(params.stretch, frame.samples, params.percentile),
        )
        for frame in frames
    ]
    images = [image for image, _used in binned]
    alignment = None
    if params.color:
        images, alignment = _align(images, frames, [used for _image, used in binned])
    if lupton:
        levels = _lupton_rgb(images, frames)
    else:
        channels = [
            scale_channel(
                image,
                frame.samples,
                stretch=params.stretch,
                percentile=params.percentile,
                median=params.median,
                bin_factor=used,
            )
            for image, frame, (_image, used) in zip(images, frames, binned, strict=True)
        ]
        levels = channels[0] if len(channels) == 1 else np.dstack(channels)
    if params.color:
        # Where any channel has no data (edges uncovered after alignment) draw black rather
        # than a false colour.
        levels[np.logical_or.reduce([~np.isfinite(image) for image in images])] = 0
    # Row 0 is FITS row 1, which the old service showed at the bottom.
    picture = Image.fromarray(np.ascontiguousarray(levels[::-1]))
    if picture.size != (out_w, out_h):
        picture = picture.resize((out_w, out_h), Image.Resampling.LANCZOS)
    if params.label:
        from .label import draw_label  # ImageFont only when there is a label

        draw_label(picture, params.label)
    return Thumbnail(
        data=_encode(picture, params),
        content_type=params.content_type,
        width=out_w,
        height=out_h,
        alignment=alignment,
    )


def _encode(picture: Image.Image, params: ThumbnailParams) -> bytes:
    buffer = io.BytesIO()
    if params.format == "jpeg":
        picture.save(buffer, "JPEG", quality=params.quality)
    elif params.format == "webp":
        picture.save(buffer, "WEBP", quality=params.quality, method=4)
    else:
        picture.save(buffer, "PNG")
    return buffer.getvalue()


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
    return render_frames([load_frame(d, limits=limits) for d in data], params)
