"""Typed domain errors.

Every failure a user can cause or meet is one of these. Each carries the HTTP status it maps
to; the API handler turns them into JSON ``{"message": ...}`` responses in one place, and the
CLI turns them into a one-line message with exit code 2.
"""

from __future__ import annotations

from collections.abc import Callable


class ThumbnailError(Exception):
    """Base class: a failure with a message meant for the user.

    Parameters
    ----------
    message : str
        Shown to the user as is; must never contain credentials or signed URLs.
    """

    status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidParameter(ThumbnailError):
    """A query or CLI parameter is malformed or out of range (400)."""

    status = 400

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter


class FrameNotEligible(ThumbnailError):
    """The archive record exists but the service does not make thumbnails of it (400)."""

    status = 400


class NoUsableWcs(ThumbnailError):
    """A sky position was asked of a frame without a usable celestial WCS (400)."""

    status = 400


class CutoutOutsideFrame(ThumbnailError):
    """The cutout asked for does not overlap the frame at all (400); the message gives the
    frame's footprint."""

    status = 400


class FrameNotFound(ThumbnailError):
    """No such frame, or not exactly one frame for a basename (404)."""

    status = 404


class AccessDenied(ThumbnailError):
    """The archive refused this caller (401 or 403, as the archive said)."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.status = status


class UnreadableFrame(ThumbnailError):
    """The bytes are not a renderable FITS image: corrupt, truncated, no image data (422)."""

    status = 422


class NoPlanetFound(ThumbnailError):
    """``planet=true`` on a frame with no usable planet: nothing extended stands out of the
    sky (422); the message says what was found."""

    status = 422


class FrameTooLarge(ThumbnailError):
    """The frame exceeds a configured size limit, refused before decompression (413)."""

    status = 413


class UpstreamError(ThumbnailError):
    """The archive (or the frame download) failed or answered nonsense (502)."""

    status = 502


class UpstreamTimeout(ThumbnailError):
    """The archive (or the frame download) did not answer in time (504)."""

    status = 504


class StorageError(ThumbnailError):
    """The thumbnail cache (S3) failed: 502 for errors, 503 when throttled or unavailable."""

    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message)
        self.status = status

    @classmethod
    def timed_out(cls, operation: str) -> Callable[[], StorageError]:
        """The error of a cache `operation` still running at the deadline (503: worth a
        retry), as `Deadline.call` wants it: a function that makes it."""
        return lambda: cls(f"Thumbnail cache {operation} did not finish in time", status=503)


class UpstreamThrottled(UpstreamError):
    """The archive (or the frame's server) asked us to slow down: 429, or 503 with
    ``Retry-After`` (503, with that ``Retry-After`` passed on to the caller).

    Parameters
    ----------
    message : str
    retry_after : float, optional
        Seconds the server asked to wait, if it said.
    """

    status = 503

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DeadlineExceeded(ThumbnailError):
    """No time is left in the invocation for the next step (504; a pregeneration record
    that fails with it is retried)."""

    status = 504


class MemoryBudgetExceeded(ThumbnailError):
    """The request would need more memory than the function has for a render, estimated
    from the frame's headers before decoding (413).

    Parameters
    ----------
    parameter : str
        The query parameter to make smaller (``size``, ``fov``, ``width`` or ``height``).
    message : str
    largest : int or float or None
        The largest value of `parameter` that fits with the others unchanged, if any.
    """

    status = 413

    def __init__(self, parameter: str, message: str, largest: int | float | None) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.largest = largest


class InvalidHeader(ThumbnailError):
    """A request header the service would forward holds what HTTP cannot carry (400).

    The message names the header, never its value: the value may be a credential.

    Parameters
    ----------
    header : str
        The header's name (``Authorization``).
    """

    status = 400

    def __init__(self, header: str) -> None:
        super().__init__(
            f"The {header} header cannot be forwarded: it holds characters that an HTTP "
            "header cannot carry (letters outside Latin-1, control characters or line breaks)"
        )
        self.header = header


class RequestNotSigned(ThumbnailError):
    """Request signing is on and this request is neither a free preset nor signed: no
    signature, expired, or a signature that does not match (403).

    The message says which, never the signature or the expected one.

    Parameters
    ----------
    reason : str
        ``missing its signature or expiry``, ``expired``, ...
    """

    status = 403

    def __init__(self, reason: str) -> None:
        super().__init__(f"This request needs a valid signature: {reason}")
        self.reason = reason
