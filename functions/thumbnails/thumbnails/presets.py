"""The thumbnails pregeneration renders for every new frame (``PREGENERATE_PRESETS``).

Each preset is written exactly as the query string of the equivalent API request
(``width=200&height=200``) and parsed by the same `ThumbnailParams.from_query` the API uses,
so a preset and that request share one cache key by construction, not by convention.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable
from dataclasses import fields

from .errors import InvalidParameter
from .params import AUTO_FORMAT, DEFAULT_MAX_SIZE, FITS_FORMAT, ThumbnailParams
from .positions import CUTOUT_PARAMETERS
from .settings import SettingsError

_PARAMETER_NAMES = frozenset(f.name for f in fields(ThumbnailParams)) - {"cutout"} | frozenset(
    CUTOUT_PARAMETERS
)


def parse_preset(preset: str, *, max_size: int = DEFAULT_MAX_SIZE) -> ThumbnailParams:
    """Parse one preset query string into the parameters the API would build from it.

    Parameters
    ----------
    preset : str
        A query string such as ``width=1000&height=1000&format=webp``.
    max_size : int
        The API's ``MAX_THUMBNAIL_SIZE``: a preset may not ask for more than a request could.

    Returns
    -------
    ThumbnailParams

    Raises
    ------
    SettingsError
        For a malformed preset, an unknown parameter name (the API ignores unknown names,
        but in configuration one is a typo that would silently render the default), an
        invalid value, ``color`` (pregeneration sees one frame at a time), a cutout (a
        position is a request's, not every frame's), ``planet`` or ``format=fits``.
    """
    try:
        query = urllib.parse.parse_qs(preset, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise SettingsError(
            f"PREGENERATE_PRESETS: {preset!r} is not a query string like 'width=200&height=200'"
        ) from None
    unknown = sorted(set(query) - _PARAMETER_NAMES)
    if unknown:
        raise SettingsError(
            f"PREGENERATE_PRESETS: unknown parameter {unknown[0]!r} in {preset!r}; "
            f"known: {', '.join(sorted(_PARAMETER_NAMES))}"
        )
    try:
        params = ThumbnailParams.from_query(query, max_size=max_size)
    except InvalidParameter as error:
        raise SettingsError(f"PREGENERATE_PRESETS: {preset!r}: {error}") from None
    if params.color:
        raise SettingsError(
            f"PREGENERATE_PRESETS: {preset!r}: colour thumbnails combine three frames and "
            "cannot be pregenerated from one"
        )
    if params.cutout is not None:
        raise SettingsError(
            f"PREGENERATE_PRESETS: {preset!r}: cutouts (ra/dec, x/y) are rendered on request, "
            "not pregenerated for every frame"
        )
    if params.planet:
        raise SettingsError(
            f"PREGENERATE_PRESETS: {preset!r}: planet=true is rendered on request: most "
            "frames have no planet"
        )
    if params.format == FITS_FORMAT:
        raise SettingsError(
            f"PREGENERATE_PRESETS: {preset!r}: format=fits is data, cut or binned on request; "
            "presets are the pictures galleries show"
        )
    return params


def parse_presets(
    presets: Iterable[str], *, max_size: int = DEFAULT_MAX_SIZE
) -> tuple[ThumbnailParams, ...]:
    """Parse every preset (see `parse_preset`), dropping ones that share a cache key.

    A preset with ``format=auto`` stands for one per format ``format=auto`` can choose
    (`auto_variants`), so that every browser's ``format=auto`` request for it is a hit.

    Returns
    -------
    tuple of ThumbnailParams
        In configuration order, first spelling kept (``width=200`` and
        ``width=200&height=200`` are the same thumbnail and are rendered once).

    Raises
    ------
    SettingsError
        For an invalid preset, or when there is none at all.
    """
    unique: dict[str, ThumbnailParams] = {}
    for preset in presets:
        for variant in auto_variants(preset):
            params = parse_preset(variant, max_size=max_size)
            unique.setdefault(params.digest(), params)
    if not unique:
        raise SettingsError("PREGENERATE_PRESETS: at least one preset is required")
    return tuple(unique.values())


def auto_variants(preset: str) -> list[str]:
    """`preset` itself, or, if it says ``format=auto``, one copy per format ``auto`` may
    choose (``avif``, ``webp``, ``jpeg``: `thumbnails.accept.AUTO_FORMATS`)."""
    from .accept import AUTO_FORMATS

    try:
        pairs = urllib.parse.parse_qsl(preset, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return [preset]  # parse_preset reports it
    if ("format", AUTO_FORMAT) not in [(k, v.strip().lower()) for k, v in pairs]:
        return [preset]
    kept = [(k, v) for k, v in pairs if k != "format"]
    return [urllib.parse.urlencode([*kept, ("format", name)]) for name, _type in AUTO_FORMATS]
