"""``python -m thumbnails render``: render FITS files into a thumbnail file, locally.

The options are the query parameters of the HTTP API, validated by the same
`ThumbnailParams.from_query`, so a bad value gives the same message (exit code 2, one line).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .errors import (
    CutoutOutsideFrame,
    FrameTooLarge,
    InvalidParameter,
    NoUsableWcs,
    ThumbnailError,
    UnreadableFrame,
)
from .params import FITS_FORMAT, FORMATS, STRETCHES, RenderLimits, ThumbnailParams

#: option -> help; every one is passed through `ThumbnailParams.from_query` as a string.
_QUERY_OPTIONS = {
    "width": "largest width in pixels (default 200)",
    "height": "largest height in pixels (default 200)",
    "label": "text drawn in the lower-left corner",
    "stretch": f"one of {', '.join(STRETCHES)} (default zscale)",
    "format": "jpeg, png, webp, avif or fits (default: from the output's extension, else jpeg)",
    "quality": "JPEG/WebP quality, 1 to 95 (default 80)",
    "percentile": "upper percentile for --median and --stretch linear (default 99.5)",
    "cmap": "colormap of a single frame: gray (the default), viridis, inferno, magma, plasma,"
    " cividis, hot, afmhot, bone or cubehelix",
    "orientation": "north (north up, east left, from the WCS; the default) or detector"
    " (FITS row 1 at the bottom)",
    "ra": "cutout centre, right ascension (ICRS): decimal degrees or hh:mm:ss.s",
    "dec": "cutout centre, declination (ICRS): decimal degrees or +dd:mm:ss "
    "(write --dec=-dd:mm:ss south of the equator)",
    "fov": "side of the --ra/--dec cutout in arcminutes (default 2)",
    "x": "cutout centre, FITS column (1-based)",
    "y": "cutout centre, FITS row (1-based)",
    "size": "side of the --x/--y cutout in pixels (default 300)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``render`` options to `parser`."""
    parser.add_argument(
        "frames",
        nargs="+",
        type=Path,
        metavar="FRAME",
        help="a .fits, .fits.fz or .fits.gz file; three (red, visual, blue) with --color",
    )
    parser.add_argument("-o", "--output", type=Path, required=True, help="the image to write")
    for name, help_text in _QUERY_OPTIONS.items():
        parser.add_argument(f"--{name}", help=help_text)
    parser.add_argument(
        "--median",
        action="store_true",
        help="black at the median, white at --percentile (the old recalculate_median)",
    )
    parser.add_argument(
        "--color", action="store_true", help="compose three frames (R, V, B) into colour"
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=RenderLimits.max_pixels,
        help="refuse frames larger than this many pixels (default %(default)s)",
    )


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UnreadableFrame("no such file") from None
    except IsADirectoryError:
        raise UnreadableFrame("is a directory, not a FITS file") from None
    except OSError as error:
        raise UnreadableFrame(f"cannot be read ({error.strerror or error})") from None


def run(args: argparse.Namespace) -> int:
    """Render ``args.frames`` into ``args.output``; return the exit code."""
    from .imaging import render_fits  # numpy/astropy/Pillow only when rendering

    # An option given empty (--width=) is passed on, so it is refused as the API refuses it.
    query = {
        name: getattr(args, name) for name in _QUERY_OPTIONS if getattr(args, name) is not None
    }
    suffix = args.output.suffix.lower().lstrip(".")
    if args.format is None and (suffix in FORMATS or suffix == "jpg"):
        query["format"] = suffix  # out.png is a PNG, not JPEG bytes under a .png name
    query["median"] = "true" if args.median else "false"
    query["color"] = "true" if args.color else "false"
    params = ThumbnailParams.from_query(query)
    expected = 3 if params.color else 1
    if len(args.frames) != expected:
        raise InvalidParameter(
            "FRAME",
            "--color needs exactly three frames (red, visual, blue)"
            if params.color
            else f"give one frame (or three with --color), got {len(args.frames)}",
        )
    if args.max_pixels < 1:
        raise InvalidParameter("--max-pixels", "must be a positive number")
    limits = RenderLimits(max_pixels=args.max_pixels)
    if params.format == FITS_FORMAT:
        # The pixels themselves, made from the file (a cutout keeps the frame's data type;
        # a loaded frame's pixels are float32 for rendering).
        path = args.frames[0]
        try:
            thumbnail = render_fits(_read(path), params, limits=limits)
        except (UnreadableFrame, FrameTooLarge, CutoutOutsideFrame, NoUsableWcs) as error:
            raise type(error)(f"{path}: {error.message}") from None
    else:
        thumbnail = _render_picture(args, params, limits)
    try:
        args.output.write_bytes(thumbnail.data)
    except OSError as error:
        raise ThumbnailError(
            f"{args.output}: cannot be written ({error.strerror or error})"
        ) from None
    colour = ""
    if thumbnail.alignment:
        colour = f", channels aligned: {thumbnail.alignment}, balanced: {thumbnail.color_balance}"
    padded = ", padded: part of the cutout is outside the frame" if thumbnail.padded else ""
    print(
        f"{args.output}: {thumbnail.width}x{thumbnail.height} {params.format}{colour}"
        f", orientation: {thumbnail.orientation}{padded}"
    )
    return 0


def _render_picture(args: argparse.Namespace, params: ThumbnailParams, limits: RenderLimits):
    """Load ``args.frames`` and render the picture `params` ask for (every format but fits)."""
    from .imaging import expect, load_frame, render_frames

    frames = []
    for path in args.frames:
        # Colour cutouts: the other channels are cut around the first one's patch of sky.
        reference = frames[0] if frames else None
        try:
            frames.append(
                load_frame(_read(path), limits=limits, cutout=params.cutout, reference=reference)
            )
        except (UnreadableFrame, FrameTooLarge, CutoutOutsideFrame, NoUsableWcs) as error:
            # Name the file: with three frames the user must know which one is bad.
            raise type(error)(f"{path}: {error.message}") from None
    expect(frames, [params])
    for path, frame in zip(args.frames, frames, strict=True):
        try:
            frame.decode()  # a streamed frame's tiles: a corrupt one is named too
        except (UnreadableFrame, FrameTooLarge) as error:
            raise type(error)(f"{path}: {error.message}") from None
    return render_frames(frames, params)
