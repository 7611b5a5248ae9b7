"""S3 event notifications for a bucket that cannot send them: poll it, and describe what changed.

moto's S3 server does not deliver bucket notifications to a Lambda function, so local mode
polls the data bucket (`BucketListing`) and builds, for every object written, the event S3
would have sent (`s3_put_event`, the shape of ``sam local generate-event s3 put``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from ..cache_keys import normalise_etag


class BucketListing:
    """What changed in a bucket since the last look: new or overwritten objects, deleted keys.

    Parameters
    ----------
    s3 : boto3 S3 client
    bucket : str
    """

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3, self._bucket = s3, bucket
        self._seen: dict[str, str] = {}  # key -> ETag

    def changes(self) -> tuple[list[dict[str, Any]], list[str]]:
        """``(new, deleted)``: `list_objects_v2` entries (Key, ETag, Size, LastModified) not
        seen before or with a new ETag, and the keys seen before that are gone."""
        listing: dict[str, dict[str, Any]] = {}
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket):
            for entry in page.get("Contents", []):
                listing[entry["Key"]] = entry
        new = [e for k, e in sorted(listing.items()) if self._seen.get(k) != e["ETag"]]
        deleted = [k for k in self._seen if k not in listing]
        self._seen = {k: e["ETag"] for k, e in listing.items()}
        return new, deleted


def s3_put_event(bucket: str, entry: Mapping[str, Any], region: str) -> dict[str, Any]:
    """The S3 event notification of one object written, as ``sam local generate-event s3 put``.

    The key is URL-encoded (spaces as ``+``) as S3 does in notifications.
    """
    etag = normalise_etag(entry["ETag"])
    modified = entry.get("LastModified") or datetime.now(UTC)
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": modified.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "LOCAL"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": "LOCAL", "x-amz-id-2": "LOCAL"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "local-pregenerate",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "LOCAL"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        "key": quote_plus(entry["Key"], safe="/"),
                        "size": int(entry.get("Size", 0)),
                        "eTag": etag,
                        "sequencer": f"{time.time_ns():020X}",
                    },
                },
            }
        ]
    }
