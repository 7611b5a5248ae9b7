"""The sample frames local mode starts with are realistic, renderable and reproducible."""

from __future__ import annotations

import io

import pytest
from astropy.io import fits

from thumbnails.imaging.render import read_header, render_thumbnail
from thumbnails.local.samples import SAMPLES, sample_bytes, write_samples
from thumbnails.params import ThumbnailParams

RAW = next(spec for spec in SAMPLES if spec.rlevel == 0)
COLOUR_SET = [spec for spec in SAMPLES if spec.name.startswith("coj2m002")]


def test_the_same_sample_is_the_same_bytes_every_time():
    assert sample_bytes(COLOUR_SET[0]) == sample_bytes(COLOUR_SET[0])


@pytest.mark.parametrize("spec", SAMPLES, ids=lambda spec: spec.name)
def test_every_sample_renders_at_its_full_size(spec):
    rows, cols = spec.shape

    thumbnail = render_thumbnail([sample_bytes(spec)], ThumbnailParams(width=4096, height=4096))

    # Never enlarged: the image is the frame's size, amplifiers joined, overscan trimmed.
    assert (thumbnail.width, thumbnail.height) == (cols, rows)


def test_the_raw_sample_has_four_amplifiers_with_overscan():
    with fits.open(io.BytesIO(sample_bytes(RAW))) as hdus:
        amplifiers = [hdu for hdu in hdus if hdu.name == "SCI"]
        assert len(amplifiers) == 4
        assert {hdu.header["BIASSEC"] for hdu in amplifiers} == {"[513:544,1:512]"}


def test_the_colour_set_is_one_request_in_rp_v_b_with_shifted_pointings():
    headers = [read_header(sample_bytes(spec)) for spec in COLOUR_SET]

    assert [h["FILTER"] for h in headers] == ["rp", "V", "B"]
    assert len({h["REQNUM"] for h in headers}) == 1
    assert len({(h["CRPIX1"], h["CRPIX2"]) for h in headers}) == 3


def test_writing_samples_keeps_existing_files_and_leaves_no_partial_files(tmp_path):
    existing = tmp_path / SAMPLES[0].filename
    existing.write_bytes(b"the user's own file")

    paths = write_samples(tmp_path, SAMPLES[:2])

    assert existing.read_bytes() == b"the user's own file"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)
