"""The frames these tests put in the local data bucket, and what their images must look like."""

from __future__ import annotations

import io
import urllib.request
from urllib.parse import unquote, urlsplit

from PIL import Image

from tests.support.fits_factory import reduced_frame_bytes

#: rows, cols: a 4:3 frame, so every box below gives whole pixel sizes.
SHAPE = (300, 400)
FULL_SIZE = (400, 300)  # (width, height) of the whole frame: the most a thumbnail can be


def frame_key(number: int) -> str:
    """A processed-frame key of the site/instrument/day layout, unique per test."""
    return f"coj/ep02/20260102/processed/coj2m002-ep02-20260102-{number:04d}-e91.fits.fz"


def frame_bytes(seed: int = 0) -> bytes:
    """A Rice-compressed reduced frame (``.fits.fz``) of `SHAPE`."""
    return reduced_frame_bytes(SHAPE, compression="RICE_1", seed=seed)


def fetch(url: str) -> tuple[int, str, bytes]:
    """GET `url`: status, Content-Type, body."""
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (a local server)
        return response.status, response.headers.get("Content-Type", ""), response.read()


def image_of(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def key_of(url: str, bucket: str) -> str:
    """The object key a path-style presigned URL of `bucket` points at."""
    path = unquote(urlsplit(url).path)
    prefix = f"/{bucket}/"
    assert path.startswith(prefix), f"{url} is not in {bucket}"
    return path[len(prefix) :]


def assert_visible(image: Image.Image) -> None:
    """Not blank: a star field has a dark sky and bright stars."""
    low, high = image.convert("L").getextrema()
    assert high - low > 100, f"a flat image (levels {low}..{high})"
