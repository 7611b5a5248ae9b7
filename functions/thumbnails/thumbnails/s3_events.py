"""S3 Object Created events: what pregeneration reads, and what backfill and local mode send.

Pregeneration is fed S3 event notifications (``{"Records": [{"eventSource": "aws:s3", ...}]}``)
and EventBridge "Object Created" events from S3, directly or as SQS message bodies;
`objects_created` reads them through Powertools' event data classes (`S3Event`,
`S3EventBridgeNotificationEvent`, `SQSRecord`). `object_created_event` builds the
notification S3 sends for one object, for those who must send it themselves: backfill (one
SQS message per frame already in the bucket) and local mode (moto does not deliver
notifications). A test checks that what they build, `objects_created` reads back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from aws_lambda_powertools.utilities.data_classes import (
    S3Event,
    S3EventBridgeNotificationEvent,
    SQSRecord,
)

from .observability import logger
from .versions import normalise_etag


class UnrecognisedEvent(ValueError):
    """An event or SQS message body that names no S3 object (and is not an S3 test event)."""


@dataclass(frozen=True)
class ObjectCreated:
    """One new S3 object, as an event names it.

    Attributes
    ----------
    bucket, key : str
        Where the object is; `key` already URL-decoded.
    etag : str or None
        The object's ETag without quotes, when the event carries it.
    size : int or None
        The object's size in bytes, when the event carries it.
    """

    bucket: str
    key: str
    etag: str | None = None
    size: int | None = None


def objects_created(event: Mapping[str, Any]) -> list[ObjectCreated]:
    """The new objects named by an S3 notification or an EventBridge event.

    Parameters
    ----------
    event : mapping
        An S3 event notification (``{"Records": [{"eventSource": "aws:s3", ...}]}``), an S3
        test event (``{"Event": "s3:TestEvent"}``), or an EventBridge event from S3
        (``{"source": "aws.s3", "detail-type": "Object Created", ...}``).

    Returns
    -------
    list of ObjectCreated
        Empty for a test event. Records of other event types (a delete routed to the same
        queue) are left out with a log line.

    Raises
    ------
    UnrecognisedEvent
        For anything else.
    """
    if event.get("Event") == "s3:TestEvent":
        logger.info("ignoring s3:TestEvent", extra={"bucket": event.get("Bucket")})
        return []
    try:
        if event.get("source") == "aws.s3" and "detail" in event:
            bridged = S3EventBridgeNotificationEvent(dict(event))
            if bridged.detail_type != "Object Created":
                logger.info("ignoring event", extra={"detail_type": bridged.detail_type})
                return []
            detail = bridged.detail
            return [
                ObjectCreated(
                    bucket=detail.bucket.name,
                    key=detail.object.key,  # URL-decoded by Powertools
                    etag=normalise_etag(detail.object.get("etag")),
                    size=_size(detail.object.get("size")),
                )
            ]
        if isinstance(event.get("Records"), list):
            created = []
            for record in S3Event(dict(event)).records:
                # Optional in a notification of another kind: read with ``get``, not the
                # properties (which raise on a missing field).
                name = record.get("eventName", "")
                if record.get("eventSource") != "aws:s3" or not name.startswith("ObjectCreated:"):
                    logger.info("ignoring record", extra={"event_name": name})
                    continue
                s3 = record.s3
                created.append(
                    ObjectCreated(
                        bucket=s3.bucket.name,
                        key=unquote_plus(s3.get_object.key),
                        etag=normalise_etag(s3.get_object.get("eTag")),
                        size=_size(s3.get_object.get("size")),
                    )
                )
            return created
    except (KeyError, TypeError) as error:
        raise UnrecognisedEvent(f"malformed S3 event: missing {error}") from None
    raise UnrecognisedEvent("neither an S3 notification nor an EventBridge S3 event")


def objects_in_message(record: SQSRecord) -> list[ObjectCreated]:
    """The new objects named by the body of one SQS message (an S3 or EventBridge event).

    Raises
    ------
    UnrecognisedEvent
        The body is not JSON, not an object, or names no S3 object.
    """
    try:
        body = json.loads(record.body)
    except (TypeError, ValueError):
        raise UnrecognisedEvent("the body is not JSON") from None
    if not isinstance(body, dict):
        raise UnrecognisedEvent("the SQS message body is not a JSON object")
    return objects_created(body)


def _size(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def object_created_event(
    bucket: str,
    key: str,
    *,
    size: int,
    etag: str | None,
    region: str,
    event_name: str = "ObjectCreated:Put",
    sender: str = "LOCAL",
    when: datetime | None = None,
) -> dict[str, Any]:
    """The S3 event notification of one object written, as S3 sends it (and ``sam local
    generate-event s3 put`` writes it).

    Parameters
    ----------
    bucket, key : str
        The object; the key is URL-encoded (spaces as ``+``) as S3 does in notifications.
    size : int
    etag : str or None
        The object's ETag (quotes removed); it lets pregeneration recognise a frame that
        is already pregenerated without reading it.
    region : str
    event_name : str
        ``ObjectCreated:...``; backfill says ``ObjectCreated:Backfill``.
    sender : str
        Who sends it: the principal, request ids and configuration id.
    when : datetime, optional
        The event's time (the object's ``LastModified``); now by default.
    """
    moment = when or datetime.now(UTC)
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "eventName": event_name,
                "userIdentity": {"principalId": sender},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": sender, "x-amz-id-2": sender},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": sender,
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": sender},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        "key": quote_plus(key, safe="/"),
                        "size": int(size),
                        "eTag": normalise_etag(etag) or "",
                        "sequencer": f"{time.time_ns():020X}",
                    },
                },
            }
        ]
    }
