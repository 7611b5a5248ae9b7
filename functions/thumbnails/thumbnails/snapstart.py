"""Lambda SnapStart runtime hooks: prime the render path before the snapshot, start afresh after.

With SnapStart (template parameter ``SnapStart``), Lambda initialises a function version once,
when it is published, runs the ``before_snapshot`` hooks, and snapshots the memory; every new
container then resumes from that snapshot and runs the ``after_restore`` hooks. Work done
before the snapshot therefore costs nothing per container: `before_snapshot` imports numpy,
astropy and Pillow, decodes a tiny synthetic frame through the real renderer, encodes every
output format, draws a label (loading the font) and builds the service's clients.

What a snapshot shares between all the containers restored from it must not be reused by
them: `after_restore` closes and forgets the clients built before the snapshot (their
connection pools, and the credentials boto3 cached, belong to the publishing environment),
forgets boto3's default session, reseeds `random` (botocore's retry jitter draws from it:
restored containers would otherwise back off in step), then builds the clients again.

The hooks are registered by `register`, called by the handler modules (`thumbnails.api`,
`thumbnails.pregenerate`), only when ``snapshot_restore_py`` can be imported: the Lambda
Python runtime provides it (3.12 and later); tests and local mode get it from the ``dev``
extra. Registering runs nothing, so without a snapshot (SnapStart off, ``sam local``, local
mode) start-up stays as lazy as before: a cache hit in a cold container loads no numpy.
"""

from __future__ import annotations

import functools
import io
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import ThumbnailError
from .observability import logger
from .settings import SettingsError

#: The synthetic frame primed through the renderer: small, so priming is import-bound.
PRIME_SHAPE = (48, 64)


@dataclass(frozen=True)
class Priming:
    """What `prime_render_path` did: its wall time and the formats it encoded."""

    seconds: float
    formats: tuple[str, ...]


def register(build_clients: Callable[[], object], forget_clients: Callable[[], None]) -> bool:
    """Register the SnapStart hooks of one handler, if the runtime's hook library is present.

    Parameters
    ----------
    build_clients : callable
        Builds (and caches) the handler's clients; sends no request.
    forget_clients : callable
        Forgets what `build_clients` cached, so its next call builds new clients.

    Returns
    -------
    bool
        True if the hooks were registered (``snapshot_restore_py`` imported), else False.
    """
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:
        return False
    register_before_snapshot(before_snapshot, build_clients)
    register_after_restore(after_restore, build_clients, forget_clients)
    return True


def before_snapshot(build_clients: Callable[[], object]) -> None:
    """The before-snapshot hook: prime the render path and build the handler's clients.

    A settings error is logged, not raised: the snapshot is still taken, and the first
    request reports the error as it does without SnapStart.
    """
    priming = prime_render_path()
    _build(build_clients, "before the snapshot")
    logger.info(
        "primed for the snapshot",
        extra={"prime_ms": round(priming.seconds * 1000, 1), "formats": list(priming.formats)},
    )


def after_restore(build_clients: Callable[[], object], forget_clients: Callable[[], None]) -> None:
    """The after-restore hook: close and forget the clients of the snapshot, build new ones."""
    forget_clients()
    boto3 = sys.modules.get("boto3")
    if boto3 is not None:
        # Its credentials and connection pools were the publishing environment's.
        boto3.DEFAULT_SESSION = None
    # Seeded from os.urandom: each restored container draws its own retry jitter.
    random.seed()
    _build(build_clients, "after the restore")


def close_clients(*clients: object) -> None:
    """Close each client's pooled connections (boto3 clients and requests sessions alike)."""
    for client in clients:
        close = getattr(client, "close", None)
        if close is not None:
            close()


def _build(build_clients: Callable[[], object], when: str) -> None:
    try:
        build_clients()
    except (SettingsError, ThumbnailError) as error:
        logger.warning("clients not built " + when, extra={"error": str(error)})


@functools.cache
def prime_render_path() -> Priming:
    """Import the render stack and run a tiny synthetic frame through the real renderer.

    Once per process: the frame is decoded (our Rice path and astropy's), rendered and
    encoded in every output format, once with a label (the font), once with the asinh
    stretch (``astropy.visualization``), and once as a colour composite.

    Returns
    -------
    Priming
        The wall time taken and the formats encoded.
    """
    started = time.perf_counter()
    import numpy as np
    from astropy.io import fits

    from .imaging import render
    from .params import FORMATS, ThumbnailParams

    # A seeded ramp with noise: zscale needs a spread of values; nothing here is random state
    # the service uses later.
    rows, cols = PRIME_SHAPE
    noise = np.random.default_rng(0).normal(0.0, 5.0, PRIME_SHAPE)
    data = (100.0 + np.add.outer(np.arange(rows), np.arange(cols)) + noise).astype(np.float32)
    frames = [_frame_bytes(fits, data, band) for band in ("rp", "V", "B")]
    for fmt in FORMATS:
        render.render_thumbnail(frames[:1], ThumbnailParams(width=32, height=32, format=fmt))
    render.render_thumbnail(frames[:1], ThumbnailParams(width=32, height=32, label="prime"))
    render.render_thumbnail(frames[:1], ThumbnailParams(width=32, height=32, stretch="asinh"))
    render.render_thumbnail(frames, ThumbnailParams(width=32, height=32, color=True))
    return Priming(time.perf_counter() - started, tuple(FORMATS))


def _frame_bytes(fits, data, band: str) -> bytes:
    """A Rice-compressed frame shaped as the archive's (.fits.fz: empty primary + ``SCI``)."""
    primary = fits.PrimaryHDU()
    primary.header["OBSTYPE"] = "EXPOSE"
    primary.header["FILTER"] = band
    primary.header["REQNUM"] = 1
    image = fits.CompImageHDU(data, name="SCI", compression_type="RICE_1")
    # A TAN WCS, so the colour composite is aligned by it (the path real frames take).
    rows, cols = data.shape
    for key, value in {
        "CTYPE1": "RA---TAN",
        "CTYPE2": "DEC--TAN",
        "CRVAL1": 150.0,
        "CRVAL2": 2.0,
        "CRPIX1": cols / 2,
        "CRPIX2": rows / 2,
        "CD1_1": -1e-4,
        "CD1_2": 0.0,
        "CD2_1": 0.0,
        "CD2_2": 1e-4,
    }.items():
        image.header[key] = value
    buffer = io.BytesIO()
    fits.HDUList([primary, image]).writeto(buffer)
    return buffer.getvalue()
