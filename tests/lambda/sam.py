"""Driving the real SAM CLI on the built template, in the local arm64 Lambda image.

`SamCli.invoke` runs ``sam local invoke`` (one fresh container per call: every invoke is a
cold start) and returns the function's result; `SamCli.start_api` runs ``sam local
start-api`` until the ``with`` block ends. Both use the image that ``make test-lambda``
built (``--invoke-image ... --skip-pull-image``): no registry is reachable from here.

Networking: SAM CLI ignores ``--docker-network host`` (it used to pass ``network_mode=host``;
since aws/aws-sam-cli#5279 it only skips connecting a network named "host",
aws/aws-sam-cli#4236), so the function containers always run on Docker's default bridge and
cannot reach this machine's 127.0.0.1. They reach it at the bridge's gateway address instead
(`docker_host`), a host-only interface that our own dockerd creates (started with
``--iptables=false``: no NAT, so the containers cannot reach beyond this machine). The test
servers listen there; SAM's own API and the emulator ports stay on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BUILT_TEMPLATE = ROOT / ".aws-sam" / "build" / "template.yaml"
DOCKER = "/usr/bin/docker"
#: Stack parameters for local runs only. Timeouts: the functions' first import runs under
#: qemu (numpy, astropy and Pillow take tens of seconds there); AWS keeps the template's 28 s
#: and 180 s. Links: S3 presigned URLs of moto's bucket, as there is no CloudFront locally
#: (the template's default, cloudfront, needs a distribution and a key).
LOCAL_OVERRIDES = {"ApiTimeout": "300", "PregenerateTimeout": "600", "UrlSigner": "s3"}
#: How long SAM waits for the emulator in a new container to answer (sam_cli.py); it answers
#: within seconds under qemu; a silent one is retried (EMULATOR_SILENT) rather than waited on.
CONTAINER_CONNECTION_TIMEOUT = "120"
#: Every invoke ends well before this, or the test fails rather than hang.
INVOKE_LIMIT = 900


BRIDGE_CONFIG = "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}\n{{end}}"


#: SAM's message when its request reached no emulator. SAM used to send the invoke as soon as
#: Docker's userland proxy accepted a connection, before the emulator (a Go binary, slow to
#: start under qemu) listened behind it; sam_cli.py makes SAM wait for the emulator's own HTTP
#: answer instead, and since then no run has needed a retry (the timing summary would show it).
EMULATOR_NOT_READY = "No response from invoke container"
#: SAM's message when the emulator did not answer within CONTAINER_CONNECTION_TIMEOUT.
EMULATOR_SILENT = "Timed out while attempting to establish a connection to the container"
#: Tries of one invoke when the function never started: one retry is kept as a guard against
#: anything else that stops an emulator under qemu. A real error is never retried.
ATTEMPTS = 2


def _emulator_not_ready(log_text: str) -> bool:
    never_started = EMULATOR_NOT_READY in log_text or EMULATOR_SILENT in log_text
    return never_started and "START RequestId" not in log_text


class SamError(AssertionError):
    """SAM CLI failed; the message carries its output."""


def docker_host() -> str:
    """The address containers on Docker's default bridge reach this machine at.

    The bridge's gateway; a daemon that has just created the bridge may list only its subnet,
    whose first address Docker gives the gateway.
    """
    result = subprocess.run(
        [DOCKER, "network", "inspect", "bridge", "--format", BRIDGE_CONFIG],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SamError(f"no Docker bridge network: {result.stderr.strip()}")
    for line in result.stdout.splitlines():
        subnet, _, gateway = line.strip().partition(" ")
        if gateway:
            return gateway
        with contextlib.suppress(ValueError):
            network = ipaddress.ip_network(subnet)
            if network.version == 4:
                return str(next(network.hosts()))
    raise SamError(f"the Docker bridge network has no IPv4 subnet: {result.stdout!r}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Timing:
    """Wall-clock seconds of each SAM call, for the summary at the end of the run."""

    entries: list[tuple[str, float]] = field(default_factory=list)

    def add(self, what: str, seconds: float) -> None:
        self.entries.append((what, seconds))


class SamCli:
    """``sam local`` on the built template with `image`, the functions pointed at `environment`.

    Parameters
    ----------
    image : str
        The local Lambda image (``--invoke-image``).
    environment : mapping
        The functions' variables (written to an ``--env-vars`` file, for every function).
    workdir : Path
        Where event and variable files are written.
    timing : Timing
        Receives the duration of every call.
    """

    def __init__(
        self, image: str, environment: Mapping[str, str], workdir: Path, timing: Timing
    ) -> None:
        self.image = image
        self.workdir = workdir
        self.timing = timing
        self.env_file = workdir / "env.json"
        self.env_file.write_text(json.dumps({"Parameters": dict(environment)}, indent=2))
        # SAM CLI with its container readiness check fixed for qemu (see sam_cli.py); -P: the
        # script's folder is not put on sys.path.
        self.sam = [sys.executable, "-P", str(Path(__file__).with_name("sam_cli.py"))]

    def _process_env(self) -> dict[str, str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("AWS_", "SAM_CLI_"))
        }
        # SAM hands the caller's credentials and region to the container: fake ones, as the
        # only S3 there is moto.
        env.update(
            {
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_REGION": "us-east-1",
                "SAM_CLI_TELEMETRY": "0",
                "SAM_CLI_CONTAINER_CONNECTION_TIMEOUT": CONTAINER_CONNECTION_TIMEOUT,
            }
        )
        return env

    def _common(self) -> list[str]:
        overrides = " ".join(f"{name}={value}" for name, value in LOCAL_OVERRIDES.items())
        return [
            "--template-file",
            str(BUILT_TEMPLATE),
            "--env-vars",
            str(self.env_file),
            "--parameter-overrides",
            overrides,
            "--invoke-image",
            self.image,
            "--skip-pull-image",
        ]

    def invoke(self, function: str, event: Mapping[str, Any], *, label: str = "") -> Any:
        """``sam local invoke function -e event``: the function's result, parsed from JSON.

        Retried (`ATTEMPTS` in all) only when the function never started (see
        `EMULATOR_NOT_READY`).

        Raises
        ------
        SamError
            SAM exited non-zero, or its output is not the function's JSON result.
        """
        fd, event_path = tempfile.mkstemp(suffix=".json", dir=self.workdir)
        with os.fdopen(fd, "w") as handle:
            json.dump(event, handle)
        command = [*self.sam, "local", "invoke", function, "--event", event_path, *self._common()]
        what = f"sam local invoke {function} {label}".strip()
        for attempt in range(1, ATTEMPTS + 1):
            log_path = Path(event_path).with_suffix(f".{attempt}.log")  # SAM's and the function's
            started = time.monotonic()
            returncode, stdout = self._run(command, log_path)
            self.timing.add(what if attempt == 1 else f"{what} (retry)", time.monotonic() - started)
            log_text = log_path.read_text()
            if attempt < ATTEMPTS and _emulator_not_ready(log_text):
                continue
            break
        if returncode != 0:
            raise SamError(
                f"{what} exited {returncode}\n--- stderr\n{log_text}\n--- stdout\n{stdout}"
            )
        try:
            return json.loads(stdout)
        except json.JSONDecodeError:
            raise SamError(
                f"{what} printed no JSON result\n--- stderr\n{log_text}\n--- stdout\n{stdout}"
            ) from None

    def _run(self, command: list[str], log_path: Path) -> tuple[int, str]:
        """Run SAM, stderr to `log_path`; stop it early once the emulator was not ready."""
        with open(log_path, "w") as log, tempfile.TemporaryFile("w+") as out:
            process = subprocess.Popen(
                command, cwd=ROOT, env=self._process_env(), stdout=out, stderr=log, text=True
            )
            deadline = time.monotonic() + INVOKE_LIMIT
            while process.poll() is None:
                if time.monotonic() > deadline:
                    process.kill()
                    process.wait()
                    raise SamError(f"sam ran over {INVOKE_LIMIT} s\n{log_path.read_text()}")
                if _emulator_not_ready(log_path.read_text()):
                    # SAM has removed the container, but its function timer (a non-daemon
                    # thread) would keep it alive for the whole function timeout.
                    time.sleep(2)
                    process.terminate()
                    process.wait()
                    break
                time.sleep(0.5)
            out.seek(0)
            return process.returncode, out.read()

    @contextlib.contextmanager
    def start_api(self) -> Iterator[str]:
        """``sam local start-api`` on a free port of 127.0.0.1; yields its base URL.

        The API is up once it answers anything: SAM prints its routes before it listens.
        """
        port = free_port()
        log_path = self.workdir / "start-api.log"
        command = [
            *self.sam,
            "local",
            "start-api",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            # One container per request: no warm container of PregenerateFunction is started
            # (samconfig.toml's EAGER would start one for every function).
            "--warm-containers",
            "LAZY",
            *self._common(),
        ]
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                command, cwd=ROOT, env=self._process_env(), stdout=log, stderr=subprocess.STDOUT
            )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                if process.poll() is not None:
                    log_text = log_path.read_text()
                    raise SamError(f"sam local start-api exited {process.returncode}\n{log_text}")
                with socket.socket() as probe:
                    if probe.connect_ex(("127.0.0.1", port)) == 0:
                        break
                if time.monotonic() > deadline:
                    log_text = log_path.read_text()
                    raise SamError(f"sam local start-api did not listen in 120 s\n{log_text}")
                time.sleep(0.5)
            yield url
        finally:
            process.send_signal(signal.SIGINT)  # as Ctrl-C: SAM removes its containers
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            _remove_containers_of(process.pid)

    def get(self, url: str, headers: Mapping[str, str], *, label: str) -> tuple[int, str, bytes]:
        """GET `url` from the running ``start-api``: status, Content-Type, body.

        Retried (`ATTEMPTS` in all) only when SAM's log says the function never started
        (`EMULATOR_NOT_READY`); the warm container then serves the retry.
        """
        for attempt in range(1, ATTEMPTS + 1):
            started = time.monotonic()
            request = urllib.request.Request(url, headers=dict(headers))
            try:
                with urllib.request.urlopen(request, timeout=INVOKE_LIMIT) as response:  # noqa: S310
                    answer = (
                        response.status,
                        response.headers.get("Content-Type", ""),
                        response.read(),
                    )
            except urllib.error.HTTPError as error:
                answer = error.code, error.headers.get("Content-Type", ""), error.read()
            self.timing.add(
                label if attempt == 1 else f"{label} (retry)", time.monotonic() - started
            )
            if (
                attempt < ATTEMPTS
                and answer[0] == 502
                and _emulator_not_ready(self.log_of_start_api())
            ):
                continue
            return answer
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def timed(self, what: str) -> Iterator[None]:
        """Record how long the block takes (shown in the run's summary)."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.timing.add(what, time.monotonic() - started)

    def log_of_start_api(self) -> str:
        path = self.workdir / "start-api.log"
        return path.read_text() if path.exists() else ""


def _remove_containers_of(_pid: int) -> None:
    """Remove function containers SAM left behind (labelled by SAM, never anyone else's)."""
    if shutil.which(DOCKER) is None:
        return
    listed = subprocess.run(
        [DOCKER, "ps", "-aq", "--filter", "label=sam.cli.container.type=lambda"],
        capture_output=True,
        text=True,
        check=False,
    )
    ids = listed.stdout.split()
    if ids:
        subprocess.run([DOCKER, "rm", "-f", *ids], capture_output=True, check=False)
