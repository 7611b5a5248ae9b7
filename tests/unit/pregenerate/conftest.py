"""Fixtures of the pregeneration tests: moto S3 with both buckets, counted renders, logs."""

from __future__ import annotations

import logging

import boto3
import pytest
from moto import mock_aws

from tests.support.pregenerate_support import CACHE_BUCKET, DATA_BUCKET
from thumbnails import pregenerate


@pytest.fixture
def s3(monkeypatch):
    """moto S3 with the data and cache buckets; pregeneration's clients built inside it."""
    monkeypatch.setenv("THUMBNAIL_BUCKET", CACHE_BUCKET)
    for name in ("STORAGE_URL", "PREGENERATE_PRESETS", "VALID_CONFIGURATION_TYPES"):
        monkeypatch.delenv(name, raising=False)
    pregenerate.reset()
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=DATA_BUCKET)
        client.create_bucket(Bucket=CACHE_BUCKET)
        yield client
    pregenerate.reset()


@pytest.fixture
def renders(monkeypatch):
    """Every decode and render pregeneration does, counted around the real renderer."""
    from thumbnails.imaging import render

    calls: dict[str, list] = {"load_frame": [], "render_frames": []}
    real_load, real_render = render.load_frame, render.render_frames

    def load_frame(data, **kwargs):
        calls["load_frame"].append(len(data))
        return real_load(data, **kwargs)

    def render_frames(frames, params):
        calls["render_frames"].append(params)
        return real_render(frames, params)

    monkeypatch.setattr(render, "load_frame", load_frame)
    monkeypatch.setattr(render, "render_frames", render_frames)
    return calls


@pytest.fixture
def logs():
    """The log records pregeneration writes (its Powertools logger, structured fields kept)."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect()
    underlying = logging.getLogger(pregenerate.logger.name)
    underlying.addHandler(handler)
    yield records
    underlying.removeHandler(handler)
