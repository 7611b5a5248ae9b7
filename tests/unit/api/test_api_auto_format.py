"""``format=auto`` and ``format=avif``: the best format the browser accepts, cached under the
format chosen, and a cache hit for a pregenerated preset.

Browsers' ``Accept`` headers for ``<img>`` requests are the ones they send (Chrome 120,
Firefox 120, Safari 17, Chrome 84: before AVIF); the API handler runs with moto S3, the
archive faked at the HTTP level and real FITS bytes; pregeneration is the real handler.
"""

from __future__ import annotations

import io
import math

import boto3
import numpy as np
import pytest
from PIL import Image

from tests.support.api_support import BASENAME, BUCKET, ApiWorld, body_bytes, header
from tests.support.fits_factory import reduced_frame_bytes
from tests.support.pregenerate_support import DATA_BUCKET, LambdaContext, s3_put_event
from thumbnails import pregenerate
from thumbnails.accept import prefers_image, ranked_formats
from thumbnails.imaging.render import render_thumbnail
from thumbnails.params import ThumbnailParams

CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
FIREFOX = "image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"
SAFARI = (
    "image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,"
    "image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"
)
OLD_CHROME = "image/webp,image/apng,image/*,*/*;q=0.8"  # Chrome 84: WebP, no AVIF
CURL = "*/*"
FRAME = reduced_frame_bytes((64, 80), compression="RICE_1")

MATRIX = [
    (CHROME, "avif"),
    (FIREFOX, "avif"),
    (SAFARI, "avif"),
    (OLD_CHROME, "webp"),
    (CURL, "jpeg"),
    (None, "jpeg"),  # no Accept at all: anything goes, so JPEG
    ("image/avif;q=0.5,image/webp;q=0.9,image/jpeg;q=0.1", "webp"),  # q-values honoured
    ("image/avif;q=0,image/webp", "webp"),  # q=0: not acceptable
]


@pytest.mark.parametrize("accept, expected", MATRIX)
def test_the_format_chosen_for_each_accept_header(accept, expected):
    assert ranked_formats(accept)[0] == expected


def test_browsers_prefer_images_and_curl_does_not():
    assert [prefers_image(a) for a in (CHROME, FIREFOX, SAFARI, OLD_CHROME)] == [True] * 4
    assert [prefers_image(a) for a in (CURL, None, "application/json")] == [False] * 3


@pytest.fixture
def world(monkeypatch):
    with ApiWorld.started(monkeypatch) as world:
        world.add_frame(fits=FRAME)
        yield world


def _objects(world: ApiWorld) -> list[str]:
    listed = world.s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return sorted(item["Key"] for item in listed)


@pytest.mark.parametrize("accept, expected", MATRIX[:5])  # the browsers' and curl's
def test_auto_answers_the_chosen_format_with_vary_accept(world, accept, expected):
    query = {"format": "auto", "image": "inline", "width": "120", "height": "120"}
    response = world.invoke(query=query, headers={"Accept": accept})
    assert response["statusCode"] == 200, response["body"]
    assert header(response, "Content-Type") == f"image/{expected}"
    assert header(response, "Vary") == "Accept"
    image = Image.open(io.BytesIO(body_bytes(response)))
    assert image.format == expected.upper()
    [key] = _objects(world)
    assert key.endswith("." + ("jpg" if expected == "jpeg" else expected))
    assert "auto" not in key


def test_requests_differing_only_in_accept_that_choose_one_format_share_one_object(world):
    query = {"format": "auto", "width": "120", "height": "120"}
    for accept in (CHROME, FIREFOX, SAFARI):  # all three choose AVIF
        assert world.invoke(query=query, headers={"Accept": accept})["statusCode"] == 200
    assert len(_objects(world)) == 1
    assert len(world.downloads()) == 1  # rendered once, then hits
    # And the explicit format's request is the same object.
    explicit = world.invoke(query={"format": "avif", "width": "120", "height": "120"})
    assert explicit["statusCode"] == 200
    assert len(_objects(world)) == 1 and len(world.downloads()) == 1


def test_an_explicit_format_has_no_vary(world):
    response = world.invoke(query={"format": "webp"}, headers={"Accept": CHROME})
    assert header(response, "Vary") is None


# --------------------------------------------------------------------------- pregenerated
def _pregenerated(monkeypatch, presets: str):
    context = ApiWorld.started(monkeypatch, PREGENERATE_PRESETS=presets)
    world = context.__enter__()
    pregenerate.reset()
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=DATA_BUCKET)
    key = f"raw/{BASENAME}.fits.fz"
    etag = s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=FRAME)["ETag"]
    world.add_frame(fits=FRAME)
    pregenerate.handler(s3_put_event(key, etag=etag.strip('"')), LambdaContext())
    return context, world


@pytest.mark.parametrize(
    "presets, accept, expected",
    [
        # The default presets are JPEG: a browser's auto gets the pregenerated JPEG.
        ("width=200&height=200;width=1000&height=1000", CHROME, "jpeg"),
        # Presets that say format=auto are pregenerated in each format auto can choose.
        ("width=200&height=200&format=auto", CHROME, "avif"),
        ("width=200&height=200&format=auto", OLD_CHROME, "webp"),
        ("width=200&height=200&format=auto", CURL, "jpeg"),
    ],
)
def test_auto_on_a_pregenerated_preset_is_a_hit(monkeypatch, presets, accept, expected):
    context, world = _pregenerated(monkeypatch, presets)
    try:
        pregenerated = _objects(world)
        before = len(world.downloads())
        response = world.invoke(
            query={"format": "auto", "image": "inline"}, headers={"Accept": accept}
        )
        assert response["statusCode"] == 200, response["body"]
        assert header(response, "Content-Type") == f"image/{expected}"
        assert len(world.downloads()) == before  # nothing downloaded: nothing rendered
        assert _objects(world) == pregenerated  # nothing new written
    finally:
        context.__exit__(None, None, None)
        pregenerate.reset()


def test_a_format_auto_preset_pregenerates_avif_webp_and_jpeg(monkeypatch):
    context, world = _pregenerated(monkeypatch, "width=200&height=200&format=auto")
    try:
        suffixes = sorted(key.rsplit(".", 1)[1] for key in _objects(world))
        assert suffixes == ["avif", "jpg", "webp"]
    finally:
        context.__exit__(None, None, None)
        pregenerate.reset()


# --------------------------------------------------------------------------- AVIF itself
def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


@pytest.mark.parametrize("shape", [(64, 80), (300, 240)])
def test_avif_decodes_to_the_same_picture_as_the_png_render(shape):
    frame = reduced_frame_bytes(shape, compression="RICE_1")
    png = render_thumbnail([frame], ThumbnailParams(format="png", width=400, height=400))
    avif = render_thumbnail([frame], ThumbnailParams(format="avif", width=400, height=400))
    reference = Image.open(io.BytesIO(png.data))
    decoded = Image.open(io.BytesIO(avif.data))
    assert decoded.format == "AVIF"
    assert decoded.size == reference.size
    grey = np.asarray(decoded.convert("L"))
    psnr = _psnr(grey, np.asarray(reference.convert("L")))
    print(f"AVIF vs PNG render {shape}: PSNR {psnr:.1f} dB, {len(avif.data)} bytes")
    jpeg = render_thumbnail([frame], ThumbnailParams(format="jpeg", width=400, height=400))
    jpeg_psnr = _psnr(
        np.asarray(Image.open(io.BytesIO(jpeg.data)).convert("L")),
        np.asarray(reference.convert("L")),
    )
    print(f"JPEG vs PNG render {shape}: PSNR {jpeg_psnr:.1f} dB, {len(jpeg.data)} bytes")
    # Lossy, but the same picture, as faithful as the JPEG of the same quality (within 3 dB:
    # AVIF's quality is mapped to JPEG's fidelity, AVIF_QUALITY_OFFSET). Another frame's
    # picture scores far lower, so this tells pictures apart.
    assert psnr > 25
    assert psnr >= jpeg_psnr - 3
    other = render_thumbnail(
        [reduced_frame_bytes(shape, compression="RICE_1", seed=99, catalog_seed=99)],
        ThumbnailParams(format="png", width=400, height=400),
    )
    other_grey = np.asarray(Image.open(io.BytesIO(other.data)).convert("L"))
    assert _psnr(grey, other_grey) < psnr - 5
