"""All configuration, read from the environment once, in one place.

The old service's variable names are kept where they exist (``ARCHIVE_API_URL``,
``AWS_BUCKET``, ``STORAGE_URL``, ``REQUIRED_FRAME_VALIDATION_KEYS``,
``VALID_CONFIGURATION_TYPES``, ``VALID_CONFIGURATION_TYPES_FOR_COLOR_THUMBS``). Every variable
here is documented in the README's configuration table and set by ``template.yaml``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from .params import DEFAULT_MAX_SIZE

_DEFAULT_VALID_TYPES = (
    "ARC,BIAS,BPM,DARK,DOUBLE,EXPERIMENTAL,EXPOSE,GUIDE,LAMPFLAT,SKYFLAT,SPECTRUM,STANDARD,"
    "TARGET,TRAILED"
)

#: Environment variable -> default, in README order. The template test checks that every
#: name here is set by template.yaml for the functions.
ENVIRONMENT: dict[str, str] = {
    "ARCHIVE_API_URL": "http://localhost/",
    "THUMBNAIL_BUCKET": "",
    "STORAGE_URL": "",
    "REQUIRED_FRAME_VALIDATION_KEYS": "configuration_type,request_id,filename",
    "VALID_CONFIGURATION_TYPES": _DEFAULT_VALID_TYPES,
    "VALID_CONFIGURATION_TYPES_FOR_COLOR_THUMBS": "EXPOSE,STANDARD",
    "MAX_THUMBNAIL_SIZE": str(DEFAULT_MAX_SIZE),
    "MAX_FRAME_PIXELS": "150000000",
    "MAX_DOWNLOAD_BYTES": "",  # empty: derived from the function's memory, see below
    "ARCHIVE_TIMEOUT": "10",
    "DOWNLOAD_TIMEOUT": "60",
    "DOWNLOAD_RETRIES": "2",
    "PRESIGNED_URL_EXPIRY": "604800",
    "URL_SIGNER": "s3",
    "CLOUDFRONT_DOMAIN": "",
    "CLOUDFRONT_KEY_PAIR_ID": "",
    "CLOUDFRONT_PRIVATE_KEY_SECRET": "",
    "THUMBNAIL_EXPIRATION_DAYS": "30",
    "CORS_ALLOW_ORIGIN": "*",
    "PREGENERATE_PRESETS": "width=200&height=200;width=1000&height=1000",
    "PREGENERATE_SUFFIXES": ".fits,.fits.fz",
    "REQUEST_SIGNING_SECRET": "",  # empty: requests need no signature
    "REQUEST_SIGNING_FREE_PRESETS": "pregenerated",
}


#: How thumbnail URLs are signed: S3 presigned URLs, or CloudFront signed URLs.
URL_SIGNERS = ("s3", "cloudfront")


#: Peak memory per byte of FITS file, for one frame downloaded, decoded and rendered in the
#: pregeneration presets (200 and 1000 px). Measured by ``bench/memory_factor.py`` on
#: 4096x4096 frames (VmHWM of a fresh process, less its imports, which are loaded first):
#:   16-bit raw .fits with BZERO (astropy scales it to float)   32.0 MiB file,  +96.1 MiB: 3.00
#:   reduced float32 .fits (decoded as a view of the file)      64.0 MiB file,  +92.7 MiB: 1.45
#:   reduced float32 .fits.fz (Rice)                            13.8 MiB file,  +62.8 MiB: 4.56
#: (Counting the renderer's lazy imports too, as the benchmark once did, the first is 4.13.)
#: The worst uncompressed frame sets it, rounded up. A compressed frame needs more per file
#: byte, but what it decodes to is bounded by MAX_FRAME_PIXELS, read from its headers first.
MEMORY_PER_DOWNLOAD_BYTE = 4.0
#: MiB a warm container holds before any download: the runtime with thumbnails.api,
#: thumbnails.pregenerate, the renderer (numpy, astropy, Pillow) and a boto3 client imported
#: measured 111 MiB of RSS; the rest is headroom (response, thumbnails, S3 buffers).
MEMORY_RESERVED_MB = 256
#: The cap where no memory size is known (local runs, the command line).
UNBOUNDED_MAX_DOWNLOAD_BYTES = 1024**3


def derived_max_download_bytes(memory_mb: int) -> int:
    """The largest download a function of `memory_mb` MB can hold and render.

    ``(memory_mb - MEMORY_RESERVED_MB) MiB / MEMORY_PER_DOWNLOAD_BYTE``, at least 1 MiB:
    396,623,872 bytes (378 MiB) for the template's 1769 MB functions.
    """
    usable = max(0, memory_mb - MEMORY_RESERVED_MB) * 2**20
    return max(2**20, int(usable / MEMORY_PER_DOWNLOAD_BYTE))


def render_memory_budget(memory_mb: int) -> int:
    """Bytes one render may use in a function of `memory_mb` MB: what is left of its memory
    once `MEMORY_RESERVED_MB` is kept for the runtime and everything imported (1,586,495,488
    bytes, 1513 MiB, for the template's 1769 MB functions).

    Checked before decoding against `thumbnails.imaging.budget`'s estimate of the request.
    """
    return max(0, memory_mb - MEMORY_RESERVED_MB) * 2**20


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot use."""


def _csv(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _number(name: str, value: str, kind: type[int] | type[float], minimum: float) -> int | float:
    try:
        number = kind(value)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {value!r}") from None
    if number < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value!r}")
    return number


def _free_presets(value: str, pregenerated: tuple[str, ...]) -> tuple[str, ...]:
    """``REQUEST_SIGNING_FREE_PRESETS``: ``pregenerated`` (the default) for
    ``PREGENERATE_PRESETS``, ``none`` (or empty) for none, else presets separated by ``;``."""
    keyword = value.strip().lower()
    if keyword == "pregenerated":
        return pregenerated
    if keyword in ("none", ""):
        return ()
    return tuple(p.strip() for p in value.split(";") if p.strip())


def _default_max_download_bytes(env: Mapping[str, str]) -> int:
    memory = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "").strip()
    if not memory:
        return UNBOUNDED_MAX_DOWNLOAD_BYTES
    return derived_max_download_bytes(
        int(_number("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory, int, 128))
    )


def _render_memory_bytes(env: Mapping[str, str]) -> int | None:
    memory = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "").strip()
    if not memory:
        return None  # local runs, the command line: no budget
    return render_memory_budget(int(_number("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory, int, 128)))


@dataclass(frozen=True)
class Settings:
    """The service's configuration. Build it with `Settings.from_env`.

    Attributes mirror `ENVIRONMENT`; see the README for their meaning.
    """

    archive_api_url: str
    thumbnail_bucket: str
    storage_url: str | None
    required_frame_validation_keys: tuple[str, ...]
    valid_configuration_types: tuple[str, ...]
    valid_configuration_types_for_color: tuple[str, ...]
    max_thumbnail_size: int
    max_frame_pixels: int
    max_download_bytes: int
    archive_timeout: float
    download_timeout: float
    download_retries: int
    presigned_url_expiry: int
    url_signer: str
    cloudfront_domain: str
    cloudfront_key_pair_id: str
    cloudfront_private_key_secret: str
    thumbnail_expiration_days: int
    cors_allow_origin: str
    pregenerate_presets: tuple[str, ...]
    pregenerate_suffixes: tuple[str, ...]
    #: Secrets Manager secret whose string signs request URLs; empty: signing off.
    request_signing_secret: str = ""
    #: Presets that pass unsigned, as query strings (``PREGENERATE_PRESETS``' by default).
    request_signing_free_presets: tuple[str, ...] = ()
    #: Bytes a render may use (`render_memory_budget` of ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``);
    #: None outside Lambda.
    render_memory_bytes: int | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from `environ` (default: ``os.environ``), defaults filled in.

        ``THUMBNAIL_BUCKET`` falls back to the old service's ``AWS_BUCKET``. An empty
        ``MAX_DOWNLOAD_BYTES`` is derived from ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE`` (set by
        Lambda) with `derived_max_download_bytes`, else `UNBOUNDED_MAX_DOWNLOAD_BYTES`; the
        memory a render may use comes from the same variable (`render_memory_budget`).

        Raises
        ------
        SettingsError
            When a value is unusable (a non-number where a number is needed, ...).
        """
        env = os.environ if environ is None else environ

        def get(name: str) -> str:
            return env.get(name, ENVIRONMENT[name])

        def whole(name: str, minimum: int) -> int:
            return int(_number(name, get(name), int, minimum))

        def seconds(name: str) -> float:
            return float(_number(name, get(name), float, 0.1))

        bucket = get("THUMBNAIL_BUCKET") or env.get("AWS_BUCKET", "")
        archive_url = get("ARCHIVE_API_URL")
        if not archive_url.endswith("/"):
            archive_url += "/"
        expiry = whole("PRESIGNED_URL_EXPIRY", 1)
        if expiry > 604800:
            raise SettingsError("PRESIGNED_URL_EXPIRY must be at most 604800 s (SigV4's limit)")
        expiration_days = whole("THUMBNAIL_EXPIRATION_DAYS", 1)
        if expiration_days * 86400 <= expiry:
            # A URL handed out for a just-written thumbnail would outlive the object.
            raise SettingsError(
                f"THUMBNAIL_EXPIRATION_DAYS ({expiration_days} days) must be longer than "
                f"PRESIGNED_URL_EXPIRY ({expiry} s)"
            )
        presets = tuple(p.strip() for p in get("PREGENERATE_PRESETS").split(";") if p.strip())
        signer = get("URL_SIGNER").strip().lower()
        if signer not in URL_SIGNERS:
            choices = ", ".join(URL_SIGNERS)
            raise SettingsError(f"URL_SIGNER must be one of {choices}, got {signer!r}")
        cloudfront = {
            name: get(name).strip() for name in ENVIRONMENT if name.startswith("CLOUDFRONT_")
        }
        missing = [name for name, value in cloudfront.items() if not value]
        if signer == "cloudfront" and missing:
            raise SettingsError(f"URL_SIGNER=cloudfront needs {', '.join(missing)}")
        return cls(
            archive_api_url=archive_url,
            thumbnail_bucket=bucket,
            storage_url=get("STORAGE_URL") or None,
            required_frame_validation_keys=_csv(get("REQUIRED_FRAME_VALIDATION_KEYS")),
            valid_configuration_types=_csv(get("VALID_CONFIGURATION_TYPES")),
            valid_configuration_types_for_color=_csv(
                get("VALID_CONFIGURATION_TYPES_FOR_COLOR_THUMBS")
            ),
            max_thumbnail_size=whole("MAX_THUMBNAIL_SIZE", 1),
            max_frame_pixels=whole("MAX_FRAME_PIXELS", 1),
            max_download_bytes=(
                whole("MAX_DOWNLOAD_BYTES", 1)
                if get("MAX_DOWNLOAD_BYTES").strip()
                else _default_max_download_bytes(env)
            ),
            archive_timeout=seconds("ARCHIVE_TIMEOUT"),
            download_timeout=seconds("DOWNLOAD_TIMEOUT"),
            download_retries=whole("DOWNLOAD_RETRIES", 0),
            presigned_url_expiry=expiry,
            url_signer=signer,
            cloudfront_domain=cloudfront["CLOUDFRONT_DOMAIN"],
            cloudfront_key_pair_id=cloudfront["CLOUDFRONT_KEY_PAIR_ID"],
            cloudfront_private_key_secret=cloudfront["CLOUDFRONT_PRIVATE_KEY_SECRET"],
            thumbnail_expiration_days=expiration_days,
            cors_allow_origin=get("CORS_ALLOW_ORIGIN"),
            pregenerate_presets=presets,
            pregenerate_suffixes=_csv(get("PREGENERATE_SUFFIXES")),
            render_memory_bytes=_render_memory_bytes(env),
            request_signing_secret=get("REQUEST_SIGNING_SECRET").strip(),
            request_signing_free_presets=_free_presets(
                get("REQUEST_SIGNING_FREE_PRESETS"), presets
            ),
        )
