"""The JSON answer's ``wcs``: the same on a miss and on a hit, and the same as the AVM in the
image; a hit reads it from the object's metadata (no image download); ``wcs=`` only says
whether the image carries the AVM packet.

Real FITS frames, the real renderer, moto S3, the archive faked at the HTTP level; the AVM is
read back from the served image by pyavm.
"""

from __future__ import annotations

import hashlib
import io
import warnings

import boto3
import numpy as np
import pytest
from PIL import Image
from pyavm import AVM

from tests.support.api_support import (
    BASENAME,
    BUCKET,
    ApiWorld,
    body_bytes,
    body_json,
)
from tests.support.cutout_support import sky_frame
from tests.support.fits_factory import reduced_frame_bytes
from tests.support.pregenerate_support import LambdaContext, s3_put_event
from thumbnails import pregenerate
from thumbnails.cache_keys import WCS, thumbnail_key, thumbnail_metadata
from thumbnails.imaging.avm import ImageWcs
from thumbnails.imaging.render import Thumbnail
from thumbnails.params import ThumbnailParams

#: S3's limit on a object's user metadata: names and values, UTF-8 bytes, all together.
S3_USER_METADATA_LIMIT = 2048


@pytest.fixture
def s3_calls(world):
    """The S3 operations the service makes from here on (its own boto3 client)."""
    calls: list[str] = []
    world.s3.meta.events.register(
        "before-call.s3", lambda model, **_: calls.append(model.name), unique_id="wcs-test"
    )
    yield calls
    world.s3.meta.events.unregister("before-call.s3", unique_id="wcs-test")


def _avm(data: bytes, tmp_path) -> AVM:
    path = tmp_path / "image.jpg"
    path.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return AVM.from_image(str(path))


def _assert_agrees_with_avm(wcs: dict, avm: AVM) -> None:
    assert wcs["ctype"] == ["RA---TAN", "DEC--TAN"]
    assert [wcs["width"], wcs["height"]] == list(avm.Spatial.ReferenceDimension)
    assert wcs["crpix"] == list(avm.Spatial.ReferencePixel)
    assert wcs["crval"] == list(avm.Spatial.ReferenceValue)
    assert np.allclose(avm.to_wcs().pixel_scale_matrix, wcs["cd"], rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize(
    "query",
    [
        {"wcs": "true"},
        {"wcs": "true", "orientation": "detector", "width": "120", "height": "90"},
        {"wcs": "true", "x": "200", "y": "100", "size": "90", "width": "64", "height": "64"},
    ],
    ids=["north-up", "detector", "cutout"],
)
def test_json_wcs_on_miss_and_hit_are_equal_and_agree_with_the_avm(
    world, s3_calls, query, tmp_path
):
    world.add_frame(fits=sky_frame(rotation=100.0))
    miss = world.invoke(query=query)
    assert miss["statusCode"] == 200, miss["body"]
    s3_calls.clear()
    hit = world.invoke(query=query)
    # A hit: one HEAD (as before), no image read, for the JSON answer with its wcs.
    assert s3_calls == ["HeadObject"]
    assert len(world.downloads()) == 1
    miss_wcs, hit_wcs = body_json(miss)["wcs"], body_json(hit)["wcs"]
    assert miss_wcs == hit_wcs
    image = body_bytes(world.invoke(query={**query, "image": "inline"}))
    width, height = Image.open(io.BytesIO(image)).size
    assert [miss_wcs["width"], miss_wcs["height"]] == [width, height]
    _assert_agrees_with_avm(miss_wcs, _avm(image, tmp_path))


def test_default_gives_the_json_wcs_but_no_packet_and_wcs_false_is_the_same_key(world):
    world.add_frame(fits=sky_frame())
    default = body_json(world.invoke(query={}))
    off = body_json(world.invoke(query={"wcs": "false"}))
    on = body_json(world.invoke(query={"wcs": "true"}))
    assert default["url"].split("?")[0] == off["url"].split("?")[0]
    assert on["url"].split("?")[0] != default["url"].split("?")[0]
    assert default["wcs"] == off["wcs"] == on["wcs"]
    image = body_bytes(world.invoke(query={"image": "inline"}))
    assert "xmp" not in Image.open(io.BytesIO(image)).info


def test_a_frame_without_wcs_has_no_json_wcs_on_miss_or_hit(world):
    record = world.add_frame(fits=reduced_frame_bytes((64, 80), compression="RICE_1", wcs=False))
    for _ in ("miss", "hit"):
        answer = body_json(world.invoke(query={"wcs": "true"}))
        assert "wcs" not in answer
    key = thumbnail_key(BASENAME, record["version_set"][0]["md5"], ThumbnailParams(wcs=True))
    assert WCS not in world.s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]


def test_the_wcs_in_the_metadata_leaves_room_in_s3s_2_kb():
    """The largest metadata a thumbnail can have: a colour cutout of frames with 200-character
    basenames, and a WCS whose every number takes its longest form."""
    long = -1.23456789012e-05
    wcs = ImageWcs(
        ctype=("RA---TAN", "DEC--TAN"),
        crpix=(-12345.6789012, -12345.6789012),
        crval=(359.123456789, -89.1234567891),
        cd=((long, long), (long, long)),
        width=4096,
        height=4096,
    )
    thumbnail = Thumbnail(
        data=b"",
        content_type="image/png",
        width=1,
        height=1,
        alignment="none",
        orientation="detector-no-wcs",
        color_balance="none",
        padded=True,
        wcs=wcs,
    )
    basename = "b" * 200
    version = "0" * 32
    metadata = thumbnail_metadata(basename, version, thumbnail, [(basename, version)] * 3)
    size = sum(len(k.encode()) + len(v.encode()) for k, v in metadata.items())
    assert len(WCS) + len(metadata[WCS]) <= 300
    assert size <= S3_USER_METADATA_LIMIT


FRAME = sky_frame(rotation=100.0)
DATA_BUCKET = "lco-archive-frames"


@pytest.fixture
def pregenerated(monkeypatch):
    """The API's world with `FRAME` pregenerated (the default presets)."""
    with ApiWorld.started(monkeypatch) as world:
        pregenerate.reset()
        boto3.client("s3").create_bucket(Bucket=DATA_BUCKET)
        key = f"raw/{BASENAME}.fits.fz"
        etag = boto3.client("s3").put_object(Bucket=DATA_BUCKET, Key=key, Body=FRAME)["ETag"]
        world.add_frame(fits=FRAME)
        pregenerate.handler(s3_put_event(key, etag=etag.strip('"')), LambdaContext())
        yield world
    pregenerate.reset()


def test_pregeneration_writes_the_wcs_a_hit_answers_with(pregenerated, monkeypatch):
    version = hashlib.md5(FRAME).hexdigest()
    key = thumbnail_key(BASENAME, version, ThumbnailParams())
    assert WCS in pregenerated.s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]
    hit = body_json(pregenerated.invoke(query={}))
    assert not pregenerated.downloads()  # answered from the cache
    # What the API would have rendered itself (a fresh world: a miss).
    pregenerated.s3.delete_object(Bucket=BUCKET, Key=key)
    miss = body_json(pregenerated.invoke(query={}))
    assert len(pregenerated.downloads()) == 1
    assert hit["wcs"] == miss["wcs"] is not None
