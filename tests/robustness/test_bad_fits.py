"""Frames an archive really holds, or an attacker could upload: damaged files are refused with
a typed error a user understands, degenerate but valid images render, and a header that lies
about its size is refused before the lie costs any memory."""

from __future__ import annotations

import io
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.robustness import frames
from tests.support.fits_factory import gzip_bytes, reduced_frame_bytes, table_only_bytes
from thumbnails.errors import FrameTooLarge, UnreadableFrame
from thumbnails.imaging import render
from thumbnails.params import RenderLimits, ThumbnailParams
from thumbnails.positions import PixelCutout

UNREADABLE = {
    "empty": lambda: b"",
    "one byte": lambda: b"S",
    "plain text": lambda: b"hello, this is not a FITS file\n" * 10,
    "an HTML error page": lambda: b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>",
    "a JPEG": lambda: b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(3000),
    "zeros": lambda: bytes(2880 * 3),
    "truncated in the header": frames.truncated_in_header,
    "truncated in the data": frames.truncated_in_data,
    "header with no data after it": frames.table_with_image_header_lie,
    "first card not SIMPLE": frames.corrupt_simple_card,
    "NAXIS1 is text": frames.non_numeric_naxis,
    "NAXIS2 is negative": frames.negative_naxis,
    "BITPIX 13": frames.bad_bitpix,
    "GZIP_1 tiles overwritten": lambda: frames.corrupt_tiles("GZIP_1"),
    "tile descriptors outside the heap": frames.corrupt_tile_descriptors,
    "NAXIS unparsable": lambda: frames.set_card(frames.small_frame(), "NAXIS", "!  2"),
    "SCI BITPIX unparsable": lambda: frames.set_card(frames.small_frame(), "BITPIX", "-3!2", 1),
    "ZNAXIS2 unparsable": lambda: frames.set_card(frames.small_frame("RICE_1"), "ZNAXIS2", "1 6"),
    "tables only": table_only_bytes,
    "zero-sized image (NAXIS1 = 0)": frames.zero_sized_image,
    "gzip of garbage": lambda: gzip_bytes(b"not fits at all" * 100),
    "gzip cut in half": lambda: gzip_bytes(frames.small_frame())[:700],
}

TOO_LARGE = {
    "primary 100000 x 100000": lambda: frames.declared_huge(extension=False),
    "SCI extension 100000 x 100000": lambda: frames.declared_huge(extension=True),
    "tile-compressed 100000 x 100000": frames.declared_huge_compressed,
    "gzipped 100000 x 100000": lambda: gzip_bytes(frames.declared_huge(extension=True)),
}

SMALL = ThumbnailParams(width=64, height=64, format="png")


def _render(data: bytes, limits: RenderLimits | None = None) -> render.Thumbnail:
    frame = render.load_frame(data, limits=limits or RenderLimits())
    return render.render_frames([frame], SMALL)


def _pixels(thumbnail: render.Thumbnail) -> np.ndarray:
    with Image.open(io.BytesIO(thumbnail.data)) as image:
        assert image.size == (thumbnail.width, thumbnail.height)
        return np.asarray(image.convert("L"))


class TestDamagedFilesAreRefused:
    @pytest.mark.parametrize("name", sorted(UNREADABLE))
    def test_with_unreadable_frame_and_a_reason(self, name):
        with pytest.raises(UnreadableFrame) as raised:
            _render(UNREADABLE[name]())
        assert raised.value.status == 422
        assert len(raised.value.message) > 10

    # A cutout decodes only the tiles that hold its rows: damage confined to other tiles (here
    # the first row's tile descriptor) leaves its pixels right, so it may render.
    @pytest.mark.parametrize(
        "name", sorted(set(UNREADABLE) - {"tile descriptors outside the heap"})
    )
    def test_a_pixel_cutout_of_them_is_refused_too(self, name):
        # Found by the contract test: a cutout read rows of a file whose first card was not
        # SIMPLE = T and answered an image where the whole frame was a 422.
        with pytest.raises(UnreadableFrame) as raised:
            frame = render.load_frame(UNREADABLE[name](), cutout=PixelCutout(10, 8, 6))
            render.render_frames([frame], SMALL)
        assert raised.value.status == 422

    @pytest.mark.parametrize("name", ["empty", "plain text", "truncated in the header"])
    def test_header_reader_refuses_them_too(self, name):
        with pytest.raises(UnreadableFrame):
            render.read_header(UNREADABLE[name]())

    @pytest.mark.parametrize("compression", ["RICE_1", "HCOMPRESS_1"])
    def test_noise_in_other_codecs_tiles_is_refused_or_renders(self, compression):
        # Rice and HCOMPRESS streams have no checksum: noise may decode to noise. Either way
        # it must be one of the two outcomes, never another exception.
        try:
            thumbnail = _render(frames.corrupt_tiles(compression))
        except UnreadableFrame:
            return
        assert _pixels(thumbnail).size > 0

    @pytest.mark.parametrize(
        "keyword", ["EQUINOX", "CRPIX1", "CUNIT1", "RLEVEL", "OBSTYPE", "EXPTIME"]
    )
    def test_an_unparsable_descriptive_card_is_refused_or_ignored(self, keyword):
        # Not a structural card: rendering anyway or refusing are both fine; astropy's
        # VerifyError escaping is not.
        data = frames.set_card(frames.small_frame(), keyword, "'unterminated")
        try:
            render.read_header(data)
            _render(data)
        except UnreadableFrame:
            pass


class TestLyingHeadersAreRefusedBeforeAllocating:
    @pytest.mark.parametrize("name", sorted(TOO_LARGE))
    def test_frame_too_large_with_little_memory(self, name):
        data = TOO_LARGE[name]()
        assert len(data) < 64 * 1024
        tracemalloc.start()
        try:
            with pytest.raises(FrameTooLarge) as raised:
                _render(data)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert raised.value.status == 413
        assert "100000" in raised.value.message.replace(",", "").replace("_", "") or (
            "pixel" in raised.value.message.lower()
        )
        assert peak < 50 * 1024**2, f"peak {peak / 1024**2:.0f} MiB before refusing"

    def test_the_limit_is_the_configured_one(self):
        frame = reduced_frame_bytes((16, 20), stars=3)
        with pytest.raises(FrameTooLarge):
            _render(frame, RenderLimits(max_pixels=16 * 20 - 1))
        assert _render(frame, RenderLimits(max_pixels=16 * 20)).width > 0

    def test_headers_of_a_huge_frame_can_still_be_read(self):
        # Pregeneration reads headers to decide whether to render at all.
        header = render.read_header(frames.declared_huge(extension=True))
        assert header["NAXIS1"] == 100000


class TestGzipBombs:
    def test_trailing_data_after_the_last_hdu_is_not_inflated(self):
        # 32 MiB of zeros in ~33 KB: an inflate-everything reader peaks near 100 MiB here
        # (and needs a minute and 800 MiB for 256 MiB of them).
        data = frames.gzip_with_trailing_zeros(32)
        assert len(data) < 64 * 1024
        tracemalloc.start()
        try:
            try:
                frame = render.load_frame(data)
            except (UnreadableFrame, FrameTooLarge):
                frame = None
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 16 * 1024**2, f"peak {peak / 1024**2:.0f} MiB for {len(data)} bytes"
        if frame is not None:
            assert _pixels(render.render_frames([frame], SMALL)).shape == (16, 20)


class TestDegenerateImagesRender:
    def test_all_nan_renders_black(self):
        thumbnail = _render(frames.image_bytes(np.full((16, 20), np.nan, np.float32)))
        assert _pixels(thumbnail).max() == 0

    def test_nan_and_inf_pixels_are_drawn_black_and_the_rest_scaled(self):
        image = np.random.default_rng(3).normal(100, 5, (16, 20)).astype(np.float32)
        image[:, :5] = np.nan
        image[:, 5:8] = np.inf
        image[:, 8:10] = -np.inf
        pixels = _pixels(_render(frames.image_bytes(image)))  # 20 x 16: drawn 1:1
        assert pixels[:, :10].max() == 0
        assert pixels[:, 10:].max() > 0  # the finite pixels still make an image

    @pytest.mark.parametrize("value", [0.0, 1234.5, -7.0])
    def test_constant_image_renders_uniform(self, value):
        pixels = _pixels(_render(frames.image_bytes(np.full((16, 20), value, np.float32))))
        assert pixels.min() == pixels.max()

    def test_constant_integer_image_with_bzero_renders(self):
        image = np.full((16, 20), 40000, np.uint16)  # written as int16 + BZERO 32768
        pixels = _pixels(_render(frames.image_bytes(image)))
        assert pixels.min() == pixels.max()

    def test_one_by_one_is_not_enlarged(self):
        thumbnail = _render(frames.image_bytes(np.array([[5.0]], np.float32)))
        assert (thumbnail.width, thumbnail.height) == (1, 1)
        assert _pixels(thumbnail).shape == (1, 1)

    @pytest.mark.parametrize(("shape", "box"), [((1, 100_000), (64, 1)), ((100_000, 1), (1, 64))])
    def test_one_pixel_wide_strips_fit_the_box(self, shape, box):
        image = np.random.default_rng(1).normal(100, 5, shape).astype(np.float32)
        thumbnail = _render(frames.image_bytes(image))
        assert (thumbnail.width, thumbnail.height) == box
        assert _pixels(thumbnail).shape == (box[1], box[0])


def _cli_render(frame: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "thumbnails", "render", str(frame), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )


class TestOutOfRangeDitherSeeds:
    """``ZDITHER0`` indexes a table in C: a bad one must be refused, not crash the process.

    Run in a child process, since the failure this guards against is a segmentation fault
    (the Lambda dies: API Gateway answers 502, pregeneration dead-letters; ``make serve``
    stops).
    """

    @pytest.mark.parametrize("compression", ["RICE_1", "GZIP_2"])
    def test_a_valid_seed_renders(self, compression, tmp_path):
        frame = tmp_path / "frame.fits.fz"
        frame.write_bytes(frames.dithered_frame(compression, zdither0=5))
        result = _cli_render(frame, tmp_path / "out.jpg")
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "out.jpg").exists()

    @pytest.mark.parametrize("seed", [-100000, -5])
    @pytest.mark.parametrize("compression", ["RICE_1", "GZIP_2"])
    def test_a_negative_seed_is_refused_without_crashing(self, compression, seed, tmp_path):
        frame = tmp_path / "frame.fits.fz"
        frame.write_bytes(frames.dithered_frame(compression, zdither0=seed))
        result = _cli_render(frame, tmp_path / "out.jpg")
        # A crash is a negative return code (-11: SIGSEGV), a garbage render exit 0.
        assert result.returncode == 2, (result.returncode, result.stderr[-500:])
        assert len(result.stderr.strip().splitlines()) == 1
        assert "ZDITHER0" in result.stderr
        assert not (tmp_path / "out.jpg").exists()


class TestTheCommandLineRefusesDamagedFiles:
    @pytest.mark.parametrize(
        "name", ["empty", "truncated in the data", "tables only", "GZIP_1 tiles overwritten"]
    )
    def test_exit_2_one_line_no_output_file(self, name, tmp_path):
        frame = tmp_path / "frame.fits"
        frame.write_bytes(UNREADABLE[name]())
        out = tmp_path / "out.jpg"
        result = subprocess.run(
            [sys.executable, "-m", "thumbnails", "render", str(frame), "-o", str(out)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert not out.exists()

    def test_a_frame_too_large_exits_2(self, tmp_path):
        frame = tmp_path / "huge.fits"
        frame.write_bytes(frames.declared_huge())
        result = subprocess.run(
            [sys.executable, "-m", "thumbnails", "render", str(frame), "-o", str(tmp_path / "o")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr
