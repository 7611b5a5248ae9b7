"""Content negotiation on the request's ``Accept`` header (RFC 9110, section 12.5.1).

Two questions are asked of it: does the caller prefer an image to JSON (an ``<img>`` tag's
request, which gets an error as an image), and which image format ``format=auto`` picks.
Pure parsing: no I/O, nothing imported beyond the standard library.
"""

from __future__ import annotations

import re

#: What ``format=auto`` may choose, best first: the smallest at equal quality (see the bench
#: table in the README) that the caller accepts.
AUTO_FORMATS = (("avif", "image/avif"), ("webp", "image/webp"), ("jpeg", "image/jpeg"))
#: The image types an error image may be sent as (PNG: every browser shows it).
ERROR_IMAGE_TYPE = "image/png"
_Q = re.compile(r"^q=([01](?:\.\d{0,3})?)$", re.IGNORECASE)


def parse_accept(header: str | None) -> list[tuple[str, str, float]]:
    """``(type, subtype, q)`` for each media range of `header`, lower case.

    A missing or empty header is ``*/*`` (RFC 9110: any type is acceptable). Ranges that do
    not parse are skipped; a malformed ``q`` counts as 1, as most servers read it.
    """
    if header is None or not header.strip():
        return [("*", "*", 1.0)]
    ranges = []
    for item in header.split(","):
        media, *parameters = [part.strip() for part in item.split(";")]
        if "/" not in media:
            continue
        kind, _, subtype = media.lower().partition("/")
        if not kind or not subtype:
            continue
        q = 1.0
        for parameter in parameters:
            match = _Q.match(parameter.replace(" ", ""))
            if match:
                q = min(1.0, float(match.group(1)))
        ranges.append((kind, subtype, q))
    return ranges


def quality(ranges: list[tuple[str, str, float]], media_type: str) -> float:
    """The q-value `ranges` give `media_type`: that of the most specific range matching it
    (``image/webp`` over ``image/*`` over ``*/*``), 0 if none does."""
    kind, _, subtype = media_type.lower().partition("/")
    best_specificity, best_q = -1, 0.0
    for range_kind, range_subtype, q in ranges:
        if range_kind == kind and range_subtype == subtype:
            specificity = 2
        elif range_kind == kind and range_subtype == "*":
            specificity = 1
        elif range_kind == "*" and range_subtype == "*":
            specificity = 0
        else:
            continue
        if specificity > best_specificity:
            best_specificity, best_q = specificity, q
    return best_q


def prefers_image(header: str | None) -> bool:
    """Whether `header` ranks an image above JSON: an ``<img>`` request (``image/avif,
    image/webp,...,*/*;q=0.8``) does; ``*/*`` (curl, the old service's clients) and
    ``application/json`` do not (a tie is JSON, as before error images existed)."""
    ranges = parse_accept(header)
    return quality(ranges, ERROR_IMAGE_TYPE) > quality(ranges, "application/json")


def ranked_formats(header: str | None) -> list[str]:
    """The formats ``format=auto`` may render for `header`, best first: AVIF, WebP, JPEG.

    AVIF and WebP only when `header` names them (``image/avif``): ``image/*`` and ``*/*`` are
    sent by browsers that decode neither (Chrome before 85 sent ``image/webp,image/apng,
    image/*``), so they mean JPEG. Higher q-values first, ties going to the earlier (smaller)
    format. JPEG is always in the list (last if nothing accepts it): every client shows it.
    """
    ranges = parse_accept(header)
    named = {f"{kind}/{subtype}" for kind, subtype, _ in ranges}
    scored = []
    for order, (name, media_type) in enumerate(AUTO_FORMATS):
        q = quality(ranges, media_type)
        if name == "jpeg" or (media_type in named and q > 0):
            scored.append((-q, order, name))
    return [name for _q, _order, name in sorted(scored)]


def choose_format(header: str | None) -> str:
    """The format ``format=auto`` renders for `header` when nothing is pregenerated for the
    request: the first of `ranked_formats`."""
    return ranked_formats(header)[0]
