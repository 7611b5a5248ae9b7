"""The public HTTPS API: API Gateway (REST, proxy integration) -> this Lambda handler.

Routes (trailing slash optional): ``GET /{frame_id}/``, ``GET /{basename}/``, and the static
``/``, ``/robots.txt``, ``/favicon.ico``. Parsing and response shaping live here; the work is
`thumbnails.service.ThumbnailService`'s. Errors are `ThumbnailError`\\s, mapped to JSON
``{"message": ...}`` in one place.

Importing this module must not load numpy, astropy or Pillow (a cache hit in a cold
container stays fast); the renderer is imported by the service on a miss.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from functools import lru_cache
from http import HTTPStatus

from aws_lambda_powertools.event_handler import (
    APIGatewayRestResolver,
    CORSConfig,
    Response,
    content_types,
)
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from . import snapstart
from .accept import prefers_image, ranked_formats
from .archive import ArchiveClient
from .cache_keys import validate_basename
from .deadline import ANSWER_MARGIN, Deadline
from .docs_page import INDEX_HTML, ROBOTS_TXT
from .errors import (
    InvalidParameter,
    ThumbnailError,
    UpstreamError,
    UpstreamThrottled,
    UpstreamTimeout,
)
from .observability import logger, metrics, tracer
from .params import AUTO_FORMAT, ThumbnailParams, parse_bool
from .presets import parse_presets
from .request_signing import RequestVerifier, read_signing_secret
from .service import FrameRef, Result, ThumbnailService
from .settings import ENVIRONMENT, Settings, SettingsError
from .store import ThumbnailStore

#: Lambda's synchronous response limit: the whole JSON payload (status, headers, body).
LAMBDA_RESPONSE_LIMIT_BYTES = 6_291_456
#: Room kept for everything but the body: our headers take about 1 KB; 64 KiB is ample.
RESPONSE_ENVELOPE_BYTES = 65_536
#: Largest image returned inline: base64 turns every 3 bytes into 4, so this is the most
#: that fits in the limit with the envelope's room kept (4,669,440 bytes).
INLINE_LIMIT_BYTES = (LAMBDA_RESPONSE_LIMIT_BYTES - RESPONSE_ENVELOPE_BYTES) // 4 * 3
#: How long a browser may reuse a JSON answer or redirect, by URL signer. S3 presigned URLs
#: die with the Lambda role's session (hours), so 10 minutes. CloudFront signed URLs live
#: their full 7 days, so the link itself never limits it; an hour bounds how long a browser
#: keeps showing the previous version of a reprocessed frame (a new version has a new key).
RESULT_MAX_AGE = {"s3": 600, "cloudfront": 3600}
STATIC_CACHE_CONTROL = "public, max-age=86400"
ERROR_CACHE_CONTROL = "no-store"
ALIGNMENT_HEADER = "X-Thumbnail-Alignment"
ORIENTATION_HEADER = "X-Thumbnail-Orientation"
COLOR_BALANCE_HEADER = "X-Thumbnail-Color-Balance"
#: On colour images: the filter family, palette and frame of each channel.
COLOR_FRAMES_HEADER = "X-Thumbnail-Color-Frames"
#: On cutouts: ``padded`` (part of it fell outside the frame) or ``inside``.
CUTOUT_HEADER = "X-Thumbnail-Cutout"
_FRAME_ID = re.compile(r"[0-9]{1,18}")
#: Error images are PNG: every browser shows it, and flat text compresses to a few KB.
ERROR_IMAGE_TYPE = "image/png"


def cors_config(allow_origin: str) -> CORSConfig:
    """CORS for `allow_origin`: ``*`` or a comma-separated list of origins."""
    origins = [origin.strip() for origin in allow_origin.split(",") if origin.strip()] or ["*"]
    return CORSConfig(
        allow_origin=origins[0],
        extra_origins=origins[1:] or None,
        expose_headers=[
            ALIGNMENT_HEADER,
            ORIENTATION_HEADER,
            COLOR_BALANCE_HEADER,
            COLOR_FRAMES_HEADER,
            CUTOUT_HEADER,
        ],
        max_age=600,
    )


def _cold_start_cors() -> CORSConfig:
    # The resolver needs its CORS configuration when it is built, at import. A bad setting
    # elsewhere must not break the import: `get_service` reports it on the first request.
    try:
        return cors_config(Settings.from_env().cors_allow_origin)
    except SettingsError:
        return cors_config(ENVIRONMENT["CORS_ALLOW_ORIGIN"])


app = APIGatewayRestResolver(cors=_cold_start_cors())
# Static pages and refused requests publish no metrics; that is expected, not worth a warning
# in every such invocation's log.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


@lru_cache(maxsize=1)
def get_service() -> ThumbnailService:
    """The container's service, built on first use from `Settings.from_env` (tests call
    ``get_service.cache_clear()`` after changing the environment)."""
    settings = Settings.from_env()
    return ThumbnailService(
        settings, ArchiveClient.from_settings(settings), ThumbnailStore.from_settings(settings)
    )


def _forget_service() -> None:
    """Close and forget the container's service (SnapStart: after a restore)."""
    if get_service.cache_info().currsize:
        service = get_service()
        snapstart.close_clients(service.store.s3, service.archive.session)
    get_service.cache_clear()


# With SnapStart the service is built before the snapshot and again after each restore; the
# render path is primed too (`thumbnails.snapstart`). Registering runs nothing.
snapstart.register(get_service, _forget_service)


@lru_cache(maxsize=1)
def request_verifier(settings: Settings) -> RequestVerifier | None:
    """The container's request-signature check for `settings`, or None when signing is off
    (no ``REQUEST_SIGNING_SECRET``). Its secret is read on the first request that needs it."""
    if not settings.request_signing_secret:
        return None
    free = settings.request_signing_free_presets
    presets = parse_presets(free, max_size=settings.max_thumbnail_size) if free else ()
    name = settings.request_signing_secret
    return RequestVerifier(lambda: read_signing_secret(name), [p.digest() for p in presets])


@lru_cache(maxsize=1)
def pregenerated_digests(settings: Settings) -> frozenset[str]:
    """The cache digests of what pregeneration writes for every frame (``PREGENERATE_PRESETS``,
    a ``format=auto`` preset standing for each format); empty if the presets do not parse
    (pregeneration reports that, the API renders on request)."""
    try:
        presets = parse_presets(settings.pregenerate_presets, max_size=settings.max_thumbnail_size)
    except SettingsError:
        return frozenset()
    return frozenset(params.digest() for params in presets)


# ---------------------------------------------------------------------------- parsing
def resolve_auto_format(
    query: Mapping[str, Sequence[str]], accept: str | None, settings: Settings
) -> dict[str, list[str]] | None:
    """The query with ``format=auto`` replaced by the format chosen for `accept`, or None if
    the request does not ask for ``auto``.

    The formats the caller accepts are tried best first (`ranked_formats`: AVIF, WebP, JPEG,
    by q-value); the first that pregeneration wrote for these parameters wins, so a browser
    asking for a pregenerated preset always gets a cache hit (AVIF if the preset says
    ``format=auto``, else the preset's format). Off the presets, the best accepted format.
    """
    values = [value.strip().lower() for value in query.get("format") or []]
    if not values or set(values) != {AUTO_FORMAT}:
        return None
    ranked = ranked_formats(accept)
    pregenerated = pregenerated_digests(settings)
    for name in ranked:
        candidate = {**query, "format": [name]}
        params = ThumbnailParams.from_query(candidate, max_size=settings.max_thumbnail_size)
        if params.digest() in pregenerated:
            return candidate
    return {**query, "format": [ranked[0]]}


def frame_reference(identifier: str) -> FrameRef:
    """An archive frame id for digits, else the basename (validated: 400 if unusable)."""
    if _FRAME_ID.fullmatch(identifier):
        return int(identifier)
    return validate_basename(identifier)


def response_mode(query: Mapping[str, Sequence[str]]) -> str:
    """``"json"`` (default), ``"redirect"`` (``image=true|1|yes``) or ``"inline"``."""
    values = list(dict.fromkeys(query.get("image") or []))
    if not values:
        return "json"
    if len(values) > 1:
        raise InvalidParameter("image", "given more than once with different values")
    raw = values[0].strip().lower()
    if raw == "inline":
        return "inline"
    try:
        return "redirect" if parse_bool("image", raw) else "json"
    except InvalidParameter:
        raise InvalidParameter(
            "image", f"expected true, false or inline, got {values[0][:40]!r}"
        ) from None


def _query() -> dict[str, list[str]]:
    event = app.current_event
    multi = event.multi_value_query_string_parameters
    if multi:
        return {name: list(values or []) for name, values in multi.items()}
    return {name: [value] for name, value in (event.query_string_parameters or {}).items()}


# ---------------------------------------------------------------------------- responses
def _result_response(result: Result, mode: str, max_age: int) -> Response:
    headers = {"Cache-Control": f"private, max-age={max_age}"}
    if result.alignment is not None:
        headers[ALIGNMENT_HEADER] = result.alignment
    if result.orientation is not None:
        headers[ORIENTATION_HEADER] = result.orientation
    if result.color_balance is not None:
        headers[COLOR_BALANCE_HEADER] = result.color_balance
    if result.color_frames is not None:
        headers[COLOR_FRAMES_HEADER] = result.color_frames
    if result.cutout is not None:
        headers[CUTOUT_HEADER] = result.cutout
    if mode == "inline" and result.thumbnail_bytes is not None:
        # Bytes: Powertools base64-encodes them and sets isBase64Encoded for API Gateway.
        return Response(200, result.content_type, result.thumbnail_bytes, headers)
    if mode in ("inline", "redirect"):  # too large to inline: the old redirect instead
        return Response(302, None, "", {**headers, "Location": result.url})
    body: dict[str, object] = {"url": result.url, "propid": result.propid}
    if result.wcs is not None:  # the image's WCS (README, "The WCS in the JSON answer")
        body["wcs"] = result.wcs
    return Response(200, content_types.APPLICATION_JSON, body, headers)


def _error_response(
    status: int, message: str, retry_after: float | None = None, reason: str | None = None
) -> Response:
    headers = {"Cache-Control": ERROR_CACHE_CONTROL}
    if retry_after is not None:
        headers["Retry-After"] = str(math.ceil(retry_after))  # whole seconds, per RFC 9110
    if _image_mode():  # JSON or a picture, by Accept: caches must key on it
        headers["Vary"] = "Accept"
    image = _error_image(status, reason or HTTPStatus(status).phrase)
    if image is not None:
        return Response(status, ERROR_IMAGE_TYPE, image, headers)
    return Response(status, content_types.APPLICATION_JSON, {"message": message}, headers)


def _error_image(status: int, reason: str) -> bytes | None:
    """The error as a picture, for an ``image=true|inline`` request whose ``Accept`` prefers
    an image to JSON (an ``<img>`` tag's); None for every other request (JSON, as before).

    Parsed leniently from the raw query: the error may be that the query does not parse.
    Only the status and `reason` (a fixed phrase or a parameter's name) are drawn.
    """
    event = app.current_event
    if not _image_mode():
        return None
    if not prefers_image(event.headers.get("Accept")):
        return None
    box = [_lenient_side(name) for name in ("width", "height")]
    try:
        from .imaging.error_image import render_error_image

        return render_error_image(box[0], box[1], status, reason)
    except Exception:  # noqa: BLE001 - a failed picture must not hide the error: JSON then
        logger.exception("error image failed")
        return None


def _image_mode() -> bool:
    """Whether the request says ``image=true`` (or ``1``, ``yes``...) or ``image=inline``,
    read leniently (the error may be that it does not parse)."""
    values = (_query().get("image") or [""])[:1]
    mode = values[0].strip().lower() if values else ""
    return mode == "inline" or _is_true(mode)


def _is_true(raw: str) -> bool:
    try:
        return parse_bool("image", raw)
    except InvalidParameter:
        return False


def _lenient_side(name: str) -> int:
    """A ``width``/``height`` for an error image: the request's if it is a number, else the
    default (the picture is clamped to a sane size by its renderer)."""
    values = _query().get(name) or []
    try:
        return int(values[0]) if values else ThumbnailParams.width
    except ValueError:
        return ThumbnailParams.width


# ---------------------------------------------------------------------------- routes
@app.get("/")
def index() -> Response:
    return Response(
        200, "text/html; charset=utf-8", INDEX_HTML, {"Cache-Control": STATIC_CACHE_CONTROL}
    )


@app.get("/robots.txt")
def robots() -> Response:
    return Response(
        200, "text/plain; charset=utf-8", ROBOTS_TXT, {"Cache-Control": STATIC_CACHE_CONTROL}
    )


@app.get("/favicon.ico")
def favicon() -> Response:
    # No icon: an empty answer browsers cache, instead of a thumbnail lookup of "favicon.ico".
    return Response(204, None, "", {"Cache-Control": STATIC_CACHE_CONTROL})


@app.get("/<identifier>")
def thumbnail(identifier: str) -> Response:
    frame = frame_reference(identifier)
    query = _query()
    mode = response_mode(query)
    service = get_service()
    accept = app.current_event.headers.get("Accept")
    # format=auto: the cache key holds the format chosen, never "auto".
    chosen = resolve_auto_format(query, accept, service.settings)
    params = ThumbnailParams.from_query(
        chosen or query, max_size=service.settings.max_thumbnail_size
    )
    # Every archive, download and S3 call ends before the function would be stopped,
    # leaving ANSWER_MARGIN to send our JSON error instead of API Gateway's bare 502.
    deadline = Deadline.from_context(app.lambda_context, margin=ANSWER_MARGIN)
    verifier = request_verifier(service.settings)
    if verifier is not None:  # before the archive is asked anything: a 403 costs nothing
        verifier.check(app.current_event.path, query, params.digest(), deadline=deadline)
    authorization = app.current_event.headers.get("Authorization")
    result = service.get_thumbnail(
        frame,
        params,
        authorization,
        inline_limit=INLINE_LIMIT_BYTES if mode == "inline" else None,
        deadline=deadline,
    )
    _record_metrics(result)
    extra = {"key": result.key, "cached": result.cached, "mode": mode}
    if result.color_balance is not None:
        extra["color_balance"] = result.color_balance
    if result.color_frames is not None:
        extra["color_frames"] = result.color_frames
    logger.info("thumbnail", extra=extra)
    response = _result_response(result, mode, RESULT_MAX_AGE[service.settings.url_signer])
    if chosen is not None:  # the answer depends on Accept: caches must key on it
        response.headers["Vary"] = "Accept"
    return response


def _record_metrics(result: Result) -> None:
    metrics.add_metric(name="CacheHit", unit=MetricUnit.Count, value=int(result.cached))
    metrics.add_metric(name="CacheMiss", unit=MetricUnit.Count, value=int(not result.cached))
    if result.render_ms is not None:
        metrics.add_metric(name="RenderMs", unit=MetricUnit.Milliseconds, value=result.render_ms)
    if result.source_bytes:
        metrics.add_metric(name="SourceBytes", unit=MetricUnit.Bytes, value=result.source_bytes)


# ---------------------------------------------------------------------------- errors
@app.exception_handler(ThumbnailError)
def handle_thumbnail_error(error: ThumbnailError) -> Response:
    if isinstance(error, UpstreamError | UpstreamTimeout):
        metrics.add_metric(name="ArchiveErrors", unit=MetricUnit.Count, value=1)
    log = logger.warning if error.status >= 500 else logger.info
    log("request failed", extra={"status": error.status, "error": error.message})
    retry_after = error.retry_after if isinstance(error, UpstreamThrottled) else None
    reason = f"Bad {error.parameter}" if isinstance(error, InvalidParameter) else None
    return _error_response(error.status, error.message, retry_after, reason)


@app.exception_handler(SettingsError)
def handle_settings_error(error: SettingsError) -> Response:
    logger.error("service misconfigured", extra={"error": str(error)})
    return _error_response(500, "The thumbnail service is misconfigured")


@app.not_found
def handle_not_found(_error: Exception) -> Response:
    segment = app.current_event.path.strip("/")
    if segment and "/" not in segment:
        # One path segment the router's pattern refused (a NUL, an emoji, a backslash...):
        # a basename outside the allowed alphabet, which is a 400 like any other.
        try:
            validate_basename(segment)
        except InvalidParameter as error:
            return _error_response(error.status, error.message)
    return _error_response(404, "Not found")


@app.exception_handler(Exception)
def handle_unexpected(_error: Exception) -> Response:
    # A bug, not a user error: log the traceback, answer JSON (with CORS) instead of a
    # Lambda failure, which API Gateway would turn into a bare 502.
    logger.exception("unexpected error")
    return _error_response(500, "Internal error")


# ---------------------------------------------------------------------------- entry point
@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST,
    log_event=False,  # the event holds the caller's Authorization header: never log it
    clear_state=True,
)
@tracer.capture_lambda_handler(capture_response=False)  # responses may be image bytes
@metrics.log_metrics
def handler(event: dict, context: object) -> dict:
    """The Lambda entry point (API Gateway REST proxy event -> proxy response)."""
    return app.resolve(event, context)
