"""SnapStart's priming and the cost of 1,000 thumbnails, measured on this machine (not Lambda).

Part of ``make bench`` (bench/run.sh). Every measurement is a fresh Python process (this script
run with ``--child CASE``) driving the real handlers, with S3 faked in process by moto and the
archive by `responses` (``tests.support``): no network time is included, which on Lambda
adds the archive lookup and the S3 round trips to each duration.

1. SnapStart, cold processes: the priming work alone (`thumbnails.snapstart.prime_render_path`,
   what the before-snapshot hook runs once per published version), and the first miss of a
   new process without it (today: the miss imports and warms the render stack) and with it
   done beforehand (as in a container restored from a primed snapshot).
2. Cost per 1,000: in each child a warm container (one unrecorded miss first), then the
   median of several requests of one kind: hits, misses by size, colour, and pregeneration of
   the presets of a new frame; the S3 calls each made (counted from boto3's events), the bytes
   stored, and the process's peak RSS. Priced by `bench.cost` at the template's memory size.

Prints markdown: the README's "SnapStart" and "Cost" tables are this output.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import cost  # noqa: E402

FRAME = "lsc1m005-fa15-20260101-0100-e91.fits.fz"  # 4096 x 4096, Rice-compressed (make_frames)
RUNS = 5
#: case -> (table label, query). Misses differ by quality only, so each is a new cache key.
API_CASES = {
    "hit-200": ("hit, 200 px (a preset)", {"width": "200", "height": "200"}),
    "miss-200": ("miss, 200 px", {"width": "200", "height": "200"}),
    "miss-1000": ("miss, 1000 px", {"width": "1000", "height": "1000"}),
    "miss-2000": ("miss, 2000 px", {"width": "2000", "height": "2000"}),
    "color-1000": ("miss, colour 1000 px", {"width": "1000", "height": "1000", "color": "true"}),
}
PREGENERATE_CASE = "pregenerate"
ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "URL_SIGNER": "s3",
}


# --------------------------------------------------------------------------- children
def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _count_s3(client, calls: dict[str, int]) -> None:
    def count(model, **_kwargs):
        calls[model.name] = calls.get(model.name, 0) + 1

    client.meta.events.register("before-call.s3", count)


def _world(monkeypatch, frame: bytes, color: bool):
    from tests.support.api_support import ApiWorld, frame_record

    context = ApiWorld.started(monkeypatch)
    world = context.__enter__()
    if color:
        records = []
        for index, band in enumerate(("rp", "V", "B")):
            record = frame_record(3863274 + index, f"lsc1m005-fa15-20260101-010{index}-e91")
            record["primary_optical_element"] = band
            world.add_frame(record, fits=frame, etag=f'"etag-{band}"', by_basename=False)
            records.append(record)
        world.add_request_frames(records)
    else:
        world.add_frame(fits=frame)
    return context, world


def child_api(case: str, frame: bytes) -> dict:
    """Median duration of `case`'s requests in a warm process, its S3 calls and bytes."""
    import pytest

    monkeypatch = pytest.MonkeyPatch()
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    _label, query = API_CASES[case]
    context, world = _world(monkeypatch, frame, color="color" in query)
    try:
        # The container's first miss (imports, decoders): not recorded.
        world.invoke(query={**query, "quality": "70"})
        if case.startswith("hit"):
            world.invoke(query=query)  # stored: what follows are hits
        calls: dict[str, int] = {}
        _count_s3(world.s3, calls)
        durations, statuses = [], set()
        for run in range(RUNS):
            asked = query if case.startswith("hit") else {**query, "quality": str(81 + run)}
            started = time.perf_counter()
            response = world.invoke(query=asked)
            durations.append((time.perf_counter() - started) * 1000)
            statuses.add(response["statusCode"])
        made = dict(calls)  # before the listing below, which is the benchmark's own call
        stored = world.s3.list_objects_v2(Bucket="thumbnails-test").get("Contents", [])
        sizes = [item["Size"] for item in stored]
    finally:
        context.__exit__(None, None, None)
        monkeypatch.undo()
    return {
        "ms": statistics.median(durations),
        "runs_ms": [round(d, 1) for d in durations],
        "statuses": sorted(statuses),
        "s3_calls": {name: count / RUNS for name, count in made.items()},
        "bytes": statistics.median(sizes) if sizes else 0,
        "peak_mb": _peak_mb(),
    }


def child_pregenerate(frame: bytes) -> dict:
    """Median duration of pregenerating a new frame's presets (the template's), per frame."""
    import boto3
    import pytest
    from moto import mock_aws

    from tests.conftest import FakeLambdaContext
    from tests.support.pregenerate_support import CACHE_BUCKET, DATA_BUCKET, s3_put_event
    from thumbnails import pregenerate

    monkeypatch = pytest.MonkeyPatch()
    for name, value in {**ENV, "THUMBNAIL_BUCKET": CACHE_BUCKET}.items():
        monkeypatch.setenv(name, value)
    presets = cost.template_default("PregeneratePresets", ROOT / "template.yaml")
    monkeypatch.setenv("PREGENERATE_PRESETS", presets)
    pregenerate.reset()
    try:
        with mock_aws():
            s3 = boto3.client("s3")
            s3.create_bucket(Bucket=DATA_BUCKET)
            s3.create_bucket(Bucket=CACHE_BUCKET)

            def one(index: int) -> float:
                key = f"lsc/2026/lsc1m005-fa15-20260101-{index:04d}-e91.fits.fz"
                etag = s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=frame)["ETag"]
                event = s3_put_event(key, etag=etag.strip('"'))
                started = time.perf_counter()
                pregenerate.handler(event, FakeLambdaContext())
                return (time.perf_counter() - started) * 1000

            one(0)  # the container's first frame: not recorded
            calls: dict[str, int] = {}
            _count_s3(pregenerate.resources().pregenerator.s3, calls)
            durations = [one(1 + run) for run in range(RUNS)]
            stored = s3.list_objects_v2(Bucket=CACHE_BUCKET).get("Contents", [])
            per_frame = sum(item["Size"] for item in stored) / (RUNS + 1)
    finally:
        pregenerate.reset()
        monkeypatch.undo()
    return {
        "ms": statistics.median(durations),
        "runs_ms": [round(d, 1) for d in durations],
        "s3_calls": {name: count / RUNS for name, count in calls.items()},
        "bytes": per_frame,
        "presets": presets,
        "peak_mb": _peak_mb(),
    }


def child_first_miss(frame: bytes, primed: bool) -> dict:
    """A new process's first miss (1000 px), with or without the priming done before it."""
    import pytest

    from tests.support.api_support import ApiWorld

    monkeypatch = pytest.MonkeyPatch()
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    started = time.perf_counter()
    import thumbnails.api  # noqa: F401 - the handler's own start-up

    import_ms = (time.perf_counter() - started) * 1000
    prime_ms = None
    if primed:
        from thumbnails import snapstart

        prime_ms = snapstart.prime_render_path().seconds * 1000
    with ApiWorld.started(monkeypatch) as world:
        world.add_frame(fits=frame)
        # What the miss will import is not loaded yet (unless primed): the fakes load none of it.
        heavy = sorted(m for m in ("numpy", "astropy", "PIL") if m in sys.modules)
        started = time.perf_counter()
        response = world.invoke(query={"width": "1000", "height": "1000"})
        miss_ms = (time.perf_counter() - started) * 1000
    monkeypatch.undo()
    return {
        "import_ms": import_ms,
        "prime_ms": prime_ms,
        "miss_ms": miss_ms,
        "status": response["statusCode"],
        "heavy_before_miss": heavy,
    }


# --------------------------------------------------------------------------- parent
def run_child(args: list[str]) -> dict:
    env = {**os.environ, **ENV, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, __file__, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def snapstart_section(frames_dir: Path, rounds: int) -> str:
    # One unrecorded pair first (it pays for .pyc compilation and the page cache), then
    # `rounds` alternating pairs.
    for child in ("first-miss", "first-miss-primed"):
        run_child(["--child", child, "--frames-dir", str(frames_dir)])
    unprimed, primed = [], []
    for _ in range(rounds):
        unprimed.append(run_child(["--child", "first-miss", "--frames-dir", str(frames_dir)]))
        primed.append(run_child(["--child", "first-miss-primed", "--frames-dir", str(frames_dir)]))
    for sample in unprimed + primed:
        assert sample["status"] == 200, sample
    assert all(not s["heavy_before_miss"] for s in unprimed), unprimed

    def med(samples, key):
        return statistics.median(s[key] for s in samples)

    off_import, off_miss = med(unprimed, "import_ms"), med(unprimed, "miss_ms")
    on_import, on_prime, on_miss = (
        med(primed, "import_ms"),
        med(primed, "prime_ms"),
        med(primed, "miss_ms"),
    )
    lines = [
        f"Cold processes on this machine (not Lambda), medians of {rounds}: a 4096x4096 "
        "Rice-compressed frame, a 1000 px JPEG miss, S3 and the archive faked in process (no "
        "network time). With SnapStart the import and the priming run once per published "
        "version, before the snapshot; a new container pays Lambda's restore instead (not "
        "measurable here) and starts with the render stack loaded and warm.",
        "",
        "| ms | Once per version (before the snapshot) | New container: start-up "
        "| Its first miss | Start-up + first miss |",
        "|---|---:|---:|---:|---:|",
        f"| SnapStart off (today) | - | {off_import:,.0f} (import) | {off_miss:,.0f} "
        f"| {off_import + off_miss:,.0f} |",
        f"| SnapStart on, primed | {on_import:,.0f} (import) + {on_prime:,.0f} (priming) "
        f"| restore | {on_miss:,.0f} | restore + {on_miss:,.0f} |",
    ]
    return "\n".join(lines)


def cost_section(frames_dir: Path) -> str:
    template = ROOT / "template.yaml"
    api_mb = int(cost.template_default("ApiMemorySize", template))
    pregen_mb = int(cost.template_default("PregenerateMemorySize", template))
    months = int(cost.template_default("ThumbnailExpirationDays", template)) / 30
    workloads = []
    for case, (label, _query) in API_CASES.items():
        m = run_child(["--child", case, "--frames-dir", str(frames_dir)])
        assert m["statuses"] == [200], (case, m)
        miss = not case.startswith("hit")
        workloads.append(
            cost.Workload(
                label,
                duration_ms=m["ms"],
                memory_mb=api_mb,
                peak_mb=m["peak_mb"],
                s3_calls=m["s3_calls"],
                stored_bytes=int(m["bytes"]) if miss else 0,
                delivered_bytes=int(m["bytes"]),
                storage_months=months,
            )
        )
    p = run_child(["--child", PREGENERATE_CASE, "--frames-dir", str(frames_dir)])
    # Per frame: no API call and no viewer; SQS: EventBridge's send, Lambda's receive and
    # delete of the frame's message.
    pregeneration = cost.Workload(
        f"pregeneration of a new frame ({p['presets']})",
        duration_ms=p["ms"],
        memory_mb=pregen_mb,
        peak_mb=p["peak_mb"],
        s3_calls=p["s3_calls"],
        stored_bytes=int(p["bytes"]),
        api_requests=0,
        cloudfront_requests=0,
        origin_fetches=0,
        sqs_requests=3,
        storage_months=months,
    )
    workloads.append(pregeneration)
    per_frame = cost.cost_per_thousand(pregeneration).total / 1000
    restore = cost.snapstart_restore_cost(api_mb)
    cache_month = cost.snapstart_cache_cost(api_mb, cost.SECONDS_PER_MONTH) + (
        cost.snapstart_cache_cost(pregen_mb, cost.SECONDS_PER_MONTH)
    )
    lines = [
        f"Prices: {cost.REGION} list prices as of {cost.PRICE_DATE} (`bench/cost.py`: sources "
        "and what was checked), first tier, no free tier. Durations: median of "
        f"{RUNS} requests in a warm process on this machine (not Lambda; no network time: "
        "on Lambda add the archive lookup and S3 round trips, tens of ms each). "
        f"Memory: the template's {api_mb} MB (API) and {pregen_mb} MB (pregeneration). "
        "Peak RSS is the whole benchmark process's, moto and the fakes included. "
        "Every thumbnail is assumed viewed once, through a CloudFront edge miss "
        f"(one S3 GET). Storage: {months:.2f} months (ThumbnailExpirationDays).",
        "",
        cost.markdown_table(workloads),
        "",
        f"- Per million frames pregenerated: **${per_frame * 1e6:,.2f}** "
        "(the pregeneration row x 1,000).",
        f"- SnapStart (Python) on top: **${restore:.6f} per restore** (each new container of "
        f"the {api_mb} MB API function: ${restore * 1000:.4f} per 1,000 cold starts), and "
        f"**${cache_month:,.2f} a month** of snapshot cache for the live versions of both "
        "functions (at least 3 hours billed per version; a replaced version is deleted).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames-dir", type=Path, default=ROOT / "bench" / ".cache" / "frames")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=3, help="cold-process pairs (default 3)")
    args = parser.parse_args()
    frame = (args.frames_dir / FRAME).read_bytes()
    if args.child:
        if args.child == PREGENERATE_CASE:
            out = child_pregenerate(frame)
        elif args.child.startswith("first-miss"):
            out = child_first_miss(frame, primed=args.child.endswith("primed"))
        else:
            out = child_api(args.child, frame)
        print(json.dumps(out))
        return
    print("### SnapStart: priming and the first miss\n")
    print(snapstart_section(args.frames_dir, args.rounds))
    print("\n### Cost per 1,000 thumbnails\n")
    print(cost_section(args.frames_dir))


if __name__ == "__main__":
    main()
