"""Links to cached thumbnails that live as long as promised: CloudFront signed URLs.

An S3 presigned URL stops working when the credentials that signed it expire; in Lambda those
are the role's session credentials, which last hours, not the 7 days the API promises. A
CloudFront signed URL is signed with an RSA key of our own instead, so it lives exactly as
long as its ``Expires`` says, and the edge caches the image close to the caller.

The private key is a PEM string in AWS Secrets Manager. It is read once per container, through
Powertools' Parameters utility (its boto3 client honours ``AWS_ENDPOINT_URL_SECRETS_MANAGER``,
which is how the tests point it at moto), and kept in memory: signing a URL is then a pure,
in-memory computation (about 1 ms for an RSA-2048 signature), so a cache hit stays cheap.

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

from .errors import StorageError

#: Powertools caches a secret for this many seconds; a container reads its key once.
SECRET_MAX_AGE_S = 365 * 86400


def read_secret(name: str) -> str:
    """The string value of the Secrets Manager secret `name` (a name or an ARN), cached.

    Raises
    ------
    StorageError
        502 when the secret cannot be read (missing, denied, not a string); the message names
        the secret, never its value.
    """
    from aws_lambda_powertools.utilities import parameters

    try:
        value = parameters.get_secret(name, max_age=SECRET_MAX_AGE_S)
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
        Called once, on the first signature, for the matching RSA private key in PEM form.
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
        self._lock = threading.Lock()

    def _cloudfront_signer(self) -> Any:
        with self._lock:
            if self._signer is None:
                from botocore.signers import CloudFrontSigner
                from cryptography.hazmat.primitives import hashes, serialization
                from cryptography.hazmat.primitives.asymmetric import padding, rsa

                try:
                    # Our own key from our own secret: skipping cryptography's RSA
                    # consistency check saves ~0.1 s on a container's first signature.
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

                self._signer = CloudFrontSigner(self.key_pair_id, rsa_sign)
            return self._signer

    def sign(self, key: str) -> str:
        """The signed URL of object `key`, valid for `lifetime` seconds from now."""
        expires = datetime.fromtimestamp(int(self._clock()) + self.lifetime, tz=UTC)
        url = f"https://{self.domain}/{quote(key, safe='/')}"
        return self._cloudfront_signer().generate_presigned_url(url, date_less_than=expires)
