#!/usr/bin/env bash
# `make build`: `sam build` for Lambda (python3.13, arm64), then the built sizes.
#
# SAM builds the function with a local interpreter of the runtime's version (it installs the
# function's requirements for arm64 with it) and the layer with layers/scientific/Makefile
# (manylinux aarch64 wheels). So a python3.13 must be on PATH; with pyenv, the newest 3.13.x
# it has is selected. No Docker needed (--use-container is not used).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${VENV:-.venv}
runtime=3.13
# Lambda's limit for a function and all its layers, unzipped.
limit_mb=250

if [ -z "${PYENV_VERSION:-}" ] && command -v pyenv >/dev/null 2>&1; then
    PYENV_VERSION=$(pyenv versions --bare 2>/dev/null | grep -E "^${runtime//./\\.}\.[0-9]+$" \
        | sort -t. -k3,3n | tail -n 1 || true)
    [ -n "$PYENV_VERSION" ] && export PYENV_VERSION || unset PYENV_VERSION
fi
if ! python$runtime -c 'import sys' >/dev/null 2>&1; then
    echo "build: sam build needs Python $runtime (the Lambda runtime) as 'python$runtime' on PATH." >&2
    echo "build: install it (e.g. 'pyenv install $runtime', or your OS's python$runtime package)." >&2
    exit 1
fi
echo "build: using $(command -v python$runtime) ($(python$runtime -c 'import sys; print(sys.version.split()[0])'))"

export SAM_CLI_TELEMETRY=0
# The layer's Makefile calls `python3 -m pip`; make it the same 3.13.
PYTHON=python$runtime "$venv/bin/sam" build --template-file template.yaml "$@"

# Bytecode, compiled here once: Lambda's /var/task and /opt are read-only, so without .pyc files
# Python compiles every module it imports again on every cold start (measured: importing the
# API and the scientific stack cold, 3.2 s from source against 1.1 s from .pyc on x86; under
# qemu, for `make test-lambda`, 86-105 s against 27 s). `unchecked-hash`: the package never
# changes after the build, so Python trusts the .pyc without comparing it with the source
# (a zip does not keep the sources' mtimes exactly). Same bytecode for every 3.13.x.
echo "build: compiling bytecode for Python $runtime"
python$runtime -m compileall -q -j 0 --invalidation-mode unchecked-hash .aws-sam/build >/dev/null

echo
echo "Built sizes (unzipped; zipped as uploaded):"
total=0
for dir in .aws-sam/build/*/; do
    name=$(basename "$dir")
    mb=$(du -sm "$dir" | cut -f1)
    zipped=$(python$runtime - "$dir" <<'PY'
import io, os, sys, zipfile
buffer = io.BytesIO()
with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
    for root, _, files in os.walk(sys.argv[1]):
        for name in files:
            path = os.path.join(root, name)
            archive.write(path, os.path.relpath(path, sys.argv[1]))
print(round(buffer.tell() / 2**20, 1))
PY
)
    printf '  %-22s %5s MB  (%s MB zipped)\n' "$name" "$mb" "$zipped"
    total=$((total + mb))
done
layer_mb=$(du -sm .aws-sam/build/ScientificLayer | cut -f1)
for fn in ThumbnailFunction PregenerateFunction; do
    fn_mb=$(du -sm ".aws-sam/build/$fn" | cut -f1)
    sum=$((fn_mb + layer_mb))
    echo "  $fn + ScientificLayer: $sum MB of Lambda's $limit_mb MB"
    if [ "$sum" -gt "$limit_mb" ]; then
        echo "build: $fn with its layer exceeds Lambda's $limit_mb MB unzipped limit" >&2
        exit 1
    fi
done
