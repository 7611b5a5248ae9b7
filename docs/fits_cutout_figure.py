"""Draw the README's picture of a ``format=fits`` cutout with its WCS (not a test).

    .venv/bin/python docs/fits_cutout_figure.py [--out docs/fits-cutout.png]

The sample reduced frame of ``make serve`` (``lsc1m005-fa15-20260315-0042-e91``, 1024 x 1024,
0.389 arcsec a pixel) is given a camera turned 25 degrees on the sky and a SIP distortion (its
own WCS is north up and flat, which would show nothing), then cut by the real renderer
(`render_fits`, as the API's ``format=fits&ra=...&dec=...&fov=3``) near a corner, so part of
the cutout is padding. The FITS file is opened with astropy, drawn with FITS row 1 at the
bottom (as DS9 shows it), NaN padding in dark blue, and a grid of right ascension (cyan) and
declination (yellow) every 30 arcseconds is drawn from the file's own WCS (``all_world2pix``,
SIP included). Red circles: the brightest peaks of the source frame, put on the sky by the
source frame's WCS and back on the cutout by the cutout's: each should ring a star. No
matplotlib: Pillow only.
"""

from __future__ import annotations

import argparse
import io
import math
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.visualization import ZScaleInterval
from astropy.wcs import WCS
from PIL import Image, ImageDraw, ImageFont

from thumbnails.imaging.render import render_fits
from thumbnails.local.samples import SAMPLES, header_cards, sky_electrons
from thumbnails.params import ThumbnailParams

SAMPLE = "lsc1m005-fa15-20260315-0042-e91"
TURN_DEGREES = 25.0
SIP = [
    ("CTYPE1", "RA---TAN-SIP"),
    ("CTYPE2", "DEC--TAN-SIP"),
    ("A_ORDER", 2),
    ("A_2_0", 6.0e-6),
    ("A_1_1", -4.0e-6),
    ("A_0_2", 3.0e-6),
    ("B_ORDER", 2),
    ("B_2_0", -2.0e-6),
    ("B_1_1", 5.0e-6),
    ("B_0_2", 4.0e-6),
]
ZOOM = 2
GRID_ARCSEC = 30.0
PADDING = (24, 32, 64)
RA_COLOUR = (90, 220, 255)
DEC_COLOUR = (255, 210, 60)


def turned_frame() -> tuple[bytes, WCS]:
    """The sample frame's bytes with a turned, distorted WCS, and that WCS."""
    spec = next(s for s in SAMPLES if s.name == SAMPLE)
    header = fits.Header(header_cards(spec))
    scale = spec.scale / 3600.0
    turn = math.radians(TURN_DEGREES)
    header["CD1_1"] = -scale * math.cos(turn)
    header["CD1_2"] = scale * math.sin(turn)
    header["CD2_1"] = scale * math.sin(turn)
    header["CD2_2"] = scale * math.cos(turn)
    for key, value in SIP:
        header[key] = value
    sci = fits.CompImageHDU(
        sky_electrons(spec).astype(np.float32), header=header, name="SCI", compression_type="RICE_1"
    )
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), sci]).writeto(buffer)
    return buffer.getvalue(), WCS(header)


def grid_lines(wcs: WCS, shape: tuple[int, int]):
    """Polylines ``(kind, label, [(x, y), ...])`` (0-based pixels) of RA and Dec every
    `GRID_ARCSEC` over the image."""
    rows, cols = shape
    ys, xs = np.mgrid[0:rows:8, 0:cols:8]
    ra, dec = wcs.all_pix2world(xs.ravel(), ys.ravel(), 0)
    step = GRID_ARCSEC / 3600.0
    ra_step = step / math.cos(math.radians(float(np.median(dec))))
    dense = np.linspace(0.0, 1.0, 200)
    lines = []
    for value in np.arange(math.floor(ra.min() / ra_step), math.ceil(ra.max() / ra_step) + 1):
        along = dec.min() + (dec.max() - dec.min()) * dense
        x, y = wcs.all_world2pix(np.full_like(along, value * ra_step), along, 0)
        seconds = value * ra_step / 15.0 * 3600.0
        label = f"{int(seconds // 3600):02d}h{int(seconds % 3600 // 60):02d}m{seconds % 60:04.1f}s"
        lines.append(("ra", label, list(zip(x, y, strict=True))))
    for value in np.arange(math.floor(dec.min() / step), math.ceil(dec.max() / step) + 1):
        along = ra.min() + (ra.max() - ra.min()) * dense
        x, y = wcs.all_world2pix(along, np.full_like(along, value * step), 0)
        arcsec = abs(value * step) * 3600.0
        sign = "-" if value < 0 else "+"
        degrees, minutes = int(arcsec // 3600), int(arcsec % 3600 // 60)
        label = f"{sign}{degrees:02d}d{minutes:02d}'{arcsec % 60:02.0f}\""
        lines.append(("dec", label, list(zip(x, y, strict=True))))
    return lines


def bright_stars(frame: bytes, frame_wcs: WCS, count: int = 6) -> list[tuple[float, float]]:
    """``(ra, dec)`` of the `count` brightest peaks of the source frame, from its own WCS."""
    data = fits.open(io.BytesIO(frame))["SCI"].data.astype(np.float64)
    order = np.argsort(data, axis=None)[::-1]
    peaks: list[tuple[int, int]] = []
    for index in order[:20000]:
        y, x = divmod(int(index), data.shape[1])
        if all(abs(x - px) > 12 or abs(y - py) > 12 for px, py in peaks):
            peaks.append((x, y))
        if len(peaks) == count * 20:
            break
    ra, dec = frame_wcs.all_pix2world([p[0] for p in peaks], [p[1] for p in peaks], 0)
    return list(zip(ra, dec, strict=True))


def draw(product: bytes, stars: list[tuple[float, float]]) -> Image.Image:
    """The cutout, shown with FITS row 1 at the bottom, its WCS grid over it, and circles
    where the output's WCS puts `stars` (sky positions from the source frame's WCS)."""
    hdu = fits.open(io.BytesIO(product))[0]
    data = hdu.data.astype(np.float64)
    wcs = WCS(hdu.header)
    rows, cols = data.shape
    finite = np.isfinite(data)
    low, high = ZScaleInterval().get_limits(data[finite])
    grey = np.clip((np.nan_to_num(data, nan=low) - low) / (high - low), 0, 1) * 255
    rgb = np.repeat(grey.astype(np.uint8)[:, :, None], 3, axis=2)
    rgb[~finite] = PADDING
    picture = Image.fromarray(rgb[::-1]).resize((cols * ZOOM, rows * ZOOM), Image.NEAREST)
    canvas = ImageDraw.Draw(picture)
    font_path = (
        Path(__file__).resolve().parents[1]
        / "functions/thumbnails/thumbnails/imaging/fonts/DejaVuSans.ttf"
    )
    font = ImageFont.truetype(str(font_path), 13)

    def shown(x: float, y: float) -> tuple[float, float]:
        # Pixel centres: 0-based x, y -> the zoomed picture, row 1 at the bottom.
        return (x + 0.5) * ZOOM, (rows - 0.5 - y) * ZOOM

    for kind, label, points in grid_lines(wcs, data.shape):
        colour = RA_COLOUR if kind == "ra" else DEC_COLOUR
        inside = [
            shown(x, y) for x, y in points if -0.5 <= x <= cols - 0.5 and -0.5 <= y <= rows - 0.5
        ]
        if len(inside) < 2:
            continue
        canvas.line(inside, fill=colour, width=2)
        # The label where the line leaves the picture at the bottom (RA) or left (Dec).
        anchor = max(inside, key=lambda p: p[1]) if kind == "ra" else min(inside)
        x, y = anchor
        x = min(max(x + 4, 2), picture.width - 90)
        y = min(max(y - 18, 2), picture.height - 18)
        canvas.text((x, y), label, fill=colour, font=font, stroke_width=2, stroke_fill=(0, 0, 0))
    ra, dec = np.array(stars).T
    for x, y in zip(*wcs.all_world2pix(ra, dec, 0), strict=True):
        if 4 <= x <= cols - 5 and 4 <= y <= rows - 5:
            cx, cy = shown(x, y)
            r = 9 * ZOOM
            canvas.ellipse((cx - r, cy - r, cx + r, cy + r), outline=(255, 80, 80), width=2)
    return picture


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("fits-cutout.png"))
    args = parser.parse_args()
    data, wcs = turned_frame()
    # Near the frame's lower-left corner: 2 arcminutes, a strip of it off the frame.
    ra, dec = (float(v) for v in wcs.all_pix2world(120.0, 140.0, 0))
    params = ThumbnailParams.from_query(
        {"format": "fits", "ra": f"{ra:.6f}", "dec": f"{dec:.6f}", "fov": "2"}
    )
    thumbnail = render_fits(data, params, source=(SAMPLE, "0" * 32))
    picture = draw(thumbnail.data, bright_stars(data, wcs))
    picture.save(args.out, optimize=True)
    print(
        f"{args.out}: cutout {thumbnail.width} x {thumbnail.height} px "
        f"({len(thumbnail.data):,} bytes of FITS), padded={thumbnail.padded}"
    )


if __name__ == "__main__":
    main()
