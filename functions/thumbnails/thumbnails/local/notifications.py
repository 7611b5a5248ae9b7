"""S3 event notifications for a bucket that cannot send them: poll it, and describe what changed.

moto's S3 server does not deliver bucket notifications to a Lambda function, so local mode
polls the data bucket (`BucketListing`) and builds, for every object written, the event S3
would have sent (`s3_put_event`, the shape of ``sam local generate-event s3 put``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..s3_events import object_created_event


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
    """The S3 event notification of one object written, as ``sam local generate-event s3 put``
    (`thumbnails.s3_events.object_created_event`), from its `list_objects_v2` entry."""
    return object_created_event(
        bucket,
        entry["Key"],
        size=int(entry.get("Size", 0)),
        etag=entry["ETag"],
        region=region,
        when=entry.get("LastModified"),
    )
