"""Benchmark our renderer against fits2image and against the cost of reading the frame.

    .venv/bin/python bench/render_bench.py --frames-dir DIR [--quick] [--frames NAME ...]

Run through ``make bench`` (``bench/run.sh``), which installs fpack and fits2image and
generates the frames first. Three methods render each frame to 200x200, interleaved
(fits2image, floor, ours, fits2image, ...) so that a noisy neighbour hurts all three alike:

- fits2image: ``fits2image.conversions.fits_to_jpg``, the renderer of the old service;
- floor: astropy opening the file and reading every image HDU's data (all four amplifiers
  of a raw frame), which no renderer built on astropy can beat;
- ours: ``thumbnails.imaging.render_thumbnail``;
- cutout (4k reduced frame only): ours, a 2-arcminute ``ra``/``dec`` cutout of the frame,
  compared with ours rendering the whole frame (issue 18: decode only where it falls).

Each is measured cold (a fresh Python process per render: wall time of the whole process,
imports included, and its peak RSS from ``os.wait4``) and warm (repeated in one long-lived
process after a warm-up render). Medians are reported, and ratios, since absolute times vary
from machine to machine. The methods are in ``bench/methods.py``.

Side-by-side pictures (fits2image | ours) of every frame go to ``bench/out/``, and of one
sky taken by cameras mounted four ways (``bench/orientation_frames.py``: north up, mirrored,
turned 90 and 180 degrees), with the correlation of ours (north up, and ``detector``) with
fits2image's picture of each: both turn every frame north up, east left.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
METHODS_PY = REPO / "bench" / "methods.py"
METHODS = ("fits2image", "floor", "ours")
CUTOUT = "cutout"
SHORT = {"fits2image": "a", "floor": "b", "ours": "c", CUTOUT: "d"}

REDUCED_4K = "lsc1m005-fa15-20260101-0100-e91.fits.fz"
RAW_4AMP = "lsc1m005-fa15-20260101-0100-e00.fits.fz"
#: Written by bench/big_frame.py (10000x10000 float32, Rice): memory must not grow with it.
BIG_10K = "big10k-fa99-20260101-0001-e91.fits.fz"
DEFAULT_FRAMES = (
    REDUCED_4K,
    RAW_4AMP,
    "ogg0m406-kb27-20260101-0050-e91.fits.fz",
    "lsc1m005-fa15-20260101-0100-e91.fits",
    BIG_10K,
)


@dataclass(frozen=True)
class Target:
    """One goal from the issue: ``ratio <= limit`` (or ``>=`` when `at_least`)."""

    frame: str
    what: str  # shown in the table
    kind: str  # "warm c/b", "cold c/b", "cold a/c", "rss c/a", "rss c-file" (MB)
    limit: float
    at_least: bool = False

    def met(self, value: float) -> bool:
        return value >= self.limit if self.at_least else value <= self.limit


TARGETS = (
    Target(REDUCED_4K, "4k reduced, warm, ours / floor", "warm c/b", 1.15),
    Target(REDUCED_4K, "4k reduced, cold, ours / floor", "cold c/b", 1.25),
    Target(REDUCED_4K, "4k reduced, cold, fits2image / ours", "cold a/c", 3.0, at_least=True),
    Target(REDUCED_4K, "4k reduced, peak RSS, ours / fits2image", "rss c/a", 0.3),
    Target(RAW_4AMP, "raw 4-amp mosaic, warm, ours / floor", "warm c/b", 0.8),
    Target(RAW_4AMP, "raw 4-amp mosaic, cold, ours / floor", "cold c/b", 0.8),
    Target(BIG_10K, "10k reduced, warm, ours / floor", "warm c/b", 0.8),
    Target(BIG_10K, "10k reduced, cold, ours / floor", "cold c/b", 0.8),
    Target(BIG_10K, "10k reduced, peak RSS, ours - file size", "rss c-file", 150.0),
    Target(REDUCED_4K, "4k reduced, warm, 2' cutout / whole frame", "warm d/c", 0.3),
    Target(REDUCED_4K, "4k reduced, cold, 2' cutout / whole frame", "cold d/c", 0.3),
    Target(REDUCED_4K, "4k reduced, peak RSS, 2' cutout / whole", "rss d/c", 0.5),
)
#: Frames the cutout method is measured on (it needs a sky position: methods.CUTOUT_AT).
CUTOUT_FRAMES = (REDUCED_4K,)


@dataclass
class Samples:
    """What was measured for one (frame, method)."""

    file_mb: float = 0.0
    cold_s: list[float] = field(default_factory=list)
    cold_cpu_s: list[float] = field(default_factory=list)
    cold_rss_mb: list[float] = field(default_factory=list)
    warm_s: list[float] = field(default_factory=list)
    warm_cpu_s: list[float] = field(default_factory=list)
    error: str | None = None

    @staticmethod
    def _median(values: list[float]) -> float | None:
        return statistics.median(values) if values else None

    @property
    def cold(self) -> float | None:
        return self._median(self.cold_s)

    @property
    def rss(self) -> float | None:
        return self._median(self.cold_rss_mb)

    @property
    def warm(self) -> float | None:
        return self._median(self.warm_s)

    @property
    def cold_cpu(self) -> float | None:
        return self._median(self.cold_cpu_s)

    @property
    def warm_cpu(self) -> float | None:
        return self._median(self.warm_cpu_s)


# --------------------------------------------------------------------------- measuring
def run_cold(
    python: str, method: str, frame: Path, out: Path, size: int
) -> tuple[float, float, float]:
    """Render once in a fresh interpreter; return its wall seconds, peak RSS in MB and CPU
    seconds (user + system)."""
    cmd = [python, str(METHODS_PY), "run", method, str(frame), str(out), "--size", str(size)]
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        # wait4 gives this one child's rusage; ru_maxrss is in KiB on Linux.
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace").strip().splitlines()[-1:]
            raise RuntimeError(f"exit {proc.returncode}: {' '.join(tail)}")
    return wall, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime


class WarmWorker:
    """A long-lived `methods.py serve` process: imports paid once, renders on request."""

    def __init__(self, python: str, method: str, size: int) -> None:
        self.method = method
        self.proc = subprocess.Popen(
            [python, str(METHODS_PY), "serve", method, "--size", str(size)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def render(self, frame: Path, out: Path) -> tuple[float, float]:
        """Render once; return the (wall, CPU) seconds the worker measured."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"frame": str(frame), "out": str(out)}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.method} worker exited ({self.proc.wait()})")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply["seconds"], reply["cpu"]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def measure_frame(
    frame: Path,
    methods: tuple[str, ...],
    pythons: dict[str, str],
    workers: dict[str, WarmWorker],
    args: argparse.Namespace,
) -> dict[str, Samples]:
    """Cold then warm rounds for one frame, the methods interleaved within each round."""
    results = {m: Samples(file_mb=frame.stat().st_size / 1e6) for m in methods}
    outs = {m: output_path(args.out, frame, m) for m in methods}
    for path in outs.values():  # a failed render must not leave last run's picture behind
        path.unlink(missing_ok=True)

    def attempt(method: str, action) -> None:
        if results[method].error is None:
            try:
                action()
            except RuntimeError as exc:
                results[method].error = str(exc)

    # One unrecorded cold round first: it pays for .pyc compilation and the page cache.
    for round_no in range(args.cold + 1):
        for m in methods:

            def cold(m=m, record=round_no > 0):
                wall, rss, cpu = run_cold(pythons[m], m, frame, outs[m], args.size)
                if record:
                    results[m].cold_s.append(wall)
                    results[m].cold_rss_mb.append(rss)
                    results[m].cold_cpu_s.append(cpu)

            attempt(m, cold)
        progress(".")
    for round_no in range(args.warm + 1):
        for m in methods:

            def warm(m=m, record=round_no > 0):
                wall, cpu = workers[m].render(frame, outs[m])
                if record:
                    results[m].warm_s.append(wall)
                    results[m].warm_cpu_s.append(cpu)

            attempt(m, warm)
        progress(":")
    return results


def output_path(out_dir: Path, frame: Path, method: str, size: int | None = None) -> Path:
    suffix = f"-{size}" if size else ""
    return out_dir / f"{frame_stem(frame)}.{method}{suffix}.jpg"


def frame_stem(frame: Path) -> str:
    name = frame.name
    for ext in (".fits.fz", ".fits.gz", ".fits"):
        if name.endswith(ext):
            return name[: -len(ext)] + ext.replace(".", "_")
    return name


def progress(mark: str) -> None:
    print(mark, end="", file=sys.stderr, flush=True)


def renderer_available(python: str) -> str | None:
    """None if ``thumbnails.imaging.render_thumbnail`` imports in `python`, else why not."""
    probe = subprocess.run(
        [python, "-c", "from thumbnails.imaging import render_thumbnail"],
        capture_output=True,
        text=True,
    )
    if probe.returncode == 0:
        return None
    lines = probe.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit {probe.returncode}"


# --------------------------------------------------------------------------- reporting
def fmt(value: float | None, spec: str, unit: str = "") -> str:
    """`value` formatted by `spec`, or a dash of the same width when there is none."""
    width = len(f"{0.0:{spec}}{unit}")
    return "-".rjust(width) if value is None else f"{value:{spec}}{unit}"


def ratio(top: float | None, bottom: float | None) -> float | None:
    if top is None or bottom is None or bottom == 0:
        return None
    return top / bottom


def ratios_of(res: dict[str, Samples]) -> dict[str, float | None]:
    a, b, c, d = (res.get(m, Samples()) for m in (*METHODS, CUTOUT))
    return {
        "warm d/c": ratio(d.warm, c.warm),
        "cold d/c": ratio(d.cold, c.cold),
        "rss d/c": ratio(d.rss, c.rss),
        "warm d/c cpu": ratio(d.warm_cpu, c.warm_cpu),
        "cold d/c cpu": ratio(d.cold_cpu, c.cold_cpu),
        "warm c/b": ratio(c.warm, b.warm),
        "cold c/b": ratio(c.cold, b.cold),
        "warm a/c": ratio(a.warm, c.warm),
        "cold a/c": ratio(a.cold, c.cold),
        "cold a/b": ratio(a.cold, b.cold),
        "rss c/a": ratio(c.rss, a.rss),
        # Peak memory above the file's own size (MB): what streaming keeps small.
        "rss c-file": None if c.rss is None else c.rss - c.file_mb,
        # CPU-time twins of the wall-time ratios: less sensitive to other processes on a
        # busy machine, so a wall-time MISS that CPU time does not confirm is likely noise.
        "warm c/b cpu": ratio(c.warm_cpu, b.warm_cpu),
        "cold c/b cpu": ratio(c.cold_cpu, b.cold_cpu),
        "cold a/c cpu": ratio(a.cold_cpu, c.cold_cpu),
    }


def print_table(all_results: dict[str, dict[str, Samples]], args: argparse.Namespace) -> None:
    print()
    print(
        f"Render to {args.size}x{args.size}: median of {args.cold} cold runs (fresh process, "
        f"imports included) and {args.warm} warm runs (one process, after a warm-up)."
    )
    print("a = fits2image 1.1.0 fits_to_jpg, b = floor (astropy reads all image HDUs), c = ours")
    print("d = ours, a 2-arcminute cutout (ra/dec, fov=2) of the frame instead of all of it")
    print()
    head = (
        f"{'frame':<42} {'method':<12} {'cold s':>7} {'(cpu)':>7} {'peak RSS':>9}"
        f" {'warm s':>7} {'(cpu)':>7}"
    )
    print(head)
    print("-" * len(head))
    for name, res in all_results.items():
        for m in (*METHODS, CUTOUT):
            s = res.get(m)
            if s is None:
                continue
            label = f"{SHORT[m]} {m}"
            if s.error:
                print(f"{name:<42} {label:<12} ERROR: {s.error[:80]}")
                continue
            print(
                f"{name:<42} {label:<12} {fmt(s.cold, '7.3f')} {fmt(s.cold_cpu, '7.3f')}"
                f" {fmt(s.rss, '6.0f', ' MB')} {fmt(s.warm, '7.3f')} {fmt(s.warm_cpu, '7.3f')}"
            )
        name = ""
    print()
    head = (
        f"{'frame':<42} {'warm c/b':>8} {'cold c/b':>8} {'warm a/c':>8} {'cold a/c':>8}"
        f" {'RSS c/a':>8} {'cold a/b':>8}"
    )
    print(head)
    print("-" * len(head))
    for name, res in all_results.items():
        r = ratios_of(res)
        cells = " ".join(
            fmt(r[k], "7.2f", "x")
            for k in ("warm c/b", "cold c/b", "warm a/c", "cold a/c", "rss c/a", "cold a/b")
        )
        print(f"{name:<42} {cells}")
    print()
    print("Targets (issues 2, 14 and 18):")
    for t in TARGETS:
        if t.frame not in all_results:
            continue
        value = ratios_of(all_results[t.frame])[t.kind]
        unit = " MB" if t.kind == "rss c-file" else "x"
        goal = f"{'>=' if t.at_least else '<='} {t.limit:g}{unit}"
        verdict = "n/a" if value is None else ("PASS" if t.met(value) else "MISS")
        cpu = ratios_of(all_results[t.frame]).get(f"{t.kind} cpu")
        aside = f"  (CPU time: {fmt(cpu, '.2f', 'x')})" if cpu is not None else ""
        shown = fmt(value, "5.0f" if unit == " MB" else "5.2f", unit)
        print(f"  {t.what:<44} {goal:>9}  measured {shown:>8}  {verdict}{aside}")
    if REDUCED_4K in all_results:
        bound = ratios_of(all_results[REDUCED_4K])["cold a/b"]
        print(
            f"  (fits2image / floor, cold, on this machine: {fmt(bound, '.2f', 'x')}: to be 3x"
            " faster than fits2image, ours must be well below the floor)"
        )


def describe_environment(pythons: dict[str, str]) -> None:
    import numpy

    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    print(
        f"python {platform.python_version()}, numpy {numpy.__version__}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}; "
        f"OpenBLAS env: {env or 'unset'} (the same for all three methods)"
    )
    if pythons["fits2image"] != pythons["ours"]:
        print(f"fits2image runs in a separate venv: {pythons['fits2image']}")


def load_average() -> str:
    """The 1-minute load average against the CPU count: how noisy the numbers may be."""
    one, _, _ = os.getloadavg()
    return f"load average {one:.1f} on {os.cpu_count()} CPUs"


# --------------------------------------------------------------------------- pictures
def side_by_side(left: Path, right: Path, out: Path, titles: tuple[str, str]) -> None:
    """fits2image | ours at the same height, each with a title above it."""
    from PIL import Image, ImageDraw, ImageFont

    images = [Image.open(p).convert("RGB") for p in (left, right)]
    height = max(im.height for im in images)
    images = [
        im
        if im.height == height
        else im.resize((round(im.width * height / im.height), height), Image.Resampling.LANCZOS)
        for im in images
    ]
    gap, bar = 8, 22
    font = ImageFont.load_default(size=max(11, min(16, height // 14)))
    canvas = Image.new("RGB", (sum(im.width for im in images) + gap, height + bar), (96, 96, 96))
    draw = ImageDraw.Draw(canvas)
    x = 0
    for im, title in zip(images, titles, strict=True):
        canvas.paste(im, (x, bar))
        draw.text((x + 4, 3), title, fill=(255, 255, 255), font=font)
        x += im.width + gap
    canvas.save(out, optimize=True)


def describe_pair(a_path: Path, c_path: Path) -> str:
    """Numbers that say how ours differs from fits2image to the eye."""
    import numpy as np
    from PIL import Image

    a = np.asarray(Image.open(a_path).convert("L"), dtype=np.float64)
    c = np.asarray(Image.open(c_path).convert("L"), dtype=np.float64)

    def stats(x: np.ndarray) -> str:
        p50, p99 = np.percentile(x, [50, 99])
        white = 100.0 * np.mean(x >= 250)
        return f"mean {x.mean():5.1f} median {p50:5.1f} p99 {p99:5.1f} white {white:4.1f}%"

    lines = [
        f"    fits2image {a.shape[1]}x{a.shape[0]}: {stats(a)}",
        f"    ours       {c.shape[1]}x{c.shape[0]}: {stats(c)}",
    ]
    if a.shape == c.shape:
        # Which orientation of fits2image's picture ours resembles most. Bright stars dominate
        # the correlation, so a flip shows up clearly even though the noise differs.
        candidates = {
            "as is": a,
            "flipped top-bottom": a[::-1],
            "flipped left-right": a[:, ::-1],
            "rotated 180": a[::-1, ::-1],
        }
        corr = {k: float(np.corrcoef(v.ravel(), c.ravel())[0, 1]) for k, v in candidates.items()}
        best = max(corr, key=corr.get)
        shown = ", ".join(f"{k} {v:.2f}" for k, v in corr.items())
        lines.append(f"    correlation of ours with fits2image: {shown} -> best: {best}")
        lines.append(f"    mean |difference| {np.abs(a - c).mean():.1f} grey levels")
    else:
        lines.append("    different shapes: no pixel comparison")
    return "\n".join(lines)


def correlation(a_path: Path, c_path: Path) -> float | None:
    """Pearson correlation of two pictures' grey levels; None if their sizes differ."""
    import numpy as np
    from PIL import Image

    a, c = (np.asarray(Image.open(p).convert("L"), dtype=np.float64) for p in (a_path, c_path))
    return float(np.corrcoef(a.ravel(), c.ravel())[0, 1]) if a.shape == c.shape else None


def picture_grid(rows: list[list[Path]], titles: list[str], out: Path) -> None:
    """Pictures in a grid (one row per frame), each column titled; sizes may differ."""
    from PIL import Image, ImageDraw, ImageFont

    images = [[Image.open(p).convert("RGB") for p in row] for row in rows]
    cell = max(max(im.width, im.height) for row in images for im in row)
    gap, bar = 8, 22
    font = ImageFont.load_default(size=14)
    canvas = Image.new(
        "RGB", (len(titles) * (cell + gap) - gap, bar + len(rows) * (cell + gap)), (96, 96, 96)
    )
    draw = ImageDraw.Draw(canvas)
    for column, title in enumerate(titles):
        draw.text((column * (cell + gap) + 4, 3), title, fill=(255, 255, 255), font=font)
    for row_no, row in enumerate(images):
        for column, im in enumerate(row):
            canvas.paste(im, (column * (cell + gap), bar + row_no * (cell + gap)))
    canvas.save(out, optimize=True)


def orientation_comparison(pythons: dict[str, str], args: argparse.Namespace) -> None:
    """fits2image | ours for one sky recorded by cameras mounted four ways (issue 17)."""
    import orientation_frames  # bench/, beside this script

    directory = args.frames_dir / "orientation"
    frames = [directory / orientation_frames.frame_name(c) for c in orientation_frames.CAMERAS]
    if not all(frame.is_file() for frame in frames):
        frames = orientation_frames.write_frames(directory)
    methods = ("fits2image", "ours", "ours-detector")
    print()
    print(
        f"Orientation: one sky ({orientation_frames.SHAPE[1]}x{orientation_frames.SHAPE[0]},"
        f" an N at its north edge, an E at its east edge) recorded by four cameras, at"
        f" {args.size} px. Correlation of grey levels with fits2image's picture:"
    )
    print(f"  {'camera':<12} {'fits2image':>10} {'ours':>8} {'corr':>6}", end="")
    print(f" {'detector':>9} {'corr':>6}")
    grid = []
    for frame in frames:
        outs = {m: output_path(args.out, frame, m) for m in methods}
        try:
            for m, path in outs.items():
                path.unlink(missing_ok=True)
                run_cold(pythons.get(m, sys.executable), m, frame, path, args.size)
        except RuntimeError as exc:
            print(f"  {frame.name}: render failed: {exc}")
            continue
        sizes = {}
        for m, path in outs.items():
            from PIL import Image

            with Image.open(path) as im:
                sizes[m] = f"{im.width}x{im.height}"
        north = correlation(outs["fits2image"], outs["ours"])
        detector = correlation(outs["fits2image"], outs["ours-detector"])
        camera = frame.name.removeprefix("orient-").removesuffix(".fits")
        print(
            f"  {camera:<12} {sizes['fits2image']:>10} {sizes['ours']:>8} {fmt(north, '6.3f')}"
            f" {sizes['ours-detector']:>9} {fmt(detector, '6.3f')}"
        )
        side_by_side(
            outs["fits2image"],
            outs["ours"],
            args.out / f"{frame_stem(frame)}.side-by-side.png",
            ("fits2image 1.1.0", "ours"),
        )
        grid.append([outs[m] for m in methods])
    if grid:
        picture = args.out / "orientation.side-by-side.png"
        picture_grid(grid, ["fits2image 1.1.0", "ours (north)", "ours (detector)"], picture)
        print(f"  pictures: orient-*.side-by-side.png and {picture.name} in {args.out}")
        if args.update_docs:
            docs = REPO / "docs" / "orientation.png"
            docs.write_bytes(picture.read_bytes())
            print(f"  copied to {docs.relative_to(REPO)} ({docs.stat().st_size // 1024} KB)")


def make_pictures(frames: list[Path], pythons: dict[str, str], args: argparse.Namespace) -> None:
    """Side-by-side PNGs at the benchmark size and, for a closer look, at --preview size."""
    print()
    print(f"Pictures in {args.out}:")
    for frame in frames:
        a = output_path(args.out, frame, "fits2image")
        c = output_path(args.out, frame, "ours")
        if not (a.exists() and c.exists()):
            print(f"  {frame.name}: missing output, no picture")
            continue
        stem = frame_stem(frame)
        titles = ("fits2image 1.1.0", "ours")
        small = args.out / f"{stem}.side-by-side.png"
        side_by_side(a, c, small, titles)
        print(f"  {small.name}")
        print(describe_pair(a, c))
        if args.update_docs and frame.name == REDUCED_4K:
            docs = REPO / "docs" / "side-by-side.png"
            docs.parent.mkdir(exist_ok=True)
            docs.write_bytes(small.read_bytes())
            print(f"  copied to {docs.relative_to(REPO)} ({docs.stat().st_size // 1024} KB)")
        if args.preview:
            pa = output_path(args.out, frame, "fits2image", args.preview)
            pc = output_path(args.out, frame, "ours", args.preview)
            try:
                for m, p in (("fits2image", pa), ("ours", pc)):
                    p.unlink(missing_ok=True)
                    run_cold(pythons[m], m, frame, p, args.preview)
            except RuntimeError as exc:
                print(f"    preview failed: {exc}")
                continue
            big = args.out / f"{stem}.side-by-side-{args.preview}.png"
            side_by_side(pa, pc, big, titles)
            print(f"  {big.name}")


# --------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames-dir", type=Path, default=REPO / "bench" / ".cache" / "frames")
    parser.add_argument(
        "--frames",
        nargs="+",
        metavar="NAME",
        help=f"frame file names in --frames-dir (default: {', '.join(DEFAULT_FRAMES)})",
    )
    parser.add_argument("--quick", action="store_true", help="2 cold and 3 warm runs")
    parser.add_argument("--cold", type=int, default=5, help="cold runs per method (default 5)")
    parser.add_argument("--warm", type=int, default=7, help="warm runs per method (default 7)")
    parser.add_argument("--size", type=int, default=200, help="thumbnail box (default 200)")
    parser.add_argument(
        "--preview",
        type=int,
        default=800,
        help="also render both at this size for a closer look (0: no; default 800)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    parser.add_argument(
        "--ref-python", default=sys.executable, help="interpreter that has fits2image"
    )
    parser.add_argument(
        "--update-docs",
        action="store_true",
        help="copy the 4k reduced side-by-side picture to docs/side-by-side.png and the"
        " orientation grid to docs/orientation.png",
    )
    parser.add_argument(
        "--orientation-only",
        action="store_true",
        help="skip the timing: only the orientation comparison with fits2image",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.cold, args.warm = 2, 3
    if args.cold < 1 or args.warm < 1:
        parser.error("--cold and --warm must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = args.frames or list(DEFAULT_FRAMES)
    # A name is looked up in --frames-dir; a path to any other FITS file works too.
    frames = [Path(n) if Path(n).is_file() else args.frames_dir / n for n in names]
    missing = [str(f) for f in frames if not f.is_file()]
    if missing:
        known = sorted(p.name for p in args.frames_dir.glob("*.fits*"))
        print(f"frames not found: {', '.join(missing)}", file=sys.stderr)
        print(f"in {args.frames_dir}: {', '.join(known) or 'nothing'}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    pythons = {"fits2image": args.ref_python, "floor": sys.executable, "ours": sys.executable}

    methods = METHODS
    why_not = renderer_available(sys.executable)
    if why_not:
        print(f"ours: thumbnails.imaging is not usable ({why_not}); measuring a and b only")
        methods = ("fits2image", "floor")

    print("$ " + shlex.join([Path(sys.executable).name, *sys.argv]))
    describe_environment(pythons)
    print(load_average())
    started = time.perf_counter()
    if args.orientation_only:
        if "ours" in methods:
            orientation_comparison(pythons, args)
        return 0
    cutouts = "ours" in methods and any(f.name in CUTOUT_FRAMES for f in frames)
    if cutouts:
        pythons[CUTOUT] = sys.executable
    measured = (*methods, CUTOUT) if cutouts else methods
    workers = {m: WarmWorker(pythons[m], m, args.size) for m in measured}
    results: dict[str, dict[str, Samples]] = {}
    try:
        for frame in frames:
            progress(f"{frame.name} ")
            chosen = (*methods, CUTOUT) if cutouts and frame.name in CUTOUT_FRAMES else methods
            results[frame.name] = measure_frame(frame, chosen, pythons, workers, args)
            progress("\n")
    finally:
        for w in workers.values():
            w.close()
    print_table(results, args)
    if "ours" in methods:
        make_pictures(frames, pythons, args)
        orientation_comparison(pythons, args)
    print(f"\nTotal {time.perf_counter() - started:.0f} s; {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
