"""``python -m thumbnails serve``, end to end over real HTTP, as a person would use it.

The service runs as a subprocess (its own interpreter, environment and signals) on free ports,
over a folder filled with the project's sample frames. Every request below goes through the
gateway, the real API handler, the embedded archive, the real renderer and moto's S3 server.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from PIL import Image, ImageStat

from tests.support import waiting
from thumbnails.cache_keys import thumbnail_key
from thumbnails.local.samples import SAMPLES, sample_bytes, write_samples
from thumbnails.params import ThumbnailParams

pytestmark = pytest.mark.integration

#: Safety bounds only: a broken service fails the test instead of hanging it.
START_LIMIT_S = 120
WAIT_LIMIT_S = 60
REDUCED = next(spec for spec in SAMPLES if spec.name.endswith("0042-e91"))


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@dataclass
class Running:
    process: subprocess.Popen
    urls: dict[str, str]
    tmpdir: Path
    log: Path

    @property
    def api(self) -> str:
        return self.urls["api"]


def start_service(base: Path, frames: Path) -> Running:
    """Start ``python -m thumbnails serve`` on free ports; return once it is serving."""
    base.mkdir(parents=True, exist_ok=True)
    tmpdir = base / "tmp"
    tmpdir.mkdir()
    ready, log = base / "ready.json", base / "serve.log"
    command = [sys.executable, "-m", "thumbnails", "serve", "--frames", str(frames)]
    command += ["--port", "0", "--poll-interval", "0.2", "--ready-file", str(ready)]
    env = dict(os.environ, TMPDIR=str(tmpdir), PYTHONUNBUFFERED="1")
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + START_LIMIT_S
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            pytest.fail(f"the local service did not start:\n{log.read_text()}")
        time.sleep(0.1)
    return Running(process, json.loads(ready.read_text()), tmpdir, log)


def stop_service(running: Running, sig: signal.Signals = signal.SIGTERM) -> int:
    running.process.send_signal(sig)
    try:
        return running.process.wait(timeout=WAIT_LIMIT_S)
    except subprocess.TimeoutExpired:
        running.process.kill()
        running.process.wait()
        pytest.fail(f"the local service did not stop on {sig.name}:\n{running.log.read_text()}")


def wait_for(condition: Callable[[], bool], what: str) -> None:
    waiting.wait_for(condition, what, within=WAIT_LIMIT_S, poll=0.2)


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("frames")
    write_samples(folder)
    return folder


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, frames: Path) -> Iterator[Running]:
    running = start_service(tmp_path_factory.mktemp("service"), frames)
    yield running
    stop_service(running)


@pytest.fixture(scope="module")
def s3(service: Running):
    config = Config(signature_version="s3v4", s3={"addressing_style": "path"})
    return boto3.client(
        "s3",
        endpoint_url=service.urls["storage"],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=config,
    )


def decoded(response: requests.Response) -> Image.Image:
    assert response.status_code == 200, response.text[:300]
    assert response.headers["Content-Type"].startswith("image/")
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


def is_stored(s3, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError:
        return False
    return True


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.sources.append(dict(attrs)["src"] or "")


# ---------------------------------------------------------------------- the API
def test_a_thumbnail_by_basename_redirects_to_the_local_s3_and_decodes(service: Running):
    url = f"{service.api}{REDUCED.name}/?width=300&height=300&image=true"

    redirect = requests.get(url, allow_redirects=False, timeout=WAIT_LIMIT_S)
    location = redirect.headers["Location"]
    image = decoded(requests.get(location, timeout=WAIT_LIMIT_S))

    assert redirect.status_code == 302
    assert location.startswith(service.urls["storage"] + "/")
    assert image.format == "JPEG"
    assert image.size == (300, 300)  # the 1024 x 1024 frame, fitted into the box
    assert ImageStat.Stat(image).stddev[0] > 1  # sky noise and stars, not a flat black square


def test_the_default_request_answers_json_with_a_presigned_url(service: Running):
    response = requests.get(f"{service.api}{REDUCED.name}/", timeout=WAIT_LIMIT_S)

    body = response.json()
    assert response.status_code == 200
    assert body["propid"] == "LCOSYN2026A-001"
    assert decoded(requests.get(body["url"], timeout=WAIT_LIMIT_S)).size == (200, 200)


def test_an_unknown_basename_is_404_from_the_archive_lookup(service: Running):
    response = requests.get(f"{service.api}no-such-frame/?image=true", timeout=WAIT_LIMIT_S)

    assert response.status_code == 404
    assert "message" in response.json()


def test_the_apis_own_documentation_page_is_at_api(service: Running):
    response = requests.get(f"{service.api}api", timeout=WAIT_LIMIT_S)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")


# ---------------------------------------------------------------------- the gallery
def test_every_gallery_image_url_returns_a_decodable_image(service: Running):
    page = requests.get(service.api, timeout=WAIT_LIMIT_S)
    parser = _Images()
    parser.feed(page.text)

    images = {
        src: decoded(requests.get(urljoin(service.api, src), timeout=WAIT_LIMIT_S))
        for src in parser.sources
    }

    assert page.status_code == 200
    # Every frame, and the colour composites: rp/V/B, SDSS and narrowband (issue 30).
    assert len(images) == len(SAMPLES) + 3
    colour = [image for src, image in images.items() if "color=true" in src]
    assert [image.mode for image in colour] == ["RGB"] * 3
    assert all(max(image.size) == 300 for image in images.values())


# ---------------------------------------------------------------------- pregeneration
def test_the_samples_are_pregenerated_at_start_up(service: Running, s3):
    keys = [
        thumbnail_key(spec.name, md5(sample_bytes(spec)), ThumbnailParams()) for spec in SAMPLES
    ]

    wait_for(
        lambda: all(is_stored(s3, service.urls["thumbnail_bucket"], key) for key in keys),
        "the samples' default thumbnails",
    )


def test_a_frame_put_into_the_data_bucket_is_pregenerated_and_served(service: Running, s3):
    spec = replace(REDUCED, name="lsc1m005-fa15-20260315-0043-e91", date="2026-03-16T02:45:00")
    s3.put_object(
        Bucket=service.urls["data_bucket"], Key=f"incoming/{spec.filename}", Body=sample_bytes(spec)
    )
    key = thumbnail_key(spec.name, md5(sample_bytes(spec)), ThumbnailParams())

    wait_for(
        lambda: is_stored(s3, service.urls["thumbnail_bucket"], key),
        f"s3://{service.urls['thumbnail_bucket']}/{key}",
    )
    served = requests.get(f"{service.api}{spec.name}/?image=true", timeout=WAIT_LIMIT_S)

    assert urlsplit(served.url).path.endswith(key)  # the API redirected to the pregenerated one
    assert decoded(served).size == (200, 200)


def test_a_frame_uploaded_in_parts_is_pregenerated_and_served_from_the_cache(service: Running, s3):
    # `aws s3 cp` uploads large files in parts: the ETag is no MD5, so pregeneration and the
    # local archive both take the MD5 of the bytes, and the API finds the pregenerated image.
    from boto3.s3.transfer import TransferConfig

    from tests.support.fits_factory import reduced_frame_bytes

    name = "lsc1m005-fa15-20260315-0044-e91"
    data = reduced_frame_bytes((1200, 1200))  # 5.8 MB: two 5 MiB parts
    config = TransferConfig(multipart_threshold=5 * 2**20, multipart_chunksize=5 * 2**20)
    s3.upload_fileobj(
        io.BytesIO(data), service.urls["data_bucket"], f"big/{name}.fits", Config=config
    )
    key = thumbnail_key(name, md5(data), ThumbnailParams())

    wait_for(
        lambda: is_stored(s3, service.urls["thumbnail_bucket"], key),
        f"s3://{service.urls['thumbnail_bucket']}/{key}",
    )
    served = requests.get(f"{service.api}{name}/?image=true", timeout=WAIT_LIMIT_S)
    records = requests.get(
        urljoin(service.urls["archive"], "frames/"),
        params={"basename_exact": name},
        timeout=WAIT_LIMIT_S,
    ).json()["results"]

    assert served.status_code == 200
    assert urlsplit(served.url).path.endswith(key)
    # As LCO's archive: the version's md5 is the file's MD5 (so the API needs no download).
    assert [record["version_set"][0]["md5"] for record in records] == [md5(data)]


# ---------------------------------------------------------------------- stopping
def refuses_connections(url: str) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stopping_leaves_nothing_listening_and_no_temporary_files(
    tmp_path: Path, frames: Path, sig: signal.Signals
):
    before = sorted(frames.iterdir())
    running = start_service(tmp_path / "service", frames)
    assert requests.get(running.api, timeout=WAIT_LIMIT_S).status_code == 200

    exit_code = stop_service(running, sig)

    assert exit_code == 0, running.log.read_text()
    for name in ("api", "storage", "archive"):
        assert refuses_connections(running.urls[name]), name
    assert list(running.tmpdir.iterdir()) == []
    assert sorted(frames.iterdir()) == before
    assert "stopped" in running.log.read_text()
