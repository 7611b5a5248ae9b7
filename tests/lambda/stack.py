"""What the functions talk to under `sam local`: moto's S3 and the embedded archive.

Both are the servers of local mode: moto's ``ThreadedMotoServer`` (a data bucket and the
thumbnail bucket) and `thumbnails.local.archive.ArchiveServer`, whose frame records carry
presigned URLs of the data bucket's objects, as the OCS archive's do. They listen on `host`:
the address the Lambda containers reach this machine at (see `tests.lambda.sam.docker_host`).
"""

from __future__ import annotations

import io
import urllib.request
from dataclasses import dataclass
from typing import Any

import boto3
from astropy.io import fits
from botocore.config import Config
from moto.server import ThreadedMotoServer

from thumbnails.local.archive import ArchiveServer, LocalArchive, frame_record

DATA_BUCKET = "frames-lambda"
THUMBNAIL_BUCKET = "thumbnails-lambda"
REGION = "us-east-1"
#: What pregeneration renders (the template's default, set here so the tests can count).
PRESETS = "width=200&height=200;width=1000&height=1000"


@dataclass(frozen=True)
class Frame:
    """A frame in the data bucket and the archive."""

    key: str
    basename: str
    id: int
    etag: str


class LocalStack:
    """moto's S3 and the embedded archive on `host`, started and stopped together.

    Parameters
    ----------
    host : str
        The address both servers bind (free ports are picked).
    """

    def __init__(self, host: str) -> None:
        self.host = host
        self.s3: Any = None
        self.storage_url = self.archive_url = ""
        self._moto: ThreadedMotoServer | None = None
        self._archive_server: ArchiveServer | None = None
        self.archive: LocalArchive | None = None

    def start(self) -> LocalStack:
        self._moto = ThreadedMotoServer(ip_address=self.host, port=0, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self.storage_url = f"http://{host}:{port}"
        self._post(f"{self.storage_url}/moto-api/reset")  # moto's state is per process
        self.s3 = boto3.client(
            "s3",
            endpoint_url=self.storage_url,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )
        for bucket in (DATA_BUCKET, THUMBNAIL_BUCKET):
            self.s3.create_bucket(Bucket=bucket)
        self.archive = LocalArchive(self._presign)
        self._archive_server = ArchiveServer(self.archive, host=self.host).start()
        self.archive_url = self._archive_server.url
        return self

    def stop(self) -> None:
        if self._archive_server is not None:
            self._archive_server.stop()
            self._archive_server = None
        if self._moto is not None:
            self._post(f"{self.storage_url}/moto-api/reset")
            self._moto.stop()
            server = getattr(self._moto, "_server", None)
            if server is not None:  # stop() leaves the socket listening
                server.server_close()
            self._moto = None

    @staticmethod
    def _post(url: str) -> None:
        request = urllib.request.Request(url, method="POST")
        with urllib.request.urlopen(request, timeout=30):  # noqa: S310 (a local server)
            pass

    def _presign(self, key: str) -> str:
        return self.s3.generate_presigned_url(
            "get_object", Params={"Bucket": DATA_BUCKET, "Key": key}, ExpiresIn=3600
        )

    def add_frame(self, key: str, data: bytes, *, catalogue: bool = True) -> Frame:
        """Upload `data` to the data bucket as `key` and (if `catalogue`) list it in the archive.

        The archive record is made from the file's header, with the object's ETag as its
        version's ``md5``, as the OCS archive records an upload.
        """
        self.s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=data)
        head = self.s3.head_object(Bucket=DATA_BUCKET, Key=key)
        etag = head["ETag"].strip('"')
        record = None
        if catalogue:
            assert self.archive is not None
            record = frame_record(
                key,
                _header(data),
                size=len(data),
                etag=etag,
                modified=head["LastModified"].isoformat(),
            )
            self.archive.add(record)
        basename = record["basename"] if record else key.rsplit("/", 1)[-1].split(".")[0]
        return Frame(key=key, basename=basename, id=record["id"] if record else 0, etag=etag)

    def thumbnails(self, basename: str) -> dict[str, Any]:
        """The thumbnail bucket's objects under `basename`'s prefix: key -> (ETag, modified)."""
        found: dict[str, Any] = {}
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=THUMBNAIL_BUCKET, Prefix=f"{basename}/"):
            for item in page.get("Contents", []):
                found[item["Key"]] = (item["ETag"], item["LastModified"])
        return found

    def environment(self) -> dict[str, str]:
        """The functions' variables pointing at this stack (``sam local --env-vars``)."""
        return {
            "ARCHIVE_API_URL": self.archive_url,
            "THUMBNAIL_BUCKET": THUMBNAIL_BUCKET,
            "STORAGE_URL": self.storage_url,
            "PREGENERATE_PRESETS": PRESETS,
        }


def _header(data: bytes) -> fits.Header:
    """The primary header merged with the first image extension's (what the archive lists)."""
    with fits.open(io.BytesIO(data)) as hdus:
        header = hdus[0].header.copy()
        if len(hdus) > 1:
            header.update(hdus[1].header)
    return header
