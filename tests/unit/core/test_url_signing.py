"""``URL_SIGNER=cloudfront``: links that CloudFront accepts for as long as they say.

A key pair is generated here; every URL's ``Signature`` is verified with the public key over
the canned policy that CloudFront itself rebuilds from the URL and ``Expires``. The private key
comes from moto's Secrets Manager, reached over HTTP through the standard
``AWS_ENDPOINT_URL_SECRETS_MANAGER`` variable, as the deployed function reads AWS's.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.support.api_support import BUCKET, ApiWorld, body_json, header
from thumbnails.deadline import Deadline
from thumbnails.errors import StorageError
from thumbnails.settings import Settings, SettingsError
from thumbnails.url_signing import CloudFrontUrlSigner

DOMAIN = "d111111abcdef8.cloudfront.net"
KEY_PAIR_ID = "K2JCJMDEHXQW5F"
SECRET = "thumbnails/cloudfront-private-key"
NOW = 1_800_000_000
WEEK = 604800


def _key_pair() -> tuple[rsa.RSAPrivateKey, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode("ascii")
    return key, pem


@pytest.fixture(scope="module")
def key_pair() -> tuple[rsa.RSAPrivateKey, str]:
    return _key_pair()


def _cloudfront_b64decode(text: str) -> bytes:
    # CloudFront's URL-safe alphabet: '+' -> '-', '=' -> '_', '/' -> '~'.
    return base64.b64decode(text.replace("-", "+").replace("_", "=").replace("~", "/"))


def verify(url: str, public_key: rsa.RSAPublicKey) -> dict[str, str]:
    """Check `url` as CloudFront would; return its query. Raises InvalidSignature if forged."""
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    assert set(query) == {"Expires", "Signature", "Key-Pair-Id"}
    resource = f"{parts.scheme}://{parts.netloc}{parts.path}"
    condition = {"DateLessThan": {"AWS:EpochTime": int(query["Expires"])}}
    policy = json.dumps(
        {"Statement": [{"Resource": resource, "Condition": condition}]}, separators=(",", ":")
    )
    public_key.verify(
        _cloudfront_b64decode(query["Signature"]),
        policy.encode("utf-8"),
        padding.PKCS1v15(),
        hashes.SHA1(),
    )
    return query


# --------------------------------------------------------------------------- the signer
def test_a_signed_url_names_the_object_on_the_distribution_and_verifies(key_pair):
    key, pem = key_pair
    signer = CloudFrontUrlSigner(DOMAIN, KEY_PAIR_ID, lambda: pem, lifetime=WEEK, clock=lambda: NOW)
    url = signer.sign("coj2m002-ep02-20260102-0050-e91/0f3c9a.jpg")

    parts = urlsplit(url)
    assert parts.scheme == "https"
    assert parts.netloc == DOMAIN
    assert parts.path == "/coj2m002-ep02-20260102-0050-e91/0f3c9a.jpg"
    query = verify(url, key.public_key())
    assert int(query["Expires"]) == NOW + WEEK
    assert query["Key-Pair-Id"] == KEY_PAIR_ID


def test_a_url_signed_with_another_key_or_changed_does_not_verify(key_pair):
    key, pem = key_pair
    other_key, other_pem = _key_pair()
    signer = CloudFrontUrlSigner(DOMAIN, KEY_PAIR_ID, lambda: other_pem, lifetime=60)
    with pytest.raises(InvalidSignature):
        verify(signer.sign("frame/a.jpg"), key.public_key())
    good = CloudFrontUrlSigner(DOMAIN, KEY_PAIR_ID, lambda: pem, lifetime=60).sign("frame/a.jpg")
    with pytest.raises(InvalidSignature):
        verify(good.replace("/frame/a.jpg", "/frame/b.jpg"), key.public_key())
    assert verify(good, key.public_key())


def test_the_key_is_read_once_and_signing_needs_no_further_io(key_pair):
    _key, pem = key_pair
    reads = []

    def read() -> str:
        reads.append(1)
        return pem

    signer = CloudFrontUrlSigner(DOMAIN, KEY_PAIR_ID, read, lifetime=60)
    urls = {signer.sign(f"frame/{n}.jpg") for n in range(5)}
    assert len(urls) == 5
    assert reads == [1]


def test_the_key_is_waited_for_until_the_deadline_then_503_and_the_read_abandoned(key_pair):
    # A stalled secret read: each signature waits until its own deadline, then abandons its
    # read (a boto3 read is cut off then: tests/integration/test_abandoned_calls.py), so the
    # next invocation starts one of its own instead of waiting for a read that is ending.
    key, pem = key_pair
    release = threading.Event()
    reads = []

    def read() -> str:
        reads.append(1)
        release.wait(30)
        return pem

    loading = {t for t in threading.enumerate() if t.name == "url-signing-key"}
    signer = CloudFrontUrlSigner(DOMAIN, KEY_PAIR_ID, read, lifetime=60)
    for _invocation in range(2):
        with pytest.raises(StorageError, match="could not be read in time") as raised:
            signer.sign("frame/a.jpg", deadline=Deadline.after(0.1))
        assert raised.value.status == 503
    release.set()
    for thread in {t for t in threading.enumerate() if t.name == "url-signing-key"} - loading:
        thread.join(30)
    # A read that ended well after all is kept: no third read.
    verify(signer.sign("frame/a.jpg", deadline=Deadline.after(30)), key.public_key())
    assert reads == [1, 1]


def test_a_failed_read_is_tried_again_by_the_next_signature(key_pair):
    key, pem = key_pair
    answers: list[str | Exception] = [StorageError("The URL signing key secret 'x' ..."), pem]

    def read() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    signer = CloudFrontUrlSigner(DOMAIN, KEY_PAIR_ID, read, lifetime=60)
    with pytest.raises(StorageError, match="secret 'x'"):
        signer.sign("frame/a.jpg", deadline=Deadline.after(30))
    verify(signer.sign("frame/a.jpg", deadline=Deadline.after(30)), key.public_key())
    assert answers == []


@pytest.mark.parametrize("pem", ["", "not a key", "-----BEGIN PUBLIC KEY-----\nAAAA\n"])
def test_a_secret_that_is_not_an_rsa_private_key_is_a_storage_error(pem):
    signer = CloudFrontUrlSigner(DOMAIN, KEY_PAIR_ID, lambda: pem, lifetime=60)
    with pytest.raises(StorageError, match="not an RSA private key") as raised:
        signer.sign("frame/a.jpg")
    assert raised.value.status == 502


def test_keys_with_odd_characters_are_escaped_in_the_path(key_pair):
    key, pem = key_pair
    signer = CloudFrontUrlSigner(DOMAIN, KEY_PAIR_ID, lambda: pem, lifetime=60)
    url = signer.sign("frame.v2_x/a b.jpg")
    assert urlsplit(url).path == "/frame.v2_x/a%20b.jpg"
    verify(url, key.public_key())


# --------------------------------------------------------------------------- settings
CLOUDFRONT_ENV = {
    "URL_SIGNER": "cloudfront",
    "CLOUDFRONT_DOMAIN": DOMAIN,
    "CLOUDFRONT_KEY_PAIR_ID": KEY_PAIR_ID,
    "CLOUDFRONT_PRIVATE_KEY_SECRET": SECRET,
}


def test_settings_default_to_s3_presigned_urls():
    assert Settings.from_env({}).url_signer == "s3"


@pytest.mark.parametrize("missing", sorted(set(CLOUDFRONT_ENV) - {"URL_SIGNER"}))
def test_cloudfront_signing_needs_its_three_settings(missing):
    env = {name: value for name, value in CLOUDFRONT_ENV.items() if name != missing}
    with pytest.raises(SettingsError, match=missing):
        Settings.from_env(env)


def test_an_unknown_signer_is_refused():
    with pytest.raises(SettingsError, match="URL_SIGNER"):
        Settings.from_env({"URL_SIGNER": "gcs"})


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
def cloudfront_world(monkeypatch, secrets_server, key_pair):
    from aws_lambda_powertools.utilities import parameters

    _key, pem = key_pair
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", secrets_server)
    parameters.clear_caches()
    env = dict(CLOUDFRONT_ENV, CLOUDFRONT_PRIVATE_KEY_SECRET=SECRET)
    with ApiWorld.started(monkeypatch, **env) as world:
        # Created once the world runs: moto's in-process S3 mock starts from empty state, and
        # the server shares this process's state.
        secrets = boto3.client("secretsmanager", endpoint_url=secrets_server)
        name = SECRET
        secrets.create_secret(Name=name, SecretString=pem)
        world.secrets = secrets
        world.secret_name = name
        yield world
    parameters.clear_caches()


def test_json_answers_and_redirects_carry_cloudfront_urls_that_verify(cloudfront_world, key_pair):
    key, _pem = key_pair
    world = cloudfront_world
    world.add_frame()
    miss = world.invoke()
    hit = world.invoke(query={"image": "true"})

    url = body_json(miss)["url"]
    assert urlsplit(url).netloc == DOMAIN
    listed = world.s3.list_objects_v2(Bucket=BUCKET)["Contents"]
    [object_key] = [item["Key"] for item in listed]
    assert urlsplit(url).path == "/" + object_key
    verify(url, key.public_key())
    assert hit["statusCode"] == 302
    assert urlsplit(header(hit, "Location")).path == "/" + object_key
    verify(header(hit, "Location"), key.public_key())
    # The link lives 7 days, so browsers may keep the answer for an hour, not 10 minutes.
    assert header(miss, "Cache-Control") == "private, max-age=3600"


def test_the_private_key_is_read_from_secrets_manager_once_per_container(
    cloudfront_world, key_pair
):
    key, _pem = key_pair
    world = cloudfront_world
    world.add_frame()
    first = body_json(world.invoke())["url"]
    # Rotating the secret does not reach a running container (the key pair id, an environment
    # variable, changes with it, which starts new containers): still signed with the first key.
    _other, other_pem = _key_pair()
    world.secrets.put_secret_value(SecretId=world.secret_name, SecretString=other_pem)
    second = body_json(world.invoke())["url"]
    verify(first, key.public_key())
    verify(second, key.public_key())


def test_an_unreadable_secret_is_a_502_that_names_no_key(monkeypatch, secrets_server):
    from aws_lambda_powertools.utilities import parameters

    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", secrets_server)
    parameters.clear_caches()
    env = dict(CLOUDFRONT_ENV, CLOUDFRONT_PRIVATE_KEY_SECRET="no-such-secret")
    with ApiWorld.started(monkeypatch, **env) as world:
        world.add_frame()
        response = world.invoke()
    assert response["statusCode"] == 502
    assert body_json(response) == {
        "message": "The URL signing key secret 'no-such-secret' cannot be read"
    }


def test_signing_imports_neither_numpy_astropy_nor_pillow():
    code = (
        "import sys, json, time\n"
        "start = time.perf_counter()\n"
        "from botocore.signers import CloudFrontSigner\n"
        "from cryptography.hazmat.primitives import hashes, serialization\n"
        "from cryptography.hazmat.primitives.asymmetric import padding, rsa\n"
        "heavy = sorted(m for m in ('numpy', 'astropy', 'PIL') if m in sys.modules)\n"
        "print(json.dumps(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(result.stdout) == []
