"""``color=true`` with every filter family: which frames, in which channel, and why not.

Each frame of a request carries the field's stars (so the channels align and balance) and one
bright marker of its own, at a position no other frame uses: a marker seen in an output
channel says which frame that channel was made of.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from PIL import Image

from tests.support.api_support import (
    BUCKET,
    FRAME_ID,
    ApiWorld,
    body_bytes,
    body_json,
    frame_record,
    header,
)
from tests.support.fits_factory import reduced_frame_bytes, star_positions

SHAPE = (64, 80)  # rows, cols: rendered 1:1 (the box is larger), FITS row 1 at the bottom
FIELD = star_positions(SHAPE, 10, catalog_seed=7)
#: Marker positions (x, y), one per frame in the order frames are made; away from the stars.
MARKERS = [(x, y) for y in (10, 31, 52) for x in (8, 22, 36, 50, 64)]
START = datetime(2026, 1, 2, 14, 0, tzinfo=UTC)
QUERY = {"color": "true", "image": "inline", "format": "png", "orientation": "detector"}


def _clear_of_stars(x: float, y: float) -> bool:
    return all(abs(x - sx) > 5 or abs(y - sy) > 5 for sx, sy, _peak in FIELD)


MARKERS = [m for m in MARKERS if _clear_of_stars(*m)]


def _request(world: ApiWorld, frames: list[tuple[str, int]], requested: int) -> list[dict]:
    """Serve a request of `frames` (filter, minutes after START), in that archive order; frame
    number `requested` is the one asked for (``FRAME_ID``). Returns the records, each with
    its ``marker``."""
    assert len(frames) <= len(MARKERS)
    records = []
    for index, (name, minutes) in enumerate(frames):
        frame_id = FRAME_ID if index == requested else FRAME_ID + 100 + index
        basename = f"coj2m002-ep02-20260102-{index:04d}-e91"
        when = (START + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        record = frame_record(frame_id, basename, filter=name, observation_date=when)
        x, y = MARKERS[index]
        fits = reduced_frame_bytes(SHAPE, filter=name, seed=index, stars=[*FIELD, (x, y, 6000.0)])
        world.add_frame(record, fits=fits, etag=f'"etag-{index}"', by_basename=False)
        records.append(dict(record, marker=(x, y)))
    world.add_request_frames([{k: v for k, v in r.items() if k != "marker"} for r in records])
    return records


def _rgb_at(image: np.ndarray, marker: tuple[int, int]) -> np.ndarray:
    x, y = marker
    return image[SHAPE[0] - 1 - y, x].astype(int)  # detector orientation: row 1 at the bottom


def _assert_channels(response: dict, records: list[dict], expected: list[int | None]) -> None:
    """Every frame's marker is bright in exactly the channels it was chosen for."""
    assert response["statusCode"] == 200, response["body"]
    image = np.asarray(Image.open(io.BytesIO(body_bytes(response))).convert("RGB"))
    assert image.shape[:2] == SHAPE
    chosen = {index: [c for c in range(3) if expected[c] == index] for index in range(len(records))}
    for index, record in enumerate(records):
        rgb = _rgb_at(image, record["marker"])
        lit = [c for c in range(3) if rgb[c] >= 160]
        dark = [c for c in range(3) if rgb[c] <= 90]
        assert lit == chosen[index], (record["primary_optical_element"], index, rgb.tolist())
        assert len(lit) + len(dark) == 3, (record["primary_optical_element"], rgb.tolist())


def _frames_header(records: list[dict], family: str, palette: str, picks: list[int]) -> str:
    channels = "; ".join(
        f"{colour}={name}:{records[i]['basename']}"
        for colour, name, i in zip(
            ("red", "green", "blue"),
            [records[i]["primary_optical_element"] for i in picks],
            picks,
            strict=True,
        )
    )
    return f"family={family}; palette={palette}; {channels}"


# Each family among extra frames of its own filters (at other times) and other families'.
# (filter, minutes after START); the frame asked for; the frames expected in R, G, B.
FAMILY_CASES = {
    "sdss": (
        [
            ("gp", 0),
            ("V", 1),
            ("ip", 2),
            ("rp", 30),
            ("B", 31),
            ("rp", 3),
            ("ip", 40),
            ("gp", 60),
            ("H-Alpha", 4),
            ("OIII", 5),
        ],
        2,
        [2, 5, 0],
    ),
    "johnson-cousins": (
        [
            ("V", 0),
            ("B", 1),
            ("gp", 2),
            ("rp", 20),
            ("V", 22),
            ("ip", 23),
            ("B", 40),
            ("R", 50),
            ("SII", 21),
        ],
        3,
        [3, 4, 1],
    ),
    "narrowband": (
        [
            ("OIII", 0),
            ("sii", 1),
            ("h-alpha", 30),
            ("rp", 31),
            ("V", 32),
            ("B", 33),
            ("SII", 35),
            ("OIII", 29),
            ("H-Alpha", 90),
        ],
        2,
        [6, 2, 7],
    ),
}


@pytest.mark.parametrize("family", list(FAMILY_CASES))
def test_each_family_takes_the_asked_frame_and_its_filters_nearest_in_time(world, family):
    frames, requested, picks = FAMILY_CASES[family]
    records = _request(world, frames, requested)
    response = world.invoke("api-color.json", query=QUERY)
    _assert_channels(response, records, picks)
    described = _frames_header(records, family, "wavelength", picks)
    # Canonical spellings in the header, whatever the case in the archive record.
    described = described.replace("=sii:", "=SII:").replace("=h-alpha:", "=H-Alpha:")
    assert header(response, "X-Thumbnail-Color-Frames") == described
    downloaded = {call.request.url.split("?")[0] for call in world.downloads()}
    assert downloaded == {records[i]["url"].split("?")[0] for i in picks}


@pytest.mark.parametrize(
    ("palette", "picks"),
    [("hoo", [2, 7, 7]), ("lco", [2, 7, 6]), ("sho", [6, 2, 7]), ("HOO", [2, 7, 7])],
)
def test_narrowband_palettes_map_the_lines_to_channels(world, palette, picks):
    frames, requested, _ = FAMILY_CASES["narrowband"]
    records = _request(world, frames, requested)
    response = world.invoke("api-color.json", query={**QUERY, "palette": palette})
    _assert_channels(response, records, picks)
    canonical = {"sho": "wavelength", "HOO": "hoo"}.get(palette, palette)
    assert f"palette={canonical};" in header(response, "X-Thumbnail-Color-Frames")
    assert header(response, "X-Thumbnail-Color-Balance") == "per-channel"
    # A frame in two channels (hoo's OIII) is downloaded once.
    assert len(world.downloads()) == len(set(picks))


def test_palettes_and_families_have_their_own_cache_keys(world):
    frames, requested, _ = FAMILY_CASES["narrowband"]
    _request(world, frames, requested)
    for palette in ("wavelength", "hoo", "lco", "sho"):
        response = world.invoke("api-color.json", query={**QUERY, "palette": palette})
        assert response["statusCode"] == 200, response["body"]
    keys = [item["Key"] for item in world.s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert len(keys) == 3  # sho is wavelength's other name: the same image, the same key


def test_the_frames_header_and_log_are_kept_on_a_cache_hit(world):
    frames, requested, picks = FAMILY_CASES["sdss"]
    records = _request(world, frames, requested)
    miss = world.invoke("api-color.json", query=QUERY)
    hit = world.invoke("api-color.json", query=QUERY)
    described = _frames_header(records, "sdss", "wavelength", picks)
    assert header(miss, "X-Thumbnail-Color-Frames") == described
    assert header(hit, "X-Thumbnail-Color-Frames") == described
    assert len(world.downloads()) == 3  # the hit downloaded nothing
    [key] = [item["Key"] for item in world.s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert world.s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]["color-frames"] == described
    logged = [json.loads(line) for line in world.logs]
    thumbnails = [e for e in logged if e.get("message") == "thumbnail"]
    assert [e.get("color_frames") for e in thumbnails] == [described, described]


def test_the_frames_header_is_exposed_to_browsers():
    from thumbnails.api import cors_config

    headers = cors_config("https://a.example").to_dict("https://a.example")
    assert "X-Thumbnail-Color-Frames" in headers["Access-Control-Expose-Headers"]


@pytest.mark.parametrize(
    ("frames", "picks"),
    [
        pytest.param([("ip", 0), ("gp", 1), ("zs", 2)], [2, 0, 1], id="zs-for-rp"),
        pytest.param([("ip", 0), ("up", 1), ("rp", 2)], [0, 2, 1], id="up-for-gp"),
        pytest.param([("rp", 0), ("gp", 1), ("zs", 2), ("up", 3)], [2, 0, 1], id="zs-for-ip"),
    ],
)
def test_sdss_takes_zs_or_up_in_place_of_a_missing_filter_by_wavelength(world, frames, picks):
    records = _request(world, frames, 1)  # gp or up asked for: the SDSS family
    response = world.invoke("api-color.json", query=QUERY)
    _assert_channels(response, records, picks)
    assert header(response, "X-Thumbnail-Color-Frames").startswith("family=sdss;")


@pytest.mark.parametrize(
    ("frames", "requested", "message"),
    [
        pytest.param(
            [("H-Alpha", 0), ("OIII", 1), ("B", 2), ("V", 3)],
            0,
            "Wrong combination of RVB frames for the narrowband set (SII, H-Alpha, OIII): "
            "the request has H-Alpha, OIII, B, V; missing SII",
            id="narrowband-mixed-with-broadband",
        ),
        pytest.param(
            [("gp", 0), ("V", 1), ("up", 2), ("gp", 3)],
            0,
            "Wrong combination of RVB frames for the sdss set (ip, rp, gp; zs or up in place of "
            "one): the request has gp, V, up; missing ip, rp",
            id="sdss-incomplete-with-broadband",
        ),
        pytest.param(
            [("ip", 0), ("zs", 1), ("ip", 2)],
            0,
            "RVB frames not found for the sdss set (ip, rp, gp; zs or up in place of one): "
            "the request has ip, zs; missing rp, gp",
            id="sdss-incomplete",
        ),
        pytest.param(
            [("V", 0), ("B", 1), ("w", 2)],
            0,
            "RVB frames not found for the johnson-cousins set (R or rp, V, B): "
            "the request has V, B, w; missing R or rp",
            id="johnson-cousins-incomplete",
        ),
        pytest.param(
            [("rp", 0), ("OIII", 1), ("V", 2)],
            1,
            "Wrong combination of RVB frames for the narrowband set (SII, H-Alpha, OIII): "
            "the request has rp, OIII, V; missing SII, H-Alpha",
            id="narrowband-incomplete",
        ),
    ],
)
def test_a_mixed_or_incomplete_set_is_a_404_naming_what_was_found_and_missing(
    world, frames, requested, message
):
    _request(world, frames, requested)
    response = world.invoke("api-color.json", query=QUERY | {"image": "false"})
    assert response["statusCode"] == 404
    assert body_json(response) == {"message": message}
    assert world.downloads() == []  # refused from the records, before any download


def test_hoo_needs_only_h_alpha_and_oiii(world):
    records = _request(world, [("rp", 0), ("OIII", 1), ("H-Alpha", 2)], 0)
    response = world.invoke("api-color.json", query={**QUERY, "palette": "hoo"})
    _assert_channels(response, records, [2, 1, 1])


@pytest.mark.parametrize("palette", ["rainbow", "", "hoo2"])
def test_an_unknown_palette_is_a_400(world, palette):
    _request(world, [("rp", 0), ("V", 1), ("B", 2)], 0)
    response = world.invoke("api-color.json", query=QUERY | {"palette": palette, "image": "false"})
    assert response["statusCode"] == 400
    assert body_json(response)["message"].startswith("palette: must be one of wavelength, hoo, lco")
    assert len(world.archive.calls) == 0  # refused before the archive is asked anything
