"""The stack deployed by LocalStack's CloudFormation engine (``make test-deploy`` only).

These tests need a running LocalStack, which ``make test-deploy`` (scripts/test-deploy.sh)
starts, and name it through ``THUMBNAILS_DEPLOY_ENDPOINT``. Without it they are skipped, so
plain ``pytest`` (and ``make test``) does not run them. With it set, a run that skipped a test
or ran none fails: ``make test-deploy`` can never pass by checking nothing.
"""

from __future__ import annotations

import os
import time

import pytest

from .engine import PLACEHOLDERS_SEEN, TIMINGS

ENDPOINT_VARIABLE = "THUMBNAILS_DEPLOY_ENDPOINT"
_outcomes: dict[str, int] = {"passed": 0, "skipped": 0}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _outcomes["skipped"] += 1
    elif report.passed and report.when == "call":
        _outcomes["passed"] += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    checked_nothing = _outcomes["skipped"] or not _outcomes["passed"]
    if os.environ.get(ENDPOINT_VARIABLE) and exitstatus == 0 and checked_nothing:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if not os.environ.get(ENDPOINT_VARIABLE):
        return
    if _outcomes["skipped"] or not _outcomes["passed"]:
        terminalreporter.section("make test-deploy FAILED", red=True, bold=True)
        terminalreporter.write_line(
            f"{_outcomes['skipped']} test(s) skipped and {_outcomes['passed']} passed with "
            f"{ENDPOINT_VARIABLE} set: every deployment test must run"
        )
    if PLACEHOLDERS_SEEN:
        terminalreporter.section("placeholders (not created: LocalStack's community edition)")
        for scenario, placeholders in PLACEHOLDERS_SEEN.items():
            listed = ", ".join(f"{k} ({v})" for k, v in sorted(placeholders.items())) or "none"
            terminalreporter.write_line(f"UrlSigner={scenario}: {listed}")
    terminalreporter.section("timings (wall clock)")
    for what, seconds in TIMINGS:
        terminalreporter.write_line(f"{seconds:7.1f} s  {what}")
    started = os.environ.get("TEST_DEPLOY_STARTED", "")
    if started.isdigit():
        terminalreporter.write_line(
            f"{time.time() - int(started):7.1f} s  make test-deploy in all (venv, build, "
            "LocalStack, tests)"
        )
