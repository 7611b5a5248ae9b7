"""``color=true``: the red (R/rp), visual (V) and blue (B) frames of the request, as RGB."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from tests.support.api_support import (
    ARCHIVE,
    BASENAME,
    BUCKET,
    FRAME_ID,
    REQUEST_ID,
    ApiWorld,
    body_bytes,
    body_json,
    frame_record,
    header,
)
from tests.support.fits_factory import reduced_frame_bytes
from thumbnails.cache_keys import thumbnail_key
from thumbnails.params import ThumbnailParams


def _colour_request(
    world: ApiWorld, filters=("B", "gp", "V", "rp", "V"), header: dict | None = None
) -> dict[str, dict]:
    """The requested rp frame plus the request's other level-91 frames, in archive order;
    `header` adds cards to every frame's SCI header."""
    records: dict[str, dict] = {}
    listed = []
    for index, name in enumerate(filters):
        frame_id = FRAME_ID if name == "rp" else FRAME_ID + 100 + index
        basename = BASENAME if name == "rp" else f"coj2m002-ep02-20260102-{index:04d}-e91"
        record = frame_record(frame_id, basename, filter=name)
        fits = reduced_frame_bytes(
            (64, 80), filter=name, shift=(index, -index), seed=index, header=header
        )
        world.add_frame(record, fits=fits, etag=f'"etag-{name}-{index}"', by_basename=False)
        records.setdefault(name, record)
        listed.append(record)
    world.add_request_frames(listed)
    return records


def test_colour_renders_the_red_visual_and_blue_frames_in_that_order(world, monkeypatch):
    from thumbnails.imaging import render

    seen = []
    real = render.render_frames

    def spy(frames, params):
        seen.append([frame.header["FILTER"] for frame in frames])
        return real(frames, params)

    monkeypatch.setattr(render, "render_frames", spy)
    records = _colour_request(world)
    response = world.invoke("api-color.json")
    assert response["statusCode"] == 200, response["body"]
    assert seen == [["rp", "V", "B"]]
    downloaded = [call.request.url.split("?")[0] for call in world.downloads()]
    assert downloaded == [records[n]["url"].split("?")[0] for n in ("rp", "V", "B")]


def test_the_colour_lookup_asks_for_the_request_at_reduction_level_91(world):
    _colour_request(world)
    world.invoke("api-color.json")
    lookup = [c for c in world.calls_to(f"{ARCHIVE}frames/?") if "request_id" in c.request.url]
    assert len(lookup) == 1
    assert f"request_id={REQUEST_ID}" in lookup[0].request.url
    assert "reduction_level=91" in lookup[0].request.url


def test_colour_answers_say_how_the_channels_were_aligned_hit_or_miss(world):
    records = _colour_request(world)
    miss = world.invoke("api-color.json")
    hit = world.invoke("api-color.json")
    alignment = header(miss, "X-Thumbnail-Alignment")
    assert alignment == "wcs"  # the frames carry one WCS, shifted as the images are
    assert header(hit, "X-Thumbnail-Alignment") == alignment
    assert len(world.downloads()) == 3  # the hit downloaded nothing
    versions = {name: records[name]["version_set"][0]["md5"] for name in ("rp", "V", "B")}
    channels = [(records[name]["basename"], versions[name]) for name in ("rp", "V", "B")]
    params = ThumbnailParams(width=300, height=300, color=True)
    key = thumbnail_key(BASENAME, versions["rp"], params, channels)
    metadata = world.s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]
    assert metadata["alignment"] == alignment
    assert metadata["channels"] == ",".join(f"{b}:{v}" for b, v in channels)
    assert body_json(hit)["url"].split("?")[0] == body_json(miss)["url"].split("?")[0]


@pytest.mark.parametrize(
    ("cards", "balance"),
    [
        pytest.param({"L1ZP": 24.2, "EXPTIME": 90.0}, "zeropoint", id="zeropoint"),
        pytest.param(None, "stars", id="stars"),
    ],
)
def test_colour_answers_say_how_the_channels_were_balanced_hit_or_miss(world, cards, balance):
    _colour_request(world, header=cards)
    miss = world.invoke("api-color.json")
    hit = world.invoke("api-color.json")
    assert header(miss, "X-Thumbnail-Color-Balance") == balance
    assert header(hit, "X-Thumbnail-Color-Balance") == balance
    [key] = [item["Key"] for item in world.s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert world.s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]["color-balance"] == balance
    logged = [json.loads(line) for line in world.logs]
    assert [e["color_balance"] for e in logged if e.get("message") == "thumbnail"] == [
        balance,
        balance,
    ]
    # The renderer says why, once (the hit renders nothing), with the request's id.
    (reason,) = [e for e in logged if str(e.get("message")).startswith("colour balance: ")]
    assert reason["message"].startswith(f"colour balance: {balance}, channel scales 1, ")
    assert reason["correlation_id"]


def test_a_single_frame_answer_has_no_alignment_or_balance_header(world):
    world.add_frame()
    response = world.invoke()
    assert header(response, "X-Thumbnail-Alignment") is None
    assert header(response, "X-Thumbnail-Color-Balance") is None


def test_a_colour_image_is_rgb(world):
    _colour_request(world)
    response = world.invoke("api-color.json", query={"color": "true", "image": "inline"})
    image = Image.open(io.BytesIO(body_bytes(response)))
    assert image.mode == "RGB"


@pytest.mark.parametrize("missing", ["rp", "V", "B"])
def test_a_missing_filter_is_a_404_rvb_frames_not_found(world, missing):
    filters = [f for f in ("rp", "V", "B") if f != missing]
    records = _colour_request(world, filters=tuple(filters))
    if missing == "rp":  # the requested frame is still looked up by id
        world.add_frame(frame_record(filter="ip"), by_basename=False)
    response = world.invoke("api-color.json")
    assert response["statusCode"] == 404
    # The old service's message, now saying what was found and what is missing.
    message = body_json(response)["message"]
    assert message.startswith("RVB frames not found for the ")
    assert message.endswith(", ".join(("ip", "rp", "gp") if missing == "rp" else (missing,)))
    assert world.downloads() == []  # refused from the records, before any download
    assert world.s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0
    assert set(records) == set(filters)


def test_red_may_be_the_R_filter(world, monkeypatch):
    from thumbnails.imaging import render

    seen = []
    real = render.render_frames

    def spy(frames, params):
        seen.append([frame.header["FILTER"] for frame in frames])
        return real(frames, params)

    monkeypatch.setattr(render, "render_frames", spy)
    records = _colour_request(world, filters=("R", "V", "B"))
    world.add_frame(frame_record(filter="R"), by_basename=False)  # the frame asked for
    response = world.invoke("api-color.json")
    assert response["statusCode"] == 200, response["body"]
    assert seen == [["R", "V", "B"]]
    downloaded = [call.request.url.split("?")[0] for call in world.downloads()]
    assert downloaded == [records[n]["url"].split("?")[0] for n in ("R", "V", "B")]
