"""The documentation page, robots.txt and favicon.ico: static, cacheable, never a 500."""

from __future__ import annotations

import pytest

from tests.support.api_support import ApiWorld, header
from thumbnails.api import cors_config


def test_the_root_page_documents_the_parameters_and_an_example(world):
    response = world.invoke("api-root.json")
    assert response["statusCode"] == 200
    assert header(response, "Content-Type").startswith("text/html")
    page = response["body"]
    for word in (
        "width",
        "height",
        "label",
        "quality",
        "median",
        "percentile",
        "stretch",
        "format",
        "color",
        "image",
        "inline",
        "Authorization",
    ):
        assert word in page
    assert "/3863274/?width=500" in page


def test_robots_txt_keeps_crawlers_from_rendering_the_archive(world):
    response = world.invoke(path="/robots.txt")
    assert response["statusCode"] == 200
    assert response["body"] == "User-agent: *\nDisallow: /\n"
    assert header(response, "Content-Type").startswith("text/plain")


def test_favicon_is_an_empty_cacheable_answer_not_a_thumbnail_lookup(world):
    response = world.invoke(path="/favicon.ico")
    assert response["statusCode"] == 204
    assert header(response, "Cache-Control").startswith("public")
    assert len(world.archive.calls) == 0


@pytest.mark.parametrize("path", ["/", "/robots.txt", "/favicon.ico"])
def test_static_pages_work_even_when_the_service_is_misconfigured(monkeypatch, path):
    with ApiWorld.started(monkeypatch, ARCHIVE_TIMEOUT="soon", THUMBNAIL_BUCKET="") as world:
        assert world.invoke("api-root.json", path=path)["statusCode"] in (200, 204)


def test_a_cors_preflight_is_answered_without_a_lookup(world):
    response = world.invoke(
        path="/3863274/",
        headers={"Origin": "https://example.org", "Access-Control-Request-Method": "GET"},
        authorization=None,
        method="OPTIONS",
    )
    assert response["statusCode"] == 204
    assert header(response, "Access-Control-Allow-Origin") == "*"
    assert "Authorization" in header(response, "Access-Control-Allow-Headers")
    assert len(world.archive.calls) == 0


def test_cors_origins_may_be_a_list_and_the_colour_headers_are_exposed():
    config = cors_config("https://a.example, https://b.example")
    for origin in ("https://a.example", "https://b.example"):
        headers = config.to_dict(origin)
        assert headers["Access-Control-Allow-Origin"] == origin
        assert "X-Thumbnail-Alignment" in headers["Access-Control-Expose-Headers"]
        assert "X-Thumbnail-Color-Balance" in headers["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Origin" not in config.to_dict("https://evil.example")
    allowed = cors_config("").to_dict("https://any.example")["Access-Control-Allow-Origin"]
    assert allowed in ("*", "https://any.example")
