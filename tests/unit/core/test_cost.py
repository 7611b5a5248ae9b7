"""The cost table's arithmetic (`bench/cost.py`): each line is its count times its one price.

Prices of 1 (or of powers of ten) make each line's expected value readable from the workload
alone; the real prices are used only where the test is about them.
"""

from __future__ import annotations

import dataclasses

import pytest

from bench import cost
from tests.support.template_support import TEMPLATE, read_template

UNIT = cost.Prices(**{f.name: 1.0 for f in dataclasses.fields(cost.Prices)})


def test_lambda_bills_the_duration_rounded_up_to_the_millisecond_at_the_configured_memory():
    assert cost.gb_seconds(1000.0, 1024) == 1.0
    assert cost.gb_seconds(999.2, 2048) == 2.0  # 999.2 ms is billed as 1000 ms
    assert cost.gb_seconds(0.5, 1024) == 0.001


def test_each_line_of_a_thousand_is_its_count_times_its_price():
    workload = cost.Workload(
        "w",
        duration_ms=500.0,
        memory_mb=2048,
        s3_calls={"HeadObject": 1, "PutObject": 2, "GetObject": 1},
        stored_bytes=cost.GB // 4,
        delivered_bytes=cost.GB // 2,
        api_requests=1,
        cloudfront_requests=1,
        origin_fetches=1,
        sqs_requests=3,
        storage_months=2.0,
    )
    c = cost.cost_per_thousand(workload, UNIT)
    assert c.lambda_compute == 1000 * 1.0  # 0.5 s x 2 GB
    assert c.lambda_requests == 1000
    assert c.api_gateway == 1000
    assert c.s3_requests == 1000 * (2 + 2 + 1)  # two PUT-class, two GET-class, one origin GET
    assert c.s3_storage == 1000 * 0.25 * 2.0
    assert c.cloudfront == 1000 * (1 + 0.5)
    assert c.sqs == 1000 * 3
    assert c.total == pytest.approx(1000 * (1 + 1 + 1 + 5 + 0.5 + 1.5 + 3))


def test_s3_operations_are_billed_by_their_class():
    prices = dataclasses.replace(UNIT, s3_put_request=10.0, s3_get_request=1.0)
    calls = {"PutObject": 1, "CopyObject": 1, "ListObjectsV2": 1, "HeadObject": 1, "GetObject": 1}
    assert cost.s3_request_cost(calls, prices) == 3 * 10.0 + 2 * 1.0


def test_snapstart_charges_memory_per_restore_and_per_second_cached_with_a_3_hour_minimum():
    assert cost.snapstart_restore_cost(2048, UNIT) == 2.0
    assert cost.snapstart_cache_cost(1024, 60, UNIT) == 3 * 3600  # the minimum
    assert cost.snapstart_cache_cost(1024, 5 * 3600, UNIT) == 5 * 3600


def test_the_real_prices_give_the_published_arm64_example():
    # One million 1 s invocations at 1024 MB on arm64: 1,000,000 GB-s x $0.0000133334
    # = $13.33, plus $0.20 of requests.
    per_thousand = cost.cost_per_thousand(cost.Workload("w", 1000.0, 1024), cost.PRICES)
    assert 1000 * per_thousand.lambda_compute == pytest.approx(13.3334)
    assert 1000 * per_thousand.lambda_requests == pytest.approx(0.20)


def test_the_memory_size_is_read_from_the_template():
    parameters = read_template()["Parameters"]
    for name in ("ApiMemorySize", "PregenerateMemorySize", "ThumbnailExpirationDays"):
        assert cost.template_default(name, TEMPLATE) == str(parameters[name]["Default"])
    with pytest.raises(KeyError):
        cost.template_default("NoSuchParameter", TEMPLATE)


def test_the_table_has_a_row_per_workload_with_its_total():
    workloads = [cost.Workload("hit", 10.0, 1024), cost.Workload("miss", 900.0, 1024)]
    table = cost.markdown_table(workloads, UNIT).splitlines()
    assert len(table) == 2 + 2
    for line, workload in zip(table[2:], workloads, strict=True):
        total = cost.cost_per_thousand(workload, UNIT).total
        assert line.startswith(f"| {workload.name} |")
        assert line.endswith(f"| **${total:,.2f}** |")
