"""Size and encode time of JPEG, WebP and AVIF thumbnails at 200 and 1000 px (issue 27).

    .venv/bin/python bench/formats_bench.py [--frames-dir DIR] [--repeat 7]

``make bench`` runs it after ``render_bench.py``. The picture is rendered once per size from
the 4096x4096 reduced Sinistro frame that ``make bench`` writes (``bench/make_frames.py``),
or, without it, from a synthetic star field of the same size made here (say which: the
table's first line). Then each format is encoded `--repeat` times with the service's own
encoder settings (``thumbnails.imaging.render._encode``: ``quality=80``, WebP method 4, AVIF
at ``AVIF_SPEED`` and quality 80 - ``AVIF_QUALITY_OFFSET``) and AVIF also at libaom's
default speed 6, at 8, 9 and 10, and at the JPEG's own quality number, for the choices.
Reported: bytes, the median encode time, and PSNR against the lossless PNG.
"""

from __future__ import annotations

import argparse
import io
import math
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, features

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "functions" / "thumbnails"))

from thumbnails.imaging import render  # noqa: E402
from thumbnails.imaging.render import render_thumbnail  # noqa: E402
from thumbnails.params import ThumbnailParams  # noqa: E402

FRAME = "lsc1m005-fa15-20260101-0100-e91.fits.fz"
SIZES = (200, 1000)
QUALITY = 80


def synthetic_frame(side: int = 4096, seed: int = 27) -> bytes:
    """A float32 star field: sky 200 e- with noise, 3000 stars of random flux, PSF sigma 2 px."""
    from astropy.io import fits

    rng = np.random.default_rng(seed)
    data = rng.normal(200.0, 15.0, (side, side)).astype(np.float32)
    size = 15
    yy, xx = np.mgrid[-size : size + 1, -size : size + 1]
    psf = np.exp(-(xx**2 + yy**2) / (2 * 2.0**2)).astype(np.float32)
    for y, x, flux in zip(
        rng.integers(size, side - size, 3000),
        rng.integers(size, side - size, 3000),
        rng.lognormal(7.0, 1.2, 3000),
        strict=True,
    ):
        data[y - size : y + size + 1, x - size : x + size + 1] += psf * np.float32(flux)
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data, name="SCI")]).writeto(buffer)
    return buffer.getvalue()


def psnr(a: Image.Image, b: Image.Image) -> float:
    x = np.asarray(a.convert("L"), dtype=np.float64)
    y = np.asarray(b.convert("L"), dtype=np.float64)
    mse = float(np.mean((x - y) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def timed_encode(encode, repeat: int) -> tuple[bytes, float]:
    encode()  # warm-up: first-use costs (codec initialisation) are not per thumbnail
    times, data = [], b""
    for _ in range(repeat):
        start = time.perf_counter()
        data = encode()
        times.append(time.perf_counter() - start)
    return data, statistics.median(times)


def avif_at(picture: Image.Image, speed: int, quality: int):
    def encode() -> bytes:
        buffer = io.BytesIO()
        picture.convert("RGB").save(buffer, "AVIF", quality=quality, speed=speed)
        return buffer.getvalue()

    return encode


def _encoder(picture: Image.Image, params: ThumbnailParams):
    return lambda: render._encode(picture, params)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames-dir", type=Path, default=REPO / "bench" / ".cache" / "frames")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)

    if not features.check("avif"):
        print("formats: this Pillow has no AVIF encoder", file=sys.stderr)
        return 1
    path = args.frames_dir / FRAME
    if path.is_file():
        source, data = FRAME, path.read_bytes()
    else:
        source, data = "synthetic 4096x4096 star field (bench/formats_bench.py)", synthetic_frame()
    print(f"\nThumbnail formats: {source}; quality {QUALITY}; median of {args.repeat} encodes")
    print(
        f"Pillow {Image.__version__}, libavif {features.version('avif')}, "
        f"{platform.machine()}, {platform.python_version()}\n"
    )
    print("| size | format | bytes | vs JPEG | encode ms | PSNR dB |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for side in SIZES:
        png = render_thumbnail([data], ThumbnailParams(width=side, height=side, format="png"))
        picture = Image.open(io.BytesIO(png.data))
        picture.load()
        rows = []
        served = QUALITY - render.AVIF_QUALITY_OFFSET
        for name in ("jpeg", "webp", "avif"):
            params = ThumbnailParams(width=side, height=side, format=name, quality=QUALITY)
            encoded, seconds = timed_encode(_encoder(picture, params), args.repeat)
            label = f"avif q{served} speed {render.AVIF_SPEED} (served)" if name == "avif" else name
            rows.append((label, encoded, seconds))
        others = [(speed, served) for speed in (6, 8, 9, 10) if speed != render.AVIF_SPEED]
        variants = [*others, (render.AVIF_SPEED, QUALITY)]
        for speed, quality in variants:
            encoded, seconds = timed_encode(avif_at(picture, speed, quality), args.repeat)
            rows.append((f"avif q{quality} speed {speed}", encoded, seconds))
        jpeg_bytes = len(rows[0][1])
        for label, encoded, seconds in rows:
            decoded = Image.open(io.BytesIO(encoded))
            print(
                f"| {picture.width}x{picture.height} | {label} | {len(encoded):,} | "
                f"{len(encoded) / jpeg_bytes:.2f} | {seconds * 1000:.1f} | "
                f"{psnr(decoded, picture):.1f} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
