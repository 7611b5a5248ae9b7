"""The SAM template deploys the code as written: handlers, settings, permissions, storage.

``template.yaml`` is read with SAM's own YAML loader (CloudFormation's ``!Ref``/``!Sub``/...
become ``{"Ref": ...}``/``{"Fn::Sub": ...}``), and, where the rule is about what SAM generates
(IAM roles), transformed by SAM's translator, offline.
"""

from __future__ import annotations

import importlib
import json
import re
import shlex
import tomllib
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from tests.support.template_support import (
    EVENTS,
    EXPECTED_MANAGED_POLICIES,
    ROOT,
    as_list,
    function_environment,
    functions,
    managed_policies,
    parameter,
    read_template,
    resources_of,
    role_statements,
    sam_translated,
)
from thumbnails import cache_keys
from thumbnails.settings import ENVIRONMENT

#: Variables Powertools reads, which the template must set as well as the service's own.
POWERTOOLS_ENVIRONMENT = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"}
#: Set by the template though no code default exists for them (Powertools' own knobs).
OPTIONAL_ENVIRONMENT = {"POWERTOOLS_LOG_LEVEL"}
#: Settings whose deployed default differs from the code's default, and why.
DEPLOYED_DIFFERENTLY = {
    # The code's default (http://localhost/) is for local runs; AWS talks to a real archive.
    ("ThumbnailFunction", "ARCHIVE_API_URL"),
    ("PregenerateFunction", "ARCHIVE_API_URL"),
    # The API function has 28 s in all (API Gateway's limit), not the code's 60 s per download.
    ("ThumbnailFunction", "DOWNLOAD_TIMEOUT"),
    # In AWS links are CloudFront signed URLs (S3 presigned ones die with the role session);
    # local runs and tests, with no distribution, keep S3's.
    ("ThumbnailFunction", "URL_SIGNER"),
    ("PregenerateFunction", "URL_SIGNER"),
}
# --- Handlers and settings -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(functions(read_template())))
def test_every_handler_in_the_template_imports_to_a_callable(template: dict, name: str) -> None:
    module_name, _, attribute = template["Resources"][name]["Properties"]["Handler"].rpartition(".")
    module = importlib.import_module(module_name)
    assert callable(getattr(module, attribute))


@pytest.mark.parametrize("name", sorted(functions(read_template())))
def test_every_setting_the_code_reads_is_set_for_every_function(template: dict, name: str) -> None:
    environment = function_environment(template, name)
    assert set(ENVIRONMENT) | POWERTOOLS_ENVIRONMENT <= set(environment)


@pytest.mark.parametrize("name", sorted(functions(read_template())))
def test_the_template_sets_no_variable_the_code_does_not_read(template: dict, name: str) -> None:
    known = set(ENVIRONMENT) | POWERTOOLS_ENVIRONMENT | OPTIONAL_ENVIRONMENT
    assert set(function_environment(template, name)) <= known


@pytest.mark.parametrize("name", sorted(functions(read_template())))
def test_deployed_defaults_equal_the_code_defaults_unless_deliberately_not(
    template: dict, name: str
) -> None:
    for variable, value in function_environment(template, name).items():
        if variable not in ENVIRONMENT or (name, variable) in DEPLOYED_DIFFERENTLY:
            continue
        source = parameter(template, value)
        if source is not None:
            assert str(source["Default"]) == ENVIRONMENT[variable], variable
        elif isinstance(value, str):
            assert value == ENVIRONMENT[variable], variable


def test_storage_url_is_empty_in_aws_so_the_real_s3_endpoint_is_used(template: dict) -> None:
    for name in functions(template):
        assert function_environment(template, name)["STORAGE_URL"] == ""


def test_the_functions_cache_into_the_stacks_thumbnail_bucket(template: dict) -> None:
    for name in functions(template):
        assert function_environment(template, name)["THUMBNAIL_BUCKET"] == {
            "Ref": "ThumbnailBucket"
        }


# --- The API -----------------------------------------------------------------------------------


def test_the_api_function_stops_before_api_gateway_gives_up_at_29_seconds(template: dict) -> None:
    timeout = parameter(
        template, template["Resources"]["ThumbnailFunction"]["Properties"]["Timeout"]
    )
    assert timeout["Default"] < 29
    assert timeout["MaxValue"] < 29
    download = parameter(
        template, function_environment(template, "ThumbnailFunction")["DOWNLOAD_TIMEOUT"]
    )
    assert download["MaxValue"] < timeout["MaxValue"]


def test_the_api_returns_image_bytes_as_binary(template: dict) -> None:
    api = template["Resources"]["ThumbnailApi"]["Properties"]
    binary = set(api["BinaryMediaTypes"])
    assert {"image~1jpeg", "image~1png", "image~1webp"} <= binary


def test_preflight_requests_reach_the_function_when_every_type_is_binary(template: dict) -> None:
    # SAM's own CORS mock integrations break (500) once "*/*" is a binary media type.
    api = template["Resources"]["ThumbnailApi"]["Properties"]
    if "*~1*" in api["BinaryMediaTypes"]:
        assert "Cors" not in api
        events = template["Resources"]["ThumbnailFunction"]["Properties"]["Events"].values()
        assert any(e["Type"] == "Api" and e["Properties"]["Method"] == "OPTIONS" for e in events)


def test_every_api_path_is_served_by_the_thumbnail_function(template: dict) -> None:
    events = template["Resources"]["ThumbnailFunction"]["Properties"]["Events"].values()
    routes = {(e["Properties"]["Path"], e["Properties"]["Method"]) for e in events}
    assert {("/", "GET"), ("/{proxy+}", "GET")} <= routes


def test_errors_api_gateway_makes_itself_are_readable_cross_origin(template: dict) -> None:
    # The origin of the function's own answers (CORS_ALLOW_ORIGIN: "*" or a list whose first
    # origin is the default), quoted as API Gateway wants a static header value.
    responses = template["Resources"]["ThumbnailApi"]["Properties"]["GatewayResponses"]
    assert function_environment(template, "ThumbnailFunction")["CORS_ALLOW_ORIGIN"] == {
        "Ref": "CorsAllowOrigin"
    }
    first_origin = {"Fn::Select": [0, {"Fn::Split": [",", {"Ref": "CorsAllowOrigin"}]}]}
    for kind in ("DEFAULT_4XX", "DEFAULT_5XX"):
        headers = responses[kind]["ResponseParameters"]["Headers"]
        assert headers["Access-Control-Allow-Origin"] == {
            "Fn::Sub": ["'${Origin}'", {"Origin": first_origin}]
        }


# --- Pregeneration -----------------------------------------------------------------------------


def queue_event_source(template: dict) -> dict:
    """The properties of the one event source mapping feeding pregeneration."""
    (mapping,) = resources_of(template, "AWS::Lambda::EventSourceMapping").values()
    # The alias "live" (AutoPublishAlias): the published version, with its SnapStart snapshot.
    assert mapping["Properties"]["FunctionName"] == {"Fn::Sub": "${PregenerateFunction.Arn}:live"}
    return mapping["Properties"]


def test_the_queue_hides_a_message_at_least_six_times_as_long_as_the_function_runs(
    template: dict,
) -> None:
    function = template["Resources"]["PregenerateFunction"]["Properties"]
    timeout = parameter(template, function["Timeout"])
    visibility = template["Resources"]["PregenerateQueue"]["Properties"]["VisibilityTimeout"]
    mapping, key, attribute = visibility["Fn::FindInMap"]
    assert key == function["Timeout"]
    for seconds in timeout["AllowedValues"]:
        assert template["Mappings"][mapping][seconds][attribute] >= 6 * int(seconds)


def test_a_frame_that_crashes_the_function_cannot_take_healthy_frames_to_the_dlq(
    template: dict,
) -> None:
    # A crash (segfault, out of memory) ends the invocation without a partial batch response:
    # every message of the batch is received again. One message per invocation by default.
    assert parameter(template, queue_event_source(template)["BatchSize"])["Default"] == 1


def test_failed_frames_are_retried_alone_then_dead_lettered(template: dict) -> None:
    event = queue_event_source(template)
    assert "Events" not in template["Resources"]["PregenerateFunction"]["Properties"]
    assert event["EventSourceArn"] == {"Fn::GetAtt": ["PregenerateQueue", "Arn"]}
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "MaximumConcurrency" in event["ScalingConfig"]
    redrive = template["Resources"]["PregenerateQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["PregenerateDeadLetterQueue", "Arn"]}
    assert parameter(template, redrive["maxReceiveCount"])["MinValue"] >= 1


def test_the_rule_forwards_every_key_so_frames_without_an_extension_arrive(template: dict) -> None:
    # The archive's older layouts ({sha1[:4]}/{basename}, {SITE}/{INST}/{DAYOBS}/{basename})
    # have no extension: pregeneration tells frames by name, Content-Type or first bytes.
    pattern = template["Resources"]["FrameCreatedRule"]["Properties"]["EventPattern"]
    assert "object" not in pattern["detail"]


def _rule_pattern_for(template: dict, bucket: str) -> dict:
    pattern = template["Resources"]["FrameCreatedRule"]["Properties"]["EventPattern"]
    (name,) = pattern["detail"]["bucket"]["name"]
    assert name == {
        "Fn::If": ["CreateDataBucket", {"Ref": "DataBucket"}, {"Ref": "DataBucketName"}]
    }
    pattern["detail"]["bucket"]["name"] = [bucket]
    return pattern


@pytest.mark.parametrize(
    ("key", "forwarded"),
    [
        ("raw/ogg0m406-kb27-20260101-0050-e91.fits.fz", True),
        ("raw/ogg0m406-kb27-20260101-0050-e91.fits", True),
        ("raw/ogg0m406-kb27-20260101-0050-e91.fits.gz", True),
        ("3f2a/ogg0m406-kb27-20260101-0050-e91", True),
        ("OGG/kb27/20260101/ogg0m406-kb27-20260101-0050-e91", True),
    ],
)
def test_new_objects_of_the_data_bucket_reach_the_queue_and_no_other_buckets(
    template: dict, key: str, forwarded: bool
) -> None:
    sample = json.loads((EVENTS / "eventbridge-object-created.json").read_text())
    bucket = sample["detail"]["bucket"]["name"]
    sample["detail"]["object"]["key"] = key
    with mock_aws():
        sqs = boto3.client("sqs")
        events = boto3.client("events")
        queue_url = sqs.create_queue(QueueName="pregenerate")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        events.put_rule(Name="frames", EventPattern=json.dumps(_rule_pattern_for(template, bucket)))
        events.put_targets(Rule="frames", Targets=[{"Id": "queue", "Arn": queue_arn}])
        other = dict(sample, detail=dict(sample["detail"], bucket={"name": "someone-else"}))
        for event in (sample, other):
            events.put_events(
                Entries=[
                    {
                        "Source": event["source"],
                        "DetailType": event["detail-type"],
                        "Detail": json.dumps(event["detail"]),
                        "Resources": event["resources"],
                    }
                ]
            )
        received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
    bodies = [json.loads(m["Body"]) for m in received]
    assert [b["detail"]["object"]["key"] for b in bodies] == ([key] if forwarded else [])
    assert all(b["detail"]["bucket"]["name"] == bucket for b in bodies)


def test_only_the_frame_rule_may_send_to_the_queue(template: dict) -> None:
    policy = template["Resources"]["PregenerateQueuePolicy"]["Properties"]
    assert policy["Queues"] == [{"Ref": "PregenerateQueue"}]
    allows = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert allows == [
        {
            "Sid": allows[0]["Sid"],
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": {"Fn::GetAtt": ["PregenerateQueue", "Arn"]},
            "Condition": {
                "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["FrameCreatedRule", "Arn"]}}
            },
        }
    ]


def test_demo_mode_creates_a_data_bucket_that_notifies_eventbridge(template: dict) -> None:
    assert template["Conditions"]["CreateDataBucket"] == {
        "Fn::Equals": [{"Ref": "DataBucketName"}, ""]
    }
    assert template["Parameters"]["DataBucketName"]["Default"] == ""
    bucket = template["Resources"]["DataBucket"]
    assert bucket["Condition"] == "CreateDataBucket"
    notifications = bucket["Properties"]["NotificationConfiguration"]
    assert notifications["EventBridgeConfiguration"]["EventBridgeEnabled"] is True


# --- Storage -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(resources_of(read_template(), "AWS::S3::Bucket")))
def test_every_bucket_is_encrypted_private_and_owner_enforced(template: dict, name: str) -> None:
    bucket = template["Resources"][name]["Properties"]
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]


@pytest.mark.parametrize("name", sorted(resources_of(read_template(), "AWS::S3::Bucket")))
def test_every_bucket_refuses_requests_without_tls(template: dict, name: str) -> None:
    (policy,) = [
        p["Properties"]
        for p in resources_of(template, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": name}
    ]
    arn = {"Fn::GetAtt": [name, "Arn"]}
    objects = {"Fn::Sub": f"${{{name}.Arn}}/*"}
    assert {
        "Sid": "TlsOnly",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arn, objects],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    } in policy["PolicyDocument"]["Statement"]


def _lifecycle_rules(template: dict) -> tuple[dict, dict]:
    """The thumbnail bucket's rules: (every object's, superseded objects')."""
    rules = template["Resources"]["ThumbnailBucket"]["Properties"]["LifecycleConfiguration"]
    untagged = [r for r in rules["Rules"] if "TagFilters" not in r]
    tagged = [r for r in rules["Rules"] if "TagFilters" in r]
    assert len(untagged) == len(tagged) == 1, rules
    return untagged[0], tagged[0]


def test_cached_thumbnails_expire_but_not_before_the_urls_handed_out_for_them(
    template: dict,
) -> None:
    rule, _ = _lifecycle_rules(template)
    assert rule["Status"] == "Enabled"
    assert "Prefix" not in rule and "Filter" not in rule  # every object, tagged or not
    days = parameter(template, rule["ExpirationInDays"])
    expiry = template["Parameters"]["PresignedUrlExpiry"]
    assert days["MinValue"] * 86400 > expiry["MaxValue"]


@pytest.mark.parametrize("name", sorted(functions(read_template())))
def test_the_functions_know_the_lifecycle_expiry_they_refresh_against(
    template: dict, name: str
) -> None:
    rule, _ = _lifecycle_rules(template)
    setting = function_environment(template, name)["THUMBNAIL_EXPIRATION_DAYS"]
    assert setting == rule["ExpirationInDays"] == {"Ref": "ThumbnailExpirationDays"}


def test_superseded_thumbnails_expire_by_the_tag_the_code_writes_after_every_link(
    template: dict,
) -> None:
    # Pregeneration marks with cache_keys.SUPERSEDED; the API refreshes a marked object it
    # still names against SUPERSEDED_EXPIRATION_DAYS. Both must be what the rule says.
    _, rule = _lifecycle_rules(template)
    assert rule["Status"] == "Enabled"
    assert rule["TagFilters"] == [
        {"Key": cache_keys.SUPERSEDED, "Value": cache_keys.SUPERSEDED_VALUE}
    ]
    assert rule["ExpirationInDays"] == cache_keys.SUPERSEDED_EXPIRATION_DAYS
    assert "Prefix" not in rule and "Filter" not in rule  # the whole bucket
    # A day more than the longest link signed before the mark (or the last refresh).
    longest_link = template["Parameters"]["PresignedUrlExpiry"]["MaxValue"]
    assert rule["ExpirationInDays"] * 86400 >= longest_link + 86400
    # ... and sooner than every object's rule, or marking would keep nothing shorter.
    days = template["Parameters"]["ThumbnailExpirationDays"]
    assert rule["ExpirationInDays"] <= days["MinValue"]


def test_the_lifecycle_rules_are_accepted_by_s3_as_written(template: dict) -> None:
    # The CloudFormation rules as the S3 API spells them, applied to a (moto) bucket.
    untagged, tagged = _lifecycle_rules(template)
    days = template["Parameters"]["ThumbnailExpirationDays"]["Default"]
    rules = [
        {
            "ID": untagged["Id"],
            "Status": untagged["Status"],
            "Filter": {"Prefix": ""},
            "Expiration": {"Days": days},
            "AbortIncompleteMultipartUpload": {
                "DaysAfterInitiation": untagged["AbortIncompleteMultipartUpload"][
                    "DaysAfterInitiation"
                ]
            },
        },
        {
            "ID": tagged["Id"],
            "Status": tagged["Status"],
            "Filter": {"Tag": tagged["TagFilters"][0]},
            "Expiration": {"Days": tagged["ExpirationInDays"]},
        },
    ]
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="lifecycle")
        s3.put_bucket_lifecycle_configuration(
            Bucket="lifecycle", LifecycleConfiguration={"Rules": rules}
        )
        stored = s3.get_bucket_lifecycle_configuration(Bucket="lifecycle")["Rules"]
    assert {r["ID"]: r["Filter"] for r in stored}[tagged["Id"]] == {
        "Tag": {"Key": cache_keys.SUPERSEDED, "Value": cache_keys.SUPERSEDED_VALUE}
    }


# --- Permissions -------------------------------------------------------------------------------


def _roles() -> dict[str, dict]:
    return resources_of(sam_translated(), "AWS::IAM::Role")


def _is_wildcard_action(action: object) -> bool:
    return isinstance(action, str) and (action == "*" or action.endswith(":*"))


@pytest.mark.parametrize("name", sorted(_roles()))
def test_no_role_allows_every_action_or_every_resource(name: str) -> None:
    role = _roles()[name]
    for statement in role_statements(role):
        if statement["Effect"] != "Allow":
            continue
        assert not any(_is_wildcard_action(a) for a in as_list(statement["Action"])), statement
        assert "*" not in as_list(statement["Resource"]), statement
    assert managed_policies(role) <= EXPECTED_MANAGED_POLICIES


def test_the_api_function_can_touch_only_the_thumbnail_bucket() -> None:
    # The archive hands out presigned download URLs, so the API never reads the data bucket.
    statements = role_statements(_roles()["ThumbnailFunctionRole"])
    resources = json.dumps([s["Resource"] for s in statements])
    assert "ThumbnailBucket" in resources
    assert "DataBucket" not in resources
    actions = {a for s in statements for a in as_list(s["Action"])}
    assert actions == {
        "s3:GetObject",
        "s3:PutObject",
        "s3:GetObjectTagging",  # a refresh copies the tags: a superseded object stays marked
        "s3:PutObjectTagging",
        "s3:ListBucket",
        "secretsmanager:GetSecretValue",
        "logs:CreateLogStream",  # its own log group only (below)
        "logs:PutLogEvents",
    }
    secrets = [s for s in statements if "secretsmanager:GetSecretValue" in as_list(s["Action"])]
    for secret in secrets:
        assert secret["Action"] == "secretsmanager:GetSecretValue"  # read only
    # Those secrets only: the CloudFront key, and the request signing secret.
    assert [s["Resource"] for s in secrets] == [
        {"Ref": "CloudFrontPrivateKeySecretArn"},
        {"Ref": "RequestSigningSecretArn"},
    ]


def test_pregeneration_tags_thumbnails_and_deletes_none() -> None:
    statements = role_statements(_roles()["PregenerateFunctionRole"])
    on_cache = [s for s in statements if "ThumbnailBucket" in json.dumps(s["Resource"])]
    actions = {a for s in on_cache for a in as_list(s["Action"])}
    assert actions == {"s3:GetObject", "s3:PutObject", "s3:PutObjectTagging", "s3:ListBucket"}


def test_pregeneration_reads_the_data_bucket_and_never_writes_it() -> None:
    statements = role_statements(_roles()["PregenerateFunctionRole"])
    on_data = [s for s in statements if "DataBucket" in json.dumps(s["Resource"])]
    assert on_data
    writes = {"s3:PutObject", "s3:DeleteObject", "s3:PutObjectAcl", "s3:PutLifecycleConfiguration"}
    assert not writes & {a for s in on_data for a in as_list(s["Action"])}


# --- The layer and the runtime -----------------------------------------------------------------


def _requirements(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


@pytest.mark.parametrize(
    "path", ["layers/scientific/requirements.txt", "functions/thumbnails/requirements.txt"]
)
def test_deployed_requirements_are_pinned_to_exact_versions(path: str) -> None:
    requirements = _requirements(ROOT / path)
    assert requirements
    for requirement in requirements:
        assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[A-Za-z0-9_.+]+", requirement), requirement


def test_the_layer_is_built_for_the_functions_runtime_and_architecture(template: dict) -> None:
    runtime = template["Globals"]["Function"]["Runtime"]
    assert template["Globals"]["Function"]["Architectures"] == ["arm64"]
    layer = template["Resources"]["ScientificLayer"]
    assert layer["Properties"]["CompatibleRuntimes"] == [runtime]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    makefile = (ROOT / layer["Properties"]["ContentUri"] / "Makefile").read_text()
    assert re.search(r"^build-ScientificLayer:", makefile, re.MULTILINE)
    assert f"--python-version {runtime.removeprefix('python')}" in makefile
    assert "--only-binary=:all:" in makefile
    assert "ARCH ?= aarch64" in makefile
    for function in functions(template).values():
        assert "Runtime" not in function["Properties"]  # one runtime, from Globals


def test_the_function_package_leaves_the_scientific_stack_to_the_layer() -> None:
    names = {
        re.split(r"[=<>\[]", r)[0].lower()
        for r in _requirements(ROOT / "functions/thumbnails/requirements.txt")
    }
    layer = {
        re.split(r"[=<>\[]", r)[0].lower()
        for r in _requirements(ROOT / "layers/scientific/requirements.txt")
    }
    assert {"numpy", "astropy", "pillow"} <= layer
    assert not names & layer


def test_the_outputs_name_everything_an_operator_needs(template: dict) -> None:
    assert {
        "ApiUrl",
        "ThumbnailBucketName",
        "DataBucketName",
        "PregenerateQueueUrl",
        "PregenerateQueueName",
        "DeadLetterQueueName",
    } <= set(template["Outputs"])


# --- Events ------------------------------------------------------------------------------------


def _event_files() -> list[str]:
    return sorted(p.name for p in EVENTS.glob("*.json"))


@pytest.mark.parametrize("name", _event_files())
def test_every_event_file_is_json_and_described_in_the_events_readme(name: str) -> None:
    json.loads((EVENTS / name).read_text())
    assert f"`{name}`" in (EVENTS / "README.md").read_text()


@pytest.mark.parametrize("readme", ["README.md", "events/README.md"])
def test_every_event_a_readme_mentions_exists(readme: str) -> None:
    text = (ROOT / readme).read_text()
    mentioned = set(re.findall(r"events/([\w.\-]+\.json)", text))
    if readme.startswith("events/"):
        mentioned |= set(re.findall(r"`([\w.\-]+\.json)`", text))
    assert mentioned <= set(_event_files())


# --- samconfig.toml ----------------------------------------------------------------------------


def _overrides(text: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in shlex.split(text))


@pytest.mark.parametrize("environment", ["default", "prod"])
def test_each_deployment_environment_deploys_with_a_changeset_review(
    template: dict, environment: str
) -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())[environment]
    assert config["global"]["parameters"]["stack_name"]
    assert config["global"]["parameters"]["region"]
    deploy = config["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["resolve_s3"] is True
    assert deploy["confirm_changeset"] is True
    assert set(_overrides(deploy["parameter_overrides"])) <= set(template["Parameters"])


def test_only_the_default_environment_runs_in_demo_mode() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert "DataBucketName" not in _overrides(
        config["default"]["deploy"]["parameters"]["parameter_overrides"]
    )
    assert _overrides(config["prod"]["deploy"]["parameters"]["parameter_overrides"])[
        "DataBucketName"
    ]


# --- CloudFront ----------------------------------------------------------------------------------


def _distribution(template: dict) -> dict:
    return template["Resources"]["ThumbnailDistribution"]["Properties"]["DistributionConfig"]


def test_links_are_cloudfront_signed_urls_by_default(template: dict) -> None:
    assert template["Parameters"]["UrlSigner"]["Default"] == "cloudfront"
    assert template["Parameters"]["UrlSigner"]["AllowedValues"] == ["cloudfront", "s3"]
    for name in functions(template):
        environment = function_environment(template, name)
        assert environment["URL_SIGNER"] == {"Ref": "UrlSigner"}
        domain = json.dumps(environment["CLOUDFRONT_DOMAIN"])
        assert '["ThumbnailDistribution", "DomainName"]' in domain
        assert '"CustomDomainName"' in domain
        assert environment["CLOUDFRONT_KEY_PAIR_ID"] == {"Ref": "CloudFrontKeyPairId"}
        assert environment["CLOUDFRONT_PRIVATE_KEY_SECRET"] == {
            "Ref": "CloudFrontPrivateKeySecretArn"
        }


def test_cloudfront_signing_cannot_be_deployed_without_its_key(template: dict) -> None:
    rule = template["Rules"]["CloudFrontSigningNeedsAKey"]
    asserted = json.dumps(rule["Assertions"])
    for name in ("CloudFrontKeyPairId", "CloudFrontPrivateKeySecretArn", "CloudFrontPublicKeyIds"):
        assert name in asserted


def test_the_cloudfront_resources_exist_only_when_links_are_signed_by_cloudfront(
    template: dict,
) -> None:
    cloudfront = {
        name
        for name, resource in template["Resources"].items()
        if resource["Type"].startswith("AWS::CloudFront::")
    }
    assert cloudfront == {
        "ThumbnailDistribution",
        "ThumbnailOriginAccessControl",
        "ThumbnailKeyGroup",
    }
    for name in cloudfront:
        assert template["Resources"][name]["Condition"] == "UseCloudFront"


def test_the_distribution_serves_the_bucket_over_https_to_signed_urls_only(template: dict) -> None:
    config = _distribution(template)
    [origin] = config["Origins"]
    assert origin["DomainName"] == {"Fn::GetAtt": ["ThumbnailBucket", "RegionalDomainName"]}
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["ThumbnailOriginAccessControl", "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # OAC, not the legacy OAI
    behaviour = config["DefaultCacheBehavior"]
    assert behaviour["TargetOriginId"] == origin["Id"]
    assert behaviour["ViewerProtocolPolicy"] == "https-only"
    assert behaviour["AllowedMethods"] == ["GET", "HEAD"]
    assert behaviour["Compress"] is False  # images are compressed already
    assert behaviour["TrustedKeyGroups"] == [{"Ref": "ThumbnailKeyGroup"}]
    assert "CacheBehaviors" not in config  # no path escapes the signature check
    assert config["HttpVersion"] == "http2and3"
    assert config["Enabled"] is True


def test_the_origin_access_control_signs_every_request_to_s3(template: dict) -> None:
    oac = template["Resources"]["ThumbnailOriginAccessControl"]["Properties"]
    config = oac["OriginAccessControlConfig"]
    assert config["OriginAccessControlOriginType"] == "s3"
    assert config["SigningBehavior"] == "always"
    assert config["SigningProtocol"] == "sigv4"


def test_the_key_group_trusts_the_keys_given_current_and_next(template: dict) -> None:
    group = template["Resources"]["ThumbnailKeyGroup"]["Properties"]["KeyGroupConfig"]
    assert group["Items"] == {"Ref": "CloudFrontPublicKeyIds"}
    assert template["Parameters"]["CloudFrontPublicKeyIds"]["Type"] == "CommaDelimitedList"


def test_a_custom_domain_comes_with_its_certificate(template: dict) -> None:
    config = _distribution(template)
    assert config["Aliases"]["Fn::If"][0] == "HasCustomDomain"
    with_domain, without = config["ViewerCertificate"]["Fn::If"][1:]
    assert with_domain["AcmCertificateArn"] == {"Ref": "CustomDomainCertificateArn"}
    assert with_domain["SslSupportMethod"] == "sni-only"
    assert without == {"CloudFrontDefaultCertificate": True}


def test_the_bucket_lets_only_that_distribution_read_and_nobody_else(template: dict) -> None:
    policy = template["Resources"]["ThumbnailBucketPolicy"]["Properties"]["PolicyDocument"]
    allows = []
    for statement in policy["Statement"]:
        if "Fn::If" in statement:
            condition, when, otherwise = statement["Fn::If"]
            assert condition == "UseCloudFront"
            assert otherwise == {"Ref": "AWS::NoValue"}
            statement = when
        if statement["Effect"] == "Allow":
            allows.append(statement)
    [allow] = allows
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject"
    assert allow["Resource"] == {"Fn::Sub": "${ThumbnailBucket.Arn}/*"}
    source = allow["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    assert source.endswith(":distribution/${ThumbnailDistribution}")
