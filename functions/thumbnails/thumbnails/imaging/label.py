"""Drawing the label: white text in the lower-left corner, shrunk until it fits.

The font is DejaVu Sans, shipped inside the package (``fonts/DejaVuSans.ttf``; Bitstream Vera
and Arev licences, DejaVu changes public domain: ``fonts/LICENSE-DejaVu.txt``). Pillow's default
font covers Latin only, and labels users write carry Greek, Cyrillic and symbols (a target
"α Ori", "Бетельгейзе", "±", "°", "☉"). No system font is needed. Characters the font lacks
(CJK, for example) are drawn as its missing-glyph box, as before.

Pillow is imported with this module and the font file is read on the first label drawn, so
nothing here weighs on the API's cold start (which imports no Pillow).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

#: As fits2image: start at 20 px, 4 px from the edges.
START_SIZE = 20
OFFSET = 4
#: The bundled font (package data: see pyproject's ``package-data``).
FONT_PATH = Path(__file__).with_name("fonts") / "DejaVuSans.ttf"


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont:
    # By path: FreeType reads the glyphs it needs from the file, and every size shares it.
    return ImageFont.truetype(str(FONT_PATH), size=size)


def draw_label(image: Image.Image, text: str) -> None:
    """Draw `text` on `image` in place, lower-left, white, as large as fits (up to 20 px).

    The font shrinks one size at a time until the text fits the width (and the height) less
    the margins; at 1 px it is drawn anyway, cut at the right edge.
    """
    if not text:
        return
    width, height = image.size
    size = START_SIZE
    font = _font(size)
    left, top, right, bottom = font.getbbox(text)
    while size > 1 and (right - left > width - OFFSET or bottom - top > height - 2 * OFFSET):
        size -= 1
        font = _font(size)
        left, top, right, bottom = font.getbbox(text)
    white = 255 if image.mode == "L" else (255,) * len(image.getbands())
    # Placed from the bottom of the text's box, so that descenders stay inside the image.
    ImageDraw.Draw(image).text((OFFSET, height - OFFSET - bottom), text, font=font, fill=white)
