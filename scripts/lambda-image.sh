#!/usr/bin/env bash
# Build, or reuse, the local python3.13 arm64 Lambda image for `sam local` (make test-lambda).
#
# No container registry is needed: the image is Debian trixie (python3.13, arm64) made by
# mmdebstrap under qemu, plus awslambdaric installed from its manylinux2014_aarch64 wheels and
# scripts/lambda-image/bootstrap. The tag carries a hash of every input (this script and
# scripts/lambda-image/*), so an unchanged image is reused from the Docker daemon, and a
# changed input builds a new one. The rootfs tarball (the slow part, minutes under qemu) is
# cached by a hash of what mmdebstrap is asked for, outside the repository:
#   ${FITS_THUMBNAILS_CACHE:-${XDG_CACHE_HOME:-~/.cache}/fits-thumbnails}/lambda-image/
#
# Needs: a running dockerd, mmdebstrap, qemu-user-static with binfmt for aarch64, and the
# venv's pip (PyPI). Prints progress on stderr and the image's tag as the last line of stdout.
# Environment: DEBIAN_MIRROR (default: the Debian mirror apt uses, else deb.debian.org),
# LAMBDA_IMAGE_REBUILD=1 (ignore both caches).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${VENV:-.venv}
docker=/usr/bin/docker # Debian's client: the `docker` some machines have first on PATH needs buildx
suite=trixie           # Debian 13: python3 is 3.13, Lambda's python3.13 runtime
packages=python3,ca-certificates,libstdc++6 # libstdc++: awslambdaric's and numpy's extensions
cache_root=${FITS_THUMBNAILS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fits-thumbnails}/lambda-image
log() { echo "lambda-image: $*" >&2; }

sha() { sha256sum | cut -c1-16; }
rootfs_key=$(printf '%s\n' "$suite" arm64 apt "$packages" | sha)
image_key=$( (
    printf '%s\n' "$rootfs_key"
    cat "$0" scripts/lambda-image/Dockerfile scripts/lambda-image/bootstrap \
        scripts/lambda-image/requirements.txt
) | sha)
tag=fits-thumbnails-lambda:py313-arm64-$image_key

if [ "${LAMBDA_IMAGE_REBUILD:-0}" != 1 ] && "$docker" image inspect "$tag" >/dev/null 2>&1; then
    log "reusing $tag (inputs unchanged)"
    echo "$tag"
    exit 0
fi

debian_mirror() {
    # The mirror apt already uses, if it serves Debian (an Ubuntu mirror has no trixie).
    local uri
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
        2>/dev/null | grep -oE 'https?://[^ ]+/debian/?( |$)' | head -n 1 | tr -d ' ' || true)
    echo "${uri:-http://deb.debian.org/debian}"
}

rootfs_dir=$cache_root/rootfs-$rootfs_key
rootfs=$rootfs_dir/rootfs.tar
if [ "${LAMBDA_IMAGE_REBUILD:-0}" = 1 ] || [ ! -s "$rootfs" ]; then
    mirror=${DEBIAN_MIRROR:-$(debian_mirror)}
    log "mmdebstrap $suite arm64 ($packages) from $mirror: several minutes under qemu"
    mkdir -p "$rootfs_dir"
    started=$(date +%s)
    # Written beside, then renamed: an interrupted run leaves no half rootfs to reuse.
    mmdebstrap --quiet --variant=apt --arch=arm64 --include="$packages" \
        "$suite" "$rootfs.partial" "$mirror" >&2
    mv "$rootfs.partial" "$rootfs"
    log "rootfs done in $(($(date +%s) - started)) s ($(du -h "$rootfs" | cut -f1))"
else
    log "reusing the cached rootfs $rootfs"
fi

context=$(mktemp -d "$cache_root/context.XXXXXX")
trap 'rm -rf "$context"' EXIT
ln "$rootfs" "$context/rootfs.tar" 2>/dev/null || cp "$rootfs" "$context/rootfs.tar"
cp scripts/lambda-image/Dockerfile scripts/lambda-image/bootstrap "$context/"

# The runtime interface client, installed on the host from aarch64 wheels (the image has no
# route to PyPI, and running pip under qemu would only be slower).
wheels=(--only-binary=:all: --platform manylinux2014_aarch64 --python-version 3.13
    --implementation cp --abi cp313)
log "awslambdaric wheels for manylinux2014_aarch64 cp313"
"$venv/bin/python" -m pip --disable-pip-version-check -q download --no-deps "${wheels[@]}" \
    -d "$context/wheels" -r scripts/lambda-image/requirements.txt >&2
"$venv/bin/python" -m pip --disable-pip-version-check -q install --no-deps --no-index \
    --find-links "$context/wheels" "${wheels[@]}" --target "$context/runtime" \
    -r scripts/lambda-image/requirements.txt >&2

log "docker build $tag"
DOCKER_BUILDKIT=1 "$docker" build --quiet --platform linux/arm64 \
    --label "org.opencontainers.image.description=fits-thumbnails local Lambda runtime" \
    -t "$tag" "$context" >&2
architecture=$("$docker" image inspect --format '{{.Architecture}}' "$tag")
if [ "$architecture" != arm64 ]; then
    log "$tag is $architecture, not arm64" && exit 1
fi
# The runtime must start: python3.13 and awslambdaric import under emulation.
version=$("$docker" run --rm --platform linux/arm64 --network none --entrypoint /usr/bin/python3 \
    -e PYTHONPATH=/var/runtime "$tag" -c \
    'import platform, sys, awslambdaric.bootstrap; print(platform.machine(), sys.version.split()[0])')
log "$tag ready: $version"
echo "$tag"
