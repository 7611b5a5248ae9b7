"""The ``template`` fixture: a copy of ``template.yaml`` as SAM's YAML loader reads it."""

from __future__ import annotations

import copy

import pytest

from tests.support.template_support import read_template


@pytest.fixture
def template() -> dict:
    return copy.deepcopy(read_template())
