"""Put the three channels of a colour composite on one flux scale, with their skies removed.

Raw counts are not colours: a red frame collects more sky and more starlight than a blue one
of the same exposure, so stacking counts (or stretching each channel on its own) paints the
field in the colour of whichever filter collected most. Here each channel becomes

    flux = (counts - sky) * scale

- `sky` is a robust background (a sigma-clipped median of the frame's pixel sample), so the
  background is zero in every channel whatever the stretch;
- `scale` comes, in this order of preference, from

  ``zeropoint``
      BANZAI's photometric zero point ``L1ZP`` and ``EXPTIME`` in every channel's header.
      BANZAI (``banzai/photometry.py``, ``utils/photometry_utils.to_magnitude``) defines
      ``mag = -2.5 log10(counts / EXPTIME) + L1ZP`` for counts in the image's own units,
      against an AB reference catalogue, so ``counts * 10**(-0.4 L1ZP) / EXPTIME`` is a flux
      density on one scale for every filter: a flat-spectrum source comes out white.
      BANZAI (1.40) calibrates only ``gp``, ``rp``, ``ip`` and ``zs``, so an ``rp, V, B`` set
      normally has a zero point in its red frame only, and falls back to:
  ``stars``
      white balance on the field: stars found in all three aligned channels have, after
      scaling, a neutral median colour (the usual choice of colour-imaging software when
      nothing is calibrated);
  ``none``
      nothing to calibrate with (too few stars, or channels not aligned by WCS): the
      channels' counts as they are (their skies still removed).

How the balanced channels are then made to look alike (the same sky grey, equally sharp
stars) is `thumbnails.imaging.color_match`'s job.

Pure numpy: no I/O, no AWS. The renderer applies the result and stretches the fluxes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .scaling import median_sigma

logger = logging.getLogger(__name__)

ZEROPOINT = "zeropoint"
STARS = "stars"
NONE = "none"
METHODS = (ZEROPOINT, STARS, NONE)

#: Sigma clipping of the sky estimate: clip at this many robust sigmas, up to this many times.
SKY_CLIP_SIGMAS = 3.0
SKY_CLIP_ITERATIONS = 5
#: Zero points outside this range (magnitudes) are header damage, not calibration (LCO's
#: telescopes have ~21 (0.4 m) to ~25.5 (2 m) for counts in electrons per second).
ZEROPOINT_RANGE = (10.0, 40.0)
#: A star counts for the white balance when the sum of its three channels' peak signal to
#: noise exceeds this, and each channel's aperture flux has at least `MIN_CHANNEL_SNR`.
DETECTION_SNR = 15.0
MIN_CHANNEL_SNR = 10.0
#: Fewer matched stars than this and the field's median colour means little.
MIN_STARS = 5
#: The brightest candidates measured (by detection signal); more add nothing to a median.
MAX_STARS = 300
#: The star aperture's half-width in unbinned pixels (LCO seeing: FWHM ~ 2-6 px, so most of
#: a star's flux); it never shrinks below one binned pixel around the peak.
APERTURE_UNBINNED = 4.0


@dataclass(frozen=True)
class ColorBalance:
    """How the channels were put on one flux scale.

    Attributes
    ----------
    method : str
        ``"zeropoint"``, ``"stars"`` or ``"none"`` (see the module docstring).
    sky : tuple of float
        Each channel's background, in its own counts.
    scales : tuple of float
        Each channel's factor from background-subtracted counts to the common flux scale,
        relative to the first (red) channel.
    detail : str
        Why this method was chosen, for the log.
    """

    method: str
    sky: tuple[float, ...]
    scales: tuple[float, ...]
    detail: str = ""

    def apply(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """``(image - sky) * scale`` per channel, as new float32 arrays (NaN stays NaN)."""
        balanced = []
        for image, sky, scale in zip(images, self.sky, self.scales, strict=True):
            out = np.subtract(image, np.float32(sky), dtype=np.float32)
            out *= np.float32(scale)
            balanced.append(out)
        return balanced

    def apply_samples(self, samples: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The same on sorted samples (scales are positive, so they stay sorted)."""
        return [
            (values - sky) * scale
            for values, sky, scale in zip(samples, self.sky, self.scales, strict=True)
        ]


def sky_background(samples: np.ndarray) -> tuple[float, float]:
    """The sky level and noise of a frame from its pixel sample: sigma-clipped median and MAD.

    The plain median sits above the sky by the stars' share of the sample; clipping the
    bright tail (and dead pixels) brings it back to the background.

    Parameters
    ----------
    samples : ndarray
        Finite pixel values (any order).

    Returns
    -------
    level, sigma : float
        ``(0, 0)`` for an empty sample.
    """
    values = np.asarray(samples, dtype=np.float64)
    if values.size == 0:
        return 0.0, 0.0
    level, sigma = median_sigma(values)
    for _ in range(SKY_CLIP_ITERATIONS):
        keep = np.abs(values - level) <= SKY_CLIP_SIGMAS * sigma
        kept = int(keep.sum())
        # Converged when (almost) nothing more is clipped.
        if sigma <= 0.0 or kept >= 0.998 * values.size or kept < 10:
            break
        values = values[keep]
        level, sigma = median_sigma(values)
    return level, sigma


def zeropoint_scale(header: Mapping[str, object] | None) -> tuple[float | None, str]:
    """``10**(-0.4 L1ZP) / EXPTIME`` of one frame, or None and why not.

    Parameters
    ----------
    header : mapping
        The frame's header (``SCI`` merged over primary), where BANZAI writes ``L1ZP``.
    """
    if header is None:
        return None, "no header"
    zeropoint, exptime = header.get("L1ZP"), header.get("EXPTIME")
    if zeropoint is None:
        return None, "no L1ZP"
    if not _is_number(zeropoint):
        return None, f"L1ZP is not a number ({zeropoint!r:.20})"
    if not ZEROPOINT_RANGE[0] < float(zeropoint) < ZEROPOINT_RANGE[1]:
        return None, f"L1ZP {float(zeropoint):g} is implausible"
    if not _is_number(exptime) or not float(exptime) > 0.0:
        return None, "no positive EXPTIME"
    return 10.0 ** (-0.4 * float(zeropoint)) / float(exptime), "L1ZP"


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float | np.number)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def balance_channels(
    images: Sequence[np.ndarray],
    samples: Sequence[np.ndarray],
    headers: Sequence[Mapping[str, object] | None],
    *,
    bin_factor: int = 1,
    aligned: bool = True,
) -> ColorBalance:
    """Choose each channel's sky and flux scale (zero points, else stars, else none).

    Parameters
    ----------
    images : sequence of ndarray
        The channels (red first), binned and aligned onto one grid, NaN where uncovered.
    samples : sequence of ndarray
        Each frame's sorted finite pixel sample (full resolution), for its sky.
    headers : sequence of mapping
        Each frame's header (``L1ZP``, ``EXPTIME``).
    bin_factor : int
        The factor the images were binned by (sizes the star aperture).
    aligned : bool
        Whether the images are on one grid (aligned by WCS): stars are only matched then.

    Returns
    -------
    ColorBalance
        Also logged at INFO: the method, the factors and why.
    """
    if not len(images) == len(samples) == len(headers):
        raise ValueError("balance_channels needs one sample and one header per image")
    skies = [sky_background(values) for values in samples]
    sky = tuple(level for level, _sigma in skies)
    balance = _zeropoint_balance(sky, headers)
    if balance is None:
        why = _zeropoint_missing(headers)
        balance = _star_balance(images, sky, bin_factor, aligned, why) or _no_balance(sky, why)
    logger.info(
        "colour balance: %s, channel scales %s (%s)",
        balance.method,
        ", ".join(f"{scale:.4g}" for scale in balance.scales),
        balance.detail,
    )
    return balance


def _zeropoint_balance(
    sky: tuple[float, ...], headers: Sequence[Mapping[str, object] | None]
) -> ColorBalance | None:
    scales = [zeropoint_scale(header)[0] for header in headers]
    if any(scale is None for scale in scales):
        return None
    reference = scales[0]
    relative = tuple(scale / reference for scale in scales)  # type: ignore[operator]
    return ColorBalance(ZEROPOINT, sky, relative, "L1ZP and EXPTIME in every channel")


def _zeropoint_missing(headers: Sequence[Mapping[str, object] | None]) -> str:
    reasons = [zeropoint_scale(header)[1] for header in headers]
    return "no zero point: " + ", ".join(
        f"channel {index} {reason}" for index, reason in enumerate(reasons) if reason != "L1ZP"
    )


def _no_balance(sky: tuple[float, ...], why: str) -> ColorBalance:
    return ColorBalance(NONE, sky, tuple(1.0 for _ in sky), why)


def _star_balance(
    images: Sequence[np.ndarray],
    sky: tuple[float, ...],
    bin_factor: int,
    aligned: bool,
    why: str,
) -> ColorBalance | None:
    if not aligned:
        logger.info("colour balance: stars not matched, the channels are not aligned by WCS")
        return None
    fluxes = star_fluxes(images, sky, bin_factor)
    if fluxes.shape[0] < MIN_STARS:
        logger.info(
            "colour balance: %d stars found in all channels, %d needed",
            fluxes.shape[0],
            MIN_STARS,
        )
        return None
    # The median star's flux ratio to red, per channel: dividing by it makes that star white.
    ratios = np.median(fluxes / fluxes[:, :1], axis=0)
    scales = tuple(float(1.0 / ratio) for ratio in ratios)
    return ColorBalance(STARS, sky, scales, f"{why}; median colour of {fluxes.shape[0]} stars")


def star_fluxes(
    images: Sequence[np.ndarray], sky: Sequence[float], bin_factor: int = 1
) -> np.ndarray:
    """Aperture fluxes of isolated stars seen in every channel of aligned images.

    Stars are local maxima of the summed signal-to-noise image; each is measured in a box
    of about `APERTURE_UNBINNED` pixels around its peak, and kept only when no other peak
    shares its box, no channel lacks data there, and every channel's flux is significant.
    (A saturated core's flat top is a row of equal peaks, none isolated: such stars, whose
    flux ratios are wrong, are left out.)

    Parameters
    ----------
    images : sequence of ndarray
        Aligned channels, same shape, NaN where uncovered.
    sky : sequence of float
        Each channel's background level.
    bin_factor : int
        Unbinned pixels per image pixel.

    Returns
    -------
    ndarray
        ``(stars, channels)`` background-subtracted fluxes, all positive.
    """
    channels = len(images)
    half = max(1, round(APERTURE_UNBINNED / bin_factor))
    noise = [image_noise(image) for image in images]  # the MAD needs no sky subtracted
    if any(sigma <= 0.0 for sigma in noise):
        return np.empty((0, channels))
    # The summed signal to noise, sky subtracted at the end (one pass per channel, no
    # sky-subtracted copies). Uncovered pixels (NaN) are never peaks, nor their neighbours.
    detection = np.zeros(images[0].shape, dtype=np.float32)
    scratch = np.empty_like(detection)
    for image, sigma in zip(images, noise, strict=True):
        np.multiply(image, np.float32(1.0 / sigma), out=scratch)
        detection += scratch
    detection -= np.float32(sum(level / sigma for level, sigma in zip(sky, noise, strict=True)))
    rows, cols = _peaks(detection, DETECTION_SNR * math.sqrt(channels), half)
    if rows.size == 0:
        return np.empty((0, channels))
    order = np.argsort(detection[rows, cols])[::-1][:MAX_STARS]
    rows, cols = rows[order], cols[order]
    isolated = _isolated(rows, cols, half)
    rows, cols = rows[isolated], cols[isolated]
    box = (2 * half + 1) ** 2
    fluxes = np.empty((rows.size, channels))
    dy, dx = np.mgrid[-half : half + 1, -half : half + 1]
    for index, (image, level) in enumerate(zip(images, sky, strict=True)):
        # The box sums of every peak at once: a (stars, box) gather.
        stamps = image[rows[:, None] + dy.ravel(), cols[:, None] + dx.ravel()]
        fluxes[:, index] = stamps.sum(axis=1, dtype=np.float64) - box * level
    significant = np.all(fluxes >= MIN_CHANNEL_SNR * np.sqrt(box) * np.array(noise), axis=1)
    return fluxes[significant & np.all(np.isfinite(fluxes), axis=1)]


def image_noise(values: np.ndarray) -> float:
    """Robust pixel noise of an image (MAD of a strided subsample of its finite pixels).

    Stars and uncovered (NaN) pixels do not count: a few thousand pixels spread over the
    image give it to about 2 %.
    """
    step = max(1, int(math.sqrt(values.size / 5000)))
    subsample = values[::step, ::step]
    subsample = subsample[np.isfinite(subsample)]
    if subsample.size < 10:
        return 0.0
    return median_sigma(subsample)[1]  # the MAD ignores stars: no clipping needed


def _peaks(detection: np.ndarray, threshold: float, margin: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of local maxima above `threshold`, `margin` from the edges."""
    rows, cols = detection.shape
    if rows <= 2 * margin or cols <= 2 * margin:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    core = detection[margin : rows - margin, margin : cols - margin]
    # Few pixels pass: compare only those. (np.nonzero of a 2-D mask costs ten times the
    # flat indices and a division; both list them in the same, row-major, order.)
    found_rows, found_cols = np.divmod(np.flatnonzero(core > threshold), core.shape[1])
    found_rows += margin
    found_cols += margin
    values = detection[found_rows, found_cols]
    peak = np.ones(values.size, dtype=bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                peak &= values >= detection[found_rows + dy, found_cols + dx]
    return found_rows[peak], found_cols[peak]


def _isolated(rows: np.ndarray, cols: np.ndarray, half: int) -> np.ndarray:
    """True for peaks with no other peak within two aperture half-widths (no blends)."""
    if rows.size < 2:
        return np.ones(rows.size, dtype=bool)
    close = (np.abs(rows[:, None] - rows[None, :]) <= 2 * half) & (
        np.abs(cols[:, None] - cols[None, :]) <= 2 * half
    )
    np.fill_diagonal(close, False)
    return ~close.any(axis=1)
