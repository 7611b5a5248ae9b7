"""Properties over inputs nobody wrote by hand: whatever arrives, the parameter parser and the
FITS reader either succeed or raise the one typed error meant for it, never anything else."""

from __future__ import annotations

import io
import json
import math
import string
import unicodedata
from urllib.parse import parse_qs, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.robustness.frames import data_location
from tests.robustness.harness import Harness, api_event, json_body
from tests.support.fits_factory import gzip_bytes, reduced_frame_bytes
from thumbnails.errors import FrameTooLarge, InvalidParameter, UnreadableFrame
from thumbnails.params import FORMATS, MAX_LABEL_LENGTH, STRETCHES, RenderLimits, ThumbnailParams

# Modest and reproducible (the same examples on every run, so a failure is never a fluke of
# one CI run): these run in every `make test`.
PROPERTY = settings(
    max_examples=200,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

KNOWN = ("width", "height", "label", "quality", "median", "percentile", "stretch", "format")
NAMES = st.sampled_from((*KNOWN, "color", "image", "WIDTH", "width ", "", "x" * 300))

NUMBERLIKE = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e309", "0x10", "1_000", "٣", "１２", " 12 ", "+5"]),
)
WORDS = st.sampled_from(
    [*STRETCHES, *FORMATS, "JPG", "gif", "true", "false", "yes", "maybe", "", " ", "\x00"]
)
VALUES = st.one_of(NUMBERLIKE, WORDS, st.text(max_size=250))
QUERY_VALUES = st.one_of(st.none(), VALUES, st.lists(VALUES, max_size=3))
QUERIES = st.dictionaries(NAMES, QUERY_VALUES, max_size=10)
UNDRAWABLE = ("Cc", "Cs", "Co", "Cn")  # control, surrogate, private use, unassigned


def _parse_and_check(query, max_size: int) -> str:
    try:
        params = ThumbnailParams.from_query(query, max_size=max_size)
    except InvalidParameter as error:
        # The message names the problem: it starts with a real parameter's name.
        assert error.parameter in KNOWN + ("color",)
        assert str(error).startswith(error.parameter + ": ")
        assert error.status == 400
        return "refused"
    assert 1 <= params.width <= max_size
    assert 1 <= params.height <= max_size
    assert 1 <= params.quality <= 95
    assert math.isfinite(params.percentile) and 0 < params.percentile <= 100
    assert params.stretch in STRETCHES
    assert params.format in FORMATS
    assert len(params.label) <= MAX_LABEL_LENGTH
    assert not any(unicodedata.category(ch) in UNDRAWABLE for ch in params.label)
    assert len(params.digest()) == 32 and set(params.digest()) <= set(string.hexdigits)
    return "accepted"


def check_both(outcomes: dict[str, int], at_least: int = 5) -> None:
    assert outcomes["accepted"] >= at_least, outcomes
    assert outcomes["refused"] >= at_least, outcomes


class TestParameterParser:
    def test_any_query_gives_valid_parameters_or_invalid_parameter(self):
        outcomes = {"accepted": 0, "refused": 0}

        @PROPERTY
        @given(query=QUERIES, max_size=st.integers(1, 10_000))
        def check(query, max_size):
            outcomes[_parse_and_check(query, max_size)] += 1

        check()
        check_both(outcomes)

    def test_default_size_never_exceeds_a_smaller_max_size(self):
        params = ThumbnailParams.from_query({}, max_size=100)
        assert (params.width, params.height) == (100, 100)

    @PROPERTY
    @given(query=QUERIES)
    def test_parsing_is_deterministic(self, query):
        outcomes = []
        for _ in range(2):
            try:
                outcomes.append(ThumbnailParams.from_query(query).canonical())
            except InvalidParameter as error:
                outcomes.append(str(error))
        assert outcomes[0] == outcomes[1]


QUERY_STRINGS = st.one_of(
    st.text(max_size=300),
    st.lists(st.tuples(NAMES, st.one_of(NUMBERLIKE, WORDS, st.text(max_size=40))), max_size=8).map(
        lambda pairs: urlencode(pairs)
    ),
)


class TestRawQueryStrings:
    def test_any_query_string_parses_or_is_invalid_parameter(self):
        outcomes = {"accepted": 0, "refused": 0}

        @PROPERTY
        @given(raw=QUERY_STRINGS)
        def check(raw):
            query = parse_qs(raw, keep_blank_values=True)
            try:
                ThumbnailParams.from_query(query)
            except InvalidParameter as error:
                assert str(error).startswith(error.parameter + ": ")
                outcomes["refused"] += 1
                return
            outcomes["accepted"] += 1

        check()
        check_both(outcomes)

    @settings(PROPERTY, max_examples=60)
    @given(query=QUERIES)
    def test_the_api_answers_any_query_with_200_or_400_never_500(self, s3, query):
        # As API Gateway sends them: every parameter with at least one value.
        multi = {
            k: v if isinstance(v, list) else [v] for k, v in query.items() if v not in (None, [])
        }
        with pytest.MonkeyPatch.context() as patch, Harness.started(patch, s3) as harness:
            harness.serve_frame()
            response = harness.invoke(api_event(query=multi))
            status = response["statusCode"]
            assert status in (200, 302, 400), response["body"]
            if status == 400:
                message = json_body(response)["message"]
                assert message.split(":")[0] in (*KNOWN, "color", "image")


# --------------------------------------------------------------------------- FITS bytes
# Seeds are small so that each example costs milliseconds; the renderer's limit is lowered
# so that a mutated header cannot make the test allocate much either.
LIMITS = RenderLimits(max_pixels=2_000_000)
SEEDS = {
    "fits": reduced_frame_bytes((16, 20), stars=3),
    "fits-primary": reduced_frame_bytes((16, 20), stars=3, in_primary=True),
    "fits.fz-rice": reduced_frame_bytes((16, 20), stars=3, compression="RICE_1"),
    "fits.fz-gzip": reduced_frame_bytes((16, 20), stars=3, compression="GZIP_2"),
    "fits.gz": gzip_bytes(reduced_frame_bytes((16, 20), stars=3)),
}
EXPECTED = (UnreadableFrame, FrameTooLarge)


@st.composite
def mutated_fits(draw) -> bytes:
    """A seed file damaged by bit flips, a truncation, a splice or a rewritten header byte."""
    name = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[name])
    kind = draw(st.sampled_from(["flip", "flip-header", "truncate", "splice", "overwrite"]))
    if kind in ("flip", "flip-header"):
        # Headers are where a single flipped bit changes the meaning of the whole file.
        end = min(len(data), 2 * 2880) if kind == "flip-header" else len(data)
        for position in draw(st.lists(st.integers(0, end - 1), min_size=1, max_size=8)):
            data[position] ^= 1 << draw(st.integers(0, 7))
    elif kind == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif kind == "splice":
        other = SEEDS[draw(st.sampled_from(sorted(SEEDS)))]
        cut = draw(st.integers(0, len(data)))
        start = draw(st.integers(0, len(other)))
        data = data[:cut] + other[start:]
    else:
        position = draw(st.integers(0, len(data) - 1))
        chunk = draw(st.binary(min_size=1, max_size=80))
        data[position : position + len(chunk)] = chunk
    return bytes(data)


def _render(data: bytes):
    from thumbnails.imaging import render

    frame = render.load_frame(data, limits=LIMITS)
    return render.render_frames([frame], ThumbnailParams(width=32, height=32, format="png"))


class TestFitsReader:
    def test_the_undamaged_seeds_render_and_read(self):
        from thumbnails.imaging import render

        for name, seed in SEEDS.items():
            thumbnail = _render(seed)
            assert sorted((thumbnail.width, thumbnail.height)) == [16, 20], name  # never enlarged
            assert render.read_header(seed)["OBSTYPE"] == "EXPOSE", name

    def test_damaged_files_render_or_raise_a_typed_error(self):
        from PIL import Image

        outcomes = {"accepted": 0, "refused": 0}

        @PROPERTY
        @given(data=mutated_fits())
        def check(data):
            try:
                thumbnail = _render(data)
            except EXPECTED as error:
                assert error.status in (413, 422)
                assert error.message  # a reason a user can read
                outcomes["refused"] += 1
                return
            with Image.open(io.BytesIO(thumbnail.data)) as image:
                assert image.size == (thumbnail.width, thumbnail.height)
                assert 1 <= image.width <= 32 and 1 <= image.height <= 32
            outcomes["accepted"] += 1

        check()
        check_both(outcomes)

    def test_damaged_headers_read_or_raise_unreadable_frame(self):
        from thumbnails.imaging import render

        outcomes = {"accepted": 0, "refused": 0}

        @PROPERTY
        @given(data=mutated_fits())
        def check(data):
            try:
                header = render.read_header(data)
            except EXPECTED:
                outcomes["refused"] += 1
                return
            # A header that reads is a header: its cards can be looked up like the service
            # does (missing ones give the default), and the mandatory ones are there.
            assert isinstance(header.get("NAXIS", 0), int)
            assert header.get("NO-SUCH-CARD", "absent") == "absent"
            outcomes["accepted"] += 1

        check()
        check_both(outcomes)

    @PROPERTY
    @given(data=st.binary(max_size=6000))
    def test_arbitrary_bytes_are_refused_as_unreadable(self, data):
        from thumbnails.imaging import render

        with pytest.raises(EXPECTED):
            _render(data)
        with pytest.raises(EXPECTED):
            render.read_header(data)

    @settings(max_examples=60, deadline=None, database=None)
    @given(name=st.sampled_from(["fits", "fits.fz-rice"]), extra=st.integers(0, 2880))
    def test_header_reads_from_any_prefix_that_holds_the_headers(self, name, extra):
        from thumbnails.imaging import render

        seed = SEEDS[name]
        start, _ = data_location(seed, 1)  # the image header ends where its data starts
        header = render.read_header(seed[: start + extra])
        assert header["OBSTYPE"] == "EXPOSE"
        assert header["FILTER"] == "rp"
        assert header["REQNUM"] == 3400001


# --------------------------------------------------------------------------- queue messages
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=12,
)


@st.composite
def s3_like_bodies(draw) -> str:
    """Message bodies: any text, any JSON, or S3 notifications with parts swapped for junk."""
    kind = draw(st.sampled_from(["text", "json", "notification"]))
    if kind == "text":
        return draw(st.text(max_size=200))
    if kind == "json":
        return json.dumps(draw(JSON))
    record = {
        "eventSource": draw(st.sampled_from(["aws:s3", "aws:sqs", ""])),
        "eventName": draw(st.sampled_from(["ObjectCreated:Put", "ObjectRemoved:Delete", ""])),
        "s3": {
            "bucket": {"name": draw(st.one_of(st.just("no-such-bucket"), JSON))},
            "object": {"key": draw(st.one_of(st.just("raw/x-e91.fits"), JSON)), "eTag": draw(JSON)},
        },
    }
    return json.dumps({"Records": draw(st.lists(st.just(record), max_size=2))})


class TestPregenerationMessages:
    @settings(PROPERTY, max_examples=100)
    @given(bodies=st.lists(s3_like_bodies(), min_size=1, max_size=4))
    def test_any_batch_gets_a_partial_batch_response_naming_only_its_messages(self, s3, bodies):
        from tests.conftest import FakeLambdaContext, load_event
        from thumbnails import pregenerate

        template = load_event("sqs-s3-batch.json")["Records"][0]
        records = [
            dict(template, messageId=f"message-{index}", body=body)
            for index, body in enumerate(bodies)
        ]
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("THUMBNAIL_BUCKET", "robustness-thumbnails")
            pregenerate.reset()
            try:
                response = pregenerate.handler({"Records": records}, FakeLambdaContext())
            finally:
                pregenerate.reset()
        failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        assert failed <= {record["messageId"] for record in records}
        for record in records:
            if not _is_json_object(record["body"]):
                assert record["messageId"] in failed  # retried, then dead-lettered


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


CUTOUT_NAMES = st.sampled_from(("ra", "dec", "fov", "x", "y", "size"))
POSITIONS = st.one_of(
    NUMBERLIKE,
    st.floats(-400, 400).map(repr),
    st.tuples(st.integers(-2, 99), st.integers(0, 70), st.floats(0, 70)).map(
        lambda parts: f"{parts[0]:+03d}:{parts[1]:02d}:{parts[2]:06.3f}"
    ),
    st.text(max_size=20),
)
CUTOUT_QUERIES = st.dictionaries(CUTOUT_NAMES, POSITIONS, max_size=6)


class TestCutoutParameters:
    @PROPERTY
    @given(query=CUTOUT_QUERIES)
    def test_any_cutout_query_gives_a_valid_cutout_or_names_the_bad_parameter(self, query):
        from thumbnails.positions import CUTOUT_PARAMETERS, MAX_FOV, PixelCutout, SkyCutout

        try:
            params = ThumbnailParams.from_query(query)
        except InvalidParameter as error:
            assert error.parameter in CUTOUT_PARAMETERS
            assert str(error).startswith(error.parameter + ": ") and error.status == 400
            return
        cutout = params.cutout
        if isinstance(cutout, SkyCutout):
            assert 0 <= cutout.ra < 360 and -90 <= cutout.dec <= 90
            assert 0.01 <= cutout.fov <= MAX_FOV
            assert round(cutout.ra * 72000, 6) == round(cutout.ra * 72000)  # 0.05 arcsec
        elif isinstance(cutout, PixelCutout):
            assert math.isfinite(cutout.x) and math.isfinite(cutout.y) and cutout.size >= 1
        else:
            assert cutout is None and not query
        assert ThumbnailParams.from_query(query).digest() == params.digest()
