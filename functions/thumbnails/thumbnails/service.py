"""The thumbnail request, start to finish: authorise, check, look in the cache, render, store.

AWS-free and HTTP-free: the archive and the store are passed in. The rendering core is
imported only on a cache miss, so a hit in a cold container never loads numpy or astropy.

Every request first looks the frame up in the archive with the caller's credentials; the
cache never answers on its own, so a thumbnail of a proprietary frame is only ever handed to
someone the archive lets see the frame.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Protocol

from .archive import Download, Frame
from .cache_keys import basename_of, thumbnail_key, validate_basename
from .eligibility import EligibilityRules, check_eligible
from .errors import InvalidParameter, UpstreamError
from .params import RenderLimits, ThumbnailParams
from .settings import Settings

logger = logging.getLogger(__name__)

FrameRef = int | str
"""An archive frame id (int) or a frame basename (str)."""


class Archive(Protocol):
    """What the service needs of `thumbnails.archive.ArchiveClient`."""

    def frame_by_id(self, frame_id: int, authorization: str | None = None) -> Frame: ...

    def frame_by_basename(self, basename: str, authorization: str | None = None) -> Frame: ...

    def color_frames(
        self, request_id: int | str, authorization: str | None = None
    ) -> list[Frame]: ...

    def download(self, url: str, authorization: str | None = None) -> Download: ...


class Store(Protocol):
    """What the service needs of `thumbnails.store.ThumbnailStore`."""

    def metadata(self, key: str) -> dict[str, str] | None: ...

    def get(self, key: str, *, max_bytes: int | None = None) -> bytes | None: ...

    def put(self, key: str, data: bytes, content_type: str, *, metadata=None) -> None: ...

    def presign(self, key: str) -> str: ...


@dataclass(frozen=True)
class Result:
    """The answer to one thumbnail request.

    Attributes
    ----------
    url : str
        Presigned GET URL of the cached thumbnail.
    propid : object
        The frame's ``proposal_id``, as the archive gave it.
    key : str
        The cache key.
    cached : bool
        True on a cache hit (nothing downloaded or rendered).
    content_type : str
        The image's MIME type.
    alignment : str or None
        Colour only: how the channels were aligned (``"wcs"`` or ``"none"``).
    thumbnail_bytes : bytes or None
        The image, when rendered now or asked for (``inline_limit``) and small enough.
    render_ms : float or None
        Decode and render time on a miss.
    source_bytes : int
        Bytes of FITS downloaded (0 on a hit).
    """

    url: str
    propid: object
    key: str
    cached: bool
    content_type: str
    alignment: str | None = None
    thumbnail_bytes: bytes | None = None
    render_ms: float | None = None
    source_bytes: int = 0


def _default_renderer() -> ModuleType:
    from . import render  # deferred: numpy, astropy and Pillow load on a miss only

    return render


class ThumbnailService:
    """Thumbnails of archive frames, cached by basename and parameters.

    Parameters
    ----------
    settings : Settings
    archive : ArchiveClient-like
    store : ThumbnailStore-like
    render : callable returning a module-like object, optional
        Provides ``load_frame(data, limits=)`` and ``render_frames(frames, params)``;
        defaults to importing `thumbnails.render` on first use.
    clock : callable
        Monotonic seconds, for ``render_ms``.
    """

    def __init__(
        self,
        settings: Settings,
        archive: Archive,
        store: Store,
        *,
        render: Callable[[], ModuleType] = _default_renderer,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.settings = settings
        self.archive = archive
        self.store = store
        self.rules = EligibilityRules.from_settings(settings)
        self.limits = RenderLimits(max_pixels=settings.max_frame_pixels)
        self._renderer = render
        self._clock = clock

    def lookup(self, frame: FrameRef, authorization: str | None) -> Frame:
        """The archive record of `frame` (id or basename), fetched with the caller's credentials."""
        if isinstance(frame, int):
            return self.archive.frame_by_id(frame, authorization)
        return self.archive.frame_by_basename(validate_basename(frame), authorization)

    def get_thumbnail(
        self,
        frame: FrameRef,
        params: ThumbnailParams,
        authorization: str | None = None,
        *,
        inline_limit: int | None = None,
    ) -> Result:
        """Find or make the thumbnail of `frame` with `params`.

        Parameters
        ----------
        frame : int or str
            Archive frame id or basename.
        params : ThumbnailParams
        authorization : str, optional
            The caller's ``Authorization`` header, forwarded to the archive.
        inline_limit : int, optional
            Also return the image bytes when at most this many (a hit then reads the object).

        Raises
        ------
        ThumbnailError
            Any of them: not found, refused, not eligible, unreadable, upstream or storage.
        """
        record = self.lookup(frame, authorization)
        check_eligible(record, self.rules, color=params.color)
        basename = _record_basename(record)
        key = thumbnail_key(basename, params)
        propid = record.get("proposal_id")

        cached = self.store.metadata(key)
        if cached is not None:
            data = None
            if inline_limit is not None:
                data = self.store.get(key, max_bytes=inline_limit)
            return Result(
                url=self.store.presign(key),
                propid=propid,
                key=key,
                cached=True,
                content_type=params.content_type,
                alignment=cached.get("alignment") if params.color else None,
                thumbnail_bytes=data,
            )

        sources = (
            self.archive.color_frames(record["request_id"], authorization)
            if params.color
            else [record]
        )
        thumbnail, etags, source_bytes, render_ms = self._render(sources, params, authorization)
        metadata = {"basename": basename}
        if all(etags):
            metadata["source-etag"] = ",".join(etags)  # type: ignore[arg-type]
        if thumbnail.alignment is not None:
            metadata["alignment"] = thumbnail.alignment
        self.store.put(key, thumbnail.data, thumbnail.content_type, metadata=metadata)
        logger.info("rendered %s (%d source bytes, %.0f ms)", key, source_bytes, render_ms)
        small = inline_limit is None or len(thumbnail.data) <= inline_limit
        return Result(
            url=self.store.presign(key),
            propid=propid,
            key=key,
            cached=False,
            content_type=thumbnail.content_type,
            alignment=thumbnail.alignment,
            thumbnail_bytes=thumbnail.data if small else None,
            render_ms=render_ms,
            source_bytes=source_bytes,
        )

    def _render(self, sources: Sequence[Frame], params: ThumbnailParams, authorization: str | None):
        """Download and load the frames one at a time, then render them (a frame compressed
        in rows keeps its compressed bytes and is decoded band by band as it is rendered).
        Returns the thumbnail, the ETags, bytes read and ms spent."""
        render = self._renderer()
        frames, etags = [], []
        source_bytes = 0
        render_seconds = 0.0
        for source in sources:
            download = self.archive.download(_record_url(source), authorization)
            source_bytes += len(download.data)
            etags.append(download.etag)
            started = self._clock()
            frames.append(render.load_frame(download.data, limits=self.limits))
            render_seconds += self._clock() - started
            del download
        started = self._clock()
        thumbnail = render.render_frames(frames, params)
        render_seconds += self._clock() - started
        return thumbnail, etags, source_bytes, render_seconds * 1000.0


def _record_basename(record: Frame) -> str:
    """The frame's basename: the record's ``basename``, else derived from ``filename``."""
    basename = record.get("basename")
    if not isinstance(basename, str) or not basename:
        filename = record.get("filename")
        basename = basename_of(filename) if isinstance(filename, str) else ""
    try:
        return validate_basename(basename)
    except InvalidParameter:
        raise UpstreamError("The archive record has an unusable basename") from None


def _record_url(record: Frame) -> str:
    url = record.get("url")
    if not isinstance(url, str) or not url:
        raise UpstreamError("The archive record has no download URL")
    return url
