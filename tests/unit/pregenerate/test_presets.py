"""PREGENERATE_PRESETS: query strings parsed exactly as the API parses a request."""

from __future__ import annotations

import pytest

from thumbnails import cache_keys
from thumbnails.params import ThumbnailParams
from thumbnails.presets import parse_preset, parse_presets
from thumbnails.settings import ENVIRONMENT, Settings, SettingsError


def test_default_presets_are_the_api_default_request_and_a_large_one():
    settings = Settings.from_env({})
    presets = parse_presets(settings.pregenerate_presets, max_size=settings.max_thumbnail_size)
    assert presets == (ThumbnailParams(), ThumbnailParams(width=1000, height=1000))


def test_a_preset_has_the_cache_key_of_the_equivalent_api_request():
    # The API builds its params from the request's query values (lists of strings).
    request = ThumbnailParams.from_query(
        {"width": ["500"], "height": ["300"], "stretch": ["asinh"], "format": ["webp"]}
    )
    preset = parse_preset("format=webp&stretch=asinh&height=300&width=500")
    version = "5d41402abc4b2a76b9719d911017c592"
    assert cache_keys.thumbnail_key("f", version, preset) == cache_keys.thumbnail_key(
        "f", version, request
    )


def test_a_label_is_url_decoded_like_a_query_value():
    assert parse_preset("label=So%20many+stars").label == "So many stars"


def test_presets_sharing_a_cache_key_are_rendered_once():
    presets = parse_presets(["width=200", "width=200&height=200", "height=200&quality=80"])
    assert presets == (ThumbnailParams(),)


def test_the_default_setting_parses():
    assert len(parse_presets(ENVIRONMENT["PREGENERATE_PRESETS"].split(";"))) == 2


@pytest.mark.parametrize(
    ("preset", "match"),
    [
        ("widht=200", "unknown parameter 'widht'"),
        ("width200", "not a query string"),
        ("width=0", "width"),
        ("width=5000", "between 1 and 4096"),
        ("stretch=gamma", "stretch"),
        ("color=true", "colour"),
        ("ra=201.3&dec=-43", "cutouts"),
        ("x=10&y=10&size=50", "cutouts"),
        ("planet=true", "planet=true is rendered on request"),
        ("format=fits", "format=fits is data"),
        ("image=true", "unknown parameter 'image'"),
    ],
)
def test_an_invalid_preset_is_a_settings_error_naming_it(preset, match):
    with pytest.raises(SettingsError, match=match):
        parse_preset(preset, max_size=4096)


def test_no_presets_at_all_is_a_settings_error():
    with pytest.raises(SettingsError, match="at least one"):
        parse_presets([])
