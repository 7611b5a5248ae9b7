"""The S3 thumbnail cache: HEAD/GET/PUT/presign/mark, and S3 failures as 502 or 503."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from moto import mock_aws

from tests.support.slow_servers import SlowServer
from thumbnails.cache_keys import SUPERSEDED, SUPERSEDED_VALUE
from thumbnails.deadline import Deadline
from thumbnails.errors import StorageError
from thumbnails.settings import Settings
from thumbnails.store import OBJECT_CACHE_CONTROL, StoredObject, ThumbnailStore, make_s3_client

BUCKET = "store-test"


@pytest.fixture
def store():
    with mock_aws():
        settings = Settings.from_env({"THUMBNAIL_BUCKET": BUCKET, "PRESIGNED_URL_EXPIRY": "7200"})
        store = ThumbnailStore.from_settings(settings)
        store.s3.create_bucket(Bucket=BUCKET)
        yield store


def test_a_missing_key_does_not_exist_and_has_no_metadata(store):
    assert store.exists("frame/abc.jpg") is False
    assert store.metadata("frame/abc.jpg") is None
    assert store.get("frame/abc.jpg") is None


def test_put_stores_type_caching_encryption_and_metadata(store):
    store.put("frame/abc.jpg", b"jpeg bytes", "image/jpeg", metadata={"source-etag": "e1"})
    head = store.s3.head_object(Bucket=BUCKET, Key="frame/abc.jpg")
    assert head["ContentType"] == "image/jpeg"
    assert head["CacheControl"] == OBJECT_CACHE_CONTROL
    assert head["ServerSideEncryption"] == "AES256"
    assert store.exists("frame/abc.jpg") is True
    assert store.metadata("frame/abc.jpg") == {"source-etag": "e1"}
    assert store.get("frame/abc.jpg") == b"jpeg bytes"


def test_an_object_is_written_once_and_never_overwritten(store):
    store.put("frame/v/abc.jpg", b"first", "image/jpeg", metadata={"n": "1"})
    store.put("frame/v/abc.jpg", b"second", "image/jpeg", metadata={"n": "2"})  # no error
    assert store.get("frame/v/abc.jpg") == b"first"
    assert store.metadata("frame/v/abc.jpg") == {"n": "1"}


def test_an_object_without_metadata_has_empty_metadata(store):
    store.put("frame/abc.jpg", b"x", "image/jpeg")
    assert store.metadata("frame/abc.jpg") == {}


def test_get_refuses_objects_above_max_bytes(store):
    store.put("frame/abc.jpg", b"x" * 100, "image/jpeg")
    assert store.get("frame/abc.jpg", max_bytes=99) is None
    assert store.get("frame/abc.jpg", max_bytes=100) == b"x" * 100


def test_presigned_urls_are_sigv4_get_urls_with_the_configured_expiry(store):
    url = store.presign("frame/abc.jpg")
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["7200"]
    assert "frame/abc.jpg" in urlsplit(url).path


def test_others_lists_a_prefix_past_a_page_but_not_what_is_under_keep(store):
    for index in range(1005):
        store.s3.put_object(Bucket=BUCKET, Key=f"frame-a/{index}.jpg", Body=b"")
    for key in ("frame-a/v2/a.jpg", "frame-ab/v1/a.jpg"):
        store.put(key, b"x", "image/jpeg")
    others = store.others("frame-a/", keep="frame-a/v2/")
    assert sorted(others) == sorted(f"frame-a/{index}.jpg" for index in range(1005))


def test_others_refuses_an_empty_prefix(store):
    with pytest.raises(ValueError):
        store.others("", keep="v/")


def _tags(store, key: str) -> dict[str, str]:
    tagging = store.s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]
    return {tag["Key"]: tag["Value"] for tag in tagging}


def test_marking_tags_an_object_keeps_it_unchanged_and_restarts_its_age(store):
    store.put("f/v1/a.jpg", b"jpeg bytes", "image/jpeg", metadata={"alignment": "wcs"})
    before = store.s3.head_object(Bucket=BUCKET, Key="f/v1/a.jpg")

    assert store.mark_superseded(["f/v1/a.jpg"]) == 1

    after = store.s3.head_object(Bucket=BUCKET, Key="f/v1/a.jpg")
    assert _tags(store, "f/v1/a.jpg") == {SUPERSEDED: SUPERSEDED_VALUE}
    assert after["Metadata"] == {**before["Metadata"], SUPERSEDED: SUPERSEDED_VALUE}
    for field in ("ETag", "ContentType", "CacheControl", "ServerSideEncryption"):
        assert after[field] == before[field], field
    assert after["LastModified"] >= before["LastModified"]  # a copy: a new creation time
    assert store.stat("f/v1/a.jpg").superseded is True
    assert store.get("f/v1/a.jpg") == b"jpeg bytes"


def test_a_marked_object_is_not_marked_again_and_a_gone_one_is_skipped(store):
    store.put("f/v1/a.jpg", b"x", "image/jpeg")
    store.mark_superseded(["f/v1/a.jpg"])
    copies = []
    store.s3.meta.events.register("before-call.s3.CopyObject", lambda **kw: copies.append(kw))

    # Marking again would restart its age: a life longer than its links need.
    assert store.mark_superseded(["f/v1/a.jpg", "f/v1/gone.jpg"]) == 0
    assert copies == []


def test_a_marking_stops_at_the_deadline_and_touches_nothing_after_it(store):
    keys = [f"f/v1/{name}.jpg" for name in "abc"]
    for key in keys:
        store.put(key, b"x", "image/jpeg")
    copied = []
    store.s3.meta.events.register(
        "before-parameter-build.s3.CopyObject", lambda params, **kw: copied.append(params["Key"])
    )
    # The deadline passes while the first copy is under way, for the marking's own checks.
    # The thread waiting in `Deadline.call` keeps the clock that stands still: it would
    # otherwise race the marking to the answer (a 503 instead of the count, 1 CI run in 3),
    # and what is checked here is that the marking touches nothing after the deadline.
    waiting = threading.get_ident()

    def clock() -> float:
        return 2.0 if copied and threading.get_ident() != waiting else 0.0

    deadline = Deadline(1.0, clock=clock)

    marked = store.mark_superseded(keys, deadline=deadline)

    assert marked == 1
    assert copied == keys[:1]
    assert [store.stat(key).superseded for key in keys] == [True, False, False]


def test_a_refresh_keeps_the_mark(store):
    store.put("f/v1/a.jpg", b"x", "image/jpeg")
    store.mark_superseded(["f/v1/a.jpg"])

    assert store.refresh("f/v1/a.jpg", store.stat("f/v1/a.jpg")) is True

    assert _tags(store, "f/v1/a.jpg") == {SUPERSEDED: SUPERSEDED_VALUE}
    assert store.stat("f/v1/a.jpg").superseded is True


def test_stat_tells_metadata_type_and_when_the_object_was_written(store):
    store.put("frame/abc.jpg", b"x", "image/webp", metadata={"Source-Version": "v"})
    stored = store.stat("frame/abc.jpg")
    assert stored.metadata == {"source-version": "v"}
    assert stored.content_type == "image/webp"
    assert abs(datetime.now(UTC) - stored.last_modified) < timedelta(minutes=1)
    assert store.stat("frame/other.jpg") is None


def test_refresh_rewrites_an_object_onto_itself_unchanged(store):
    store.put("frame/abc.jpg", b"jpeg bytes", "image/jpeg", metadata={"alignment": "wcs"})
    before = store.s3.head_object(Bucket=BUCKET, Key="frame/abc.jpg")
    copies = []
    store.s3.meta.events.register("before-call.s3.CopyObject", lambda **kw: copies.append(1))

    assert store.refresh("frame/abc.jpg", store.stat("frame/abc.jpg")) is True

    after = store.s3.head_object(Bucket=BUCKET, Key="frame/abc.jpg")
    assert copies == [1]
    for field in ("ETag", "ContentType", "CacheControl", "ServerSideEncryption", "Metadata"):
        assert after[field] == before[field], field
    assert store.get("frame/abc.jpg") == b"jpeg bytes"


def test_refreshing_an_object_that_is_gone_says_so(store):
    store.put("frame/abc.jpg", b"x", "image/jpeg")
    stored = store.stat("frame/abc.jpg")
    store.s3.delete_object(Bucket=BUCKET, Key="frame/abc.jpg")
    assert store.refresh("frame/abc.jpg", stored) is False


def test_a_store_needs_a_bucket():
    with pytest.raises(StorageError, match="THUMBNAIL_BUCKET"):
        ThumbnailStore(object(), "")


def test_the_old_aws_bucket_variable_names_the_bucket():
    with mock_aws():
        store = ThumbnailStore.from_settings(Settings.from_env({"AWS_BUCKET": "old-name"}))
    assert store.bucket == "old-name"


def test_storage_url_is_the_endpoint_with_path_style_addressing():
    settings = Settings.from_env({"STORAGE_URL": "http://127.0.0.1:9000", "THUMBNAIL_BUCKET": "b"})
    client = make_s3_client(settings)
    assert client.meta.endpoint_url == "http://127.0.0.1:9000"
    url = ThumbnailStore(client, "b").presign("k.jpg")
    assert url.startswith("http://127.0.0.1:9000/b/k.jpg?")
    assert client.meta.config.signature_version == "s3v4"
    assert client.meta.region_name == "us-east-1"


# ---------------------------------------------------------------------------- failures
def _stubbed(operation: str, code: str, status: int) -> ThumbnailStore:
    client = boto3.client("s3", config=Config(retries={"max_attempts": 1}))
    stubber = Stubber(client)
    stubber.add_client_error(operation, service_error_code=code, http_status_code=status)
    stubber.activate()
    return ThumbnailStore(client, BUCKET)


@pytest.mark.parametrize(
    "code, status, expected",
    [
        ("SlowDown", 503, 503),
        ("503", 503, 503),
        ("InternalError", 500, 503),
        ("AccessDenied", 403, 502),
        ("403", 403, 502),
    ],
)
def test_head_failures_are_503_when_retrying_may_help_else_502(code, status, expected):
    store = _stubbed("head_object", code, status)
    with pytest.raises(StorageError, match=code) as raised:
        store.exists("k")
    assert raised.value.status == expected


@pytest.mark.parametrize(
    "operation, call",
    [
        ("put_object", lambda s: s.put("k", b"x", "image/jpeg")),
        ("get_object", lambda s: s.get("k")),
        ("list_objects_v2", lambda s: s.others("p/", keep="p/v/")),
        ("copy_object", lambda s: s.refresh("k", StoredObject({}, None, "image/jpeg"))),
    ],
)
def test_other_operations_fail_as_storage_errors(operation, call):
    store = _stubbed(operation, "SlowDown", 503)
    with pytest.raises(StorageError) as raised:
        call(store)
    assert raised.value.status == 503


def _conflicts(then: tuple[str, int] | None, conflicts: int) -> tuple[ThumbnailStore, Stubber]:
    """A store whose PUTs meet `conflicts` 409s, then `then` (an error) or a success."""
    client = boto3.client("s3", config=Config(retries={"max_attempts": 1}))
    stubber = Stubber(client)
    for _ in range(conflicts):
        stubber.add_client_error(
            "put_object", service_error_code="ConditionalRequestConflict", http_status_code=409
        )
    if then is None:
        stubber.add_response("put_object", {"ETag": '"e"'})
    else:
        stubber.add_client_error("put_object", service_error_code=then[0], http_status_code=then[1])
    stubber.activate()
    return ThumbnailStore(client, BUCKET), stubber


@pytest.mark.parametrize("then", [None, ("PreconditionFailed", 412)])
def test_a_write_that_meets_another_in_flight_is_tried_again(then):
    # 409 ConditionalRequestConflict: S3 says retry. Then the write succeeds, or 412 says the
    # other writer stored the object, which the caller serves.
    store, stubber = _conflicts(then, conflicts=2)
    store.put("k", b"x", "image/jpeg", deadline=Deadline.after(60))
    stubber.assert_no_pending_responses()


def test_a_conflict_with_no_time_left_to_wait_is_a_503():
    store, _ = _conflicts(None, conflicts=1)
    # A clock that stands still: 50 ms left, less than the first back-off (100 ms), however
    # long the stubbed call takes (with the real clock, 10 ms could pass before the 409 came
    # back on a loaded machine, and the write was given up on before it was refused).
    deadline = Deadline.after(0.05, clock=lambda: 100.0)
    with pytest.raises(StorageError, match="ConditionalRequestConflict") as raised:
        store.put("k", b"x", "image/jpeg", deadline=deadline)
    assert raised.value.status == 503


def test_an_unreachable_store_is_a_503_without_the_endpoint_credentials():
    client = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9",  # the discard port: nothing listens
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    with pytest.raises(StorageError) as raised:
        ThumbnailStore(client, BUCKET).exists("k")
    assert raised.value.status == 503
    assert "testing" not in raised.value.message


# ---------------------------------------------------------------------------- deadlines
@pytest.mark.parametrize(
    "operation, call",
    [
        ("lookup", lambda s, d: s.exists("k", deadline=d)),
        ("lookup", lambda s, d: s.stat("k", deadline=d)),
        ("read", lambda s, d: s.get("k", deadline=d)),
        ("write", lambda s, d: s.put("k", b"x", "image/jpeg", deadline=d)),
        ("listing", lambda s, d: s.others("p/", keep="p/v/", deadline=d)),
        ("refresh", lambda s, d: s.refresh("k", StoredObject({}, None, "image/jpeg"), deadline=d)),
        ("marking", lambda s, d: s.mark_superseded(["k"], deadline=d)),
    ],
)
def test_every_call_takes_a_deadline_and_gives_up_on_a_stalled_s3_at_it(operation, call):
    # S3 reads the request and answers nothing: botocore's own timeouts are far longer.
    with SlowServer("stall") as server:
        client = boto3.client(
            "s3",
            endpoint_url=server.url,
            config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
        )
        with pytest.raises(StorageError, match=f"cache {operation} did not finish") as raised:
            call(ThumbnailStore(client, BUCKET), Deadline.after(0.3))
        assert raised.value.status == 503
        assert server.requests  # the call was made, and given up on
