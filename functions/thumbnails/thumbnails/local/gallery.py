"""The page at ``/`` in local mode: every frame of the local archive as a live thumbnail.

Each image is an ``<img>`` whose ``src`` is the API itself with ``image=true``, so loading the
page exercises the whole path (gateway, handler, archive, render, S3 cache, redirect to a
presigned URL) once per frame. Colour sets (one request with red, visual and blue frames)
get a colour composite too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from ..errors import FrameNotFound
from ..filter_sets import select_color_set

GALLERY_SIZE = 300
LARGE_SIZE = 1000


def thumbnail_url(basename: str, **params: object) -> str:
    """The API path of a thumbnail: ``/{basename}/?...`` (booleans as ``true``)."""
    query = {k: ("true" if v is True else v) for k, v in params.items()}
    return f"/{quote(basename, safe='')}/" + (f"?{urlencode(query)}" if query else "")


def colour_sets(frames: Sequence[Mapping[str, Any]]) -> list[dict[str, Mapping[str, Any]]]:
    """The requests with a complete colour set of reduced frames (any filter family, as the API
    picks them): ``[{"red": frame, "visual": frame, "blue": frame}]`` ("visual": green)."""
    by_request: dict[object, list[Mapping[str, Any]]] = {}
    for frame in frames:
        if frame.get("request_id") is None or frame.get("reduction_level") != 91:
            continue
        by_request.setdefault(frame["request_id"], []).append(frame)
    sets = []
    for group in by_request.values():
        # As the API picks them (`filter_sets`): any family, mapped by wavelength.
        try:
            chosen = select_color_set(group)
        except FrameNotFound:
            continue
        sets.append(dict(zip(("red", "visual", "blue"), chosen, strict=True)))
    return sets


def shared_basenames(frames: Sequence[Mapping[str, Any]]) -> set[str]:
    """Basenames held by more than one file (``x.fits`` and ``x.fits.fz``): the API's lookup
    by basename needs exactly one frame, so it answers 404 for these, as with the archive."""
    counts = Counter(frame["basename"] for frame in frames)
    return {basename for basename, count in counts.items() if count > 1}


def gallery_urls(frames: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every image URL the gallery shows, colour composites first."""
    shared = shared_basenames(frames)
    colour = [
        thumbnail_url(
            s["red"]["basename"], width=GALLERY_SIZE, height=GALLERY_SIZE, image=True, color=True
        )
        for s in colour_sets(frames)
        if s["red"]["basename"] not in shared
    ]
    single = [
        thumbnail_url(f["basename"], width=GALLERY_SIZE, height=GALLERY_SIZE, image=True)
        for f in frames
        if f["basename"] not in shared
    ]
    return colour + single


def _figure(src: str, title: str, details: str, links: Sequence[tuple[str, str]]) -> str:
    anchors = " · ".join(f'<a href="{escape(href)}">{escape(text)}</a>' for text, href in links)
    return (
        "<figure>"
        f'<a href="{escape(links[0][1])}"><img src="{escape(src)}" alt="{escape(title)}" '
        f'loading="lazy"></a>'
        f"<figcaption><b>{escape(title)}</b><br>{escape(details)}<br>{anchors}</figcaption>"
        "</figure>"
    )


def _sexagesimal(ra: float, dec: float) -> tuple[str, str]:
    """``(hh:mm:ss.ss, +dd:mm:ss.s)`` of a position in degrees (the API reads both forms)."""
    seconds = round((ra % 360.0) / 15.0 * 3600.0, 2) % 86400.0
    arcsec = round(abs(dec) * 3600.0, 1)
    sign = "-" if dec < 0 else "+"
    return (
        f"{int(seconds // 3600):02d}:{int(seconds % 3600 // 60):02d}:{seconds % 60:05.2f}",
        f"{sign}{int(arcsec // 3600):02d}:{int(arcsec % 3600 // 60):02d}:{arcsec % 60:04.1f}",
    )


def cutout_links(header: Mapping[str, Any] | None, name: str, **extra: object) -> list:
    """Cutout examples for a frame: 2 arcmin around its WCS reference point (its pointing)
    by ``ra``/``dec``, and the 300 pixels around its first pixel, half off the frame, so
    padded (transparent in PNG)."""
    links = []
    ra, dec = (header or {}).get("CRVAL1"), (header or {}).get("CRVAL2")
    if isinstance(ra, int | float) and isinstance(dec, int | float) and -90 <= dec <= 90:
        ra_text, dec_text = _sexagesimal(float(ra), float(dec))
        query = {"ra": ra_text, "dec": dec_text, "fov": 2, "width": 500, "height": 500}
        links.append(("2′ cutout", thumbnail_url(name, **query, image=True, **extra)))
    links.append(
        (
            "corner cutout",
            thumbnail_url(name, x=1, y=1, size=300, format="png", image=True, **extra),
        )
    )
    return links


def _frame_links(
    frame: Mapping[str, Any],
    archive_url: str,
    header: Mapping[str, Any] | None = None,
    **extra: object,
) -> list[tuple[str, str]]:
    name = frame["basename"]
    return [
        (
            f"{LARGE_SIZE} px",
            thumbnail_url(name, width=LARGE_SIZE, height=LARGE_SIZE, image=True, **extra),
        ),
        ("PNG asinh", thumbnail_url(name, stretch="asinh", format="png", image=True, **extra)),
        *cutout_links(header, name, **extra),
        ("JSON", thumbnail_url(name, **extra)),
        ("archive record", f"{archive_url}frames/{frame['id']}/"),
    ]


def _shared_figure(frame: Mapping[str, Any], frames: Sequence[Mapping[str, Any]]) -> str:
    files = ", ".join(f["filename"] for f in frames if f["basename"] == frame["basename"])
    return (
        f'<figure><div class="missing">{escape(frame["filename"])}: not shown. Several files '
        f"share the basename <b>{escape(frame['basename'])}</b> ({escape(files)}); a lookup "
        "by basename needs exactly one frame, so the API answers 404 for it, as it would "
        "with the archive. Keep one of them.</div></figure>"
    )


def render_gallery(
    frames: Sequence[Mapping[str, Any]],
    *,
    archive_url: str,
    storage_url: str,
    data_bucket: str,
    thumbnail_bucket: str,
    headers: Callable[[int], Mapping[str, Any] | None] | None = None,
) -> str:
    """The gallery page's HTML.

    Parameters
    ----------
    frames : sequence of mapping
        The archive's records (`LocalArchive.frames`).
    archive_url, storage_url : str
        The embedded archive and the local S3 endpoint, shown and linked.
    data_bucket, thumbnail_bucket : str
        The local buckets' names, for the "add a frame" hint.
    headers : callable, optional
        Frame id -> its header cards (`LocalArchive.headers`): frames with a WCS get a
        sky cutout link around their reference point.
    """

    def header_of(frame: Mapping[str, Any]) -> Mapping[str, Any] | None:
        return headers(frame["id"]) if headers is not None else None

    figures = []
    shared = shared_basenames(frames)
    for channels in colour_sets(frames):
        red, visual, blue = channels["red"], channels["visual"], channels["blue"]
        if red["basename"] in shared:
            continue
        src = thumbnail_url(
            red["basename"], width=GALLERY_SIZE, height=GALLERY_SIZE, image=True, color=True
        )
        details = (
            f"colour: {red['primary_optical_element']} + {visual['primary_optical_element']} + "
            f"{blue['primary_optical_element']}, request {red['request_id']}"
        )
        figures.append(
            _figure(
                src,
                red["basename"],
                details,
                _frame_links(red, archive_url, header_of(red), color=True),
            )
        )
    for frame in frames:
        if frame["basename"] in shared:
            figures.append(_shared_figure(frame, frames))
            continue
        src = thumbnail_url(frame["basename"], width=GALLERY_SIZE, height=GALLERY_SIZE, image=True)
        details = (
            f"{frame.get('configuration_type')} · {frame.get('primary_optical_element')} · "
            f"level {frame.get('reduction_level')} · {frame.get('observation_date')}"
        )
        links = _frame_links(frame, archive_url, header_of(frame))
        figures.append(_figure(src, frame["basename"], details, links))
    empty = "" if frames else f"<p>No frames yet: put a FITS file into s3://{data_bucket}/.</p>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>FITS thumbnails, local</title>
<style>
body {{ background: #111; color: #ddd; font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; }}
a {{ color: #8cf; }} code {{ color: #fc8; }}
main {{ display: flex; flex-wrap: wrap; gap: 1em; }}
figure {{ margin: 0; width: {GALLERY_SIZE}px; }}
img {{ width: {GALLERY_SIZE}px; height: {GALLERY_SIZE}px; object-fit: contain; background: #000; }}
figcaption {{ font-size: 12px; overflow-wrap: anywhere; }}
.missing {{ width: {GALLERY_SIZE}px; height: {GALLERY_SIZE}px; background: #222; font-size: 12px;
  overflow-wrap: anywhere; padding: 1em; box-sizing: border-box; }}
</style></head>
<body>
<h1>FITS thumbnails, running locally</h1>
<p>{len(frames)} frame(s) in the <a href="{escape(archive_url)}frames/">local archive</a>.
Every image below is a live call to the API (<code>image=true</code>: a redirect to the
thumbnail in the local S3 at <code>{escape(storage_url)}</code>). API documentation:
<a href="/api">/api</a>.</p>
{empty}
<main>
{"".join(figures)}
</main>
<p>Add a frame: put a <code>.fits</code> or <code>.fits.fz</code> file into
<code>s3://{escape(data_bucket)}/</code>, for example
<code>aws --endpoint-url {escape(storage_url)} s3 cp frame.fits.fz s3://{escape(data_bucket)}/</code>;
it is pregenerated into <code>s3://{escape(thumbnail_bucket)}/</code> and shows here on reload.</p>
</body></html>
"""
