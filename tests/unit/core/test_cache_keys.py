"""Cache keys are canonical, name the source version, and cannot be steered outside a
frame's prefix."""

from __future__ import annotations

import subprocess
import sys

import pytest

from thumbnails.cache_keys import frame_prefix, thumbnail_key, validate_basename
from thumbnails.errors import InvalidParameter
from thumbnails.frame_objects import basename_of
from thumbnails.params import ThumbnailParams

VERSION = "5d41402abc4b2a76b9719d911017c592"
OTHER = "7d793037a0760186574b0282f2f435e7"


class TestCacheKeys:
    def test_key_is_basename_version_digest_and_extension(self):
        params = ThumbnailParams(format="webp")
        key = thumbnail_key("lsc1m005-fa15-20260101-0100-e91", VERSION, params)
        assert key == f"lsc1m005-fa15-20260101-0100-e91/{VERSION}/{params.digest()}.webp"

    def test_another_version_is_another_key(self):
        params = ThumbnailParams()
        assert thumbnail_key("f", VERSION, params) != thumbnail_key("f", OTHER, params)

    def test_a_colour_key_covers_every_channels_basename_and_version(self):
        params = ThumbnailParams(color=True)
        channels = [("r-e91", VERSION), ("v-e91", VERSION), ("b-e91", VERSION)]
        key = thumbnail_key("r-e91", VERSION, params, channels)
        assert key.startswith(f"r-e91/{VERSION}/")
        assert key != f"r-e91/{VERSION}/{params.digest()}.jpg"
        reprocessed_blue = [*channels[:2], ("b-e91", OTHER)]
        assert thumbnail_key("r-e91", VERSION, params, reprocessed_blue) != key
        other_blue = [*channels[:2], ("b2-e91", VERSION)]
        assert thumbnail_key("r-e91", VERSION, params, other_blue) != key
        assert thumbnail_key("r-e91", VERSION, params, list(reversed(channels))) != key
        assert thumbnail_key("r-e91", VERSION, params, channels) == key  # deterministic

    def test_keys_are_the_same_in_every_process(self):
        code = (
            "from thumbnails.cache_keys import thumbnail_key as k;"
            "from thumbnails.params import ThumbnailParams as P;"
            f"c = [('r', '{VERSION}'), ('v', '{OTHER}'), ('b', '{VERSION}')];"
            f"print(k('r', '{VERSION}', P(width=500, label='M 51')),"
            f" k('r', '{VERSION}', P(color=True, stretch='asinh'), c))"
        )
        keys = {
            subprocess.run(
                [sys.executable, "-c", code],
                env={"PYTHONHASHSEED": seed},
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            for seed in ("1", "2", "3")
        }
        channels = [("r", VERSION), ("v", OTHER), ("b", VERSION)]
        here = (
            thumbnail_key("r", VERSION, ThumbnailParams(width=500, label="M 51")),
            thumbnail_key("r", VERSION, ThumbnailParams(color=True, stretch="asinh"), channels),
        )
        assert keys == {" ".join(here)}

    def test_a_colour_key_needs_its_three_channels_and_a_single_frame_none(self):
        with pytest.raises(ValueError, match="three channels"):
            thumbnail_key("f", VERSION, ThumbnailParams(color=True))
        with pytest.raises(ValueError, match="colour"):
            thumbnail_key("f", VERSION, ThumbnailParams(), [("f", VERSION)] * 3)

    @pytest.mark.parametrize(
        "version", ["", "../x", VERSION.upper(), VERSION[:-1], VERSION + "0", "abc-2", None]
    )
    def test_a_version_that_is_not_an_md5_is_refused(self, version):
        with pytest.raises(ValueError, match="version"):
            thumbnail_key("f", version, ThumbnailParams())

    @pytest.mark.parametrize(
        "key",
        [
            "lsc1m005-fa15-20260101-0100-e91.fits.fz",
            "raw/2026/lsc1m005-fa15-20260101-0100-e91.fits",
            "lsc1m005-fa15-20260101-0100-e91.fits.gz",
        ],
    )
    def test_basename_drops_folders_and_fits_suffixes(self, key):
        assert basename_of(key) == "lsc1m005-fa15-20260101-0100-e91"

    @pytest.mark.parametrize(
        "basename",
        ["..", ".", "../etc", "a/b", "a%2Fb", "a\x00b", "\u2024\u2024", "", "x" * 201, ".hidden"],
    )
    def test_hostile_basenames_are_refused(self, basename):
        with pytest.raises(InvalidParameter, match="basename"):
            validate_basename(basename)

    def test_keys_stay_inside_the_frame_prefix(self):
        key = thumbnail_key("frame-1", VERSION, ThumbnailParams(label="../../other/x"))
        assert key.startswith(frame_prefix("frame-1"))
        assert key.count("/") == 2
        channels = [("frame-1", VERSION), ("frame-2", VERSION), ("frame-3", VERSION)]
        colour = thumbnail_key("frame-1", VERSION, ThumbnailParams(color=True), channels)
        assert colour.startswith(frame_prefix("frame-1")) and colour.count("/") == 2

    @pytest.mark.parametrize("basename", ["frame-1\n", "frame-1\r\n", "\nframe-1"])
    def test_a_basename_with_a_newline_is_refused(self, basename):
        # "^...$" with re.match accepted a trailing newline; the whole string must match.
        with pytest.raises(InvalidParameter, match="basename"):
            validate_basename(basename)


class TestColourKeysBeforeFilterSets:
    """Issue 30 (filter families, ``palette=``) leaves every existing colour key as it was:
    digests computed by the service before it (with ``COLOR_RENDER_VERSION`` "3", the
    white saturated stars of issue 26, which changed every colour key on purpose)."""

    CHANNELS = [(f"coj2m002-ep02-20260102-000{i}-e91", "0123456789abcdef" * 2) for i in (1, 2, 3)]

    @pytest.mark.parametrize(
        ("params", "digest", "key"),
        [
            (
                ThumbnailParams(color=True),
                "1161b838ba23b01699e22e502f78b900",
                "d6ff34492a57ea3fe9608edfe54cc665.jpg",
            ),
            (
                ThumbnailParams(color=True, stretch="asinh", width=500, format="png"),
                "467b23f112ba0420d286c16f3039177c",
                "67f9596987c1abad46c4890ab2e16201.png",
            ),
            (
                ThumbnailParams(color=True, median=True, percentile=99.0),
                "18afb9a2f55f580f44cc0d514f94dc32",
                "92e0be55e9973ac815678bce6c8e1031.jpg",
            ),
            (  # the default palette, by either name, is no palette at all
                ThumbnailParams(color=True, palette="sho"),
                "1161b838ba23b01699e22e502f78b900",
                "d6ff34492a57ea3fe9608edfe54cc665.jpg",
            ),
        ],
    )
    def test_rvb_keys_are_pinned(self, params, digest, key):
        basename, version = self.CHANNELS[0]
        assert params.digest() == digest
        assert thumbnail_key(basename, version, params, self.CHANNELS) == (
            f"{basename}/{version}/{key}"
        )

    def test_a_palette_is_its_own_key_and_only_in_colour(self):
        basename, version = self.CHANNELS[0]
        keys = {
            thumbnail_key(basename, version, ThumbnailParams(color=True, palette=p), self.CHANNELS)
            for p in ("wavelength", "hoo", "lco")
        }
        assert len(keys) == 3
        assert ThumbnailParams(palette="hoo").digest() == ThumbnailParams().digest()
