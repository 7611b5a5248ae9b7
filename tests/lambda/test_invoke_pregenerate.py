"""``sam local invoke PregenerateFunction``: an SQS batch of new frames, partial failures."""

from __future__ import annotations

import pytest

from tests.support.api_support import body_json

from .events import api_event, sqs_s3_batch
from .frames import FULL_SIZE, fetch, frame_bytes, frame_key, image_of, key_of
from .stack import DATA_BUCKET, THUMBNAIL_BUCKET

pytestmark = pytest.mark.integration


def test_a_batch_fails_exactly_its_corrupt_frame_and_the_api_then_hits(sam, stack):
    good_bytes = frame_bytes(seed=201)
    corrupt_bytes = frame_bytes(seed=202)[:4000]  # the header is fine, the data cut short
    good = stack.add_frame(frame_key(201), good_bytes)
    corrupt = stack.add_frame(frame_key(202), corrupt_bytes, catalogue=False)
    event = sqs_s3_batch(
        DATA_BUCKET,
        [(good.key, len(good_bytes), good.etag), (corrupt.key, len(corrupt_bytes), corrupt.etag)],
    )
    corrupt_message = event["Records"][1]["messageId"]

    result = sam.invoke("PregenerateFunction", event, label="SQS batch, good + corrupt")

    assert result == {"batchItemFailures": [{"itemIdentifier": corrupt_message}]}
    assert stack.thumbnails(corrupt.basename) == {}
    # The presets (stack.PRESETS): 200x200 and 1000x1000 boxes; a 400x300 frame is never enlarged.
    pregenerated = stack.thumbnails(good.basename)
    sizes = set()
    for key in pregenerated:
        data = stack.s3.get_object(Bucket=THUMBNAIL_BUCKET, Key=key)["Body"].read()
        image = image_of(data)
        assert image.format == "JPEG"
        sizes.add(image.size)
    assert sizes == {(200, 150), FULL_SIZE}

    # The API's default size (200x200) is one of them: a hit, nothing rendered or written.
    answer = sam.invoke("ThumbnailFunction", api_event(f"/{good.id}/"), label="default size, hit")

    assert answer["statusCode"] == 200, answer
    url = body_json(answer)["url"]
    assert key_of(url, THUMBNAIL_BUCKET) in pregenerated
    assert stack.thumbnails(good.basename) == pregenerated  # same objects, same ETags and times
    status, content_type, data = fetch(url)
    assert (status, content_type) == (200, "image/jpeg")
    assert image_of(data).size == (200, 150)
