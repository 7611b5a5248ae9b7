"""No presigned-URL signature or ``Authorization`` value reaches X-Ray traces or the logs.

The handler runs in a fresh Python process set up as Lambda sets one up for an active trace
(``LAMBDA_TASK_ROOT``, ``_X_AMZN_TRACE_ID``, the X-Ray daemon's address), so Powertools'
Tracer is enabled and the X-Ray SDK patches what it patches in Lambda, and emits its
subsegments over UDP to a listener of this test: the real documents X-Ray would receive.
The archive is a real local HTTP server whose frame record carries a presigned URL to a
closed port, so the download fails with an exception whose text holds that URL.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.support.api_support import TOKEN, frame_record
from tests.support.slow_servers import SlowServer

ROOT = Path(__file__).resolve().parents[2]
SIGNATURE = "5ee0c0ffee5ee0c0ffee5ee0c0ffee5ee0c0ffee5ee0c0ffee5ee0c0ffee5ee0"
TRACE_ID = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"

_INVOKE = """
import json
from tests.conftest import FakeLambdaContext, load_event
from thumbnails import api

event = load_event("api-frame-id.json")
assert event["headers"]["Authorization"]
print("RESPONSE " + json.dumps(api.handler(event, FakeLambdaContext())), flush=True)
"""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _received(udp: socket.socket) -> list[bytes]:
    udp.settimeout(1.0)
    datagrams = []
    try:
        while True:
            datagrams.append(udp.recv(65536))
    except TimeoutError:
        return datagrams


def test_a_failed_download_leaves_no_signature_or_token_in_traces_or_logs():
    url = (
        f"http://127.0.0.1:{_closed_port()}/coj2m002-ep02-20260102-0050-e91.fits.fz"
        "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20260102%2Fus-east-1"
        f"&X-Amz-Expires=600&X-Amz-Signature={SIGNATURE}"
    )
    record = json.dumps(frame_record(url=url)).encode()
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
        SlowServer("serve", body=record, content_type="application/json") as archive,
        SlowServer("serve", status=404) as s3,  # the cache: every thumbnail is a miss
    ):
        udp.bind(("127.0.0.1", 0))
        daemon = f"127.0.0.1:{udp.getsockname()[1]}"
        environment = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/tmp"),
            # What Lambda sets for an invocation that is traced.
            "AWS_LAMBDA_FUNCTION_NAME": "thumbnails-test",
            "LAMBDA_TASK_ROOT": str(ROOT),
            "_X_AMZN_TRACE_ID": TRACE_ID,
            "AWS_XRAY_DAEMON_ADDRESS": daemon,
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_SERVICE_NAME": "thumbnails",
            "POWERTOOLS_METRICS_NAMESPACE": "Thumbnails",
            "POWERTOOLS_LOG_LEVEL": "DEBUG",  # whatever a leak could hide in
            "ARCHIVE_API_URL": archive.url,
            "THUMBNAIL_BUCKET": "thumbnails-test",
            "STORAGE_URL": s3.url,
            "DOWNLOAD_RETRIES": "1",
        }
        run = subprocess.run(
            [sys.executable, "-c", _INVOKE],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
        datagrams = _received(udp)

    assert run.returncode == 0, run.stderr
    (line,) = [x for x in run.stdout.splitlines() if x.startswith("RESPONSE ")]
    response = json.loads(line.removeprefix("RESPONSE "))
    assert response["statusCode"] == 502  # the download failed, as it should here
    assert archive.requests and s3.requests  # the lookup and the cache HEAD happened

    # X-Ray's UDP format: a JSON header line, then the (sub)segment document.
    documents = [json.loads(d.split(b"\n", 1)[1]) for d in datagrams]
    names = {doc.get("name") for doc in documents}
    assert "## handler" in names  # the Tracer really traced the invocation
    assert "s3" in names  # and botocore is patched: the cache HEAD is a subsegment

    traces = b"\n".join(datagrams).decode()
    logs = run.stdout + run.stderr
    assert "/frame" in logs or "coj2m002" in logs  # the logs do talk about the download
    for secret in (SIGNATURE, "X-Amz-Signature", "X-Amz-Credential", TOKEN, TOKEN.split()[-1]):
        assert secret not in traces
        assert secret not in logs
