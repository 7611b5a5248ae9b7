"""Make the README's pictures of the colour filter families (not a test).

    .venv/bin/python bench/filter_set_pictures.py [--out docs]

Renders, through the real renderer, the synthetic sample sets of `thumbnails.local.samples`
(``make serve`` shows them too):

- ``filter-sets-sdss.png``: the SDSS set (``ip``, ``rp``, ``gp``, zero points in all three),
  300 px, ``zscale``;
- ``filter-sets-narrowband.png``: the narrowband nebula (``SII``, ``H-Alpha``, ``OIII``; the
  lines' surface brightness 60, 1200 and 60 e-/pixel), 260 px in each palette side by side:
  ``wavelength`` (SHO), ``hoo``, ``lco``.

The frames are chosen by `thumbnails.filter_sets.select_color_set`, as the API does.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from PIL import Image

from thumbnails.filter_sets import select_color_set
from thumbnails.imaging import load_frame, render_frames
from thumbnails.local.samples import SAMPLES, sample_bytes
from thumbnails.params import ThumbnailParams


def _records(request: int) -> list[dict]:
    """Archive-like records of a sample request (filter and the spec to render)."""
    return [
        {"id": index, "primary_optical_element": spec.filter, "spec": spec}
        for index, spec in enumerate(SAMPLES)
        if spec.request == request and spec.rlevel == 91
    ]


def render(request: int, size: int, palette: str = "wavelength") -> Image.Image:
    chosen = select_color_set(_records(request), palette=palette)
    frames = [load_frame(sample_bytes(record["spec"])) for record in chosen]
    params = ThumbnailParams(width=size, height=size, color=True, format="png", palette=palette)
    thumbnail = render_frames(frames, params)
    print(request, palette, chosen.filters, thumbnail.color_balance, thumbnail.alignment)
    return Image.open(io.BytesIO(thumbnail.data)).convert("RGB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    render(3500004, 300).save(out / "filter-sets-sdss.png", optimize=True)
    panels = [render(3500005, 260, palette) for palette in ("wavelength", "hoo", "lco")]
    strip = Image.new("RGB", (sum(p.width for p in panels) + 8 * 2, panels[0].height))
    x = 0
    for panel in panels:
        strip.paste(panel, (x, 0))
        x += panel.width + 8
    strip.save(out / "filter-sets-narrowband.png", optimize=True)


if __name__ == "__main__":
    main()
