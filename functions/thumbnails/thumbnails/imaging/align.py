"""Align the channels of a colour composite onto the first (red) frame's pixel grid by WCS.

The frames of one colour request are separate exposures: the telescope's pointing moves by a
few pixels between them, and the frames may differ in size or binning. Stacking them pixel
by pixel (as ``fits2image`` did) shows every star as a red, green and blue triplet; the old
service's star matching often failed and then stacked them anyway, silently.

Here each frame's celestial WCS says where its pixels are on the sky. At thumbnail scale the
mapping from the reference frame's (binned) pixels to another frame's (binned) pixels is an
affine transform to well under a pixel, so it is fitted from the two WCSs at a grid of points
and the channel is resampled bilinearly onto the reference grid: ~10 ms for a colour set of
1k frames (WCS parsing included), against ~15 ms to read each frame. Pure pointing offsets
(the usual case: same camera, same rotation) take a cheaper shifted-slice path.

When a WCS is missing or does not describe the same patch of sky consistently, the channels
are centre-cropped to their common size instead, the result says ``"none"``, and a log line
says why.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from dataclasses import dataclass

import numpy as np
from astropy import wcs as fits_wcs
from astropy.io import fits
from PIL import Image

logger = logging.getLogger(__name__)

ALIGNED_BY_WCS = "wcs"
NOT_ALIGNED = "none"

#: Points per axis of the grid on the reference frame at which the WCSs are compared.
GRID_POINTS = 5
#: Largest misfit (binned pixels) of the affine transform at the grid points. Two TAN WCSs
#: of one field fit to a few thousandths of a pixel; mild SIP distortion costs a fraction of
#: a pixel, still far better than not aligning. Beyond this, the WCSs disagree.
MAX_RESIDUAL = 1.0
#: Largest ratio between the binned pixel scales of two channels: beyond it, one WCS is
#: wrong (e.g. degrees taken for arcseconds), or bilinear resampling would alias anyway.
MAX_SCALE_RATIO = 4.0
#: Smallest fraction of the reference frame that another channel must cover.
MIN_OVERLAP = 0.5
#: A linear part this close to the identity (in binned pixels across the image) is treated
#: as a pure shift; a fractional shift this small is treated as whole.
PURE_SHIFT_TOLERANCE = 0.01
#: Rows resampled at a time by the shifted-slice path (~256 KiB a pass for 1k-wide images).
_BAND_ROWS = 64
#: The cards a celestial WCS is made of (WCS papers I-III, SIP). Real headers hold ~250
#: cards and astropy re-serialises and re-parses all of them to build a WCS (~5 ms a frame).
_WCS_KEYWORD = re.compile(
    r"(WCSAXES|NAXIS|CTYPE|CUNIT|CRVAL|CRPIX|CDELT|CROTA|CD\d|PC\d|PV\d|PS\d|LONPOLE|LATPOLE"
    r"|RADESYS|RADECSYS|EQUINOX|EPOCH|A_|B_|AP_|BP_)"
)


class _NotAligned(Exception):
    """Why the channels cannot be aligned by WCS (the message goes to the log)."""


@dataclass(frozen=True)
class _Affine:
    """Maps reference binned pixels ``(x, y)`` to a channel's binned pixels (0-based)."""

    matrix: np.ndarray  # 2x3: [[a, b, c], [d, e, f]]: x' = a x + b y + c, y' = d x + e y + f

    def apply(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        (a, b, c), (d, e, f) = self.matrix
        return a * x + b * y + c, d * x + e * y + f

    def shift_only(self, shape: tuple[int, int]) -> bool:
        """True when the linear part moves no pixel of `shape` by more than the tolerance."""
        linear = self.matrix[:, :2] - np.eye(2)
        return float(np.abs(linear).sum(axis=1).max()) * max(shape) < PURE_SHIFT_TOLERANCE


def align_channels(
    images: list[np.ndarray], headers: list[fits.Header | None], bins: list[int]
) -> tuple[list[np.ndarray], str]:
    """Resample every channel onto the first image's pixel grid using the frames' WCS.

    Parameters
    ----------
    images : list of numpy.ndarray
        Binned float32 2-D arrays (row 0 = FITS row 1), possibly of different shapes.
    headers : list of astropy.io.fits.Header or None
        Each frame's image header, with its celestial WCS if any (for the unbinned frame).
    bins : list of int
        The block-average factor each image was binned by: binned pixel ``j`` covers
        original pixels ``j*b .. j*b+b-1``, centred on ``j*b + (b-1)/2`` (0-based).

    Returns
    -------
    aligned : list of numpy.ndarray
        With ``"wcs"``: the first image unchanged and the others resampled (bilinear) onto
        its grid, all of its shape, NaN where a channel has no data. With ``"none"``: every
        image centre-cropped to the common (smallest) height and width.
    method : str
        ``"wcs"`` when aligned by WCS, ``"none"`` when the WCSs were missing or
        inconsistent (the reason is logged).

    Raises
    ------
    ValueError
        If the lists differ in length or are empty (a caller's bug).
    """
    aligned, _masks, method = align_with_masks(images, [None] * len(images), headers, bins)
    return aligned, method


def align_with_masks(
    images: list[np.ndarray],
    masks: list[np.ndarray | None],
    headers: list[fits.Header | None],
    bins: list[int],
) -> tuple[list[np.ndarray], list[np.ndarray | None], str]:
    """`align_channels`, carrying a mask of each channel (its saturated pixels) along.

    Parameters
    ----------
    masks : list of (numpy.ndarray or None)
        A bool mask of each image's pixels (its shape), or None for none.

    Returns
    -------
    aligned, method
        As `align_channels`.
    masks : list of (numpy.ndarray or None)
        Each mask on the first image's grid: a pixel is set where its resampled value draws
        on a masked pixel of the channel (`_carried`), so that a mask is never lost to the
        interpolation; None stays None.
    """
    if not images or not len(images) == len(masks) == len(headers) == len(bins):
        raise ValueError("align_channels needs one header and one bin factor per image")
    try:
        transforms = _transforms_from_wcs(images, headers, bins)
    except _NotAligned as reason:
        logger.warning("colour channels not aligned by WCS, centre-cropped instead: %s", reason)
        cropped = _centre_crop(images + [m for m in masks if m is not None])
        carried = iter(cropped[len(images) :])
        masks = [m if m is None else next(carried) for m in masks]
        return cropped[: len(images)], masks, NOT_ALIGNED
    reference = images[0]
    aligned = [reference]
    carried = [masks[0]]
    for image, mask, transform in zip(images[1:], masks[1:], transforms, strict=True):
        aligned.append(_resample(image, transform, reference.shape))
        carried.append(None if mask is None else _carried(mask, transform, reference.shape))
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "colour channels aligned by WCS; channel offsets at the reference centre: %s",
            [_offset_at_centre(t, reference.shape) for t in transforms],
        )
    return aligned, carried, ALIGNED_BY_WCS


def _transforms_from_wcs(
    images: list[np.ndarray], headers: list[fits.Header | None], bins: list[int]
) -> list[_Affine]:
    """The affine map from the reference's binned pixels to each other channel's."""
    wcss = [_celestial_wcs(header, index) for index, header in enumerate(headers)]
    ref_shape = images[0].shape
    rows, cols = ref_shape
    xs, ys = np.meshgrid(
        np.linspace(0.0, cols - 1, GRID_POINTS), np.linspace(0.0, rows - 1, GRID_POINTS)
    )
    xs, ys = xs.ravel(), ys.ravel()
    lon, lat = _pixel_to_sky(wcss[0], _unbinned(xs, bins[0]), _unbinned(ys, bins[0]))
    design = np.column_stack([xs, ys, np.ones_like(xs)])
    transforms = []
    for index in range(1, len(images)):
        if _sky_system(wcss[index]) != _sky_system(wcss[0]):
            raise _NotAligned(
                f"frame {index} uses sky coordinates {_sky_system(wcss[index])}, "
                f"frame 0 {_sky_system(wcss[0])}"
            )
        x_raw, y_raw = _sky_to_pixel(wcss[index], lon, lat, index)
        x_ch, y_ch = _binned(x_raw, bins[index]), _binned(y_raw, bins[index])
        solution, *_ = np.linalg.lstsq(design, np.column_stack([x_ch, y_ch]), rcond=None)
        transform = _Affine(solution.T)
        _check_consistent(transform, xs, ys, x_ch, y_ch, ref_shape, images[index].shape, index)
        transforms.append(transform)
    return transforms


def _celestial_wcs(header: fits.Header | None, index: int) -> fits_wcs.WCS:
    """The 2-D celestial WCS of a header, or `_NotAligned` saying what is wrong with it."""
    if header is None:
        raise _NotAligned(f"frame {index} has no header")
    try:
        with warnings.catch_warnings():
            # astropy warns as it fixes non-standard cards (RADECSYS...): harmless here.
            warnings.simplefilter("ignore", fits_wcs.FITSFixedWarning)
            wcs_cards = fits.Header([c for c in header.cards if _WCS_KEYWORD.match(c.keyword)])
            celestial = fits_wcs.WCS(wcs_cards).celestial
    except (ValueError, KeyError, TypeError, MemoryError) as error:
        raise _NotAligned(f"frame {index} has an unreadable WCS ({error})") from None
    if not celestial.has_celestial or celestial.naxis != 2:
        raise _NotAligned(f"frame {index} has no celestial WCS")
    return celestial


def _sky_system(celestial: fits_wcs.WCS) -> str:
    """The celestial axis types (``RA/DEC``, ``GLON/GLAT``...), projection stripped."""
    ctype = celestial.wcs.ctype
    return "/".join(ctype[axis].split("-")[0] for axis in (celestial.wcs.lng, celestial.wcs.lat))


def _pixel_to_sky(
    celestial: fits_wcs.WCS, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude (degrees) of 0-based unbinned pixel positions."""
    try:
        world = celestial.all_pix2world(x, y, 0)
    except (ValueError, fits_wcs.NoConvergence) as error:
        raise _NotAligned(f"frame 0's WCS cannot place its pixels on the sky ({error})") from None
    lon, lat = world[celestial.wcs.lng], world[celestial.wcs.lat]
    if not (np.all(np.isfinite(lon)) and np.all(np.isfinite(lat))):
        raise _NotAligned("frame 0's WCS cannot place its pixels on the sky")
    return lon, lat


def _sky_to_pixel(
    celestial: fits_wcs.WCS, lon: np.ndarray, lat: np.ndarray, index: int
) -> tuple[np.ndarray, np.ndarray]:
    """0-based unbinned pixel positions of sky positions, in frame `index`."""
    world = [None, None]
    world[celestial.wcs.lng], world[celestial.wcs.lat] = lon, lat
    try:
        x, y = celestial.all_world2pix(world[0], world[1], 0)
    except (ValueError, fits_wcs.NoConvergence) as error:
        raise _NotAligned(
            f"frame {index}'s WCS cannot place frame 0's sky in its pixels ({error})"
        ) from None
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise _NotAligned(f"frame {index}'s WCS cannot place frame 0's sky in its pixels")
    return x, y


def _unbinned(binned: np.ndarray, factor: int) -> np.ndarray:
    """Unbinned 0-based coordinate of the centre of binned pixel positions."""
    return binned * factor + (factor - 1) / 2.0


def _binned(unbinned: np.ndarray, factor: int) -> np.ndarray:
    """Binned 0-based coordinate of unbinned pixel positions (inverse of `_unbinned`)."""
    return (unbinned - (factor - 1) / 2.0) / factor


def _check_consistent(
    transform: _Affine,
    xs: np.ndarray,
    ys: np.ndarray,
    x_ch: np.ndarray,
    y_ch: np.ndarray,
    ref_shape: tuple[int, int],
    shape: tuple[int, int],
    index: int,
) -> None:
    """Refuse a transform that is not affine, scales wildly, or misses the channel's frame."""
    x_fit, y_fit = transform.apply(xs, ys)
    residual = float(np.hypot(x_fit - x_ch, y_fit - y_ch).max())
    if residual > MAX_RESIDUAL:
        raise _NotAligned(
            f"frame {index}'s WCS is not an affine map of frame 0's "
            f"(misfit {residual:.2f} px > {MAX_RESIDUAL} px)"
        )
    scales = np.linalg.svd(transform.matrix[:, :2], compute_uv=False)
    if scales.max() > MAX_SCALE_RATIO or scales.min() < 1.0 / MAX_SCALE_RATIO:
        raise _NotAligned(
            f"frame {index}'s binned pixel scale differs from frame 0's by a factor of "
            f"{scales.min():.3g}..{scales.max():.3g}"
        )
    overlap = _overlap(transform, ref_shape, shape)
    if overlap < MIN_OVERLAP:
        raise _NotAligned(
            f"frame {index} covers {overlap:.0%} of frame 0's field "
            f"(less than {MIN_OVERLAP:.0%}): not the same field"
        )


def _overlap(transform: _Affine, ref_shape: tuple[int, int], shape: tuple[int, int]) -> float:
    """Fraction of the reference grid (sampled coarsely) that lands inside the channel."""
    rows, cols = ref_shape
    xs, ys = np.meshgrid(np.linspace(0.0, cols - 1, 33), np.linspace(0.0, rows - 1, 33))
    x, y = transform.apply(xs, ys)
    inside = (x >= -0.5) & (x <= shape[1] - 0.5) & (y >= -0.5) & (y <= shape[0] - 0.5)
    return float(inside.mean())


def _offset_at_centre(transform: _Affine, shape: tuple[int, int]) -> tuple[float, float]:
    """Where the reference centre lands in the channel, minus the centre (for the log)."""
    cx, cy = (shape[1] - 1) / 2.0, (shape[0] - 1) / 2.0
    x, y = transform.apply(np.array(cx), np.array(cy))
    return round(float(x) - cx, 2), round(float(y) - cy, 2)


def _carried(mask: np.ndarray, transform: _Affine, shape: tuple[int, int]) -> np.ndarray:
    """A channel's bool `mask` on the reference grid: the pixels whose resampled value
    draws on a masked pixel of the channel.

    For a pure shift (the usual case), from the masked pixels' positions alone: reference
    pixel ``x`` reads channel pixels ``floor(x + dx)`` and the next, so a masked channel
    pixel ``xc`` marks ``floor(xc - dx)`` and the next, each axis (a few pixels per star
    instead of a pass over the image). Otherwise the mask is resampled like the image.
    """
    if not transform.shift_only(shape):
        moved = _resample(mask.astype(np.float32), transform, shape)
        with np.errstate(invalid="ignore"):  # NaN: outside the channel, not masked
            return moved > 0.0
    out = np.zeros(shape, dtype=bool)
    ys, xs = np.divmod(np.flatnonzero(mask), mask.shape[1])
    x0 = np.floor(xs - float(transform.matrix[0, 2])).astype(np.intp)
    y0 = np.floor(ys - float(transform.matrix[1, 2])).astype(np.intp)
    for y in (y0, y0 + 1):
        for x in (x0, x0 + 1):
            inside = (y >= 0) & (y < shape[0]) & (x >= 0) & (x < shape[1])
            out[y[inside], x[inside]] = True
    return out


def _resample(image: np.ndarray, transform: _Affine, shape: tuple[int, int]) -> np.ndarray:
    """`image` sampled bilinearly at the transformed positions of a `shape` grid."""
    if transform.shift_only(shape):
        dx, dy = float(transform.matrix[0, 2]), float(transform.matrix[1, 2])
        return shifted_bilinear(image, dx, dy, shape)
    return _affine_resampled(image, transform, shape)


def _affine_resampled(image: np.ndarray, transform: _Affine, shape: tuple[int, int]) -> np.ndarray:
    """General affine resampling with Pillow (bilinear on a 32-bit float image)."""
    (a, b, c), (d, e, f) = transform.matrix
    # Pillow samples output pixel (x, y) at its centre (x + 0.5, y + 0.5) and reads the input
    # with pixel i's centre at i + 0.5; our transform uses 0-based centres, hence the halves.
    coefficients = (a, b, c + 0.5 - 0.5 * (a + b), d, e, f + 0.5 - 0.5 * (d + e))
    source = Image.fromarray(np.ascontiguousarray(image, dtype=np.float32))
    result = source.transform(
        (shape[1], shape[0]),
        Image.Transform.AFFINE,
        coefficients,
        resample=Image.Resampling.BILINEAR,
        fillcolor=math.nan,
    )
    return np.array(result, dtype=np.float32)


@dataclass(frozen=True)
class _AxisShift:
    """Output indices ``start..stop-1`` read input ``first + k + fraction`` (k from 0)."""

    start: int
    stop: int
    first: int
    fraction: float


def _axis_shift(offset: float, size_in: int, size_out: int) -> _AxisShift | None:
    """How output positions ``k`` map to input ``k + offset`` along one axis (None: nowhere)."""
    whole = math.floor(offset)
    fraction = offset - whole
    if fraction < PURE_SHIFT_TOLERANCE:
        fraction = 0.0
    elif fraction > 1.0 - PURE_SHIFT_TOLERANCE:
        whole, fraction = whole + 1, 0.0
    start = max(0, -whole)
    # A fractional sample also reads the next input pixel, which must exist.
    stop = min(size_out, size_in - whole - (1 if fraction else 0))
    if stop <= start:
        return None
    return _AxisShift(start, stop, start + whole, fraction)


def shifted_bilinear(image: np.ndarray, dx: float, dy: float, shape: tuple[int, int]) -> np.ndarray:
    """`image` sampled at ``(x + dx, y + dy)`` on a `shape` grid: separable bilinear, float32,
    NaN where that falls outside `image` (used by `planet` too).

    Each axis is interpolated as ``a + f * (b - a)`` in place: three passes over the pixels
    per fractional axis, one temporary, no work at all for a whole-pixel shift.
    """
    out = np.empty(shape, dtype=np.float32)
    rows = _axis_shift(dy, image.shape[0], shape[0])
    cols = _axis_shift(dx, image.shape[1], shape[1])
    if rows is None or cols is None:
        out.fill(np.nan)
        return out
    out[: rows.start] = np.nan
    out[rows.stop :] = np.nan
    out[rows.start : rows.stop, : cols.start] = np.nan
    out[rows.start : rows.stop, cols.stop :] = np.nan
    target = out[rows.start : rows.stop, cols.start : cols.stop]
    height, width = rows.stop - rows.start, cols.stop - cols.start
    source = image[
        rows.first : rows.first + height + (1 if rows.fraction else 0),
        cols.first : cols.first + width + (1 if cols.fraction else 0),
    ]
    # In bands of rows, so that the passes over a band stay in the CPU cache and the x pass
    # reuses one small buffer (the arithmetic, and so every value, is the same as unbanded).
    extra = 1 if rows.fraction else 0
    scratch = np.empty((_BAND_ROWS + extra, width), dtype=np.float32) if cols.fraction else None
    for top in range(0, height, _BAND_ROWS):
        bottom = min(top + _BAND_ROWS, height)
        band = source[top : bottom + extra]
        if scratch is not None:
            along_x = scratch[: band.shape[0]]
            np.subtract(band[:, 1:], band[:, :-1], out=along_x)
            along_x *= cols.fraction
            along_x += band[:, :-1]
        else:
            along_x = band
        band_target = target[top:bottom]
        if rows.fraction:
            np.subtract(along_x[1:], along_x[:-1], out=band_target)
            band_target *= rows.fraction
            band_target += along_x[:-1]
        else:
            band_target[...] = along_x
    return out


def _centre_crop(images: list[np.ndarray]) -> list[np.ndarray]:
    """Centre-crop every image to the shape they all share (the smallest height and width)."""
    height = min(image.shape[0] for image in images)
    width = min(image.shape[1] for image in images)
    cropped = []
    for image in images:
        top = (image.shape[0] - height) // 2
        left = (image.shape[1] - width) // 2
        cropped.append(image[top : top + height, left : left + width])
    return cropped
