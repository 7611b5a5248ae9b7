"""Pregeneration: every new frame gets its preset thumbnails, under the API's own keys.

Real boto3 against moto, the real renderer on small FITS files, events from ``events/``.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from astropy.io import fits
from moto import mock_aws
from PIL import Image

from tests.conftest import load_event
from tests.support.fits_factory import hdulist_bytes, image_hdu, lco_cards, reduced_frame_bytes
from tests.support.pregenerate_support import (
    CACHE_BUCKET,
    DATA_BUCKET,
    DEFAULT_PRESETS,
    cached,
    cached_image,
    keys_of,
    object_version,
    preset_keys,
    put_frame,
    s3_put_event,
    sqs_event,
    superseded,
)
from thumbnails import cache_keys, pregenerate, s3_events
from thumbnails.errors import UnreadableFrame
from thumbnails.params import ThumbnailParams


def expected_render(data: bytes, params: ThumbnailParams) -> bytes:
    from thumbnails.imaging import render

    return render.render_thumbnail([data], params).data


def reasons(logs, message: str) -> list[str]:
    return [getattr(r, "reason", "") for r in logs if r.getMessage() == message]


def frame(**kwargs) -> bytes:
    return reduced_frame_bytes((48, 64), compression="RICE_1", **kwargs)


# --------------------------------------------------------------------------- rendering
def test_a_put_event_renders_every_preset_under_the_keys_the_api_computes(s3, lambda_context):
    event = load_event("s3-put.json")  # exactly what `sam local invoke -e` sends
    key = event["Records"][0]["s3"]["object"]["key"]
    data = frame()
    etag = put_frame(s3, key, data)

    result = pregenerate.handler(event, lambda_context)

    basename = "lsc1m005-fa15-20260101-0100-e91"
    objects = cached(s3)
    assert set(objects) == preset_keys(basename, etag)
    for params in DEFAULT_PRESETS:
        stored_key = cache_keys.thumbnail_key(basename, etag, params)
        assert stored_key == f"{basename}/{etag}/{params.digest()}.jpg"
        head = objects[stored_key]
        assert head["ContentType"] == "image/jpeg"
        # The image's WCS, as the API writes it (test_api_wcs.py compares the two).
        assert json.loads(head["Metadata"].pop("wcs"))["ctype"] == ["RA---TAN", "DEC--TAN"]
        assert head["Metadata"] == {
            "source-version": etag,
            "basename": basename,
            "orientation": "north",
        }
        assert cached_image(s3, stored_key) == expected_render(data, params)
    assert result["results"][0]["rendered"]


def test_thumbnails_fit_their_preset_box(s3, lambda_context):
    version = put_frame(s3, "raw/big-e91.fits.fz", frame(data=np.zeros((300, 1200), np.float32)))
    pregenerate.handler(s3_put_event("raw/big-e91.fits.fz"), lambda_context)

    sizes = {
        params.width: Image.open(io.BytesIO(cached_image(s3, key))).size
        for params in DEFAULT_PRESETS
        for key in [cache_keys.thumbnail_key("big-e91", version, params)]
    }
    assert sizes == {200: (200, 50), 1000: (1000, 250)}


def test_one_download_and_one_decode_serve_every_preset(s3, lambda_context, renders):
    data = frame()
    put_frame(s3, "raw/one-e91.fits.fz", data)
    pregenerate.handler(s3_put_event("raw/one-e91.fits.fz"), lambda_context)

    assert renders["load_frame"] == [len(data)]
    assert renders["render_frames"] == list(DEFAULT_PRESETS)


def test_presets_come_from_the_setting(s3, lambda_context, monkeypatch):
    monkeypatch.setenv("PREGENERATE_PRESETS", "width=64&format=png; width=32&stretch=linear")
    pregenerate.reset()
    version = put_frame(s3, "raw/p-e91.fits", reduced_frame_bytes((48, 64)))
    pregenerate.handler(s3_put_event("raw/p-e91.fits"), lambda_context)

    assert set(cached(s3)) == {
        cache_keys.thumbnail_key("p-e91", version, ThumbnailParams(width=64, format="png")),
        cache_keys.thumbnail_key("p-e91", version, ThumbnailParams(width=32, stretch="linear")),
    }


# --------------------------------------------------------------------------- per-record failures
def test_a_batch_reports_exactly_its_corrupt_frame_as_failed_and_skips_the_missing_one(
    s3, lambda_context, logs
):
    event = load_event("sqs-s3-batch.json")  # good, corrupt, missing, s3:TestEvent
    good, corrupt, missing, test_event = event["Records"]
    key_of = {
        r["messageId"]: json.loads(r["body"])["Records"][0]["s3"]["object"]["key"]
        for r in (good, corrupt, missing)
    }
    put_frame(s3, key_of[good["messageId"]], frame())
    put_frame(s3, key_of[corrupt["messageId"]], frame()[:4000])  # header fine, data cut short

    response = pregenerate.handler(event, lambda_context)

    # The missing frame is not retried into the dead-letter queue: no retry can find it.
    assert response == {"batchItemFailures": [{"itemIdentifier": corrupt["messageId"]}]}
    assert set(cached(s3)) == keys_of(s3, key_of[good["messageId"]])
    failures = {
        r.key: (r.error, r.reason) for r in logs if r.getMessage() == "pregeneration failed"
    }
    assert set(failures) == {key_of[corrupt["messageId"]]}
    assert failures[key_of[corrupt["messageId"]]][0] == "UnreadableFrame"
    assert "truncated" in failures[key_of[corrupt["messageId"]]][1]
    skipped = {r.key: r.reason for r in logs if r.getMessage() == "skipped"}
    assert skipped == {key_of[missing["messageId"]]: "the object no longer exists"}


def test_a_batch_where_every_record_fails_still_answers_with_a_partial_response(s3, lambda_context):
    put_frame(s3, "raw/bad-e91.fits", b"SIMPLE  = this is not a FITS header at all" * 100)
    put_frame(s3, "raw/empty-e91.fits", b"")
    event = sqs_event(s3_put_event("raw/bad-e91.fits"), s3_put_event("raw/empty-e91.fits"))

    response = pregenerate.handler(event, lambda_context)

    assert response == {
        "batchItemFailures": [{"itemIdentifier": "message-0"}, {"itemIdentifier": "message-1"}]
    }


def test_a_message_that_is_not_an_s3_event_fails_its_record(s3, lambda_context):
    response = pregenerate.handler(sqs_event("Hello from SQS!", {"foo": 1}), lambda_context)
    assert response == {
        "batchItemFailures": [{"itemIdentifier": "message-0"}, {"itemIdentifier": "message-1"}]
    }


def test_a_direct_event_tries_every_object_then_raises_the_failure(s3, lambda_context):
    put_frame(s3, "raw/bad-e91.fits.fz", frame()[:4000])
    put_frame(s3, "raw/good-e91.fits.fz", frame())

    with pytest.raises(UnreadableFrame, match="truncated"):
        pregenerate.handler(
            s3_put_event("raw/bad-e91.fits.fz", "raw/good-e91.fits.fz"), lambda_context
        )
    assert set(cached(s3)) == keys_of(s3, "raw/good-e91.fits.fz")


def test_a_frame_larger_than_the_download_limit_fails_before_it_is_downloaded(
    s3, lambda_context, monkeypatch, renders
):
    monkeypatch.setenv("MAX_DOWNLOAD_BYTES", "1000")
    pregenerate.reset()
    put_frame(s3, "raw/huge-e91.fits", reduced_frame_bytes((48, 64)))
    response = pregenerate.handler(sqs_event(s3_put_event("raw/huge-e91.fits")), lambda_context)

    assert response["batchItemFailures"] == [{"itemIdentifier": "message-0"}]
    assert renders["load_frame"] == []


def test_an_empty_object_fails_as_unreadable(s3, lambda_context, logs):
    put_frame(s3, "raw/empty-e91.fits", b"")
    response = pregenerate.handler(sqs_event(s3_put_event("raw/empty-e91.fits")), lambda_context)

    assert response["batchItemFailures"] == [{"itemIdentifier": "message-0"}]
    assert reasons(logs, "pregeneration failed") == ["the object is empty"]


def test_a_frame_overwritten_while_it_is_read_is_left_to_the_newer_versions_event(
    s3, lambda_context, logs
):
    key = "raw/race-e91.fits"
    put_frame(s3, key, reduced_frame_bytes((300, 300), seed=1))
    client = pregenerate.resources().pregenerator.s3

    reads = []

    def overwrite_after_the_header(**kwargs):
        reads.append(kwargs)
        if len(reads) == 1:  # between the header read and the download
            s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=reduced_frame_bytes((300, 300)))

    client.meta.events.register("after-call.s3.GetObject", overwrite_after_the_header)
    pregenerate.handler(s3_put_event(key), lambda_context)

    assert len(reads) == 2
    assert cached(s3) == {}
    assert reasons(logs, "skipped") == ["superseded by a newer version of the object"]


def test_a_frame_deleted_while_it_is_read_is_skipped_not_retried(s3, lambda_context, logs):
    key = "raw/vanishing-e91.fits"  # 360 KB: its header first, then the whole frame
    put_frame(s3, key, reduced_frame_bytes((300, 300), seed=1))
    client = pregenerate.resources().pregenerator.s3
    reads = []

    def delete_after_the_header(**kwargs):
        reads.append(kwargs)
        if len(reads) == 1:
            s3.delete_object(Bucket=DATA_BUCKET, Key=key)

    client.meta.events.register("after-call.s3.GetObject", delete_after_the_header)
    response = pregenerate.handler(sqs_event(s3_put_event(key)), lambda_context)

    assert response == {"batchItemFailures": []}
    assert cached(s3) == {}
    assert reasons(logs, "skipped") == ["the object no longer exists"]


# --------------------------------------------------------------------------- idempotence
def test_the_same_event_delivered_twice_renders_once(s3, lambda_context, renders):
    put_frame(s3, "raw/twice-e91.fits.fz", frame())
    event = s3_put_event("raw/twice-e91.fits.fz")  # the placeholder eTag of the sam event

    pregenerate.handler(event, lambda_context)
    first = {key: head["LastModified"] for key, head in cached(s3).items()}
    second = pregenerate.handler(event, lambda_context)

    assert len(renders["render_frames"]) == len(DEFAULT_PRESETS)
    assert {key: head["LastModified"] for key, head in cached(s3).items()} == first
    assert second["results"][0]["skipped"] == "already pregenerated"


def test_a_duplicate_carrying_the_etag_is_recognised_without_reading_the_frame(
    s3, lambda_context, renders
):
    etag = put_frame(s3, "raw/dup-e91.fits.fz", frame())
    event = s3_put_event("raw/dup-e91.fits.fz", etag=etag)
    pregenerate.handler(event, lambda_context)

    gets = []
    client = pregenerate.resources().pregenerator.s3
    client.meta.events.register("before-call.s3.GetObject", lambda **kw: gets.append(kw))
    pregenerate.handler(event, lambda_context)

    assert gets == []
    assert len(renders["render_frames"]) == len(DEFAULT_PRESETS)


def test_an_interrupted_attempt_renders_what_is_missing_on_the_next_delivery(
    s3, lambda_context, renders
):
    put_frame(s3, "raw/half-e91.fits.fz", frame())
    event = s3_put_event("raw/half-e91.fits.fz")
    pregenerate.handler(event, lambda_context)
    version = object_version(s3, "raw/half-e91.fits.fz")
    large = cache_keys.thumbnail_key("half-e91", version, DEFAULT_PRESETS[1])
    s3.delete_object(Bucket=CACHE_BUCKET, Key=large)  # as if the Lambda died before it
    small = cache_keys.thumbnail_key("half-e91", version, DEFAULT_PRESETS[0])
    written = s3.head_object(Bucket=CACHE_BUCKET, Key=small)["LastModified"]

    pregenerate.handler(event, lambda_context)

    # Only what is missing is rendered: stored objects are never written again.
    assert renders["render_frames"] == [*DEFAULT_PRESETS, DEFAULT_PRESETS[1]]
    assert set(cached(s3)) == preset_keys("half-e91", version)
    assert s3.head_object(Bucket=CACHE_BUCKET, Key=small)["LastModified"] == written


def test_a_preset_the_api_already_rendered_from_this_version_is_kept_as_it_is(
    s3, lambda_context, renders
):
    # The object is new; before its event is processed, the API renders the default request
    # from it. Pregeneration renders only the other preset and never rewrites an object.
    key, basename = "raw/early-e91.fits.fz", "early-e91"
    version = put_frame(s3, key, frame(seed=2))
    default = cache_keys.thumbnail_key(basename, version, ThumbnailParams())
    s3.put_object(Bucket=CACHE_BUCKET, Key=default, Body=b"the API's render")

    pregenerate.handler(s3_put_event(key, etag=version), lambda_context)

    assert set(cached(s3)) == preset_keys(basename, version)
    assert renders["render_frames"] == [DEFAULT_PRESETS[1]]
    assert cached_image(s3, default) == b"the API's render"


# --------------------------------------------------------------------------- versions
def test_a_new_version_gets_new_keys_and_the_old_versions_thumbnails_are_marked_superseded(
    s3, lambda_context, logs
):
    key, basename = "raw/over-e91.fits.fz", "over-e91"
    old, new = frame(catalog_seed=1, seed=1), frame(catalog_seed=2, seed=2, sky=300.0)
    old_version = put_frame(s3, key, old)
    pregenerate.handler(s3_put_event(key), lambda_context)
    on_demand = cache_keys.thumbnail_key(basename, old_version, ThumbnailParams(label="old"))
    s3.put_object(Bucket=CACHE_BUCKET, Key=on_demand, Body=b"an API render of the old data")
    old_format = f"{basename}/{ThumbnailParams().digest()}.jpg"  # before versions were keyed
    s3.put_object(Bucket=CACHE_BUCKET, Key=old_format, Body=b"a thumbnail of unknown data")
    other_frame = preset_keys("over-e91x", old_version)  # shares the prefix "over-e91"
    for other in other_frame:
        s3.put_object(Bucket=CACHE_BUCKET, Key=other, Body=b"another frame's thumbnail")

    new_version = put_frame(s3, key, new)
    pregenerate.handler(s3_put_event(key), lambda_context)

    objects = cached(s3)
    assert new_version != old_version
    old_keys = preset_keys(basename, old_version) | {on_demand, old_format}
    new_presets = preset_keys(basename, new_version)
    # Nothing is deleted: links handed out for the old thumbnails work until they expire.
    assert set(objects) == new_presets | other_frame | old_keys
    assert {k for k in objects if superseded(s3, k)} == old_keys
    for params in DEFAULT_PRESETS:
        stored_key = cache_keys.thumbnail_key(basename, new_version, params)
        assert objects[stored_key]["Metadata"]["source-version"] == new_version
        pixels = np.asarray(Image.open(io.BytesIO(cached_image(s3, stored_key))))
        from_new = np.asarray(Image.open(io.BytesIO(expected_render(new, params))))
        from_old = np.asarray(Image.open(io.BytesIO(expected_render(old, params))))
        np.testing.assert_array_equal(pixels, from_new)
        assert not np.array_equal(pixels, from_old)
    marked = [r for r in logs if r.getMessage() == "marked other versions' thumbnails superseded"]
    assert [r.marked for r in marked] == [4]  # two presets, one API render, one old key


def test_a_failure_to_mark_other_versions_is_logged_and_not_fatal(s3, lambda_context, logs):
    from botocore.exceptions import ClientError

    key, basename = "raw/keep-e91.fits.fz", "keep-e91"
    old_version = put_frame(s3, key, frame(seed=1))
    pregenerate.handler(s3_put_event(key), lambda_context)
    new_version = put_frame(s3, key, frame(seed=2))

    def denied(**_):
        raise ClientError(
            {"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}},
            "CopyObject",
        )

    store_client = pregenerate.resources().pregenerator.store.s3
    store_client.meta.events.register("before-call.s3.CopyObject", denied)
    response = pregenerate.handler(sqs_event(s3_put_event(key)), lambda_context)

    assert response == {"batchItemFailures": []}
    assert set(cached(s3)) == preset_keys(basename, old_version) | preset_keys(
        basename, new_version
    )
    warnings = [
        r for r in logs if r.getMessage() == "other versions left unmarked: marking them failed"
    ]
    assert [(w.error, w.version) for w in warnings] == [("StorageError", new_version)]
    assert "AccessDenied" in warnings[0].reason


def corrupt_tiles(data: bytes) -> bytes:
    """`data` with the compressed tiles of its image overwritten: headers intact."""
    from thumbnails.imaging.hdus import iter_hdus, select_image

    info = select_image(list(iter_hdus(data))).hdus[0]
    heap = info.data_start + info.table["NAXIS1"] * info.table["NAXIS2"]
    return data[:heap] + b"\xff" * (info.data_end - heap) + data[info.data_end :]


def test_a_new_version_with_corrupt_tiles_fails_before_the_old_thumbnails_go(s3, lambda_context):
    # A streamed frame is decoded after load_frame: the tiles are read (and found corrupt)
    # before any thumbnail of the new version is written or any other version's deleted.
    key = "raw/broken-e91.fits.fz"
    put_frame(s3, key, frame(seed=1))
    pregenerate.handler(s3_put_event(key), lambda_context)
    before = {k: cached_image(s3, k) for k in cached(s3)}
    first_version = keys_of(s3, key)
    put_frame(s3, key, corrupt_tiles(frame(seed=2)))

    with pytest.raises(UnreadableFrame, match="corrupt"):
        pregenerate.handler(s3_put_event(key), lambda_context)

    assert set(before) == first_version
    assert {k: cached_image(s3, k) for k in cached(s3)} == before


def test_a_late_event_for_an_older_version_renders_nothing(s3, lambda_context, renders):
    key = "raw/late-e91.fits.fz"
    old_etag = put_frame(s3, key, frame(seed=1))
    put_frame(s3, key, frame(seed=2))
    pregenerate.handler(s3_put_event(key), lambda_context)  # renders the current version

    result = pregenerate.handler(s3_put_event(key, etag=old_etag), lambda_context)

    assert len(renders["render_frames"]) == len(DEFAULT_PRESETS)
    assert result["results"][0]["skipped"] == "already pregenerated"
    assert set(cached(s3)) == keys_of(s3, key)


# --------------------------------------------------------------------------- what is taken
@pytest.mark.parametrize(
    "key",
    [
        "3f2a/lsc1m005-fa15-20260101-0100-e91",  # {sha1(basename)[:4]}/{basename}
        "LSC/fa15/20260101/lsc1m005-fa15-20260101-0100-e91",  # {SITE}/{INST}/{DAYOBS}/...
        "lsc/fa15/20260101/processed/lsc1m005-fa15-20260101-0100-e91.fits.fz",  # ingester
        "lsc/fa15/20260101/raw/lsc1m005-fa15-20260101-0100-e91.FITS",
    ],
)
def test_the_archives_object_layouts_are_recognised_by_their_bytes_or_name(s3, lambda_context, key):
    version = put_frame(s3, key, frame())
    pregenerate.handler(s3_put_event(key), lambda_context)

    assert set(cached(s3)) == preset_keys("lsc1m005-fa15-20260101-0100-e91", version)


def test_a_gzipped_frame_is_recognised_by_its_gzip_magic(s3, lambda_context):
    from tests.support.fits_factory import gzip_bytes

    key = "lsc/fa15/20260101/raw/lsc1m005-fa15-20260101-0100-e00.fits.gz"
    version = put_frame(s3, key, gzip_bytes(frame()))
    pregenerate.handler(s3_put_event(key), lambda_context)

    assert set(cached(s3)) == preset_keys("lsc1m005-fa15-20260101-0100-e00", version)


def test_a_frame_with_a_fits_content_type_is_taken_whatever_its_name(s3, lambda_context):
    # Recognised from the Content-Type alone: the name says nothing, and the bytes are
    # unreadable, so it fails as an unreadable frame rather than being skipped.
    key = "lsc/fa15/20260101/raw/odd-e91.dat"
    s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=b"\0" * 3000, ContentType="image/fits")
    with pytest.raises(UnreadableFrame):
        pregenerate.handler(s3_put_event(key), lambda_context)
    s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=b"\0" * 3000, ContentType="text/plain")
    assert pregenerate.handler(s3_put_event(key), lambda_context)["results"][0]["skipped"]


@pytest.mark.parametrize(
    ("key", "body"),
    [
        ("raw/notes.txt", b"observing notes"),
        ("raw/preview-e91.jpg", b"\xff\xd8\xff\xe0 a JPEG"),
        ("3f2a/catalogue", b"\x1f\x8b not really gzip"),
        ("raw/empty", b""),
    ],
)
def test_an_object_that_is_not_fits_by_name_type_or_bytes_is_skipped_with_a_reason(
    s3, lambda_context, logs, renders, key, body
):
    put_frame(s3, key, body)
    pregenerate.handler(s3_put_event(key), lambda_context)

    assert cached(s3) == {}
    assert renders["load_frame"] == []
    (reason,) = reasons(logs, "skipped")
    assert reason.startswith("not FITS")


def test_the_suffixes_come_from_the_setting(s3, lambda_context, monkeypatch):
    # A name with a configured suffix is a frame: unreadable bytes then fail (and are
    # retried) instead of being skipped as something else.
    monkeypatch.setenv("PREGENERATE_SUFFIXES", ".dat")
    pregenerate.reset()
    put_frame(s3, "raw/z-e91.dat", b"not FITS at all" * 100)
    put_frame(s3, "raw/y-e91.bin", b"not FITS at all" * 100)
    with pytest.raises(UnreadableFrame):
        pregenerate.handler(s3_put_event("raw/z-e91.dat"), lambda_context)
    skipped = pregenerate.handler(s3_put_event("raw/y-e91.bin"), lambda_context)
    assert skipped["results"][0]["skipped"].startswith("not FITS: neither its name (.dat)")


@pytest.mark.parametrize(("obstype", "shown"), [("FOCUS", "FOCUS"), ("", "(missing)")])
def test_a_frame_whose_obstype_is_not_eligible_is_skipped_with_a_reason(
    s3, lambda_context, logs, renders, obstype, shown
):
    put_frame(s3, "raw/focus-e91.fits.fz", frame(obstype=obstype))
    pregenerate.handler(s3_put_event("raw/focus-e91.fits.fz"), lambda_context)

    assert cached(s3) == {}
    assert renders["load_frame"] == []
    assert reasons(logs, "skipped") == [f"OBSTYPE {shown} is not in VALID_CONFIGURATION_TYPES"]


def test_the_eligible_obstypes_come_from_the_setting(s3, lambda_context, monkeypatch):
    monkeypatch.setenv("VALID_CONFIGURATION_TYPES", "BIAS,DARK")
    pregenerate.reset()
    put_frame(s3, "raw/expose-e91.fits.fz", frame(obstype="EXPOSE"))
    put_frame(s3, "raw/bias-b00.fits.fz", frame(obstype="bias"))
    event = s3_put_event("raw/expose-e91.fits.fz", "raw/bias-b00.fits.fz")
    pregenerate.handler(event, lambda_context)

    assert set(cached(s3)) == keys_of(s3, "raw/bias-b00.fits.fz")


def test_only_the_header_is_downloaded_for_a_frame_that_is_skipped(s3, lambda_context):
    big = reduced_frame_bytes((300, 300), obstype="FOCUS")  # 360 KB
    put_frame(s3, "raw/skip-e91.fits", big)
    ranges = []
    client = pregenerate.resources().pregenerator.s3
    client.meta.events.register(
        "before-call.s3.GetObject", lambda params, **kw: ranges.append(params["headers"])
    )
    pregenerate.handler(s3_put_event("raw/skip-e91.fits"), lambda_context)

    assert [headers.get("Range") for headers in ranges] == ["bytes=0-65535"]


def test_an_eligible_frame_is_downloaded_whole_only_after_its_header(s3, lambda_context):
    etag = put_frame(s3, "raw/two-e91.fits", reduced_frame_bytes((300, 300)))
    calls = []
    client = pregenerate.resources().pregenerator.s3
    client.meta.events.register(
        "before-call.s3.GetObject", lambda params, **kw: calls.append(params["headers"])
    )
    pregenerate.handler(s3_put_event("raw/two-e91.fits"), lambda_context)

    assert [(h.get("Range"), h.get("If-Match")) for h in calls] == [
        ("bytes=0-65535", None),
        (None, f'"{etag}"'),
    ]
    assert set(cached(s3)) == preset_keys("two-e91", etag)


def test_a_header_longer_than_the_prefix_is_read_from_the_whole_frame(s3, lambda_context):
    primary = fits.Header(lco_cards())
    for index in range(1200):  # 96 KB of cards before the END card
        primary.add_comment(f"pipeline note {index}")
    data = hdulist_bytes(
        [fits.PrimaryHDU(header=primary), image_hdu(np.ones((32, 32), np.float32), name="SCI")]
    )
    put_frame(s3, "raw/long-e91.fits", data)
    pregenerate.handler(s3_put_event("raw/long-e91.fits"), lambda_context)

    assert set(cached(s3)) == keys_of(s3, "raw/long-e91.fits")


def test_a_basename_the_api_cannot_serve_is_skipped_with_a_reason(s3, lambda_context, logs):
    put_frame(s3, "raw/my frame (1).fits", frame())
    pregenerate.handler(s3_put_event("raw/my frame (1).fits"), lambda_context)

    assert cached(s3) == {}
    assert reasons(logs, "skipped")[0].startswith("basename cannot be a cache key")


@pytest.mark.filterwarnings("ignore:No application metrics")
def test_an_s3_test_event_is_ignored(s3, lambda_context, logs):
    test_event = load_event("sqs-s3-batch.json")["Records"][3]
    assert json.loads(test_event["body"])["Event"] == "s3:TestEvent"

    response = pregenerate.handler({"Records": [test_event]}, lambda_context)

    assert response == {"batchItemFailures": []}
    assert cached(s3) == {}
    assert any(r.getMessage() == "ignoring s3:TestEvent" for r in logs)


@pytest.mark.filterwarnings("ignore:No application metrics")
def test_records_of_other_s3_events_are_ignored(s3, lambda_context):
    put_frame(s3, "raw/deleted-e91.fits.fz", frame())
    event = s3_put_event("raw/deleted-e91.fits.fz")
    event["Records"][0]["eventName"] = "ObjectRemoved:Delete"

    assert pregenerate.handler(event, lambda_context) == {"results": []}
    assert cached(s3) == {}


# --------------------------------------------------------------------------- event shapes
def test_an_eventbridge_event_in_an_sqs_message_is_accepted(s3, lambda_context):
    event = load_event("sqs-eventbridge.json")
    key = json.loads(event["Records"][0]["body"])["detail"]["object"]["key"]
    put_frame(s3, key, frame())

    assert pregenerate.handler(event, lambda_context) == {"batchItemFailures": []}
    assert set(cached(s3)) == keys_of(s3, key)


def test_an_eventbridge_event_invoked_directly_is_accepted(s3, lambda_context):
    event = load_event("eventbridge-object-created.json")
    put_frame(s3, event["detail"]["object"]["key"], frame())

    pregenerate.handler(event, lambda_context)
    assert set(cached(s3)) == keys_of(s3, event["detail"]["object"]["key"])


@pytest.mark.parametrize(
    ("key", "encoded"),
    [
        ("raw data/2026 01/spaced-e91.fits.fz", "raw+data/2026+01/spaced-e91.fits.fz"),
        ("raw/c++/plus-e91.fits.fz", "raw/c%2B%2B/plus-e91.fits.fz"),
        ("raw/a%20b/percent-e91.fits.fz", "raw/a%2520b/percent-e91.fits.fz"),
    ],
)
def test_url_encoded_keys_are_decoded(s3, lambda_context, key, encoded):
    put_frame(s3, key, frame())
    event = s3_put_event("placeholder")
    event["Records"][0]["s3"]["object"]["key"] = encoded
    eventbridge = load_event("eventbridge-object-created.json")
    eventbridge["detail"]["bucket"]["name"] = DATA_BUCKET
    eventbridge["detail"]["object"]["key"] = encoded

    pregenerate.handler(event, lambda_context)
    assert set(cached(s3)) == keys_of(s3, key)
    s3.delete_objects(
        Bucket=CACHE_BUCKET, Delete={"Objects": [{"Key": k} for k in keys_of(s3, key)]}
    )
    pregenerate.handler(sqs_event(eventbridge), lambda_context)
    assert set(cached(s3)) == keys_of(s3, key)


def test_a_malformed_s3_record_is_an_unrecognised_event():
    with pytest.raises(s3_events.UnrecognisedEvent, match="missing"):
        s3_events.objects_created(
            {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]}
        )
    with pytest.raises(s3_events.UnrecognisedEvent):
        s3_events.objects_created({"hello": "world"})


# --------------------------------------------------------------------------- observability
def test_metrics_count_thumbnails_skips_and_failures(s3, lambda_context, capsys):
    put_frame(s3, "raw/m-e91.fits.fz", frame())
    put_frame(s3, "raw/m-e91.txt", b"text")
    put_frame(s3, "raw/c-e91.fits", b"")
    event = sqs_event(
        s3_put_event("raw/m-e91.fits.fz"),
        s3_put_event("raw/m-e91.txt"),
        s3_put_event("raw/x.fits"),  # gone: skipped
        s3_put_event("raw/c-e91.fits"),  # empty: failed
    )
    pregenerate.handler(event, lambda_context)

    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    values = {}
    for blob in emf:
        for metric in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            value = blob[metric["Name"]]
            values[metric["Name"]] = sum(value) if isinstance(value, list) else value
    assert values == {"PregeneratedThumbnails": 2, "PregenerateSkipped": 2, "PregenerateFailed": 1}


def test_clients_are_built_once_per_container_until_reset(s3):
    assert pregenerate.resources() is pregenerate.resources()
    pregenerate.reset()
    first = pregenerate.resources()
    pregenerate.reset()
    assert pregenerate.resources() is not first


@mock_aws
def test_an_unconfigured_cache_bucket_fails_loudly(monkeypatch, lambda_context):
    monkeypatch.delenv("THUMBNAIL_BUCKET", raising=False)
    monkeypatch.delenv("AWS_BUCKET", raising=False)
    pregenerate.reset()
    try:
        with pytest.raises(Exception, match="THUMBNAIL_BUCKET"):
            pregenerate.resources()
    finally:
        pregenerate.reset()
