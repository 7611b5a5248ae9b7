"""The real SAM CLI, with its "is the container ready?" check made to ask the emulator itself.

Run as ``python tests/lambda/sam_cli.py local invoke ...``: the same command-line interface
as the ``sam`` script (``samcli.cli.main.cli``), with one check replaced.

Why: before it sends an invoke, SAM CLI waits until it can open a TCP connection to the
container's published port (``Container._can_connect_to_socket``), then posts the event with a
1 s connect timeout and three quick retries (0.7 s in all). On a Docker host without iptables
rules (our ``dockerd --iptables=false``) the published port belongs to Docker's userland proxy,
which accepts every connection at once, before the emulator inside the container listens; the
proxy then closes the connection it cannot forward. Under qemu the emulator (a Go binary)
usually listens about 0.3 s after the proxy (measured with probes, idle and with both CPUs
busy), but at times it took longer than SAM's 0.7 s of retries: SAM then reported "No response
from invoke container" without the function having started (about one invoke in twenty, and
once four tries of one invoke in a row).

The replacement opens the connection, sends a plain HTTP request and counts the container as
ready only when an HTTP answer comes back (the emulator answers 404 to a path it does not
know; the proxy answers nothing). Everything else is SAM's own code.
"""

from __future__ import annotations

import socket
import sys

from samcli.local.docker.container import Container

#: What SAM calls, in a loop, until the container is ready (SAM CLI 1.170).
CHECK = "_can_connect_to_socket"
PROBE = b"GET /readiness-probe HTTP/1.0\r\nHost: localhost\r\n\r\n"


def emulator_answers(container: Container) -> bool:
    """True once the emulator in `container` answers HTTP on its published port.

    Parameters
    ----------
    container : samcli.local.docker.container.Container
        The container SAM is about to invoke.

    Returns
    -------
    bool
        Whether an HTTP status line came back (a connection the proxy accepts and then drops
        is not ready).
    """
    address = (container._container_host, container.rapid_port_host)
    try:
        with socket.create_connection(address, timeout=1) as connection:
            connection.settimeout(5)
            connection.sendall(PROBE)
            return connection.recv(5) == b"HTTP/"
    except OSError:
        return False


def main() -> int:
    if not callable(getattr(Container, CHECK, None)):
        sys.exit(
            f"tests/lambda/sam_cli.py: this SAM CLI has no Container.{CHECK}; the readiness "
            "check it replaces has moved (see the module's docstring)"
        )
    setattr(Container, CHECK, emulator_answers)
    from samcli.cli.main import cli

    return cli()


if __name__ == "__main__":
    sys.exit(main())
