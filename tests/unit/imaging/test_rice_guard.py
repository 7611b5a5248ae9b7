"""The Rice fast path calls astropy's private C functions, so it runs only on verified versions.

Those functions take positional arguments: a release that changed what one means would
still accept the call and decode wrong pixels without an error. The fast path is on for the
astropy versions it was checked against bit for bit (tests/unit/imaging/test_fast_paths.py), and on
any other astropy decodes the same frames itself.
"""

from __future__ import annotations

import importlib.util
import io
import re
from pathlib import Path

import astropy
import numpy as np
import pytest
from astropy.io import fits

from tests.support.fits_factory import reduced_frame_bytes
from thumbnails.imaging import rice
from thumbnails.imaging.hdus import iter_hdus, select_image
from thumbnails.imaging.render import load_frame, render_thumbnail
from thumbnails.params import ThumbnailParams

LAYER_REQUIREMENTS = Path(__file__).parents[3] / "layers" / "scientific" / "requirements.txt"
SHAPE = (96, 128)


@pytest.fixture
def fresh_guard(monkeypatch):
    """Forget the version check and the loaded decoders before and after the test."""
    rice.fast_path_verified.cache_clear()
    rice.decoders.cache_clear()
    monkeypatch.setitem(rice._DIRECT, "usable", True)
    yield
    monkeypatch.undo()
    rice.fast_path_verified.cache_clear()
    rice.decoders.cache_clear()


def science(raw: bytes):
    return select_image(list(iter_hdus(raw))).hdus[0]


def astropy_pixels(raw: bytes) -> np.ndarray:
    with fits.open(io.BytesIO(raw)) as hdul:
        return hdul["SCI"].data


def thumbnail(raw: bytes) -> bytes:
    return render_thumbnail([raw], ThumbnailParams(width=64, height=64, format="png")).data


def test_the_installed_astropy_is_a_verified_one(fresh_guard):
    # If this fails, the bit-for-bit tests ran against an astropy the fast path does not
    # trust: check them with it, then add it to rice.VERIFIED_ASTROPY.
    assert rice.astropy_version() == astropy.__version__
    assert astropy.__version__ in rice.VERIFIED_ASTROPY
    assert rice.fast_path_verified()


@pytest.mark.parametrize(
    ("dist_infos", "expected"),
    [
        ({"astropy-9.1.0.dist-info": "9.1.0"}, "9.1.0"),
        ({}, None),
        ({"astropy-8.0.2.dist-info": "8.0.2", "astropy-9.1.0.dist-info": "9.1.0"}, None),
    ],
    ids=["one", "none", "two"],
)
def test_the_version_is_read_from_the_metadata_beside_the_package(
    tmp_path, monkeypatch, dist_infos, expected
):
    package = tmp_path / "astropy"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, version in dist_infos.items():
        (tmp_path / name).mkdir()
        metadata = f"Metadata-Version: 2.1\nName: astropy\nVersion: {version}\n\nVersion: 0\n"
        (tmp_path / name / "METADATA").write_text(metadata)
    spec = importlib.util.spec_from_file_location("astropy", package / "__init__.py")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec)

    assert rice.astropy_version() == expected


def test_the_astropy_lambda_runs_is_a_verified_one():
    pins = re.findall(r"^astropy==(\S+)$", LAYER_REQUIREMENTS.read_text(), re.MULTILINE)
    assert len(pins) == 1
    assert pins[0] in rice.VERIFIED_ASTROPY


@pytest.mark.parametrize("version", ["8.0.3", "9.0.0", "7.2.0", None])
def test_another_astropy_turns_the_fast_path_off_and_astropy_decodes_the_same_pixels(
    fresh_guard, monkeypatch, version
):
    raw = reduced_frame_bytes(SHAPE, compression="RICE_1")
    fast = rice.rice_image(raw, science(raw))
    assert fast is not None  # the verified astropy takes the fast path
    expected = thumbnail(raw)

    rice.fast_path_verified.cache_clear()
    rice.decoders.cache_clear()
    monkeypatch.setattr(rice, "astropy_version", lambda: version)

    assert rice.decoders() is None  # the private functions are not even looked up
    assert rice.rice_image(raw, science(raw)) is None
    decoded = load_frame(raw).data
    np.testing.assert_array_equal(decoded, astropy_pixels(raw))
    np.testing.assert_array_equal(decoded, fast)
    assert thumbnail(raw) == expected
