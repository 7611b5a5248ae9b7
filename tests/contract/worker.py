"""A worker process: Lambda's runtime loop for contract cases, a fresh process per batch.

Run as ``python -m tests.contract.worker RESULT_FD``, with the function's environment (see
`tests.contract.world.Lane.environment`). It reads one case (JSON) per line on stdin, and for
each:

- sends the process's stdout and stderr (file descriptors 1 and 2, so C code and threads
  too) to the case's log file, which the parent checks for secrets;
- resets the kernel's peak-RSS mark (``/proc/self/clear_refs``) and builds a Lambda context
  whose ``get_remaining_time_in_millis`` counts down from the case's ``remaining_ms``;
- calls the real handler (`thumbnails.api.handler` with an API Gateway event from
  ``events/``, or `thumbnails.pregenerate.handler` with an SQS batch), timing the call;
- writes one JSON line to RESULT_FD: the answer, the call's wall time, the peak RSS
  (``VmHWM``) during the case, and a traceback if the handler raised.

A thread watches the RSS: above `KILL_MB` the process ends itself with `KILLED_EXIT`, as
Lambda ends a function over its memory (only far above it, to keep the machine safe while
still measuring by how much a case goes over; the invariant is checked on ``VmHWM``).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback
import uuid
from pathlib import Path
from urllib.parse import quote_plus

EVENTS = Path(__file__).resolve().parents[2] / "events"
#: Exit status of a worker that ended itself for using too much memory.
KILLED_EXIT = 97
#: RSS (MiB) at which the worker ends itself: well above the function's 1769 MB, so that the
#: peak is measured, not guessed; low enough that two workers cannot exhaust the machine.
KILL_MB = int(os.environ.get("CONTRACT_KILL_MB", "2304"))
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE / 2**20


def peak_mb() -> float:
    """``VmHWM``: the peak RSS since the last `reset_peak`, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def reset_peak() -> None:
    """Set ``VmHWM`` to the current RSS (Linux 4.0+: ``echo 5 > /proc/self/clear_refs``)."""
    Path("/proc/self/clear_refs").write_text("5")


def _guard() -> None:
    while True:
        if rss_mb() > KILL_MB:
            os.write(2, f"contract worker: RSS above {KILL_MB} MiB, killed\n".encode())
            os._exit(KILLED_EXIT)
        time.sleep(0.01)


class Context:
    """The Lambda context the handlers read: names, memory, and the time left."""

    function_name = "thumbnails-contract"
    function_version = "$LATEST"
    memory_limit_in_mb = 1769
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:thumbnails-contract"

    def __init__(self, remaining_ms: int) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._end = time.monotonic() + remaining_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._end - time.monotonic()) * 1000))


def api_event(case: dict) -> dict:
    """An ``events/api-frame-id.json`` request with the case's path, query and header."""
    event = json.loads((EVENTS / "api-frame-id.json").read_text())
    path = case["path"]
    event["path"] = path
    event["pathParameters"] = {"proxy": path.strip("/")} if path.strip("/") else None
    event["requestContext"]["path"] = "/prod" + path
    query = case["query"]
    event["multiValueQueryStringParameters"] = query or None
    event["queryStringParameters"] = {k: v[-1] for k, v in query.items()} or None
    headers = {k: v for k, v in event["headers"].items() if k != "Authorization"}
    multi = {k: v for k, v in event["multiValueHeaders"].items() if k != "Authorization"}
    if case["authorization"] is not None:
        headers["Authorization"] = case["authorization"]
        multi["Authorization"] = [case["authorization"]]
    event["headers"], event["multiValueHeaders"] = headers, multi
    return event


def sqs_event(case: dict) -> dict:
    """An ``events/sqs-s3-batch.json`` batch, one S3 notification per case record."""
    template = json.loads((EVENTS / "sqs-s3-batch.json").read_text())["Records"][0]
    records = []
    for index, record in enumerate(case["records"]):
        body = json.loads(template["body"])
        s3 = body["Records"][0]["s3"]
        s3["bucket"]["name"] = record["bucket"]
        s3["bucket"]["arn"] = f"arn:aws:s3:::{record['bucket']}"
        s3["object"] = {"key": quote_plus(record["key"]), "sequencer": "0A1B2C3D4E5F678901"}
        if record.get("size") is not None:
            s3["object"]["size"] = record["size"]
        if record.get("etag") is not None:
            s3["object"]["eTag"] = record["etag"]
        records.append({**template, "messageId": f"msg-{index}", "body": json.dumps(body)})
    return {"Records": records}


def run(case: dict) -> dict:
    """Call the handler for `case`; the answer, timing and memory."""
    if case["kind"] == "api":
        from thumbnails.api import handler

        event = api_event(case)
    else:
        from thumbnails.pregenerate import handler

        event = sqs_event(case)
    outcome: dict = {"id": case["id"]}
    reset_peak()
    outcome["rss_start_mb"] = rss_mb()
    context = Context(case["remaining_ms"])
    remaining = context.get_remaining_time_in_millis() / 1000
    started = time.monotonic()
    try:
        answer = handler(event, context)
    except BaseException:  # noqa: BLE001 - reported: a handler must never raise
        answer, outcome["raised"] = None, traceback.format_exc()
    outcome["wall_s"] = time.monotonic() - started
    outcome["answered_at"] = time.monotonic()
    outcome["remaining_s"] = remaining
    outcome["peak_mb"] = peak_mb()
    if isinstance(answer, dict):
        # What Lambda would send back: over 6 MB it fails the invocation (a bare 502).
        outcome["payload_bytes"] = len(json.dumps(answer, default=str).encode())
        body = answer.get("body")
        outcome["answer"] = {
            "statusCode": answer.get("statusCode"),
            "headers": answer.get("headers") or {},
            "multiValueHeaders": answer.get("multiValueHeaders") or {},
            "isBase64Encoded": answer.get("isBase64Encoded"),
            "body": body[:4000] if isinstance(body, str) else body,
            "body_length": len(body) if isinstance(body, str) else None,
            "batchItemFailures": answer.get("batchItemFailures"),
        }
    elif answer is not None:
        outcome["answer"] = {"repr": repr(answer)[:400]}
    return outcome


def main() -> None:
    results = os.fdopen(int(sys.argv[1]), "w")
    threading.Thread(target=_guard, name="memory-guard", daemon=True).start()
    # What a warm container has loaded (the API imports no numpy: the renderer comes on a miss).
    import thumbnails.api  # noqa: F401
    import thumbnails.pregenerate  # noqa: F401

    results.write(json.dumps({"ready": True}) + "\n")
    results.flush()
    for line in sys.stdin:
        case = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        log = os.open(case["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        outcome = run(case)
        sys.stdout.flush()
        sys.stderr.flush()
        results.write(json.dumps(outcome) + "\n")
        results.flush()


if __name__ == "__main__":
    main()
