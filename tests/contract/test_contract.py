"""The contract, checked on drawn cases: every answer on time, documented, JSON, in memory.

`test_contract_holds` runs a fixed (derandomized) draw of `CI_CASES` cases through the real
handlers in worker processes against moto and the archive over real HTTP, with upstream
faults; ``make fuzz`` runs the same with 10,000. The fault proxy's own behaviour is tested
first, so that a contract failure is never a proxy bug.
"""

from __future__ import annotations

import http.client
import os
import socket
import time

import pytest
import requests

from tests.contract.fault_proxy import Fault, FaultProxy, Rule
from tests.contract.fuzz import draw_cases, explicit_cases
from tests.contract.runner import Runner, check
from tests.support.slow_servers import SlowServer
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

#: Cases per `make test` run (about a minute on two cores); `make fuzz` runs FUZZ_CASES.
CI_CASES = int(os.environ.get("CONTRACT_CASES", "150"))


# ---------------------------------------------------------------------------- the proxy
@pytest.fixture
def upstream():
    with SlowServer("serve", body=b"0123456789" * 10, headers={"ETag": '"abc"'}) as server:
        yield server


def _get(url: str, timeout: float = 5.0) -> requests.Response:
    return requests.get(url, timeout=timeout)


def _settled(exchange):
    """`exchange` once the proxy has recorded its outcome: it does so after its last byte or
    the client's hang-up, which the client may see first."""
    wait_for(lambda: exchange.outcome is not None, "the exchange's outcome", within=5.0, poll=0.01)
    return exchange


def test_proxy_forwards_and_records(upstream):
    with FaultProxy(upstream.url.rstrip("/")) as proxy:
        proxy.arm([], case="c")
        response = _get(proxy.url + "/frames/1/")
        assert response.status_code == 200
        assert response.content == b"0123456789" * 10
        assert response.headers["ETag"] == '"abc"'
        (exchange,) = proxy.exchanges_of("c")
        assert (exchange.method, exchange.path) == ("GET", "/frames/1/")
        assert _settled(exchange).outcome == "complete"
        assert exchange.fault is None


def test_proxy_answers_a_status_once_in_the_flavour_asked(upstream):
    with FaultProxy(upstream.url.rstrip("/"), flavour="s3") as proxy:
        fault = Fault("status", status=409, code="ConditionalRequestConflict", retry_after="2")
        proxy.arm([Rule(fault, method="GET")], case="c")
        first, second = _get(proxy.url + "/b/k"), _get(proxy.url + "/b/k")
        assert first.status_code == 409
        assert "<Code>ConditionalRequestConflict</Code>" in first.text
        assert first.headers["Retry-After"] == "2"
        assert second.status_code == 200
        assert [e.fault for e in proxy.exchanges_of("c")][1] is None


def test_proxy_speaks_http10_and_connection_close(upstream):
    with FaultProxy(upstream.url.rstrip("/")) as proxy:
        host, port = proxy.url.split("//")[1].split(":")
        proxy.arm(
            [Rule(Fault("pass", connection="http/1.0")), Rule(Fault("pass", connection="close"))],
            case="c",
        )
        for version, closing in ((10, None), (11, "close")):
            connection = http.client.HTTPConnection(host, int(port), timeout=5)
            connection.request("GET", "/x")
            response = connection.getresponse()
            assert response.version == version
            assert response.getheader("Connection") == closing
            assert response.will_close
            assert response.read() == b"0123456789" * 10
            connection.close()


def test_proxy_trickles_and_sees_the_client_hang_up(upstream):
    with FaultProxy(upstream.url.rstrip("/")) as proxy:
        proxy.arm([Rule(Fault("trickle-body", delay=0.2))], case="c", give_up=20)
        host, port = proxy.url.split("//")[1].split(":")
        client = socket.create_connection((host, int(port)))
        client.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.6)
        received = client.recv(4096)
        client.close()
        (exchange,) = proxy.exchanges_of("c")
        assert received.startswith(b"HTTP/1.1 200 ")
        assert _settled(exchange).outcome == "client-closed"
        assert exchange.ended is not None


def test_proxy_resets_mid_body(upstream):
    with FaultProxy(upstream.url.rstrip("/")) as proxy:
        proxy.arm([Rule(Fault("reset-mid-body"))], case="c")
        with pytest.raises(requests.exceptions.RequestException):
            _get(proxy.url + "/x").content  # noqa: B018 - reading the body is the point
        assert _settled(proxy.exchanges_of("c")[0]).outcome == "reset"


# ---------------------------------------------------------------------------- the checks
def _api_case(**fields) -> dict:
    case = {
        "kind": "api",
        "frame": "grey-rice",
        "path": "/1/",
        "query": {},
        "authorization": None,
        "remaining_ms": 28_000,
        "faults": [],
    }
    case.update(fields)
    return case


def _outcome(status: int, body: str, content_type: str, **fields) -> dict:
    outcome = {
        "wall_s": 0.1,
        "remaining_s": 28.0,
        "answered_at": 0.0,
        "peak_mb": 120.0,
        "answer": {
            "statusCode": status,
            "headers": {},
            "multiValueHeaders": {"Content-Type": [content_type]},
            "body": body,
        },
    }
    outcome.update(fields)
    return outcome


@pytest.mark.parametrize(
    ("outcome", "case", "log", "broken"),
    [
        (_outcome(418, '{"message": "teapot"}', "application/json"), {}, "", "undocumented-status"),
        (_outcome(404, "Not found", "text/plain"), {}, "", "non-json-error"),
        (
            _outcome(200, '{"url": "u"}', "application/json", payload_bytes=6_291_457),
            {},
            "",
            "response-too-large",
        ),
        (_outcome(200, '{"propid": "x"}', "application/json"), {}, "", "bad-success-shape"),
        (
            _outcome(502, '{"message": "x"}', "application/json"),
            {},
            "",
            "5xx-without-upstream-fault",
        ),
        (
            _outcome(400, '{"message": "x"}', "application/json", wall_s=30.0),
            {},
            "",
            "past-deadline",
        ),
        (
            _outcome(400, '{"message": "x"}', "application/json", peak_mb=1770.0),
            {},
            "",
            "over-memory",
        ),
        (
            _outcome(400, '{"message": "x"}', "application/json"),
            {"authorization": "Token s3cretMarker€"},
            "can't encode character '\\u20ac' in position 18",
            "secret-leaked",
        ),
        (
            _outcome(200, '{"url": "u"}', "application/json"),
            {},
            "GET https://x/y?X-Amz-Signature=abc",
            "secret-leaked",
        ),
    ],
)
def test_each_check_can_fail(outcome, case, log, broken):
    """The checks that today's code never trips are shown to trip on a made-up answer."""
    assert broken in check(_api_case(**case), outcome, [], log)
    assert check(_api_case(), _outcome(400, '{"message": "x"}', "application/json"), [], "") == {}


# ---------------------------------------------------------------------------- the contract
def test_contract_holds():
    """Every drawn case keeps every promise (`tests.contract.runner`'s list).

    On failure the message lists the counts and the smallest failing case of each broken
    promise; ``make fuzz`` (``--shrink``) minimises them.
    """
    cases = explicit_cases()
    cases += draw_cases(CI_CASES - len(cases))
    with Runner(lanes=2, batch=25) as runner:
        report = runner.run(cases)
    assert not report.errors, report.errors[0]
    assert len(report.checked) == len(cases)
    if report.failures:
        pytest.fail(report.summary() + "\n" + report.examples(), pytrace=False)
