"""``image=inline`` stays inside Lambda's 6 MB response: the limit's arithmetic, and real
responses just under and just over it."""

from __future__ import annotations

import base64
import json

from tests.support.api_support import BUCKET, ApiWorld, body_bytes, header
from thumbnails import api


def _base64_size(raw: int) -> int:
    return 4 * -(-raw // 3)


def test_the_limit_is_lambdas_payload_limit_less_base64_and_the_envelope():
    assert api.LAMBDA_RESPONSE_LIMIT_BYTES == 6 * 1024 * 1024
    largest_body = _base64_size(api.INLINE_LIMIT_BYTES)
    assert largest_body + api.RESPONSE_ENVELOPE_BYTES <= api.LAMBDA_RESPONSE_LIMIT_BYTES
    # Not needlessly low either: within 2 % of what base64 allows at all.
    assert api.INLINE_LIMIT_BYTES >= 0.98 * api.LAMBDA_RESPONSE_LIMIT_BYTES * 3 / 4
    # 5,000,000 bytes would not fit: 6,666,668 once encoded.
    assert _base64_size(5_000_000) > api.LAMBDA_RESPONSE_LIMIT_BYTES


def _cached_object_of_size(world: ApiWorld, size: int) -> str:
    """Render the default inline thumbnail once, then pad the cached object to `size` bytes
    (a JPEG decoder ignores what follows its end marker), keeping its metadata."""
    world.add_frame()
    first = world.invoke("api-image-inline.json")
    assert first["statusCode"] == 200
    [key] = [item["Key"] for item in world.s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    stored = world.s3.get_object(Bucket=BUCKET, Key=key)
    data = stored["Body"].read()
    padded = data + b"\0" * (size - len(data))
    world.s3.put_object(
        Bucket=BUCKET,
        Key=key,
        Body=padded,
        ContentType=stored["ContentType"],
        Metadata=stored["Metadata"],
    )
    return key


def test_an_image_of_exactly_the_limit_is_inline_and_the_response_fits(world):
    _cached_object_of_size(world, api.INLINE_LIMIT_BYTES)
    response = world.invoke("api-image-inline.json")
    assert response["statusCode"] == 200
    assert len(body_bytes(response)) == api.INLINE_LIMIT_BYTES
    payload = json.dumps(response).encode("utf-8")
    assert len(payload) <= api.LAMBDA_RESPONSE_LIMIT_BYTES
    # What the envelope really takes: a small part of the room kept for it.
    assert len(payload) - len(response["body"]) < api.RESPONSE_ENVELOPE_BYTES // 8


def test_one_byte_over_the_limit_is_a_redirect(world):
    _cached_object_of_size(world, api.INLINE_LIMIT_BYTES + 1)
    response = world.invoke("api-image-inline.json")
    assert response["statusCode"] == 302
    assert "X-Amz-Signature=" in header(response, "Location")


def test_an_image_that_would_overflow_lambdas_payload_is_a_redirect(world):
    # The smallest image whose base64 alone exceeds the payload limit.
    too_big = api.LAMBDA_RESPONSE_LIMIT_BYTES // 4 * 3 + 1
    assert len(base64.b64encode(b"\0" * too_big)) > api.LAMBDA_RESPONSE_LIMIT_BYTES
    _cached_object_of_size(world, too_big)
    response = world.invoke("api-image-inline.json")
    assert response["statusCode"] == 302
