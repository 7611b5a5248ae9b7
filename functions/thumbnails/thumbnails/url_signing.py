"""Links to cached thumbnails that live as long as promised: CloudFront signed URLs.

An S3 presigned URL stops working when the credentials that signed it expire; in Lambda those
are the role's session credentials, which last hours, not the 7 days the API promises. A
CloudFront signed URL is signed with an RSA key of our own instead, so it lives exactly as
long as its ``Expires`` says, and the edge caches the image close to the caller.

The private key is a PEM string in AWS Secrets Manager. It is read once per container, through
Powertools' Parameters utility (its boto3 client honours ``AWS_ENDPOINT_URL_SECRETS_MANAGER``,
which is how the tests point it at moto), and kept in memory: signing a URL is then a pure,
in-memory computation (about 1 ms for an RSA-2048 signature), so a cache hit stays cheap.

That first read is network I/O inside an invocation, so it is bounded like every other call:
it runs in a thread of its own, and a signature waits for it only until the invocation's
`Deadline` (then `StorageError` 503: worth a retry). A read waited for in vain is abandoned
(`abandoned_calls`): its exchange is cut off and not retried, so nothing of it goes on after
the answer (Lambda freezes the container then, and a read left open would resume in the next
invocation); that invocation starts a read of its own.

Importing this module costs nothing; ``cryptography``'s RSA and serialization modules (75 to
125 ms measured on the development machine, and neither numpy, astropy nor Pillow) are
imported when a container signs its first URL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from .abandoned_calls import Call, running, watch
from .deadline import Deadline
from .errors import StorageError

#: Seconds Powertools may keep a secret it read. Each read has a provider of its own, so its
#: cache never serves another read; the signer keeps the key for the container's life.
SECRET_MAX_AGE_S = 365 * 86400
#: Secrets Manager answers in tens of milliseconds. These bound a read nobody waits for any
#: more (its invocation answered 503 at its deadline) to about 2 x (2 + 5) s, instead of
#: botocore's default 60 s timeouts and legacy retries.
SECRET_CONNECT_TIMEOUT_S = 2
SECRET_READ_TIMEOUT_S = 5
SECRET_MAX_ATTEMPTS = 2


def read_secret(name: str) -> str:
    """The string value of the Secrets Manager secret `name` (a name or an ARN).

    Read with a client of its own whose timeouts and retries are short (the defaults could
    hold a stalled read for minutes). The caller (`CloudFrontUrlSigner`) keeps the value.

    Raises
    ------
    StorageError
        502 when the secret cannot be read (missing, denied, unreachable, not a string); the
        message names the secret, never its value.
    """
    import boto3
    from aws_lambda_powertools.utilities import parameters
    from botocore.config import Config

    config = Config(
        connect_timeout=SECRET_CONNECT_TIMEOUT_S,
        read_timeout=SECRET_READ_TIMEOUT_S,
        retries={"mode": "standard", "max_attempts": SECRET_MAX_ATTEMPTS},
    )
    # Our own client, abandonable: a read its signature gave up on is cut off (see above).
    client = watch(boto3.client("secretsmanager", config=config))
    try:
        provider = parameters.SecretsProvider(boto3_client=client)
        value = provider.get(name, max_age=SECRET_MAX_AGE_S)
    except parameters.exceptions.GetParameterError as error:
        raise StorageError(f"The URL signing key secret {name!r} cannot be read") from error
    if not isinstance(value, str) or not value.strip():
        raise StorageError(f"The URL signing key secret {name!r} holds no PEM string")
    return value


class CloudFrontUrlSigner:
    """Canned-policy CloudFront signed URLs for keys of the thumbnail bucket.

    Parameters
    ----------
    domain : str
        The distribution's domain (``d111111abcdef8.cloudfront.net`` or a custom domain).
    key_pair_id : str
        The CloudFront public key's id (``K2JCJMDEHXQW5F``), from the distribution's key group.
    private_key_pem : callable returning str
        Called once, on the first signature (in a thread of its own, see `sign`), for the
        matching RSA private key in PEM form; again only if that call failed.
    lifetime : int
        Seconds each URL is valid for.
    clock : callable returning float, optional
        Seconds since the epoch (``time.time``); tests pass their own.
    """

    def __init__(
        self,
        domain: str,
        key_pair_id: str,
        private_key_pem: Callable[[], str],
        *,
        lifetime: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not domain or not key_pair_id:
            raise StorageError("CloudFront URL signing needs a domain and a key pair id")
        self.domain = domain.removeprefix("https://").rstrip("/")
        self.key_pair_id = key_pair_id
        self.lifetime = lifetime
        self._private_key_pem = private_key_pem
        self._clock = clock
        self._signer: Any = None
        self._loading: _Loading | None = None  # the key's read in flight, if any
        self._lock = threading.Lock()

    def _cloudfront_signer(self, deadline: Deadline) -> Any:
        """botocore's signer with our key, once loaded; the load waited for until `deadline`."""
        with self._lock:
            if self._signer is not None:
                return self._signer
            if self._loading is None:  # none in flight: start one (a failed one is retried)
                self._loading = _Loading()
                threading.Thread(
                    target=self._load, args=(self._loading,), name="url-signing-key", daemon=True
                ).start()
            loading = self._loading
        if not loading.done.wait(None if deadline.at is None else max(0.0, deadline.remaining())):
            # Cut off, so that nothing of it goes on after our answer; the next signature
            # starts a read of its own. (One invocation at a time per container: no other
            # signature is waiting for this read.)
            loading.call.abandon()
            with self._lock:
                if self._loading is loading:
                    self._loading = None
            raise _late()
        if loading.error is not None:
            raise loading.error
        return loading.signer

    def _load(self, loading: _Loading) -> None:
        """Read and parse the key into `loading`, in the loading thread."""
        try:
            with running(loading.call):
                loading.signer = self._new_signer()
        except Exception as error:  # noqa: BLE001 - raised in every waiting caller's thread
            loading.error = _late() if loading.call.abandoned else error
        with self._lock:
            if loading.signer is not None:
                self._signer = loading.signer
            if self._loading is loading:
                self._loading = None
        loading.done.set()

    def _new_signer(self) -> Any:
        from botocore.signers import CloudFrontSigner
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        try:
            # Our own key from our own secret: skipping cryptography's RSA consistency check
            # saves ~0.1 s on a container's first signature.
            key = serialization.load_pem_private_key(
                self._private_key_pem().encode("ascii"),
                password=None,
                unsafe_skip_rsa_key_validation=True,
            )
        except (ValueError, TypeError, UnicodeEncodeError) as error:
            raise StorageError("The URL signing key is not an RSA private key") from error
        if not isinstance(key, rsa.RSAPrivateKey):
            raise StorageError("The URL signing key is not an RSA private key")

        def rsa_sign(message: bytes) -> bytes:
            # CloudFront verifies canned policies with RSA-SHA1 (PKCS#1 v1.5).
            return key.sign(message, padding.PKCS1v15(), hashes.SHA1())

        return CloudFrontSigner(self.key_pair_id, rsa_sign)

    def sign(self, key: str, *, deadline: Deadline | None = None) -> str:
        """The signed URL of object `key`, valid for `lifetime` seconds from now.

        Parameters
        ----------
        key : str
        deadline : Deadline, optional
            How long the container's first signature may wait for the private key to be read
            (no limit without one). Once read, signing takes no I/O and no waiting.

        Raises
        ------
        StorageError
            503 if the key is not read by `deadline`; 502 if it cannot be read or is not an
            RSA private key.
        """
        signer = self._cloudfront_signer(deadline or Deadline.unbounded())
        expires = datetime.fromtimestamp(int(self._clock()) + self.lifetime, tz=UTC)
        url = f"https://{self.domain}/{quote(key, safe='/')}"
        return signer.generate_presigned_url(url, date_less_than=expires)


def _late() -> StorageError:
    return StorageError("The URL signing key could not be read in time", status=503)


class _Loading:
    """One read of the private key: done once it has a signer or an error; `call` is its
    Secrets Manager call, abandoned when its signature stops waiting."""

    def __init__(self) -> None:
        self.call = Call()
        self.done = threading.Event()
        self.signer: Any = None
        self.error: Exception | None = None
