"""Synthetic planet frames: a limb-darkened disk, a moon and a star on a noisy sky.

The disk is supersampled (5 x 5 per pixel), so that its centre can be anywhere to a
fraction of a pixel; the moon and the star move with it (a pointing offset), and each frame
gets its own brightness and noise.
"""

from __future__ import annotations

import numpy as np

#: Offsets of the three frames of a colour set: 7.3 px and 4.1 px between frames.
COLOUR_SHIFTS = ((0.0, 0.0), (7.3, 4.1), (7.3 + 4.1, 4.1 - 7.3))
#: Disk brightness of the red, green and blue frames.
COLOUR_LEVELS = (4000.0, 3000.0, 2000.0)


def planet_image(
    shape: tuple[int, int],
    centre: tuple[float, float],
    *,
    radius: float = 30.0,
    level: float = 4000.0,
    limb: float = 0.6,
    sky: float = 100.0,
    noise: float = 5.0,
    seed: int = 0,
    moon: bool = True,
    star: bool = True,
) -> np.ndarray:
    """A frame (float32, row 0 = FITS row 1) with a planet's disk centred at ``(x, y)``.

    The disk's surface brightness falls linearly in ``mu`` (``1 - limb (1 - mu)``); a moon
    (a Gaussian of sigma 1.5 px, peak 0.35 `level`) lies 40 px east and 6 px north of the
    centre, inside the crop; a star (FWHM 3 px, peak twice the disk's centre, so brighter
    than the planet pixel for pixel) 70 px west and 45 px south.
    """
    rows, cols = shape
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64)
    cx, cy = centre
    image = np.zeros(shape)
    sub = 5
    offsets = (np.arange(sub) + 0.5) / sub - 0.5
    near = (np.abs(xx - cx) <= radius + 1) & (np.abs(yy - cy) <= radius + 1)
    for oy in offsets:
        for ox in offsets:
            r2 = ((xx[near] + ox - cx) ** 2 + (yy[near] + oy - cy) ** 2) / radius**2
            mu = np.sqrt(np.clip(1.0 - r2, 0.0, None))
            image[near] += np.where(r2 < 1.0, level * (1.0 - limb * (1.0 - mu)), 0.0)
    image /= sub * sub
    if moon:
        mx, my = cx + 40.0, cy + 6.0
        image += 0.35 * level * np.exp(-((xx - mx) ** 2 + (yy - my) ** 2) / (2 * 1.5**2))
    if star:
        sx, sy = cx - 70.0, cy - 45.0
        image += 2.0 * level * np.exp(-((xx - sx) ** 2 + (yy - sy) ** 2) / (2 * 1.27**2))
    rng = np.random.default_rng(seed)
    return (image + sky + rng.normal(0.0, noise, shape)).astype(np.float32)


def colour_set(
    shape: tuple[int, int] = (360, 400), base: tuple[float, float] = (190.4, 170.7)
) -> list[np.ndarray]:
    """Red, green and blue frames of one planet, offset by `COLOUR_SHIFTS` from `base`."""
    return [
        planet_image(shape, (base[0] + dx, base[1] + dy), level=level, seed=index)
        for index, ((dx, dy), level) in enumerate(zip(COLOUR_SHIFTS, COLOUR_LEVELS, strict=True))
    ]


def disk_centroid(channel: np.ndarray) -> tuple[float, float]:
    """Centroid ``(x, y)`` of a picture channel's disk: the levels of the pixels at or above
    half its brightest (99th percentile), as weights."""
    values = channel.astype(np.float64)
    core = values >= 0.5 * np.percentile(values, 99.0)
    weights = np.where(core, values, 0.0)
    yy, xx = np.mgrid[0 : values.shape[0], 0 : values.shape[1]]
    total = weights.sum()
    return float((weights * xx).sum() / total), float((weights * yy).sum() / total)
