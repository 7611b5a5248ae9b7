"""Proprietary data: the caller's Authorization goes to the archive on every request, hit or
miss, and never into a log."""

from __future__ import annotations

import json

import pytest
from responses import matchers

from tests.robustness.harness import powertools_logs_to_stdout
from tests.support.api_support import (
    ARCHIVE,
    BASENAME,
    BUCKET,
    DATA_HOST,
    FRAME_ID,
    TOKEN,
    ApiWorld,
    body_json,
    frame_record,
)
from tests.support.slow_servers import SlowServer


def _add_private_frame(world: ApiWorld) -> dict:
    """A frame the archive shows only to TOKEN; anyone else gets DRF's 403."""
    record = frame_record()
    world.archive.get(
        f"{ARCHIVE}frames/{FRAME_ID}/",
        json=record,
        match=[matchers.header_matcher({"Authorization": TOKEN})],
    )
    world.archive.get(
        f"{ARCHIVE}frames/{FRAME_ID}/",
        status=403,
        json={"detail": "You do not have permission to perform this action."},
    )
    world.add_frame(record, by_id=False, by_basename=False)
    return record


def test_the_callers_authorization_reaches_the_archive_lookup(world):
    world.add_frame()
    for event in ("api-frame-id.json", "api-basename.json"):
        world.invoke(event)
    lookups = world.calls_to(ARCHIVE)
    assert len(lookups) == 2
    assert all(call.request.headers["Authorization"] == TOKEN for call in lookups)


def test_a_lower_case_authorization_header_is_forwarded_too(world):
    world.add_frame()
    world.invoke(authorization=None, headers={"authorization": TOKEN})
    assert world.calls_to(ARCHIVE)[0].request.headers["Authorization"] == TOKEN


def test_without_authorization_none_is_sent(world):
    world.add_frame()
    assert world.invoke(authorization=None)["statusCode"] == 200
    assert "Authorization" not in world.calls_to(ARCHIVE)[0].request.headers


def test_authorization_is_not_sent_to_a_presigned_frame_url_on_another_host(world):
    world.add_frame()
    world.invoke()
    download = world.downloads()[0]
    assert download.request.url.startswith(DATA_HOST)
    assert "Authorization" not in download.request.headers


def test_authorization_is_sent_to_a_frame_url_on_the_archive_itself(world):
    record = frame_record(url=f"{ARCHIVE}frames/{FRAME_ID}/download/")
    world.add_frame(record)
    assert world.invoke()["statusCode"] == 200
    download = world.calls_to(f"{ARCHIVE}frames/{FRAME_ID}/download/")[0]
    assert download.request.headers["Authorization"] == TOKEN


def test_a_refusal_from_the_archive_wins_even_when_the_thumbnail_is_cached(world):
    _add_private_frame(world)
    assert world.invoke()["statusCode"] == 200  # the owner: rendered and cached
    for other in (None, "Token someone-else"):
        response = world.invoke(authorization=other)
        assert response["statusCode"] == 403
        body = body_json(response)
        assert body == {"message": "You do not have permission to perform this action."}
    assert len(world.downloads()) == 1


def test_a_401_from_the_archive_is_a_401_even_when_cached(world):
    _add_private_frame(world)
    assert world.invoke()["statusCode"] == 200
    assert world.s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 1  # the next one is a hit
    world.archive.replace(
        "GET",
        f"{ARCHIVE}frames/{FRAME_ID}/",
        status=401,
        json={"detail": "Invalid token."},
    )
    response = world.invoke()
    assert response["statusCode"] == 401
    assert body_json(response) == {"message": "Invalid token."}  # no URL of the cached object
    assert len(world.downloads()) == 1


def test_neither_the_authorization_nor_signatures_appear_in_logs(world, capsys):
    world.add_frame()
    responses_seen = [world.invoke(query=q) for q in ({}, {"image": "true"}, {"width": "x"})]
    world.archive.get(f"{ARCHIVE}frames/{FRAME_ID + 1}/", status=403, json={"detail": "no"})
    world.invoke(path=f"/{FRAME_ID + 1}/")
    printed = capsys.readouterr()
    logs = "\n".join(world.logs) + printed.out + printed.err
    assert world.logs, "the capture must see the service's logs for this test to mean anything"
    token_secret = TOKEN.split()[1]
    assert token_secret not in logs
    assert "presigned-archive-secret" not in logs
    signature = body_json(responses_seen[0])["url"].split("X-Amz-Signature=")[1].split("&")[0]
    assert signature not in logs


# --------------------------------------------------------------------------- unsendable values
# What http.client cannot send: a character past Latin-1 (UnicodeEncodeError, whose text
# names the character and its position in the credential), a line break (requests refuses
# it), a control character. Checked against a real archive server: `responses` never encodes
# a header, so it cannot show what the wire refuses.
UNSENDABLE = {
    "euro sign": "Token s3cr\u20acT",
    "cjk": "Token \u79d8\u5bc6-s3crT",
    "line feed": "Token s3cr\nT",
    "carriage return": "Token s3cr\rT",
    "nul": "Token s3cr\x00T",
    "escape": "Token s3cr\x1bT",
}


@pytest.fixture
def real_archive(monkeypatch):
    """The API with a real HTTP archive that answers every lookup with the frame's record."""
    record = frame_record(url=f"{DATA_HOST}{BASENAME}.fits.fz?X-Amz-Signature=s")
    server = SlowServer("serve", body=json.dumps(record).encode(), content_type="application/json")
    with server, ApiWorld.started(monkeypatch, ARCHIVE_API_URL=server.url) as world:
        world.archive.add_passthru(server.url)
        world.add_frame(record, by_id=False, by_basename=False)  # its file, faked
        world.server = server
        yield world


@pytest.mark.parametrize("authorization", UNSENDABLE.values(), ids=UNSENDABLE.keys())
@pytest.mark.parametrize("event", ["api-frame-id.json", "api-basename.json"])
def test_an_authorization_http_cannot_carry_is_a_400_naming_the_header_not_its_value(
    real_archive, capsys, authorization, event
):
    world = real_archive
    with powertools_logs_to_stdout("DEBUG"):
        response = world.invoke(event, authorization=authorization)
    printed = capsys.readouterr()
    logs = "\n".join(world.logs) + printed.out + printed.err

    assert response["statusCode"] == 400
    message = body_json(response)["message"]
    assert message.startswith("The Authorization header cannot be forwarded")
    assert world.server.requests == []  # nothing half-sent to the archive
    assert '"status":400' in logs.replace(" ", "")  # the logs were captured
    secret = authorization.removeprefix("Token ")
    for shown in (message, logs):
        assert secret not in shown
        assert "s3cr" not in shown
        # Nor a trace of the encoder's error: the character, or where it sits.
        assert "Traceback" not in shown
        assert "UnicodeEncodeError" not in shown
        assert "position" not in shown
        for character in set(secret) - set("s3crT-"):
            # (A line break is the logs' own separator; escaped, it would be the value's.)
            assert character.isspace() or character not in shown
            assert ascii(character)[1:-1] not in shown  # as \u20ac, \n, \x00 ...


@pytest.mark.parametrize("authorization", ["Token s3cr\u00e9T", "Token\ts3crT", "  Token s3crT \t"])
def test_latin_1_tabs_and_surrounding_spaces_still_reach_the_archive(real_archive, authorization):
    # HTTP can carry these (obs-text, HTAB, and optional whitespace the receiver drops).
    response = real_archive.invoke(authorization=authorization)
    assert response["statusCode"] == 200, response["body"]
    [headers] = real_archive.server.request_headers
    assert headers["Authorization"] == authorization.strip(" \t")


@pytest.mark.parametrize("path", ["/s3cr\u20acT/", "/%E2%82%AC/", "/a\nb/", "/a%0Ab/", "/a b/"])
def test_a_frame_reference_http_cannot_carry_never_reaches_the_archive(real_archive, path):
    # The other caller values sent upstream, the frame id or basename in the lookup's path or
    # query, are checked against the basename alphabet first (a guard: this held before).
    response = real_archive.invoke(path=path)
    assert response["statusCode"] == 400
    assert body_json(response)["message"].startswith("basename: ")
    assert real_archive.server.requests == []
