"""A failed ``<img>`` request's answer: a small picture saying what went wrong.

A browser shows a broken-image icon for a JSON error; this draws the status code and a short
reason (``404``, ``Not Found``) in the box the request asked for, so a gallery page shows
which thumbnails failed and why. Only those two strings are drawn, never the error's
message, which may hold user input; never a credential or a URL.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

from .label import _font

#: Dark grey background, light grey text: visibly not a sky image, and readable.
BACKGROUND = (48, 48, 48)
FOREGROUND = (224, 224, 224)
#: Error images are at most this big a side (a request may ask for 4096 px; its error need
#: not cost a large encode), and at least this small (a 1 px box shows nothing anyway).
MAX_SIDE = 1000
MIN_SIDE = 1


def _fitted_font(text: str, width: int, height: int, start: int):
    """The largest font, at most `start` px, in which `text` fits `width` x `height`."""
    size = max(1, start)
    while True:
        font = _font(size)
        left, top, right, bottom = font.getbbox(text)
        if size == 1 or (right - left <= width and bottom - top <= height):
            return font, (left, top, right, bottom)
        size -= 1


def render_error_image(width: int, height: int, status: int, reason: str) -> bytes:
    """A PNG of `width` x `height` (each clamped to 1..`MAX_SIDE`) showing `status` and
    `reason`, centred, each line shrunk to fit.

    Parameters
    ----------
    width, height : int
        The box the request asked for.
    status : int
        The HTTP status of the answer.
    reason : str
        A short phrase (``Not Found``, ``Bad width``); drawn as given.

    Returns
    -------
    bytes
        The PNG.
    """
    width = min(MAX_SIDE, max(MIN_SIDE, int(width)))
    height = min(MAX_SIDE, max(MIN_SIDE, int(height)))
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    margin = max(1, min(width, height) // 16)
    inner_w, inner_h = max(1, width - 2 * margin), max(1, height - 2 * margin)
    # The code large, the reason smaller below it: two fifths and one fifth of the height.
    lines = [(str(status), inner_h * 2 // 5), (reason, inner_h // 5)]
    fitted = [_fitted_font(text, inner_w, share, share) for text, share in lines]
    total = sum(bottom - top for _font_, (_l, top, _r, bottom) in fitted) + margin
    y = (height - total) // 2
    for (text, _share), (font, (left, top, right, bottom)) in zip(lines, fitted, strict=True):
        x = (width - (right - left)) // 2 - left
        draw.text((x, y - top), text, font=font, fill=FOREGROUND)
        y += bottom - top + margin
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()
