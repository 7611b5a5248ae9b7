"""Peak memory per byte of FITS file: the factor behind the default ``MAX_DOWNLOAD_BYTES``.

    .venv/bin/python bench/memory_factor.py [--size 4096] [--keep DIR]

Writes large frames with ``tests/fits_factory.py`` (a reduced float32 ``.fits``, the same
Rice-compressed ``.fits.fz``, and a raw-style 16-bit ``.fits`` with ``BZERO``, which astropy
decodes into a new float array), then, for each, in a fresh process (so that the peaks do
not mix): imports the renderer, notes the peak RSS, reads the file into one ``bytes`` (as the
download does), decodes it once and renders the pregeneration presets (200 and 1000 px), and
notes the peak RSS again. Prints, per frame, the file size, the peak RSS, the increase over
the imports, and ``factor = increase / file size``; `thumbnails.settings` uses the largest
factor of an uncompressed frame (compressed frames are bounded by ``MAX_FRAME_PIXELS``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

_MEASURE = r"""
import json, sys
from thumbnails import imaging
from thumbnails.params import RenderLimits
from thumbnails.presets import parse_presets

def peak():
    # VmHWM, the peak RSS of this process image. Not ru_maxrss: on Linux a child starts with
    # its parent's, and the parent held every frame when it forked.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024

presets = parse_presets(("width=200&height=200", "width=1000&height=1000"))
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


def write_frames(directory: Path, size: int) -> list[Path]:
    sys.path.insert(0, str(REPO))
    import numpy as np
    from astropy.io import fits

    from tests.fits_factory import reduced_frame_bytes

    shape = (size, size)
    # Sky with noise and a gradient (what sets the compression ratio), written as a reduced
    # frame; `star_field` would take minutes at this size and changes nothing measured here.
    rng = np.random.default_rng(0)
    sky = rng.normal(850.0, 30.0, shape).astype(np.float32)
    sky += np.linspace(0, 50, size, dtype=np.float32)[None, :]
    frames = {
        "reduced-float32.fits": reduced_frame_bytes(data=sky),
        "reduced-float32.fits.fz": reduced_frame_bytes(data=sky, compression="RICE_1"),
    }
    del sky
    # A raw frame as an uncompressed file: 16-bit counts with BZERO 32768, which astropy
    # scales into a float array (the decoded copy is twice the file).
    counts = rng.normal(1000, 30, shape).clip(0, 65535).astype(np.uint16)
    primary = fits.PrimaryHDU(counts)
    primary.header["OBSTYPE"] = "EXPOSE"
    buffer = directory / "raw-uint16.fits"
    primary.writeto(buffer)
    paths = [buffer]
    for name, data in frames.items():
        path = directory / name
        path.write_bytes(data)
        paths.append(path)
    return paths


def measure(path: Path) -> dict:
    run = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True
    )
    if run.returncode:
        sys.exit(f"measuring {path.name} failed:\n{run.stderr}")
    out = run.stdout
    result = json.loads(out)
    result["frame"] = path.name
    result["increase"] = result["peak"] - result["imports"]
    result["factor"] = result["increase"] / result["bytes"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="frame side in pixels")
    parser.add_argument("--keep", type=Path, help="write the frames here and keep them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.keep or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        paths = write_frames(directory, args.size)
        mib = 1 << 20
        print(f"{'frame':28} {'file MiB':>9} {'peak MiB':>9} {'+MiB':>7} {'factor':>7}")
        for path in paths:
            r = measure(path)
            print(
                f"{r['frame']:28} {r['bytes'] / mib:9.1f} {r['peak'] / mib:9.1f} "
                f"{r['increase'] / mib:7.1f} {r['factor']:7.2f}"
            )


if __name__ == "__main__":
    main()
