"""Local mode's embedded archive answers like the OCS archive, from the frames' own headers."""

from __future__ import annotations

import pytest
import requests

from thumbnails.imaging.render import read_header
from thumbnails.local.archive import ArchiveServer, LocalArchive, frame_id, frame_record
from thumbnails.local.samples import SAMPLES, sample_bytes

COLOUR_SET = [spec for spec in SAMPLES if spec.name.startswith("coj2m002")]
REDUCED = next(spec for spec in SAMPLES if spec.name.endswith("0042-e91"))
RAW = next(spec for spec in SAMPLES if spec.name.endswith("0042-e00"))


def record_of(spec, key=None):
    data = sample_bytes(spec)
    return frame_record(
        key or spec.filename,
        read_header(data[: 64 * 1024]),
        size=len(data),
        etag="0123abcd",
        modified="2026-03-16T03:00:00+00:00",
    )


@pytest.fixture(scope="module")
def records():
    return [record_of(spec) for spec in (REDUCED, RAW, *COLOUR_SET)]


@pytest.fixture
def archive(records):
    served_urls = iter(range(1000))
    archive = LocalArchive(lambda key: f"http://s3.local/{key}?v={next(served_urls)}")
    for record in records:
        archive.add(record)
    return archive


def test_a_record_describes_the_frame_from_its_header_as_the_ocs_archive_does(records):
    record = records[0]

    assert record["basename"] == "lsc1m005-fa15-20260315-0042-e91"
    assert record["filename"] == "lsc1m005-fa15-20260315-0042-e91.fits.fz"
    assert record["configuration_type"] == "EXPOSE"
    assert record["primary_optical_element"] == "rp"
    assert record["proposal_id"] == "LCOSYN2026A-001"
    assert record["request_id"] == 3500001
    assert record["reduction_level"] == 91
    assert record["observation_date"] == "2026-03-16T02:41:07.125Z"
    assert record["version_set"][0]["extension"] == ".fits.fz"


def test_a_raw_frame_has_reduction_level_zero(records):
    assert records[1]["reduction_level"] == 0


def test_frame_ids_are_stable_nine_digit_numbers_per_key():
    assert frame_id("a.fits.fz") == frame_id("a.fits.fz")
    assert frame_id("a.fits.fz") != frame_id("b.fits.fz")
    assert 100_000_000 <= frame_id("a.fits.fz") <= 999_999_999


def test_basename_exact_finds_exactly_one_frame(archive):
    count, results = archive.query({"basename_exact": ["lsc1m005-fa15-20260315-0042-e00"]})

    assert count == 1
    assert results[0]["filename"] == "lsc1m005-fa15-20260315-0042-e00.fits.fz"


def test_basename_exact_is_not_a_substring_match(archive):
    assert archive.query({"basename_exact": ["lsc1m005"]})[0] == 0
    assert archive.query({"basename": ["LSC1M005"]})[0] == 2


def test_a_request_at_reduction_level_91_lists_its_three_colour_frames(archive):
    count, results = archive.query({"request_id": ["3500003"], "reduction_level": ["91"]})

    assert count == 3
    assert sorted(r["primary_optical_element"] for r in results) == ["B", "V", "rp"]


def test_header_card_spellings_filter_like_the_field_names(archive):
    by_field = archive.query({"request_id": ["3500003"], "primary_optical_element": ["V"]})
    by_card = archive.query({"REQNUM": ["3500003"], "FILTER": ["V"]})

    assert by_field[0] == by_card[0] == 1
    assert by_field[1][0]["id"] == by_card[1][0]["id"]


def test_unknown_parameters_are_ignored_and_limit_offset_page(archive):
    count, page = archive.query({"covers": ["POINT(1 2)"], "limit": ["2"], "offset": ["1"]})

    assert count == 5
    assert [r["basename"] for r in page] == [r["basename"] for r in archive.frames()[1:3]]


def test_every_served_record_gets_a_fresh_url_and_no_private_fields(archive, records):
    first = archive.get(records[0]["id"])
    second = archive.get(records[0]["id"])

    assert first["url"] != second["url"]
    assert first["version_set"][0]["url"] == first["url"]
    assert not [name for name in first if name.startswith("_")]


def test_removed_frames_are_no_longer_listed(archive, records):
    archive.remove(records[0]["_key"])

    assert archive.get(records[0]["id"]) is None
    assert archive.query({})[0] == 4


@pytest.mark.integration
def test_the_archive_server_speaks_the_frames_api_over_http(archive, records):
    server = ArchiveServer(archive).start()
    try:
        one = requests.get(f"{server.url}frames/{records[2]['id']}/", timeout=10)
        listing = requests.get(
            f"{server.url}frames/", params={"basename_exact": records[2]["basename"]}, timeout=10
        )
        headers = requests.get(f"{server.url}frames/{records[2]['id']}/headers/", timeout=10)
        missing = requests.get(f"{server.url}frames/123/", timeout=10)
        bad_limit = requests.get(f"{server.url}frames/?limit=many", timeout=10)
    finally:
        server.stop()

    assert one.json()["basename"] == records[2]["basename"]
    assert listing.json()["count"] == 1
    assert listing.json()["results"][0]["id"] == records[2]["id"]
    assert set(listing.json()) == {"count", "next", "previous", "results"}
    assert headers.json()["data"]["FILTER"] == "rp"
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not found."})
    assert bad_limit.status_code == 400
