"""Local mode's gateway speaks API Gateway's REST proxy format (payload 1.0) both ways."""

from __future__ import annotations

import base64
import json

import pytest
import requests
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from tests.conftest import FakeLambdaContext
from thumbnails.local.gateway import (
    MAX_RESPONSE_BYTES,
    GatewayServer,
    MalformedResponse,
    http_response,
    request_event,
    respond,
)

HOST = [("Host", "127.0.0.1:3000")]


# ---------------------------------------------------------------------- request -> event
def test_repeated_query_names_keep_the_last_value_and_all_values_in_order():
    event = request_event("GET", "/f/?width=10&a=1&a=2", HOST)

    assert event["queryStringParameters"] == {"width": "10", "a": "2"}
    assert event["multiValueQueryStringParameters"] == {"width": ["10"], "a": ["1", "2"]}


def test_query_values_arrive_percent_decoded_with_plus_as_space():
    event = request_event("GET", "/f/?label=So%20many+stars%21&empty=", HOST)

    assert event["queryStringParameters"] == {"label": "So many stars!", "empty": ""}


def test_absent_query_body_and_path_parameters_are_null_not_empty():
    event = request_event("GET", "/", HOST)

    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["pathParameters"] is None
    assert event["body"] is None
    assert event["isBase64Encoded"] is False
    assert event["resource"] == "/"


def test_other_paths_go_through_the_greedy_proxy_resource():
    event = request_event("GET", "/lsc1m005-fa15-20260315-0042-e91/?image=true", HOST)

    assert event["path"] == "/lsc1m005-fa15-20260315-0042-e91/"
    assert event["resource"] == "/{proxy+}"
    assert event["pathParameters"] == {"proxy": "lsc1m005-fa15-20260315-0042-e91/"}
    assert event["requestContext"]["resourcePath"] == "/{proxy+}"


def test_repeated_headers_are_all_in_multi_value_headers_and_the_last_in_headers():
    headers = HOST + [("Authorization", "Token abc"), ("X-Test", "one"), ("X-Test", "two")]

    event = request_event("GET", "/", headers)

    assert event["headers"]["Authorization"] == "Token abc"
    assert event["headers"]["X-Test"] == "two"
    assert event["multiValueHeaders"]["X-Test"] == ["one", "two"]


def test_the_request_context_carries_the_request_id_caller_and_method():
    event = request_event(
        "HEAD", "/x/", HOST + [("User-Agent", "curl/8")], source_ip="127.0.0.9", request_id="r-1"
    )

    context = event["requestContext"]
    assert context["requestId"] == "r-1"
    assert context["httpMethod"] == "HEAD"
    assert context["identity"]["sourceIp"] == "127.0.0.9"
    assert context["identity"]["userAgent"] == "curl/8"
    assert context["path"] == "/local/x/"


def test_text_bodies_pass_as_text_and_binary_bodies_as_base64():
    text = request_event("POST", "/", HOST, b'{"a": 1}')
    binary = request_event("POST", "/", HOST, b"\xff\xd8\xff\x00")

    assert (text["body"], text["isBase64Encoded"]) == ('{"a": 1}', False)
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == b"\xff\xd8\xff\x00"


def test_powertools_routes_the_event_and_reads_its_query_and_headers():
    app = APIGatewayRestResolver()

    @app.get("/<name>/")
    def frame(name: str) -> dict:
        return {
            "name": name,
            "widths": app.current_event.multi_value_query_string_parameters["width"],
            "auth": app.current_event.headers.get("Authorization"),
        }

    event = request_event("GET", "/abc/?width=1&width=2", HOST + [("Authorization", "Token t")])
    result = app.resolve(event, FakeLambdaContext())

    assert result["statusCode"] == 200
    assert json.loads(result["body"]) == {"name": "abc", "widths": ["1", "2"], "auth": "Token t"}


# ---------------------------------------------------------------------- response -> HTTP
def test_base64_bodies_are_decoded_to_the_exact_bytes():
    image = bytes(range(256))
    result = {"statusCode": 200, "body": base64.b64encode(image).decode(), "isBase64Encoded": True}

    status, _, body = http_response(result)

    assert (status, body) == (200, image)


def test_a_binary_powertools_response_reaches_the_caller_as_its_bytes():
    app = APIGatewayRestResolver()
    jpeg = b"\xff\xd8\xff\xe0not really a jpeg\xff\xd9"

    @app.get("/img")
    def img() -> Response:
        return Response(status_code=200, content_type="image/jpeg", body=jpeg)

    status, headers, body = http_response(
        app.resolve(request_event("GET", "/img", HOST), FakeLambdaContext())
    )

    assert (status, body) == (200, jpeg)
    assert ("Content-Type", "image/jpeg") in headers


def test_multi_value_headers_are_all_sent():
    result = {
        "statusCode": 200,
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"], "Vary": ["Origin"]},
        "body": "",
    }

    _, headers, _ = http_response(result)

    assert [v for n, v in headers if n == "Set-Cookie"] == ["a=1", "b=2"]


def test_headers_merge_with_multi_value_headers_without_repeating_a_pair():
    result = {
        "statusCode": 302,
        "headers": {"Location": "http://x/", "vary": "Origin", "X-One": "1"},
        "multiValueHeaders": {"Vary": ["Origin"], "X-Two": ["2"]},
    }

    _, headers, body = http_response(result)

    assert sorted(headers) == [
        ("Location", "http://x/"),
        ("Vary", "Origin"),
        ("X-One", "1"),
        ("X-Two", "2"),
    ]
    assert body == b""


@pytest.mark.parametrize(
    "result",
    [
        {},
        {"statusCode": "two hundred"},
        {"statusCode": 200, "headers": ["Content-Type: text/plain"]},
        {"statusCode": 200, "body": b"bytes are not allowed"},
        {"statusCode": 200, "body": "not base64!", "isBase64Encoded": True},
        "a string",
    ],
    ids=[
        "no-status",
        "status-not-a-number",
        "headers-not-object",
        "body-bytes",
        "bad-base64",
        "not-an-object",
    ],
)
def test_a_malformed_proxy_response_is_refused(result):
    with pytest.raises(MalformedResponse):
        http_response(result)


def test_a_function_that_raises_is_a_502_internal_server_error(capsys):
    def crash(event: dict) -> dict:
        raise RuntimeError("boom")

    status, headers, body = respond(crash, request_event("GET", "/", HOST))

    assert status == 502
    assert json.loads(body) == {"message": "Internal server error"}
    assert "RuntimeError: boom" in capsys.readouterr().err


def test_a_response_over_lambdas_6_mb_limit_is_a_502():
    big = {"statusCode": 200, "body": "x" * MAX_RESPONSE_BYTES}

    status, _, body = respond(lambda event: big, request_event("GET", "/", HOST))

    assert status == 502
    assert json.loads(body) == {"message": "Internal server error"}


# ---------------------------------------------------------------------- over HTTP
@pytest.mark.integration
def test_the_gateway_server_translates_real_http_both_ways():
    seen: list[dict] = []

    def echo(event: dict) -> dict:
        seen.append(event)
        return {
            "statusCode": 200,
            "multiValueHeaders": {"X-Path": [event["path"]], "X-Many": ["1", "2"]},
            "body": base64.b64encode(b"\x00\x01binary").decode(),
            "isBase64Encoded": True,
        }

    server = GatewayServer(
        echo,
        pages={"/": lambda: ("text/html", b"<p>gallery</p>")},
        aliases={"/api": "/"},
        port=0,
    ).start()
    try:
        page = requests.get(server.url, timeout=10)
        api_root = requests.get(server.url + "api", timeout=10)
        frame = requests.get(
            server.url + "f1/?a=1&a=2", headers={"Authorization": "Token t"}, timeout=10
        )
    finally:
        server.stop()

    assert (page.status_code, page.text) == (200, "<p>gallery</p>")
    assert api_root.headers["X-Path"] == "/"  # the function's own / stays reachable
    assert frame.content == b"\x00\x01binary"
    assert frame.headers["X-Many"] == "1, 2"
    assert "x-amzn-RequestId" in frame.headers
    assert seen[-1]["multiValueQueryStringParameters"] == {"a": ["1", "2"]}
    assert seen[-1]["headers"]["Authorization"] == "Token t"
    assert seen[-1]["headers"]["X-Forwarded-Proto"] == "http"
