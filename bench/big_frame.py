"""Write the benchmark's big frame: a 10000x10000 float32 reduced frame, Rice-compressed.

    .venv/bin/python bench/big_frame.py OUTDIR [--size 10000]

The frame of a large-format camera (100 Mpix) as BANZAI would write it: an empty primary
HDU with the LCO header and a ``SCI`` extension of float32 electrons (sky 850 e-, its
Poisson noise, 30000 Gaussian stars, a hot and a dead column), compressed by ``fpack``
(CFITSIO's defaults: Rice, one row per tile, quantized at 1/4 of the noise with subtractive
dithering) to ~60 MB. It shows how memory and time grow with the frame; the renderer
never sees a frame of this size from the small synthetic ones.

The image is written to an uncompressed temporary file band by band (never whole in
memory), then ``fpack -C -qt 4`` compresses it (dither seed from the data, no CHECKSUM
timestamps) and the temporary file is removed. Every random draw has a fixed seed, so the
output is the same run to run for a given numpy and CFITSIO.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

NAME = "big10k-fa99-20260101-0001-e91.fits.fz"
SKY = 850.0
STARS = 30000
FWHM = 3.2
BAND = 500  # rows written at a time (20 MB of float32 at 10000 columns)
BLOCK = 2880


def _cards(cards: list[tuple[str, object]]) -> bytes:
    from astropy.io import fits

    header = fits.Header(cards)
    return header.tostring().encode("ascii")


def _stars(size: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Star positions and peak heights: a power law, bright stars rare."""
    x = rng.uniform(0, size, STARS)
    y = rng.uniform(0, size, STARS)
    flux = 300.0 * rng.uniform(0.0, 1.0, STARS) ** (-1.0 / 0.7)
    peak = np.minimum(flux / (2.0 * np.pi * (FWHM / 2.355) ** 2), 120000.0)
    order = np.argsort(y)
    return x[order], y[order], peak[order]


def _band(top: int, rows: int, size: int, stars, rng: np.random.Generator) -> np.ndarray:
    """Rows ``top .. top + rows - 1`` of the image (float32)."""
    band = rng.normal(SKY, np.sqrt(SKY), (rows, size)).astype(np.float32)
    x, y, peak = stars
    sigma = FWHM / 2.355
    radius = 8
    lo, hi = np.searchsorted(y, [top - radius, top + rows + radius])
    for cx, cy, height in zip(x[lo:hi], y[lo:hi], peak[lo:hi], strict=True):
        r0, r1 = max(top, int(cy) - radius), min(top + rows, int(cy) + radius + 1)
        c0, c1 = max(0, int(cx) - radius), min(size, int(cx) + radius + 1)
        if r1 <= r0 or c1 <= c0:
            continue
        yy = np.arange(r0, r1)[:, None] - cy
        xx = np.arange(c0, c1)[None, :] - cx
        band[r0 - top : r1 - top, c0:c1] += (
            height * np.exp(-(xx**2 + yy**2) / (2 * sigma**2))
        ).astype(np.float32)
    band[:, size // 3] += 2000.0  # a hot column
    band[:, 2 * size // 3] = 0.0  # a dead column
    return band


def write_big_frame(out_dir: Path, size: int = 10000, name: str = NAME) -> Path:
    """Write the frame into `out_dir` (once: an existing file is kept) and return its path."""
    target = out_dir / name
    if target.exists() and target.stat().st_size > 0:
        return target
    if shutil.which("fpack") is None:
        raise SystemExit("fpack not found (Debian/Ubuntu: apt-get install libcfitsio-bin)")
    out_dir.mkdir(parents=True, exist_ok=True)
    plain = out_dir / (name.removesuffix(".fz") + ".tmp")
    rng = np.random.default_rng(20260101)
    stars = _stars(size, rng)
    primary = _cards(
        [
            ("SIMPLE", True),
            ("BITPIX", 8),
            ("NAXIS", 0),
            ("EXTEND", True),
            ("OBSTYPE", "EXPOSE"),
            ("SITEID", "lsc"),
            ("INSTRUME", "fa99"),
            ("FILTER", "rp"),
            ("RLEVEL", 91),
        ]
    )
    science = _cards(
        [
            ("XTENSION", "IMAGE"),
            ("BITPIX", -32),
            ("NAXIS", 2),
            ("NAXIS1", size),
            ("NAXIS2", size),
            ("PCOUNT", 0),
            ("GCOUNT", 1),
            ("EXTNAME", "SCI"),
        ]
    )
    try:
        with plain.open("wb") as out:
            out.write(primary)
            out.write(science)
            for top in range(0, size, BAND):
                rows = min(BAND, size - top)
                out.write(_band(top, rows, size, stars, rng).astype(">f4").tobytes())
            written = size * size * 4
            out.write(bytes(-written % BLOCK))
        # -qt: the dither seed from the data (not the clock); -C: no CHECKSUM timestamps.
        subprocess.run(["fpack", "-C", "-qt", "4", "-O", str(target), str(plain)], check=True)
    finally:
        plain.unlink(missing_ok=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--size", type=int, default=10000, help="rows = columns (10000)")
    args = parser.parse_args(argv)
    path = write_big_frame(args.out_dir, args.size)
    print(f"{path} ({path.stat().st_size / 1e6:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
