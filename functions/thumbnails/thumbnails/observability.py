"""One Powertools setup for both Lambda handlers (`api`, `pregenerate`): logger, tracer, metrics.

Powertools reads its settings when these are built (at import): ``POWERTOOLS_SERVICE_NAME``
and ``POWERTOOLS_METRICS_NAMESPACE`` (set by the template); the fallbacks keep a template
without a namespace from failing every metrics flush.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE_NAME = "thumbnails"
METRICS_NAMESPACE = "Thumbnails"

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE_NAME)
# Only botocore is patched for X-Ray: the default also patches requests and http.client, whose
# subsegments record exception text, and a failed frame download's text holds its presigned URL
# (X-Amz-Signature). Our own errors never carry URLs; tests/robustness/test_trace_secrets.py.
tracer = Tracer(
    service=os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE_NAME, patch_modules=("botocore",)
)
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or METRICS_NAMESPACE)
