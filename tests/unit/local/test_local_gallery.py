"""The local gallery shows every frame as a live API thumbnail, and colour sets in colour."""

from __future__ import annotations

import zlib
from html import unescape
from html.parser import HTMLParser

from thumbnails.local.gallery import colour_sets, gallery_urls, render_gallery


def frame(basename, filt="rp", request=1, level=91, ext=".fits.fz"):
    return {
        "id": zlib.crc32((basename + ext).encode()),
        "basename": basename,
        "filename": basename + ext,
        "primary_optical_element": filt,
        "request_id": request,
        "reduction_level": level,
        "configuration_type": "EXPOSE",
        "observation_date": "2026-03-16T02:41:07Z",
    }


COLOUR = [frame("c-0010", "rp", 7), frame("c-0011", "V", 7), frame("c-0012", "B", 7)]
SINGLE = [frame("s-0042-e91", "rp", 8), frame("s-0042-e00", "rp", 8, level=0)]


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs)["src"])


def image_sources(frames) -> list[str]:
    parser = _Images()
    parser.feed(
        render_gallery(
            frames,
            archive_url="http://127.0.0.1:1/",
            storage_url="http://127.0.0.1:2",
            data_bucket="data",
            thumbnail_bucket="thumbs",
        )
    )
    return parser.sources


def test_every_frame_is_an_image_of_the_api_with_image_true_at_300_px():
    sources = image_sources(SINGLE)

    assert sources == [
        "/s-0042-e91/?width=300&height=300&image=true",
        "/s-0042-e00/?width=300&height=300&image=true",
    ]


def test_a_request_with_red_visual_and_blue_frames_gets_one_colour_image_first():
    sources = image_sources(COLOUR + SINGLE)

    assert sources[0] == "/c-0010/?width=300&height=300&image=true&color=true"
    assert len(sources) == 1 + 5


def test_an_incomplete_or_raw_colour_set_gets_no_colour_image():
    raw_blue = frame("c-0012", "B", 7, level=0)

    assert colour_sets(COLOUR[:2]) == []
    assert colour_sets([*COLOUR[:2], raw_blue]) == []


def test_gallery_urls_are_exactly_the_images_on_the_page():
    frames = COLOUR + SINGLE

    assert gallery_urls(frames) == image_sources(frames)


def test_a_basename_held_by_two_files_is_explained_instead_of_shown_broken():
    frames = [*SINGLE, frame("s-0042-e91", "rp", 8, ext=".fits")]

    page = render_gallery(
        frames, archive_url="a/", storage_url="s", data_bucket="d", thumbnail_bucket="t"
    )

    assert image_sources(frames) == ["/s-0042-e00/?width=300&height=300&image=true"]
    assert "s-0042-e91.fits.fz, s-0042-e91.fits" in unescape(page)


def test_names_are_escaped_in_the_page():
    page = render_gallery(
        [frame("a<b")], archive_url="a/", storage_url="s", data_bucket="d", thumbnail_bucket="t"
    )

    assert "a<b" not in page
    assert "a&lt;b" in page


def test_frames_with_a_wcs_link_a_sky_cutout_around_their_pointing_and_a_padded_corner():
    from urllib.parse import parse_qs, urlsplit

    from thumbnails.params import ThumbnailParams

    class _Links(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.links: dict[str, str] = {}
            self._href: str | None = None

        def handle_starttag(self, tag, attrs):
            self._href = dict(attrs).get("href") if tag == "a" else None

        def handle_data(self, data):
            if self._href is not None:
                self.links[data] = self._href

    headers = {SINGLE[0]["id"]: {"CRVAL1": 97.5, "CRVAL2": -30.25}, SINGLE[1]["id"]: {}}
    parser = _Links()
    parser.feed(
        render_gallery(
            SINGLE[:1],
            archive_url="http://127.0.0.1:1/",
            storage_url="http://127.0.0.1:2",
            data_bucket="data",
            thumbnail_bucket="thumbs",
            headers=headers.get,
        )
    )
    sky = urlsplit(unescape(parser.links["2′ cutout"]))
    assert sky.path == "/s-0042-e91/"
    query = parse_qs(sky.query)
    assert query["ra"] == ["06:30:00.00"] and query["dec"] == ["-30:15:00.0"]
    cutout = ThumbnailParams.from_query(query).cutout
    assert (cutout.ra, cutout.dec, cutout.fov) == (97.5, -30.25, 2.0)
    corner = parse_qs(urlsplit(unescape(parser.links["corner cutout"])).query)
    assert corner["x"] == ["1"] and corner["size"] == ["300"]
