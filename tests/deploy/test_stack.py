"""The built stack, created and deleted by LocalStack's CloudFormation engine (make test-deploy).

cfn-lint and ``sam validate`` (``make check-template``) check the template's shape; these tests
give the packaged template (``sam package`` of ``make build``'s output, code and layer uploaded
to a LocalStack bucket) to a CloudFormation engine and check what it made of it: the SAM
transform's output, references between resources, conditions, parameters. Twice, under one
stack name (so the second create also proves the first delete left nothing in its way): with
``UrlSigner=s3`` (the local parameters), then ``UrlSigner=cloudfront`` with dummy keys.

Each stack must reach CREATE_COMPLETE with every resource its conditions call for, every output
present, and the wiring the engine really creates: the EventBridge rule targets the queue, the
queue's event source mapping the pregeneration function with ReportBatchItemFailures, every API
method the API function (with its invoke permission), the alarms have actions and watch the
stack's own resources, the functions use the stack's layer and log groups, the buckets and
queues have their policies, the data bucket its EventBridge notifications. Then
DELETE_COMPLETE, with nothing left behind but what the template retains.

Not checked here: the template's ``Rules`` (LocalStack, like ``sam validate``, does not evaluate
them), CloudFront (not in LocalStack's community edition: its resources become placeholders,
allowed by `PLACEHOLDER_TYPES` and listed in the run's summary), IAM (LocalStack does not
enforce policies), and running the functions (``make test-lambda`` does). Nor the properties
LocalStack 2026.3.0's resource providers accept and drop (read in their source, and seen: the
engine answers with its defaults): a bucket's LifecycleConfiguration, BucketEncryption,
PublicAccessBlockConfiguration and OwnershipControls, a log group's RetentionInDays
(tests/unit/template/test_template.py checks the lifecycle rule and public access block as written).
A resource type that LocalStack skips and that is not on `PLACEHOLDER_TYPES` fails the run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .engine import (
    PLACEHOLDERS_SEEN,
    TEMPLATE_BUCKET,
    Conditions,
    Engine,
    Stack,
    create,
    delete,
)

ENDPOINT_VARIABLE = "THUMBNAILS_DEPLOY_ENDPOINT"
pytestmark = pytest.mark.skipif(
    not os.environ.get(ENDPOINT_VARIABLE),
    reason=f"needs LocalStack: run `make test-deploy` (sets {ENDPOINT_VARIABLE})",
)

STACK_NAME = "thumbnails-deploy-test"
#: Resource types LocalStack's community edition does not create (placeholders with a
#: warning): allowed, and listed in the summary. Any other skipped type fails the run.
PLACEHOLDER_TYPES = frozenset(
    {
        "AWS::CloudFront::Distribution",
        "AWS::CloudFront::KeyGroup",
        "AWS::CloudFront::OriginAccessControl",
    }
)
#: Parameters for both stacks, where the template has them (the rest take their defaults).
LOCAL_PARAMETERS: dict[str, str] = {}
#: A CloudFront public key id's shape; the key itself is never used (no URL is signed here).
DUMMY_KEY_ID = "K2DEPLOYTEST0AB"
DUMMY_EMAIL = "alarms@example.org"
API_HANDLER = "thumbnails.api.handler"
PREGENERATE_HANDLER = "thumbnails.pregenerate.handler"
#: CloudWatch alarm dimensions -> the resource type whose stack resources they must name.
DIMENSION_TYPES = {
    "QueueName": "AWS::SQS::Queue",
    "FunctionName": "AWS::Lambda::Function",
    "RuleName": "AWS::Events::Rule",
    "ApiName": "AWS::ApiGateway::RestApi",
    "Stage": "AWS::ApiGateway::Stage",
}


@dataclass
class Deployment:
    """A created stack and whether a test has deleted it."""

    scenario: str
    stack: Stack
    conditions: Conditions
    deleted: bool = False


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine(os.environ[ENDPOINT_VARIABLE])


@pytest.fixture(scope="session")
def packaged(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> str:
    output = tmp_path_factory.mktemp("packaged") / "packaged.yaml"
    return engine.package(TEMPLATE_BUCKET, output)


def parameters_for(scenario: str, engine: Engine, declared: dict[str, Any]) -> dict[str, str]:
    """The stack parameters of `scenario`, for the parameters the template declares."""
    wanted = dict(LOCAL_PARAMETERS)
    if scenario == "s3":
        wanted["UrlSigner"] = "s3"
    else:
        secrets = engine.client("secretsmanager")
        name = f"{STACK_NAME}-url-signing-key"
        try:
            secret = secrets.create_secret(
                Name=name, SecretString="dummy: make test-deploy signs no URL"
            )
        except secrets.exceptions.ResourceExistsException:  # a second run, same LocalStack
            secret = secrets.describe_secret(SecretId=name)
        wanted.update(
            UrlSigner="cloudfront",
            CloudFrontKeyPairId=DUMMY_KEY_ID,
            CloudFrontPublicKeyIds=DUMMY_KEY_ID,
            CloudFrontPrivateKeySecretArn=secret["ARN"],
        )
    # Alarm notifications on, whichever way the template takes them (a topic or an address),
    # so that every alarm must have its actions.
    if "AlarmTopicArn" in declared:
        topic = engine.client("sns").create_topic(Name=f"{STACK_NAME}-alarms")
        wanted["AlarmTopicArn"] = topic["TopicArn"]
    for name in declared:
        if "email" in name.lower():
            wanted[name] = DUMMY_EMAIL
    missing = [
        name for name, spec in declared.items() if "Default" not in spec and name not in wanted
    ]
    assert not missing, (
        f"template parameters without a default and no local value: {missing}; "
        "give them one in tests/deploy/test_stack.py (parameters_for)"
    )
    return {name: value for name, value in wanted.items() if name in declared}


@pytest.fixture(scope="module", params=["s3", "cloudfront"])
def deployment(request: pytest.FixtureRequest, engine: Engine, packaged: str) -> Iterator:
    scenario = request.param
    from samtranslator.yaml_helper import yaml_parse

    declared = yaml_parse(packaged).get("Parameters", {})
    parameters = parameters_for(scenario, engine, declared)
    stack = create(engine, STACK_NAME, packaged, parameters)
    if stack.status != "CREATE_COMPLETE":
        failures = "\n  ".join(stack.failures()) or "(no failed resource reported)"
        deleted_status, _ = delete(engine, stack)
        pytest.fail(
            f"{scenario}: the stack ended {stack.status} {stack.reason}\n  {failures}\n"
            f"(deleted again: {deleted_status}; LocalStack's warnings follow the run)"
        )
    PLACEHOLDERS_SEEN[scenario] = stack.placeholders()
    found = Deployment(scenario, stack, Conditions(stack.template, parameters))
    yield found
    if not found.deleted:  # an earlier failure: leave the name free for the next scenario
        delete(engine, stack)
        _remove_retained(engine, found)


def _template_resources(deployment: Deployment) -> dict[str, dict[str, Any]]:
    """The template's resources whose condition holds: logical id -> declaration."""
    return {
        logical: declaration
        for logical, declaration in deployment.stack.template["Resources"].items()
        if deployment.conditions.holds(declaration.get("Condition"))
    }


def _physical(deployment: Deployment, resource_type: str) -> dict[str, str]:
    """Physical ids of the stack's resources of `resource_type`: logical id -> physical id."""
    return {
        logical: summary["PhysicalResourceId"]
        for logical, summary in deployment.stack.of_type(resource_type).items()
    }


def _queue_arns(engine: Engine, deployment: Deployment) -> dict[str, str]:
    """The stack's queues: ARN -> logical id."""
    sqs = engine.client("sqs")
    return {
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]: logical
        for logical, url in _physical(deployment, "AWS::SQS::Queue").items()
    }


def _functions(engine: Engine, deployment: Deployment) -> dict[str, dict[str, Any]]:
    """The stack's functions' configurations, by handler."""
    aws_lambda = engine.client("lambda")
    found: dict[str, dict[str, Any]] = {}
    for name in _physical(deployment, "AWS::Lambda::Function").values():
        configuration = aws_lambda.get_function_configuration(FunctionName=name)
        found[configuration["Handler"]] = configuration
    return found


def _unqualified(function_arn: str) -> str:
    """A function's ARN without a version or alias qualifier."""
    parts = function_arn.split(":")
    return ":".join(parts[:7])


def test_the_stack_is_created_with_every_resource_its_conditions_call_for(
    deployment: Deployment,
) -> None:
    stack = deployment.stack
    incomplete = {
        logical: summary["ResourceStatus"]
        for logical, summary in stack.resources.items()
        if summary["ResourceStatus"] != "CREATE_COMPLETE"
    }
    assert not incomplete, f"{deployment.scenario}: resources not created: {incomplete}"
    declared = stack.template["Resources"]
    for logical, declaration in declared.items():
        holds = deployment.conditions.holds(declaration.get("Condition"))
        if declaration["Type"].startswith("AWS::Serverless::"):
            # The SAM transform names what it generates after the resource (plus a suffix).
            made = [name for name in stack.resources if name.startswith(logical)]
        else:
            made = [logical] if logical in stack.resources else []
        assert bool(made) == holds, (
            f"{deployment.scenario}: {logical} ({declaration['Type']}) "
            f"{'missing' if holds else 'created although its condition is false'}"
        )


def test_only_listed_resource_types_are_placeholders(deployment: Deployment) -> None:
    placeholders = deployment.stack.placeholders()
    unlisted = {
        logical: kind for logical, kind in placeholders.items() if kind not in PLACEHOLDER_TYPES
    }
    assert not unlisted, (
        f"{deployment.scenario}: LocalStack did not create {unlisted} (placeholders): a resource "
        "type it cannot deploy; if that is acceptable, add it to PLACEHOLDER_TYPES with a reason"
    )
    if deployment.scenario == "cloudfront":
        # The CloudFront resources exist in this scenario: as placeholders, not skipped.
        cloudfront = {
            logical
            for logical, declaration in _template_resources(deployment).items()
            if declaration["Type"].startswith("AWS::CloudFront::")
        }
        assert cloudfront <= set(deployment.stack.resources), cloudfront


def test_every_output_is_present_and_names_its_resource(deployment: Deployment) -> None:
    stack = deployment.stack
    expected = {
        name
        for name, output in stack.template.get("Outputs", {}).items()
        if deployment.conditions.holds(output.get("Condition"))
    }
    assert set(stack.outputs) == expected, (
        f"{deployment.scenario}: outputs missing {sorted(expected - set(stack.outputs))}, "
        f"unexpected {sorted(set(stack.outputs) - expected)}"
    )
    empty = [name for name in expected if not stack.outputs[name]]
    assert not empty, f"{deployment.scenario}: empty outputs {empty}"
    for name in expected:
        value = stack.template["Outputs"][name]["Value"]
        if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in stack.resources:
            physical = stack.resources[value["Ref"]]["PhysicalResourceId"]
            assert stack.outputs[name] == physical, (name, stack.outputs[name], physical)
    api_url = stack.outputs.get("ApiUrl")
    if api_url is not None:
        (api_id,) = _physical(deployment, "AWS::ApiGateway::RestApi").values()
        assert api_url.startswith(f"https://{api_id}.execute-api."), api_url


def test_both_functions_are_prepared_with_the_stack_layer_and_log_group(
    engine: Engine, deployment: Deployment
) -> None:
    functions = _functions(engine, deployment)
    assert {API_HANDLER, PREGENERATE_HANDLER} <= set(functions), sorted(functions)
    layers = set(_physical(deployment, "AWS::Lambda::LayerVersion").values())
    log_groups = set(_physical(deployment, "AWS::Logs::LogGroup").values())
    for handler, configuration in functions.items():
        # Active: the engine unpacked the uploaded code (tests/deploy/localstack_executor).
        assert configuration["State"] == "Active", (handler, configuration.get("StateReason"))
        used = {layer["Arn"] for layer in configuration.get("Layers", [])}
        assert used and used <= layers, f"{handler}: layers {used}, the stack's {layers}"
        group = configuration.get("LoggingConfig", {}).get("LogGroup")
        assert group in log_groups, f"{handler} logs to {group!r}, not a group of the stack"


def test_the_rule_sends_new_objects_of_the_data_bucket_to_the_queue(
    engine: Engine, deployment: Deployment
) -> None:
    events = engine.client("events")
    queues = _queue_arns(engine, deployment)
    rules = _physical(deployment, "AWS::Events::Rule")
    assert rules, "no EventBridge rule in the stack"
    for logical, name in rules.items():
        targets = events.list_targets_by_rule(Rule=name)["Targets"]
        assert targets, f"{logical} has no target"
        for target in targets:
            assert target["Arn"] in queues, f"{logical} targets {target['Arn']}, not a stack queue"
            dead_letters = target.get("DeadLetterConfig", {}).get("Arn")
            if dead_letters is not None:
                assert dead_letters in queues, f"{logical}'s dead letters go to {dead_letters}"
        pattern = json.loads(events.describe_rule(Name=name)["EventPattern"])
        buckets = pattern.get("detail", {}).get("bucket", {}).get("name", [])
        s3 = engine.client("s3")
        for bucket in buckets:
            s3.head_bucket(Bucket=bucket)  # the rule watches a bucket that exists


def test_the_queue_feeds_the_pregeneration_function_reporting_batch_item_failures(
    engine: Engine, deployment: Deployment
) -> None:
    aws_lambda = engine.client("lambda")
    events = engine.client("events")
    functions = _functions(engine, deployment)
    queues = _queue_arns(engine, deployment)
    rule_targets = {
        target["Arn"]
        for name in _physical(deployment, "AWS::Events::Rule").values()
        for target in events.list_targets_by_rule(Rule=name)["Targets"]
    }
    mappings = _physical(deployment, "AWS::Lambda::EventSourceMapping")
    assert mappings, "no event source mapping in the stack"
    for logical, uuid in mappings.items():
        mapping = aws_lambda.get_event_source_mapping(UUID=uuid)
        assert mapping["EventSourceArn"] in rule_targets, (
            f"{logical} reads {mapping['EventSourceArn']}, a queue the rule does not fill"
        )
        assert (
            _unqualified(mapping["FunctionArn"]) == functions[PREGENERATE_HANDLER]["FunctionArn"]
        ), f"{logical} invokes {mapping['FunctionArn']}"
        responses = mapping.get("FunctionResponseTypes", [])
        assert "ReportBatchItemFailures" in responses, (
            f"{logical}: FunctionResponseTypes {responses}: a failed frame would fail its batch"
        )
        # And the queue hands a frame that keeps failing to a dead-letter queue of the stack.
        url = deployment.stack.resources[queues[mapping["EventSourceArn"]]]["PhysicalResourceId"]
        attributes = engine.client("sqs").get_queue_attributes(
            QueueUrl=url, AttributeNames=["RedrivePolicy"]
        )["Attributes"]
        redrive = json.loads(attributes.get("RedrivePolicy", "{}"))
        assert redrive.get("deadLetterTargetArn") in queues, f"{logical}'s queue: {redrive}"


def test_the_queue_policies_let_only_the_stack_rule_send(
    engine: Engine, deployment: Deployment
) -> None:
    sqs = engine.client("sqs")
    events = engine.client("events")
    rule_arns = {
        events.describe_rule(Name=name)["Arn"]
        for name in _physical(deployment, "AWS::Events::Rule").values()
    }
    declared = _template_resources(deployment)
    policies = {k: v for k, v in declared.items() if v["Type"] == "AWS::SQS::QueuePolicy"}
    for logical, declaration in policies.items():
        properties = deployment.conditions.resolve(declaration["Properties"])
        sids = {s.get("Sid") for s in properties["PolicyDocument"]["Statement"]}
        for queue in properties["Queues"]:
            url = deployment.stack.resources[queue["Ref"]]["PhysicalResourceId"]
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])
            policy = json.loads(attributes["Attributes"].get("Policy", "{}"))
            statements = policy.get("Statement", [])
            assert {s.get("Sid") for s in statements} == sids, (logical, statements)
            for statement in statements:
                source = statement.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn")
                if source is not None:
                    assert source in rule_arns, f"{logical}: {source} is not the stack's rule"


def test_every_api_method_invokes_the_api_function(engine: Engine, deployment: Deployment) -> None:
    apigateway = engine.client("apigateway")
    aws_lambda = engine.client("lambda")
    api_function = _functions(engine, deployment)[API_HANDLER]["FunctionArn"]
    for logical, api_id in _physical(deployment, "AWS::ApiGateway::RestApi").items():
        items = apigateway.get_resources(restApiId=api_id, limit=500)["items"]
        methods = [(item, method) for item in items for method in item.get("resourceMethods", {})]
        assert methods, f"{logical} has no method"
        qualifiers = set()
        for item, method in methods:
            integration = apigateway.get_integration(
                restApiId=api_id, resourceId=item["id"], httpMethod=method
            )
            assert integration["type"] == "AWS_PROXY", (item["path"], method, integration["type"])
            # arn:...:apigateway:REGION:lambda:path/2015-03-31/functions/FUNCTION/invocations
            invoked = integration["uri"].split("/functions/", 1)[-1].split("/invocations")[0]
            assert invoked == api_function or invoked.startswith(f"{api_function}:"), (
                f"{method} {item['path']} invokes {invoked}, not the API function {api_function}"
            )
            qualifiers.add(invoked[len(api_function) + 1 :])
        # API Gateway may invoke what the integrations name (the function, or an alias of
        # it): a permission naming this API.
        (qualifier,) = qualifiers
        policy = json.loads(
            aws_lambda.get_policy(
                FunctionName=api_function, **({"Qualifier": qualifier} if qualifier else {})
            )["Policy"]
        )
        allowed = [
            s
            for s in policy["Statement"]
            if s.get("Principal", {}).get("Service") == "apigateway.amazonaws.com"
            and f":{api_id}/" in json.dumps(s.get("Condition", {}))
        ]
        assert allowed, f"the API function has no permission for {logical}: {policy}"


def test_every_alarm_notifies_and_watches_a_resource_of_the_stack(
    engine: Engine, deployment: Deployment
) -> None:
    cloudwatch = engine.client("cloudwatch")
    sns = engine.client("sns")
    names: dict[str, set[str]] = {}
    for dimension, resource_type in DIMENSION_TYPES.items():
        names[dimension] = set(_physical(deployment, resource_type).values())
    names["QueueName"] = {url.rsplit("/", 1)[-1] for url in names["QueueName"]}
    names["ApiName"] = {
        engine.client("apigateway").get_rest_api(restApiId=api_id)["name"]
        for api_id in names["ApiName"]
    }
    names["RuleName"] = set(names["RuleName"])
    alarms = _physical(deployment, "AWS::CloudWatch::Alarm")
    assert alarms, "no alarm in the stack"
    for logical, name in alarms.items():
        found = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        assert len(found) == 1, f"{logical}: alarm {name} not found"
        (alarm,) = found
        actions = alarm.get("AlarmActions", [])
        assert actions, f"{logical} notifies no one"
        for action in actions:
            sns.get_topic_attributes(TopicArn=action)  # a topic that exists
        for dimension in alarm.get("Dimensions", []):
            assert dimension["Name"] in names, (
                f"{logical}: dimension {dimension['Name']} unknown to this test; add it to "
                "DIMENSION_TYPES"
            )
            assert dimension["Value"] in names[dimension["Name"]], (
                f"{logical} watches {dimension['Name']}={dimension['Value']}, not one of the "
                f"stack's {sorted(names[dimension['Name']])}"
            )


def test_the_buckets_have_their_policies_and_eventbridge_notifications(
    engine: Engine, deployment: Deployment
) -> None:
    s3 = engine.client("s3")
    declared = _template_resources(deployment)
    buckets = _physical(deployment, "AWS::S3::Bucket")
    assert buckets, "no bucket in the stack"
    for logical, name in buckets.items():
        properties = deployment.conditions.resolve(declared[logical].get("Properties", {}))
        bridge = properties.get("NotificationConfiguration", {}).get("EventBridgeConfiguration")
        if bridge is not None and bridge.get("EventBridgeEnabled") in (True, "true"):
            got = s3.get_bucket_notification_configuration(Bucket=name)
            assert "EventBridgeConfiguration" in got, f"{logical}: EventBridge notifications off"
    policies = {k: v for k, v in declared.items() if v["Type"] == "AWS::S3::BucketPolicy"}
    assert policies, "no bucket policy in the stack"
    for logical, declaration in policies.items():
        properties = deployment.conditions.resolve(declaration["Properties"])
        bucket = deployment.stack.resources[properties["Bucket"]["Ref"]]["PhysicalResourceId"]
        try:
            policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
        except ClientError as error:
            pytest.fail(f"{logical}: bucket {bucket} has no policy ({error})")
        wanted = {s.get("Sid") for s in properties["PolicyDocument"]["Statement"]}
        got = {s.get("Sid") for s in policy["Statement"]}
        assert got == wanted, f"{logical}: statements {got}, the template's {wanted}"
        for statement in policy["Statement"]:
            resources = statement["Resource"]
            for resource in [resources] if isinstance(resources, str) else resources:
                assert resource.split(":::", 1)[-1].split("/", 1)[0] == bucket, (
                    f"{logical}: {statement.get('Sid')} covers {resource}, not {bucket}"
                )


def test_the_stack_is_deleted_leaving_only_what_it_retains(
    engine: Engine, deployment: Deployment
) -> None:
    # Last in this module: the next scenario re-creates the stack under the same name.
    stack = deployment.stack
    status, events = delete(engine, stack)
    deployment.deleted = True
    failed = [
        f"{e['LogicalResourceId']}: {e['ResourceStatus']}: {e.get('ResourceStatusReason')}"
        for e in events
        if e["ResourceStatus"] == "DELETE_FAILED"
    ]
    assert status == "DELETE_COMPLETE" and not failed, f"{status}: {failed}"
    declared = stack.template["Resources"]
    for logical, summary in stack.resources.items():
        retained = declared.get(logical, {}).get("DeletionPolicy") == "Retain"
        exists = _exists(engine, summary["ResourceType"], summary["PhysicalResourceId"])
        if exists is None:
            continue  # a type _exists cannot look up (listed in its docstring)
        assert exists == retained, (
            f"{logical} ({summary['ResourceType']} {summary['PhysicalResourceId']}) "
            f"{'left behind' if exists else 'deleted despite DeletionPolicy: Retain'}"
        )
    _remove_retained(engine, deployment)


def _exists(engine: Engine, resource_type: str, physical: str) -> bool | None:
    """Whether the resource is still there; None for a type not looked up here.

    Looked up: buckets, queues, functions, log groups, roles, rules, alarms, REST APIs. The
    rest (permissions, mappings, deployments, stages, policies, layer versions, placeholders)
    go with the resource they belong to, or are placeholders.
    """
    lookups = {
        "AWS::S3::Bucket": lambda: engine.client("s3").head_bucket(Bucket=physical),
        "AWS::SQS::Queue": lambda: engine.client("sqs").get_queue_attributes(QueueUrl=physical),
        "AWS::Lambda::Function": lambda: engine.client("lambda").get_function(
            FunctionName=physical
        ),
        "AWS::IAM::Role": lambda: engine.client("iam").get_role(RoleName=physical),
        "AWS::Events::Rule": lambda: engine.client("events").describe_rule(Name=physical),
        "AWS::ApiGateway::RestApi": lambda: engine.client("apigateway").get_rest_api(
            restApiId=physical
        ),
    }
    if resource_type == "AWS::Logs::LogGroup":
        groups = engine.client("logs").describe_log_groups(logGroupNamePrefix=physical)
        return any(g["logGroupName"] == physical for g in groups["logGroups"])
    if resource_type == "AWS::CloudWatch::Alarm":
        alarms = engine.client("cloudwatch").describe_alarms(AlarmNames=[physical])
        return bool(alarms["MetricAlarms"])
    if resource_type not in lookups:
        return None
    try:
        lookups[resource_type]()
    except ClientError:
        return False
    return True


def _remove_retained(engine: Engine, deployment: Deployment) -> None:
    """Delete the buckets the template retains (the demo data bucket), once the test is done."""
    s3 = engine.client("s3")
    declared = deployment.stack.template["Resources"]
    for logical, name in _physical(deployment, "AWS::S3::Bucket").items():
        retained = declared.get(logical, {}).get("DeletionPolicy") == "Retain"
        if retained and _exists(engine, "AWS::S3::Bucket", name):
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
                for item in page.get("Contents", []):
                    s3.delete_object(Bucket=name, Key=item["Key"])
            s3.delete_bucket(Bucket=name)
