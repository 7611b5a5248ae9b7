#!/usr/bin/env bash
# `make bench`: prepare what the benchmark needs (fpack, fits2image, the synthetic frames),
# then run bench/render_bench.py. Arguments are passed on to it, e.g.
#   bash bench/run.sh --quick --frames lsc1m005-fa15-20260101-0100-e91.fits.fz
# or, through make: make bench BENCH_ARGS="--quick".
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
PY="$REPO/.venv/bin/python"
CACHE="$REPO/bench/.cache"
FRAMES="$CACHE/frames"
REF_VENV="$CACHE/ref-venv"
MAKE_FRAMES="$REPO/bench/make_frames.py"
F2I="fits2image==1.1.0"
PINS="$REPO/layers/scientific/requirements.txt"
# Every frame make_frames.py writes; generation is skipped when all are present.
EXPECTED=(
    lsc1m005-fa15-20260101-0100-e91.fits
    lsc1m005-fa15-20260101-0100-e91.fits.fz
    lsc1m005-fa15-20260101-0100-e00.fits.fz
    ogg0m406-kb27-20260101-0050-e91.fits.fz
)

say() { printf 'bench: %s\n' "$*" >&2; }

if [[ ! -x "$PY" ]]; then
    say "no $PY: run 'make install' (or use 'make bench', which does it)"
    exit 1
fi

# fpack (CFITSIO) writes the tile-compressed frames.
if ! command -v fpack >/dev/null 2>&1; then
    if [[ "$(id -u)" -ne 0 ]]; then
        say "fpack not found and not root: install it with 'sudo apt-get install -y libcfitsio-bin'"
        exit 1
    fi
    say "installing fpack (libcfitsio-bin)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libcfitsio-bin >/dev/null
fi

# fits2image, the renderer we replace, is benchmark-only. It goes into .venv only if that
# changes nothing else there (the scientific pins stay as they are); otherwise it gets a venv
# of its own, and the reference renderer runs with that venv's interpreter.
REF_PY="$PY"
has_f2i() { "$1" -c 'import importlib.metadata as m, sys; sys.exit(m.version("fits2image") != "1.1.0")' 2>/dev/null; }
if has_f2i "$PY"; then
    :
elif [[ -x "$REF_VENV/bin/python" ]] && has_f2i "$REF_VENV/bin/python"; then
    REF_PY="$REF_VENV/bin/python"
else
    REPORT="$(mktemp)"
    trap 'rm -f "$REPORT"' EXIT
    "$PY" -m pip --disable-pip-version-check -q install --dry-run --report "$REPORT" \
        -c "$PINS" "$F2I" >/dev/null 2>&1 || true
    WOULD="$("$PY" -c 'import json, sys
try:
    report = json.load(open(sys.argv[1]))
except ValueError:
    sys.exit("?")
print(" ".join(sorted(i["metadata"]["name"].lower() for i in report["install"])))' "$REPORT" || echo "?")"
    if [[ "$WOULD" == "fits2image" ]]; then
        say "installing $F2I into .venv (it changes no other package there)"
        "$PY" -m pip --disable-pip-version-check -q install -c "$PINS" "$F2I" 2>&1 |
            grep -v 'is ignored: it is neither' >&2 || true
    else
        say "$F2I would also install or change: ${WOULD:-?}; using a separate venv $REF_VENV"
        "$PY" -m venv "$REF_VENV"
        "$REF_VENV/bin/python" -m pip --disable-pip-version-check -q install "$F2I"
        REF_PY="$REF_VENV/bin/python"
    fi
    if ! has_f2i "$REF_PY"; then
        say "could not install $F2I (see pip's messages above)"
        exit 1
    fi
fi

# The synthetic frames: deterministic, so generated once into the git-ignored cache.
missing=0
for f in "${EXPECTED[@]}"; do [[ -s "$FRAMES/$f" ]] || missing=1; done
if [[ $missing -eq 1 ]]; then
    say "generating frames into $FRAMES (once, ~10 s)"
    mkdir -p "$FRAMES"
    "$PY" "$MAKE_FRAMES" "$FRAMES" >/dev/null
fi

# The big frame (10000x10000, ~60 MB compressed) is the benchmark's own: bench/big_frame.py.
if [[ ! -s "$FRAMES/big10k-fa99-20260101-0001-e91.fits.fz" ]]; then
    say "writing the 10000x10000 frame into $FRAMES (once, ~1 min)"
    "$PY" "$REPO/bench/big_frame.py" "$FRAMES" >/dev/null
fi

"$PY" "$REPO/bench/render_bench.py" --frames-dir "$FRAMES" --ref-python "$REF_PY" \
    ${BENCH_ARGS:-} "$@"
# The cost of a colormap at 1000 px against the same run's grey render (issue 26).
"$PY" "$REPO/bench/colormap_bench.py" --frames-dir "$FRAMES"
# What the AVM packet (wcs=true) adds to a thumbnail: the README's table (issue 26).
"$PY" "$REPO/bench/avm_overhead.py" --frames-dir "$FRAMES"
# Size and encode time of JPEG, WebP and AVIF at 200 and 1000 px (issue 27).
"$PY" "$REPO/bench/formats_bench.py" --frames-dir "$FRAMES"
# SnapStart's priming and first miss, and the cost per 1,000 thumbnails (issue 28): the
# README's "SnapStart" tables are its output.
exec "$PY" "$REPO/bench/cost_bench.py" --frames-dir "$FRAMES"
