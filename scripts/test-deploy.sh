#!/usr/bin/env bash
# `make test-deploy`: the built stack created and deleted by a real CloudFormation engine,
# LocalStack's (community edition, from PyPI, in host mode: no Docker, no account). What is
# checked, and what is not: tests/deploy/test_stack.py.
#
# 1. LocalStack in its own venv, .venv-localstack (Python 3.13, found as scripts/build.sh finds
#    it; LocalStack needs 3.12+), made or remade when tests/deploy/localstack-requirements.txt
#    or the executor plugin (tests/deploy/localstack_executor/) change. pip's output goes to a
#    log, shown if it fails.
# 2. `make build`.
# 3. LocalStack on 127.0.0.1 at a free port, started in its own session and stopped by its
#    pid on exit. What it writes goes to a temporary directory (FILESYSTEM_ROOT, TMPDIR, HOME)
#    but for the paths fixed in its code (fixed_paths below); all are removed on exit.
# 4. pytest on tests/deploy/ with THUMBNAILS_DEPLOY_ENDPOINT set (plain `pytest` skips them).
# Extra arguments go to pytest (e.g. `-k cloudfront`).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${VENV:-.venv}
ls_venv=${LOCALSTACK_VENV:-.venv-localstack}
runtime=3.13
requirements=tests/deploy/localstack-requirements.txt
executor=tests/deploy/localstack_executor
log() { echo "test-deploy: $*" >&2; }
seconds() { date +%s; }
started=$(seconds)

workdir=$(mktemp -d "${TMPDIR:-/tmp}/test-deploy.XXXXXX")
localstack_pid=
# Where LocalStack writes outside FILESYSTEM_ROOT, HOME and TMPDIR (below): its S3 objects go
# to a fixed /tmp/localstack-s3-storage, and it takes /var/lib/localstack when it believes it
# runs in a container (this machine may be one; OVERRIDE_IN_DOCKER=0 below prevents that).
# Each is removed on exit unless it was there before.
fixed_paths=(/var/lib/localstack /tmp/localstack-s3-storage)
left_alone=()
for path in "${fixed_paths[@]}"; do
    [ -e "$path" ] && left_alone+=("$path")
done

cleanup() {
    if [ -n "$localstack_pid" ] && kill -0 "$localstack_pid" 2>/dev/null; then
        # Its process group (setsid made LocalStack its leader): any helper it started too.
        kill -TERM -- "-$localstack_pid" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$localstack_pid" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$localstack_pid" 2>/dev/null; then
            log "LocalStack (pid $localstack_pid) did not stop within 20 s: killing it"
            kill -KILL -- "-$localstack_pid" 2>/dev/null || true
        fi
    fi
    rm -rf "$workdir"
    for path in "${fixed_paths[@]}"; do
        if [ -e "$path" ] && [[ " ${left_alone[*]} " != *" $path "* ]]; then
            rm -rf "$path"
        fi
    done
}
trap cleanup EXIT

# --- 1. LocalStack's venv -------------------------------------------------------------------
if [ -z "${PYENV_VERSION:-}" ] && command -v pyenv >/dev/null 2>&1; then
    PYENV_VERSION=$(pyenv versions --bare 2>/dev/null | grep -E "^${runtime//./\\.}\.[0-9]+$" \
        | sort -t. -k3,3n | tail -n 1 || true)
    [ -n "$PYENV_VERSION" ] && export PYENV_VERSION || unset PYENV_VERSION
fi
if ! python$runtime -c 'import sys' >/dev/null 2>&1; then
    log "LocalStack needs Python 3.12+; 'python$runtime' is not on PATH."
    log "install it (e.g. 'pyenv install $runtime', or your OS's python$runtime package)."
    exit 1
fi
stamp="$ls_venv/.installed"
wanted=$(cat "$requirements" "$executor"/pyproject.toml "$executor"/*.py | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    install_started=$(seconds)
    log "installing LocalStack into $ls_venv (python$runtime; about a minute, 500 MB)"
    rm -rf "$ls_venv"
    python$runtime -m venv "$ls_venv"
    # The plugin is built from a copy: pip would leave build/ and *.egg-info in the tree.
    cp -r "$executor" "$workdir/executor"
    if ! { "$ls_venv/bin/python" -m pip install --disable-pip-version-check -q -r "$requirements" \
        && "$ls_venv/bin/python" -m pip install --disable-pip-version-check -q --no-deps \
            "$workdir/executor"; } >"$workdir/pip.log" 2>&1; then
        cat "$workdir/pip.log" >&2
        log "installing LocalStack failed (above)"
        exit 1
    fi
    echo "$wanted" >"$stamp"
    log "LocalStack installed in $(($(seconds) - install_started)) s"
fi

# --- 2. build -------------------------------------------------------------------------------
build_started=$(seconds)
${MAKE:-make} --no-print-directory build
log "make build: $(($(seconds) - build_started)) s"

# --- 3. LocalStack --------------------------------------------------------------------------
port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
endpoint="http://127.0.0.1:$port"
mkdir -p "$workdir/root" "$workdir/tmp" "$workdir/home"
localstack_started=$(seconds)
# GATEWAY_LISTEN: loopback only. OVERRIDE_IN_DOCKER=0: host mode's layout, so that
# FILESYSTEM_ROOT holds everything. DNS_ADDRESS=0: no DNS server (it would take port 53).
# LAMBDA_RUNTIME_EXECUTOR: functions are prepared, never run (tests/deploy/localstack_executor).
# CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES=1: a resource type LocalStack cannot create becomes a
# placeholder, which the tests fail on unless it is on their short list (CloudFront). The
# strict setting (=0) cannot be used: it asks LocalStack's online catalogue which types are
# supported, and offline it counts every type as unsupported (measured with 2026.3.0).
# No SERVICES list: LocalStack starts a service on its first request, so a resource type new
# to the template needs no change here. Telemetry, events and the TLS certificate download off.
# HOME: its plugin index cache (~/.cache/plux) and profiles (~/.localstack), this run's only.
GATEWAY_LISTEN="127.0.0.1:$port" \
    OVERRIDE_IN_DOCKER=0 \
    FILESYSTEM_ROOT="$workdir/root" \
    TMPDIR="$workdir/tmp" \
    HOME="$workdir/home" \
    DNS_ADDRESS=0 \
    LAMBDA_RUNTIME_EXECUTOR=prepare-only \
    CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES=1 \
    LOCALSTACK_TELEMETRY_DISABLED=1 \
    DISABLE_EVENTS=1 \
    SKIP_SSL_CERT_DOWNLOAD=1 \
    setsid "$ls_venv/bin/python" -m localstack.runtime.main >"$workdir/localstack.log" 2>&1 &
localstack_pid=$!
# Stopped by its pid in cleanup(); disowned so that bash reports nothing if it has to be killed.
disown "$localstack_pid"
# Ready when its health endpoint lists CloudFormation as available (about 2-3 s here).
ready=0
for _ in $(seq 240); do
    if ! kill -0 "$localstack_pid" 2>/dev/null; then
        cat "$workdir/localstack.log" >&2
        log "LocalStack exited before it was ready (its log above)"
        localstack_pid=
        exit 1
    fi
    if "$venv/bin/python" - "$endpoint/_localstack/health" 2>/dev/null <<'PY'; then
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as response:
    services = json.load(response)["services"]
sys.exit(0 if services.get("cloudformation") in ("available", "running") else 1)
PY
        ready=1
        break
    fi
    sleep 0.5
done
if [ "$ready" = 0 ]; then
    tail -n 40 "$workdir/localstack.log" >&2
    log "LocalStack did not get ready within 120 s (its log above)"
    exit 1
fi
log "LocalStack $("$ls_venv/bin/python" -c 'import importlib.metadata as m; print(m.version("localstack-core"))') ready at $endpoint in $(($(seconds) - localstack_started)) s (pid $localstack_pid)"

# --- 4. the tests ---------------------------------------------------------------------------
# THUMBNAILS_DEPLOY_ENDPOINT turns the tests on; with it set, a skipped or missing test fails
# the run (tests/deploy/conftest.py). TEST_DEPLOY_STARTED: their summary reports the whole
# target's time.
status=0
THUMBNAILS_DEPLOY_ENDPOINT=$endpoint TEST_DEPLOY_STARTED=$started \
    "$venv/bin/pytest" tests/deploy -p no:cacheprovider "$@" || status=$?
if [ "$status" != 0 ]; then
    # The engine's own account of what failed; its log goes with the temporary directory.
    log "LocalStack's last warnings and errors:"
    grep -E ' (WARN|ERROR) ' "$workdir/localstack.log" | tail -n 40 >&2 || true
fi
exit "$status"
