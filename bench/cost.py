"""What a thousand thumbnails cost: AWS's published prices, in one place, and the arithmetic.

Every price the benchmark uses is here, with the date it was read and where it was read from.
They are us-east-1 list prices (the template's region is the deployer's: other regions' rates
may differ; read them from the same pages). Free tiers and volume discounts are left out: the
figures are the marginal cost of one more thumbnail at the first pricing tier.

`bench/cost_bench.py` measures the inputs (durations, S3 calls and bytes of each kind of
request) and prints `markdown_table`, which goes into the README.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

#: When the prices below were written down from the pages in `SOURCES`. That day the Lambda
#: arm64, API Gateway REST and SnapStart (Python) figures were checked against copies of those
#: pages; the S3, CloudFront and SQS ones were not re-checked: verify before relying on them.
PRICE_DATE = "2026-12-04"
REGION = "us-east-1"
SOURCES = (
    "https://aws.amazon.com/lambda/pricing/",
    "https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html#snapstart-pricing",
    "https://aws.amazon.com/api-gateway/pricing/",
    "https://aws.amazon.com/s3/pricing/",
    "https://aws.amazon.com/cloudfront/pricing/",
    "https://aws.amazon.com/sqs/pricing/",
)

#: S3 operations billed at the PUT, COPY, POST, LIST rate; every other one at the GET rate
#: (GET, HEAD and the rest: "S3 pricing", Requests & data retrievals).
S3_PUT_CLASS = frozenset(
    {
        "PutObject",
        "CopyObject",
        "ListObjectsV2",
        "ListObjects",
        "PutObjectTagging",
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
    }
)


@dataclass(frozen=True)
class Prices:
    """USD list prices. Each field's name says its unit."""

    lambda_arm_gb_second: float = 0.0000133334  # arm64, first 7.5 billion GB-s a month
    lambda_request: float = 0.20 / 1e6
    snapstart_cache_gb_second: float = 0.0000015046  # Python: per GB of memory, per second
    snapstart_restore_gb: float = 0.0001397998  # Python: per GB of memory, per restore
    api_gateway_rest_request: float = 3.50 / 1e6  # REST APIs, first 333 million a month
    s3_put_request: float = 0.005 / 1000  # S3 Standard: PUT, COPY, POST, LIST
    s3_get_request: float = 0.0004 / 1000  # S3 Standard: GET, HEAD and all other requests
    s3_storage_gb_month: float = 0.023  # S3 Standard, first 50 TB a month
    cloudfront_https_request: float = 0.0100 / 10_000  # United States, Mexico and Canada
    cloudfront_transfer_gb: float = 0.085  # to the internet, first 10 TB a month (same)
    sqs_request: float = 0.40 / 1e6  # standard queue, per 64 KB request


PRICES = Prices()
#: SnapStart bills at least this long for each snapshot it caches (Python).
SNAPSTART_MIN_CACHE_SECONDS = 3 * 3600
SECONDS_PER_MONTH = 30 * 24 * 3600
GB = 1024**3


@dataclass(frozen=True)
class Workload:
    """One kind of thumbnail request, as measured: what a single one uses.

    Attributes
    ----------
    name : str
        How the table names it.
    duration_ms : float
        Lambda's duration of one invocation (billed rounded up to the millisecond).
    memory_mb : int
        The function's configured memory (billing uses it, not the peak).
    peak_mb : float
        Peak memory measured (shown, not billed: it must stay below `memory_mb`).
    s3_calls : mapping of str to int
        S3 operations made, by name (`S3_PUT_CLASS` or GET rate).
    stored_bytes : int
        Bytes written to the thumbnail cache (stored for `storage_months`).
    delivered_bytes : int
        Bytes the viewer downloads through CloudFront.
    api_requests, cloudfront_requests, origin_fetches, sqs_requests : int
        Requests to API Gateway, to CloudFront, from CloudFront to S3 (GETs: edge misses), to
        SQS, per thumbnail.
    storage_months : float
        How long a stored thumbnail is kept (ThumbnailExpirationDays / 30).
    """

    name: str
    duration_ms: float
    memory_mb: int
    peak_mb: float = 0.0
    s3_calls: Mapping[str, int] = field(default_factory=dict)
    stored_bytes: int = 0
    delivered_bytes: int = 0
    api_requests: int = 1
    cloudfront_requests: int = 1
    origin_fetches: int = 1
    sqs_requests: int = 0
    storage_months: float = 1.0


@dataclass(frozen=True)
class Cost:
    """USD for 1,000 thumbnails of one workload, by line."""

    lambda_compute: float
    lambda_requests: float
    api_gateway: float
    s3_requests: float
    s3_storage: float
    cloudfront: float
    sqs: float

    @property
    def total(self) -> float:
        return sum(getattr(self, f.name) for f in fields(self))


def gb_seconds(duration_ms: float, memory_mb: int) -> float:
    """Lambda's GB-seconds for one invocation: the duration rounded up to the millisecond,
    times the configured memory in GB (MB / 1024)."""
    return math.ceil(duration_ms) / 1000 * (memory_mb / 1024)


def s3_request_cost(s3_calls: Mapping[str, int], prices: Prices = PRICES) -> float:
    """USD for one set of S3 calls, each at its class's rate."""
    return sum(
        count * (prices.s3_put_request if name in S3_PUT_CLASS else prices.s3_get_request)
        for name, count in s3_calls.items()
    )


def cost_per_thousand(workload: Workload, prices: Prices = PRICES) -> Cost:
    """What 1,000 requests of `workload` cost, line by line."""
    n = 1000
    w = workload
    return Cost(
        lambda_compute=n * gb_seconds(w.duration_ms, w.memory_mb) * prices.lambda_arm_gb_second,
        lambda_requests=n * prices.lambda_request,
        api_gateway=n * w.api_requests * prices.api_gateway_rest_request,
        s3_requests=n
        * (s3_request_cost(w.s3_calls, prices) + w.origin_fetches * prices.s3_get_request),
        s3_storage=n * w.stored_bytes / GB * prices.s3_storage_gb_month * w.storage_months,
        cloudfront=n
        * (
            w.cloudfront_requests * prices.cloudfront_https_request
            + w.delivered_bytes / GB * prices.cloudfront_transfer_gb
        ),
        sqs=n * w.sqs_requests * prices.sqs_request,
    )


def snapstart_restore_cost(memory_mb: int, prices: Prices = PRICES) -> float:
    """USD for one restore of a snapshot (one new container) of a `memory_mb` function."""
    return memory_mb / 1024 * prices.snapstart_restore_gb


def snapstart_cache_cost(memory_mb: int, seconds: float, prices: Prices = PRICES) -> float:
    """USD for caching one version's snapshot for `seconds` (at least 3 hours are billed)."""
    billed = max(seconds, SNAPSTART_MIN_CACHE_SECONDS)
    return memory_mb / 1024 * billed * prices.snapstart_cache_gb_second


def template_default(name: str, template: Path) -> str:
    """The ``Default`` of parameter `name` in `template` (read as text: no YAML tags needed)."""
    text = template.read_text()
    block = re.search(rf"^  {re.escape(name)}:\n((?:    .*\n|\s*\n)+)", text, re.MULTILINE)
    if block is None:
        raise KeyError(f"no parameter {name} in {template}")
    default = re.search(r"^    Default:\s*\"?([^\"\n]*)\"?\s*$", block.group(1), re.MULTILINE)
    if default is None:
        raise KeyError(f"parameter {name} has no Default")
    return default.group(1).strip()


def _usd(value: float) -> str:
    return f"${value:.4f}" if value < 10 else f"${value:,.2f}"


def markdown_table(workloads: Iterable[Workload], prices: Prices = PRICES) -> str:
    """The README's table: measured inputs and the cost of 1,000 of each workload."""
    head = (
        "| Per 1,000 | Lambda ms (measured) | Peak RSS MB | Memory MB | S3 calls each "
        "| Stored KB | Lambda | API Gateway | S3 requests | S3 storage | CloudFront | SQS "
        "| **Total** |\n"
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    rows = [head]
    for w in workloads:
        c = cost_per_thousand(w, prices)
        calls = ", ".join(f"{k} {v}" for k, v in sorted(w.s3_calls.items())) or "none"
        rows.append(
            f"| {w.name} | {w.duration_ms:,.0f} | {w.peak_mb:,.0f} | {w.memory_mb} | {calls} "
            f"| {w.stored_bytes / 1024:,.0f} | {_usd(c.lambda_compute + c.lambda_requests)} "
            f"| {_usd(c.api_gateway)} | {_usd(c.s3_requests)} | {_usd(c.s3_storage)} "
            f"| {_usd(c.cloudfront)} | {_usd(c.sqs)} | **{_usd(c.total)}** |"
        )
    return "\n".join(rows)
