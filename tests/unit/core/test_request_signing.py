"""``REQUEST_SIGNING_SECRET``: only signed requests and the free presets are rendered.

The secret lives in moto's Secrets Manager, reached over HTTP through the standard
``AWS_ENDPOINT_URL_SECRETS_MANAGER`` variable, as the deployed function reads AWS's. URLs are
signed with the documented `sign_request_url` and the ``sign`` command, and sent through the
real handler.
"""

from __future__ import annotations

import hmac
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import pytest

from tests.support.api_support import ApiWorld, body_json, header
from thumbnails import request_signing
from thumbnails.deadline import Deadline
from thumbnails.errors import RequestNotSigned, StorageError
from thumbnails.request_signing import (
    RequestVerifier,
    canonical_query,
    parse_expires,
    sign_request_url,
)
from thumbnails.settings import Settings

SECRET_NAME = "thumbnails/request-signing"
SECRET_VALUE = "portal-signing-secret-0123456789"
API = "https://thumbs.example"
PATH = "/3863274/"


def _query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


# --------------------------------------------------------------------------- the format
def test_the_canonical_query_sorts_and_escapes_and_leaves_out_the_signature():
    query = {"width": ["500"], "label": ["a&b=c d"], "signature": ["x"], "expires": ["9"]}
    assert canonical_query(query) == "expires=9&label=a%26b%3Dc%20d&width=500"


def test_a_signed_url_verifies_and_an_altered_one_does_not():
    now = 1_800_000_000
    url = sign_request_url(f"{API}{PATH}?width=500&label=M31", SECRET_VALUE, expires=now + 60)
    verifier = RequestVerifier(lambda: SECRET_VALUE, clock=lambda: now)
    verifier.check(PATH, _query_of(url), None)
    verifier.check(PATH.rstrip("/"), _query_of(url), None)  # the trailing slash is optional
    verifier.check("/Prod" + PATH, _query_of(url), None)  # so is a stage in front
    altered = _query_of(url) | {"width": ["4000"]}
    with pytest.raises(RequestNotSigned, match="does not match"):
        verifier.check(PATH, altered, None)
    with pytest.raises(RequestNotSigned, match="does not match"):
        verifier.check("/3863275/", _query_of(url), None)


def test_a_label_with_spaces_and_ampersands_survives_the_round_trip():
    now = 1_800_000_000
    url = sign_request_url(f"{API}{PATH}?label=M31%20%26%20M32", SECRET_VALUE, expires=now + 60)
    assert "label=M31%20%26%20M32" in url  # %20, not '+'
    assert _query_of(url)["label"] == ["M31 & M32"]
    RequestVerifier(lambda: SECRET_VALUE, clock=lambda: now).check(PATH, _query_of(url), None)


def test_signing_again_replaces_the_old_expiry_and_signature():
    first = sign_request_url(f"{API}{PATH}?width=5", SECRET_VALUE, expires=2_000_000_000)
    again = sign_request_url(first, SECRET_VALUE, expires=2_000_000_001)
    assert _query_of(again)["expires"] == ["2000000001"]
    assert len(_query_of(again)["signature"]) == 1


def test_the_signature_is_compared_in_constant_time(monkeypatch):
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a, b):  # records, then decides as the real one does
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(request_signing.hmac, "compare_digest", spy)
    url = sign_request_url(f"{API}{PATH}?width=5", SECRET_VALUE, expires=2_000_000_000)
    verifier = RequestVerifier(lambda: SECRET_VALUE, clock=lambda: 1_800_000_000)
    verifier.check(PATH, _query_of(url), None)
    with pytest.raises(RequestNotSigned):
        verifier.check(PATH, _query_of(url) | {"signature": ["A" * 43]}, None)
    assert [b for _a, b in compared] == [_query_of(url)["signature"][0].encode(), b"A" * 43]


def test_the_secret_is_waited_for_until_the_deadline_then_503_and_the_read_abandoned():
    # A stalled secret read: each check waits until its own deadline, then abandons its read
    # (a boto3 read is cut off then, as the CloudFront key's: secret_reads), so the next
    # invocation starts one of its own instead of waiting for a read that is ending.
    release = threading.Event()
    reads = []

    def read() -> str:
        reads.append(1)
        release.wait(30)
        return SECRET_VALUE

    loading = {t for t in threading.enumerate() if t.name == "request-signing-secret"}
    url = sign_request_url(f"{API}{PATH}?width=5", SECRET_VALUE, expires=2_000_000_000)
    verifier = RequestVerifier(read, clock=lambda: 1_800_000_000)
    for _invocation in range(2):
        with pytest.raises(StorageError, match="could not be read in time") as raised:
            verifier.check(PATH, _query_of(url), None, deadline=Deadline.after(0.1))
        assert raised.value.status == 503
    release.set()
    for thread in {t for t in threading.enumerate() if t.name == "request-signing-secret"}:
        if thread not in loading:
            thread.join(30)
    # A read that ended well after all is kept: no third read.
    verifier.check(PATH, _query_of(url), None, deadline=Deadline.after(30))
    assert reads == [1, 1]


def test_a_failed_read_is_tried_again_by_the_next_check():
    answers: list[str | Exception] = [StorageError("The request signing secret 'x' ..."), "k"]

    def read() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    url = sign_request_url(f"{API}{PATH}?width=5", "k", expires=2_000_000_000)
    verifier = RequestVerifier(read, clock=lambda: 1_800_000_000)
    with pytest.raises(StorageError, match="secret 'x'"):
        verifier.check(PATH, _query_of(url), None, deadline=Deadline.after(30))
    verifier.check(PATH, _query_of(url), None, deadline=Deadline.after(30))
    assert answers == []


def test_a_request_refused_without_the_secret_never_reads_it():
    # Unsigned, expired or malformed requests are refused before the secret is needed.
    def read() -> str:
        raise AssertionError("the secret was read")

    verifier = RequestVerifier(read, clock=lambda: 1_800_000_000)
    for query in (
        {},
        {"expires": ["1"], "signature": ["x"]},
        {"expires": ["soon"], "signature": ["x"]},
    ):
        with pytest.raises(RequestNotSigned):
            verifier.check(PATH, query, None)


@pytest.mark.parametrize(
    "text, expected",
    [("3600", 1_000_003_600), ("90m", 1_000_005_400), ("7d", 1_000_604_800)],
)
def test_expires_takes_a_lifetime(text, expected):
    assert parse_expires(text, now=1_000_000_000) == expected


def test_expires_takes_an_iso_time():
    assert parse_expires("2027-01-31T00:00:00Z", now=0) == 1_801_353_600


def test_signing_is_off_by_default_and_frees_the_pregenerated_presets_when_on():
    assert Settings.from_env({}).request_signing_secret == ""
    on = Settings.from_env({"REQUEST_SIGNING_SECRET": SECRET_NAME})
    assert on.request_signing_free_presets == on.pregenerate_presets
    none = Settings.from_env(
        {"REQUEST_SIGNING_SECRET": SECRET_NAME, "REQUEST_SIGNING_FREE_PRESETS": "none"}
    )
    assert none.request_signing_free_presets == ()


# --------------------------------------------------------------------------- the API
@pytest.fixture(scope="module")
def secrets_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def signing_world(monkeypatch, secrets_server):
    from aws_lambda_powertools.utilities import parameters

    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", secrets_server)
    parameters.clear_caches()
    with ApiWorld.started(monkeypatch, REQUEST_SIGNING_SECRET=SECRET_NAME) as world:
        secrets = boto3.client("secretsmanager", endpoint_url=secrets_server)
        secrets.create_secret(Name=SECRET_NAME, SecretString=SECRET_VALUE)
        world.add_frame()
        yield world
        secrets.delete_secret(SecretId=SECRET_NAME, ForceDeleteWithoutRecovery=True)
    parameters.clear_caches()


def _invoke_url(world: ApiWorld, url: str) -> dict:
    parts = urlsplit(url)
    return world.invoke(path=parts.path, query=parse_qs(parts.query, keep_blank_values=True))


def _refused(response: dict, reason: str) -> None:
    assert response["statusCode"] == 403, response.get("body")
    assert header(response, "Content-Type") == "application/json"
    message = body_json(response)["message"]
    assert message == f"This request needs a valid signature: {reason}"


def test_a_signed_request_is_rendered(signing_world):
    url = sign_request_url(f"{API}{PATH}?width=300&height=300", SECRET_VALUE, lifetime=600)
    response = _invoke_url(signing_world, url)
    assert response["statusCode"] == 200, response["body"]
    assert "url" in body_json(response)


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"width": ["301"]}, "its signature does not match"),
        ({"label": ["added"]}, "its signature does not match"),
        ({"signature": []}, "missing its signature or expiry"),
        ({"expires": []}, "missing its signature or expiry"),
    ],
)
def test_an_altered_or_unsigned_request_is_a_403_before_the_archive_is_asked(
    signing_world, change, reason
):
    url = sign_request_url(f"{API}{PATH}?width=300&height=300", SECRET_VALUE, lifetime=600)
    query = _query_of(url) | change
    response = signing_world.invoke(path=PATH, query={k: v for k, v in query.items() if v})
    _refused(response, reason)
    assert len(signing_world.archive.calls) == 0  # no lookup, no render on the owner's bill


def test_an_expired_request_is_a_403(signing_world):
    url = sign_request_url(f"{API}{PATH}?width=300", SECRET_VALUE, expires=int(time.time()) - 1)
    _refused(_invoke_url(signing_world, url), "expired")


def test_a_signature_made_with_another_secret_is_a_403(signing_world):
    url = sign_request_url(f"{API}{PATH}?width=300", "another-secret", lifetime=600)
    _refused(_invoke_url(signing_world, url), "its signature does not match")


def test_the_pregenerated_presets_pass_unsigned(signing_world):
    for query in ({"width": "200", "height": "200"}, {}, {"width": "1000", "height": "1000"}):
        response = signing_world.invoke(path=PATH, query=query)
        assert response["statusCode"] == 200, (query, response["body"])
    # A preset with anything else changed is not free.
    _refused(
        signing_world.invoke(path=PATH, query={"width": "200", "label": "x"}),
        "missing its signature or expiry",
    )


def test_the_secret_is_read_once_per_container(signing_world, secrets_server):
    first = sign_request_url(f"{API}{PATH}?width=300", SECRET_VALUE, lifetime=600)
    assert _invoke_url(signing_world, first)["statusCode"] == 200
    secrets = boto3.client("secretsmanager", endpoint_url=secrets_server)
    secrets.put_secret_value(SecretId=SECRET_NAME, SecretString="rotated")
    second = sign_request_url(f"{API}{PATH}?width=301", SECRET_VALUE, lifetime=600)
    assert _invoke_url(signing_world, second)["statusCode"] == 200


def test_the_signature_never_reaches_the_logs(signing_world):
    url = sign_request_url(f"{API}{PATH}?width=300", "another-secret", lifetime=600)
    _invoke_url(signing_world, url)
    signature = _query_of(url)["signature"][0]
    assert signing_world.logs
    assert not [line for line in signing_world.logs if signature in line]


def test_the_sign_command_signs_with_the_secret_from_secrets_manager(
    signing_world, secrets_server, monkeypatch
):
    env = {
        "PATH": "",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": secrets_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "REQUEST_SIGNING_SECRET": SECRET_NAME,
    }
    result = subprocess.run(
        [sys.executable, "-m", "thumbnails", "sign", f"{API}{PATH}?width=320", "--expires", "1h"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    url = result.stdout.strip()
    assert urlsplit(url).path == PATH
    response = _invoke_url(signing_world, url)
    assert response["statusCode"] == 200, response["body"]
    # From a variable holding the key itself; a wrong key's URL is refused.
    env2 = {"PATH": "", "PORTAL_KEY": "not-the-secret"}
    wrong = subprocess.run(
        [sys.executable, "-m", "thumbnails", "sign", f"{API}{PATH}?" + urlencode({"width": 320})]
        + ["--secret-env", "PORTAL_KEY"],
        capture_output=True,
        text=True,
        env=env2,
        timeout=120,
        check=True,
    ).stdout.strip()
    _refused(_invoke_url(signing_world, wrong), "its signature does not match")
