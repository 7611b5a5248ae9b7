"""``format=fits`` through the API handler: a real FITS answer (inline or by URL), its cache
key, hits, the 6 MB inline rule, the memory budget, and colour refused."""

from __future__ import annotations

import io

import numpy as np
from astropy.io import fits

from tests.support.api_support import (
    BASENAME,
    BUCKET,
    ApiWorld,
    body_bytes,
    body_json,
    header,
)
from tests.support.cutout_support import sky_frame
from thumbnails import api
from thumbnails.cache_keys import thumbnail_key
from thumbnails.params import ThumbnailParams

CUTOUT = {"x": "100", "y": "80", "size": "41", "format": "fits"}


def test_a_fits_cutout_is_application_fits_with_the_source_named_hit_or_miss(world):
    data = sky_frame()
    record = world.add_frame(fits=data)
    miss = world.invoke(query={**CUTOUT, "image": "inline"})
    assert miss["statusCode"] == 200, miss["body"]
    assert header(miss, "Content-Type") == "application/fits"
    assert header(miss, "X-Thumbnail-Cutout") == "inside"
    hdu = fits.open(io.BytesIO(body_bytes(miss)))[0]
    frame = fits.open(io.BytesIO(data))["SCI"].data
    # x, y are the 1-based centre: 0-based pixels 79 to 119 and 59 to 99.
    assert np.array_equal(hdu.data, frame[59:100, 79:120])
    version = record["version_set"][0]["md5"]
    assert (hdu.header["SRCBASE"], hdu.header["SRCVER"]) == (BASENAME, version)

    hit = world.invoke(query={**CUTOUT, "image": "inline", "stretch": "asinh", "width": "64"})
    assert header(hit, "Content-Type") == "application/fits"
    assert body_bytes(hit) == body_bytes(miss)  # one key: the look of a picture is not asked
    assert len(world.downloads()) == 1
    key = thumbnail_key(BASENAME, version, ThumbnailParams.from_query(CUTOUT))
    assert key.endswith(".fits")
    stored = world.s3.head_object(Bucket=BUCKET, Key=key)
    assert stored["ContentType"] == "application/fits"


def test_fits_and_an_image_of_the_same_request_have_their_own_keys(world):
    world.add_frame(fits=sky_frame())
    as_fits = body_json(world.invoke(query=CUTOUT))["url"].split("?")[0]
    as_png = body_json(world.invoke(query={**CUTOUT, "format": "png"}))["url"].split("?")[0]
    assert as_fits.endswith(".fits") and as_png.endswith(".png")
    assert as_fits.rsplit("/", 1)[1].split(".")[0] != as_png.rsplit("/", 1)[1].split(".")[0]


def test_format_auto_never_answers_fits(world):
    world.add_frame(fits=sky_frame())
    response = world.invoke(
        # A box no preset has: the choice is the Accept header's alone.
        query={"format": "auto", "image": "inline", "width": "123"},
        headers={"Accept": "application/fits,*/*"},
    )
    assert response["statusCode"] == 200
    assert header(response, "Content-Type") == "image/jpeg"


def test_colour_with_fits_is_a_400_saying_why(world):
    response = world.invoke(query={"color": "true", "format": "fits"})
    assert response["statusCode"] == 400
    message = body_json(response)["message"]
    assert message.startswith("format: fits gives one frame's own pixels")
    assert "color" in message
    assert not world.archive.calls  # refused before the archive is asked anything


def test_a_fits_cutout_over_the_inline_limit_is_a_redirect(world):
    world.add_frame()  # 64 x 80: a padded cutout of NaN costs no decoding
    # float32: 4 bytes a pixel, plus a header of 2880 bytes or so.
    side = int((api.INLINE_LIMIT_BYTES / 4) ** 0.5) + 2
    query = {"x": "40", "y": "32", "size": str(side), "format": "fits", "image": "inline"}
    response = world.invoke(query=query)
    assert response["statusCode"] == 302, response["body"]
    assert "X-Amz-Signature=" in header(response, "Location")
    smaller = world.invoke(query={**query, "size": "600"})
    assert smaller["statusCode"] == 200
    assert fits.open(io.BytesIO(body_bytes(smaller)))[0].data.shape == (600, 600)


def test_a_fits_cutout_too_large_for_the_function_is_a_413_naming_the_size(monkeypatch):
    with ApiWorld.started(monkeypatch, AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512") as world:
        world.add_frame()
        response = world.invoke(query={"x": "40", "y": "32", "size": "5000", "format": "fits"})
        assert response["statusCode"] == 413, response["body"]
        message = body_json(response)["message"]
        assert message.startswith("size: ") and "FITS" in message


# ---------------------------------------------------------------------------- command line
def test_the_cli_writes_a_fits_cutout_named_by_its_extension(tmp_path, monkeypatch, capsys):
    from thumbnails import cli

    monkeypatch.setattr(cli, "SUBCOMMANDS", {"render": cli.SUBCOMMANDS["render"]})
    data = sky_frame()
    frame_file = tmp_path / "frame.fits.fz"
    frame_file.write_bytes(data)
    out = tmp_path / "cut.fits"
    argv = ["render", str(frame_file), "-o", str(out), "--x", "5", "--y", "5", "--size", "40"]
    assert cli.main(argv) == 0
    assert "40x40 fits, orientation: detector, padded" in capsys.readouterr().out
    hdu = fits.open(out)[0]
    frame = fits.open(io.BytesIO(data))["SCI"].data
    # x, y 5 with 40 px (an even side: centred on 5.5): 0-based pixels -15 to 24.
    assert np.array_equal(hdu.data[15:, 15:], frame[:25, :25])
    assert np.isnan(hdu.data[:15]).all() and np.isnan(hdu.data[:, :15]).all()
