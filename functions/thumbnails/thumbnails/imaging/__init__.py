"""The pure rendering core: FITS bytes in, thumbnail bytes out, nothing of AWS or HTTP.

It reads FITS headers and pixels (`cards`, `hdus`, `pixels`, with `rice` for the common
Rice-compressed frame and `streaming` for big row-tiled ones), places amplifiers and cubes on
the detector (`mosaic`), bins, scales, orients, aligns and balances colour, cuts out and labels
(`render` ties these together). It may import the pure parameter modules of the package
(`thumbnails.params`, `thumbnails.positions`, `thumbnails.errors`) and nothing that reads the
environment or talks to a network.

The names below are the surface the service, pregeneration, the render CLI, local mode and the
benchmarks use. They are handed on lazily (PEP 562): importing ``thumbnails.imaging`` must not
import numpy, astropy or Pillow, because the API's cold start serves cache hits without them.
Each access looks the name up in `render` afresh, so a test that patches an attribute of
``thumbnails.imaging.render`` is seen by every caller of this surface.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .render import (
        Frame,
        Thumbnail,
        check_memory,
        expect,
        fit_size,
        load_frame,
        prepare,
        read_header,
        render_fits,
        render_frames,
        render_thumbnail,
    )

__all__ = [
    "Frame",
    "Thumbnail",
    "check_memory",
    "expect",
    "fit_size",
    "load_frame",
    "prepare",
    "read_header",
    "render_fits",
    "render_frames",
    "render_thumbnail",
]


def __getattr__(name: str) -> object:
    if name in __all__:
        # Not cached in this module's globals: a patched `render` attribute must be seen.
        return getattr(import_module(".render", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
