#!/usr/bin/env bash
# `make test-lambda`: the built arm64 functions and layer run under the real SAM CLI.
#
# 1. Installs what it needs (Debian/Ubuntu, as root or through sudo; nothing when present):
#    docker.io, qemu-user-static, binfmt-support, mmdebstrap, debian-archive-keyring, and
#    turns on qemu's aarch64 binfmt handler.
# 2. Starts dockerd (--iptables=false: no bridge network is used) unless one already answers,
#    and stops it, by its pid, on exit.
# 3. Builds or reuses the local python3.13 arm64 Lambda image (scripts/lambda-image.sh): no
#    registry is reachable here, so AWS's images cannot be pulled.
# 4. `make build`, then pytest on tests/lambda/: the tests start moto's S3 and the embedded
#    archive on 127.0.0.1 and drive `sam local invoke` and `sam local start-api`, every
#    container on the host network, nothing addressed beyond loopback.
# Extra arguments go to pytest (e.g. `-k start_api`).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${VENV:-.venv}
docker=/usr/bin/docker
log() { echo "test-lambda: $*" >&2; }
seconds() { date +%s; }
started=$(seconds)

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        log "needs root (or sudo) for: $*" && exit 1
    fi
}

# --- 1. system packages ---------------------------------------------------------------------
packages=(docker.io qemu-user-static binfmt-support mmdebstrap debian-archive-keyring)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' \
        || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${missing[@]}" >&2
fi
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    as_root mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
if ! grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
    as_root update-binfmts --enable qemu-aarch64
fi
grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 \
    || { log "qemu's aarch64 binfmt handler is not enabled" && exit 1; }

# --- 2. dockerd -----------------------------------------------------------------------------
dockerd_pid=
cleanup() {
    if [ -n "$dockerd_pid" ]; then
        # Quietly: pytest's summary line stays the last thing printed.
        as_root kill -TERM "$dockerd_pid" 2>/dev/null || true
        for _ in $(seq 60); do
            kill -0 "$dockerd_pid" 2>/dev/null || return 0
            sleep 1
        done
        log "dockerd (pid $dockerd_pid) did not stop within 60 s"
    fi
}
trap cleanup EXIT
if as_root "$docker" info >/dev/null 2>&1; then
    log "using the running Docker daemon"
else
    dockerd_log=$(mktemp /tmp/test-lambda-dockerd.XXXXXX.log)
    log "starting dockerd --iptables=false (log: $dockerd_log)"
    # setsid: a Ctrl-C of make reaches our trap, which stops the daemon cleanly.
    as_root setsid dockerd --iptables=false >"$dockerd_log" 2>&1 &
    launcher=$!
    for _ in $(seq 60); do
        as_root "$docker" info >/dev/null 2>&1 && break
        kill -0 "$launcher" 2>/dev/null || { cat "$dockerd_log" >&2; log "dockerd exited" && exit 1; }
        sleep 1
    done
    # The daemon's own pid (as_root may have put sudo in between).
    dockerd_pid=$(pgrep -n -P "$launcher" dockerd 2>/dev/null || echo "$launcher")
    as_root "$docker" info >/dev/null 2>&1 || { cat "$dockerd_log" >&2; log "dockerd did not answer in 60 s" && exit 1; }
fi

# --- 3. the image ---------------------------------------------------------------------------
image_started=$(seconds)
image=$(bash scripts/lambda-image.sh | tail -n 1)
log "image $image ($(($(seconds) - image_started)) s)"

# --- 4. build and test ----------------------------------------------------------------------
build_started=$(seconds)
${MAKE:-make} --no-print-directory build
log "make build: $(($(seconds) - build_started)) s"

# THUMBNAILS_LAMBDA_IMAGE turns the tests on (plain `pytest` leaves tests/lambda out) and
# names the image; with it set, anything missing is a failure, never a skip.
status=0
# TEST_LAMBDA_STARTED: the tests' summary reports the whole target's time (conftest.py).
THUMBNAILS_LAMBDA_IMAGE=$image TEST_LAMBDA_STARTED=$started "$venv/bin/pytest" tests/lambda -p no:randomly -p no:cacheprovider "$@" \
    || status=$?
exit "$status"
