"""What the pregeneration tests share: moto buckets, S3 and SQS events, a Lambda context,
and a stand-in for Lambda's SQS event source mapping (`drain`)."""

from __future__ import annotations

import json
from urllib.parse import quote_plus

from tests.conftest import load_event
from thumbnails import cache_keys, frame_objects, pregenerate
from thumbnails.params import ThumbnailParams

DATA_BUCKET = "lco-archive-frames"  # the bucket the events in events/ name
CACHE_BUCKET = "thumbnails-cache"
DEFAULT_PRESETS = (ThumbnailParams(), ThumbnailParams(width=1000, height=1000))
#: More rounds than `drain` needs: each message is received at most 3 times.
MAX_ROUNDS = 10


def put_frame(s3, key: str, data: bytes) -> str:
    """Upload a frame to the data bucket; return its ETag (no quotes)."""
    return s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=data)["ETag"].strip('"')


def s3_put_event(*keys: str, etag: str | None = None) -> dict:
    """events/s3-put.json naming `keys` (URL-encoded, as S3 sends them)."""
    event = load_event("s3-put.json")
    template = event["Records"][0]
    event["Records"] = []
    for key in keys:
        record = json.loads(json.dumps(template))
        record["s3"]["bucket"]["name"] = DATA_BUCKET
        record["s3"]["object"]["key"] = quote_plus(key, safe="/")
        if etag is not None:
            record["s3"]["object"]["eTag"] = etag
        event["Records"].append(record)
    return event


def sqs_event(*bodies: dict | str) -> dict:
    """An SQS batch (shaped as events/sqs-s3-batch.json) with these message bodies."""
    event = load_event("sqs-s3-batch.json")
    template = event["Records"][0]
    event["Records"] = []
    for index, body in enumerate(bodies):
        record = json.loads(json.dumps(template))
        record["messageId"] = f"message-{index}"
        record["body"] = body if isinstance(body, str) else json.dumps(body)
        event["Records"].append(record)
    return event


def cached(s3) -> dict[str, dict]:
    """Key -> head_object answer for every object in the cache bucket."""
    listing = s3.list_objects_v2(Bucket=CACHE_BUCKET).get("Contents", [])
    return {item["Key"]: s3.head_object(Bucket=CACHE_BUCKET, Key=item["Key"]) for item in listing}


def superseded(s3, key: str) -> bool:
    """Whether `key` of the cache is marked superseded, as its tag and its metadata."""
    tags = s3.get_object_tagging(Bucket=CACHE_BUCKET, Key=key)["TagSet"]
    tagged = tags == [{"Key": cache_keys.SUPERSEDED, "Value": cache_keys.SUPERSEDED_VALUE}]
    metadata = s3.head_object(Bucket=CACHE_BUCKET, Key=key)["Metadata"]
    assert tagged == (metadata.get(cache_keys.SUPERSEDED) == cache_keys.SUPERSEDED_VALUE), key
    return tagged


def cached_image(s3, key: str) -> bytes:
    return s3.get_object(Bucket=CACHE_BUCKET, Key=key)["Body"].read()


def preset_keys(basename: str, version: str) -> set[str]:
    return {cache_keys.thumbnail_key(basename, version, params) for params in DEFAULT_PRESETS}


def object_version(s3, key: str) -> str:
    """The version of an object of the data bucket: its ETag (single-part uploads)."""
    return s3.head_object(Bucket=DATA_BUCKET, Key=key)["ETag"].strip('"')


def keys_of(s3, key: str) -> set[str]:
    """The preset keys of the data bucket's object `key` at its current version."""
    return preset_keys(frame_objects.basename_of(key), object_version(s3, key))


class LambdaContext:
    """A Lambda context for the pregeneration handler: two minutes left, always."""

    function_name = "pregenerate"
    memory_limit_in_mb = 1769
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:pregenerate"
    aws_request_id = "0f4b1c7e-1b1e-4c55-9d6a-5f0e8d3a2b10"

    def get_remaining_time_in_millis(self) -> int:
        return 120_000


def lambda_event(messages: list[dict], queue_arn: str) -> dict:
    """The event Lambda's SQS event source mapping builds from received messages."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def drain(sqs, queue_url: str, context) -> list[list[str]]:
    """Run the handler on the queue until it is empty; return the failed ids of each round."""
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    rounds = []
    for _ in range(MAX_ROUNDS):
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return rounds
        response = pregenerate.handler(lambda_event(messages, arn), context)
        failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] in failed:  # retried once its visibility timeout ends
                sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        rounds.append(sorted(failed))
    raise AssertionError(f"the queue was not drained in {MAX_ROUNDS} rounds")
