"""The thumbnail request, start to finish: authorise, check, look in the cache, render, store.

AWS-free and HTTP-free: the archive and the store are passed in. The rendering core is
imported only on a cache miss, so a hit in a cold container never loads numpy or astropy.

Every request first looks the frame up in the archive with the caller's credentials; the
cache never answers on its own, so a thumbnail of a proprietary frame is only ever handed to
someone the archive lets see the frame.

The archive record also names the frame's current version (`thumbnails.versions`), which is
part of the cache key: a reprocessed frame, or a reprocessed channel of a colour composite,
is a miss, rendered from the new file, never answered with the old image.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

from . import versions
from .archive import Download, Frame
from .cache_keys import (
    ALIGNMENT,
    COLOR_BALANCE,
    COLOR_FRAMES,
    CUTOUT,
    ORIENTATION,
    SUPERSEDED_EXPIRATION_DAYS,
    WCS,
    thumbnail_key,
    thumbnail_metadata,
    validate_basename,
)
from .deadline import Deadline
from .eligibility import EligibilityRules, check_eligible
from .errors import DeadlineExceeded, InvalidParameter, UpstreamError
from .filter_sets import DEFAULT_PALETTE, ColorSet
from .frame_objects import basename_of
from .params import FITS_FORMAT, RenderLimits, ThumbnailParams
from .settings import Settings

if TYPE_CHECKING:
    from .store import StoredObject

logger = logging.getLogger(__name__)

FrameRef = int | str
"""An archive frame id (int) or a frame basename (str)."""


class Archive(Protocol):
    """What the service needs of `thumbnails.archive.ArchiveClient`."""

    def frame_by_id(
        self, frame_id: int, authorization: str | None = None, *, deadline: Deadline | None = None
    ) -> Frame: ...

    def frame_by_basename(
        self, basename: str, authorization: str | None = None, *, deadline: Deadline | None = None
    ) -> Frame: ...

    def color_frames(
        self,
        request_id: int | str,
        authorization: str | None = None,
        *,
        requested: Frame | None = None,
        palette: str = DEFAULT_PALETTE,
        deadline: Deadline | None = None,
    ) -> ColorSet: ...

    def download(
        self, url: str, authorization: str | None = None, *, deadline: Deadline | None = None
    ) -> Download: ...


class Store(Protocol):
    """What the service needs of `thumbnails.store.ThumbnailStore`."""

    def stat(self, key: str, *, deadline: Deadline | None = None) -> StoredObject | None: ...

    def refresh(
        self, key: str, stored: StoredObject, *, deadline: Deadline | None = None
    ) -> bool: ...

    def get(
        self, key: str, *, max_bytes: int | None = None, deadline: Deadline | None = None
    ) -> bytes | None: ...

    def put(
        self, key: str, data: bytes, content_type: str, *, metadata=None, deadline=None
    ) -> None: ...

    def presign(self, key: str, *, deadline: Deadline | None = None) -> str: ...


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
        Colour only: how the channels were aligned (``"wcs"`` or ``"none"``); ``"planet"``
        for planets, grey or colour (cropped on the disk, channels aligned on it).
    orientation : str or None
        How the image was turned (``"north"``, ``"detector"``, ``"detector-no-wcs"``,
        ``"detector-spectrum"``); None for a cached image stored without it.
    color_balance : str or None
        Colour only: how the channels were put on one flux scale (``"zeropoint"``,
        ``"stars"``, ``"none"`` or, narrowband, ``"per-channel"``; None for a colour
        thumbnail cached before this was recorded).
    cutout : str or None
        Cutouts only: ``"padded"`` when part of the cutout fell outside the frame, else
        ``"inside"``.
    wcs : dict or None
        The image's celestial WCS (`thumbnails.imaging.avm.ImageWcs.as_json`), from the
        render or, on a hit, from the object's metadata; None for a frame without a usable
        WCS, or an image cached before this was recorded.
    color_frames : str or None
        Colour only: the family, palette and the frame of each channel
        (`thumbnails.filter_sets.ColorSet.describe`); None for a colour thumbnail cached
        before this was recorded.
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
    orientation: str | None = None
    color_balance: str | None = None
    cutout: str | None = None
    wcs: dict | None = None
    color_frames: str | None = None
    thumbnail_bytes: bytes | None = None
    render_ms: float | None = None
    source_bytes: int = 0


def _default_renderer() -> ModuleType:
    from . import imaging  # its names are lazy: numpy, astropy and Pillow load on a miss only

    return imaging


#: Seconds kept back from the frame downloads for decoding and rendering, which cannot be cut
#: short: a 4096x4096 frame takes well under a second on one vCPU (README, "Performance").
RENDER_RESERVE = 2.0


class ThumbnailService:
    """Thumbnails of archive frames, cached by basename, source version and parameters.

    Parameters
    ----------
    settings : Settings
    archive : ArchiveClient-like
    store : ThumbnailStore-like
    render : callable returning a module-like object, optional
        Provides ``load_frame(data, limits=)`` and ``render_frames(frames, params)``;
        defaults to `thumbnails.imaging`, whose renderer is imported on first use.
    clock : callable
        Monotonic seconds, for ``render_ms``.
    now : callable
        The current time (timezone-aware), for the age of cached objects.
    """

    def __init__(
        self,
        settings: Settings,
        archive: Archive,
        store: Store,
        *,
        render: Callable[[], ModuleType] = _default_renderer,
        clock: Callable[[], float] = time.perf_counter,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.archive = archive
        self.store = store
        self.rules = EligibilityRules.from_settings(settings)
        self.limits = RenderLimits(max_pixels=settings.max_frame_pixels)
        self._renderer = render
        self._clock = clock
        self._now = now
        # S3 may expire an object this long after it was written (or marked superseded); a
        # URL lives this long.
        self._refresh_age = timedelta(
            days=settings.thumbnail_expiration_days, seconds=-settings.presigned_url_expiry
        )
        self._superseded_refresh_age = timedelta(
            days=SUPERSEDED_EXPIRATION_DAYS, seconds=-settings.presigned_url_expiry
        )

    def lookup(
        self, frame: FrameRef, authorization: str | None, deadline: Deadline | None = None
    ) -> Frame:
        """The archive record of `frame` (id or basename), fetched with the caller's credentials."""
        if isinstance(frame, int):
            return self.archive.frame_by_id(frame, authorization, deadline=deadline)
        return self.archive.frame_by_basename(
            validate_basename(frame), authorization, deadline=deadline
        )

    def get_thumbnail(
        self,
        frame: FrameRef,
        params: ThumbnailParams,
        authorization: str | None = None,
        *,
        inline_limit: int | None = None,
        deadline: Deadline | None = None,
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
        deadline : Deadline, optional
            Bounds every archive, download and S3 call (the invocation's time left): past
            it, the archive's calls raise `UpstreamTimeout` (504) and S3's `StorageError`
            (503). No render starts once it has passed.

        Raises
        ------
        ThumbnailError
            Any of them: not found, refused, not eligible, unreadable, upstream or storage.
        """
        deadline = deadline or Deadline.unbounded()
        record = self.lookup(frame, authorization, deadline)
        check_eligible(record, self.rules, color=params.color)
        requested = _Source.of(record)
        channels = [requested]
        color_frames = None
        if params.color:
            color_set = self.archive.color_frames(
                record["request_id"],
                authorization,
                requested=record,
                palette=params.palette,
                deadline=deadline,
            )
            # One source per frame: a frame in two channels (palette=hoo) is fetched once.
            sources: dict[object, _Source] = {}
            channels = []
            for channel in color_set:
                if _same_frame(channel, record):
                    channels.append(requested)
                    continue
                ident = channel.get("id")
                ident = ident if ident is not None else id(channel)
                channels.append(sources.setdefault(ident, _Source.of(channel)))
            color_frames = color_set.describe([c.basename for c in channels])
            logger.info("colour frames: %s", color_frames)
        for source in {id(s): s for s in (requested, *channels)}.values():
            if source.version is None:
                # No usable md5 in the record: the version is only known from the file.
                self._download(source, authorization, deadline)
        if all(channel is not requested for channel in channels):
            requested.download = None  # only its version was needed
        key = _key(requested, params, channels)
        propid = record.get("proposal_id")

        stored = self.store.stat(key, deadline=deadline)
        # A URL handed out for an old object would outlive it: restart its age first (or,
        # when it expired meanwhile, render it again).
        if (
            stored is not None
            and self._expires_too_soon(stored)
            and not self.store.refresh(key, stored, deadline=deadline)
        ):
            stored = None
        if stored is not None:
            data = None
            if inline_limit is not None:
                data = self.store.get(key, max_bytes=inline_limit, deadline=deadline)
            return Result(
                url=self.store.presign(key, deadline=deadline),
                propid=propid,
                key=key,
                cached=True,
                content_type=params.content_type,
                alignment=stored.metadata.get(ALIGNMENT) if params.color or params.planet else None,
                orientation=stored.metadata.get(ORIENTATION),
                color_balance=stored.metadata.get(COLOR_BALANCE) if params.color else None,
                cutout=stored.metadata.get(CUTOUT) if params.cutout is not None else None,
                wcs=_stored_wcs(stored.metadata.get(WCS)),
                color_frames=stored.metadata.get(COLOR_FRAMES) if params.color else None,
                thumbnail_bytes=data,
            )

        thumbnail, source_bytes, render_ms = self._render(channels, params, authorization, deadline)
        # The downloads may be another version than the record named (a reprocess between
        # lookup and download): the key names the version actually rendered.
        key = _key(requested, params, channels)
        metadata = thumbnail_metadata(
            requested.basename,
            requested.version,
            thumbnail,
            [(c.basename, c.version) for c in channels] if params.color else (),
            color_frames=color_frames,
        )
        self.store.put(
            key, thumbnail.data, thumbnail.content_type, metadata=metadata, deadline=deadline
        )
        logger.info("rendered %s (%d source bytes, %.0f ms)", key, source_bytes, render_ms)
        small = inline_limit is None or len(thumbnail.data) <= inline_limit
        return Result(
            url=self.store.presign(key, deadline=deadline),
            propid=propid,
            key=key,
            cached=False,
            content_type=thumbnail.content_type,
            alignment=thumbnail.alignment,
            orientation=thumbnail.orientation,
            color_balance=thumbnail.color_balance,
            cutout=metadata.get(CUTOUT),
            # From the metadata just stored, as a hit reads it: the two answers are equal.
            wcs=_stored_wcs(metadata.get(WCS)),
            color_frames=color_frames,
            thumbnail_bytes=thumbnail.data if small else None,
            render_ms=render_ms,
            source_bytes=source_bytes,
        )

    def _expires_too_soon(self, stored: StoredObject) -> bool:
        """Whether S3's lifecycle may delete `stored` before a URL signed now expires.

        A superseded object (its version was replaced, but the archive still names it: the
        record is updated after the upload) goes `SUPERSEDED_EXPIRATION_DAYS` after it was
        marked or refreshed, so it is refreshed sooner; the refresh keeps the mark.
        """
        if stored.last_modified is None:
            return False
        limit = self._superseded_refresh_age if stored.superseded else self._refresh_age
        return self._now() - stored.last_modified >= limit

    def _download(self, source: _Source, authorization: str | None, deadline: Deadline) -> Download:
        """Download `source`'s file (once) and take its version from what was downloaded."""
        if source.download is None:
            download = self.archive.download(
                _record_url(source.record), authorization, deadline=deadline.less(RENDER_RESERVE)
            )
            if deadline.expired:
                raise DeadlineExceeded("No time was left to render the frame")
            downloaded = versions.plain_md5(download.etag)
            if source.version is None:
                source.version = versions.of_download(download.data, download.etag)
            elif downloaded is not None and downloaded != source.version:
                # Without an ETag the record is trusted: its md5 may be an ETag that is not
                # the MD5 of the bytes (SSE-KMS), and computing it would never match.
                logger.warning(
                    "%s: the archive names version %s but the download is %s; keyed by the latter",
                    source.basename,
                    source.version,
                    downloaded,
                )
                source.version = downloaded
            source.download = download
        return source.download

    def _render(
        self,
        sources: Sequence[_Source],
        params: ThumbnailParams,
        authorization: str | None,
        deadline: Deadline,
    ):
        """Download and load the frames one at a time (one compressed file in memory at once,
        unless already downloaded for its version), then render them; a frame compressed in
        rows keeps its compressed bytes and is decoded band by band as it is rendered.
        Returns the thumbnail, bytes read and ms spent."""
        render = self._renderer()
        frames = []
        loaded: dict[int, object] = {}  # a frame in two channels is loaded once
        source_bytes = 0
        render_seconds = 0.0
        for source in sources:
            if id(source) in loaded:
                frames.append(loaded[id(source)])
                continue
            download = self._download(source, authorization, deadline)
            source_bytes += len(download.data)
            started = self._clock()
            budget = self.settings.render_memory_bytes
            if not frames and budget is not None:
                # From the headers, before anything is decoded (or another channel fetched):
                # a request the function cannot hold is a 413 naming what to make smaller,
                # never an out-of-memory kill.
                render.check_memory(download.data, params, budget, limits=self.limits)
            if params.format == FITS_FORMAT:
                # The pixels themselves, with the source named in the header (one frame:
                # colour with fits is refused by the parameters).
                origin = (source.basename, source.version)
                fits = render.render_fits(download.data, params, limits=self.limits, source=origin)
                render_seconds += self._clock() - started
                return fits, source_bytes, render_seconds * 1000.0
            # Colour cutouts: the other channels are cut around the first one's patch of sky.
            reference = frames[0] if frames else None
            frames.append(
                render.load_frame(
                    download.data, limits=self.limits, cutout=params.cutout, reference=reference
                )
            )
            loaded[id(source)] = frames[-1]
            render_seconds += self._clock() - started
            source.download = None
            del download
        started = self._clock()
        thumbnail = render.render_frames(frames, params)
        render_seconds += self._clock() - started
        return thumbnail, source_bytes, render_seconds * 1000.0


@dataclass
class _Source:
    """One frame a thumbnail is made of: its record, basename and version (once known)."""

    record: Frame
    basename: str
    version: str | None
    download: Download | None = None

    @classmethod
    def of(cls, record: Frame) -> _Source:
        return cls(record, _record_basename(record), versions.of_record(record))


def _stored_wcs(value: str | None) -> dict | None:
    """The JSON ``wcs`` kept in an object's metadata (`cache_keys.WCS`), or None when there
    is none or it does not parse (an object is never refused for its metadata)."""
    if not value:
        return None
    try:
        wcs = json.loads(value)
    except ValueError:
        logger.warning("unreadable wcs metadata %r", value[:80])
        return None
    return wcs if isinstance(wcs, dict) else None


def _same_frame(a: Frame, b: Frame) -> bool:
    return a.get("id") is not None and a.get("id") == b.get("id")


def _key(requested: _Source, params: ThumbnailParams, channels: Sequence[_Source]) -> str:
    pairs = [(c.basename, c.version) for c in channels] if params.color else ()
    return thumbnail_key(requested.basename, requested.version, params, pairs)  # type: ignore[arg-type]


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
