"""Drawing the label: white text in the lower-left corner, shrunk until it fits.

The font is Pillow's bundled default FreeType font (``ImageFont.load_default(size=...)``), so
no system font is needed and every Unicode character the font covers is drawn.
"""

from __future__ import annotations

from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

#: As fits2image: start at 20 px, 4 px from the edges.
START_SIZE = 20
OFFSET = 4


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


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
