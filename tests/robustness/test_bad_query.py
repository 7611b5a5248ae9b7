"""Whatever a user of the public endpoint or of the command line sends, the answer is the right
4xx with a message naming the problem: never a 500, a traceback, or a call to the archive for
a request that could never succeed."""

from __future__ import annotations

import io
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from tests.robustness.harness import (
    BASENAME,
    api_event,
    header,
    image_body,
    json_body,
)
from tests.support.fits_factory import reduced_frame_bytes

# (case id, query, the parameter the message must name). Lists are repeated parameters
# (API Gateway's multiValueQueryStringParameters).
BAD_QUERIES = [
    ("width-word", {"width": "abc"}, "width"),
    ("width-empty", {"width": ""}, "width"),
    ("width-negative", {"width": "-1"}, "width"),
    ("width-zero", {"width": "0"}, "width"),
    ("width-above-max", {"width": "4097"}, "width"),
    ("width-exponent", {"width": "1e3"}, "width"),
    ("width-fraction", {"width": "12.5"}, "width"),
    ("width-hex", {"width": "0x10"}, "width"),
    ("width-nan", {"width": "NaN"}, "width"),
    ("width-20-digits", {"width": "99999999999999999999"}, "width"),
    ("width-blank", {"width": "   "}, "width"),
    ("width-thousands-separator", {"width": "1,000"}, "width"),
    ("width-double-sign", {"width": "+-3"}, "width"),
    ("width-unit", {"width": "200px"}, "width"),
    ("height-word", {"height": "abc"}, "height"),
    ("height-zero", {"height": "0"}, "height"),
    ("height-above-max", {"height": "5000"}, "height"),
    ("height-negative", {"height": "-200"}, "height"),
    ("height-infinity", {"height": "inf"}, "height"),
    ("quality-zero", {"quality": "0"}, "quality"),
    ("quality-96", {"quality": "96"}, "quality"),
    ("quality-word", {"quality": "high"}, "quality"),
    ("quality-negative", {"quality": "-5"}, "quality"),
    ("quality-fraction", {"quality": "80.5"}, "quality"),
    ("percentile-zero", {"percentile": "0"}, "percentile"),
    ("percentile-zero-float", {"percentile": "0.0"}, "percentile"),
    ("percentile-above-100", {"percentile": "100.1"}, "percentile"),
    ("percentile-negative", {"percentile": "-1"}, "percentile"),
    ("percentile-nan", {"percentile": "nan"}, "percentile"),
    ("percentile-infinity", {"percentile": "inf"}, "percentile"),
    ("percentile-word", {"percentile": "abc"}, "percentile"),
    ("percentile-overflow", {"percentile": "1e400"}, "percentile"),
    ("stretch-unknown", {"stretch": "cubic"}, "stretch"),
    ("stretch-empty", {"stretch": ""}, "stretch"),
    ("stretch-injection", {"stretch": "zscale;drop table"}, "stretch"),
    ("stretch-nul", {"stretch": "log\x00"}, "stretch"),
    ("format-gif", {"format": "gif"}, "format"),
    ("format-tiff", {"format": "tiff"}, "format"),
    ("format-empty", {"format": ""}, "format"),
    ("format-path", {"format": "../png"}, "format"),
    ("format-mime-type", {"format": "image/jpeg"}, "format"),
    ("image-maybe", {"image": "maybe"}, "image"),
    ("image-2", {"image": "2"}, "image"),
    ("image-typo", {"image": "inlinee"}, "image"),
    ("color-perhaps", {"color": "perhaps"}, "color"),
    ("color-2", {"color": "2"}, "color"),
    ("median-sometimes", {"median": "sometimes"}, "median"),
    ("label-201-chars", {"label": "x" * 201}, "label"),
    ("label-5000-chars", {"label": "y" * 5000}, "label"),
    ("label-nul", {"label": "a\x00b"}, "label"),
    ("label-ansi-escape", {"label": "red\x1b[31m"}, "label"),
    ("label-newline", {"label": "line1\nline2"}, "label"),
    ("label-tab", {"label": "tab\there"}, "label"),
    ("label-delete", {"label": "del\x7f"}, "label"),
    ("label-c1-control", {"label": "c1\x85"}, "label"),
    ("label-private-use", {"label": "\ue000"}, "label"),
    ("label-lone-surrogate", {"label": "\ud800"}, "label"),
    ("label-unassigned", {"label": "\u0378"}, "label"),
    ("repeated-width", {"width": ["100", "200"]}, "width"),
    ("repeated-format", {"format": ["jpeg", "png"]}, "format"),
    ("repeated-label", {"label": ["a", "b"]}, "label"),
    ("repeated-stretch", {"stretch": ["log", "sqrt"]}, "stretch"),
    ("repeated-image", {"image": ["true", "inline"]}, "image"),
    ("repeated-color", {"color": ["true", "false"]}, "color"),
    ("repeated-quality", {"quality": ["80", "81"]}, "quality"),
]

# (case id, path, status, message start). A single path segment is a frame id or a basename;
# anything but [A-Za-z0-9._-] (max 200, not starting with '.') is refused before the archive.
HOSTILE_PATHS = [
    ("dot-dot", "/../", 400, "basename"),
    ("dot", "/./", 400, "basename"),
    ("three-dots", "/.../", 400, "basename"),
    ("hidden", "/.hidden/", 400, "basename"),
    ("encoded-traversal", "/..%2F..%2Fetc%2Fpasswd/", 400, "basename"),
    ("encoded-dots", "/%2e%2e/", 400, "basename"),
    ("encoded-slash", "/a%2Fb/", 400, "basename"),
    ("encoded-nul", "/a%00b/", 400, "basename"),
    ("space", "/a b/", 400, "basename"),
    ("semicolon", "/a;b/", 400, "basename"),
    ("markup", "/<script>/", 400, "basename"),
    ("dollar", "/bad$name/", 400, "basename"),
    ("quote", "/it's/", 400, "basename"),
    ("fullwidth-letters", "/ｌｓｃ１ｍ００５/", 400, "basename"),
    ("accented", "/café/", 400, "basename"),
    ("201-chars", "/" + "a" * 201 + "/", 400, "basename"),
    ("500-chars", "/" + "b" * 500 + "/", 400, "basename"),
    ("19-digit-id-too-long-with-letter", "/" + "9" * 19 + "x" * 190 + "/", 400, "basename"),
    ("traversal-segments", "/a/../b/", 404, "Not found"),
    ("leading-traversal", "/../etc/passwd/", 404, "Not found"),
    ("nested", "/frames/123/", 404, "Not found"),
    # Single segments holding characters outside the router's own pattern.
    ("nul", "/a\x00b/", 400, "basename"),
    ("one-dot-leader", "/frame\u2024fits/", 400, "basename"),
    ("right-to-left-override", "/\u202eevil/", 400, "basename"),
    ("emoji", "/\U0001f52d/", 400, "basename"),
    ("backslash", "/a\\b/", 400, "basename"),
]

# Labels nobody expects but everyone may send: all must render.
ODD_LABELS = [
    ("emoji", "\U0001f52d\u2728 M31"),
    ("zwj-sequence", "\U0001f469\u200d\U0001f680 crew"),
    ("hebrew", "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd"),
    ("arabic", "\u0645\u0631\u062d\u0628\u0627"),
    ("rtl-override", "\u202eevil.exe"),
    ("combining", "e\u0301\u0301\u0301"),
    ("cjk", "\u661f\u96f2"),
    ("200-chars", "z" * 200),
    ("markup", "<script>alert(1)</script>"),
    ("traversal", "../../etc/passwd"),
    ("separators", "a&b=c;d%2F"),
]


def _client_error(response: dict, status: int) -> str:
    assert response["statusCode"] == status, response.get("body")
    assert header(response, "Content-Type") == "application/json"
    message = json_body(response)["message"]
    assert "Traceback" not in message
    return message


class TestBadQueryParametersThroughTheApi:
    @pytest.mark.parametrize(
        ("query", "parameter"), [pytest.param(q, p, id=i) for i, q, p in BAD_QUERIES]
    )
    def test_are_a_400_naming_the_parameter(self, harness, query, parameter):
        # The frame exists and renders: only the parameter can make this request fail.
        harness.serve_frame()
        message = _client_error(harness.invoke(api_event(query=query)), 400)
        assert message.startswith(parameter + ":")
        assert harness.cached() == []

    @pytest.mark.parametrize(("query", "parameter"), [({"width": "abc"}, "width")])
    def test_the_same_for_a_basename_request(self, harness, query, parameter):
        harness.serve_frame()
        event = api_event("api-basename.json", query=query)
        assert _client_error(harness.invoke(event), 400).startswith(parameter + ":")

    @pytest.mark.parametrize("digits", ["１２", "١٢", "12"])
    def test_non_ascii_digits_are_refused_or_the_same_as_ascii(self, harness, digits):
        # Python's int() reads fullwidth and Arabic-Indic digits; that is harmless only if
        # they mean exactly what the ASCII spelling means (one cache object, not two).
        harness.serve_frame()
        response = harness.invoke(api_event(query={"width": digits}))
        if response["statusCode"] == 400:
            assert json_body(response)["message"].startswith("width:")
            return
        assert response["statusCode"] == 200
        harness.invoke(api_event(query={"width": "12"}))
        assert len(harness.cached()) == 1

    def test_repeating_a_parameter_with_the_same_value_is_fine(self, harness):
        harness.serve_frame()
        response = harness.invoke(api_event(query={"width": ["64", "64"], "height": "64"}))
        assert response["statusCode"] == 200, response["body"]


class TestHostileBasenames:
    @pytest.mark.parametrize(
        ("path", "status", "start"),
        [pytest.param(p, s, m, id=i) for i, p, s, m in HOSTILE_PATHS],
    )
    def test_are_refused_before_the_archive_is_asked(self, harness, path, status, start):
        message = _client_error(harness.invoke(api_event(path=path)), status)
        assert message.startswith(start)
        assert harness.archive_calls() == []
        assert harness.cached() == []


class TestOddLabels:
    @pytest.mark.parametrize("label", [pytest.param(v, id=i) for i, v in ODD_LABELS])
    def test_render_and_stay_under_the_frames_prefix(self, harness, label):
        harness.serve_frame()
        query = {"label": label, "image": "inline", "format": "png", "width": "64"}
        response = harness.invoke(api_event("api-basename.json", query=query))
        assert response["statusCode"] == 200, response.get("body")
        with Image.open(io.BytesIO(image_body(response))) as image:
            assert image.format == "PNG"
        [key] = harness.cached()
        assert key.startswith(BASENAME + "/") and key.count("/") == 2


# --------------------------------------------------------------------------- the CLI
# (case id, options) -> exit 2, one line on stderr naming the option, no traceback.
CLI_CASES = [
    ("width-word", ["--width=abc"], "width"),
    ("width-zero", ["--width=0"], "width"),
    ("width-above-max", ["--width=4097"], "width"),
    ("width-fraction", ["--width=12.5"], "width"),
    ("height-negative", ["--height=-200"], "height"),
    ("height-infinity", ["--height=inf"], "height"),
    ("quality-96", ["--quality=96"], "quality"),
    ("quality-word", ["--quality=high"], "quality"),
    ("percentile-zero", ["--percentile=0"], "percentile"),
    ("percentile-nan", ["--percentile=nan"], "percentile"),
    ("percentile-above-100", ["--percentile=100.1"], "percentile"),
    ("stretch-unknown", ["--stretch=cubic"], "stretch"),
    ("format-gif", ["--format=gif"], "format"),
    ("format-path", ["--format=../png"], "format"),
    ("label-201-chars", ["--label=" + "x" * 201], "label"),
    ("label-ansi-escape", ["--label=red\x1b[31m"], "label"),
    ("label-newline", ["--label=a\nb"], "label"),
    ("unknown-option", ["--colour"], "colour"),
    ("max-pixels-word", ["--max-pixels=lots"], "max-pixels"),
    ("missing-frame", ["--missing-frame"], "no such file"),
    ("width-empty", ["--width="], "width"),
]


def _run_cli(frame: str, out: str, options: list[str]) -> subprocess.CompletedProcess:
    frames = [frame]
    if options == ["--missing-frame"]:
        frames, options = [frame + ".does-not-exist"], []
    return subprocess.run(
        [sys.executable, "-m", "thumbnails", "render", *frames, "-o", out, *options],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory):
    """Every CLI case, run as separate processes a few at a time (they are independent)."""
    directory = tmp_path_factory.mktemp("cli")
    frame = directory / "frame.fits"
    frame.write_bytes(reduced_frame_bytes((16, 20), stars=3))
    cases = {name: options for name, options, _problem in CLI_CASES}
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {
            name: pool.submit(_run_cli, str(frame), str(directory / f"{name}.jpg"), options)
            for name, options in cases.items()
        }
        results = {name: future.result() for name, future in futures.items()}
    return directory, results


class TestBadOptionsThroughTheCommandLine:
    @pytest.mark.parametrize("case", CLI_CASES, ids=[case[0] for case in CLI_CASES])
    def test_exit_2_with_one_line_naming_the_problem(self, cli_results, case):
        directory, results = cli_results
        name, _options, problem = case
        result = results[name]
        assert result.returncode == 2, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert problem in lines[0]
        assert not (directory / f"{name}.jpg").exists()
