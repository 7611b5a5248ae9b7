"""Waiting in tests for something another thread or process does, without a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest


def wait_for(condition: Callable[[], bool], what: str, *, within: float, poll: float) -> None:
    """Return once `condition()` holds; fail the test naming `what` after `within` seconds.

    Parameters
    ----------
    condition : callable
        Checked every `poll` seconds.
    what : str
        What is awaited, for the failure message.
    within, poll : float
        The longest wait and the interval between checks, in seconds.
    """
    give_up = time.monotonic() + within
    while not condition():
        if time.monotonic() > give_up:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(poll)
