"""The world the handlers run in: real S3 (moto's server), the archive, fault proxies, frames.

- `MotoProcess`: moto's ``ThreadedMotoServer`` in a process of its own (its CPU is not taken
  from the process that checks the cases), holding the data bucket with the frame pool
  (`tests.contract.cases.FRAMES`, built here from `tests.support.fits_factory` and
  `tests.robustness.frames`: real FITS bytes) and the thumbnail cache bucket.
- `Lane`: what one worker process talks to, so that parallel workers' faults never cross:
  a `FaultProxy` in front of moto (every S3 call and every frame download, which are
  presigned URLs of the data bucket through it), and the local archive
  (`thumbnails.local.archive`) serving the pool's records, behind a second `FaultProxy`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tests.contract.cases import (
    DATA_BUCKET,
    DELETED_KEYS,
    FRAMES,
    TARGETS,
    THUMBNAIL_BUCKET,
    FrameSpec,
)
from tests.contract.fault_proxy import Fault, FaultProxy, Rule
from tests.robustness import frames as broken
from tests.support.fits_factory import (
    cube_frame_bytes,
    gzip_bytes,
    raw_amplifier_frame_bytes,
    reduced_frame_bytes,
    table_only_bytes,
)
from tests.support.planet_scene import planet_image

ROOT = Path(__file__).resolve().parents[2]
#: Fake credentials: nothing here can reach AWS.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "contract",
    "AWS_SECRET_ACCESS_KEY": "contract",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _grey(**kwargs: Any) -> bytes:
    return reduced_frame_bytes((48, 64), **kwargs)


_BUILDERS = {
    "grey-rice": lambda: _grey(compression="RICE_1"),
    "grey-plain": lambda: _grey(),
    "grey-gzip2": lambda: _grey(compression="GZIP_2", seed=2),
    "grey-hcompress": lambda: _grey(compression="HCOMPRESS_1", seed=3),
    "grey-primary-int": lambda: reduced_frame_bytes(
        data=np.random.default_rng(5).integers(0, 60000, (40, 50)).astype(np.uint16),
        in_primary=True,
    ),
    "grey-no-wcs": lambda: _grey(compression="RICE_1", wcs=False),
    "grey-512": lambda: reduced_frame_bytes((512, 512), compression="RICE_1", stars=40),
    "planet": lambda: reduced_frame_bytes(
        data=planet_image((200, 240), (120.3, 95.6), radius=20.0), compression="RICE_1"
    ),
    "grey-gz": lambda: gzip_bytes(_grey(seed=8)),
    "one-row": lambda: broken.image_bytes(np.arange(500, dtype=np.float32)[None, :]),
    "one-column": lambda: broken.image_bytes(np.arange(300, dtype=np.float32)[:, None]),
    "nan-only": lambda: broken.image_bytes(np.full((20, 30), np.nan, np.float32)),
    "constant": lambda: broken.image_bytes(np.full((20, 30), 7.0, np.float32)),
    "raw-mosaic": lambda: raw_amplifier_frame_bytes(compression="RICE_1", read_noise=3.0),
    "raw-cube": cube_frame_bytes,
    "colour-r": lambda: _grey(compression="RICE_1", filter="rp", seed=20),
    "colour-v": lambda: _grey(compression="RICE_1", filter="V", seed=21, shift=(1.5, -2.0)),
    "colour-b": lambda: _grey(compression="RICE_1", filter="B", seed=22, shift=(-2.5, 1.0)),
    "truncated-data": broken.truncated_in_data,
    "truncated-header": broken.truncated_in_header,
    "not-fits": broken.corrupt_simple_card,
    "naxis-text": broken.non_numeric_naxis,
    "naxis-negative": broken.negative_naxis,
    "bitpix-13": broken.bad_bitpix,
    "corrupt-tiles": broken.corrupt_tiles,
    "corrupt-descriptors": broken.corrupt_tile_descriptors,
    "zero-sized": broken.zero_sized_image,
    "huge-declared": broken.declared_huge,
    "huge-declared-ext": lambda: broken.declared_huge(extension=True),
    "huge-declared-fz": broken.declared_huge_compressed,
    "table-only": table_only_bytes,
    "dither-negative": lambda: broken.dithered_frame(zdither0=-5),
    "gzip-bomb": lambda: broken.gzip_with_trailing_zeros(64),
    "empty": lambda: b"",
}
assert {f.kind for f in FRAMES} <= set(_BUILDERS), "every frame kind has a builder"


@functools.cache
def frame_bytes(kind: str) -> bytes:
    """The bytes of a pool frame kind (built once per process)."""
    return _BUILDERS[kind]()


def record_header(frame: FrameSpec) -> dict[str, object]:
    """The header cards the archive describes `frame` by (as it would have ingested it)."""
    return {
        "OBSTYPE": frame.obstype,
        "FILTER": frame.filter,
        "REQNUM": frame.reqnum,
        "RLEVEL": frame.rlevel,
        "PROPID": "LCO2026A-contract",
        "DATE-OBS": "2026-01-02T14:00:00.000",
        "DAY-OBS": "20260102",
        "SITEID": "coj",
        "TELESCOP": "2m0a",
        "INSTRUME": "ep02",
        "OBJECT": "SYN-FIELD",
        "EXPTIME": 90.0,
    }


def s3_client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(signature_version="s3v4", s3={"addressing_style": "path"})
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="contract",
        aws_secret_access_key="contract",
        config=config,
    )


class MotoProcess:
    """moto's S3 server in a child process; `url` is its endpoint."""

    _SCRIPT = (
        "import sys\n"
        "from moto.server import ThreadedMotoServer\n"
        "server = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)\n"
        "server.start()\n"
        "print(server.get_host_and_port()[1], flush=True)\n"
        "sys.stdin.read()\n"  # until the parent closes our stdin
        "server.stop()\n"
    )

    def __init__(self) -> None:
        env = {**os.environ, **CREDENTIALS}
        self._process = subprocess.Popen(
            [sys.executable, "-c", self._SCRIPT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
        )
        port = self._process.stdout.readline().strip()  # type: ignore[union-attr]
        if not port.isdigit():
            self.stop()
            raise RuntimeError("moto's server did not start")
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._process.stdin.close()  # type: ignore[union-attr]
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


#: The CloudFront signing key's secret (Secrets Manager, on moto's server too).
SIGNING_KEY_SECRET = "contract/cloudfront-signing-key"


def _signing_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def fill_buckets(endpoint: str) -> None:
    """Create both buckets, upload the pool, make the `DELETED_KEYS` objects gone, and store
    the CloudFront signing key's secret."""
    import boto3

    secrets = boto3.client(
        "secretsmanager",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="contract",
        aws_secret_access_key="contract",
    )
    secrets.create_secret(Name=SIGNING_KEY_SECRET, SecretString=_signing_key_pem())
    s3 = s3_client(endpoint)
    for bucket in (DATA_BUCKET, THUMBNAIL_BUCKET):
        s3.create_bucket(Bucket=bucket)
    for frame in FRAMES:
        s3.put_object(Bucket=DATA_BUCKET, Key=frame.key, Body=frame_bytes(frame.kind))
    for key in DELETED_KEYS.values():  # written, then deleted before any worker runs
        s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=frame_bytes("grey-rice"))
        s3.delete_object(Bucket=DATA_BUCKET, Key=key)


class Lane:
    """One worker's upstreams: a fault proxy for S3, the archive behind another.

    Parameters
    ----------
    moto_url : str
        moto's endpoint.
    """

    def __init__(self, moto_url: str) -> None:
        from thumbnails.local.archive import ArchiveServer, LocalArchive, frame_record

        self.s3_proxy = FaultProxy(moto_url, flavour="s3").start()
        presigner = s3_client(self.s3_proxy.url)

        def url_for(key: str) -> str:
            return presigner.generate_presigned_url(
                "get_object", Params={"Bucket": DATA_BUCKET, "Key": key}, ExpiresIn=86400
            )

        self.archive = LocalArchive(url_for)
        for frame in FRAMES:
            data = frame_bytes(frame.kind)
            etag = hashlib.md5(data).hexdigest()  # noqa: S324 - S3's ETag of a single PUT
            self.archive.add(
                frame_record(
                    frame.key,
                    record_header(frame),
                    size=len(data),
                    etag=etag,
                    modified="2026-01-02T15:00:00Z",
                )
            )
        self.archive_server = ArchiveServer(self.archive).start()
        self.archive_proxy = FaultProxy(self.archive_server.url.rstrip("/"), flavour="json").start()
        self.proxies = {"s3": self.s3_proxy, "archive": self.archive_proxy}

    def environment(self, signer: str = "s3") -> dict[str, str]:
        """The worker's environment: the API function's settings from the template, pointed
        at this lane, with Lambda's memory size; links signed by S3 or by CloudFront
        (`signer`), whose key is read from Secrets Manager through the S3 proxy."""
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("AWS_", "POWERTOOLS_")) and name not in ("PYTHONPATH",)
        }
        env.update(CREDENTIALS)
        env.update(
            {
                "PYTHONPATH": str(ROOT),
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769",
                "AWS_LAMBDA_FUNCTION_NAME": "thumbnails-contract",
                "STORAGE_URL": self.s3_proxy.url,
                "THUMBNAIL_BUCKET": THUMBNAIL_BUCKET,
                "ARCHIVE_API_URL": self.archive_proxy.url + "/",
                "ARCHIVE_TIMEOUT": "10",
                "DOWNLOAD_TIMEOUT": "20",  # the template's ApiDownloadTimeout
                "DOWNLOAD_RETRIES": "2",
                "POWERTOOLS_SERVICE_NAME": "thumbnails",
                "POWERTOOLS_METRICS_NAMESPACE": "Thumbnails",
                "POWERTOOLS_LOG_LEVEL": "INFO",  # the template's LogLevel
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        if signer == "cloudfront":
            env.update(
                {
                    "URL_SIGNER": "cloudfront",
                    "CLOUDFRONT_DOMAIN": "d111111abcdef8.cloudfront.net",
                    "CLOUDFRONT_KEY_PAIR_ID": "K2JCJMDEHXQW5F",
                    "CLOUDFRONT_PRIVATE_KEY_SECRET": SIGNING_KEY_SECRET,
                    "AWS_ENDPOINT_URL_SECRETS_MANAGER": self.s3_proxy.url,
                }
            )
        return env

    def arm(self, case_id: str, faults: list[dict], give_up: float) -> None:
        """Apply a case's faults (`tests.contract.cases.TARGETS`) to the proxies."""
        rules: dict[str, list[Rule]] = {"s3": [], "archive": []}
        for spec in faults:
            proxy, method, path, header, without = TARGETS[spec["target"]]
            rules[proxy].append(
                Rule(
                    Fault(**spec["fault"]),
                    method=method,
                    path=path,
                    header=header,
                    without_header=without,
                    times=spec["times"],
                )
            )
        for name, proxy in self.proxies.items():
            proxy.arm(rules[name], case=case_id, give_up=give_up)

    def disarm(self, case_id: str) -> None:
        for proxy in self.proxies.values():
            proxy.disarm(case=case_id)

    def stop(self) -> None:
        self.archive_proxy.stop()
        self.archive_server.stop()
        self.s3_proxy.stop()


@contextlib.contextmanager
def world(lanes: int) -> Iterator[tuple[MotoProcess, list[Lane]]]:
    """moto with the pool uploaded, and `lanes` lanes; everything stopped afterwards."""
    moto = MotoProcess()
    started: list[Lane] = []
    try:
        fill_buckets(moto.url)
        for _ in range(lanes):
            started.append(Lane(moto.url))
        yield moto, started
    finally:
        for lane in started:
            lane.stop()
        moto.stop()
