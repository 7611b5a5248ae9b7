"""Planets (``planet=true``): find the disk, crop a square around it, align colour on it.

A planet frame has no stars to align on and nothing of interest but the disk, so the
ordinary pipeline (WCS alignment, star colour balance, zscale of the whole field) does not
apply. Here, for each channel:

1. `find_disk`: the planet is the extended object with the largest integrated flux above a
   robust sky: the image is smoothed (3 x 3), thresholded `DETECT_SIGMAS` above the sky
   (median and MAD), its connected regions labelled (`label_regions`, pure numpy), and
   each region's *core* (its pixels above half its peak) measured. A region is extended
   when its core is at least `MIN_DISK_RADIUS` pixels in radius and round enough; a moon or
   a star (a point source: a core of the seeing's size) is not, whatever its peak;
2. the square crop is sized from the disk (`CROP_MARGIN` times its diameter) and centred on
   the reference channel's refined centroid (`disk_centroid`);
3. colour: each channel is cut around its own disk (the centroid takes out the pointing
   offset), the remaining offset is measured by cross-correlation of the crops refined to
   1/`UPSAMPLE` pixel (`measure_shift`, the matrix-multiply DFT of Guizar-Sicairos et al.
   2008), and every channel is resampled bilinearly onto the reference's grid (`shifted`);
4. `linear_levels`: black at the sky plus `BLACK_SIGMAS` sky sigmas, white at the disk's
   ``percentile``, each channel to its own range (a planet frame rarely has the zero point
   or the stars that `color_balance` needs).

No WCS is used. Pure numpy: no I/O, no AWS.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import NoPlanetFound
from .align import shifted_bilinear
from .scaling import median_sigma

ALIGNED_ON_PLANET = "planet"
#: The balance of a planet's colour channels: each stretched to its own disk (see above).
PER_CHANNEL = "per-channel"

#: The detection image's longest side at most (the frame is block-averaged down to it):
#: a 4k frame is searched at half resolution, enough for disks of 10 px and more.
DETECT_SIDE = 2048
#: Threshold of the smoothed image above the sky, in its robust sigmas.
DETECT_SIGMAS = 5.0
#: Smallest core radius (unbinned pixels) of an extended object: a star's half-maximum core
#: is the seeing's (LCO: FWHM 2-8 px, a radius of 1-4 px).
MIN_DISK_RADIUS = 5.0
#: A core must be round-ish (minor over major axis from its second moments): a bad column
#: or a satellite trail is not a planet; Saturn with open rings is above it.
MIN_AXIS_RATIO = 0.3
#: The crop's side in disk diameters (the disk fills ``1 / CROP_MARGIN`` of it).
CROP_MARGIN = 1.75
#: Smallest crop side (unbinned pixels).
MIN_CROP_SIDE = 32
#: Sub-pixel resolution of the cross-correlation: 1/20 px.
UPSAMPLE = 20
#: Largest side of the crop as processed (binned pixels): a disk larger than this in the
#: output box is block-averaged down to it first (it bounds the crop's memory: ~160 bytes a
#: binned pixel while it is aligned, `budget.PLANET_CROP_BYTES`).
MAX_CROP_SIDE = 1024
#: Extra binned pixels cut around each channel's crop, so that shifting it leaves no edge.
SHIFT_PAD = 4
#: Black point: this many sky sigmas above the sky (the sky is black, its noise hidden).
BLACK_SIGMAS = 3.0
#: Samples used for the sky statistics of a detection image.
SKY_SAMPLES = 200_000


@dataclass(frozen=True)
class Disk:
    """A planet's disk found in an image.

    Attributes
    ----------
    x, y : float
        Flux-weighted centroid of the core, 0-based pixels of the image searched.
    radius : float
        Radius of the core (pixels above half the peak), from its area.
    flux : float
        Integrated flux of the object above the sky.
    """

    x: float
    y: float
    radius: float
    flux: float


def sky_level(image: np.ndarray) -> tuple[float, float]:
    """Robust sky ``(median, sigma)`` of `image`: median and 1.4826 MAD of its finite pixels
    (a regular subsample of about `SKY_SAMPLES`); a planet covers a small part of a frame."""
    flat = image.reshape(-1)
    step = max(1, flat.size // SKY_SAMPLES)
    values = flat[::step]
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 0.0
    return median_sigma(values)


def block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """`image` block-averaged by `factor` (the ragged edge dropped; a block with a NaN is
    NaN), summed from strided views: no copy of the image, whatever its width."""
    if factor <= 1:
        return image
    rows, cols = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
    out = np.zeros((rows // factor, cols // factor), dtype=np.float32)
    for dy in range(factor):
        for dx in range(factor):
            out += image[dy:rows:factor, dx:cols:factor]
    out /= np.float32(factor * factor)
    return out


def _smoothed(image: np.ndarray) -> np.ndarray:
    """3 x 3 box mean (edges replicated): pixel noise down by 3 (NaN spreads: fill first)."""
    padded = np.pad(image, 1, mode="edge")
    out = np.zeros(image.shape, dtype=np.float32)
    rows, cols = image.shape
    for dy in range(3):
        for dx in range(3):
            out += padded[dy : dy + rows, dx : dx + cols]
    out /= np.float32(9.0)
    return out


def label_regions(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Connected regions (8-connected) of a boolean image, from its row runs.

    Runs of set pixels are found per row, runs of neighbouring rows that touch are joined
    (union by smallest label, with pointer jumping), and every pixel gets its run's label:
    vectorised throughout; beyond one pass over the mask, it costs in proportion to the
    runs and set pixels, not the image.

    Parameters
    ----------
    mask : ndarray of bool
        2-D.

    Returns
    -------
    pixels : ndarray of int
        Flat indices (``row * cols + col``) of the set pixels, in row order.
    labels : ndarray of int
        Each pixel's region, ``0 .. count - 1``.
    count : int
        The number of regions.
    """
    rows, cols = mask.shape
    edges = np.diff(np.pad(mask, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    start_row, start_col = np.nonzero(edges == 1)
    _end_row, end_col = np.nonzero(edges == -1)  # exclusive ends, same order as the starts
    runs = start_row.size
    if runs == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), 0
    width = cols + 2
    start_key = start_row * width + start_col
    end_key = start_row * width + end_col
    # The runs of the next row that touch run a (8-connected): end_b >= start_a and
    # start_b <= end_a; both are sorted, so the candidates are one contiguous range.
    below = (start_row + 1) * width
    low = np.searchsorted(end_key, below + start_col, side="left")
    high = np.searchsorted(start_key, below + end_col, side="right")
    counts = np.maximum(high - low, 0)
    a = np.repeat(np.arange(runs), counts)
    offsets = np.arange(a.size) - np.repeat(np.cumsum(counts) - counts, counts)
    b = np.repeat(low, counts) + offsets
    label = np.arange(runs)  # every run's root; a root is its own label
    while a.size:
        # Hook the roots of the two ends (not just the ends): whole trees merge at once, so
        # a long snake of runs takes a few rounds, not one per run.
        root_a, root_b = label[a], label[b]
        joined = np.minimum(root_a, root_b)
        before = label.copy()
        np.minimum.at(label, root_a, joined)
        np.minimum.at(label, root_b, joined)
        while True:  # pointer jumping: every run to its root
            jumped = label[label]
            if np.array_equal(jumped, label):
                break
            label = jumped
        if np.array_equal(label, before):
            break
    _roots, run_label = np.unique(label, return_inverse=True)
    lengths = end_col - start_col
    firsts = start_row * cols + start_col
    within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    pixels = np.repeat(firsts, lengths) + within
    return pixels, np.repeat(run_label, lengths), int(_roots.size)


def find_disk(image: np.ndarray, *, min_radius: float = MIN_DISK_RADIUS) -> Disk:
    """The planet's disk: the extended object with the most flux above the sky.

    Parameters
    ----------
    image : ndarray
        2-D float, NaN where there is no data.
    min_radius : float
        Smallest radius (pixels of `image`) of an extended object's core.

    Returns
    -------
    Disk

    Raises
    ------
    NoPlanetFound
        Nothing rises above the sky, or nothing that does is extended.
    """
    sky, _sigma = sky_level(image)
    filled = np.where(np.isfinite(image), image, np.float32(sky)).astype(np.float32, copy=False)
    smooth = _smoothed(filled)
    smooth_sky, smooth_sigma = sky_level(smooth)
    signal = smooth - np.float32(smooth_sky)
    mask = signal > np.float32(DETECT_SIGMAS * smooth_sigma)
    pixels, labels, count = label_regions(mask)
    if count == 0:
        raise NoPlanetFound("planet: no object stands out of the sky in this frame")
    cols = image.shape[1]
    values = signal.reshape(-1)[pixels].astype(np.float64)
    peaks = np.full(count, -np.inf)
    np.maximum.at(peaks, labels, values)
    flux = np.bincount(labels, weights=values, minlength=count)
    core = values >= 0.5 * peaks[labels]
    core_labels = labels[core]
    weights = values[core]
    ys, xs = np.divmod(pixels[core], cols)
    ys, xs = ys.astype(np.float64), xs.astype(np.float64)
    area = np.bincount(core_labels, minlength=count).astype(np.float64)
    total = np.bincount(core_labels, weights=weights, minlength=count)
    mean_x = np.bincount(core_labels, weights=weights * xs, minlength=count) / total
    mean_y = np.bincount(core_labels, weights=weights * ys, minlength=count) / total
    # Unweighted second moments of the core's shape (a disk of radius r: r**2 / 4 each).
    n = np.maximum(area, 1.0)
    cx = np.bincount(core_labels, weights=xs, minlength=count) / n
    cy = np.bincount(core_labels, weights=ys, minlength=count) / n
    dx, dy = xs - cx[core_labels], ys - cy[core_labels]
    sxx = np.bincount(core_labels, weights=dx * dx, minlength=count) / n + 1.0 / 12.0
    syy = np.bincount(core_labels, weights=dy * dy, minlength=count) / n + 1.0 / 12.0
    sxy = np.bincount(core_labels, weights=dx * dy, minlength=count) / n
    half_trace, det = 0.5 * (sxx + syy), sxx * syy - sxy * sxy
    root = np.sqrt(np.maximum(half_trace**2 - det, 0.0))
    ratio = np.sqrt(np.maximum(half_trace - root, 0.0) / (half_trace + root))
    radius = np.sqrt(area / math.pi)
    extended = (radius >= min_radius) & (ratio >= MIN_AXIS_RATIO)
    if not extended.any():
        largest = float(radius.max())
        raise NoPlanetFound(
            "planet: no extended object found in this frame (the largest object's core is "
            f"{2 * largest:.1f} px across, a planet's must be at least {2 * min_radius:.0f} px)"
        )
    best = int(np.argmax(np.where(extended, flux, -np.inf)))
    return Disk(float(mean_x[best]), float(mean_y[best]), float(radius[best]), float(flux[best]))


def disk_centroid(image: np.ndarray, x: float, y: float, radius: float) -> tuple[float, float]:
    """The disk's centroid refined on a sky-subtracted crop: flux-weighted over the pixels
    within ``1.3 radius`` of ``(x, y)`` that reach half the disk's peak (a moon or a star
    beside it is outside that, or below it). Returns ``(x, y)``."""
    rows, cols = image.shape
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64)
    near = (xx - x) ** 2 + (yy - y) ** 2 <= (1.3 * radius + 1.0) ** 2
    values = np.nan_to_num(_smoothed(np.nan_to_num(image, nan=0.0)), nan=0.0)
    inside = values[near]
    if inside.size == 0:
        return x, y
    peak = float(np.percentile(inside, 99.0))
    core = near & (values >= 0.5 * peak)
    weights = np.where(core, np.nan_to_num(image, nan=0.0), 0.0)
    total = float(weights.sum())
    if total <= 0.0:
        return x, y
    return float((weights * xx).sum() / total), float((weights * yy).sum() / total)


def measure_shift(reference: np.ndarray, image: np.ndarray) -> tuple[float, float]:
    """Where `image`'s content lies relative to `reference`'s, to 1/`UPSAMPLE` pixel.

    The cross-correlation's peak is found on the whole-pixel grid by FFT, then refined by
    evaluating the correlation on a grid `UPSAMPLE` times finer, 1.5 pixels either side of
    it, with a matrix-multiply DFT (Guizar-Sicairos, Thurman & Fienup 2008, as
    ``skimage.registration.phase_cross_correlation``): exact for the band-limited
    correlation, with none of a parabola's bias on a disk's cusped peak.

    Parameters
    ----------
    reference, image : ndarray
        Sky-subtracted crops of one shape (NaN counts as 0).

    Returns
    -------
    (dx, dy) : float
        ``image(p + (dx, dy)) ~ reference(p)``.
    """
    ref = np.fft.fft2(np.nan_to_num(reference, nan=0.0).astype(np.float64))
    img = np.fft.fft2(np.nan_to_num(image, nan=0.0).astype(np.float64))
    product = img * ref.conj()
    correlation = np.fft.ifft2(product).real
    peak = np.unravel_index(int(np.argmax(correlation)), correlation.shape)
    shape = np.array(correlation.shape)
    coarse = np.array(peak, dtype=np.float64)
    coarse[coarse > shape // 2] -= shape[coarse > shape // 2]
    coarse = np.round(coarse * UPSAMPLE) / UPSAMPLE
    region = math.ceil(UPSAMPLE * 1.5)
    offset = region // 2 - coarse * UPSAMPLE  # the fine grid's origin, in fine pixels
    fine = _upsampled_dft(product, region, offset).real
    best = np.array(np.unravel_index(int(np.argmax(fine)), fine.shape), dtype=np.float64)
    dy, dx = coarse + (best - region // 2) / UPSAMPLE
    return float(dx), float(dy)


def _upsampled_dft(spectrum: np.ndarray, region: int, offset: np.ndarray) -> np.ndarray:
    """The inverse DFT of `spectrum` on a ``region x region`` grid of step 1/`UPSAMPLE`,
    fine pixel ``k`` of an axis at ``(k - offset) / UPSAMPLE``: two small matrix products."""
    data = spectrum
    for size, origin in zip(spectrum.shape[::-1], offset[::-1], strict=True):
        positions = (np.arange(region) - origin)[:, None] * np.fft.fftfreq(size, UPSAMPLE)
        data = np.tensordot(np.exp(2j * np.pi * positions), data, axes=(1, -1))
    return data


def square(image: np.ndarray, x: int, y: int, side: int) -> np.ndarray:
    """The ``side x side`` square of `image` whose first pixel is ``(x, y)``; NaN outside."""
    out = np.full((side, side), np.nan, dtype=np.float32)
    rows, cols = image.shape
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + side, cols), min(y + side, rows)
    if x1 > x0 and y1 > y0:
        out[y0 - y : y1 - y, x0 - x : x1 - x] = image[y0:y1, x0:x1]
    return out


@dataclass(frozen=True)
class PlanetCrop:
    """The channels of a planet, cropped, aligned and sky-subtracted.

    Attributes
    ----------
    channels : list of ndarray
        ``side x side`` float32 images, the disk's centroid at their centre, sky zero, NaN
        off the frame.
    sigmas : list of float
        Each channel's sky noise at this binning.
    factor : int
        The block-average factor of the crop (1: the frame's own pixels).
    shifts : list of (float, float)
        Each channel's measured offset ``(dx, dy)`` from the first, in unbinned pixels
        (centroids and cross-correlation together; the first is ``(0, 0)``).
    """

    channels: list[np.ndarray]
    sigmas: list[float]
    factor: int
    shifts: list[tuple[float, float]]


def planet_crop(images: Sequence[np.ndarray], box: tuple[int, int]) -> PlanetCrop:
    """Find the planet in every image, crop a square around it, align the channels on it.

    Parameters
    ----------
    images : sequence of ndarray
        The frames' own pixels (unbinned float32, row 0 = FITS row 1): one (grey) or three.
    box : (width, height)
        The output box: the crop is block-averaged to within 2x of it.

    Returns
    -------
    PlanetCrop

    Raises
    ------
    NoPlanetFound
        No extended object in a channel.
    """
    rows, cols = images[0].shape
    detect_factor = max(1, math.ceil(max(rows, cols) / DETECT_SIDE))
    disks = []
    for image in images:
        found = find_disk(
            block_mean(image, detect_factor), min_radius=MIN_DISK_RADIUS / detect_factor
        )
        # Binned pixel j covers j*f .. j*f+f-1: its centre is j*f + (f-1)/2 unbinned.
        centre = (detect_factor - 1) / 2.0
        disks.append(
            Disk(
                found.x * detect_factor + centre,
                found.y * detect_factor + centre,
                found.radius * detect_factor,
                found.flux,
            )
        )
    radius = max(disk.radius for disk in disks)
    side = max(MIN_CROP_SIDE, math.ceil(2.0 * CROP_MARGIN * radius))
    factor = max(1, min(side // box[0], side // box[1]), math.ceil(side / MAX_CROP_SIDE))
    binned_side = max(1, side // factor)
    side = binned_side * factor
    pad = SHIFT_PAD * factor
    cut = []  # each channel around its own disk: (binned crop, its first unbinned pixel)
    sigmas = []
    for image, disk in zip(images, disks, strict=True):
        x0 = round(disk.x - (side - 1) / 2.0) - pad
        y0 = round(disk.y - (side - 1) / 2.0) - pad
        crop = block_mean(square(image, x0, y0, side + 2 * pad), factor)
        crop[~np.isfinite(crop)] = np.nan  # an Inf pixel is no data, as in every stretch
        sky, sigma = sky_level(image)
        crop -= np.float32(sky)
        cut.append((crop, x0, y0))
        sigmas.append(sigma / factor)  # block averaging f x f pixels of independent noise
    # The reference's centroid, refined on its crop, is the output's centre.
    ref_crop, ref_x0, ref_y0 = cut[0]
    to_binned = (factor - 1) / 2.0
    guess_x = (disks[0].x - ref_x0 - to_binned) / factor
    guess_y = (disks[0].y - ref_y0 - to_binned) / factor
    cx, cy = disk_centroid(ref_crop, guess_x, guess_y, disks[0].radius / factor)
    corner_x = cx - (binned_side - 1) / 2.0
    corner_y = cy - (binned_side - 1) / 2.0
    channels, shifts = [], []
    for index, (crop, x0, y0) in enumerate(cut):
        dx = dy = 0.0
        if index:
            dx, dy = measure_shift(ref_crop, crop)
        shape = (binned_side, binned_side)
        channels.append(shifted_bilinear(crop, corner_x + dx, corner_y + dy, shape))
        # In unbinned pixels of the frames: the window offsets plus the measured residual.
        shifts.append((x0 - ref_x0 + dx * factor, y0 - ref_y0 + dy * factor))
    return PlanetCrop(channels, sigmas, factor, shifts)


def linear_levels(crop: PlanetCrop, percentile: float) -> np.ndarray:
    """0..255 levels of the cropped channels: a linear stretch per channel, black at
    `BLACK_SIGMAS` sky sigmas above the sky, white at the disk's `percentile`.

    Returns a 2-D uint8 array for one channel, ``(rows, cols, 3)`` for three; pixels off
    the frame are black.
    """
    levels = []
    for image, sigma in zip(crop.channels, crop.sigmas, strict=True):
        black = BLACK_SIGMAS * sigma
        disk = image[np.isfinite(image) & (image > black)]
        white = float(np.percentile(disk, percentile)) if disk.size else black + 1.0
        if white <= black:
            white = black + 1.0
        unit = (np.nan_to_num(image, nan=black) - black) / (white - black)
        levels.append(np.rint(np.clip(unit, 0.0, 1.0) * 255.0).astype(np.uint8))
    return levels[0] if len(levels) == 1 else np.dstack(levels)
