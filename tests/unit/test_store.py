"""The S3 thumbnail cache: HEAD/GET/PUT/presign/delete, and S3 failures as 502 or 503."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from moto import mock_aws

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


def test_delete_prefix_deletes_only_that_prefix_in_batches(store):
    for index in range(1005):
        store.s3.put_object(Bucket=BUCKET, Key=f"frame-a/{index}.jpg", Body=b"")
    store.put("frame-ab/keep.jpg", b"", "image/jpeg")
    assert store.delete_prefix("frame-a/") == 1005
    assert store.delete_prefix("frame-a/") == 0
    assert store.exists("frame-ab/keep.jpg")


def test_delete_prefix_keeps_what_is_under_keep(store):
    for key in ("f/v1/a.jpg", "f/v1/b.jpg", "f/v2/a.jpg", "f/old.jpg", "f-2/v1/a.jpg"):
        store.put(key, b"x", "image/jpeg")
    assert store.delete_prefix("f/", keep="f/v2/") == 3
    listing = store.s3.list_objects_v2(Bucket=BUCKET)["Contents"]
    assert sorted(item["Key"] for item in listing) == ["f-2/v1/a.jpg", "f/v2/a.jpg"]


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


def test_delete_prefix_refuses_an_empty_prefix(store):
    with pytest.raises(ValueError):
        store.delete_prefix("")


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
        ("list_objects_v2", lambda s: s.delete_prefix("p/")),
        ("copy_object", lambda s: s.refresh("k", StoredObject({}, None, "image/jpeg"))),
    ],
)
def test_other_operations_fail_as_storage_errors(operation, call):
    store = _stubbed(operation, "SlowDown", 503)
    with pytest.raises(StorageError) as raised:
        call(store)
    assert raised.value.status == 503


def test_partial_delete_failures_are_reported():
    client = boto3.client("s3")
    stubber = Stubber(client)
    stubber.add_response("list_objects_v2", {"Contents": [{"Key": "p/1"}, {"Key": "p/2"}]})
    stubber.add_response(
        "delete_objects", {"Errors": [{"Key": "p/2", "Code": "AccessDenied", "Message": "no"}]}
    )
    stubber.activate()
    with pytest.raises(StorageError, match="1 object.*AccessDenied"):
        ThumbnailStore(client, BUCKET).delete_prefix("p/")


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
