"""Colormaps for single frames: the stretched 8-bit grey image through a 256-entry table.

A colormap is applied after the stretch, as the last step before the label: each grey level
0..255 becomes the RGB triplet at that index of the map's table. The tables (`COLORMAPS`) are
generated once from the `cmap` package (``scripts/make_colormaps.py``) into
`colormap_tables`, so rendering needs neither `cmap` nor matplotlib; the tests check them
against `cmap` again.

Pure, and light to import: `thumbnails.params` validates ``cmap`` against `COLORMAPS`, and
the API's cold start imports no Pillow (it is imported by `apply_colormap`, with the renderer).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from .colormap_tables import TABLES

if TYPE_CHECKING:
    from PIL import Image

#: The default: the grey image as it is (one channel), no table.
GRAY = "gray"
#: Every ``cmap`` value, the default first: the perceptually uniform maps, then classic ones.
COLORMAPS: tuple[str, ...] = (GRAY, *TABLES)

__all__ = ["COLORMAPS", "GRAY", "apply_colormap", "palette"]


@lru_cache(maxsize=len(TABLES))
def palette(name: str) -> bytes:
    """The 768-byte RGB table of colormap `name` (level 0's red, green, blue first).

    Raises
    ------
    KeyError
        For ``gray`` (no table) or a name not in `COLORMAPS`.
    """
    return bytes.fromhex(TABLES[name])


def apply_colormap(picture: Image.Image, name: str) -> Image.Image:
    """`picture` (grey, ``L``, or grey with alpha, ``LA``) coloured by colormap `name`.

    Parameters
    ----------
    picture : PIL.Image.Image
        The stretched grey image, mode ``L`` or ``LA`` (a transparent cutout's padding).
    name : str
        One of `COLORMAPS`; ``gray`` returns `picture` itself.

    Returns
    -------
    PIL.Image.Image
        ``RGB`` (``RGBA`` when `picture` has an alpha channel, which is kept).
    """
    if name == GRAY:
        return picture
    if picture.mode not in ("L", "LA"):
        raise ValueError(f"a colormap applies to grey images, not mode {picture.mode}")
    # The grey levels become palette indices (no copy of the pixels), and Pillow expands the
    # palette in one pass in C: cheaper than a numpy gather into a new RGB array.
    indexed = picture.copy()
    indexed.putpalette(palette(name), rawmode="RGB")
    return indexed.convert("RGBA" if picture.mode == "LA" else "RGB")
