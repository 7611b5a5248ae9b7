"""The built arm64 functions under the real SAM CLI (``make test-lambda`` only).

These tests need Docker, qemu and the local Lambda image, and take minutes, so plain
``pytest`` (and ``make test``) does not collect them: ``make test-lambda`` sets
``THUMBNAILS_LAMBDA_IMAGE`` to the image it built. With it set, anything missing (Docker, the
image, ``make build``'s output) is an error, never a skip.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .sam import BUILT_TEMPLATE, DOCKER, SamCli, Timing, docker_host
from .stack import LocalStack

IMAGE_VARIABLE = "THUMBNAILS_LAMBDA_IMAGE"
_timing = Timing()


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if not os.environ.get(IMAGE_VARIABLE) and collection_path.name.startswith("test_"):
        return True  # not requested: left out of collection, not skipped
    return None


@pytest.fixture(scope="session")
def lambda_image() -> str:
    image = os.environ.get(IMAGE_VARIABLE, "")
    inspected = subprocess.run(
        [DOCKER, "image", "inspect", "--format", "{{.Architecture}}", image],
        capture_output=True,
        text=True,
        check=False,
    )
    if inspected.returncode != 0:
        pytest.fail(f"the Lambda image {image!r} is not in Docker: {inspected.stderr.strip()}")
    assert inspected.stdout.strip() == "arm64", f"{image} is {inspected.stdout.strip()}"
    if not BUILT_TEMPLATE.is_file():
        pytest.fail(f"{BUILT_TEMPLATE} is missing: run `make build` first")
    return image


@pytest.fixture(scope="session")
def stack(lambda_image: str) -> Iterator[LocalStack]:
    local = LocalStack(docker_host()).start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def sam(lambda_image: str, stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> SamCli:
    return SamCli(lambda_image, stack.environment(), tmp_path_factory.mktemp("sam"), _timing)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if not _timing.entries:
        return
    terminalreporter.section("sam local timings (wall clock, each a new container)")
    for what, seconds in _timing.entries:
        terminalreporter.write_line(f"{seconds:7.1f} s  {what}")
    started = os.environ.get("TEST_LAMBDA_STARTED", "")
    if started.isdigit():
        elapsed = time.time() - int(started)
        terminalreporter.write_line(
            f"{elapsed:7.1f} s  make test-lambda in all (packages, dockerd, image, build, tests)"
        )
