"""Stopping ``thumbnails serve``, checked inside its own process, before that process ends.

Once a process has exited the OS closes its sockets and ends its threads anyway, so only a look
from inside, between the stop and the end of the process, shows that the stop path released
them. A child interpreter runs ``thumbnails.local.server.run`` (the ``serve`` command) in its
main thread; another thread plays the person at the keyboard: it waits for the service, uses
it, then sends the process SIGINT (Ctrl-C) or SIGTERM. When ``run`` returns, the child reports
what still listens, still runs, still holds a socket, and is still on disk.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from thumbnails.local.samples import write_samples

pytestmark = pytest.mark.integration

CHILD = r"""
import argparse, gc, json, os, signal, socket, socketserver, sys, threading, time
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import urlopen

from thumbnails.local import server


def listening(url):
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=5).close()
    except ConnectionRefusedError:
        return False
    return True


frames, tmpdir, sig = Path(sys.argv[1]), Path(sys.argv[2]), signal.Signals[sys.argv[3]]
ready = tmpdir.parent / "ready.json"
before = {thread.ident for thread in threading.enumerate()}
seen = {}


def operator():
    # What a person does: wait for the banner, use the service, then press Ctrl-C (or
    # send SIGTERM) to this very process.
    while not ready.exists():
        time.sleep(0.05)
    urls = json.loads(ready.read_text())
    seen["urls"] = urls
    seen["served"] = urlopen(urls["api"], timeout=60).status
    seen["listening"] = {name: listening(urls[name]) for name in ("api", "storage", "archive")}
    seen["threads"] = [t.name for t in threading.enumerate() if t.ident not in before]
    # Hold on to every server object: stop() must close their sockets itself, not leave it
    # to the garbage collector.
    seen["servers"] = [o for o in gc.get_objects() if isinstance(o, socketserver.BaseServer)]
    os.kill(os.getpid(), sig)


helper = threading.Thread(target=operator, name="operator")
helper.start()
args = argparse.Namespace(
    frames=frames, host="127.0.0.1", port=0, poll_interval=0.2, verbose=False, ready_file=ready
)
code = server.run(args)
helper.join()
urls = seen["urls"]
report = {
    "exit_code": code,
    "served": seen["served"],
    "listening_while_running": seen["listening"],
    "threads_while_running": seen["threads"],
    "listening_after_stop": {name: listening(urls[name]) for name in ("api", "storage", "archive")},
    "threads_after_stop": [
        t.name for t in threading.enumerate() if t.ident not in before and t.is_alive()
    ],
    "servers_while_running": len(seen["servers"]),
    "server_sockets_open_after_stop": [
        type(server).__name__ for server in seen["servers"] if server.socket.fileno() != -1
    ],
    "temporary_files": sorted(str(p) for p in tmpdir.rglob("*")),
    "environment_restored": os.environ.get("THUMBNAIL_BUCKET") is None,
}
print("REPORT " + json.dumps(report), flush=True)
os._exit(0)  # report first, then leave without interpreter clean-up hiding anything
"""


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"], ids=["ctrl-c", "sigterm"])
def test_stopping_releases_ports_threads_and_files_before_the_process_ends(
    tmp_path: Path, sig: str
):
    frames, tmpdir = tmp_path / "frames", tmp_path / "tmp"
    write_samples(frames)
    tmpdir.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "THUMBNAIL_BUCKET"}
    env.update(TMPDIR=str(tmpdir), PYTHONUNBUFFERED="1")
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(frames), str(tmpdir), sig],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    lines = [line for line in child.stdout.splitlines() if line.startswith("REPORT ")]
    assert lines, f"the child did not report:\n{child.stdout}\n{child.stderr}"
    report = json.loads(lines[-1].removeprefix("REPORT "))

    # The checks below mean something only if the service really ran.
    assert report["exit_code"] == 0
    assert report["served"] == 200
    assert report["listening_while_running"] == {"api": True, "storage": True, "archive": True}
    assert "local-watcher" in report["threads_while_running"]

    assert report["listening_after_stop"] == {"api": False, "storage": False, "archive": False}
    assert report["threads_after_stop"] == []
    assert report["servers_while_running"] >= 3  # the gateway, the archive, the local S3
    assert report["server_sockets_open_after_stop"] == []
    assert report["temporary_files"] == []
    assert report["environment_restored"]
