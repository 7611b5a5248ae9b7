"""Fixtures every robustness test module shares: one moto bucket per module, and a fresh
harness (API handler, fake archive, reset service caches) per test."""

from __future__ import annotations

import pytest

from tests.robustness.harness import Harness, moto_bucket


@pytest.fixture(scope="module")
def s3():
    with moto_bucket() as client:
        yield client


@pytest.fixture
def harness(monkeypatch, s3):
    with Harness.started(monkeypatch, s3) as harness:
        yield harness
