"""Frames of one sky taken by cameras mounted four ways, for the orientation comparison.

    .venv/bin/python bench/orientation_frames.py DIR    # writes orient-*.fits into DIR

The sky: 768 x 1024 pixels (rows x columns) of stars on a noisy background, with a big "N"
at its north edge, an "E" at its east edge and an arrow from the centre pointing north with
a shorter arm pointing east. Shown north up and east left, both letters read normally, the
"N" on top and the "E" on the left.

The four cameras are the cases of issue 17: ``north-up`` (the usual LCO imager: FITS row 1
south, axis 1 pointing west), ``mirrored`` (east right), ``rotated-90`` and ``rotated-180``.
Each file holds what that camera records, ``CAMERAS[name](sky)`` in FITS order (row 0 =
FITS row 1), and the TAN WCS that says so: the north-up WCS composed with the camera's
pixel map, worked out from where each pixel comes from (not from the renderer's code).
Deterministic: the same bytes every run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

SHAPE = (768, 1024)  # rows, columns of the sky (north up): not square, so turns show
SCALE_DEG = 0.389 / 3600.0  # Sinistro's pixel scale
SKY, NOISE, MARKER = 850.0, 30.0, 2500.0

#: What a camera mounted each way records of a sky given north up, east left (FITS order).
CAMERAS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "north-up": lambda a: a,
    "mirrored": lambda a: a[:, ::-1],
    "rotated-90": lambda a: np.rot90(a, 1),
    "rotated-180": lambda a: a[::-1, ::-1],
}


def frame_name(camera: str) -> str:
    return f"orient-{camera}.fits"


def sky() -> np.ndarray:
    """The sky in FITS order (row 0 = south), north up and east left when row 0 is shown
    at the bottom."""
    from PIL import Image, ImageDraw, ImageFont

    rows, cols = SHAPE
    rng = np.random.default_rng(17)
    image = rng.normal(SKY, NOISE, SHAPE)
    # Stars: Gaussian, FWHM 3 px, power-law peaks, drawn in small stamps.
    sigma = 3.0 / 2.3548
    for x, y, peak in zip(
        rng.uniform(8, cols - 8, 400),
        rng.uniform(8, rows - 8, 400),
        300.0 * (1.0 - rng.random(400)) ** -0.8,
        strict=True,
    ):
        x0, y0 = int(x) - 7, int(y) - 7
        yy, xx = np.mgrid[y0 : y0 + 15, x0 : x0 + 15]
        image[y0 : y0 + 15, x0 : x0 + 15] += peak * np.exp(
            -((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2)
        )
    # The marker, drawn as seen on the sky (top = north, left = east), then put in FITS
    # order by turning it upside down.
    canvas = Image.new("L", (cols, rows), 0)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=150)
    draw.text((cols // 2, 20), "N", fill=255, font=font, anchor="mt")
    draw.text((30, rows // 2), "E", fill=255, font=font, anchor="lm")
    cx, cy = cols // 2, rows // 2
    draw.line([(cx, cy), (cx, cy - 170)], fill=255, width=14)  # north arm, long
    draw.polygon([(cx - 40, cy - 160), (cx + 40, cy - 160), (cx, cy - 215)], fill=255)
    draw.line([(cx, cy), (cx - 110, cy)], fill=255, width=14)  # east arm, short
    draw.polygon([(cx - 100, cy - 30), (cx - 100, cy + 30), (cx - 145, cy)], fill=255)
    marker = np.asarray(canvas, dtype=np.float64)[::-1] / 255.0
    image += MARKER * marker
    return image.astype(np.float32)


def wcs_cards(camera: str) -> dict[str, object]:
    """The TAN WCS of the sky as `camera` records it."""
    rows, cols = SHAPE
    mount = CAMERAS[camera]
    yy, xx = np.mgrid[0:rows, 0:cols]
    src_x, src_y = mount(xx), mount(yy)  # the north-up pixel each recorded pixel shows
    origin = np.array([src_x[0, 0], src_y[0, 0]], dtype=float)
    jacobian = np.array(
        [
            [src_x[0, 1] - src_x[0, 0], src_x[1, 0] - src_x[0, 0]],
            [src_y[0, 1] - src_y[0, 0], src_y[1, 0] - src_y[0, 0]],
        ],
        dtype=float,
    )
    cd = np.diag([-SCALE_DEG, SCALE_DEG]) @ jacobian  # north up, east left, composed
    crpix = np.linalg.solve(jacobian, np.array([(cols - 1) / 2, (rows - 1) / 2]) - origin) + 1
    return {
        "CTYPE1": "RA---TAN",
        "CTYPE2": "DEC--TAN",
        "CRVAL1": 150.1,
        "CRVAL2": -30.2,
        "CRPIX1": float(crpix[0]),
        "CRPIX2": float(crpix[1]),
        "CD1_1": float(cd[0, 0]),
        "CD1_2": float(cd[0, 1]),
        "CD2_1": float(cd[1, 0]),
        "CD2_2": float(cd[1, 1]),
    }


def write_frames(out_dir: Path) -> list[Path]:
    """Write the four frames (BANZAI-like: empty primary + ``SCI``) into `out_dir`."""
    from astropy.io import fits

    out_dir.mkdir(parents=True, exist_ok=True)
    image = sky()
    paths = []
    for camera, mount in CAMERAS.items():
        primary = fits.PrimaryHDU(
            header=fits.Header(
                [("OBSTYPE", "EXPOSE"), ("OBJECT", f"ORIENT-{camera.upper()}"), ("RLEVEL", 91)]
            )
        )
        science = fits.ImageHDU(
            np.ascontiguousarray(mount(image)), header=fits.Header(wcs_cards(camera)), name="SCI"
        )
        path = out_dir / frame_name(camera)
        fits.HDUList([primary, science]).writeto(path, overwrite=True)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    for path in write_frames(args.out_dir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
