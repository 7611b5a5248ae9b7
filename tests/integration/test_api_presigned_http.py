"""The handler against a real S3-compatible server over HTTP: the presigned URLs it hands
out are fetched like a browser would, and the image decodes.

S3 is moto's ``ThreadedMotoServer`` on a free port of 127.0.0.1 (``STORAGE_URL``); the archive
is faked with ``responses`` (it patches ``requests`` only; boto3 and urllib go over the wire).
"""

from __future__ import annotations

import io
import urllib.request
from collections.abc import Iterator
from email.message import Message

import pytest
from moto.server import ThreadedMotoServer
from PIL import Image

from tests.support.api_support import BUCKET, ApiWorld, body_json, header

pytestmark = pytest.mark.integration


@pytest.fixture
def s3_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        _reset(endpoint)  # the server shares moto's in-process state: start empty
        yield endpoint
    finally:
        _reset(endpoint)
        server.stop()


def _reset(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=30):  # noqa: S310 (127.0.0.1 only)
        pass


@pytest.fixture
def world(monkeypatch, s3_server) -> Iterator[ApiWorld]:
    with ApiWorld.started(monkeypatch, s3_endpoint=s3_server) as world:
        yield world


def _fetch(url: str) -> tuple[int, Message, bytes]:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (127.0.0.1 only)
        return response.status, response.headers, response.read()


def test_the_presigned_url_serves_the_rendered_jpeg_over_http(world, s3_server):
    world.add_frame()
    response = world.invoke("api-frame-id.json")
    url = body_json(response)["url"]
    assert url.startswith(f"{s3_server}/{BUCKET}/")
    status, headers, data = _fetch(url)
    assert status == 200
    assert headers["Content-Type"] == "image/jpeg"
    assert "immutable" in headers["Cache-Control"]
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "JPEG"
    assert image.size == (80, 64)  # the 80 x 64 frame: fitted into 200 x 200, never enlarged


def test_the_redirect_leads_to_the_same_image_and_a_hit_renders_nothing(world):
    world.add_frame()
    first = body_json(world.invoke("api-frame-id.json"))
    redirect = world.invoke("api-image-redirect.json")
    assert redirect["statusCode"] == 302
    assert len(world.downloads()) == 1  # the second request was a cache hit
    _, _, via_json = _fetch(first["url"])
    _, _, via_redirect = _fetch(header(redirect, "Location"))
    assert via_json == via_redirect
    Image.open(io.BytesIO(via_redirect)).verify()


def test_the_png_format_is_served_as_png(world):
    world.add_frame()
    url = body_json(world.invoke(query={"format": "png", "width": "64", "height": "64"}))["url"]
    _, headers, data = _fetch(url)
    assert headers["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(data))
    assert (image.format, image.size) == ("PNG", (64, 51))
