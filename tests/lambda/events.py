"""Events for `sam local invoke`, made from the files in ``events/`` with local names filled in."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any

from tests.conftest import load_event


def api_event(path: str, query: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``events/api-frame-id.json`` as ``GET path?query`` (path without the stage)."""
    event = load_event("api-frame-id.json")
    query = dict(query or {})
    proxy = path.strip("/")
    event["path"] = path
    event["pathParameters"] = {"proxy": proxy} if proxy else None
    event["resource"] = "/{proxy+}" if proxy else "/"
    event["requestContext"]["resourcePath"] = event["resource"]
    event["requestContext"]["path"] = f"/{event['requestContext']['stage']}{path}"
    event["queryStringParameters"] = query or None
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
    return event


def sqs_s3_batch(bucket: str, objects: Sequence[tuple[str, int, str]]) -> dict[str, Any]:
    """``events/sqs-s3-batch.json`` with one message per ``(key, size, etag)`` in `bucket`.

    Message ids are the template's, so the caller reads them from the event.
    """
    template = load_event("sqs-s3-batch.json")["Records"]
    s3_messages = [r for r in template if "aws:s3" in r["body"]]
    if len(objects) > len(s3_messages):
        raise ValueError(f"events/sqs-s3-batch.json has {len(s3_messages)} S3 messages")
    records = []
    for message, (key, size, etag) in zip(s3_messages, objects, strict=False):
        record = copy.deepcopy(message)
        body = json.loads(record["body"])
        s3 = body["Records"][0]["s3"]
        s3["bucket"].update(name=bucket, arn=f"arn:aws:s3:::{bucket}")
        s3["object"].update(key=key, size=size, eTag=etag)
        record["body"] = json.dumps(body)
        records.append(record)
    return {"Records": records}
