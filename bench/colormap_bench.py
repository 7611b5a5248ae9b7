"""The cost of a colormap (``cmap``, issue 26) at 1000 px.

    .venv/bin/python bench/colormap_bench.py [--frames-dir DIR] [--repeat 15]
    .venv/bin/python bench/colormap_bench.py --picture docs/colormaps.png

``make bench`` runs it after ``render_bench.py``. One frame is loaded (the 4096x4096 reduced
Sinistro frame that ``make bench`` writes, ``bench/make_frames.py``, or without it the
synthetic star field of ``formats_bench.py``; the first line says which) and rendered warm
into a 1000 px thumbnail, grey and through each colormap in turn, interleaved round by round
so that both see the same machine load. Reported per format: the median render time of the
grey thumbnail (the ratio's base, from the same run), of the colormapped one and their ratio,
and the median time of the lookup itself (`colormaps.apply_colormap` on the 1000 px grey
picture). A cost, not a test: nothing here passes or fails.

``--picture`` writes the README's picture instead: a 2-arcminute cutout of the synthetic
frame rendered through a few of the maps, side by side, each labelled with its name.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "functions" / "thumbnails"))
sys.path.insert(0, str(REPO / "bench"))

from thumbnails.imaging.colormaps import COLORMAPS, GRAY, apply_colormap  # noqa: E402
from thumbnails.imaging.render import load_frame, render_frames  # noqa: E402
from thumbnails.params import ThumbnailParams  # noqa: E402

FRAME = "lsc1m005-fa15-20260101-0100-e91.fits.fz"
SIZE = 1000
FORMATS = ("jpeg", "png", "webp")
#: The map timed against grey in every format (every map is the same lookup; all of them are
#: timed in JPEG).
MAP = "viridis"


def _timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames-dir", type=Path, default=REPO / "bench/.cache/frames")
    parser.add_argument("--repeat", type=int, default=15, help="timed rounds (median)")
    parser.add_argument("--picture", type=Path, help="write the README's picture here")
    args = parser.parse_args()
    if args.picture is not None:
        write_picture(args.frames_dir / FRAME, args.picture)
        return
    path = args.frames_dir / FRAME
    if path.is_file():
        data, what = path.read_bytes(), f"{FRAME} (4096x4096, Rice)"
    else:
        from formats_bench import synthetic_frame

        data, what = synthetic_frame(), "a synthetic 4096x4096 star field"
    frame = load_frame(data)
    print()
    print(f"Colormap cost at {SIZE} px, from {what}, warm, median of {args.repeat} rounds")
    print(f"{'format':<7} {'cmap':<10} {'grey ms':>8} {'cmap ms':>8} {'ratio':>6}")
    cases = [(fmt, MAP) for fmt in FORMATS] + [
        ("jpeg", name) for name in COLORMAPS if name not in (GRAY, MAP)
    ]
    for fmt, name in cases:
        grey = ThumbnailParams(width=SIZE, height=SIZE, format=fmt)
        coloured = ThumbnailParams(width=SIZE, height=SIZE, format=fmt, cmap=name)
        render_frames([frame], grey)  # warm-up: binning, codecs
        render_frames([frame], coloured)
        grey_times, cmap_times = [], []
        for _ in range(args.repeat):
            grey_times.append(_timed(lambda p=grey: render_frames([frame], p)))
            cmap_times.append(_timed(lambda p=coloured: render_frames([frame], p)))
        base, cost = statistics.median(grey_times), statistics.median(cmap_times)
        print(f"{fmt:<7} {name:<10} {base * 1e3:8.1f} {cost * 1e3:8.1f} {cost / base:6.2f}")
    picture = Image.open(io.BytesIO(render_frames([frame], grey_png()).data))
    picture.load()
    lookups = [_timed(lambda: apply_colormap(picture, MAP)) for _ in range(args.repeat * 4)]
    print(
        f"the lookup alone ({MAP}, {picture.size[0]}x{picture.size[1]} grey -> RGB): "
        f"{statistics.median(lookups) * 1e3:.2f} ms"
    )


#: The maps in the README's picture.
PICTURE_MAPS = ("gray", "viridis", "inferno", "hot", "cubehelix")


def write_picture(path: Path, out: Path) -> None:
    """The same thumbnail in `PICTURE_MAPS`, side by side, each labelled with its map."""
    from thumbnails.positions import PixelCutout

    frame = load_frame(path.read_bytes(), cutout=PixelCutout(2048, 2048, 960))
    tiles = []
    for name in PICTURE_MAPS:
        params = ThumbnailParams(
            width=240, height=240, format="png", stretch="asinh", cmap=name, label=name
        )
        tiles.append(Image.open(io.BytesIO(render_frames([frame], params).data)).convert("RGB"))
    gap = 4
    sheet = Image.new("RGB", (sum(t.width for t in tiles) + gap * (len(tiles) - 1), 240), "white")
    left = 0
    for tile in tiles:
        sheet.paste(tile, (left, 0))
        left += tile.width + gap
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, optimize=True)
    print(f"wrote {out} ({out.stat().st_size} bytes)")


def grey_png() -> ThumbnailParams:
    return ThumbnailParams(width=SIZE, height=SIZE, format="png")


if __name__ == "__main__":
    main()
