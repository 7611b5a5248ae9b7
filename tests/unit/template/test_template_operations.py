"""What running the stack in production needs: capped concurrency, access logs, TLS, safe
parameters. Read with SAM's YAML loader (and, for the API's stage, SAM's translation), as in
``test_template.py``.
"""

from __future__ import annotations

import copy
import json
import re

import pytest

from tests.support.template_support import parameter, read_template, resources_of, sam_translated

#: CloudFront's managed SecurityHeadersPolicy (HSTS, nosniff, frame options, referrer policy):
#: "Use managed response headers policies", Amazon CloudFront Developer Guide.
SECURITY_HEADERS_POLICY = "67f7725c-6f97-4210-82d7-5512b31e9d03"
#: Access log fields and the API Gateway $context variables they hold ("Variables for access
#: logging for API Gateway", Amazon API Gateway Developer Guide).
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "sourceIp": "$context.identity.sourceIp",
    "status": "$context.status",
    "responseLatency": "$context.responseLatency",
    "integrationError": "$context.integration.error",
    "tlsVersion": "$context.tlsVersion",
}


@pytest.fixture
def template() -> dict:
    return copy.deepcopy(read_template())


def _function(template: dict, name: str) -> dict:
    return template["Resources"][name]["Properties"]


# --- concurrency -------------------------------------------------------------------------------


def test_the_api_functions_concurrency_is_reserved_and_capped(template: dict) -> None:
    reserved = parameter(
        template, _function(template, "ThumbnailFunction")["ReservedConcurrentExecutions"]
    )
    assert reserved is not None
    assert reserved["MinValue"] >= 1  # 0 would stop the API
    # At least the stage's steady rate for ~1 s misses, and well below the account's default
    # quota of 1,000 (of which 100 must stay unreserved).
    rate = template["Parameters"]["ApiThrottlingRateLimit"]["Default"]
    assert rate <= reserved["Default"] <= 500


def test_pregeneration_reserves_at_least_what_its_event_source_may_start(template: dict) -> None:
    (mapping,) = resources_of(template, "AWS::Lambda::EventSourceMapping").values()
    maximum = mapping["Properties"]["ScalingConfig"]["MaximumConcurrency"]
    reserved = _function(template, "PregenerateFunction")["ReservedConcurrentExecutions"]
    # The same parameter: equal for every value it can take, so the pollers are never throttled.
    assert reserved == maximum == {"Ref": "PregenerateMaxConcurrency"}


# --- the API's logs ----------------------------------------------------------------------------


def _stage() -> dict:
    (stage,) = resources_of(sam_translated(), "AWS::ApiGateway::Stage").values()
    return stage["Properties"]


def test_the_api_writes_a_json_access_log_line_per_request_to_a_group_with_retention(
    template: dict,
) -> None:
    setting = _stage()["AccessLogSetting"]
    group = setting["DestinationArn"]["Fn::GetAtt"]
    assert group[1] == "Arn"
    log_group = template["Resources"][group[0]]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
    fields = json.loads(setting["Format"])
    for field, variable in ACCESS_LOG_FIELDS.items():
        assert fields[field] == variable
    # Nothing a caller sends in a header (Authorization) or a body is logged.
    assert not re.search(r"\$input|\$context\.requestOverride|header", setting["Format"], re.I)


def test_execution_logging_is_errors_only_and_never_logs_requests() -> None:
    # DataTraceEnabled would log whole requests, callers' Authorization headers included.
    (settings,) = _stage()["MethodSettings"]
    assert (settings["ResourcePath"], settings["HttpMethod"]) == ("/*", "*")
    assert settings["LoggingLevel"] == "ERROR"
    assert settings["DataTraceEnabled"] is False
    assert settings["MetricsEnabled"] is True


def test_every_log_group_expires(template: dict) -> None:
    for name, group in resources_of(template, "AWS::Logs::LogGroup").items():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionInDays"}, name


# --- queues and buckets ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(resources_of(read_template(), "AWS::SQS::Queue")))
def test_every_queue_refuses_requests_without_tls(template: dict, name: str) -> None:
    (policy,) = [
        p["Properties"]
        for p in resources_of(template, "AWS::SQS::QueuePolicy").values()
        if {"Ref": name} in p["Properties"]["Queues"]
    ]
    assert {
        "Sid": "TlsOnly",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sqs:*",
        "Resource": {"Fn::GetAtt": [name, "Arn"]},
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    } in policy["PolicyDocument"]["Statement"]


@pytest.mark.parametrize("name", sorted(resources_of(read_template(), "AWS::S3::BucketPolicy")))
def test_a_bucket_policy_lives_as_long_as_its_bucket(template: dict, name: str) -> None:
    policy = template["Resources"][name]
    bucket = template["Resources"][policy["Properties"]["Bucket"]["Ref"]]
    for attribute in ("DeletionPolicy", "UpdateReplacePolicy"):
        # Absent means Delete for both.
        assert policy.get(attribute, "Delete") == bucket.get(attribute, "Delete"), attribute


def test_a_frame_is_received_at_least_five_times_before_the_dead_letter_queue(
    template: dict,
) -> None:
    # AWS's advice for an SQS event source: maxReceiveCount of at least 5, as throttled and
    # failed receives count alike.
    count = template["Parameters"]["MaxReceiveCount"]
    assert count["Default"] >= 5
    assert count["MinValue"] >= 5


# --- parameters --------------------------------------------------------------------------------


def _accepts(template: dict, name: str, value: str) -> bool:
    # CloudFormation matches AllowedPattern against the whole value.
    return re.fullmatch(template["Parameters"][name]["AllowedPattern"], value) is not None


@pytest.mark.parametrize(
    "name", sorted(n for n, p in read_template()["Parameters"].items() if "AllowedPattern" in p)
)
def test_every_default_matches_its_own_pattern(template: dict, name: str) -> None:
    assert _accepts(template, name, str(template["Parameters"][name]["Default"]))


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        ("ArchiveApiUrl", "https://archive-api.lco.global/", True),
        # Callers' Authorization headers are sent to the archive: never in clear text.
        ("ArchiveApiUrl", "http://archive-api.lco.global/", False),
        ("ArchiveApiUrl", "archive-api.lco.global", False),
        (
            "CloudFrontPrivateKeySecretArn",
            "arn:aws:secretsmanager:us-west-2:123456789012:secret:thumbnails/cf-AbCdEf",
            True,
        ),
        ("CloudFrontPrivateKeySecretArn", "thumbnails/cloudfront-key", False),
        ("CloudFrontPrivateKeySecretArn", "arn:aws:s3:::bucket", False),
        (
            "CustomDomainCertificateArn",
            "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d",
            True,
        ),
        # CloudFront takes certificates from us-east-1 only.
        (
            "CustomDomainCertificateArn",
            "arn:aws:acm:us-west-2:123456789012:certificate/0a1b2c3d",
            False,
        ),
        ("DataBucketKmsKeyArn", "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab", True),
        ("DataBucketKmsKeyArn", "alias/archive", False),
        ("AlarmEmail", "ops@example.org", True),
        ("AlarmEmail", "CHANGE-ME", False),
    ],
)
def test_parameters_refuse_values_that_would_deploy_something_unsafe_or_broken(
    template: dict, name: str, value: str, accepted: bool
) -> None:
    assert _accepts(template, name, value) is accepted


# --- TLS and headers ---------------------------------------------------------------------------


def _distribution(template: dict) -> dict:
    return template["Resources"]["ThumbnailDistribution"]["Properties"]["DistributionConfig"]


def test_cloudfront_adds_the_security_headers(template: dict) -> None:
    behaviour = _distribution(template)["DefaultCacheBehavior"]
    assert behaviour["ResponseHeadersPolicyId"] == SECURITY_HEADERS_POLICY


def test_cloudfront_on_a_custom_domain_speaks_tls_1_2_or_later(template: dict) -> None:
    condition, with_domain, _default = _distribution(template)["ViewerCertificate"]["Fn::If"]
    assert condition == "HasCustomDomain"
    assert with_domain["MinimumProtocolVersion"] == "TLSv1.2_2021"


def test_the_apis_custom_domain_speaks_tls_1_2_or_later_and_serves_the_stage(
    template: dict,
) -> None:
    (domain_name,) = resources_of(template, "AWS::ApiGateway::DomainName")
    domain = template["Resources"][domain_name]
    assert domain["Condition"] == "HasApiDomain"
    assert domain["Properties"]["SecurityPolicy"] == "TLS_1_2"
    assert domain["Properties"]["DomainName"] == {"Ref": "ApiDomainName"}
    assert domain["Properties"]["RegionalCertificateArn"] == {"Ref": "ApiDomainCertificateArn"}
    (mapping,) = resources_of(sam_translated(), "AWS::ApiGateway::BasePathMapping").values()
    assert mapping["Condition"] == "HasApiDomain"
    assert mapping["Properties"]["DomainName"] == {"Ref": domain_name}
    assert mapping["Properties"]["RestApiId"] == {"Ref": "ThumbnailApi"}
    (stage,) = resources_of(sam_translated(), "AWS::ApiGateway::Stage")
    assert mapping["Properties"]["Stage"] == {"Ref": stage}


def test_the_outputs_name_the_distribution_the_alarm_topic_and_the_access_log(
    template: dict,
) -> None:
    outputs = template["Outputs"]
    assert outputs["DistributionId"]["Value"] == {"Ref": "ThumbnailDistribution"}
    assert outputs["DistributionId"]["Condition"] == "UseCloudFront"
    assert outputs["AlarmTopic"]["Value"] == {"Ref": "AlarmTopic"}
    assert outputs["ApiAccessLogGroup"]["Value"] == {"Ref": "ThumbnailApiAccessLogGroup"}
