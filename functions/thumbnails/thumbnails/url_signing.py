"""Links to cached thumbnails that live as long as promised: CloudFront signed URLs.

An S3 presigned URL stops working when the credentials that signed it expire; in Lambda those
are the role's session credentials, which last hours, not the 7 days the API promises. A
CloudFront signed URL is signed with an RSA key of our own instead, so it lives exactly as
long as its ``Expires`` says, and the edge caches the image close to the caller.

The private key is a PEM string in AWS Secrets Manager, read once per container within the
invocation's deadline and kept in memory (`secret_reads`: a read waited for in vain is cut
off, and the signature is a 503): signing a URL is then a pure, in-memory computation (about
1 ms for an RSA-2048 signature), so a cache hit stays cheap.

Importing this module costs nothing; ``cryptography``'s RSA and serialization modules (75 to
125 ms measured on the development machine, and neither numpy, astropy nor Pillow) are
imported when a container signs its first URL.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from .deadline import Deadline
from .errors import StorageError
from .secret_reads import SECRET_READ_TIMEOUT_S, ReadOnce, read_secret

__all__ = ["SECRET_READ_TIMEOUT_S", "CloudFrontUrlSigner", "read_secret"]


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
        self._signer = ReadOnce(self._new_signer, name="url-signing-key", late=_late)

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
        signer = self._signer.get(deadline or Deadline.unbounded())
        expires = datetime.fromtimestamp(int(self._clock()) + self.lifetime, tz=UTC)
        url = f"https://{self.domain}/{quote(key, safe='/')}"
        return signer.generate_presigned_url(url, date_less_than=expires)


def _late() -> StorageError:
    return StorageError("The URL signing key could not be read in time", status=503)
