"""The API handler's surroundings for the robustness tests: moto S3, a `responses` archive.

Kept here rather than shared with the API's own tests so that these tests only rely on the
handler's public contract: an API Gateway event in, a proxy response out, objects in the
bucket. Events are the ``events/api-*.json`` files, copied and edited per test.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
import responses
from moto import mock_aws
from responses import matchers

from tests.conftest import FakeLambdaContext, load_event
from tests.support.api_support import body_bytes as image_body  # noqa: F401  (re-exported)
from tests.support.api_support import body_json as json_body  # noqa: F401
from tests.support.api_support import header  # noqa: F401
from tests.support.fits_factory import reduced_frame_bytes

ARCHIVE = "https://archive.robustness.test/"
DATA_HOST = "https://data.robustness.test/"
BUCKET = "robustness-thumbnails"
FRAME_ID = 3863274  # as in events/api-frame-id.json
BASENAME = "coj2m002-ep02-20260102-0050-e91"  # as in events/api-basename.json
TOKEN = "Token robustness-secret-archive-token-0123456789"
DOWNLOAD_SIGNATURE = "archive-download-signature-0123456789abcdef"


@functools.cache
def default_fits() -> bytes:
    """The frame file served unless a test says otherwise: small, tile-compressed, real."""
    return reduced_frame_bytes((24, 32), compression="RICE_1")


def frame_record(frame_id: int = FRAME_ID, basename: str = BASENAME, **overrides) -> dict:
    """An OCS-archive-shaped frame record whose file URL carries a presigned signature."""
    record = {
        "id": frame_id,
        "basename": basename,
        "filename": basename + ".fits.fz",
        "url": f"{DATA_HOST}{basename}.fits.fz?X-Amz-Signature={DOWNLOAD_SIGNATURE}",
        "proposal_id": "LCO2026A-001",
        "request_id": 3400001,
        "configuration_type": "EXPOSE",
        "primary_optical_element": "rp",
        "reduction_level": 91,
        "version_set": [],
    }
    record.update(overrides)
    return record


#: What `tests.conftest` sets for every test, needed here before the first test of a module.
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextlib.contextmanager
def moto_bucket() -> Iterator[object]:
    """moto S3 with the (empty) cache bucket, for a whole test module.

    Starting moto and loading botocore's S3 model costs ~0.5 s; once per module keeps the
    hundreds of table-driven cases fast. `Harness.started` empties the bucket after each test.
    """
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_AWS.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        with mock_aws():
            s3 = boto3.client("s3")
            s3.create_bucket(Bucket=BUCKET)
            yield s3


@dataclass
class Harness:
    """moto S3 with the cache bucket, the archive as `responses`, the handler."""

    archive: responses.RequestsMock
    s3: object

    @classmethod
    @contextlib.contextmanager
    def started(cls, monkeypatch: pytest.MonkeyPatch, s3: object, **env: str) -> Iterator[Harness]:
        """One test's world on the module's moto `s3`, with extra environment `env`."""
        from thumbnails import api

        for name, value in {
            "ARCHIVE_API_URL": ARCHIVE,
            "THUMBNAIL_BUCKET": BUCKET,
            "DOWNLOAD_RETRIES": "0",
            **env,
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("STORAGE_URL", raising=False)
        # The API builds its service once per container; a test's environment needs a new one.
        api.get_service.cache_clear()
        try:
            with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
                yield cls(archive=mock, s3=s3)
        finally:
            api.get_service.cache_clear()
            for key in cls(archive=None, s3=s3).cached():  # type: ignore[arg-type]
                s3.delete_object(Bucket=BUCKET, Key=key)

    # ------------------------------------------------------------------ the archive
    def serve_frame(self, record: dict | None = None, fits: bytes | None = None) -> dict:
        """Serve `record` by id and by basename, and its file at its URL."""
        record = record or frame_record()
        self.archive.get(f"{ARCHIVE}frames/{record['id']}/", json=record)
        self.archive.get(
            f"{ARCHIVE}frames/",
            json={"count": 1, "next": None, "previous": None, "results": [record]},
            match=[matchers.query_param_matcher({"basename_exact": record["basename"]})],
        )
        url = record.get("url")
        if isinstance(url, str) and url.startswith(DATA_HOST):
            self.serve_file(url, fits if fits is not None else default_fits())
        return record

    def serve_file(self, url: str, data: bytes) -> None:
        """Serve a frame file at `url` (its query string, a presigned signature, ignored)."""
        self.archive.get(
            url.split("?")[0],
            body=data,
            content_type="application/octet-stream",
            headers={"ETag": '"0123456789abcdef0123456789abcdef"'},
        )

    def archive_calls(self) -> list[str]:
        return [
            call.request.url for call in self.archive.calls if call.request.url.startswith(ARCHIVE)
        ]

    def downloads(self) -> list[str]:
        return [c.request.url for c in self.archive.calls if c.request.url.startswith(DATA_HOST)]

    def cached(self) -> list[str]:
        """Every key in the thumbnail bucket."""
        listing = self.s3.list_objects_v2(Bucket=BUCKET)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    # ------------------------------------------------------------------ the handler
    def invoke(self, event: dict) -> dict:
        from thumbnails import api

        return api.handler(event, FakeLambdaContext())


def api_event(
    name: str = "api-frame-id.json",
    *,
    path: str | None = None,
    query: dict[str, str | list[str]] | None = None,
    authorization: str | None = TOKEN,
) -> dict:
    """An ``events/`` API request, edited: path, query (lists = repeated), Authorization."""
    event = copy.deepcopy(load_event(name))
    if path is not None:
        event["path"] = path
        event["pathParameters"] = {"proxy": path.strip("/")}
        event["requestContext"]["path"] = "/prod" + path
    if query is not None:
        # As API Gateway: the single-value map holds the last of each repeated parameter.
        multi = {k: (v if isinstance(v, list) else [v]) for k, v in query.items()}
        event["multiValueQueryStringParameters"] = multi or None
        event["queryStringParameters"] = {k: v[-1] for k, v in multi.items()} or None
    headers = dict(event.get("headers") or {})
    multi_headers = dict(event.get("multiValueHeaders") or {})
    headers.pop("Authorization", None)
    multi_headers.pop("Authorization", None)
    if authorization is not None:
        headers["Authorization"] = authorization
        multi_headers["Authorization"] = [authorization]
    event["headers"], event["multiValueHeaders"] = headers, multi_headers
    return event


@contextlib.contextmanager
def powertools_logs_to_stdout(level: str = "DEBUG") -> Iterator[None]:
    """Send the service's JSON logs to the current ``sys.stdout`` (pytest's capsys) at `level`.

    Powertools binds its handler to the ``sys.stdout`` of import time; pointing it at the
    current one lets ``capsys`` see exactly what Lambda would ship to CloudWatch.
    """
    from thumbnails import api

    handler = api.logger.registered_handler
    previous_stream, previous_level = handler.stream, api.logger.log_level
    handler.setStream(sys.stdout)
    api.logger.setLevel(level)
    try:
        yield
    finally:
        handler.setStream(previous_stream)
        api.logger.setLevel(previous_level)
