"""Partial batch responses against a real (moto) SQS queue: retry, then dead-letter.

This plays the part of Lambda's SQS event source mapping: receive a batch, invoke the
handler, delete the messages it reports as done, and leave the failed ones to be received
again (visibility timeout 0 instead of waiting), until the queue is empty.
"""

from __future__ import annotations

import json

import boto3
import pytest

from tests.support.fits_factory import reduced_frame_bytes
from tests.support.pregenerate_support import (
    DEFAULT_PRESETS,
    cached,
    drain,
    keys_of,
    put_frame,
    s3_put_event,
)

MAX_RECEIVE_COUNT = 2


@pytest.fixture
def queues(s3):  # the s3 fixture also starts moto
    sqs = boto3.client("sqs")
    dlq_url = sqs.create_queue(QueueName="thumbnails-pregenerate-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
    queue_url = sqs.create_queue(
        QueueName="thumbnails-pregenerate",
        Attributes={"RedrivePolicy": json.dumps(policy), "VisibilityTimeout": "30"},
    )["QueueUrl"]
    return sqs, queue_url, dlq_url


def test_a_bad_frame_is_retried_then_dead_lettered_and_good_frames_render_once(
    s3,
    queues,
    renders,
    lambda_context,
):
    sqs, queue_url, dlq_url = queues
    frame = reduced_frame_bytes((48, 64), compression="RICE_1")
    put_frame(s3, "raw/good1-e91.fits.fz", frame)
    put_frame(s3, "raw/good2-e91.fits.fz", reduced_frame_bytes((48, 64), seed=5))
    put_frame(s3, "raw/corrupt-e91.fits.fz", frame[:4000])
    sent = {}
    for key in ("raw/good1-e91.fits.fz", "raw/corrupt-e91.fits.fz", "raw/good2-e91.fits.fz"):
        body = json.dumps(s3_put_event(key))
        sent[key] = sqs.send_message(QueueUrl=queue_url, MessageBody=body)["MessageId"]

    rounds = drain(sqs, queue_url, lambda_context)

    corrupt = sent["raw/corrupt-e91.fits.fz"]
    # Received twice (maxReceiveCount 2) and failed both times, then moved to the DLQ.
    assert rounds == [[corrupt], [corrupt]]
    dead = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10).get("Messages", [])
    assert [m["MessageId"] for m in dead] == [corrupt]
    assert set(cached(s3)) == keys_of(s3, "raw/good1-e91.fits.fz") | keys_of(
        s3, "raw/good2-e91.fits.fz"
    )
    assert len(renders["render_frames"]) == 2 * len(DEFAULT_PRESETS)  # never re-rendered
    assert not any(key.startswith("corrupt-e91/") for key in cached(s3))
