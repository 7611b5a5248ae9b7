"""A small world for API tests: moto S3, an OCS-like archive faked with `responses`, real FITS.

`ApiWorld.started(monkeypatch)` sets the environment, starts `moto.mock_aws` and a
`responses` mock, creates the bucket and resets the API's cached service, so every test gets
clients built from its own environment. Archive records are shaped like the OCS science
archive's; frame files are real FITS bytes from `tests.support.fits_factory`, served with an ETag.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlencode

import boto3
import pytest
import responses
from moto import mock_aws
from responses import matchers

from tests.conftest import FakeLambdaContext, load_event

ARCHIVE = "https://archive-api.test/"
DATA_HOST = "https://archive-data.test/"
BUCKET = "thumbnails-test"
TOKEN = "Token 0123456789abcdef-test-archive-token"  # the token in the events/ files
FRAME_ID = 3863274  # the frame id in the events/ files
BASENAME = "coj2m002-ep02-20260102-0050-e91"  # the basename in events/api-basename.json
REQUEST_ID = 3400001
#: The ``md5`` of `frame_record`'s version until `ApiWorld.add_frame` sets the file's own.
PLACEHOLDER_MD5 = "0" * 32
#: `ApiWorld.add_frame`'s default ETag: the file's MD5, as S3 answers for a single-part upload.
S3_ETAG = "<md5 of the file>"


def frame_record(
    frame_id: int = FRAME_ID,
    basename: str = BASENAME,
    *,
    filter: str = "rp",
    suffix: str = ".fits.fz",
    **overrides: object,
) -> dict:
    """An archive frame record as the OCS archive API returns it."""
    record = {
        "id": frame_id,
        "basename": basename,
        "filename": basename + suffix,
        "url": f"{DATA_HOST}{basename}{suffix}?X-Amz-Signature=presigned-archive-secret",
        "area": None,
        "related_frames": [],
        "version_set": [
            {"id": frame_id * 10, "key": "abc", "md5": PLACEHOLDER_MD5, "extension": suffix}
        ],
        "proposal_id": "LCO2026A-001",
        "request_id": REQUEST_ID,
        "observation_id": 4200001,
        "configuration_type": "EXPOSE",
        "primary_optical_element": filter,
        "reduction_level": 91,
        "observation_date": "2026-01-02T14:00:00Z",
        "observation_day": "2026-01-02",
        "public_date": "2027-01-02T14:00:00Z",
        "instrument_id": "ep02",
        "site_id": "coj",
        "telescope_id": "2m0a",
        "target_name": "SYN-FIELD",
        "exposure_time": 90.0,
    }
    record.update(overrides)
    return record


@dataclass
class ApiWorld:
    """The faked surroundings of the handler: archive, frame files and the S3 bucket."""

    archive: responses.RequestsMock
    s3: object
    logs: list[str] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)  # served frame files by URL

    @classmethod
    @contextlib.contextmanager
    def started(
        cls, monkeypatch: pytest.MonkeyPatch, *, s3_endpoint: str | None = None, **env: str
    ) -> Iterator[ApiWorld]:
        """The world, with extra environment variables `env` (e.g. ``DOWNLOAD_RETRIES``).

        S3 is `moto.mock_aws` in process, or, with `s3_endpoint`, a real S3-compatible
        server (moto's ``ThreadedMotoServer``) reached over HTTP as ``STORAGE_URL``.
        """
        from thumbnails import api

        settings = {
            "ARCHIVE_API_URL": ARCHIVE,
            "THUMBNAIL_BUCKET": BUCKET,
            "DOWNLOAD_RETRIES": "0",
            **({"STORAGE_URL": s3_endpoint} if s3_endpoint else {}),
            **env,
        }
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        api.get_service.cache_clear()
        capture = _LogCapture(api.logger.registered_formatter)
        # The handler's logger and the adapters' module loggers (``thumbnails.*``).
        loggers = {logging.getLogger(name) for name in (api.logger.name, "thumbnails")}
        levels = {lg: lg.level for lg in loggers}
        for lg in loggers:
            lg.addHandler(capture)
            lg.setLevel(logging.DEBUG)  # capture everything a leak could hide in
        try:
            s3_context = contextlib.nullcontext() if s3_endpoint else mock_aws()
            with s3_context, responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
                # The service's own client (building one costs ~0.3 s): the handler's first
                # call reuses it, and settings errors still surface from the handler.
                try:
                    s3 = api.get_service().store.s3
                except Exception:
                    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
                if settings["THUMBNAIL_BUCKET"] == BUCKET:
                    s3.create_bucket(Bucket=BUCKET)
                world = cls(archive=mock, s3=s3, logs=capture.lines)
                yield world
        finally:
            for lg in loggers:
                lg.setLevel(levels[lg])
                lg.removeHandler(capture)
            api.get_service.cache_clear()

    # ------------------------------------------------------------------ the archive
    def add_frame(
        self,
        record: dict | None = None,
        *,
        fits: bytes | None = None,
        etag: str | None = S3_ETAG,
        by_id: bool = True,
        by_basename: bool = True,
    ) -> dict:
        """Serve `record` by id and by basename, and its file (real FITS) at its URL.

        As S3 and the archive would: the file is served with its MD5 as ETag (unless `etag`
        says otherwise), and a record made by `frame_record` (placeholder ``md5``) names the
        file's MD5 as its newest version.
        """
        record = record or frame_record()
        if fits is None:
            # Imported here: this module must not load numpy/astropy (import-cost tests).
            from tests.support.fits_factory import reduced_frame_bytes

            filter_name = record.get("primary_optical_element") or "rp"
            fits = reduced_frame_bytes((64, 80), compression="RICE_1", filter=filter_name)
        md5 = hashlib.md5(fits).hexdigest()
        if etag is S3_ETAG:
            etag = f'"{md5}"'
        versions = record.get("version_set")
        if versions and versions[0].get("md5") == PLACEHOLDER_MD5:
            record["version_set"] = [dict(versions[0], md5=md5), *versions[1:]]
        if by_id:
            self.archive.get(f"{ARCHIVE}frames/{record['id']}/", json=record)
        if by_basename:
            self.archive.get(
                f"{ARCHIVE}frames/",
                json={"count": 1, "next": None, "previous": None, "results": [record]},
                match=[matchers.query_param_matcher({"basename_exact": record["basename"]})],
            )
        self.add_file(record["url"], fits, etag=etag)
        return record

    def add_file(self, url: str, body: bytes, *, etag: str | None = None) -> None:
        headers = {"ETag": etag} if etag else {}
        self.files[url.split("?")[0]] = body
        self.archive.get(
            url.split("?")[0], body=body, headers=headers, content_type="application/octet-stream"
        )

    def add_request_frames(self, records: list[dict], request_id: int = REQUEST_ID) -> None:
        """Serve the reduction-level-91 frames of `request_id` (the colour lookup)."""
        self.archive.get(
            f"{ARCHIVE}frames/",
            json={"count": len(records), "next": None, "previous": None, "results": records},
            match=[
                matchers.query_param_matcher(
                    {"request_id": str(request_id), "reduction_level": "91"}, strict_match=False
                )
            ],
        )

    def calls_to(self, url_prefix: str) -> list:
        """The requests that reached the fakes under `url_prefix` (query ignored)."""
        return [call for call in self.archive.calls if call.request.url.startswith(url_prefix)]

    def downloads(self) -> list:
        return self.calls_to(DATA_HOST)

    # ------------------------------------------------------------------ the handler
    def invoke(
        self,
        event_name: str = "api-frame-id.json",
        *,
        path: str | None = None,
        query: dict[str, str | list[str]] | None = None,
        headers: dict[str, str] | None = None,
        authorization: str | None | bool = True,
        method: str = "GET",
        context: object | None = None,
    ) -> dict:
        """Call the Lambda handler with an ``events/`` file, edited as asked.

        `query` replaces the event's query string; `authorization` True keeps the event's
        header, None removes it, a string replaces it; `context` replaces the Lambda context
        (one with 300 s left).
        """
        from thumbnails import api

        event = copy.deepcopy(load_event(event_name))
        event["httpMethod"] = event["requestContext"]["httpMethod"] = method
        if path is not None:
            event["path"] = path
            event["requestContext"]["path"] = "/prod" + path
        if query is not None:
            multi = {k: (v if isinstance(v, list) else [v]) for k, v in query.items()}
            event["multiValueQueryStringParameters"] = multi or None
            event["queryStringParameters"] = {k: v[-1] for k, v in multi.items()} or None
        event["headers"] = dict(event.get("headers") or {})
        event["multiValueHeaders"] = dict(event.get("multiValueHeaders") or {})
        if authorization is not True:
            event["headers"].pop("Authorization", None)
            event["multiValueHeaders"].pop("Authorization", None)
            if isinstance(authorization, str):
                event["headers"]["Authorization"] = authorization
                event["multiValueHeaders"]["Authorization"] = [authorization]
        for name, value in (headers or {}).items():
            event["headers"][name] = value
            event["multiValueHeaders"][name] = [value]
        return api.handler(event, context or FakeLambdaContext())


def body_json(response: dict) -> dict:
    assert not response.get("isBase64Encoded")
    return json.loads(response["body"])


def body_bytes(response: dict) -> bytes:
    assert response["isBase64Encoded"] is True
    return base64.b64decode(response["body"])


def header(response: dict, name: str) -> str | None:
    """A response header, whichever of ``headers``/``multiValueHeaders`` Powertools used."""
    for key, value in (response.get("headers") or {}).items():
        if key.lower() == name.lower():
            return value
    for key, values in (response.get("multiValueHeaders") or {}).items():
        if key.lower() == name.lower():
            return ",".join(values)
    return None


def query_url(path: str, **query: str) -> str:
    return f"{path}?{urlencode(query)}" if query else path


class _LogCapture(logging.Handler):
    """Every record of the service's loggers, formatted as the Lambda would print it."""

    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
