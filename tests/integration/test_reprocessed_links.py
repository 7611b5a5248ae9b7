"""A link lives its whole promised life, also when its frame is reprocessed (issue 24).

Black box over HTTP: moto's ``ThreadedMotoServer`` is S3 for both functions (the data bucket
and the thumbnail cache, ``STORAGE_URL``), the archive is faked with ``responses``, links are
fetched with ``urllib`` as a browser would. Pregeneration runs its Lambda handler on S3 put
events; the API runs its handler on API Gateway events.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests.support.api_support import BASENAME, BUCKET, ApiWorld, body_json, frame_record
from tests.support.fits_factory import reduced_frame_bytes
from tests.support.moto_http import moto_server
from tests.support.pregenerate_support import DATA_BUCKET, LambdaContext, s3_put_event
from thumbnails import pregenerate
from thumbnails.cache_keys import SUPERSEDED, SUPERSEDED_VALUE, thumbnail_key
from thumbnails.params import ThumbnailParams

pytestmark = pytest.mark.integration

KEY = f"raw/{BASENAME}.fits.fz"


@pytest.fixture
def world(monkeypatch) -> Iterator[ApiWorld]:
    """The API's world over moto's server, with pregeneration's clients built inside it."""
    with moto_server() as endpoint, ApiWorld.started(monkeypatch, s3_endpoint=endpoint) as world:
        pregenerate.reset()
        world.s3.create_bucket(Bucket=DATA_BUCKET)
        yield world
    pregenerate.reset()


def _fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (127.0.0.1)
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _upload_and_pregenerate(world: ApiWorld, data: bytes) -> str:
    """Store `data` as the frame's file in the data bucket and run pregeneration's handler on
    its put event; return its version."""
    etag = world.s3.put_object(Bucket=DATA_BUCKET, Key=KEY, Body=data)["ETag"].strip('"')
    assert etag == hashlib.md5(data).hexdigest()
    response = pregenerate.handler(s3_put_event(KEY, etag=etag), LambdaContext())
    assert len(response["results"][0]["rendered"]) == 2  # both presets
    return etag


def _archive_names(world: ApiWorld, data: bytes, version: str) -> None:
    """The archive's record now names `version` (the record is updated after the upload)."""
    world.archive.reset()
    record = frame_record(version_set=[{"id": 1, "key": version[:8], "md5": version}])
    world.add_frame(record, fits=data)


def test_a_link_handed_out_before_a_reprocess_still_serves_its_image(world):
    v1_bytes = reduced_frame_bytes((64, 80), compression="RICE_1", catalog_seed=1)
    v2_bytes = reduced_frame_bytes((64, 80), compression="RICE_1", catalog_seed=2, sky=300.0)
    v1 = _upload_and_pregenerate(world, v1_bytes)
    _archive_names(world, v1_bytes, v1)
    v1_link = body_json(world.invoke("api-frame-id.json"))["url"]
    v1_key = thumbnail_key(BASENAME, v1, ThumbnailParams())
    assert f"/{v1_key}?" in v1_link  # pregeneration's object: a hit
    status, v1_image = _fetch(v1_link)
    assert status == 200

    v2 = _upload_and_pregenerate(world, v2_bytes)  # the reprocess
    _archive_names(world, v2_bytes, v2)

    # The link handed out before still answers, with the image it named.
    assert _fetch(v1_link) == (200, v1_image)
    # The API now names version 2's object, another image, also pregenerated.
    v2_link = body_json(world.invoke("api-frame-id.json"))["url"]
    assert f"/{thumbnail_key(BASENAME, v2, ThumbnailParams())}?" in v2_link
    status, v2_image = _fetch(v2_link)
    assert status == 200
    assert v2_image != v1_image
    assert world.downloads() == []  # both answers were hits
    # Version 1's object is marked for the lifecycle rule; version 2's is not.
    tagged = {"Key": SUPERSEDED, "Value": SUPERSEDED_VALUE}
    assert world.s3.get_object_tagging(Bucket=BUCKET, Key=v1_key)["TagSet"] == [tagged]
    v2_key = thumbnail_key(BASENAME, v2, ThumbnailParams())
    assert world.s3.get_object_tagging(Bucket=BUCKET, Key=v2_key)["TagSet"] == []
