"""Answers come from the frame version the archive names, whatever the cache holds.

The archive reprocesses frames (same basename, a new ``version_set`` entry, new bytes) and
keeps every version. The API learns of it from the record alone, with no S3 event: the
version is part of the cache key, so the next request is a miss rendered from the new file,
and a new version that cannot be read is refused rather than answered with the old image.
Cached objects near their lifecycle expiry are refreshed before a URL to them is handed out.
"""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from PIL import Image

from tests.support.api_support import (
    BASENAME,
    BUCKET,
    DATA_HOST,
    FRAME_ID,
    PLACEHOLDER_MD5,
    ApiWorld,
    body_bytes,
    body_json,
    frame_record,
    header,
)
from tests.support.fits_factory import reduced_frame_bytes
from thumbnails.cache_keys import thumbnail_key
from thumbnails.imaging import render
from thumbnails.params import ThumbnailParams

DEFAULT = ThumbnailParams(width=200, height=200)
INLINE = {"image": "inline"}


def fits(catalog_seed: int, **kwargs) -> bytes:
    """A frame whose stars are placed by `catalog_seed`: another seed, visibly other pixels."""
    return reduced_frame_bytes((64, 80), compression="RICE_1", catalog_seed=catalog_seed, **kwargs)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def reprocessed(record: dict, *, path: str = "v2/") -> dict:
    """`record` after a reprocess: a new newest ``version_set`` entry and a new file URL."""
    new_version = {"id": record["version_set"][0]["id"] + 1, "key": "v2", "md5": PLACEHOLDER_MD5}
    return dict(
        record,
        version_set=[new_version, *record["version_set"]],
        url=record["url"].replace(DATA_HOST, DATA_HOST + path),
    )


def expected(data: bytes, params: ThumbnailParams = DEFAULT) -> bytes:
    return render.render_thumbnail([data], params).data


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.int16)


# --------------------------------------------------------------------------- reprocessing
def test_a_reprocess_seen_only_in_the_archive_record_shows_the_new_pixels(world):
    old, new = fits(catalog_seed=1), fits(catalog_seed=2)
    record = world.add_frame(fits=old)
    first = world.invoke(query=INLINE)
    assert body_bytes(first) == expected(old)
    assert body_bytes(world.invoke(query=INLINE)) == expected(old)  # a hit: still v1
    assert len(world.downloads()) == 1

    world.add_frame(reprocessed(record), fits=new)  # no S3 event, no cache invalidation
    second = world.invoke(query=INLINE)

    assert second["statusCode"] == 200
    assert body_bytes(second) == expected(new)
    assert np.abs(pixels(body_bytes(second)) - pixels(expected(old))).mean() > 5
    assert len(world.downloads()) == 2
    keys = {item["Key"] for item in world.s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == {
        thumbnail_key(BASENAME, md5(old), DEFAULT),
        thumbnail_key(BASENAME, md5(new), DEFAULT),
    }


def test_a_corrupt_new_version_is_a_422_and_never_the_old_thumbnail(world):
    old = fits(catalog_seed=1)
    record = world.add_frame(fits=old)
    assert world.invoke()["statusCode"] == 200
    old_key = thumbnail_key(BASENAME, md5(old), DEFAULT)

    world.add_frame(reprocessed(record), fits=old[:4000])  # the new file is cut short
    for query in ({}, INLINE, {"image": "true"}):
        response = world.invoke(query=query)
        assert response["statusCode"] == 422
        assert "truncated" in body_json(response)["message"]
        assert old_key not in response["body"]
        assert header(response, "Location") is None
    # The old image is still stored, just never the answer for the new version.
    assert world.s3.head_object(Bucket=BUCKET, Key=old_key)


def test_a_download_of_another_version_than_the_record_names_is_keyed_by_what_it_is(world):
    # The record still names v1 while its URL already serves v2 (the file's ETag says so):
    # what is rendered is v2, so it is stored under v2's key, never under v1's.
    v1, v2 = fits(catalog_seed=1), fits(catalog_seed=2)
    record = frame_record(version_set=[{"id": 1, "key": "v1", "md5": md5(v1)}])
    world.add_frame(record, fits=v2)  # served with v2's ETag (its MD5, as S3 does)

    response = world.invoke(query={"image": "true"})

    assert response["statusCode"] == 302
    v2_key = thumbnail_key(BASENAME, md5(v2), DEFAULT)
    assert f"/{v2_key}?" in header(response, "Location")
    assert world.s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 1


# --------------------------------------------------------------------------- colour
def _colour_world(world: ApiWorld, blue: bytes) -> dict[str, dict]:
    records = {}
    for offset, name in enumerate(("rp", "V", "B")):
        frame_id = FRAME_ID if name == "rp" else FRAME_ID + 1 + offset
        basename = BASENAME if name == "rp" else f"coj2m002-ep02-20260102-005{offset}-e91"
        data = blue if name == "B" else reduced_frame_bytes((64, 80), filter=name, seed=offset)
        records[name] = world.add_frame(
            frame_record(frame_id, basename, filter=name), fits=data, by_basename=False
        )
    world.add_request_frames(list(records.values()))
    return records


def test_reprocessing_one_channel_changes_the_composite_asked_for_through_another(world):
    blue_v1 = reduced_frame_bytes((64, 80), filter="B", seed=7, catalog_seed=1)
    blue_v2 = reduced_frame_bytes((64, 80), filter="B", seed=7, catalog_seed=5, sky=400.0)
    records = _colour_world(world, blue_v1)
    query = {"color": "true", **INLINE}
    before = body_bytes(world.invoke("api-color.json", query=query))
    assert body_bytes(world.invoke("api-color.json", query=query)) == before  # a hit
    downloads = len(world.downloads())

    # Only the blue frame is reprocessed; the composite is asked for through the red frame.
    blue = reprocessed(records["B"])
    world.add_frame(blue, fits=blue_v2, by_basename=False)
    world.add_request_frames([records["rp"], records["V"], blue])
    after = world.invoke("api-color.json", query=query)

    assert after["statusCode"] == 200
    assert len(world.downloads()) == downloads + 3  # a miss: all three channels read again
    blue_plane_before = np.asarray(Image.open(io.BytesIO(before)))[..., 2].astype(int)
    blue_plane_after = np.asarray(Image.open(io.BytesIO(body_bytes(after))))[..., 2].astype(int)
    assert np.abs(blue_plane_after - blue_plane_before).mean() > 5
    colour = ThumbnailParams(color=True)
    channels = [
        (records["rp"]["basename"], md5_of(world, records["rp"])),
        (records["V"]["basename"], md5_of(world, records["V"])),
        (blue["basename"], md5(blue_v2)),
    ]
    key = thumbnail_key(BASENAME, channels[0][1], colour, channels)
    assert world.s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]["channels"] == ",".join(
        f"{b}:{v}" for b, v in channels
    )


def md5_of(world: ApiWorld, record: dict) -> str:
    return md5(world.files[record["url"].split("?")[0]])


# --------------------------------------------------------------------------- versions found
def test_without_a_version_in_the_record_the_download_etag_names_it(world):
    data = fits(catalog_seed=1)
    world.add_frame(frame_record(version_set=[]), fits=data, etag='"' + "ab" * 16 + '"')

    world.invoke()
    world.invoke()  # a hit, but the version is only known from the download

    key = thumbnail_key(BASENAME, "ab" * 16, DEFAULT)
    assert world.s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]["source-version"] == "ab" * 16
    assert len(world.downloads()) == 2


@pytest.mark.parametrize("etag", [None, '"9b2cf535f27731c974343645a3985328-3"'])
def test_without_a_version_or_a_plain_md5_etag_the_bytes_name_it(world, monkeypatch, etag):
    data = fits(catalog_seed=1)
    world.add_frame(frame_record(version_set=[]), fits=data, etag=etag)
    world.invoke()

    def no_render(*args, **kwargs):
        raise AssertionError("rendered on a cache hit")

    monkeypatch.setattr(render, "load_frame", no_render)
    assert world.invoke()["statusCode"] == 200  # the same version from the same bytes: a hit
    assert world.s3.head_object(Bucket=BUCKET, Key=thumbnail_key(BASENAME, md5(data), DEFAULT))


# --------------------------------------------------------------------------- expiry
def _age(key: str, days: float) -> datetime:
    """Make the stored object `key` look `days` old to S3 itself (moto's own record)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    stored = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].buckets[BUCKET].keys[key]
    # moto keeps naive UTC times.
    stored.last_modified = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=days)
    return stored.last_modified.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("days", "refreshed"),
    [(22.9, False), (23.1, True), (29.9, True)],  # 30-day expiry, 7-day URLs: 23 days
)
def test_an_old_object_is_refreshed_before_a_url_to_it_is_handed_out(world, days, refreshed):
    data = fits(catalog_seed=1)
    world.add_frame(fits=data)
    world.invoke()
    key = thumbnail_key(BASENAME, md5(data), DEFAULT)
    before = world.s3.head_object(Bucket=BUCKET, Key=key)
    aged = _age(key, days)

    response = world.invoke(query={"image": "true"})

    assert response["statusCode"] == 302
    after = world.s3.head_object(Bucket=BUCKET, Key=key)
    age = datetime.now(UTC) - after["LastModified"]
    if refreshed:
        assert age < timedelta(minutes=1)  # its expiry starts again from now
    else:
        assert abs(after["LastModified"] - aged) < timedelta(seconds=1)
    # A refresh changes nothing else: same bytes, type, caching, encryption and metadata.
    for field in ("ETag", "ContentType", "CacheControl", "ServerSideEncryption", "Metadata"):
        assert after[field] == before[field], field
    assert len(world.downloads()) == 1  # no render: a refresh is a copy


@pytest.mark.parametrize(("days", "refreshed"), [(0.9, False), (1.1, True)])
def test_a_superseded_object_the_archive_still_names_is_refreshed_sooner_and_stays_marked(
    world, days, refreshed
):
    # The archive's record is updated after the upload, so the API may still name a version
    # pregeneration has marked superseded. Such an object goes 8 days after its mark or last
    # refresh: a link signed now (7 days) needs a refresh once it is a day old.
    from thumbnails.cache_keys import SUPERSEDED, SUPERSEDED_VALUE
    from thumbnails.store import ThumbnailStore

    data = fits(catalog_seed=1)
    world.add_frame(fits=data)
    world.invoke()
    key = thumbnail_key(BASENAME, md5(data), DEFAULT)
    assert ThumbnailStore(world.s3, BUCKET).mark_superseded([key]) == 1
    aged = _age(key, days)

    assert world.invoke(query={"image": "true"})["statusCode"] == 302

    after = world.s3.head_object(Bucket=BUCKET, Key=key)
    if refreshed:
        assert datetime.now(UTC) - after["LastModified"] < timedelta(minutes=1)
    else:
        assert abs(after["LastModified"] - aged) < timedelta(seconds=1)
    assert after["Metadata"][SUPERSEDED] == SUPERSEDED_VALUE
    tags = world.s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]
    assert tags == [{"Key": SUPERSEDED, "Value": SUPERSEDED_VALUE}]
    assert len(world.downloads()) == 1  # no render


def test_the_refresh_age_follows_the_expiration_and_url_lifetime_settings(monkeypatch):
    # 10-day expiry, 1-day URLs: refreshed after 9 days, not before.
    settings = {"THUMBNAIL_EXPIRATION_DAYS": "10", "PRESIGNED_URL_EXPIRY": "86400"}
    with ApiWorld.started(monkeypatch, **settings) as world:
        data = fits(catalog_seed=1)
        world.add_frame(fits=data)
        world.invoke()
        key = thumbnail_key(BASENAME, md5(data), DEFAULT)
        _age(key, 8.9)
        world.invoke()
        assert datetime.now(UTC) - world.s3.head_object(Bucket=BUCKET, Key=key)[
            "LastModified"
        ] > timedelta(days=8)
        _age(key, 9.1)
        world.invoke()
        assert datetime.now(UTC) - world.s3.head_object(Bucket=BUCKET, Key=key)[
            "LastModified"
        ] < timedelta(minutes=1)


def test_an_object_that_expires_between_its_lookup_and_its_refresh_is_rendered_again(world):
    data = fits(catalog_seed=1)
    world.add_frame(fits=data)
    world.invoke()
    key = thumbnail_key(BASENAME, md5(data), DEFAULT)
    _age(key, 29.99)

    def lifecycle_deletes_it(**kwargs):
        world.s3.delete_object(Bucket=BUCKET, Key=key)

    world.s3.meta.events.register("before-call.s3.CopyObject", lifecycle_deletes_it)
    response = world.invoke(query=INLINE)

    assert response["statusCode"] == 200
    assert body_bytes(response) == expected(data)
    assert len(world.downloads()) == 2  # rendered again
    assert datetime.now(UTC) - world.s3.head_object(Bucket=BUCKET, Key=key)[
        "LastModified"
    ] < timedelta(minutes=1)
