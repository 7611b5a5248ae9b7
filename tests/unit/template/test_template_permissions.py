"""Each function's role, as SAM generates it, names only this stack's resources.

Asserted on SAM's own translation of the template
(`tests.support.template_support.sam_translated`), where the policy templates, the statements
SAM adds for event sources and the managed policies it attaches are visible. An allowed
statement names resources of the stack, or the ones the stack is given by parameter (the
archive's bucket, the URL-signing secret, the archive's KMS key); ``"*"`` only for actions
that AWS documents as having no resource type (X-Ray's trace uploads: "Actions, resources, and
condition keys for AWS X-Ray",
https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsx-ray.html, where
an action without a resource type "must specify all resources ("*")")."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.template_support import (
    EXPECTED_MANAGED_POLICIES,
    as_list,
    managed_policies,
    read_template,
    resources_of,
    role_statements,
    sam_translated,
)

#: Parameters that name a resource the stack is given rather than creates.
GIVEN_RESOURCES = {
    "DataBucketName",
    "CloudFrontPrivateKeySecretArn",
    "RequestSigningSecretArn",
    "DataBucketKmsKeyArn",
}
#: Pseudo parameters an ARN is built from (they name no resource).
PSEUDO = {"AWS::Partition", "AWS::Region", "AWS::AccountId", "AWS::URLSuffix"}
#: Actions with no resource type (the X-Ray reference above): only "*" can name them.
WITHOUT_RESOURCE_TYPE = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:GetSamplingStatisticSummaries",
}
#: Consuming an SQS queue, as Lambda's event source mapping does with the function's role.
QUEUE_CONSUMER = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}


def _function_roles() -> dict[str, dict]:
    roles = resources_of(sam_translated(), "AWS::IAM::Role")
    functions = resources_of(sam_translated(), "AWS::Lambda::Function")
    named = {}
    for name, function in functions.items():
        role = function["Properties"]["Role"]
        assert role["Fn::GetAtt"][1] == "Arn"
        named[name] = roles[role["Fn::GetAtt"][0]]
    return named


def _stack_names() -> set[str]:
    return set(read_template()["Resources"]) | GIVEN_RESOURCES


def names_this_stacks_resource(value: object, local: frozenset[str] = frozenset()) -> bool:
    """Whether `value` (a Resource entry) is an ARN of this stack's resources only.

    ``Ref``/``Fn::GetAtt`` of a stack resource or a given one; an ``Fn::Sub`` whose variables
    are those, pseudo parameters or its own variables (`local`, each checked likewise), with
    no wildcard but a trailing ``/*`` (the objects of one named bucket); ``Fn::If`` with both
    branches such (or no value). A literal ARN or ``"*"`` names no resource of the stack.
    """
    if not isinstance(value, dict) or len(value) != 1:
        return False
    ((function, argument),) = value.items()
    if function == "Ref":
        return argument in _stack_names() or argument == "AWS::NoValue"
    if function == "Fn::GetAtt":
        return argument[0] in read_template()["Resources"]
    if function == "Fn::If":
        _condition, *branches = argument
        return all(names_this_stacks_resource(b, local) for b in branches)
    if function == "Fn::Sub":
        if isinstance(argument, list):
            text, variables = argument
            if not all(names_this_stacks_resource(v) for v in variables.values()):
                return False
            local = local | frozenset(variables)
        else:
            text = argument
        named = [v.split(".")[0] for v in re.findall(r"\$\{([^}]+)\}", text)]
        if not named or not all(v in PSEUDO or v in local or v in _stack_names() for v in named):
            return False
        if not any(v not in PSEUDO for v in named):
            return False  # built from the account and region alone: any resource
        literal = re.sub(r"\$\{[^}]+\}", "", text)
        return "*" not in literal.removesuffix("/*") and not text.startswith("*")
    return False


@pytest.mark.parametrize("name", sorted(_function_roles()))
def test_every_allowed_statement_names_only_this_stacks_resources(name: str) -> None:
    for statement in role_statements(_function_roles()[name]):
        if statement["Effect"] != "Allow":
            continue
        for resource in as_list(statement["Resource"]):
            if resource == "*":
                assert set(as_list(statement["Action"])) <= WITHOUT_RESOURCE_TYPE, statement
            else:
                assert names_this_stacks_resource(resource), statement


@pytest.mark.parametrize("name", sorted(_function_roles()))
def test_no_managed_policy_but_tracing(name: str) -> None:
    # AWSLambdaSQSQueueExecutionRole, which SAM attaches for an SQS event, allows receiving
    # and deleting on every queue: the event source mapping is declared without SAM instead.
    arns = managed_policies(_function_roles()[name])
    assert arns <= EXPECTED_MANAGED_POLICIES
    assert not any("SQS" in arn for arn in arns)


@pytest.mark.parametrize(
    "resource",
    [
        "*",
        "arn:aws:s3:::*",
        "arn:aws:s3:::someone-elses-bucket/*",
        {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:*"},
        {"Fn::Sub": "arn:${AWS::Partition}:s3:::*"},
        {"Fn::Sub": "${ThumbnailBucket.Arn}*"},
        {"Fn::Sub": ["arn:${AWS::Partition}:s3:::${B}/*", {"B": "any-bucket"}]},
        {"Ref": "CorsAllowOrigin"},
    ],
)
def test_the_check_refuses_wildcards_and_other_resources(resource: object) -> None:
    assert not names_this_stacks_resource(resource)


def _statements_on(role: str, action_prefix: str) -> list[dict]:
    return [
        s
        for s in role_statements(_function_roles()[role])
        if any(a.startswith(action_prefix) for a in as_list(s["Action"]))
    ]


def test_pregeneration_reads_frame_objects_of_the_data_bucket_and_nothing_else_there() -> None:
    on_data = [
        s
        for s in _statements_on("PregenerateFunction", "s3:")
        if "DataBucket" in json.dumps(s["Resource"])
    ]
    bucket = {
        "Bucket": {"Fn::If": ["CreateDataBucket", {"Ref": "DataBucket"}, {"Ref": "DataBucketName"}]}
    }
    # GetObject on objects (a HEAD is a GetObject too): no versions, tags, lifecycle or writes.
    # ListBucket on the bucket alone: without it S3 answers a missing key 403, not 404, and an
    # event for a deleted frame would be retried into the DLQ instead of skipped.
    assert sorted((as_list(s["Action"]), s["Resource"]["Fn::Sub"]) for s in on_data) == [
        (["s3:GetObject"], ["arn:${AWS::Partition}:s3:::${Bucket}/*", bucket]),
        (["s3:ListBucket"], ["arn:${AWS::Partition}:s3:::${Bucket}", bucket]),
    ]


def test_pregeneration_consumes_its_own_queue_only() -> None:
    (statement,) = _statements_on("PregenerateFunction", "sqs:")
    assert set(as_list(statement["Action"])) == QUEUE_CONSUMER
    assert statement["Resource"] == {"Fn::GetAtt": ["PregenerateQueue", "Arn"]}
    ((name, mapping),) = resources_of(sam_translated(), "AWS::Lambda::EventSourceMapping").items()
    # SAM's name for the mapping of the former SQS event `FrameQueue`: a deployed stack's
    # mapping is kept, not replaced by a second one, which Lambda refuses.
    assert name == "PregenerateFunctionFrameQueue"
    assert mapping["Properties"]["EventSourceArn"] == statement["Resource"]
    assert mapping["Properties"]["FunctionName"] == {"Fn::Sub": "${PregenerateFunction.Arn}:live"}


def test_the_api_function_touches_no_queue_and_no_key() -> None:
    assert _statements_on("ThumbnailFunction", "sqs:") == []
    assert _statements_on("ThumbnailFunction", "kms:") == []


def test_the_archives_kms_key_is_usable_only_when_given_and_only_through_s3() -> None:
    role = _function_roles()["PregenerateFunction"]
    conditional = [
        s["Fn::If"]
        for policy in role["Properties"]["Policies"]
        for s in as_list(policy["PolicyDocument"]["Statement"])
        if "Fn::If" in s
    ]
    (if_given,) = [c for c in conditional if c[0] == "HasDataBucketKmsKey"]
    _condition, statement, otherwise = if_given
    assert otherwise == {"Ref": "AWS::NoValue"}
    assert statement["Action"] == "kms:Decrypt"
    assert statement["Resource"] == {"Ref": "DataBucketKmsKeyArn"}
    assert statement["Condition"] == {
        "StringEquals": {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.${AWS::URLSuffix}"}}
    }
    assert read_template()["Conditions"]["HasDataBucketKmsKey"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "DataBucketKmsKeyArn"}, ""]}]
    }
    assert read_template()["Parameters"]["DataBucketKmsKeyArn"]["Default"] == ""


@pytest.mark.parametrize("name", sorted(_function_roles()))
def test_each_function_writes_only_its_own_log_group(name: str) -> None:
    # Not AWSLambdaBasicExecutionRole, which SAM attaches to the roles it generates and which
    # allows creating and writing every log group of the account ("*").
    function = resources_of(sam_translated(), "AWS::Lambda::Function")[name]
    group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    logging = [
        s
        for s in role_statements(_function_roles()[name])
        if any(a.startswith("logs:") for a in as_list(s["Action"]))
    ]
    assert logging == [
        {
            "Sid": "OwnLogGroup",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": {"Fn::GetAtt": [group, "Arn"]},
        }
    ]
