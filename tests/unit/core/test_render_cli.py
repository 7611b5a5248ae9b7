"""``python -m thumbnails render``: same validation as the API, one-line errors, exit code 2."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.support.fits_factory import gzip_bytes, reduced_frame_bytes, star_field
from thumbnails import cli


@pytest.fixture(autouse=True)
def _only_render(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dispatch through the real `cli.main`, without importing the other subcommands."""
    monkeypatch.setattr(cli, "SUBCOMMANDS", {"render": cli.SUBCOMMANDS["render"]})


@pytest.fixture
def frame(tmp_path):
    path = tmp_path / "frame.fits.fz"
    path.write_bytes(reduced_frame_bytes((96, 128), compression="RICE_1"))
    return path


def test_render_writes_the_thumbnail_and_reports_its_size(frame, tmp_path, capsys):
    out = tmp_path / "thumb.png"
    code = cli.main(["render", str(frame), "-o", str(out), "--format", "png", "--width", "64"])
    assert code == 0
    image = Image.open(out)
    assert (image.format, image.size) == ("PNG", (64, 48))
    assert "64x48 png" in capsys.readouterr().out


def test_render_accepts_every_option(frame, tmp_path):
    out = tmp_path / "thumb.webp"
    argv = ["render", str(frame), "-o", str(out), "--width", "100", "--height", "50"]
    argv += ["--label", "M31", "--stretch", "asinh", "--format", "webp", "--quality", "50"]
    argv += ["--median", "--percentile", "98"]
    assert cli.main(argv) == 0
    assert Image.open(out).size == (67, 50)


def test_render_gzipped_file(tmp_path):
    path = tmp_path / "frame.fits.gz"
    path.write_bytes(gzip_bytes(reduced_frame_bytes((40, 40))))
    out = tmp_path / "thumb.jpg"
    assert cli.main(["render", str(path), "-o", str(out)]) == 0
    assert Image.open(out).format == "JPEG"


def test_colour_needs_three_frames_and_reports_the_alignment_and_balance(tmp_path, capsys):
    paths = []
    for index, band in enumerate(("rp", "V", "B")):
        path = tmp_path / f"{band}.fits"
        data = star_field((64, 64), seed=index, stars=4)
        cards = {"L1ZP": 23.0 + 0.2 * index, "EXPTIME": 60.0}
        path.write_bytes(reduced_frame_bytes(data=data, filter=band, header=cards))
        paths.append(str(path))
    out = tmp_path / "colour.png"
    assert cli.main(["render", *paths, "--color", "-o", str(out), "--format", "png"]) == 0
    assert np.asarray(Image.open(out)).shape == (64, 64, 3)
    assert "channels aligned: wcs, balanced: zeropoint" in capsys.readouterr().out
    assert cli.main(["render", *paths[:2], "--color", "-o", str(out)]) == 2
    assert "three frames" in capsys.readouterr().err


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--width", "0"], "width: must be between 1 and 4096"),
        (["--width", "abc"], "width: expected a whole number"),
        (["--width="], "width: expected a whole number"),
        (["--quality", "96"], "quality: must be between 1 and 95"),
        (["--stretch", "histeq"], "stretch: must be one of"),
        (["--format", "gif"], "format: must be one of"),
        (["--percentile", "0"], "percentile"),
    ],
)
def test_bad_options_exit_2_with_the_api_message(frame, tmp_path, capsys, options, message):
    out = tmp_path / "thumb.jpg"
    assert cli.main(["render", str(frame), "-o", str(out), *options]) == 2
    assert message in _error_line(capsys)
    assert not out.exists()


def test_missing_input_file_is_one_line_naming_it(tmp_path, capsys):
    missing = tmp_path / "nope.fits"
    assert cli.main(["render", str(missing), "-o", str(tmp_path / "x.jpg")]) == 2
    assert f"{missing}: no such file" in _error_line(capsys)


def test_directory_as_input_is_one_line(tmp_path, capsys):
    assert cli.main(["render", str(tmp_path), "-o", str(tmp_path / "x.jpg")]) == 2
    assert "is a directory" in _error_line(capsys)


def test_non_fits_input_is_one_line_naming_the_file(tmp_path, capsys):
    path = tmp_path / "notes.txt"
    path.write_text("not a frame\n" * 300)
    assert cli.main(["render", str(path), "-o", str(tmp_path / "x.jpg")]) == 2
    line = _error_line(capsys)
    assert str(path) in line and "not a FITS file" in line


def test_corrupt_tiles_of_a_colour_frame_are_one_line_naming_the_file(tmp_path, capsys):
    # Row-tiled frames are decoded after they are loaded (band by band): still named.
    from thumbnails.imaging.hdus import iter_hdus, select_image

    paths = []
    for name in ("r", "v", "b"):
        data = reduced_frame_bytes((48, 64), compression="RICE_1")
        if name == "v":
            info = select_image(list(iter_hdus(data))).hdus[0]
            heap = info.data_start + info.table["NAXIS1"] * info.table["NAXIS2"]
            data = data[:heap] + b"\xff" * (info.data_end - heap) + data[info.data_end :]
        paths.append(tmp_path / f"{name}.fits.fz")
        paths[-1].write_bytes(data)

    out = tmp_path / "x.jpg"
    assert cli.main(["render", *map(str, paths), "--color", "-o", str(out)]) == 2
    line = _error_line(capsys)
    assert str(paths[1]) in line and "corrupt" in line
    assert not out.exists()


def test_frame_over_the_pixel_limit_is_refused(frame, tmp_path, capsys):
    out = tmp_path / "x.jpg"
    assert cli.main(["render", str(frame), "-o", str(out), "--max-pixels", "1000"]) == 2
    assert "more than the limit of 1,000" in _error_line(capsys)


def test_unwritable_output_is_one_line(frame, tmp_path, capsys):
    out = tmp_path / "no" / "such" / "dir" / "x.jpg"
    assert cli.main(["render", str(frame), "-o", str(out)]) == 2
    assert "cannot be written" in _error_line(capsys)


def test_output_matches_the_library(frame, tmp_path):
    from thumbnails.imaging.render import render_thumbnail
    from thumbnails.params import ThumbnailParams

    out = tmp_path / "thumb.jpg"
    assert cli.main(["render", str(frame), "-o", str(out), "--label", "x y"]) == 0
    expected = render_thumbnail([frame.read_bytes()], ThumbnailParams(label="x y"))
    assert out.read_bytes() == expected.data
    assert Image.open(io.BytesIO(expected.data)).size == (128, 96)  # never enlarged


@pytest.mark.parametrize(
    ("name", "expected"),
    [("t.png", "PNG"), ("t.webp", "WEBP"), ("t.jpg", "JPEG"), ("t.out", "JPEG")],
)
def test_the_output_extension_chooses_the_format_unless_given(frame, tmp_path, name, expected):
    out = tmp_path / name
    assert cli.main(["render", str(frame), "-o", str(out)]) == 0
    assert Image.open(out).format == expected
    forced = tmp_path / "forced.png"
    assert cli.main(["render", str(frame), "-o", str(forced), "--format", "jpeg"]) == 0
    assert Image.open(forced).format == "JPEG"


def test_render_orientation_option_and_report(tmp_path, capsys):
    from tests.support.fits_factory import marker_sky, mounted_frame_bytes

    sky, _labels = marker_sky((48, 64))
    path = tmp_path / "turned.fits"
    path.write_bytes(mounted_frame_bytes(sky, "rotated-90"))
    north, detector = tmp_path / "north.png", tmp_path / "detector.png"
    assert cli.main(["render", str(path), "-o", str(north)]) == 0
    assert "64x48 png, orientation: north" in capsys.readouterr().out
    assert cli.main(["render", str(path), "-o", str(detector), "--orientation", "detector"]) == 0
    assert "48x64 png, orientation: detector" in capsys.readouterr().out
    assert Image.open(north).size == (64, 48)
    assert cli.main(["render", str(path), "-o", str(north), "--orientation", "up"]) == 2
    assert "orientation" in capsys.readouterr().err
