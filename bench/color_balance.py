"""Measure the colour of colour composites on the local sample RVB set (not a test).

    .venv/bin/python bench/color_balance.py [--size 600] [--out bench/out]

The three ``coj2m002`` frames of `thumbnails.local.samples` (rp, V, B; sky 600, 350 and
150 e-; every star's counts in the ratio 1 : 0.7 : 0.45) are made in memory and rendered
through the real renderer as lossless PNG, ``color=True``, with ``zscale`` and ``asinh``:

- as the samples are (a zero point in the rp frame only, as BANZAI writes them), and
- with zero points in all three (``L1ZP`` rp 24.93, V 24.55, B 24.30: hypothetical, BANZAI
  calibrates no V or B frame), under which the stars' calibrated colour is
  ``1 : 0.7 * 10**(0.4 * 0.38) : 0.45 * 10**(0.4 * 0.63)`` = 1 : 0.99 : 0.81.

For each it prints the sky (the median R, G, B level of the picture's interior) and the
median G/R and B/R level ratios of bright, isolated, unsaturated stars (positions from the
samples' own star catalogue, the brightest R, G, B level in a 3x3 box). Run it with another
checkout's interpreter (e.g. ``/work/main/.venv/bin/python``) to measure that renderer.
PNGs go to ``--out``.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
from astropy.io import fits
from PIL import Image

from thumbnails.imaging import fit_size, render_thumbnail
from thumbnails.local.samples import SAMPLES, sample_bytes
from thumbnails.params import ThumbnailParams

COLOUR_SET = [spec for spec in SAMPLES if spec.name.startswith("coj2m002")]
ALL_ZEROPOINTS = {"rp": 24.93, "V": 24.55, "B": 24.30}
BORDER = 12  # output pixels left out of the sky median (uncovered edges after alignment)


def with_zeropoints(data: bytes, zeropoint: float) -> bytes:
    """The frame with ``L1ZP`` set in its SCI header."""
    with fits.open(io.BytesIO(data)) as hdus:
        hdus["SCI"].header["L1ZP"] = zeropoint
        buffer = io.BytesIO()
        hdus.writeto(buffer)
    return buffer.getvalue()


def catalogue(spec, size: int) -> list[tuple[float, float, float]]:
    """The red frame's stars as ``(x, y, counts)``, in output pixels (y from the top)."""
    rng = np.random.default_rng(spec.field_seed)  # as samples._moffat_stars draws them
    rows, cols = spec.shape
    x = rng.uniform(-20, cols + 20, spec.stars) + spec.shift[0]
    y = rng.uniform(-20, rows + 20, spec.stars) + spec.shift[1]
    flux = np.minimum(300.0 * (1.0 - rng.random(spec.stars)) ** (-1.0 / 0.7), 3e7)
    out_w, out_h = fit_size(cols, rows, size, size)
    sx, sy = out_w / cols, out_h / rows
    return [
        ((xi + 0.5) * sx - 0.5, out_h - 1 - ((yi + 0.5) * sy - 0.5), f)
        for xi, yi, f in zip(x, y, flux, strict=True)
    ]


def star_ratios(rgb: np.ndarray, stars) -> tuple[float, float, int]:
    """Median G/R and B/R of isolated stars whose brightest channel is 60..250."""
    height, width, _ = rgb.shape
    positions = np.array([(x, y) for x, y, _f in stars])
    ratios = []
    for x, y, _flux in stars:
        col, row = round(x), round(y)
        if not (BORDER <= col < width - BORDER and BORDER <= row < height - BORDER):
            continue
        distance = np.hypot(positions[:, 0] - x, positions[:, 1] - y)
        if np.sum(distance < 8.0) > 1:
            continue
        box = rgb[row - 1 : row + 2, col - 1 : col + 2].reshape(-1, 3).astype(float)
        peak = box.max(axis=0)
        if not 60 <= peak.max() <= 250 or peak[0] <= 0:
            continue
        ratios.append((peak[1] / peak[0], peak[2] / peak[0]))
    if not ratios:
        return float("nan"), float("nan"), 0
    values = np.array(ratios)
    return float(np.median(values[:, 0])), float(np.median(values[:, 1])), len(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=600)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--tag", default="", help="suffix of the PNG names (e.g. before)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    as_written = [sample_bytes(spec) for spec in COLOUR_SET]
    sets = {
        "as written (L1ZP in rp only)": ("samples", as_written),
        "L1ZP in all three": (
            "zeropoints",
            [
                with_zeropoints(data, ALL_ZEROPOINTS[spec.filter])
                for data, spec in zip(as_written, COLOUR_SET, strict=True)
            ],
        ),
    }
    stars = catalogue(COLOUR_SET[0], args.size)
    print(f"sample RVB set at {args.size} px: sky = median (R, G, B) level; stars: median ratios")
    for label, (slug, data) in sets.items():
        for stretch in ("zscale", "asinh"):
            params = ThumbnailParams(
                width=args.size, height=args.size, color=True, stretch=stretch, format="png"
            )
            thumbnail = render_thumbnail(data, params)
            rgb = np.asarray(Image.open(io.BytesIO(thumbnail.data)).convert("RGB"))
            name = f"colour-{slug}-{stretch}{'-' + args.tag if args.tag else ''}.png"
            (args.out / name).write_bytes(thumbnail.data)
            interior = rgb[BORDER:-BORDER, BORDER:-BORDER].reshape(-1, 3)
            sky = tuple(int(v) for v in np.median(interior, axis=0))
            g_r, b_r, count = star_ratios(rgb, stars)
            balance = getattr(thumbnail, "color_balance", None) or "-"
            print(
                f"  {label:30} {stretch:6} balance={balance:9} sky={sky} "
                f"stars G/R={g_r:.2f} B/R={b_r:.2f} (n={count})  -> {args.out / name}"
            )


if __name__ == "__main__":
    main()
