"""The three ways `render_bench.py` turns a FITS file into a 200x200 picture, one per process.

    python bench/methods.py run METHOD FRAME OUT [--size N]   # one cold render, then exit
    python bench/methods.py serve METHOD [--size N]          # warm: one JSON request a line

METHOD is ``fits2image`` (the old renderer, ``fits_to_jpg``), ``floor`` (astropy opening the
file and reading the data of every image HDU: what any renderer has to pay), ``ours``
(``thumbnails.imaging.render_thumbnail``), ``ours-detector`` (the same with
``orientation=detector``: FITS row 1 at the bottom, as before north-up orientation) or
``cutout`` (ours, a 2-arcminute cutout at a sky position of the frame, `CUTOUT_AT`).
Everything heavy is imported inside the method, so a cold run's wall time and peak RSS
include the imports each method needs and nothing else: this module itself imports only the
standard library.

In ``serve`` mode each input line is ``{"frame": PATH, "out": PATH}`` and each output line
``{"seconds": S, "cpu": S}`` (or ``{"error": TEXT}``): the wall and CPU time taken by the method
alone, measured here so that the pipe to the parent is not part of it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

# The same encoding settings for both renderers, so neither wins by writing a cheaper JPEG.
QUALITY = 80


def render_fits2image(frame: Path, out: Path, size: int) -> None:
    """The old service's renderer: zscale, gamma 2.5, first 2-D HDU, file path in and out."""
    from fits2image.conversions import fits_to_jpg

    if not fits_to_jpg(str(frame), str(out), width=size, height=size, quality=QUALITY):
        raise RuntimeError(f"fits_to_jpg failed on {frame}")


def read_floor(frame: Path, out: Path, size: int) -> None:
    """Open the file and read (decompress, scale to native values) every image HDU's data.

    ``memmap=False`` makes astropy read an uncompressed file's pixels instead of mapping them
    lazily, which would make the floor of a plain ``.fits`` close to zero and meaningless.
    A raw frame's four amplifier extensions are all read. Nothing is written.
    """
    from astropy.io import fits

    with fits.open(frame, memmap=False) as hdul:
        for hdu in hdul:
            if hdu.is_image and hdu.size:
                _ = hdu.data


def render_ours(frame: Path, out: Path, size: int, orientation: str = "north") -> None:
    """This project's renderer: file bytes in memory -> JPEG bytes, written to `out`."""
    from thumbnails.imaging import render_thumbnail
    from thumbnails.params import ThumbnailParams

    params = ThumbnailParams(width=size, height=size, quality=QUALITY, orientation=orientation)
    thumbnail = render_thumbnail([frame.read_bytes()], params)
    out.write_bytes(thumbnail.data)


def render_ours_detector(frame: Path, out: Path, size: int) -> None:
    """Ours with ``orientation=detector``: FITS row 1 at the bottom, whatever the WCS says."""
    render_ours(frame, out, size, orientation="detector")


#: Where `render_cutout` cuts, by frame (ICRS degrees): a star field position near, not at,
#: the frame's centre.
CUTOUT_AT = {"lsc1m005-fa15-20260101-0100-e91": (97.51, -30.245)}
CUTOUT_FOV = 2.0


def render_cutout(frame: Path, out: Path, size: int) -> None:
    """Ours, a `CUTOUT_FOV`-arcminute cutout: only the tiles (rows) it touches are decoded."""
    from thumbnails.imaging import render_thumbnail
    from thumbnails.params import ThumbnailParams
    from thumbnails.positions import SkyCutout

    ra, dec = CUTOUT_AT[frame.name.split(".")[0]]
    cutout = SkyCutout(ra, dec, CUTOUT_FOV)
    params = ThumbnailParams(width=size, height=size, quality=QUALITY, cutout=cutout)
    thumbnail = render_thumbnail([frame.read_bytes()], params)
    out.write_bytes(thumbnail.data)


METHODS = {
    "fits2image": render_fits2image,
    "floor": read_floor,
    "ours": render_ours,
    "ours-detector": render_ours_detector,
    "cutout": render_cutout,
}


def serve(method: str, size: int) -> int:
    """Answer render requests from stdin until it closes, timing each call."""
    render = METHODS[method]
    for line in sys.stdin:
        request = json.loads(line)
        start, start_cpu = time.perf_counter(), time.process_time()
        try:
            render(Path(request["frame"]), Path(request["out"]), size)
        except Exception as exc:  # reported to the parent, which shows it in the table
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        else:
            reply = {
                "seconds": time.perf_counter() - start,
                "cpu": time.process_time() - start_cpu,
            }
        print(json.dumps(reply), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    run = sub.add_parser("run")
    run.add_argument("method", choices=METHODS)
    run.add_argument("frame", type=Path)
    run.add_argument("out", type=Path)
    run.add_argument("--size", type=int, default=200)
    srv = sub.add_parser("serve")
    srv.add_argument("method", choices=METHODS)
    srv.add_argument("--size", type=int, default=200)
    args = parser.parse_args(argv)
    if args.mode == "serve":
        return serve(args.method, args.size)
    METHODS[args.method](args.frame, args.out, args.size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
