"""Load test of the whole service on loopback: ``make loadtest``.

Starts the local service (``python -m thumbnails serve``: the API handler behind the local
gateway, moto's S3, the embedded archive, pregeneration) as a child process on free
127.0.0.1 ports, over the sample frames, and then runs a bounded load:

1. warm-up: the pregenerated presets of every frame are cached (the hits to come);
2. a baseline over one connection (no queueing: the service time of a hit and of a miss);
3. for each concurrency level (16, then 64 connections by default): a fixed number of
   requests, mixed cache hits (the 200 x 200 preset) and misses (a width never asked before,
   so each one downloads, decodes, renders and stores);
4. a burst of duplicate concurrent misses: many connections asking at once for one
   thumbnail nobody has made yet. All must succeed and leave exactly one valid object.

It prints requests per second, p50/p95/p99 latency of hits and misses separately, the error
count (target: zero), and the service process's peak RSS. The run stops by itself: a hard
time cap ends it (and the service) whatever happens. Nothing is left running or on disk.

The local gateway serves one API invocation at a time per process, as one warm Lambda
container does; more connections queue, so the latencies under concurrency include that
wait and the throughput is that of one container (AWS scales out with more containers).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

HIT_QUERY = {"width": "200", "height": "200"}  # the API's default request, pregenerated
STARTUP_TIMEOUT = 180.0
REQUEST_TIMEOUT = 120.0


@dataclass
class Sample:
    """One request's outcome."""

    kind: str  # "hit" or "miss"
    seconds: float
    status: int  # 0 for a connection failure
    body: bytes = b""
    connect_seconds: float = 0.0  # the part of `seconds` spent opening a connection


@dataclass
class Phase:
    """The outcomes of one load phase."""

    name: str
    concurrency: int
    samples: list[Sample] = field(default_factory=list)
    wall_seconds: float = 0.0

    def errors(self) -> list[Sample]:
        return [s for s in self.samples if not 200 <= s.status < 400]


# --------------------------------------------------------------------------- the service
class ServiceProcess:
    """``python -m thumbnails serve`` in a child process, stopped on exit whatever happens."""

    def __init__(self, frames: Path, workdir: Path) -> None:
        self.ready_file = workdir / "ready.json"
        self.log_path = workdir / "service.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "thumbnails",
                "serve",
                "--frames",
                str(frames),
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--poll-interval",
                "0.5",
                "--ready-file",
                str(self.ready_file),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.peak_rss = 0
        self._sampling = threading.Event()
        self._sampler = threading.Thread(target=self._sample_rss, daemon=True)
        self._sampler.start()

    def wait_ready(self, deadline: float) -> dict:
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited early; see its log:\n{self.tail()}")
            if self.ready_file.exists():
                return json.loads(self.ready_file.read_text())
            time.sleep(0.2)
        raise TimeoutError("the service did not start in time")

    def _rss(self) -> int:
        """Current resident set size in bytes (Linux /proc; 0 where unavailable)."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return 0
        for line in status.splitlines():
            if line.startswith(("VmHWM:", "VmRSS:")):
                self.peak_rss = max(self.peak_rss, int(line.split()[1]) * 1024)
        return self.peak_rss

    def _sample_rss(self) -> None:
        while not self._sampling.wait(0.2):
            self._rss()

    def tail(self, lines: int = 20) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        self._rss()
        self._sampling.set()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # the service's own clean shutdown
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._sampler.join(timeout=5)
        self._log.close()


# --------------------------------------------------------------------------- the client
class Client:
    """One keep-alive connection per thread to the API (reconnects when the server closes)."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        assert self.host == "127.0.0.1", "the load test only ever talks to loopback"
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT)
            self._local.connection = connection
        return connection

    def get(self, path: str, kind: str) -> Sample:
        started = time.perf_counter()
        connection = self._connection()
        try:
            if connection.sock is None:  # timed apart: a full listen backlog shows here
                connection.connect()
            connected = time.perf_counter() - started
            connection.request("GET", path, headers={"Connection": "keep-alive"})
            response = connection.getresponse()
            body = response.read()
            if response.getheader("Connection", "").lower() == "close" or response.version == 10:
                connection.close()
            return Sample(kind, time.perf_counter() - started, response.status, body, connected)
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            return Sample(kind, time.perf_counter() - started, 0, repr(error).encode())


def thumbnail_path(basename: str, query: dict[str, str]) -> str:
    return f"/{basename}/?{urlencode(query)}"


# --------------------------------------------------------------------------- phases
def wait_for_pregeneration(s3, bucket: str, deadline: float) -> int:
    """Wait until the thumbnail bucket stops growing (start-up pregeneration is done)."""
    previous, stable = -1, 0
    while time.monotonic() < deadline and stable < 4:
        count = sum(
            page.get("KeyCount", 0)
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        )
        stable = stable + 1 if count == previous and count > 0 else 0
        previous = count
        time.sleep(0.5)
    return previous


def run_phase(
    client: Client,
    basenames: list[str],
    *,
    name: str,
    concurrency: int,
    requests: int,
    miss_ratio: float,
    widths: Iterator[int],
    deadline: float,
    seed: int,
) -> Phase:
    """`requests` requests over `concurrency` connections; each miss a never-seen width."""
    rng = random.Random(seed)
    plan = []
    for _ in range(requests):
        basename = rng.choice(basenames)
        if rng.random() < miss_ratio:
            plan.append(("miss", thumbnail_path(basename, {"width": str(next(widths))})))
        else:
            plan.append(("hit", thumbnail_path(basename, HIT_QUERY)))
    phase = Phase(name, concurrency)
    lock = threading.Lock()
    queue = iter(plan)

    def worker() -> None:
        while time.monotonic() < deadline:
            with lock:
                item = next(queue, None)
            if item is None:
                return
            sample = client.get(item[1], item[0])
            sample.body = b""  # keep memory flat; errors are counted by status
            with lock:
                phase.samples.append(sample)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()
    phase.wall_seconds = time.perf_counter() - started
    return phase


def duplicate_misses(
    client: Client, basename: str, *, concurrency: int, deadline: float
) -> tuple[list[Sample], dict[str, str]]:
    """`concurrency` connections asking at the same instant for one new thumbnail."""
    query = {"width": "640", "height": "640", "format": "png", "label": "burst"}
    path = thumbnail_path(basename, query)
    barrier = threading.Barrier(concurrency, timeout=max(1.0, deadline - time.monotonic()))

    def one() -> Sample:
        barrier.wait()
        return client.get(path, "miss")

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        samples = [f.result() for f in [pool.submit(one) for _ in range(concurrency)]]
    return samples, query


def check_single_object(s3, bucket: str, basename: str, samples: list[Sample]) -> str:
    """All answers name one key; the bucket holds it once and it decodes as the PNG asked."""
    from PIL import Image

    keys = set()
    for sample in samples:
        url = json.loads(sample.body)["url"]
        keys.add(urlsplit(url).path.split(f"/{bucket}/", 1)[-1].lstrip("/"))
    if len(keys) != 1:
        raise AssertionError(f"duplicate misses answered {len(keys)} different keys")
    [key] = keys
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=basename + "/")
    matching = [item["Key"] for item in listing.get("Contents", []) if item["Key"] == key]
    if len(matching) != 1:
        raise AssertionError(f"expected one object {key}, found {len(matching)}")
    data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        if image.format != "PNG" or max(image.size) > 640:
            raise AssertionError(f"{key} is a {image.format} of {image.size}, not the PNG asked")
        return f"{key} ({image.width}x{image.height} PNG, {len(data)} bytes)"


# --------------------------------------------------------------------------- report
def percentiles(values: list[float]) -> tuple[float, float, float]:
    """p50, p95, p99 in milliseconds (nan when there are too few values)."""
    if len(values) < 2:
        value = values[0] * 1000 if values else float("nan")
        return value, value, value
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000, cuts[98] * 1000


def report_phase(phase: Phase) -> list[str]:
    total = len(phase.samples)
    rate = total / phase.wall_seconds if phase.wall_seconds else 0.0
    lines = [
        f"{phase.name}: {total} requests over {phase.concurrency} connections in "
        f"{phase.wall_seconds:.1f} s = {rate:.0f} requests/s, errors: {len(phase.errors())}"
    ]
    for kind in ("hit", "miss"):
        times = [s.seconds for s in phase.samples if s.kind == kind and 200 <= s.status < 400]
        p50, p95, p99 = percentiles(times)
        lines.append(
            f"  {kind + 'es' if kind == 'miss' else kind + 's':7s} n={len(times):5d}  "
            f"p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  p99 {p99:7.1f} ms"
        )
    connects = [s.connect_seconds for s in phase.samples if s.status]
    p50, _p95, p99 = percentiles(connects)
    lines.append(f"  connect         p50 {p50:7.1f} ms  p99 {p99:7.1f} ms (included above)")
    statuses = sorted({s.status for s in phase.errors()})
    if statuses:
        lines.append(f"  error statuses: {statuses}")
    return lines


# --------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="per concurrency level")
    parser.add_argument(
        "--baseline", type=int, default=200, help="requests over one connection first (0: none)"
    )
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[16, 64], help="connections per phase"
    )
    parser.add_argument("--miss-ratio", type=float, default=0.1, help="share of cache misses")
    parser.add_argument("--burst", type=int, default=32, help="duplicate concurrent misses")
    parser.add_argument("--time-cap", type=float, default=300.0, help="hard stop, seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    deadline = started + args.time_cap
    import boto3
    from botocore.config import Config

    from thumbnails.local.samples import write_samples

    with tempfile.TemporaryDirectory(prefix="thumbnails-loadtest-") as tmp:
        workdir = Path(tmp)
        frames = write_samples(workdir / "frames")
        basenames = [p.name.split(".")[0] for p in frames]
        service = ServiceProcess(workdir / "frames", workdir)
        # The watchdog ends the service at the cap, which ends every pending request too.
        watchdog = threading.Timer(args.time_cap, service.stop)
        watchdog.daemon = True
        watchdog.start()
        results: dict[str, object] = {}
        failed = False
        try:
            urls = service.wait_ready(min(deadline, time.monotonic() + STARTUP_TIMEOUT))
            s3 = boto3.client(
                "s3",
                endpoint_url=urls["storage"],
                region_name="us-east-1",
                aws_access_key_id="local",
                aws_secret_access_key="local",
                config=Config(s3={"addressing_style": "path"}),
            )
            bucket = urls["thumbnail_bucket"]
            pregenerated = wait_for_pregeneration(s3, bucket, deadline)
            client = Client(urls["api"])
            for basename in basenames:  # every hit below is a hit
                warm = client.get(thumbnail_path(basename, HIT_QUERY), "hit")
                if warm.status != 200:
                    raise RuntimeError(f"warm-up of {basename} failed: {warm.status} {warm.body!r}")
            print(
                f"service up: {len(basenames)} sample frames, {pregenerated} thumbnails "
                f"pregenerated, startup {time.monotonic() - started:.1f} s"
            )

            widths = iter(range(101, 100_000))
            phases = []
            levels = [(1, args.baseline)] if args.baseline else []
            levels += [(concurrency, args.requests) for concurrency in args.concurrency]
            for index, (concurrency, requests) in enumerate(levels):
                phase = run_phase(
                    client,
                    basenames,
                    name="baseline" if concurrency == 1 else f"{concurrency} connections",
                    concurrency=concurrency,
                    requests=requests,
                    miss_ratio=args.miss_ratio,
                    widths=widths,
                    deadline=deadline,
                    seed=args.seed + index,
                )
                phases.append(phase)
                print("\n".join(report_phase(phase)), flush=True)

            if time.monotonic() >= deadline:
                raise TimeoutError("the time cap was reached before the duplicate-miss burst")
            burst, _query = duplicate_misses(
                client, basenames[0], concurrency=args.burst, deadline=deadline
            )
            burst_errors = [s for s in burst if s.status != 200]
            burst_p50 = percentiles([s.seconds for s in burst])[0]
            connect_p50 = percentiles([s.connect_seconds for s in burst])[0]
            print(
                f"duplicate misses: {len(burst)} concurrent requests for one new thumbnail, "
                f"errors: {len(burst_errors)}, p50 {burst_p50:.0f} ms "
                f"(of which connecting {connect_p50:.0f} ms)"
            )
            if burst_errors:
                raise AssertionError(f"duplicate misses failed: {[s.status for s in burst_errors]}")
            print(f"  one object left: {check_single_object(s3, bucket, basenames[0], burst)}")

            errors = sum(len(p.errors()) for p in phases)
            results = {
                "phases": [
                    {
                        "concurrency": p.concurrency,
                        "requests": len(p.samples),
                        "requests_per_second": len(p.samples) / max(p.wall_seconds, 1e-9),
                        "errors": len(p.errors()),
                        **{
                            f"{kind}_ms_p50_p95_p99": percentiles(
                                [
                                    s.seconds
                                    for s in p.samples
                                    if s.kind == kind and 200 <= s.status < 400
                                ]
                            )
                            for kind in ("hit", "miss")
                        },
                    }
                    for p in phases
                ],
                "duplicate_misses": len(burst),
                "duplicate_miss_errors": len(burst_errors),
                "errors": errors,
            }
            failed = errors > 0
        except Exception as error:  # report, stop the service, exit non-zero
            print(f"load test failed: {error}", file=sys.stderr)
            print(service.tail(), file=sys.stderr)
            failed = True
        finally:
            watchdog.cancel()
            service.stop()
        peak = service.peak_rss
        print(f"service peak RSS: {peak / 2**20:.0f} MiB (API, local S3, archive, pregeneration)")
        print(f"total time: {time.monotonic() - started:.1f} s (cap {args.time_cap:.0f} s)")
        if args.json and results:
            results["service_peak_rss_bytes"] = peak
            args.json.write_text(json.dumps(results, indent=2))
    if time.monotonic() > deadline:
        print("stopped at the time cap", file=sys.stderr)
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
