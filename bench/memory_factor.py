"""Peak memory of renders, measured in fresh processes: the factors behind the memory limits.

    .venv/bin/python bench/memory_factor.py [--size 4096] [--keep DIR] [--only files|renders]
    .venv/bin/python bench/memory_factor.py --only table [--memory 1769]

Two measurements, each case in a fresh process (so that the peaks do not mix), as the increase
of the peak RSS (``VmHWM``) over what the process held after its imports and a warm-up render:

1. **per byte of file** (``files``), behind the default ``MAX_DOWNLOAD_BYTES``
   (`thumbnails.settings.MEMORY_PER_DOWNLOAD_BYTE`): large frames (a reduced float32
   ``.fits``, the same Rice-compressed ``.fits.fz``, and a raw-style 16-bit ``.fits`` with
   ``BZERO``, which astropy decodes into a new float array) read into one ``bytes`` (as the
   download does), decoded once and rendered in the pregeneration presets (200 and 1000 px);
   ``factor = increase / file size``.
2. **per request** (``renders``), behind the memory budget checked before a render
   (`thumbnails.imaging.budget`): grey and colour cutouts reaching far off a small frame
   (padding), cutouts inside a larger frame, whole frames, at output boxes from 200 to
   4096 px in every format, and every stretch with and without ``median`` (76 cases, ~10
   minutes; ``--match`` runs those whose label holds a word). For each case it prints the
   measured increase, the budget's estimate (`MemoryPlan.estimate`) and their ratio (at
   most 1: the estimate covers it), then, per kind of render (colour mode, format,
   transparent padding), the bytes per binned pixel the measurements need once the known
   terms are taken off (the pixels decoded, the file, the row sums, the fixed part). The
   budget's `BINNED_BYTES` (and, for the other stretches and ``median``, `STRETCH_BYTES`
   and `MEDIAN_BYTES`) must be at least the largest of them.

``--only table`` measures nothing: it prints what the budget lets through in a function of
``--memory`` MB (the README's table).

The frames are written here with astropy (sky, noise, a few stars, a TAN WCS), not by the
tests' factories, so that the benchmark stands on its own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

_PEAK = r"""
def peak():
    # VmHWM, the peak RSS of this process image. Not ru_maxrss: on Linux a child starts with
    # its parent's, and the parent held every frame when it forked.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
"""

_MEASURE_FILE = (
    _PEAK
    + r"""
import json, sys
from thumbnails import imaging
from thumbnails.params import RenderLimits
from thumbnails.presets import parse_presets

presets = parse_presets(("width=200&height=200", "width=1000&height=1000"))
# The imports first (the renderer's are lazy), so that the increase is the frame's: the
# runtime's own memory, imports included, is MEMORY_RESERVED_MB's.
import astropy.io.fits, PIL.Image, numpy  # noqa: E401,F401
from thumbnails.imaging import render, rice  # noqa: F401
before = peak()
with open(sys.argv[1], "rb") as f:
    data = f.read()
size = len(data)
frame = imaging.load_frame(data, limits=RenderLimits(max_pixels=150_000_000))
del data
for params in presets:
    imaging.render_frames([frame], params)
print(json.dumps({"bytes": size, "imports": before, "peak": peak()}))
"""
)

_MEASURE_RENDER = (
    _PEAK
    + r"""
import json, sys
from thumbnails import imaging
from thumbnails.imaging.budget import plan_memory
from thumbnails.params import ThumbnailParams

paths, query = json.loads(sys.argv[1]), json.loads(sys.argv[2])
files = [open(path, "rb").read() for path in paths]
# Warm up: every module, codec and font a render of this kind imports, at a tiny size.
small = {k: v for k, v in query.items() if k not in ("width", "height", "size", "fov")}
for fmt in ("jpeg", "png", "webp"):
    warm = ThumbnailParams.from_query({**small, "width": "16", "height": "16", "format": fmt,
                                       **({"size": "20"} if "x" in query else {})})
    imaging.render_thumbnail(files, warm)
params = ThumbnailParams.from_query(query)
plan = plan_memory(files[0], params)
before = peak()
frames = []
for data in files:
    reference = frames[0] if frames else None
    frames.append(imaging.load_frame(data, cutout=params.cutout, reference=reference))
imaging.expect(frames, [params])
for frame in frames:
    frame.decode()
imaging.render_frames(frames, params)
fields = ("channels", "file_bytes", "part_pixels", "decode_pixels", "window", "output", "format",
          "padded", "stretch", "median", "colormapped")
print(json.dumps({
    "imports": before, "peak": peak(), "estimate": plan.estimate(),
    "binned": plan.binned_pixels, "factor": plan.factor,
    **{name: getattr(plan, name) for name in fields},
}))
"""
)


# ---------------------------------------------------------------------------- frames
def _wcs_cards(shape, scale_arcsec=0.39):
    rows, cols = shape
    step = scale_arcsec / 3600.0
    return {
        "CTYPE1": "RA---TAN",
        "CTYPE2": "DEC--TAN",
        "CRVAL1": 201.3,
        "CRVAL2": -43.0,
        "CRPIX1": (cols + 1) / 2.0,
        "CRPIX2": (rows + 1) / 2.0,
        "CD1_1": -step,
        "CD1_2": 0.0,
        "CD2_1": 0.0,
        "CD2_2": step,
    }


def reduced_frame(shape, *, seed=0, filter_name="rp", compression="RICE_1", stars=30) -> bytes:
    """A reduced frame: empty primary, ``SCI`` image (sky, noise, stars), TAN WCS."""
    import io

    import numpy as np
    from astropy.io import fits

    rng = np.random.default_rng(seed)
    rows, cols = shape
    data = rng.normal(850.0, 30.0, shape).astype(np.float32)
    data += np.linspace(0, 50, cols, dtype=np.float32)[None, :]
    for _ in range(stars):
        y, x = rng.integers(3, max(4, rows - 3)), rng.integers(3, max(4, cols - 3))
        data[y - 2 : y + 3, x - 2 : x + 3] += rng.uniform(2000, 20000)
    primary = fits.PrimaryHDU()
    primary.header["OBSTYPE"] = "EXPOSE"
    primary.header["FILTER"] = filter_name
    header = fits.Header(list(_wcs_cards(shape).items()))
    header["EXTNAME"] = "SCI"
    if compression:
        sci = fits.CompImageHDU(data, header=header, compression_type=compression)
    else:
        sci = fits.ImageHDU(data, header=header)
    buffer = io.BytesIO()
    fits.HDUList([primary, sci]).writeto(buffer)
    return buffer.getvalue()


def write_frames(directory: Path, size: int) -> list[Path]:
    """The large frames of the per-byte measurement."""
    import numpy as np
    from astropy.io import fits

    shape = (size, size)
    frames = {
        "reduced-float32.fits": reduced_frame(shape, compression=None),
        "reduced-float32.fits.fz": reduced_frame(shape),
    }
    # A raw frame as an uncompressed file: 16-bit counts with BZERO 32768, which astropy
    # scales into a float array (the decoded copy is twice the file).
    rng = np.random.default_rng(0)
    counts = rng.normal(1000, 30, shape).clip(0, 65535).astype(np.uint16)
    primary = fits.PrimaryHDU(counts)
    primary.header["OBSTYPE"] = "EXPOSE"
    path = directory / "raw-uint16.fits"
    primary.writeto(path)
    paths = [path]
    for name, data in frames.items():
        path = directory / name
        path.write_bytes(data)
        paths.append(path)
    return paths


def write_render_frames(directory: Path) -> dict[str, list[str]]:
    """Frame sets of the per-request measurement: small (~23 KB, as in the issue that found
    the padding's cost), 2k and 4k (cutouts inside, whole frames), grey and colour."""
    sets: dict[str, list[str]] = {}
    for name, side in (("small", 100), ("2k", 2048), ("4k", 4096)):
        paths = []
        for seed, filter_name in enumerate(("rp", "V", "B")):
            path = directory / f"{name}-{filter_name}.fits.fz"
            if not path.exists():
                path.write_bytes(reduced_frame((side, side), seed=seed, filter_name=filter_name))
            paths.append(str(path))
        sets[name] = paths
    return sets


# ---------------------------------------------------------------------------- cases
def render_cases(sets: dict[str, list[str]]) -> list[tuple[str, list[str], dict[str, str]]]:
    """(label, frames, query) of every request measured."""
    cases = []
    for colour in (False, True):
        frames = sets["small"] if colour else sets["small"][:1]
        mode = {"color": "true"} if colour else {}
        # Cutouts mostly padding, off a 100 px frame: the binned image sets the memory. Each
        # kind has windows equal to the box (nothing resized) and just under twice the box
        # (binned by 1, resized from four times the output's pixels).
        for size, box, formats in (
            (12000, 200, ("jpeg",)),
            (12000, 1000, ("jpeg", "png")),
            (12000, 4096, ("jpeg", "png", "webp")),
            (8191, 4096, ("jpeg", "png", "webp")),
            (4096, 4096, ("jpeg", "png", "webp")),
            (4095, 2048, ("jpeg", "png", "webp")),
            (2048, 2048, ("png",)),
        ):
            for fmt in formats:
                query = {"x": "50", "y": "50", "size": str(size), "format": fmt}
                query |= {"width": str(box), "height": str(box), **mode}
                cases.append((f"small {size} @{box} {fmt}", frames, query))
        # Cutouts inside a larger frame: the decoded part counts too; nothing transparent.
        frames = sets["4k"] if colour else sets["4k"][:1]
        for size, box, formats in (
            (4000, 200, ("jpeg",)),
            (4000, 2048, ("jpeg", "png", "webp")),
            (3000, 4096, ("png", "webp")),
        ):
            for fmt in formats:
                query = {"x": "2048", "y": "2048", "size": str(size), "format": fmt}
                query |= {"width": str(box), "height": str(box), **mode}
                cases.append((f"4k inside {size} @{box} {fmt}", frames, query))
        # Whole frames (pregeneration's presets, the API without a cutout).
        frames = sets["2k"] if colour else sets["2k"][:1]
        for box, fmt in ((200, "jpeg"), (1000, "webp"), (1000, "png"), (2048, "png")):
            query = {"width": str(box), "height": str(box), "format": fmt, **mode}
            cases.append((f"2k whole @{box} {fmt}", frames, query))
        # Stretches other than zscale, and median: what they add per binned pixel.
        frames = sets["small"] if colour else sets["small"][:1]
        for stretch, median in (
            ("linear", False),
            ("log", False),
            ("sqrt", False),
            ("asinh", False),
            ("zscale", True),
            ("asinh", True),
        ):
            for size, box, fmt in ((4095, 2048, "jpeg"), (4096, 4096, "png")):
                query = {"x": "50", "y": "50", "size": str(size), "format": fmt, **mode}
                query |= {"width": str(box), "height": str(box), "stretch": stretch}
                query |= {"median": "true"} if median else {}
                label = f"small {size} @{box} {fmt} {stretch}{' median' if median else ''}"
                cases.append((label, frames, query))
    # Colormapped single frames (an RGB output from a grey render): what the colormap adds.
    frames = sets["small"][:1]
    for size, box, fmt in (
        (4095, 2048, "jpeg"),
        (4096, 4096, "png"),
        (4096, 4096, "webp"),
        (4095, 2048, "avif"),
    ):
        query = {"x": "50", "y": "50", "size": str(size), "format": fmt, "cmap": "viridis"}
        query |= {"width": str(box), "height": str(box)}
        cases.append((f"small {size} @{box} {fmt} cmap", frames, query))
    frames = sets["2k"][:1]
    for box, fmt in ((1000, "jpeg"), (2048, "png")):
        query = {"width": str(box), "height": str(box), "format": fmt, "cmap": "viridis"}
        cases.append((f"2k whole @{box} {fmt} cmap", frames, query))
    # format=fits of a whole frame: the binned float32 image written as FITS (`fits_output`;
    # a FITS cutout is the window itself, measured by tests/unit/imaging/test_fits_output.py).
    for box in (200, 1000, 2048):
        query = {"width": str(box), "height": str(box), "format": "fits"}
        cases.append((f"2k whole @{box} fits", frames, query))
    return cases


def measure_file(path: Path) -> dict:
    run = subprocess.run(
        [sys.executable, "-c", _MEASURE_FILE, str(path)], capture_output=True, text=True
    )
    if run.returncode:
        sys.exit(f"measuring {path.name} failed:\n{run.stderr}")
    result = json.loads(run.stdout)
    result["frame"] = path.name
    result["increase"] = result["peak"] - result["imports"]
    result["factor"] = result["increase"] / result["bytes"]
    return result


def measure_render(frames: list[str], query: dict[str, str]) -> dict:
    run = subprocess.run(
        [sys.executable, "-c", _MEASURE_RENDER, json.dumps(frames), json.dumps(query)],
        capture_output=True,
        text=True,
    )
    if run.returncode:
        sys.exit(f"measuring {query} failed:\n{run.stderr}")
    result = json.loads(run.stdout)
    result["increase"] = result["peak"] - result["imports"]
    return result


def needed_factors(results: list[dict]) -> dict[tuple, tuple[float, float, int]]:
    """The bytes per binned pixel (per channel) the measurements need once the known terms
    are taken off (the parts, the file, the row sums, the fixed part): per `MemoryPlan.kind`
    for zscale without median (`BINNED_BYTES`), and per colour mode and stretch (``+median``)
    for the others, over and above `BINNED_BYTES` (`STRETCH_BYTES`, `MEDIAN_BYTES`). Each:
    largest, smallest, number of cases."""
    from thumbnails.imaging import budget

    needed: dict[tuple, list[float]] = {}
    for r in results:
        plan = budget.MemoryPlan(**{k: _plan_value(r[k]) for k in _PLAN_FIELDS})
        after = plan.channels * plan.binned_pixels
        known = plan.estimate() - after * plan.binned_bytes
        per_pixel = (r["increase"] - known) / after
        if plan.colormapped:
            # Measured on zscale without median: over and above the grey factor (`COLORMAP_BYTES`).
            key = (plan.kind[0], "cmap" + (" transparent" if plan.kind[2] else ""))
            needed.setdefault(key, []).append(per_pixel - budget.BINNED_BYTES[plan.kind])
        elif plan.stretch == "zscale" and not plan.median:
            needed.setdefault(plan.kind, []).append(per_pixel)
        else:
            key = (plan.kind[0], plan.stretch + ("+median" if plan.median else ""))
            needed.setdefault(key, []).append(per_pixel - budget.BINNED_BYTES[plan.kind])
    return {kind: (max(v), min(v), len(v)) for kind, v in needed.items()}


_PLAN_FIELDS = (
    "channels",
    "file_bytes",
    "part_pixels",
    "decode_pixels",
    "window",
    "output",
    "format",
    "padded",
    "stretch",
    "median",
    "colormapped",
)


def _plan_value(value):
    return tuple(value) if isinstance(value, list) else value


def fits_table(memory_mb: int) -> None:
    """What the budget lets through in a `memory_mb` MB function, from its estimate."""
    from thumbnails.imaging.budget import planner
    from thumbnails.params import ThumbnailParams
    from thumbnails.positions import MAX_SIZE, PixelCutout
    from thumbnails.settings import render_memory_budget

    allowed = render_memory_budget(memory_mb)
    print(f"what fits in {memory_mb} MB ({allowed >> 20} MiB for a render):")
    print(f"{'request':66} {'largest':>8}")

    def largest(values, make, shape):
        plan_of = planner(shape, make(1))
        for value in values:
            plan = plan_of(make(value))
            if plan is not None and plan.estimate() <= allowed:
                return value
        return None

    boxes = (("200 px JPEG", 200, "jpeg"), ("1000 px JPEG", 1000, "jpeg"))
    boxes += (("4096 px PNG", 4096, "png"),)
    for colour in (False, True):
        mode = "colour" if colour else "grey"
        for where, shape, centre in (
            ("inside a 12000 x 12000 frame", (12000, 12000), 6000.5),
            ("off a 100 x 100 frame (padding)", (100, 100), 50.0),
        ):
            for label, box, fmt in boxes:

                def make(size, box=box, fmt=fmt, centre=centre, colour=colour):
                    cutout = PixelCutout(centre, centre, size)
                    return ThumbnailParams(
                        width=box, height=box, format=fmt, color=colour, cutout=cutout
                    )

                found = largest(range(MAX_SIZE, 0, -1), make, shape)
                text = f"{mode} cutout size, {where}, {label}"
                print(f"  {text:64} {found!s:>8}")
        for side in (4096, 10000):
            for fmt in ("jpeg", "png"):

                def box_of(box, fmt=fmt, colour=colour):
                    return ThumbnailParams(width=box, height=box, format=fmt, color=colour)

                found = largest(range(4096, 0, -1), box_of, (side, side))
                text = f"{mode} whole {side} x {side} frame, width=height, {fmt.upper()}"
                print(f"  {text:64} {found!s:>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="frame side (per-byte factor)")
    parser.add_argument("--keep", type=Path, help="write the frames here and keep them")
    parser.add_argument(
        "--only", choices=("files", "renders", "table"), help="one measurement, or the table"
    )
    parser.add_argument("--memory", type=int, default=1769, help="MB, for the table")
    parser.add_argument(
        "--match", help="renders: only the cases whose label holds one of these (comma-separated)"
    )
    args = parser.parse_args()
    mib = 1 << 20
    if args.only == "table":
        fits_table(args.memory)
        return
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.keep or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        if args.only != "renders":
            print(f"{'frame':28} {'file MiB':>9} {'peak MiB':>9} {'+MiB':>7} {'factor':>7}")
            for path in write_frames(directory, args.size):
                r = measure_file(path)
                print(
                    f"{r['frame']:28} {r['bytes'] / mib:9.1f} {r['peak'] / mib:9.1f} "
                    f"{r['increase'] / mib:7.1f} {r['factor']:7.2f}"
                )
            print()
        if args.only == "files":
            return
        sets = write_render_frames(directory)
        print(f"{'request':34} {'mode':6} {'+MiB':>7} {'estimate':>9} {'ratio':>6} {'bin':>4}")
        results = []
        words = [w for w in (args.match or "").split(",") if w]
        for label, frames, query in render_cases(sets):
            if words and not any(word in label for word in words):
                continue
            r = measure_render(frames, query)
            results.append(r)
            mode = "colour" if r["channels"] > 1 else "grey"
            print(
                f"{label:34} {mode:6} {r['increase'] / mib:7.1f} {r['estimate'] / mib:9.1f} "
                f"{r['increase'] / r['estimate']:6.2f} {r['factor']:4d}",
                flush=True,
            )
        print()
        print("bytes per binned pixel (per channel) needed: largest, smallest (cases)")
        from thumbnails.imaging.budget import (
            BINNED_BYTES,
            COLORMAP_BYTES,
            MEDIAN_BYTES,
            STRETCH_BYTES,
        )

        for kind, (most, least, count) in sorted(needed_factors(results).items(), key=str):
            if len(kind) == 3:
                mode, fmt, transparent = kind
                what = f"{fmt} {'transparent' if transparent else 'opaque'}"
                used = BINNED_BYTES[kind]
            elif kind[1].startswith("cmap"):
                mode, what = kind
                used = COLORMAP_BYTES
                what = f"{what} (extra)"
            else:
                mode, what = kind
                stretch, _, median = what.partition("+")
                used = STRETCH_BYTES.get((mode, stretch), 0.0)
                used += MEDIAN_BYTES[mode] if median else 0.0
                what = f"{what} (extra)"
            print(
                f"  {mode:6} {what:24} {most:6.2f} {least:8.2f} ({count})  in the budget: {used:g}"
            )


if __name__ == "__main__":
    main()
