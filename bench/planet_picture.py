"""Write the README's planet picture, ``docs/planet.png`` (not a test).

    .venv/bin/python bench/planet_picture.py [--out docs/planet.png]

Three synthetic frames of a banded, limb-darkened planet (red, green and blue: the belts
darker in blue, a red spot), with a moon beside it and a star brighter than the disk pixel
for pixel, offset 7.3 px and 4.1 px from frame to frame as a pointing drifts, written as
Rice-compressed FITS and rendered by the real renderer: on the left the red frame as an
ordinary thumbnail, on the right ``planet=true&color=true``.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
from astropy.io import fits
from PIL import Image

from thumbnails.imaging import render_thumbnail
from thumbnails.params import ThumbnailParams

SHAPE = (600, 700)
CENTRE = (330.4, 280.7)
RADIUS = 70.0
SHIFTS = ((0.0, 0.0), (7.3, 4.1), (7.3 + 4.1, 4.1 - 7.3))
#: Per channel (red, green, blue): disk level, belt depth, spot depth.
CHANNELS = ((5200.0, 0.25, 0.10), (4400.0, 0.35, 0.45), (3300.0, 0.50, 0.60))


def planet(channel: int, seed: int) -> np.ndarray:
    level, belt, spot = CHANNELS[channel]
    dx, dy = SHIFTS[channel]
    cx, cy = CENTRE[0] + dx, CENTRE[1] + dy
    rows, cols = SHAPE
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64)
    image = np.zeros(SHAPE)
    sub = 4
    offsets = (np.arange(sub) + 0.5) / sub - 0.5
    for oy in offsets:
        for ox in offsets:
            x, y = (xx + ox - cx) / RADIUS, (yy + oy - cy) / (RADIUS * 0.94)  # oblate
            r2 = x * x + y * y
            mu = np.sqrt(np.clip(1.0 - r2, 0.0, None))
            bands = 1.0 - belt * (np.sin(7.0 * np.arcsin(np.clip(y, -1, 1))) > 0.3)
            red_spot = 1.0 - spot * np.exp(-(((x + 0.3) / 0.14) ** 2 + ((y + 0.35) / 0.07) ** 2))
            surface = level * (1.0 - 0.55 * (1.0 - mu)) * bands * red_spot
            image += np.where(r2 < 1.0, surface, 0.0)
    image /= sub * sub
    mx, my = cx + 120.0, cy + 14.0
    image += 0.5 * level * np.exp(-((xx - mx) ** 2 + (yy - my) ** 2) / (2 * 2.0**2))
    sx, sy = cx - 210.0, cy - 150.0
    image += 8000.0 * np.exp(-((xx - sx) ** 2 + (yy - sy) ** 2) / (2 * 1.5**2))
    rng = np.random.default_rng(seed)
    return (image + 120.0 + rng.normal(0.0, 6.0, SHAPE)).astype(np.float32)


def frame_bytes(image: np.ndarray, filter_name: str) -> bytes:
    primary = fits.PrimaryHDU(header=fits.Header([("FILTER", filter_name), ("OBJECT", "SYN")]))
    sci = fits.CompImageHDU(image, name="SCI", compression_type="RICE_1", dither_seed=1)
    buffer = io.BytesIO()
    fits.HDUList([primary, sci]).writeto(buffer)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/planet.png"))
    args = parser.parse_args()
    frames = [frame_bytes(planet(c, c), name) for c, name in enumerate(("rp", "V", "B"))]
    whole = render_thumbnail(frames[:1], ThumbnailParams(width=360, height=360, format="png"))
    crop = render_thumbnail(
        frames, ThumbnailParams(planet=True, color=True, width=360, height=360, format="png")
    )
    left = Image.open(io.BytesIO(whole.data)).convert("RGB")
    right = Image.open(io.BytesIO(crop.data)).convert("RGB")
    gap = 12
    height = max(left.height, right.height)
    picture = Image.new("RGB", (left.width + gap + right.width, height), (255, 255, 255))
    picture.paste(left, (0, (height - left.height) // 2))
    picture.paste(right, (left.width + gap, (height - right.height) // 2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    picture.save(args.out, optimize=True)
    print(f"{args.out}: whole red frame {left.size}, planet {right.size}, {crop.alignment}")


if __name__ == "__main__":
    main()
