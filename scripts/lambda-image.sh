#!/usr/bin/env bash
# Build, or reuse, the local python3.13 arm64 Lambda image for `sam local` (make test-lambda).
#
# No container registry is needed: the image is Debian trixie's python3.13 for arm64, unpacked
# by mmdebstrap, plus awslambdaric installed from its manylinux2014_aarch64 wheels and
# scripts/lambda-image/bootstrap. The tag carries a hash of every input (this script and
# scripts/lambda-image/*), so an unchanged image is reused from the Docker daemon, and a
# changed input builds a new one. The rootfs tarball is cached by a hash of this script and
# the package list, outside the repository:
#   ${FITS_THUMBNAILS_CACHE:-${XDG_CACHE_HOME:-~/.cache}/fits-thumbnails}/lambda-image/
#
# Needs: a running dockerd, mmdebstrap, python3.13, the venv's pip (PyPI), and qemu-user-static
# with binfmt for aarch64 (only to check that the image runs; SAM's containers need it too).
# Prints progress on stderr and the image's tag as the last line of stdout.
# Environment: DEBIAN_MIRROR (default: the Debian mirror apt uses, else deb.debian.org),
# LAMBDA_IMAGE_REBUILD=1 (ignore both caches).
set -euo pipefail
self=$(readlink -f "$0")
cd "$(dirname "$self")/.."

venv=${VENV:-.venv}
docker=/usr/bin/docker # Debian's client: the `docker` some machines have first on PATH needs buildx
suite=trixie           # Debian 13: python3 is 3.13, Lambda's python3.13 runtime
# libstdc++: awslambdaric's and numpy's extensions; dash and coreutils: the bootstrap script
# and SAM's own image build (RUN mv/chmod/cp) need a shell and its tools.
packages=python3,ca-certificates,libstdc++6,dash,coreutils
cache_root=${FITS_THUMBNAILS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fits-thumbnails}/lambda-image
log() { echo "lambda-image: $*" >&2; }

sha() { sha256sum | cut -c1-16; }
rootfs_key=$( (
    printf '%s\n' "$suite" arm64 "$packages"
    cat "$self"
) | sha)
image_key=$( (
    printf '%s\n' "$rootfs_key"
    cat "$self" scripts/lambda-image/Dockerfile scripts/lambda-image/bootstrap \
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

# The host's python3.13 (with pyenv: its newest 3.13.x, as scripts/build.sh picks it).
python313=python3.13
if command -v pyenv >/dev/null 2>&1 && [ -z "${PYENV_VERSION:-}" ]; then
    PYENV_VERSION=$(pyenv versions --bare 2>/dev/null | grep -E '^3\.13\.[0-9]+$' \
        | sort -t. -k3,3n | tail -n 1 || true)
    [ -n "$PYENV_VERSION" ] && export PYENV_VERSION || unset PYENV_VERSION
fi

rootfs_dir=$cache_root/rootfs-$rootfs_key
rootfs=$rootfs_dir/rootfs.tar
if [ "${LAMBDA_IMAGE_REBUILD:-0}" = 1 ] || [ ! -s "$rootfs" ]; then
    mirror=${DEBIAN_MIRROR:-$(debian_mirror)}
    log "mmdebstrap $suite arm64 ($packages) from $mirror"
    mkdir -p "$rootfs_dir"
    started=$(date +%s)
    tree=$(mktemp -d "$cache_root/tree.XXXXXX")
    trap 'rm -rf "$tree"' EXIT
    # --variant=extract unpacks the packages and their dependencies without running their
    # maintainer scripts: nothing runs under qemu, so this takes a minute, not ten. What
    # those scripts would have done that a Lambda runtime needs is done here, on the host.
    mmdebstrap --quiet --variant=extract --arch=arm64 --include="$packages" \
        "$suite" "$tree" "$mirror" >&2
    for dir in bin sbin lib; do # merged /usr: the ELF interpreter is /lib/ld-linux-aarch64.so.1
        [ -e "$tree/$dir" ] || ln -s "usr/$dir" "$tree/$dir"
    done
    [ -e "$tree/usr/bin/sh" ] || ln -s dash "$tree/usr/bin/sh" # dash's postinst makes /bin/sh
    printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' \
        >"$tree/etc/passwd"
    printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$tree/etc/group"
    install -d -m 0700 "$tree/root"
    install -d -m 1777 "$tree/tmp"
    install -d "$tree/etc/ssl/certs" # update-ca-certificates' bundle
    cat "$tree"/usr/share/ca-certificates/mozilla/*.crt >"$tree/etc/ssl/certs/ca-certificates.crt"
    # python3.13-minimal's postinst byte-compiles the standard library; bytecode is the same
    # on every platform, so the host's python3.13 does it (paths recorded as in the image).
    "$python313" -m compileall -q -j 0 -s "$tree" -p / "$tree/usr/lib/python3.13" >&2 \
        || log "byte-compiling the standard library failed: cold starts compile it instead"
    # Written beside, then renamed: an interrupted run leaves no half rootfs to reuse.
    tar -C "$tree" --numeric-owner -cf "$rootfs.partial" .
    mv "$rootfs.partial" "$rootfs"
    rm -rf "$tree"
    trap - EXIT
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
