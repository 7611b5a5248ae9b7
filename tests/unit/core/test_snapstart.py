"""SnapStart runtime hooks (`thumbnails.snapstart`), run as Lambda runs them.

Each test is a fresh interpreter, because what matters is what ``sys.modules`` holds and which
sockets the process has open. The hooks are read from the registry of the real
``snapshot_restore_py`` package (the one the Lambda Python runtime ships, pinned in the dev
extra) and called in the runtime's order: before-snapshot hooks in reverse order of
registration, after-restore hooks in order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

PRELUDE = """
import json, os, sys

def sockets():
    # The process's open sockets, from /proc (no psutil needed).
    fds = "/proc/self/fd"
    found = []
    for fd in os.listdir(fds):
        try:
            target = os.readlink(os.path.join(fds, fd))
        except OSError:
            continue
        if target.startswith("socket:"):
            found.append(target)
    return sorted(found)

def heavy():
    return sorted(m for m in ("numpy", "astropy", "PIL") if m in sys.modules)
"""

REGISTERED = (
    PRELUDE
    + """
import thumbnails.api, thumbnails.pregenerate
import snapshot_restore_py as hooks
name = lambda entry: entry[0].__module__ + "." + entry[0].__name__
print(json.dumps({
    "before": [name(e) for e in hooks.get_before_snapshot()],
    "after": [name(e) for e in hooks.get_after_restore()],
    "heavy": heavy(),
}))
"""
)

WITHOUT_THE_LIBRARY = (
    PRELUDE
    + """
sys.modules["snapshot_restore_py"] = None  # as on a runtime without it: ImportError
import thumbnails.api, thumbnails.pregenerate
from thumbnails import snapstart
registered = snapstart.register(lambda: None, lambda: None)
heavy_after_import = heavy()
del sys.modules["snapshot_restore_py"]
import snapshot_restore_py as hooks
print(json.dumps({
    "registered": registered,
    "before": len(hooks.get_before_snapshot()),
    "after": len(hooks.get_after_restore()),
    "heavy": heavy_after_import,
}))
"""
)

SNAPSHOT = (
    PRELUDE
    + """
import thumbnails.api as api, thumbnails.pregenerate as pregenerate
import snapshot_restore_py as hooks
sockets_before = sockets()
for func, args, kwargs in reversed(hooks.get_before_snapshot()):
    func(*args, **kwargs)
print(json.dumps({
    "heavy": heavy(),
    "font": any(m.startswith("PIL.ImageFont") for m in sys.modules),
    "new_sockets": sorted(set(sockets()) - set(sockets_before)),
    "service_built": api.get_service.cache_info().currsize,
    "resources_built": pregenerate.resources.cache_info().currsize,
}))
"""
)

RESTORE = (
    PRELUDE
    + """
import random
import boto3
import thumbnails.api as api, thumbnails.pregenerate as pregenerate
import snapshot_restore_py as hooks
for func, args, kwargs in reversed(hooks.get_before_snapshot()):
    func(*args, **kwargs)

def clients():
    service = api.get_service()
    return {
        "service": id(service),
        "api_s3": id(service.store.s3),
        "archive_session": id(service.archive.session),
        "pregenerate_s3": id(pregenerate.resources().pregenerator.s3),
        "default_session": id(boto3.DEFAULT_SESSION) if boto3.DEFAULT_SESSION else None,
        "random": random.getstate()[1][:4],
    }

boto3.setup_default_session()  # as any code calling boto3.client() would have
before = clients()
for func, args, kwargs in hooks.get_after_restore():
    func(*args, **kwargs)
after = clients()
print(json.dumps({
    "changed": sorted(k for k in before if before[k] != after[k]),
    "default_session": after["default_session"],
}))
"""
)


def run_fresh(code: str) -> dict:
    """Run `code` in a fresh interpreter with a Lambda-like environment; its JSON output."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "THUMBNAIL_BUCKET": "thumbnails-test",
        "ARCHIVE_API_URL": "https://archive-api.test/",
        "URL_SIGNER": "s3",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("AWS_PROFILE", None)
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_each_handler_registers_its_hooks_when_the_runtime_library_is_present():
    out = run_fresh(REGISTERED)
    assert out["before"] == ["thumbnails.snapstart.before_snapshot"] * 2
    assert out["after"] == ["thumbnails.snapstart.after_restore"] * 2
    assert out["heavy"] == []  # registering runs nothing: the start-up of a hit stays lazy


def test_without_the_runtime_library_nothing_is_registered_and_nothing_heavy_loads():
    out = run_fresh(WITHOUT_THE_LIBRARY)
    assert out == {"registered": False, "before": 0, "after": 0, "heavy": []}


def test_before_the_snapshot_the_render_stack_is_loaded_and_no_socket_is_left_open():
    out = run_fresh(SNAPSHOT)
    assert out["heavy"] == ["PIL", "astropy", "numpy"]
    assert out["font"] is True
    assert out["new_sockets"] == []
    assert (out["service_built"], out["resources_built"]) == (1, 1)


def test_after_the_restore_every_client_is_new():
    out = run_fresh(RESTORE)
    assert out["changed"] == sorted(
        ["service", "api_s3", "archive_session", "pregenerate_s3", "default_session", "random"]
    )
    assert out["default_session"] is not None  # boto3's default session, built afresh


def test_priming_encodes_every_output_format():
    from thumbnails import snapstart
    from thumbnails.params import FORMATS

    assert snapstart.prime_render_path().formats == tuple(FORMATS)
