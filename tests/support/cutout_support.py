"""Frames with stars placed by a WCS, and finding a star again in a picture (cutout tests)."""

from __future__ import annotations

import io
import math

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
from PIL import Image

from tests.support.fits_factory import reduced_frame_bytes, star_field
from thumbnails.imaging.render import load_frame, render_frames
from thumbnails.params import ThumbnailParams

SHAPE = (256, 320)
SCALE = 0.5  # arcsec per pixel
CRVAL = (201.3, -43.0)


def wcs_cards(
    shape=SHAPE, *, rotation: float = 0.0, mirrored: bool = False, scale: float = SCALE
) -> dict[str, object]:
    """A TAN WCS rotated by `rotation` degrees (north towards +y when 0), east to the left
    (or, `mirrored`, to the right)."""
    step = scale / 3600.0
    east = 1.0 if mirrored else -1.0
    turn = math.radians(rotation)
    rows, cols = shape
    return {
        "CTYPE1": "RA---TAN",
        "CTYPE2": "DEC--TAN",
        "CRVAL1": CRVAL[0],
        "CRVAL2": CRVAL[1],
        "CRPIX1": (cols + 1) / 2.0 + 7.3,
        "CRPIX2": (rows + 1) / 2.0 - 4.1,
        "CD1_1": east * step * math.cos(turn),
        "CD1_2": -step * math.sin(turn),
        "CD2_1": east * step * math.sin(turn),
        "CD2_2": step * math.cos(turn),
    }


#: Where the stars are on the sky: the target, and others around it.
TARGET = (201.3040, -42.9975)
OTHERS = [(201.3050, -43.0040, 9000.0), (201.3200, -43.0080, 6000.0), (201.2950, -42.9900, 4000.0)]


def sky_frame(
    *,
    rotation=0.0,
    mirrored=False,
    compression="RICE_1",
    shape=SHAPE,
    seed=0,
    shift=(0, 0),
    extra: dict[str, object] | None = None,
) -> bytes:
    """A frame whose stars are placed by its WCS (astropy's) at known sky positions; `extra`
    cards are added to the WCS (distortion, say)."""
    cards = {**wcs_cards(shape, rotation=rotation, mirrored=mirrored), **(extra or {})}
    cards["CRPIX1"] += shift[0]
    cards["CRPIX2"] += shift[1]
    wcs = WCS(fits.Header(list(cards.items())))
    stars = []
    for ra, dec, peak in [(*TARGET, 20000.0), *OTHERS]:
        x, y = wcs.all_world2pix(ra, dec, 0)
        stars.append((float(x), float(y), peak))
    data = star_field(shape, seed=seed, stars=stars, fwhm=3.0)
    return reduced_frame_bytes(data=data, wcs=False, header=cards, compression=compression)


def render_png(frames_bytes, params: ThumbnailParams) -> np.ndarray:
    frames = []
    for data in frames_bytes:
        reference = frames[0] if frames else None
        frames.append(load_frame(data, cutout=params.cutout, reference=reference))
    thumbnail = render_frames(frames, params)
    return np.asarray(Image.open(io.BytesIO(thumbnail.data)))


def star_centre(grey: np.ndarray) -> tuple[float, float]:
    """``(x, y)`` of the brightest star: the centroid of the largest connected blob of pixels
    above half the peak (fainter stars make smaller blobs)."""
    values = grey.astype(np.float64)
    values -= np.median(values)
    mask = values > 0.5 * values.max()
    blobs: list[list[tuple[int, int]]] = []
    seen = np.zeros_like(mask)
    for start in zip(*np.nonzero(mask), strict=True):
        if seen[start]:
            continue
        seen[start] = True
        blob, todo = [], [start]
        while todo:
            row, col = todo.pop()
            blob.append((row, col))
            for near in ((row + 1, col), (row - 1, col), (row, col + 1), (row, col - 1)):
                inside = 0 <= near[0] < mask.shape[0] and 0 <= near[1] < mask.shape[1]
                if inside and mask[near] and not seen[near]:
                    seen[near] = True
                    todo.append(near)
        blobs.append(blob)
    rows, cols = np.array(max(blobs, key=len)).T
    weights = values[rows, cols]
    return float((weights * cols).sum() / weights.sum()), float(
        (weights * rows).sum() / weights.sum()
    )


def distance_from_centre(grey: np.ndarray) -> float:
    x, y = star_centre(grey)
    rows, cols = grey.shape
    return math.hypot(x - (cols - 1) / 2.0, y - (rows - 1) / 2.0)
