"""Labels draw real glyphs in the scripts users write: Latin, Greek, Cyrillic, symbols.

The label font is DejaVu Sans, shipped inside the package. A character a font lacks is drawn
as its missing-glyph box (``.notdef``), the same box for every such character: so a glyph
that differs from that box, and from the other glyphs, is a real one. Pillow's default font
(the one used before) draws every Greek, Cyrillic and symbol character below as that box.
"""

from __future__ import annotations

import fnmatch
import io
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support.fits_factory import reduced_frame_bytes
from thumbnails.imaging.label import FONT_PATH, draw_label
from thumbnails.imaging.render import render_thumbnail
from thumbnails.params import ThumbnailParams

ROOT = Path(__file__).parents[3]
#: No font we ship has glyphs here (Unicode's private use area): the missing-glyph box.
MISSING = "\ue000"
SCRIPTS = {
    "latin": "AaĀéßøŁž",
    "greek": "αβγδλμπσΩΣ",
    "cyrillic": "БЖДЯжыйщЁ",
    "symbols": "°±×µÅ′″→≈★☉⊕♀✓",
}


def glyph(text: str) -> np.ndarray:
    """The pixels `draw_label` draws for `text`, cropped to their bounding box."""
    image = Image.new("L", (120, 40))
    draw_label(image, text)
    pixels = np.asarray(image)
    rows, cols = np.nonzero(pixels)
    assert rows.size, f"nothing drawn for {text!r}"
    return pixels[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a, b)


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_every_character_draws_its_own_glyph_not_the_missing_glyph_box(script):
    box = glyph(MISSING)
    glyphs = {char: glyph(char) for char in SCRIPTS[script]}
    for char, pixels in glyphs.items():
        assert not same(pixels, box), f"{char!r} (U+{ord(char):04X}) is drawn as a box"
    chars = list(glyphs)
    for i, first in enumerate(chars):
        for second in chars[i + 1 :]:
            assert not same(glyphs[first], glyphs[second]), f"{first!r} and {second!r} look alike"


def test_a_label_in_greek_and_cyrillic_renders_on_a_thumbnail():
    raw = reduced_frame_bytes((96, 128))

    def labelled(text: str) -> np.ndarray:
        params = ThumbnailParams(width=128, height=96, format="png", label=text)
        return np.asarray(Image.open(io.BytesIO(render_thumbnail([raw], params).data)))

    text = "Ωμέγα Бетельгейзе ☉★"
    written = labelled(text)
    # The same label drawn as boxes (CJK is not in the font): what a font without these
    # scripts draws.
    boxes = labelled("".join(" " if char == " " else "北" for char in text))
    plain = labelled("")
    band = slice(96 - 30, 96)  # the label's band, at the bottom
    assert not np.array_equal(written[band], plain[band])
    assert not np.array_equal(written[band], boxes[band])
    np.testing.assert_array_equal(written[:40], plain[:40])  # the rest of the image untouched


def test_the_font_and_its_licence_are_package_data():
    assert FONT_PATH.is_file() and FONT_PATH.stat().st_size > 100_000
    licence = FONT_PATH.with_name("LICENSE-DejaVu.txt")
    assert "Bitstream Vera Fonts Copyright" in licence.read_text()
    # pip install and sam build take these from pyproject's package data and the package
    # directory (CodeUri functions/thumbnails/): both must hold them.
    package = ROOT / "functions" / "thumbnails" / "thumbnails"
    assert FONT_PATH.parent.parent == package / "imaging"
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["thumbnails"]
    for path in (FONT_PATH, licence):
        name = path.relative_to(package).as_posix()
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name


def test_the_font_is_read_when_a_label_is_drawn_not_on_import():
    code = (
        "import thumbnails.imaging.label as label\n"
        "before = label._font.cache_info().currsize\n"
        "from PIL import Image\n"
        "label.draw_label(Image.new('L', (50, 30)), 'Ω')\n"
        "print(before, label._font.cache_info().currsize)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.split() == ["0", "1"]
