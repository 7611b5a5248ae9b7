"""When the archive, the frame download, S3 or a frame itself fails, the caller gets the
documented status and a clear message, and nothing half-done is left behind: no object in the
cache, no temporary file, no lost or endlessly retried pregeneration message."""

from __future__ import annotations

import copy
import http.server
import io
import json
import tempfile
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote_plus

import boto3
import numpy as np
import pytest
import requests
from botocore.exceptions import ClientError, EndpointConnectionError
from responses import matchers

from tests.conftest import load_event
from tests.robustness import frames
from tests.robustness.harness import (
    ARCHIVE,
    BUCKET,
    DOWNLOAD_SIGNATURE,
    FRAME_ID,
    TOKEN,
    Harness,
    api_event,
    frame_record,
    json_body,
)
from tests.support.fits_factory import reduced_frame_bytes

MAX_RECEIVES = 2


# =========================================================================== pregeneration
def _s3_notification(bucket: str, key: str, etag: str) -> str:
    """The body S3 sends to the queue for a new object (a copy of the saved event, edited)."""
    record = json.loads(load_event("sqs-s3-batch.json")["Records"][0]["body"])["Records"][0]
    record["s3"]["bucket"]["name"] = bucket
    record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    record["s3"]["object"]["key"] = key
    record["s3"]["object"]["eTag"] = etag
    return json.dumps({"Records": [record]})


def _lambda_batch(messages: list[dict], queue_arn: str) -> dict:
    """The event Lambda's SQS event source mapping builds from received messages."""
    template = load_event("sqs-s3-batch.json")["Records"][0]
    records = []
    for message in messages:
        record = copy.deepcopy(template)
        record.update(
            messageId=message["MessageId"],
            receiptHandle=message["ReceiptHandle"],
            body=message["Body"],
            md5OfBody=message["MD5OfBody"],
            eventSourceARN=queue_arn,
        )
        record["attributes"] = dict(record["attributes"], **message.get("Attributes", {}))
        records.append(record)
    return {"Records": records}


@pytest.fixture
def pregeneration(monkeypatch, s3):
    """Data and cache buckets, and a queue with a DLQ (redrive policy), all new per test.

    On the module's moto (see the `s3` fixture), under names no other test uses.
    """
    from thumbnails import pregenerate

    suffix = uuid.uuid4().hex[:12]
    data_bucket, cache_bucket = f"frames-{suffix}", f"thumbnails-{suffix}"
    monkeypatch.setenv("THUMBNAIL_BUCKET", cache_bucket)
    monkeypatch.delenv("STORAGE_URL", raising=False)
    s3.create_bucket(Bucket=data_bucket)
    s3.create_bucket(Bucket=cache_bucket)
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName=f"pregenerate-dlq-{suffix}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)}
    queue = sqs.create_queue(
        QueueName=f"pregenerate-{suffix}",
        # Visibility 0: a failed message is visible again at once, so the test need not wait.
        Attributes={"VisibilityTimeout": "0", "RedrivePolicy": json.dumps(redrive)},
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    pregenerate.reset()
    try:
        yield {
            "s3": s3,
            "sqs": sqs,
            "queue": queue,
            "queue_arn": queue_arn,
            "dlq": dlq,
            "data_bucket": data_bucket,
            "cache_bucket": cache_bucket,
        }
    finally:
        pregenerate.reset()


def _drain(env, lambda_context, *, rounds: int = 8) -> list[set[str]]:
    """Deliver the queue to the handler as Lambda would until it is empty (bounded).

    Returns the keys reported as failed in each round.
    """
    from thumbnails import pregenerate

    sqs, queue = env["sqs"], env["queue"]
    failed_per_round = []
    for _ in range(rounds):
        messages = sqs.receive_message(
            QueueUrl=queue, MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return failed_per_round
        response = pregenerate.handler(_lambda_batch(messages, env["queue_arn"]), lambda_context)
        failed_ids = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        by_id = {m["MessageId"]: m for m in messages}
        assert failed_ids <= set(by_id)
        failed_per_round.append({_key_of(by_id[i]["Body"]) for i in failed_ids})
        for message in messages:
            if message["MessageId"] not in failed_ids:  # Lambda deletes what succeeded
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    raise AssertionError(f"the queue was not empty after {rounds} deliveries")


def _key_of(body: str) -> str:
    return json.loads(body)["Records"][0]["s3"]["object"]["key"]


def _cache_keys(env) -> list[str]:
    listing = env["s3"].list_objects_v2(Bucket=env["cache_bucket"])
    return sorted(item["Key"] for item in listing.get("Contents", []))


class TestPregenerationBatches:
    def test_bad_frames_fail_alone_and_end_in_the_dead_letter_queue(
        self, pregeneration, lambda_context
    ):
        from thumbnails import pregenerate

        s3, sqs = pregeneration["s3"], pregeneration["sqs"]
        data_bucket = pregeneration["data_bucket"]
        objects = {
            "raw/good-one-e91.fits": reduced_frame_bytes((16, 20), stars=3),
            "raw/good-two-e91.fits.fz": reduced_frame_bytes((16, 20), compression="RICE_1"),
            "raw/unknown-type-e91.fits": reduced_frame_bytes((16, 20), obstype="NOTATYPE"),
            "raw/truncated-e91.fits": frames.truncated_in_data(),
            "raw/garbage-e91.fits": b"<html>not a frame</html>",
            "raw/corrupt-tiles-e91.fits.fz": frames.corrupt_tiles("GZIP_1"),
        }
        bodies = []
        for key, data in objects.items():
            etag = s3.put_object(Bucket=data_bucket, Key=key, Body=data)["ETag"].strip('"')
            bodies.append(_s3_notification(data_bucket, key, etag))
        bodies.append(_s3_notification(data_bucket, "raw/deleted-e91.fits", "0" * 32))
        for body in bodies:
            sqs.send_message(QueueUrl=pregeneration["queue"], MessageBody=body)

        puts: Counter[str] = Counter()
        client = pregenerate.resources().pregenerator.store.s3
        client.meta.events.register(
            "provide-client-params.s3.PutObject", lambda params, **_: puts.update([params["Key"]])
        )

        failed_rounds = _drain(pregeneration, lambda_context)

        bad = {
            "raw/truncated-e91.fits",
            "raw/garbage-e91.fits",
            "raw/corrupt-tiles-e91.fits.fz",
        }  # raw/deleted-e91.fits is skipped: no retry could find it
        assert failed_rounds[0] == bad
        assert all(failed == bad for failed in failed_rounds[1:MAX_RECEIVES])
        dead = sqs.receive_message(QueueUrl=pregeneration["dlq"], MaxNumberOfMessages=10)
        assert sorted(_key_of(m["Body"]) for m in dead.get("Messages", [])) == sorted(bad)

        presets = len(pregenerate.resources().pregenerator.presets)
        cached = _cache_keys(pregeneration)
        prefixes = Counter(key.split("/")[0] for key in cached)
        assert prefixes == {"good-one-e91": presets, "good-two-e91": presets}
        assert sorted(puts) == cached and set(puts.values()) == {1}  # each rendered once

    def test_keys_that_cannot_be_basenames_are_skipped_and_nothing_escapes(
        self, pregeneration, lambda_context
    ):
        s3, sqs = pregeneration["s3"], pregeneration["sqs"]
        data_bucket = pregeneration["data_bucket"]
        frame = reduced_frame_bytes((16, 20), stars=3)
        keys = [
            "raw/../../escape.fits",
            "raw/with space.fits",
            "raw/ｆｕｌｌｗｉｄｔｈ.fits",
            "raw/.hidden.fits",
            "raw/" + "x" * 300 + ".fits",
            "raw/semi;colon.fits.fz",
        ]
        for key in keys:
            etag = s3.put_object(Bucket=data_bucket, Key=key, Body=frame)["ETag"].strip('"')
            # S3 URL-encodes keys in notifications (spaces as '+').
            encoded = quote_plus(key, safe="/")
            sqs.send_message(
                QueueUrl=pregeneration["queue"],
                MessageBody=_s3_notification(data_bucket, encoded, etag),
            )

        failed_rounds = _drain(pregeneration, lambda_context)

        assert failed_rounds == [set()]  # skipped with a reason, not retried forever
        # S3 keys are not paths: "raw/../../escape.fits" is a file named escape.fits, whose
        # thumbnails belong under "escape/". Every other name cannot be a basename.
        assert {key.split("/")[0] for key in _cache_keys(pregeneration)} == {"escape"}
        assert all(key.count("/") == 2 for key in _cache_keys(pregeneration))

    def test_a_failed_put_is_retried_from_the_queue_and_nothing_is_lost(
        self, pregeneration, lambda_context
    ):
        from thumbnails import pregenerate

        s3, sqs = pregeneration["s3"], pregeneration["sqs"]
        data_bucket = pregeneration["data_bucket"]
        frame = reduced_frame_bytes((16, 20), stars=3)
        for key in ("raw/unlucky-e91.fits", "raw/lucky-e91.fits"):
            etag = s3.put_object(Bucket=data_bucket, Key=key, Body=frame)["ETag"].strip('"')
            sqs.send_message(
                QueueUrl=pregeneration["queue"],
                MessageBody=_s3_notification(data_bucket, key, etag),
            )
        failures = {"left": 1}

        def flaky_put(params, **_):
            # S3 refuses the first write of one frame's thumbnails, then recovers.
            if params["Key"].startswith("unlucky-e91/") and failures["left"]:
                failures["left"] -= 1
                raise ClientError(
                    {"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}},
                    "PutObject",
                )

        client = pregenerate.resources().pregenerator.store.s3
        client.meta.events.register("provide-client-params.s3.PutObject", flaky_put)

        failed_rounds = _drain(pregeneration, lambda_context)

        assert failed_rounds[0] == {"raw/unlucky-e91.fits"}
        assert failed_rounds[1:] == [set()]
        dead = sqs.receive_message(QueueUrl=pregeneration["dlq"], MaxNumberOfMessages=10)
        assert dead.get("Messages", []) == []
        presets = len(pregenerate.resources().pregenerator.presets)
        prefixes = Counter(key.split("/")[0] for key in _cache_keys(pregeneration))
        assert prefixes == {"unlucky-e91": presets, "lucky-e91": presets}


# =========================================================================== the API
@pytest.fixture
def no_temp_files(tmp_path, monkeypatch):
    """Point every temporary file at an empty directory; assert it is still empty after."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setenv("TMPDIR", str(directory))
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    yield
    assert list(directory.iterdir()) == []


@pytest.fixture
def harness(monkeypatch, s3, no_temp_files):
    with Harness.started(monkeypatch, s3) as harness:
        yield harness


def _refused(harness: Harness, status: int, event: dict | None = None) -> str:
    """Invoke; assert `status`, a JSON message, and that nothing reached the cache."""
    response = harness.invoke(event or api_event())
    assert response["statusCode"] == status, response.get("body")
    message = json_body(response)["message"]
    assert message and "Traceback" not in message
    assert harness.cached() == []
    return message


LOOKUP = f"{ARCHIVE}frames/{FRAME_ID}/"

# (case, what the archive does for the record lookup, status, words the message must hold)
ARCHIVE_FAULTS = [
    ("read-timeout", {"body": requests.exceptions.ReadTimeout()}, 504, "timeout"),
    ("connect-timeout", {"body": requests.exceptions.ConnectTimeout()}, 504, "timeout"),
    ("connection-reset", {"body": requests.exceptions.ConnectionError("reset")}, 502, "archive"),
    ("http-500", {"status": 500, "body": "oops"}, 502, "500"),
    ("http-502", {"status": 502, "body": "<html>bad gateway</html>"}, 502, "502"),
    ("http-503", {"status": 503, "json": {"detail": "maintenance"}}, 502, "503"),
    (
        "html-instead-of-json",
        {"body": "<html>login</html>", "content_type": "text/html"},
        502,
        "non-json",
    ),
    (
        "truncated-json",
        {"body": '{"id": 38632', "content_type": "application/json"},
        502,
        "non-json",
    ),
    ("json-list", {"json": [1, 2, 3]}, 502, "malformed"),
    ("json-string", {"json": "frame"}, 502, "malformed"),
]


class TestArchiveFaults:
    @pytest.mark.parametrize(
        ("answer", "status", "words"),
        [pytest.param(a, s, w, id=i) for i, a, s, w in ARCHIVE_FAULTS],
    )
    def test_record_lookup_failures_have_their_documented_status(
        self, harness, answer, status, words
    ):
        harness.archive.get(LOOKUP, **answer)
        assert words in _refused(harness, status).lower()

    @pytest.mark.parametrize(
        "listing",
        [
            pytest.param({"count": 1}, id="no-results"),
            pytest.param({"count": 1, "results": "frame"}, id="results-not-a-list"),
            pytest.param({"count": 1, "results": ["frame"]}, id="result-not-a-record"),
        ],
    )
    def test_a_malformed_basename_listing_is_a_502(self, harness, listing):
        harness.archive.get(f"{ARCHIVE}frames/", json=listing)
        assert "malformed" in _refused(harness, 502, api_event("api-basename.json")).lower()

    @pytest.mark.parametrize(
        ("missing", "status"),
        [
            ("url", 502),
            ("filename", 400),  # a required key (REQUIRED_FRAME_VALIDATION_KEYS): old reason
            ("configuration_type", 400),
            ("request_id", 400),
        ],
    )
    def test_records_missing_fields_are_refused(self, harness, missing, status):
        record = frame_record()
        del record[missing]
        harness.serve_frame(record)
        _refused(harness, status)
        assert harness.downloads() == []

    @pytest.mark.parametrize(
        "url",
        ["file:///etc/passwd", "ftp://data.robustness.test/x.fits.fz", "", None, 42],
    )
    def test_a_record_url_that_is_not_http_is_never_fetched(self, harness, url):
        harness.serve_frame(frame_record(url=url))
        _refused(harness, 502)
        assert harness.downloads() == []

    def test_a_record_with_a_path_as_basename_is_refused(self, harness):
        harness.serve_frame(frame_record(basename="../other-frame"))
        _refused(harness, 502)


def _serve_record_and_file(harness: Harness, **file_answer) -> dict:
    record = frame_record()
    harness.archive.get(LOOKUP, json=record)
    harness.archive.get(record["url"].split("?")[0], **file_answer)
    return record


# (case, what the frame file's server does, status)
DOWNLOAD_FAULTS = [
    ("not-found", {"status": 404}, 404),
    ("forbidden", {"status": 403, "body": "<Error>AccessDenied</Error>"}, 403),
    ("http-500", {"status": 500}, 502),
    ("http-503", {"status": 503}, 502),
    ("read-timeout", {"body": requests.exceptions.ReadTimeout()}, 504),
    ("connection-reset", {"body": requests.exceptions.ConnectionError("reset")}, 502),
    ("chunked-encoding-error", {"body": requests.exceptions.ChunkedEncodingError()}, 502),
]


class TestFrameDownloadFaults:
    @pytest.mark.parametrize(
        ("answer", "status"), [pytest.param(a, s, id=i) for i, a, s in DOWNLOAD_FAULTS]
    )
    def test_have_their_documented_status_and_cache_nothing(self, harness, answer, status):
        _serve_record_and_file(harness, **answer)
        message = _refused(harness, status)
        assert DOWNLOAD_SIGNATURE not in message

    def test_an_html_page_instead_of_the_frame_is_refused(self, harness):
        _serve_record_and_file(
            harness, body="<!DOCTYPE html><html>Sign in</html>", content_type="text/html"
        )
        # Unreadable bytes (422) or an upstream answering nonsense (502): both say why.
        response = harness.invoke(api_event())
        assert response["statusCode"] in (422, 502), response["body"]
        assert harness.cached() == []

    @pytest.mark.parametrize(
        ("make", "status"),
        [
            pytest.param(lambda: frames.corrupt_tiles("GZIP_1"), 422, id="corrupt-tiles"),
            pytest.param(frames.truncated_in_data, 422, id="truncated"),
            pytest.param(frames.zero_sized_image, 422, id="zero-sized"),
            pytest.param(lambda: b"", 422, id="empty"),
            pytest.param(frames.declared_huge_compressed, 413, id="declares-100000-squared"),
        ],
    )
    def test_a_bad_frame_file_is_refused_and_caches_nothing(self, harness, make, status):
        _serve_record_and_file(harness, body=make())
        _refused(harness, status)

    def test_a_transient_failure_is_retried_then_succeeds(self, monkeypatch, s3, no_temp_files):
        with Harness.started(monkeypatch, s3, DOWNLOAD_RETRIES="1") as harness:
            record = frame_record()
            harness.archive.get(LOOKUP, json=record)
            url = record["url"].split("?")[0]
            harness.archive.get(url, status=503)
            harness.archive.get(url, body=reduced_frame_bytes((16, 20), stars=3))
            response = harness.invoke(api_event())
            assert response["statusCode"] == 200, response["body"]
            assert len(harness.downloads()) == 2
            assert len(harness.cached()) == 1


class _SlowServer:
    """A loopback HTTP server answering after `delay` seconds, or dripping its body slowly."""

    def __init__(self, body: bytes, *, delay: float = 0.0, drip: float = 0.0) -> None:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                owner.stop_event.wait(delay)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                step = max(1, len(body) // 10) if drip else len(body)
                for start in range(0, len(body), step):
                    if owner.stop_event.wait(drip):
                        return
                    try:
                        self.wfile.write(body[start : start + step])
                        self.wfile.flush()
                    except OSError:
                        return

            def log_message(self, *args):
                pass

        self.stop_event = threading.Event()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class TestSlowUpstreams:
    def test_an_archive_slower_than_archive_timeout_is_a_504(self, monkeypatch, s3, no_temp_files):
        with (
            _SlowServer(b"{}", delay=2.0) as slow,
            Harness.started(
                monkeypatch, s3, ARCHIVE_API_URL=slow.url, ARCHIVE_TIMEOUT="0.2"
            ) as harness,
        ):
            harness.archive.add_passthru(slow.url)
            message = _refused(harness, 504)
            assert "timeout" in message.lower()

    def test_a_frame_dripping_slower_than_download_timeout_is_a_504(
        self, monkeypatch, s3, no_temp_files
    ):
        data = reduced_frame_bytes((16, 20), stars=3)
        with (
            _SlowServer(data, drip=0.1) as slow,
            Harness.started(monkeypatch, s3, DOWNLOAD_TIMEOUT="0.3") as harness,
        ):
            harness.archive.add_passthru(slow.url)
            harness.archive.get(LOOKUP, json=frame_record(url=slow.url + "frame.fits"))
            message = _refused(harness, 504)
            assert "timeout" in message.lower()


# --------------------------------------------------------------------------- S3 faults
def _s3_error(code: str, status: int, operation: str):
    def raise_error(**_):
        raise ClientError(
            {
                "Error": {"Code": code, "Message": code},
                "ResponseMetadata": {"HTTPStatusCode": status},
            },
            operation,
        )

    return raise_error


def _fail_s3(operation: str, failure) -> None:
    """Make the API's own S3 client fail `operation` (a botocore event hook)."""
    from thumbnails import api

    api.get_service().store.s3.meta.events.register(f"before-call.s3.{operation}", failure)


def _connection_error(**_):
    raise EndpointConnectionError(endpoint_url="https://s3.amazonaws.com")


# (case, operation, failure, status)
S3_FAULTS = [
    ("head-access-denied", "HeadObject", _s3_error("403", 403, "HeadObject"), 502),
    ("head-slow-down", "HeadObject", _s3_error("SlowDown", 503, "HeadObject"), 503),
    ("head-internal-error", "HeadObject", _s3_error("InternalError", 500, "HeadObject"), 503),
    ("head-unreachable", "HeadObject", _connection_error, 503),
    ("put-access-denied", "PutObject", _s3_error("AccessDenied", 403, "PutObject"), 502),
    ("put-kms-denied", "PutObject", _s3_error("KMS.AccessDeniedException", 400, "PutObject"), 502),
    ("put-slow-down", "PutObject", _s3_error("SlowDown", 503, "PutObject"), 503),
    ("put-unreachable", "PutObject", _connection_error, 503),
]


class TestStorageFaults:
    @pytest.mark.parametrize(
        ("operation", "failure", "status"),
        [pytest.param(o, f, s, id=i) for i, o, f, s in S3_FAULTS],
    )
    def test_have_a_503_or_502_naming_the_cache(self, harness, operation, failure, status):
        harness.serve_frame()
        _fail_s3(operation, failure)
        message = _refused(harness, status)
        assert "cache" in message.lower()
        assert "X-Amz-" not in message and "testing" not in message

    def test_a_failing_read_of_a_cached_thumbnail_is_a_502(self, harness):
        harness.serve_frame()
        inline = api_event(query={"image": "inline"})
        assert harness.invoke(inline)["statusCode"] == 200  # now cached
        _fail_s3("GetObject", _s3_error("AccessDenied", 403, "GetObject"))
        response = harness.invoke(inline)
        assert response["statusCode"] == 502, response["body"]
        assert "cache" in json_body(response)["message"].lower()

    def test_a_missing_bucket_is_a_502_naming_it(self, monkeypatch, s3, no_temp_files):
        with Harness.started(monkeypatch, s3, THUMBNAIL_BUCKET="no-such-thumbnail-bucket") as h:
            h.serve_frame()
            response = h.invoke(api_event())
            assert response["statusCode"] == 502, response["body"]
            assert "NoSuchBucket" in json_body(response)["message"]
            assert "no-such-thumbnail-bucket" not in [
                b["Name"] for b in s3.list_buckets()["Buckets"]
            ]


class TestDuplicateConcurrentMisses:
    def test_all_succeed_and_leave_one_valid_object(self, harness):
        """As concurrent Lambda containers would: each renders, S3 keeps one object."""
        from PIL import Image

        from thumbnails import api
        from thumbnails.params import ThumbnailParams

        harness.serve_frame()
        service = api.get_service()
        params = ThumbnailParams(width=48, height=48, format="png")
        barrier = threading.Barrier(8, timeout=30)

        def one(_):
            barrier.wait()
            return service.get_thumbnail(FRAME_ID, params, TOKEN)

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(one, range(8)))

        assert len({result.key for result in results}) == 1
        assert harness.cached() == [results[0].key]
        data = harness.s3.get_object(Bucket=BUCKET, Key=results[0].key)["Body"].read()
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == "PNG" and max(image.size) <= 48


def _serve_colour_set(harness: Harness, files: list[bytes]) -> None:
    """The red frame by id, and the red, visual and blue frames of its request."""
    records = []
    for index, (filter_name, data) in enumerate(zip(("rp", "V", "B"), files, strict=True)):
        record = frame_record(
            frame_id=FRAME_ID + index,
            basename=f"coj2m002-ep02-20260102-005{index}-e91",
            primary_optical_element=filter_name,
        )
        records.append(record)
        harness.serve_file(record["url"], data)
    harness.archive.get(LOOKUP, json=records[0])
    harness.archive.get(
        f"{ARCHIVE}frames/",
        json={"count": 3, "results": records},
        match=[
            matchers.query_param_matcher(
                {"request_id": "3400001", "reduction_level": "91"}, strict_match=False
            )
        ],
    )


def _noise(shape: tuple[int, int], seed: int) -> bytes:
    image = np.random.default_rng(seed).normal(100, 5, shape).astype(np.float32)
    return frames.image_bytes(image)


class TestColourChannelFaults:
    @pytest.mark.parametrize(
        ("make_visual", "status"),
        [
            pytest.param(frames.truncated_in_data, 422, id="truncated-visual"),
            pytest.param(lambda: frames.declared_huge(extension=True), 413, id="huge-visual"),
            pytest.param(lambda: b"<html>gone</html>", 422, id="html-visual"),
        ],
    )
    def test_one_bad_channel_refuses_the_composite_and_caches_nothing(
        self, harness, make_visual, status
    ):
        good = reduced_frame_bytes((24, 32), stars=3)
        _serve_colour_set(harness, [good, make_visual(), good])
        _refused(harness, status, api_event(query={"color": "true", "width": "64"}))

    def test_channels_of_unrelated_shapes_still_compose(self, harness):
        _serve_colour_set(harness, [_noise((32, 40), 1), _noise((300, 20), 2), _noise((5, 500), 3)])
        response = harness.invoke(api_event(query={"color": "true", "width": "64"}))
        assert response["statusCode"] == 200, response["body"]
        assert len(harness.cached()) == 1
