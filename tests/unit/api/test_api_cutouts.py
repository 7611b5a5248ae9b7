"""Cutouts through the API and the command line: parameters, headers, cache keys, errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.support.api_support import (
    BASENAME,
    BUCKET,
    body_bytes,
    body_json,
    header,
)
from tests.support.cutout_support import TARGET, distance_from_centre, sky_frame
from tests.support.fits_factory import reduced_frame_bytes
from thumbnails import cli
from thumbnails.cache_keys import thumbnail_key
from thumbnails.params import ThumbnailParams

SKY = {"ra": "13:25:12.96", "dec": "-42:59:51", "fov": "0.5", "format": "png"}


def test_a_sky_cutout_is_centred_and_says_it_is_inside_hit_or_miss(world):
    world.add_frame(fits=sky_frame())
    miss = world.invoke(query={**SKY, "image": "inline", "width": "48", "height": "48"})
    assert miss["statusCode"] == 200, miss["body"]
    assert header(miss, "X-Thumbnail-Cutout") == "inside"
    picture = np.asarray(Image.open(io.BytesIO(body_bytes(miss))))
    assert picture.shape == (48, 48)
    assert distance_from_centre(picture) <= 1.0
    hit = world.invoke(query={**SKY, "image": "inline", "width": "48", "height": "48"})
    assert header(hit, "X-Thumbnail-Cutout") == "inside"
    assert body_bytes(hit) == body_bytes(miss)
    assert len(world.downloads()) == 1


def test_a_cutout_has_its_own_cache_key_shared_by_every_spelling_of_its_position(world):
    record = world.add_frame(fits=sky_frame())
    sexagesimal = body_json(world.invoke(query=SKY))["url"].split("?")[0]
    decimal = {**SKY, "ra": str(TARGET[0]), "dec": str(TARGET[1])}
    assert body_json(world.invoke(query=decimal))["url"].split("?")[0] == sexagesimal
    whole = body_json(world.invoke(query={"format": "png"}))["url"].split("?")[0]
    assert whole != sexagesimal
    version = record["version_set"][0]["md5"]
    key = thumbnail_key(BASENAME, version, ThumbnailParams.from_query(SKY))
    assert world.s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]["cutout"] == "inside"


def test_a_cutout_partly_off_the_frame_is_padded_and_says_so(world):
    world.add_frame(fits=sky_frame())
    response = world.invoke(
        query={"x": "5", "y": "5", "size": "40", "image": "inline", "format": "webp"}
    )
    assert response["statusCode"] == 200, response["body"]
    assert header(response, "X-Thumbnail-Cutout") == "padded"
    image = Image.open(io.BytesIO(body_bytes(response)))
    assert image.mode == "RGBA"
    alpha = np.asarray(image)[:, :, 3]
    assert alpha[0, 0] == 0 or alpha[-1, 0] == 0  # the padding is transparent
    assert alpha[5, -5] == 255


def test_a_cutout_off_the_frame_is_a_400_with_the_footprint(world):
    world.add_frame(fits=sky_frame())
    response = world.invoke(query={"ra": "201.6", "dec": "-43"})
    assert response["statusCode"] == 400
    message = body_json(response)["message"]
    assert "entirely outside the frame" in message and "corners" in message
    assert header(response, "Cache-Control") == "no-store"


def test_ra_dec_on_a_frame_without_wcs_is_a_400_that_says_so(world):
    world.add_frame(fits=reduced_frame_bytes((64, 80), compression="RICE_1", wcs=False))
    response = world.invoke(query={"ra": "201.3", "dec": "-43"})
    assert response["statusCode"] == 400
    assert "no usable WCS" in body_json(response)["message"]
    pixel = world.invoke(query={"x": "40", "y": "30", "size": "20"})
    assert pixel["statusCode"] == 200, pixel["body"]


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ({"ra": "201.3"}, "dec"),
        ({"ra": "25:00:00", "dec": "0"}, "ra"),
        ({"x": "1", "y": "1", "size": "-3"}, "size"),
    ],
)
def test_bad_cutout_parameters_are_a_400_naming_them(world, query, name):
    world.add_frame(fits=sky_frame())
    response = world.invoke(query=query)
    assert response["statusCode"] == 400
    assert body_json(response)["message"].startswith(f"{name}:")
    assert not world.downloads()  # refused before anything was fetched


def test_a_whole_frame_answer_has_no_cutout_header(world):
    world.add_frame()
    assert header(world.invoke(), "X-Thumbnail-Cutout") is None


# ---------------------------------------------------------------------------- command line
@pytest.fixture
def frame_file(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "SUBCOMMANDS", {"render": cli.SUBCOMMANDS["render"]})
    path = tmp_path / "frame.fits.fz"
    path.write_bytes(sky_frame())
    return path


def test_the_cli_cuts_by_sky_position(frame_file, tmp_path, capsys):
    out = tmp_path / "cut.png"
    argv = ["render", str(frame_file), "-o", str(out), "--ra", "13:25:12.96"]
    argv += ["--dec=-42:59:51", "--fov", "0.5", "--width", "48", "--height", "48"]
    assert cli.main(argv) == 0
    picture = np.asarray(Image.open(out))
    assert picture.shape == (48, 48)
    assert distance_from_centre(picture) <= 1.0


def test_the_cli_cuts_by_pixel_and_says_when_padded(frame_file, tmp_path, capsys):
    out = tmp_path / "cut.png"
    argv = ["render", str(frame_file), "-o", str(out), "--x", "5", "--y", "5", "--size", "40"]
    assert cli.main(argv) == 0
    assert "40x40 png, orientation: north, padded" in capsys.readouterr().out


def test_the_cli_reports_a_cutout_off_the_frame_in_one_line(frame_file, tmp_path, capsys):
    argv = ["render", str(frame_file), "-o", str(tmp_path / "x.png"), "--x", "-900", "--y", "5"]
    assert cli.main(argv) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "entirely outside the frame" in error
    assert not (tmp_path / "x.png").exists()
