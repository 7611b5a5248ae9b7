"""Why ``sam_cli.py`` replaces SAM CLI's readiness check, shown on a real container.

With ``dockerd --iptables=false`` a published port is served by Docker's userland proxy,
which accepts connections while nothing listens in the container: SAM's own check passes too
early, ours waits for the emulator's HTTP answer.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import samcli
from samcli.local.docker.container import Container

from .sam import DOCKER, free_port
from .sam_cli import CHECK, emulator_answers

EMULATOR = Path(samcli.__file__).parent / "local" / "rapid" / "aws-lambda-rie-arm64"

pytestmark = pytest.mark.integration


@pytest.fixture
def idle_container(lambda_image):
    """A container with port 8080 published on 127.0.0.1 and nothing listening on it."""
    port = free_port()
    started = subprocess.run(
        [DOCKER, "run", "-d", "--rm", "-p", f"127.0.0.1:{port}:8080",
         "-v", f"{EMULATOR}:/var/rapid/aws-lambda-rie:ro",
         "--entrypoint", "/bin/sleep", lambda_image, "300"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    container_id = started.stdout.strip()
    try:
        yield container_id, SimpleNamespace(_container_host="localhost", rapid_port_host=port)
    finally:
        subprocess.run([DOCKER, "rm", "-f", container_id], capture_output=True, check=False)


def test_sams_own_check_passes_before_the_emulator_listens_and_ours_does_not(idle_container):
    container_id, address = idle_container
    sams_check = getattr(Container, CHECK)

    deadline = time.monotonic() + 30
    while not sams_check(address):  # the proxy listens once the container runs
        assert time.monotonic() < deadline, "the published port never accepted a connection"
        time.sleep(0.1)
    for _ in range(10):
        assert sams_check(address)
        assert not emulator_answers(address)
        time.sleep(0.1)

    subprocess.run(
        [DOCKER, "exec", "-d", container_id, "/var/rapid/aws-lambda-rie", "/bin/true"],
        check=True,
    )
    deadline = time.monotonic() + 60
    while not emulator_answers(address):
        assert time.monotonic() < deadline, "the emulator did not answer within 60 s"
        time.sleep(0.1)
