"""The API handler's world for every test here: moto S3 and a local archive over real HTTP
(`tests.support.api_support.ApiWorld`), started and stopped per test."""

from __future__ import annotations

import pytest

from tests.support.api_support import ApiWorld


@pytest.fixture
def world(monkeypatch):
    with ApiWorld.started(monkeypatch) as world:
        yield world
