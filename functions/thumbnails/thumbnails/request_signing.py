"""Signed request URLs: only links a portal signed can make the service render.

Off unless ``REQUEST_SIGNING_SECRET`` names a Secrets Manager secret. Then every thumbnail
request must carry ``expires`` (Unix seconds) and ``signature``: HMAC-SHA256, keyed with the
secret's string, over `string_to_sign` (the path and the canonical query, ``signature``
left out), URL-safe base64 without padding. Free presets (by default the pregenerated
ones: they cost nothing to serve) pass unsigned. The archive's ``Authorization`` still
applies on top: a signature says the portal allows the request, not that the caller may see
the frame.

Portals sign with `sign_request_url` (no AWS call: they hold the secret's value) or with
``python -m thumbnails sign URL``.

The secret is read once per container, as the CloudFront key of `thumbnails.url_signing`
is (`secret_reads`): in a thread of its own, waited for only until the invocation's
`Deadline` (then `StorageError` 503; a read waited for in vain is cut off). Verifying is then pure
computation: one HMAC over a few hundred bytes.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from .deadline import Deadline
from .errors import RequestNotSigned, StorageError
from .secret_reads import ReadOnce, read_secret

#: The query parameters a signed URL carries.
EXPIRES = "expires"
SIGNATURE = "signature"
#: A signed URL's lifetime when none is asked for: one day.
DEFAULT_LIFETIME_S = 86400
_DURATION = re.compile(r"^(\d{1,9})([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


# ---------------------------------------------------------------------------- the format
def canonical_path(path: str) -> str:
    """The path as signed: its last segment, the frame (``/3863274``). A stage
    (``/Prod/3863274/``) or a custom domain's base path in front, and the API's optional
    trailing slash, do not change the signature: the function may not see the path the
    portal signed, but it always sees the frame."""
    return "/" + path.strip("/").rsplit("/", 1)[-1]


def canonical_query(query: Mapping[str, str | Sequence[str] | None]) -> str:
    """Every query parameter but ``signature``, percent-encoded (RFC 3986 unreserved kept)
    and sorted by name, then value: ``expires=1800000000&height=200&width=200``.

    Every parameter counts, unknown ones too: a parameter added to a signed URL, or a value
    changed, invalidates it.
    """
    pairs: list[tuple[str, str]] = []
    for name, raw in query.items():
        if name == SIGNATURE or raw is None:
            continue
        for value in [raw] if isinstance(raw, str) else raw:
            pairs.append((quote(name, safe="-_.~"), quote(value, safe="-_.~")))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def string_to_sign(path: str, query: Mapping[str, str | Sequence[str] | None]) -> bytes:
    """What the signature covers: ``GET``, the canonical path and the canonical query, one
    a line, UTF-8."""
    return f"GET\n{canonical_path(path)}\n{canonical_query(query)}".encode()


def signature_of(secret: str, path: str, query: Mapping[str, str | Sequence[str] | None]) -> str:
    """The signature of a request: HMAC-SHA256 of `string_to_sign` keyed with `secret`,
    URL-safe base64 without padding (43 characters)."""
    digest = hmac.new(secret.encode(), string_to_sign(path, query), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign_request_url(
    url: str,
    secret: str,
    *,
    lifetime: int = DEFAULT_LIFETIME_S,
    expires: int | None = None,
    clock: Callable[[], float] = time.time,
) -> str:
    """Sign a thumbnail request URL for a service with ``REQUEST_SIGNING_SECRET`` set.

    Parameters
    ----------
    url : str
        The request, as a browser will send it: ``https://<api>/3863274/?width=500``. Any
        ``expires`` or ``signature`` already in it is replaced.
    secret : str
        The signing secret's string (the value of the Secrets Manager secret).
    lifetime : int
        Seconds from now the URL stays valid (default a day); ignored with `expires`.
    expires : int, optional
        The Unix time the URL stops being valid.
    clock : callable returning float
        Seconds since the epoch; tests pass their own.

    Returns
    -------
    str
        `url` with ``expires`` and ``signature`` added to its query.

    Examples
    --------
    ``sign_request_url("https://t.example/3863274/?width=500", secret, lifetime=3600)`` gives
    ``https://t.example/3863274/?width=500&expires=<now + 3600>&signature=<43 characters>``.
    """
    if not secret:
        raise ValueError("the signing secret is empty")
    parts = urlsplit(url)
    pairs = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if name not in (EXPIRES, SIGNATURE)
    ]
    when = int(expires) if expires is not None else int(clock()) + int(lifetime)
    pairs.append((EXPIRES, str(when)))
    query: dict[str, list[str]] = {}
    for name, value in pairs:
        query.setdefault(name, []).append(value)
    pairs.append((SIGNATURE, signature_of(secret, parts.path, query)))
    # %20 for a space, never '+': every server decodes %20 alike, not all decode '+'.
    encoded = urlencode(pairs, quote_via=lambda text, *_: quote(text, safe="-_.~"))
    return urlunsplit(parts._replace(query=encoded))


# ---------------------------------------------------------------------------- verifying
class RequestVerifier:
    """Checks request signatures for the API (``REQUEST_SIGNING_SECRET`` set).

    Parameters
    ----------
    secret : callable returning str
        Called once, on the first request that needs a check (in a thread of its own), for
        the signing secret's string; again only if that call failed.
    free : iterable of str
        Cache digests (`ThumbnailParams.digest`) of the presets that pass unsigned.
    clock : callable returning float, optional
        Seconds since the epoch; tests pass their own.
    """

    def __init__(
        self,
        secret: Callable[[], str],
        free: Iterable[str] = (),
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.free = frozenset(free)
        self._clock = clock
        self._secret = ReadOnce(secret, name="request-signing-secret", late=_late)

    def check(
        self,
        path: str,
        query: Mapping[str, Sequence[str]],
        digest: str | None,
        *,
        deadline: Deadline | None = None,
    ) -> None:
        """Pass a request that is a free preset or carries a valid, unexpired signature.

        Parameters
        ----------
        path : str
            The request's path (``/3863274/``).
        query : mapping of str to list of str
            Every query parameter, as received.
        digest : str or None
            The cache digest of the request's parameters, to recognise a free preset; None
            when the request cannot be one.
        deadline : Deadline, optional
            How long the container's first check may wait for the secret.

        Raises
        ------
        RequestNotSigned
            403: no signature, no ``expires``, expired, or a signature that does not match.
        StorageError
            503 if the secret is not read by `deadline`; 502 if it cannot be read.
        """
        if digest is not None and digest in self.free:
            return
        signatures = list(dict.fromkeys(query.get(SIGNATURE) or []))
        expiries = list(dict.fromkeys(query.get(EXPIRES) or []))
        if not signatures or not expiries:
            raise RequestNotSigned("missing its signature or expiry")
        if len(signatures) > 1 or len(expiries) > 1:
            raise RequestNotSigned("given more than one signature or expiry")
        if not re.fullmatch(r"\d{1,12}", expiries[0]):
            raise RequestNotSigned("its expiry is not a Unix time in seconds")
        if int(expiries[0]) <= self._clock():
            raise RequestNotSigned("expired")
        expected = signature_of(self._secret.get(deadline or Deadline.unbounded()), path, query)
        # Constant time: how much of a guess matches must not show in the answer's timing.
        if not hmac.compare_digest(expected.encode(), signatures[0].encode("utf-8", "replace")):
            raise RequestNotSigned("its signature does not match")


def _late() -> StorageError:
    return StorageError("The request signing secret could not be read in time", status=503)


def read_signing_secret(name: str) -> str:
    """The string of the Secrets Manager secret `name` (a name or an ARN), read with the
    short timeouts and retries of `thumbnails.url_signing`.

    Raises
    ------
    StorageError
        502 when it cannot be read or holds no string; the message names the secret, never
        its value.
    """
    return read_secret(name, "The request signing secret")


# ---------------------------------------------------------------------------- the CLI
def parse_expires(text: str, *, now: float) -> int:
    """``--expires``: a lifetime (``3600``, ``90m``, ``12h``, ``7d``) or an ISO 8601 time
    (``2027-01-31T00:00:00Z``), as Unix seconds."""
    match = _DURATION.fullmatch(text.strip())
    if match:
        return int(now) + int(match.group(1)) * _UNITS[match.group(2)]
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected seconds (3600), 90m, 12h, 7d or an ISO 8601 time, got {text!r}"
        ) from None
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="the request URL to sign")
    parser.add_argument(
        "--expires",
        default=str(DEFAULT_LIFETIME_S),
        help="lifetime (3600, 90m, 12h, 7d) or ISO 8601 time; default one day",
    )
    parser.add_argument(
        "--secret-id",
        default=os.environ.get("REQUEST_SIGNING_SECRET", ""),
        help="Secrets Manager secret (name or ARN) holding the key; "
        "default $REQUEST_SIGNING_SECRET",
    )
    parser.add_argument(
        "--secret-env",
        metavar="VARIABLE",
        help="read the key itself from this environment variable instead (never put it on "
        "the command line, where other users' ps shows it)",
    )


def run(args: argparse.Namespace) -> int:
    now = time.time()
    try:
        expires = parse_expires(args.expires, now=now)
    except argparse.ArgumentTypeError as error:
        raise SystemExit(f"thumbnails sign: error: --expires: {error}") from None
    if args.secret_env:
        secret = os.environ.get(args.secret_env, "")
        if not secret:
            raise SystemExit(f"thumbnails sign: error: ${args.secret_env} is empty or unset")
    elif args.secret_id:
        secret = read_signing_secret(args.secret_id)
    else:
        raise SystemExit("thumbnails sign: error: give --secret-id or --secret-env")
    print(sign_request_url(args.url, secret, expires=expires))
    return 0
