"""``sam local start-api``: a thumbnail over HTTP through SAM's API Gateway emulation."""

from __future__ import annotations

import pytest

from .frames import assert_visible, frame_bytes, frame_key, image_of

pytestmark = pytest.mark.integration


def test_a_thumbnail_over_http_through_the_emulated_api_gateway(sam, stack):
    frame = stack.add_frame(frame_key(301), frame_bytes(seed=301))

    with sam.start_api() as api:
        # A browser's <img>: its first Accept type is binary (the template's BinaryMediaTypes),
        # so API Gateway turns the base64 body back into bytes.
        status, content_type, data = sam.get(
            f"{api}/{frame.id}/?width=160&height=160&image=inline",
            {"Accept": "image/avif,image/webp,*/*"},
            label="sam local start-api: GET image=inline, miss",
        )

    assert (status, content_type) == (200, "image/jpeg"), sam.log_of_start_api()
    image = image_of(data)
    assert (image.format, image.size) == ("JPEG", (160, 120))
    assert_visible(image)
