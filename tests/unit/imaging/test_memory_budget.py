"""The memory budget: no request can take more memory than the function has.

A request is either rendered within the function's memory or refused before anything is
decoded with a 413 naming the parameter to make smaller and the largest value of it that fits
(`thumbnails.imaging.budget`); a cutout's padding is never stored (`cutout.PaddedLayout`).

The requests that once exhausted the memory (issue 23) run through the real API handler in a
fresh process (`tests.support.memory_child`: moto S3, the archive faked, real FITS frames of about
23 KB) with ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE`` set, and that process's peak RSS is measured.
The grey ones peaked at 643 MB and 1.30 GB, under the template's 1769 MB, so they run in
smaller functions (512 and 1024 MB), which they overran just as the colour ones overran 1769 MB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.support.fits_factory import raw_amplifier_frame_bytes, reduced_frame_bytes
from thumbnails.errors import InvalidParameter, MemoryBudgetExceeded
from thumbnails.imaging import budget
from thumbnails.imaging.binning import block_mean, sample
from thumbnails.imaging.cutout import PaddedLayout, Window
from thumbnails.imaging.render import load_frame, render_thumbnail
from thumbnails.params import RenderLimits, ThumbnailParams
from thumbnails.positions import PixelCutout
from thumbnails.settings import MEMORY_RESERVED_MB, Settings, render_memory_budget

REPO = Path(__file__).resolve().parents[3]
MB = 1 << 20


@pytest.fixture(scope="module")
def small_frames(tmp_path_factory) -> list[Path]:
    """R, V and B frames of 100 x 100 pixels, ~23 KB each (as in the issue)."""
    directory = tmp_path_factory.mktemp("frames")
    paths = []
    for seed, name in enumerate(("rp", "V", "B")):
        path = directory / f"{name}.fits.fz"
        path.write_bytes(
            reduced_frame_bytes((100, 100), compression="RICE_1", filter=name, seed=seed)
        )
        paths.append(path)
    return paths


def run_request(query: dict[str, str], memory_mb: int, frames: list[Path]) -> dict:
    """The API's answer to `query` about `frames` in a fresh process of a `memory_mb` MB
    function, with its peak RSS (bytes)."""
    env = {
        **os.environ,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    env.pop("AWS_PROFILE", None)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.support.memory_child",
            json.dumps({"frames": [str(f) for f in frames], "query": query}),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    # The handler's JSON logs go to stdout too; the result is the last line.
    return json.loads(run.stdout.strip().splitlines()[-1])


def assert_refused_or_fits(answer: dict, memory_mb: int) -> None:
    """A 413 JSON naming a parameter and what fits, or a render, always under the memory."""
    assert answer["peak"] < memory_mb * 1_000_000, (
        f"peak RSS {answer['peak'] / MB:.0f} MiB in a {memory_mb} MB function: {answer}"
    )
    if answer["status"] == 413:
        message = json.loads(answer["body"])["message"]
        assert message.split(":")[0] in ("size", "fov", "width", "height"), message
        assert "the largest" in message, message
    else:
        assert answer["status"] == 200, answer


# The issue's four reproductions (x=50, y=50 on a 100 x 100 frame: mostly padding).
ISSUE_CASES = [
    pytest.param({"x": "50", "y": "50", "size": "12247"}, 512, id="grey-12247-200px"),
    pytest.param(
        {"x": "50", "y": "50", "size": "12247", "width": "4096", "height": "4096", "format": "png"},
        1024,
        id="grey-12247-4096px-png",
    ),
    pytest.param({"color": "true", "x": "50", "y": "50", "size": "12000"}, 1769, id="colour-200px"),
    pytest.param(
        {
            "color": "true",
            "x": "50",
            "y": "50",
            "size": "12000",
            "width": "4096",
            "height": "4096",
            "format": "png",
        },
        1769,
        id="colour-4096px-png",
    ),
]


@pytest.mark.parametrize(("query", "memory_mb"), ISSUE_CASES)
def test_a_request_that_exhausted_the_memory_is_refused_or_fits(query, memory_mb, small_frames):
    assert_refused_or_fits(run_request(query, memory_mb, small_frames), memory_mb)


@pytest.mark.parametrize(
    "extra",
    [{}, {"stretch": "asinh", "median": "true"}],  # the stretch and median that cost most
    ids=["zscale", "asinh-median"],
)
def test_the_largest_value_named_really_fits(small_frames, extra):
    """The request that killed the 1769 MB function is a 413 naming ``size``; rendered at the
    size it names, the request fits: a 200 under the memory."""
    query = {
        "color": "true",
        "x": "50",
        "y": "50",
        "size": "12000",
        "width": "4096",
        "height": "4096",
        "format": "png",
        **extra,
    }
    refused = run_request(query, 1769, small_frames)
    assert refused["status"] == 413, refused
    assert refused["downloads"] == 1  # refused from the red frame's headers, before V and B
    message = json.loads(refused["body"])["message"]
    assert message.startswith("size: "), message
    largest = int(message.rsplit(" is ", 1)[1])
    assert 1 <= largest < 12000
    answer = run_request({**query, "size": str(largest)}, 1769, small_frames)
    assert answer["status"] == 200, answer
    assert answer["peak"] < 1769 * 1_000_000


def test_a_whole_frame_too_large_for_a_small_function_names_the_output_box(tmp_path):
    frame = tmp_path / "big.fits.fz"
    frame.write_bytes(reduced_frame_bytes((3000, 3000), compression="RICE_1"))
    query = {"width": "4096", "height": "4096", "format": "png"}
    answer = run_request(query, 300, [frame])
    assert answer["peak"] < 300 * 1_000_000
    assert answer["status"] == 413, answer
    message = json.loads(answer["body"])["message"]
    assert message.startswith("width: "), message
    largest = int(message.rsplit(" is ", 1)[1])
    assert 1 <= largest < 3000
    fits = run_request({**query, "width": str(largest), "height": str(largest)}, 300, [frame])
    assert fits["status"] == 200, fits
    assert fits["peak"] < 300 * 1_000_000


# ---------------------------------------------------------------------------- in process
FRAME = reduced_frame_bytes((100, 100), compression="RICE_1")


def test_check_memory_names_the_largest_size_below_the_one_asked_for_that_fits():
    params = ThumbnailParams(
        width=4096, height=4096, format="png", color=True, cutout=PixelCutout(50, 50, 12000)
    )
    allowed = 1500 * MB
    assert budget.plan_memory(FRAME, params).estimate() > allowed
    with pytest.raises(MemoryBudgetExceeded, match=r"^size: ") as refused:
        budget.check_memory(FRAME, params, allowed)
    error = refused.value
    assert error.status == 413 and error.parameter == "size"
    assert f"is {error.largest}" in error.message
    smaller = ThumbnailParams(
        width=4096, height=4096, format="png", color=True, cutout=PixelCutout(50, 50, error.largest)
    )
    assert budget.check_memory(FRAME, smaller, allowed).estimate() <= allowed
    larger = ThumbnailParams(
        width=4096,
        height=4096,
        format="png",
        color=True,
        cutout=PixelCutout(50, 50, error.largest + 1),
    )
    assert budget.plan_memory(FRAME, larger).estimate() > allowed


def test_a_request_within_the_budget_passes_and_is_planned_from_the_headers():
    params = ThumbnailParams(cutout=PixelCutout(50, 50, 12000))
    plan = budget.check_memory(FRAME, params, 1500 * MB)
    assert plan.window == (12000, 12000)
    assert plan.part_pixels == 100 * 100  # the frame; the padding is not counted as pixels
    assert plan.padded


def test_a_raw_frame_is_planned_wherever_its_detector_reaches():
    """A raw frame's detector is laid out only when decoded: planning must not refuse a
    cutout the renderer would cut (a wide detector: 4 x 10 amplifiers of 8 x 200 pixels)."""
    frame = raw_amplifier_frame_bytes(data_shape=(8, 200))  # detector 16 x 400
    params = ThumbnailParams(cutout=PixelCutout(380, 10, 16))
    assert budget.check_memory(frame, params, 1500 * MB).decode_pixels > 0
    assert render_thumbnail([frame], params).padded is True


def test_the_budget_comes_from_the_functions_memory():
    assert Settings.from_env({}).render_memory_bytes is None
    settings = Settings.from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769"})
    assert settings.render_memory_bytes == (1769 - MEMORY_RESERVED_MB) * MB
    assert render_memory_budget(1769) == 1513 * MB


def test_a_pixel_cutout_whose_colour_channel_is_too_large_names_size_not_fov():
    frames = [
        reduced_frame_bytes((100, 100), compression="RICE_1", seed=seed, shift=(seed, -seed))
        for seed in range(3)
    ]
    params = ThumbnailParams(color=True, cutout=PixelCutout(50.5, 50.5, 100))
    # The red cutout is exactly the limit; the other channels are cut with a margin.
    with pytest.raises(InvalidParameter, match=r"^size: ") as refused:
        render_thumbnail(frames, params, limits=RenderLimits(max_pixels=100 * 100))
    assert refused.value.parameter == "size"


# ---------------------------------------------------------------------------- padding
@pytest.mark.parametrize(
    ("shape", "data"),
    [
        ((300, 280), Window(40, 140, 0, 90)),  # padded on three sides
        ((257, 301), Window(0, 257, 120, 301)),  # padded on the left only
        ((90, 400), Window(10, 80, 30, 370)),  # padded all round
        ((64, 64), Window(0, 0, 0, 0)),  # a colour channel that misses its frame
        ((300, 280), Window(40, 140, 0, 280)),  # padded above and below only
        ((300, 280), Window(0, 300, 0, 280)),  # no padding at all
        ((2000, 3000), Window(1000, 1013, 2989, 3000)),  # a corner of frame in a big window
        ((500, 500), Window(3, 497, 1, 499)),  # part edges inside the blocks
    ],
)
@pytest.mark.parametrize("factor", [1, 2, 3, 7, 16])
@pytest.mark.parametrize("clip", [None, (-1.0, 3.0)])
def test_a_padded_layout_bins_and_samples_as_the_padded_image_would(shape, data, factor, clip):
    rng = np.random.default_rng(factor)
    part = rng.normal(1.0, 2.0, data.shape).astype(np.float32)
    if part.size and factor != 7:  # factor 7: a frame with no bad pixel
        part[part.shape[0] // 2, part.shape[1] // 3] = np.nan  # a bad pixel of the frame
    padded = np.full(shape, np.nan, dtype=np.float32)
    padded[data.y0 : data.y1, data.x0 : data.x1] = part
    layout = PaddedLayout(part, shape, data)
    layout.BAND_BYTES = 4 * shape[1] * factor * 3  # several bands, to test their seams
    np.testing.assert_array_equal(layout.binned(factor, clip), block_mean(padded, factor, clip))
    np.testing.assert_array_equal(layout.samples(2000), sample(padded, 2000))
    np.testing.assert_array_equal(layout.assemble(), padded)


def test_a_padded_cutout_keeps_only_the_frames_part():
    frame = load_frame(FRAME, cutout=PixelCutout(50, 50, 12000))
    assert isinstance(frame.layout, PaddedLayout)
    assert frame.layout.part.shape == (100, 100)
    assert frame.shape == (12000, 12000)


# ---------------------------------------------------------------------------- pregeneration
def test_pregeneration_skips_a_preset_too_large_for_the_function_and_renders_the_rest(
    monkeypatch, lambda_context
):
    import boto3
    from moto import mock_aws

    from tests.conftest import load_event
    from thumbnails import pregenerate
    from thumbnails.cache_keys import thumbnail_key
    from thumbnails.presets import parse_presets
    from thumbnails.versions import of_bytes

    small, large = "width=200&height=200", "width=4096&height=4096&format=png"
    monkeypatch.setenv("THUMBNAIL_BUCKET", "thumbnails-test")
    monkeypatch.delenv("STORAGE_URL", raising=False)
    monkeypatch.setenv("PREGENERATE_PRESETS", f"{small};{large}")
    # 300 MB: 44 MiB for a render, too little for a 1500 x 1500 PNG, enough for 200 px.
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "300")
    frame = reduced_frame_bytes((1500, 1500), compression="RICE_1")
    pregenerate.reset()
    try:
        with mock_aws():
            s3 = boto3.client("s3")
            for bucket in ("frames-test", "thumbnails-test"):
                s3.create_bucket(Bucket=bucket)
            s3.put_object(Bucket="frames-test", Key="big-e91.fits.fz", Body=frame)
            event = load_event("eventbridge-object-created.json")
            event["detail"]["bucket"]["name"] = "frames-test"
            event["detail"]["object"].update({"key": "big-e91.fits.fz", "size": len(frame)})
            event["detail"]["object"].pop("etag")
            answer = pregenerate.handler(event, lambda_context)
            stored = [
                item["Key"]
                for item in s3.list_objects_v2(Bucket="thumbnails-test").get("Contents", [])
            ]
    finally:
        pregenerate.reset()
    [rendered] = answer["results"]
    version = of_bytes(frame)
    kept, skipped = parse_presets([small, large])
    assert stored == [thumbnail_key("big-e91", version, kept)]
    assert list(rendered["rendered"]) == [thumbnail_key("big-e91", version, kept)]
    assert thumbnail_key("big-e91", version, skipped) not in stored


def test_every_output_format_has_a_memory_factor():
    # Found by make test-lambda: AVIF came after the factors, and a format=avif request in a
    # function with a memory budget raised KeyError (a 500) where no budget hid it.
    from thumbnails.imaging.budget import BINNED_BYTES
    from thumbnails.params import FORMATS

    for fmt in FORMATS:
        for mode in ("grey", "colour"):
            assert (mode, fmt, False) in BINNED_BYTES, (mode, fmt)
            if fmt != "jpeg":  # transparent padding
                assert (mode, fmt, True) in BINNED_BYTES, (mode, fmt)
