"""Eligibility is the archive's current word on every request, cache hits included: a frame
whose record no longer qualifies gets the old service's 400, never its cached thumbnail."""

from __future__ import annotations

import pytest

from tests.support.api_support import ARCHIVE, BUCKET, FRAME_ID, body_json


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"configuration_type": "SCRIPT"},
            "Cannot generate thumbnail for configuration_type=SCRIPT",
        ),
        (
            {"filename": "coj2m002-ep02-20260102-0050-e91.tar.gz"},
            "Cannot generate thumbnail for non FITS-type frame",
        ),
    ],
    ids=["configuration-type", "file-type"],
)
def test_a_cached_frame_that_became_ineligible_is_refused(world, change, message):
    record = world.add_frame()
    first = world.invoke()
    assert first["statusCode"] == 200
    assert world.s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 1  # cached: the next is a hit

    world.archive.replace("GET", f"{ARCHIVE}frames/{FRAME_ID}/", json=dict(record, **change))
    refused = world.invoke()

    assert refused["statusCode"] == 400
    body = body_json(refused)
    assert set(body) == {"message"}  # no URL of the cached object
    assert body["message"] == message
    assert len(world.downloads()) == 1  # nothing downloaded for the refusal
