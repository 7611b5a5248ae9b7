"""Metrics in EMF (CacheHit, CacheMiss, RenderMs, SourceBytes, ArchiveErrors), correlation ids,
and a handler module light enough for fast cold-start cache hits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.api_support import ARCHIVE, FRAME_ID


def _metrics(printed: str) -> list[dict]:
    """The EMF documents Powertools printed, one per invocation."""
    documents = []
    for line in printed.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            documents.append(json.loads(line))
    return documents


def test_a_miss_then_a_hit_publish_cache_metrics_render_time_and_source_bytes(world, capsys):
    world.add_frame()
    world.invoke()
    world.invoke()
    miss, hit = _metrics(capsys.readouterr().out)
    assert miss["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Thumbnails"
    assert (miss["CacheHit"], miss["CacheMiss"]) == ([0.0], [1.0])
    assert miss["RenderMs"][0] > 0
    (served,) = world.files.values()
    assert miss["SourceBytes"][0] == len(served)
    assert (hit["CacheHit"], hit["CacheMiss"]) == ([1.0], [0.0])
    assert "RenderMs" not in hit and "SourceBytes" not in hit


def test_archive_failures_are_counted(world, capsys):
    world.archive.get(f"{ARCHIVE}frames/{FRAME_ID}/", status=500)
    world.invoke()
    (document,) = _metrics(capsys.readouterr().out)
    assert document["ArchiveErrors"] == [1.0]


def test_logs_carry_the_api_gateway_request_id_as_correlation_id(world):
    world.add_frame()
    world.invoke()
    entries = [json.loads(line) for line in world.logs]
    assert entries
    assert {e.get("correlation_id") for e in entries} == {"c6af9ac6-7b61-11e6-9a41-93e8deadbeef"}


def test_importing_the_handler_loads_neither_numpy_astropy_nor_pillow():
    code = (
        "import sys, thumbnails.api\n"
        "heavy = sorted(m for m in ('numpy', 'astropy', 'PIL') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == ""


_HIT_IN_A_FRESH_INTERPRETER = """
import json, sys
import pytest
from tests.support.api_support import BASENAME, BUCKET, ARCHIVE, FRAME_ID, ApiWorld, frame_record
from thumbnails.cache_keys import thumbnail_key
from thumbnails.params import ThumbnailParams

monkeypatch = pytest.MonkeyPatch()
for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
    monkeypatch.setenv(name, "testing")
monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
with ApiWorld.started(monkeypatch) as world:
    record = frame_record()
    world.archive.get(f"{ARCHIVE}frames/{FRAME_ID}/", json=record)
    version = record["version_set"][0]["md5"]
    key = thumbnail_key(BASENAME, version, ThumbnailParams(width=200, height=200))
    world.s3.put_object(Bucket=BUCKET, Key=key, Body=b"cached")
    s3_calls = []
    world.s3.meta.events.register(
        "before-call.s3", lambda model, **kwargs: s3_calls.append(model.name)
    )
    signed = []
    world.s3.meta.events.register("before-sign.s3", lambda **kwargs: signed.append(1))
    response = world.invoke("api-frame-id.json")
    heavy = sorted(m for m in ("numpy", "astropy", "PIL") if m in sys.modules)
    archive_calls = len(world.archive.calls)
monkeypatch.undo()
print(json.dumps({
    "status": response["statusCode"],
    "heavy": heavy,
    "hit": key in json.loads(response["body"])["url"],
    "archive": archive_calls,
    "s3": s3_calls,
    "signed": len(signed),
}))
"""


def test_a_cold_cache_hit_costs_a_lookup_a_head_a_presign_and_no_numpy_astropy_pillow():
    # A fresh interpreter: moto S3 already holds the thumbnail, the archive is faked.
    result = subprocess.run(
        [sys.executable, "-c", _HIT_IN_A_FRESH_INTERPRETER],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert result.returncode == 0, result.stderr[-2000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    # One archive lookup, one HEAD, one presign (the two signatures: the HEAD's and the
    # URL's, made locally without a request): nothing else.
    assert outcome == {
        "status": 200,
        "heavy": [],
        "hit": True,
        "archive": 1,
        "s3": ["HeadObject"],
        "signed": 2,
    }
