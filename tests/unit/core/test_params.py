"""ThumbnailParams: the old service's parameter names and defaults, strict validation, and one
canonical form that is the same in every process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import thumbnails.params as params_module
from thumbnails.errors import InvalidParameter
from thumbnails.params import COLOR_RENDER_VERSION, RENDER_VERSION, ThumbnailParams, parse_bool

#: Pinned on purpose (see TestPinnedKeys): change them only together with RENDER_VERSION.
PINNED_DEFAULT_CANONICAL = (
    "v2&color=0&format=jpeg&height=200&label=&median=0&orientation=north&percentile=99.5"
    "&quality=80&stretch=zscale&width=200"
)
PINNED_DEFAULT_DIGEST = "41c0bcced2c37f9c8a937490093157f1"
PINNED_FULL_QUERY = {
    "width": "500",
    "height": "300",
    "label": "So many stars",
    "quality": "90",
    "median": "true",
    "percentile": "99",
    "stretch": "linear",
    "format": "webp",
}
PINNED_FULL_DIGEST = "3a7dde28a6233ac0f95b448568a16315"
#: The default colour request: colour keys carry COLOR_RENDER_VERSION, bumped to 3 when
#: saturated stars became white (issue 26), which moved every colour key and no grey one.
PINNED_COLOUR_CANONICAL = (
    "v2&color=1&color_render=3&format=jpeg&height=200&label=&median=0&orientation=north"
    "&percentile=99.5&quality=80&stretch=zscale&width=200"
)
PINNED_COLOUR_DIGEST = "1161b838ba23b01699e22e502f78b900"
#: A colormapped request: ``cmap`` in the key only when it is not ``gray`` (issue 26).
PINNED_CMAP_DIGEST = "d32278796e23100d2465fdd99bf35918"


class TestDefaults:
    def test_match_the_old_service(self):
        params = ThumbnailParams.from_query({})
        assert (params.width, params.height) == (200, 200)
        assert params.quality == 80
        assert params.median is False
        assert params.percentile == 99.5
        assert params.label == ""
        assert params.color is False

    def test_zscale_jpeg_is_the_default_rendering(self):
        params = ThumbnailParams()
        assert params.stretch == "zscale"
        assert params.format == "jpeg"
        assert params.content_type == "image/jpeg"
        assert params.extension == "jpg"


class TestParsing:
    def test_reads_every_parameter(self):
        params = ThumbnailParams.from_query(
            {
                "width": "500",
                "height": "300",
                "label": "So many stars",
                "quality": "95",
                "median": "true",
                "percentile": "98",
                "stretch": "ASINH",
                "format": "png",
                "color": "1",
            }
        )
        assert params == ThumbnailParams(
            width=500,
            height=300,
            label="So many stars",
            quality=95,
            median=True,
            percentile=98.0,
            stretch="asinh",
            format="png",
            color=True,
        )

    def test_jpg_is_an_alias_of_jpeg(self):
        assert ThumbnailParams.from_query({"format": "jpg"}).format == "jpeg"

    def test_unknown_parameters_are_ignored(self):
        assert ThumbnailParams.from_query({"image": "true", "_": "123"}) == ThumbnailParams()

    def test_multi_value_lists_with_one_distinct_value_are_accepted(self):
        assert ThumbnailParams.from_query({"width": ["400", "400"]}).width == 400

    def test_zero_is_a_value_not_unset(self):
        with pytest.raises(InvalidParameter, match="width"):
            ThumbnailParams.from_query({"width": "0"})

    @pytest.mark.parametrize(
        ("query", "parameter"),
        [
            ({"width": "abc"}, "width"),
            ({"width": "-5"}, "width"),
            ({"width": "1e3"}, "width"),
            ({"width": "12.5"}, "width"),
            ({"width": "4097"}, "width"),
            ({"height": "99999999999999999999"}, "height"),
            ({"height": ""}, "height"),
            ({"quality": "0"}, "quality"),
            ({"quality": "96"}, "quality"),
            ({"quality": "high"}, "quality"),
            ({"percentile": "0"}, "percentile"),
            ({"percentile": "100.5"}, "percentile"),
            ({"percentile": "nan"}, "percentile"),
            ({"percentile": "inf"}, "percentile"),
            ({"median": "maybe"}, "median"),
            ({"color": "2"}, "color"),
            ({"stretch": "histeq"}, "stretch"),
            ({"format": "gif"}, "format"),
            ({"label": "a\x00b"}, "label"),
            ({"label": "line\nbreak"}, "label"),
            ({"label": "x" * 201}, "label"),
            ({"width": ["100", "200"]}, "width"),
        ],
    )
    def test_bad_values_are_refused_naming_the_parameter(self, query, parameter):
        with pytest.raises(InvalidParameter) as caught:
            ThumbnailParams.from_query(query)
        assert caught.value.parameter == parameter
        assert caught.value.status == 400
        assert caught.value.message.startswith(parameter)

    def test_the_size_limit_is_configurable(self):
        assert ThumbnailParams.from_query({"width": "8000"}, max_size=8192).width == 8000
        with pytest.raises(InvalidParameter, match="between 1 and 1000"):
            ThumbnailParams.from_query({"width": "1001"}, max_size=1000)

    def test_defaults_shrink_to_a_smaller_size_limit(self):
        params = ThumbnailParams.from_query({"height": "50"}, max_size=100)
        assert (params.width, params.height) == (100, 50)

    @pytest.mark.parametrize("raw", ["true", "True", "1", "yes", "ON", " t "])
    def test_true_spellings(self, raw):
        assert parse_bool("image", raw) is True

    @pytest.mark.parametrize("raw", ["false", "0", "no", "off", ""])
    def test_false_spellings(self, raw):
        assert parse_bool("image", raw) is False

    def test_unicode_labels_are_kept(self):
        label = "M31 \u2605 \u05e9\u05dc\u05d5\u05dd \U0001f52d"
        assert ThumbnailParams.from_query({"label": label}).label == label

    def test_objects_built_in_code_are_validated_too(self):
        with pytest.raises(InvalidParameter, match="width"):
            ThumbnailParams(width=True)
        with pytest.raises(InvalidParameter, match="stretch"):
            ThumbnailParams(stretch="nope")


class TestCanonicalForm:
    def test_is_versioned_and_sorted(self):
        canonical = ThumbnailParams(width=500, label="a&b=c").canonical()
        assert canonical.startswith(RENDER_VERSION + "&")
        names = [part.split("=")[0] for part in canonical.split("&")[1:]]
        assert names == sorted(names)
        assert "label=a%26b%3Dc" in canonical

    def test_same_request_spelled_differently_gives_the_same_digest(self):
        a = ThumbnailParams.from_query({"width": "0500", "format": "JPG", "median": "yes"})
        b = ThumbnailParams.from_query({"median": "1", "width": "500"})
        assert a.digest() == b.digest()

    def test_any_rendering_difference_changes_the_digest(self):
        base = ThumbnailParams()
        variants = [
            ThumbnailParams(width=201),
            ThumbnailParams(height=201),
            ThumbnailParams(label="x"),
            ThumbnailParams(quality=81),
            ThumbnailParams(median=True),
            ThumbnailParams(stretch="log"),
            ThumbnailParams(format="webp"),
            ThumbnailParams(color=True),
        ]
        digests = {v.digest() for v in variants} | {base.digest()}
        assert len(digests) == len(variants) + 1

    def test_colour_rendering_has_its_own_version_and_grey_keys_do_not_carry_it(self):
        # A change to colour rendering alone moves only colour keys.
        assert f"color_render={COLOR_RENDER_VERSION}" in ThumbnailParams(color=True).canonical()
        assert ThumbnailParams().canonical() == PINNED_DEFAULT_CANONICAL

    def test_unused_values_do_not_split_the_cache(self):
        assert ThumbnailParams(percentile=90).digest() == ThumbnailParams().digest()
        assert (
            ThumbnailParams(stretch="linear", percentile=90).digest()
            != ThumbnailParams(stretch="linear").digest()
        )
        assert (
            ThumbnailParams(median=True, percentile=90).digest()
            != ThumbnailParams(median=True).digest()
        )
        assert (
            ThumbnailParams(format="png", quality=10).digest()
            == ThumbnailParams(format="png").digest()
        )

    def test_labels_cannot_collide_through_escaping(self):
        # U+1F60 followed by "0" must not spell the same as U+1F600.
        assert (
            ThumbnailParams(label="\u1f600").digest()
            != ThumbnailParams(label="\U0001f600").digest()
        )

    def test_digest_is_the_same_in_every_process(self):
        # The children get this tree's package on their path, explicitly, and say which file
        # they imported: an installed copy elsewhere must not stand in for the code under test.
        tree = Path(__file__).resolve().parents[3] / "functions" / "thumbnails"
        under_test = tree / "thumbnails" / "params.py"
        assert Path(params_module.__file__).resolve() == under_test  # this process too
        code = (
            f"import sys; sys.path.insert(0, {str(tree)!r});"
            "import thumbnails.params as p;"
            "print(p.__file__);"
            "print(p.ThumbnailParams(width=500, label='So many stars', median=True).digest())"
        )
        outputs = [
            subprocess.run(
                [sys.executable, "-I", "-c", code],
                env={"PYTHONHASHSEED": seed},
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            for seed in ("1", "2", "3")
        ]
        files = {Path(out[0]).resolve() for out in outputs}
        digests = {out[1] for out in outputs}
        assert files == {under_test}
        assert digests == {ThumbnailParams(width=500, label="So many stars", median=True).digest()}


class TestPinnedKeys:
    """Known requests, known keys: a change of the canonical form orphans every cached object,
    so it must be deliberate (with a `RENDER_VERSION` bump) and show up here."""

    def test_the_default_request(self):
        params = ThumbnailParams()
        assert params.canonical() == PINNED_DEFAULT_CANONICAL
        assert params.digest() == PINNED_DEFAULT_DIGEST

    def test_a_request_with_every_parameter_set(self):
        params = ThumbnailParams.from_query(PINNED_FULL_QUERY)
        assert params.digest() == PINNED_FULL_DIGEST

    def test_the_default_colour_request(self):
        params = ThumbnailParams(color=True)
        assert params.canonical() == PINNED_COLOUR_CANONICAL
        assert params.digest() == PINNED_COLOUR_DIGEST

    def test_a_colormapped_request_and_gray_as_the_default(self):
        assert ThumbnailParams(cmap="viridis").digest() == PINNED_CMAP_DIGEST
        assert ThumbnailParams.from_query({"cmap": "gray"}).digest() == PINNED_DEFAULT_DIGEST
        full_gray = ThumbnailParams.from_query({**PINNED_FULL_QUERY, "cmap": "gray"})
        assert full_gray.digest() == PINNED_FULL_DIGEST


class TestFeaturesTogether:
    """How the parameters of issues 26 and 30 combine: a FITS file is the frame's pixels, so
    the picture's parameters (``cmap``, ``wcs``) leave its key alone; a planet's crop is a
    picture, so it is not a FITS file."""

    def test_fits_ignores_the_pictures_parameters(self):
        fits = ThumbnailParams(format="fits", width=500)
        for extra in ({"cmap": "viridis"}, {"wcs": True}, {"cmap": "hot", "wcs": True}):
            assert ThumbnailParams(format="fits", width=500, **extra).digest() == fits.digest()

    def test_the_pictures_parameters_split_image_keys(self):
        digests = {
            ThumbnailParams(**extra).digest()
            for extra in ({}, {"cmap": "viridis"}, {"wcs": True}, {"cmap": "viridis", "wcs": True})
        }
        assert len(digests) == 4

    def test_a_planet_is_not_a_fits_file(self):
        with pytest.raises(InvalidParameter, match="planet"):
            ThumbnailParams.from_query({"planet": "true", "format": "fits"})

    def test_a_grey_planet_takes_a_colormap_and_a_colour_one_does_not(self):
        assert ThumbnailParams(planet=True, cmap="inferno").digest() != (
            ThumbnailParams(planet=True).digest()
        )
        with pytest.raises(InvalidParameter, match="cmap"):
            ThumbnailParams(planet=True, color=True, cmap="inferno")

    def test_a_palette_is_colour_only_and_fits_is_not_colour(self):
        with pytest.raises(InvalidParameter, match="format"):
            ThumbnailParams(color=True, palette="hoo", format="fits")
        assert ThumbnailParams(palette="hoo", format="fits").digest() == (
            ThumbnailParams(format="fits").digest()
        )
