"""Run contract cases in worker processes and check every promise on every answer.

`Runner` owns the world (`tests.contract.world`) and one worker process per lane; a worker
runs `batch` cases, then a fresh one starts (as Lambda recycles containers). For each case it
arms the lane's fault proxies, hands the case to the worker, waits for the answer (killing a
worker that has not answered well after the case's deadline), then `check`\\s it:

- ``crash``: no answer (the worker died or hung), or the handler raised;
- ``500``: a 500, for anything the caller or upstream did (every case here is that);
- ``undocumented-status``: a status the README does not list;
- ``non-json-error``: an error without a JSON ``{"message": ...}`` body;
- ``bad-success-shape``: a 200 JSON without ``url``, a 302 without ``Location``;
- ``response-too-large``: a response over Lambda's 6 MB limit (Lambda would fail it);
- ``past-deadline``: the handler's wall time above the context's remaining time;
- ``over-memory``: the worker's peak RSS during the case (``VmHWM``, reset before it) above
  the function's 1769 MB (MiB, as Lambda counts), or the worker ended for its memory;
- ``secret-leaked``: the ``Authorization`` value (or a character of it, or its position in
  an encoding error) or a URL signature in the case's stdout/stderr;
- ``5xx-without-upstream-fault``: a 5xx with ample time and no upstream fault, other than
  those the service must absorb (S3's 409 and 412 on a write, a connection closed politely);
- ``unreadable-frame-rendered``: an image (200, 302) of a frame that is refused as unreadable
  (422) or too large (413) when asked for whole: every answer about it must say so;
- ``work-after-answer``: an upstream exchange of the case still going on (or begun) half a
  second after the handler answered (abandoned work goes on);
- pregeneration: ``crash`` also when the log says ``pregeneration crashed``,
  ``deleted-object-failed`` (a record of an object that is gone was failed: retried into the
  DLQ), ``good-frame-failed`` (a good frame's record failed with no upstream fault), both
  with ample time (a record that cannot start in time is failed for a retry, as documented).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import re
import select
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.contract.cases import (
    BY_NAME,
    DATA_BUCKET,
    DELETED_KEYS,
    DOCUMENTED_API_STATUSES,
    SECRET_MARKER,
)
from tests.contract.worker import KILL_MB, KILLED_EXIT
from tests.contract.world import Lane, frame_bytes, world

MEMORY_LIMIT_MB = 1769
#: Lambda's synchronous response limit (the whole JSON payload).
RESPONSE_LIMIT_BYTES = 6_291_456
#: How long after its answer a case's upstream exchanges may still be winding down.
GRACE_S = 0.5
#: How long past its deadline a worker may stay silent before it is killed as hung.
HUNG_AFTER_S = 10.0
INVARIANTS = (
    "crash",
    "500",
    "undocumented-status",
    "non-json-error",
    "bad-success-shape",
    "response-too-large",
    "past-deadline",
    "over-memory",
    "secret-leaked",
    "5xx-without-upstream-fault",
    "work-after-answer",
    "unreadable-frame-rendered",
    "deleted-object-failed",
    "good-frame-failed",
)
_SIGNATURES = re.compile(
    r"x-amz-signature|x-amz-credential|[?&]signature=|key-pair-id=|policy=ey", re.IGNORECASE
)
#: The keys of the JSON answer's ``wcs`` (README, "The WCS in the JSON answer").
_WCS_FIELDS = {"ctype", "crpix", "crval", "cd", "width", "height"}
_ENCODE_ERROR = re.compile(r"can't encode character .{0,20} in position \d+")


@dataclass
class Checked:
    """One case, its answer, and the promises it broke."""

    case: dict
    outcome: dict | None
    violations: dict[str, str] = field(default_factory=dict)
    exchanges: list[dict] = field(default_factory=list)
    log: str = ""

    @property
    def status(self) -> str:
        answer = (self.outcome or {}).get("answer") or {}
        if self.case["kind"] == "pregen":
            failures = answer.get("batchItemFailures")
            if failures is None:
                return "pregen:no-answer"
            return f"pregen:{len(failures)}/{len(self.case['records'])} failed"
        status = answer.get("statusCode")
        return str(status) if status is not None else "no-answer"


# ---------------------------------------------------------------------------- checks
def _absorbable(exchange: dict) -> bool:
    """A fault the service must absorb: S3's 409/412 on a write, or no fault but the
    connection closed (``Connection: close``, HTTP/1.0)."""
    fault = exchange["fault"] or ""
    if fault.startswith("pass"):
        return True
    return exchange["method"] == "PUT" and fault.startswith(("status 409", "status 412"))


def leaks(log: str, case: dict) -> list[str]:
    """What of the case's secrets the log shows."""
    found = []
    authorization = case.get("authorization") if case["kind"] == "api" else None
    if authorization:
        if SECRET_MARKER in log:
            found.append("the Authorization value")
        query_text = json.dumps(case.get("query"), ensure_ascii=False)
        for char in {c for c in authorization if ord(c) > 127}:
            forms = (char, f"\\u{ord(char):04x}", f"\\U{ord(char):08x}", f"\\x{ord(char):02x}")
            if any(form in log for form in forms[1:]) or (char in log and char not in query_text):
                found.append(f"a character of the Authorization value ({char!r})")
        if _ENCODE_ERROR.search(log):
            found.append("an encoding error giving a position in the Authorization value")
    if _SIGNATURES.search(log):
        found.append("a URL signature")
    return found


def check(case: dict, outcome: dict | None, exchanges: list[dict], log: str) -> dict[str, str]:
    """The promises `case` broke, each with a short reason."""
    broken: dict[str, str] = {}
    if outcome is None or outcome.get("died"):
        why = (outcome or {}).get("died", "no answer")
        if (outcome or {}).get("over_memory"):
            peak = (outcome or {}).get("peak_mb")
            broken["over-memory"] = why + (f" (peak RSS {peak:.0f} MiB)" if peak else "")
        if (outcome or {}).get("hung"):
            broken["past-deadline"] = why
        broken["crash"] = why
        return broken
    if outcome.get("raised"):
        broken["crash"] = "the handler raised: " + outcome["raised"].strip().splitlines()[-1]
    answer = outcome.get("answer") or {}
    if outcome["wall_s"] > outcome["remaining_s"]:
        broken["past-deadline"] = (
            f"answered after {outcome['wall_s']:.2f} s with {outcome['remaining_s']:.2f} s left"
        )
    if outcome.get("payload_bytes", 0) > RESPONSE_LIMIT_BYTES:
        broken["response-too-large"] = f"{outcome['payload_bytes']} bytes of response"
    if outcome["peak_mb"] > MEMORY_LIMIT_MB:
        broken["over-memory"] = f"peak RSS {outcome['peak_mb']:.0f} MiB"
    for leak in leaks(log, case):
        broken["secret-leaked"] = f"the log shows {leak}"
    late = [
        e
        for e in exchanges
        if e["started"] > outcome["answered_at"] + GRACE_S
        or e["ended"] is None
        or e["ended"] > outcome["answered_at"] + GRACE_S
    ]
    if late:
        e = late[0]
        ended = "still open" if e["ended"] is None else f"{e['outcome']} "
        if e["ended"] is not None:
            ended += f"{e['ended'] - outcome['answered_at']:.1f} s after the answer"
        broken["work-after-answer"] = f"{e['method']} {_path(e['path'])} ({e['fault']}): {ended}"
    faulted = [e for e in exchanges if e["fault"] and not _absorbable(e)]
    ample = case["remaining_ms"] >= (10_000 if case["kind"] == "api" else 30_000)
    if case["kind"] == "api":
        _check_api(case, answer, faulted, ample, broken)
    else:
        _check_pregen(case, answer, faulted, ample, log, broken)
    return broken


def _check_api(case: dict, answer: dict, faulted: list, ample: bool, broken: dict) -> None:
    status = answer.get("statusCode")
    if status is None:
        broken.setdefault("crash", f"not a proxy response: {answer}")
        return
    if status == 500:
        broken["500"] = _message(answer)
    elif status not in DOCUMENTED_API_STATUSES:
        broken["undocumented-status"] = f"{status}: {_message(answer)}"
    headers = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
    for name, values in (answer.get("multiValueHeaders") or {}).items():
        headers.setdefault(name.lower(), values[-1] if values else "")
    if status >= 400:
        try:
            body = json.loads(answer.get("body") or "")
            ok = isinstance(body, dict) and isinstance(body.get("message"), str)
        except ValueError:
            ok = False
        if not ok or not headers.get("content-type", "").startswith("application/json"):
            broken["non-json-error"] = (
                f"{status} {headers.get('content-type')}: " + str(answer.get("body"))[:100]
            )
    if status >= 500 and ample and not faulted:
        broken["5xx-without-upstream-fault"] = f"{status}: {_message(answer)}"
    if status == 200 and headers.get("content-type", "").startswith("application/json"):
        body = json.loads(answer.get("body") or "{}")
        if not isinstance(body, dict) or "url" not in body:
            broken["bad-success-shape"] = "200 JSON without url"
        elif "wcs" in body and set(body["wcs"] or ()) != _WCS_FIELDS:
            broken["bad-success-shape"] = f"200 JSON with a malformed wcs: {body['wcs']!r:.100}"
    if status == 302 and not headers.get("location"):
        broken["bad-success-shape"] = "302 without Location"
    frame = BY_NAME.get(case.get("frame", ""))
    asked = case["path"].strip("/")
    if (
        frame is not None
        and frame.unreadable
        and asked in (str(frame.frame_id), frame.basename)
        and status in (200, 302)
    ):
        broken["unreadable-frame-rendered"] = f"{status} for {frame.name}"


def _check_pregen(
    case: dict, answer: dict, faulted: list, ample: bool, log: str, broken: dict
) -> None:
    failures = answer.get("batchItemFailures")
    if failures is None:
        broken.setdefault("crash", f"no partial batch response: {answer}")
        return
    if "pregeneration crashed" in log:
        broken["crash"] = "the log says: pregeneration crashed"
    failed = {int(f["itemIdentifier"].split("-")[1]) for f in failures}
    for index in sorted(failed):
        record = case["records"][index]
        if not ample:  # a record short of time is failed for a retry, as documented
            continue
        if record["object"] in DELETED_KEYS:
            # With a fault on the way (its 404 reset mid-body, a stall), S3 never said the
            # object is gone: failing the record for a retry is right.
            if not faulted:
                broken["deleted-object-failed"] = f"record {index} ({record['object']}) failed"
        elif BY_NAME[record["object"]].good and not faulted:
            reason = _pregen_reason(log, record["key"])
            broken["good-frame-failed"] = f"record {index} ({record['object']}): {reason}"


def _pregen_reason(log: str, key: str) -> str:
    for line in log.splitlines():
        if key in line and ("failed" in line or "crashed" in line):
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                return f"{entry.get('error')}: {entry.get('reason')}"
    return "see the log"


def _message(answer: dict) -> str:
    with contextlib.suppress(ValueError, TypeError):
        return str(json.loads(answer.get("body") or "").get("message"))[:160]
    return str(answer.get("body"))[:160]


def _path(path: str) -> str:
    return path.split("?")[0][:80]


# ---------------------------------------------------------------------------- workers
class Worker:
    """One worker process (`tests.contract.worker`) with a lane's environment."""

    def __init__(self, lane: Lane, signer: str = "s3") -> None:
        self.signer = signer
        read, write = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.contract.worker", str(write)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(write,),
            env=lane.environment(signer),
            cwd=Path(__file__).resolve().parents[2],
            text=True,
        )
        os.close(write)
        self._results = os.fdopen(read, "r")
        self._buffer = ""
        self.ended = False
        ready = self.receive(120)
        if not ready or not ready.get("ready"):
            self.kill()
            raise RuntimeError("a contract worker did not start")
        self.cases = 0

    def send(self, case: dict) -> None:
        self.process.stdin.write(json.dumps(case) + "\n")  # type: ignore[union-attr]
        self.process.stdin.flush()  # type: ignore[union-attr]
        self.cases += 1

    def receive(self, timeout: float) -> dict | None:
        """The next result line, or None at EOF (`ended` is then set) or after `timeout`
        seconds."""
        end = time.monotonic() + timeout
        fd = self._results.fileno()
        while "\n" not in self._buffer:
            left = end - time.monotonic()
            if left <= 0:
                return None
            readable, _, _ = select.select([fd], [], [], left)
            if not readable:
                return None
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                self.ended = True
                return None
            self._buffer += chunk.decode()
        line, self._buffer = self._buffer.split("\n", 1)
        return json.loads(line)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.process.stdin.close()  # type: ignore[union-attr]
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
        self._results.close()


class LaneRunner:
    """Runs cases one at a time on one lane, in fresh workers of `batch` cases each."""

    def __init__(self, lane: Lane, logs: Path, batch: int) -> None:
        self.lane = lane
        self.logs = logs
        self.batch = batch
        self.worker: Worker | None = None
        self._workers = 0

    def run(self, case: dict) -> Checked:
        case = resolve(case)
        case_id = case["id"]
        case["log"] = str(self.logs / f"{case_id}.log")
        wanted = case.get("worker") or {}
        if self.worker is None or self.worker.cases >= self.batch or wanted.get("fresh"):
            if self.worker is not None:
                self.worker.close()
            # Every other container signs links with CloudFront (reading its key first).
            signer = wanted.get("signer") or ("cloudfront" if self._workers % 2 else "s3")
            self._workers += 1
            self.worker = Worker(self.lane, signer)
        deadline_s = case["remaining_ms"] / 1000
        self.lane.arm(case_id, case["faults"], give_up=deadline_s + 4)
        self.worker.send(case)
        outcome = self.worker.receive(deadline_s + HUNG_AFTER_S)
        self.lane.disarm(case_id)
        if outcome is None:
            code = None
            if self.worker.ended:  # the worker closed its end: it is exiting
                with contextlib.suppress(subprocess.TimeoutExpired):
                    code = self.worker.process.wait(timeout=10)
            if code is None:
                peak = _peak_of(self.worker.process.pid)
                self.worker.kill()
                outcome = {
                    "died": f"no answer {deadline_s + HUNG_AFTER_S:.0f} s after the call",
                    "hung": True,
                    "peak_mb": peak,
                    "over_memory": peak is not None and peak > MEMORY_LIMIT_MB,
                }
            elif code == KILLED_EXIT:
                outcome = {
                    "died": f"the worker ended itself above {KILL_MB} MiB of RSS",
                    "over_memory": True,
                }
            else:
                outcome = {"died": f"worker exited with {code}"}
            self.worker.close()
            self.worker = None
        exchanges = self._exchanges(case_id, outcome)
        log = Path(case["log"]).read_text(errors="replace") if Path(case["log"]).exists() else ""
        checked = Checked(case, outcome, check(case, outcome, exchanges, log), exchanges, log)
        if not checked.violations:  # only failing cases keep their log and exchanges
            checked.log, checked.exchanges = "", []
            with contextlib.suppress(OSError):
                os.unlink(case["log"])
        return checked

    def _exchanges(self, case_id: str, outcome: dict) -> list[dict]:
        answered = outcome.get("answered_at")
        proxies = self.lane.proxies.values()
        if answered is not None:
            mine = [e for p in proxies for e in p.exchanges_of(case_id)]
            if any(e.ended is None or e.fault for e in mine):
                # In flight at the answer, or faulted (a retry may still come from an
                # abandoned thread): wait out the grace before judging.
                until = answered + GRACE_S + 0.2
                while time.monotonic() < until:
                    time.sleep(0.02)
        found = [e.as_dict() for p in proxies for e in p.exchanges_of(case_id)]
        for proxy in proxies:
            proxy.forget(case_id)
        return found

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None


def _peak_of(pid: int) -> float | None:
    """A live worker's ``VmHWM`` (MiB): its peak RSS since the case began."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


_COUNTER = iter(range(10**12))
_COUNTER_LOCK = threading.Lock()


def resolve(case: dict) -> dict:
    """`case` with an id, and its pregeneration records' keys, sizes and ETags."""
    case = json.loads(json.dumps(case))
    with _COUNTER_LOCK:
        case.setdefault("id", f"case-{next(_COUNTER):06d}")
    if case["kind"] == "pregen":
        for record in case["records"]:
            name = record["object"]
            record["bucket"] = DATA_BUCKET
            if name in DELETED_KEYS:
                record["key"] = DELETED_KEYS[name]
                data = frame_bytes("grey-rice")
            else:
                record["key"] = BY_NAME[name].key
                data = frame_bytes(BY_NAME[name].kind)
            # Drawn as flags (does the event carry it?); a resolved case keeps its values.
            has_size, has_etag = record.get("size") is not False, record.get("etag") is not False
            record["size"] = len(data) if has_size and record.get("size") is not None else None
            digest = hashlib.md5(data).hexdigest()  # noqa: S324 - S3's ETag
            record["etag"] = digest if has_etag and record.get("etag") is not None else None
    return case


# ---------------------------------------------------------------------------- the run
@dataclass
class Report:
    """Counts over a run, and the cases that broke a promise."""

    checked: list[Checked] = field(default_factory=list)
    seconds: float = 0.0
    #: Tracebacks of the harness itself (a lane stops at its first).
    errors: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[Checked]:
        return [c for c in self.checked if c.violations]

    def counts(self) -> Counter:
        return Counter(name for c in self.checked for name in c.violations)

    def statuses(self) -> Counter:
        return Counter(c.status for c in self.checked)

    def summary(self) -> str:
        counts = self.counts()
        total = len(self.checked)
        per_thousand = self.seconds / total * 1000 if total else 0.0
        lines = [
            f"cases: {total} in {self.seconds:.0f} s ({per_thousand:.0f} s per 1,000)",
            *(f"HARNESS ERROR (a lane stopped):\n{error}" for error in self.errors),
            f"crashes: {counts['crash']}",
            f"500s: {counts['500']}",
            f"answers past the deadline: {counts['past-deadline']}",
            f"over the memory: {counts['over-memory']}",
            f"secrets leaked: {counts['secret-leaked']}",
        ]
        lines += [
            f"{name}: {counts[name]}"
            for name in INVARIANTS
            if name not in ("crash", "500", "past-deadline", "over-memory", "secret-leaked")
        ]
        statuses = sorted(self.statuses().items())
        lines.append("statuses: " + ", ".join(f"{s}: {n}" for s, n in statuses))
        return "\n".join(lines)

    def examples(self, per_invariant: int = 8) -> str:
        """Each broken promise's distinct failures (by reason, numbers aside, and each
        explicit case apart), the smallest case of each, with how many failed that way."""
        out = []
        for name in INVARIANTS:
            groups: dict[str, list[Checked]] = {}
            for checked in self.failures:
                if name in checked.violations:
                    reason = re.sub(r"[0-9.]+", "N", checked.violations[name])
                    # The reproductions are shown each on its own.
                    key = f"{reason} {checked.case.get('note', '')}"
                    groups.setdefault(key, []).append(checked)
            for cases in list(groups.values())[:per_invariant]:
                smallest = min(cases, key=lambda c: _size(c.case))
                out.append(
                    f"[{name}] {smallest.violations[name]} ({len(cases)} case(s))\n"
                    f"    {describe(smallest.case)}"
                )
        return "\n".join(out)


def _size(case: dict) -> int:
    return len(json.dumps({k: v for k, v in case.items() if k not in ("id", "log")}))


def describe(case: dict) -> str:
    """A case in one line, as a test (or a person with curl) would write it."""
    if case["kind"] == "api":
        query = "&".join(f"{k}={v!r}" for k, values in case["query"].items() for v in values)
        auth = case["authorization"]
        text = f"GET {case['path']}?{query} ({case.get('frame')})"
        if auth is not None:
            text += f" Authorization={auth[:40]!r}"
    else:
        text = "SQS " + ", ".join(
            f"{r['object']}(etag={bool(r.get('etag'))}, size={bool(r.get('size'))})"
            for r in case["records"]
        )
    text += f" remaining={case['remaining_ms']} ms"
    for fault in case["faults"]:
        text += f" | {fault['target']} x{fault['times'] or 'all'}: {fault['fault']}"
    if case.get("worker"):
        text += f" | worker: {case['worker']}"
    if case.get("note"):
        text = f"({case['note']}) {text}"
    return text


class Runner:
    """The world, `lanes` workers in parallel, each recycled every `batch` cases."""

    def __init__(self, lanes: int = 2, batch: int = 25, logs: Path | None = None) -> None:
        self.lanes = lanes
        self.batch = batch
        self._tmp = None
        if logs is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="contract-logs-")
            logs = Path(self._tmp.name)
        self.logs = logs
        self.logs.mkdir(parents=True, exist_ok=True)
        self._world = None
        self.runners: list[LaneRunner] = []

    def __enter__(self) -> Runner:
        self._world = world(self.lanes)
        _moto, lanes = self._world.__enter__()
        self.runners = [LaneRunner(lane, self.logs, self.batch) for lane in lanes]
        return self

    def __exit__(self, *exc: object) -> None:
        for runner in self.runners:
            runner.close()
        if self._world is not None:
            self._world.__exit__(*exc)
        if self._tmp is not None:
            self._tmp.cleanup()

    def run(self, cases: list[dict], progress: bool = False) -> Report:
        """Run every case (in parallel over the lanes) and check it."""
        report = Report()
        todo: queue.Queue = queue.Queue()
        for case in cases:
            todo.put(case)
        lock = threading.Lock()
        started = time.monotonic()

        def drain(runner: LaneRunner) -> None:
            while True:
                try:
                    case = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    checked = runner.run(case)
                except Exception:  # a harness bug: stop the run loudly, not this lane quietly
                    with lock:
                        report.errors.append(traceback.format_exc())
                    return
                with lock:
                    report.checked.append(checked)
                    done = len(report.checked)
                    if progress and (done % 100 == 0 or checked.violations):
                        mark = ", ".join(checked.violations) or "ok"
                        print(f"[{done}/{len(cases)}] {mark}", file=sys.stderr, flush=True)

        threads = [threading.Thread(target=drain, args=(r,), daemon=True) for r in self.runners]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        report.seconds = time.monotonic() - started
        return report

    def run_one(self, case: dict) -> Checked:
        return self.runners[0].run(case)
