"""The point of pregeneration: afterwards the API answers from the cache, rendering nothing.

Pregeneration runs on an S3 put event for a frame; then the API handler is asked for that
frame's thumbnails (the default request, the large preset) with the archive faked at the
HTTP level. It must answer each as a cache hit: the frame file is never fetched and the
renderer never called.
"""

from __future__ import annotations

import hashlib
import io

import boto3
import pytest
from boto3.s3.transfer import TransferConfig

from tests.support.api_support import (
    BASENAME,
    BUCKET,
    ApiWorld,
    body_bytes,
    body_json,
    frame_record,
)
from tests.support.fits_factory import reduced_frame_bytes
from tests.support.pregenerate_support import LambdaContext, s3_put_event
from thumbnails import pregenerate
from thumbnails.cache_keys import SUPERSEDED, thumbnail_key
from thumbnails.imaging import render
from thumbnails.imaging.render import render_thumbnail
from thumbnails.params import ThumbnailParams

DATA_BUCKET = "lco-archive-frames"


FRAME = reduced_frame_bytes((64, 80), compression="RICE_1")
VERSION = hashlib.md5(FRAME).hexdigest()


@pytest.fixture
def empty_world(monkeypatch):
    """The API's world (moto S3, faked archive) and an empty data bucket."""
    with ApiWorld.started(monkeypatch) as world:
        pregenerate.reset()  # build pregeneration's clients from this world's environment
        boto3.client("s3").create_bucket(Bucket=DATA_BUCKET)
        yield world
    pregenerate.reset()


@pytest.fixture
def world(empty_world):
    """The API's world with a frame pregenerated in it (a single-part upload)."""
    key = f"raw/{BASENAME}.fits.fz"
    etag = boto3.client("s3").put_object(Bucket=DATA_BUCKET, Key=key, Body=FRAME)["ETag"]
    empty_world.add_frame(fits=FRAME)  # the archive knows the frame and serves the same file
    pregenerate.handler(s3_put_event(key, etag=etag.strip('"')), LambdaContext())
    return empty_world


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
    assert f"/{thumbnail_key(BASENAME, VERSION, params)}?" in url
    assert world.downloads() == []  # the frame URL was never fetched


def test_the_api_serves_the_bytes_pregeneration_stored(world, no_render):
    # By frame id this time: the id route finds the same basename's cache entry.
    response = world.invoke("api-image-inline.json", query={"image": "inline"})

    key = thumbnail_key(BASENAME, VERSION, ThumbnailParams())
    stored = world.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert response["statusCode"] == 200
    assert body_bytes(response) == stored
    assert world.downloads() == []


def test_a_request_that_is_not_a_preset_is_still_rendered_on_demand(world):
    response = world.invoke("api-basename.json", query={"width": "300"})

    assert response["statusCode"] == 200
    assert len(world.downloads()) == 1


# --------------------------------------------------------------------------- versions
def _refuse_to_render(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the API rendered a pregenerated thumbnail")

    monkeypatch.setattr(render, "load_frame", refuse)
    monkeypatch.setattr(render, "render_frames", refuse)


def _upload(key: str, data: bytes, *, multipart: bool) -> str:
    """Upload `data` in one PutObject, or in 5 MiB parts (as ``aws s3 cp`` does for large
    files); return the object's ETag."""
    client = boto3.client("s3")
    if not multipart:
        return client.put_object(Bucket=DATA_BUCKET, Key=key, Body=data)["ETag"].strip('"')
    config = TransferConfig(multipart_threshold=5 * 2**20, multipart_chunksize=5 * 2**20)
    client.upload_fileobj(io.BytesIO(data), DATA_BUCKET, key, Config=config)
    return client.head_object(Bucket=DATA_BUCKET, Key=key)["ETag"].strip('"')


@pytest.mark.parametrize(
    ("multipart", "archive_md5", "downloads"),
    [
        (False, "the ETag", 0),  # LCO's ingester: one PutObject, its ETag recorded as md5
        (True, "the MD5", 0),  # an archive that records the file's real MD5
        (True, "the ETag", 1),  # only a multipart ETag to go by: the API reads the bytes
    ],
)
def test_single_part_and_multipart_uploads_both_lead_to_api_hits(
    empty_world, monkeypatch, multipart, archive_md5, downloads
):
    frame = reduced_frame_bytes((1200, 1200))  # 5.8 MB: two parts when multipart
    key = f"raw/{BASENAME}.fits"
    etag = _upload(key, frame, multipart=multipart)
    assert etag.endswith("-2") == multipart  # a multipart ETag is no MD5
    md5 = hashlib.md5(frame).hexdigest()
    recorded = md5 if archive_md5 == "the MD5" else etag
    record = frame_record(version_set=[{"id": 1, "key": "v", "md5": recorded}], suffix=".fits")
    empty_world.add_frame(record, fits=frame, etag=f'"{etag}"')
    pregenerate.handler(s3_put_event(key, etag=etag), LambdaContext())
    _refuse_to_render(monkeypatch)

    response = empty_world.invoke("api-basename.json")

    assert response["statusCode"] == 200
    assert f"/{thumbnail_key(BASENAME, md5, ThumbnailParams())}?" in body_json(response)["url"]
    assert len(empty_world.downloads()) == downloads


def test_a_v1_pregeneration_finishing_after_v2s_cannot_become_the_answer_for_v2(
    empty_world, monkeypatch
):
    # v1's worker has read v1 whole when v2 is uploaded and pregenerated by another worker;
    # then v1's worker renders and stores. The API, asked for v2, answers v2's thumbnail.
    key = f"raw/{BASENAME}.fits"  # 360 KB: read as its header, then whole
    v1_bytes = reduced_frame_bytes((300, 300), catalog_seed=1)
    v2_bytes = reduced_frame_bytes((300, 300), catalog_seed=2, sky=300.0)
    v1 = _upload(key, v1_bytes, multipart=False)
    pregenerator = pregenerate.resources().pregenerator
    reads, v2 = [], {}

    def v2_lands_once_v1_is_read(**kwargs):
        reads.append(1)
        if len(reads) == 2:  # v1's header, then v1 whole: now v2 arrives and is done
            v2["etag"] = _upload(key, v2_bytes, multipart=False)
            created = pregenerate.ObjectCreated(DATA_BUCKET, key, v2["etag"])
            v2["outcome"] = pregenerator.pregenerate(created)

    pregenerator.s3.meta.events.register("after-call.s3.GetObject", v2_lands_once_v1_is_read)
    late = pregenerate.handler(s3_put_event(key, etag=v1), LambdaContext())

    assert len(v2["outcome"].rendered) == 2
    assert late["results"][0]["rendered"]  # v1's worker did finish, under v1's keys
    record = frame_record(version_set=[{"id": 2, "key": "v2", "md5": v2["etag"]}], suffix=".fits")
    empty_world.add_frame(record, fits=v2_bytes)
    v2_thumbnail = render_thumbnail([v2_bytes], ThumbnailParams()).data
    _refuse_to_render(monkeypatch)
    response = empty_world.invoke("api-basename.json", query={"image": "inline"})

    assert response["statusCode"] == 200
    assert body_bytes(response) == v2_thumbnail
    assert empty_world.downloads() == []
    v2_key = thumbnail_key(BASENAME, v2["etag"], ThumbnailParams())
    assert empty_world.s3.head_object(Bucket=BUCKET, Key=v2_key)  # v1's worker kept it
    # ... and did not mark it (nor the other preset) superseded: the object is v2 now.
    for params in (ThumbnailParams(), ThumbnailParams(width=1000, height=1000)):
        v2_preset = thumbnail_key(BASENAME, v2["etag"], params)
        head = empty_world.s3.head_object(Bucket=BUCKET, Key=v2_preset)
        assert SUPERSEDED not in head["Metadata"]
        assert empty_world.s3.get_object_tagging(Bucket=BUCKET, Key=v2_preset)["TagSet"] == []
