"""The point of pregeneration: afterwards the API answers from the cache, rendering nothing.

Pregeneration runs on an S3 put event for a frame; then the API handler is asked for that
frame's thumbnails (the default request, the large preset) with the archive faked at the
HTTP level. It must answer each as a cache hit: the frame file is never fetched and the
renderer never called.
"""

from __future__ import annotations

import boto3
import pytest

from tests.api_support import BASENAME, BUCKET, ApiWorld, body_bytes, body_json
from tests.fits_factory import reduced_frame_bytes
from tests.unit.test_pregenerate import s3_put_event
from thumbnails import pregenerate, render
from thumbnails.cache_keys import thumbnail_key
from thumbnails.params import ThumbnailParams

DATA_BUCKET = "lco-archive-frames"


@pytest.fixture
def world(monkeypatch):
    """The API's world (moto S3, faked archive) with a frame pregenerated in it."""
    with ApiWorld.started(monkeypatch) as world:
        pregenerate.reset()  # build pregeneration's clients from this world's environment
        frame = reduced_frame_bytes((64, 80), compression="RICE_1")
        data = boto3.client("s3")
        data.create_bucket(Bucket=DATA_BUCKET)
        data.put_object(Bucket=DATA_BUCKET, Key=f"raw/{BASENAME}.fits.fz", Body=frame)
        world.add_frame(fits=frame)  # the archive knows the frame and serves the same file
        pregenerate.handler(s3_put_event(f"raw/{BASENAME}.fits.fz"), _Context())
        yield world
    pregenerate.reset()


class _Context:
    function_name = "pregenerate"
    memory_limit_in_mb = 1769
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:pregenerate"
    aws_request_id = "0f4b1c7e-1b1e-4c55-9d6a-5f0e8d3a2b10"

    def get_remaining_time_in_millis(self) -> int:
        return 120_000


@pytest.fixture
def no_render(monkeypatch):
    """Any decode or render from here on fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the API rendered a pregenerated thumbnail")

    monkeypatch.setattr(render, "load_frame", refuse)
    monkeypatch.setattr(render, "render_frames", refuse)


@pytest.mark.parametrize(
    ("query", "params"),
    [
        ({}, ThumbnailParams()),  # the default request: no parameters at all
        ({"width": "200", "height": "200"}, ThumbnailParams()),
        ({"width": "1000", "height": "1000"}, ThumbnailParams(width=1000, height=1000)),
    ],
)
def test_after_pregeneration_the_api_answers_from_the_cache_without_download_or_render(
    world, no_render, query, params
):
    response = world.invoke("api-basename.json", query=query)

    assert response["statusCode"] == 200
    url = body_json(response)["url"]
    assert f"/{thumbnail_key(BASENAME, params)}?" in url
    assert world.downloads() == []  # the frame URL was never fetched


def test_the_api_serves_the_bytes_pregeneration_stored(world, no_render):
    # By frame id this time: the id route finds the same basename's cache entry.
    response = world.invoke("api-image-inline.json", query={"image": "inline"})

    key = thumbnail_key(BASENAME, ThumbnailParams())
    stored = world.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert response["statusCode"] == 200
    assert body_bytes(response) == stored
    assert world.downloads() == []


def test_a_request_that_is_not_a_preset_is_still_rendered_on_demand(world):
    response = world.invoke("api-basename.json", query={"width": "300"})

    assert response["statusCode"] == 200
    assert len(world.downloads()) == 1
