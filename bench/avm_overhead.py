"""What the AVM packet (``wcs=true``, issue 26) adds to a thumbnail's bytes.

    .venv/bin/python bench/avm_overhead.py [--frames-dir DIR]

``make bench`` runs it. Every ``.fits.fz`` frame that ``make bench`` writes
(`bench/make_frames.py`: a 4k Sinistro frame reduced and raw, a 0.4 m frame, three 2 m
frames) is rendered without and with the packet, as a 200 px JPEG (the default request), a
200 px WebP and PNG and a 1000 px JPEG. Printed per kind: the median size without the
packet, the median of what the packet adds and their ratio, and how many frames had a WCS
to write. The README's table and the choice of ``wcs=false`` as the default come from it. A
size, not a time: the numbers are the same on every machine for the same frames.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "functions" / "thumbnails"))

from thumbnails.imaging.render import load_frame, render_frames  # noqa: E402
from thumbnails.params import ThumbnailParams  # noqa: E402

#: (label, format, size): the kinds of thumbnail the README's table lists.
KINDS = (
    ("200 px JPEG (the default request)", "jpeg", 200),
    ("200 px WebP", "webp", 200),
    ("200 px PNG", "png", 200),
    ("1000 px JPEG", "jpeg", 1000),
)


def sizes(data: bytes, fmt: str, size: int) -> tuple[int, int, bool]:
    """Bytes of the thumbnail without and with the packet, and whether it had a WCS."""
    out = []
    for wcs in (False, True):
        params = ThumbnailParams(width=size, height=size, format=fmt, wcs=wcs)
        thumbnail = render_frames([load_frame(data)], params)
        out.append(thumbnail)
    plain, packed = out
    return len(plain.data), len(packed.data), packed.wcs is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames-dir", type=Path, default=REPO / "bench/.cache/frames")
    args = parser.parse_args()
    frames = sorted(args.frames_dir.glob("*.fits.fz"))
    if not frames:
        sys.exit(f"no .fits.fz frames in {args.frames_dir}: run 'make bench' once")
    print(f"AVM packet (wcs=true) on {len(frames)} frames of {args.frames_dir}")
    print(f"{'image':<36} {'median size':>12} {'packet adds':>12} {'relative':>9}  with WCS")
    contents = [path.read_bytes() for path in frames]
    for label, fmt, size in KINDS:
        rows = [sizes(data, fmt, size) for data in contents]
        plain = statistics.median(row[0] for row in rows)
        added = statistics.median(row[1] - row[0] for row in rows if row[2])
        with_wcs = sum(row[2] for row in rows)
        print(
            f"{label:<36} {plain:>10,.0f} B {added:>10,.0f} B {added / plain:>8.1%}"
            f"  {with_wcs}/{len(rows)}"
        )


if __name__ == "__main__":
    main()
