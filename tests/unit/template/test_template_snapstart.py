"""SnapStart and the alias: every event invokes the published version, SnapStart follows the
``SnapStart`` parameter, and nothing SnapStart refuses is configured.

SnapStart applies to published versions only, so each function publishes one per deployment
(``AutoPublishAlias: live``) and API Gateway and the SQS event source mapping invoke that
alias; ``$LATEST`` would run without the snapshot. SnapStart cannot be combined with
provisioned concurrency, EFS or more than 512 MB of ephemeral storage
(https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html, "Supported features and
limitations"). Asserted on SAM's own translation where SAM generates the wiring.
"""

from __future__ import annotations

import json

import pytest

from tests.support.template_support import read_template, resources_of, sam_translated

FUNCTIONS = ("ThumbnailFunction", "PregenerateFunction")
ALIAS = "live"


def alias_id(function: str) -> str:
    # SAM's logical id of the alias AutoPublishAlias creates.
    return f"{function}Alias{ALIAS}"


def test_snapstart_is_a_parameter_on_by_default():
    template = read_template()
    parameter = template["Parameters"]["SnapStart"]
    assert parameter["Default"] == "true"
    assert parameter["AllowedValues"] == ["true", "false"]
    assert template["Conditions"]["UseSnapStart"] == {"Fn::Equals": [{"Ref": "SnapStart"}, "true"]}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_snapshots_its_published_versions_when_the_parameter_says_so(function):
    properties = sam_translated()["Resources"][function]["Properties"]
    assert properties["SnapStart"] == {
        "ApplyOn": {"Fn::If": ["UseSnapStart", "PublishedVersions", "None"]}
    }


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_publishes_a_version_behind_the_alias(function):
    resources = sam_translated()["Resources"]
    alias = resources[alias_id(function)]
    assert alias["Type"] == "AWS::Lambda::Alias"
    assert alias["Properties"]["Name"] == ALIAS
    version = alias["Properties"]["FunctionVersion"]["Fn::GetAtt"][0]
    assert resources[version]["Type"] == "AWS::Lambda::Version"
    assert resources[version]["Properties"]["FunctionName"] == {"Ref": function}
    # A replaced version is deleted, and with it its snapshot (cached snapshots are billed
    # per version for as long as the version exists).
    assert resources[version]["DeletionPolicy"] == "Delete"


def test_api_gateway_invokes_the_alias_of_the_api_function():
    translated = sam_translated()
    body = translated["Resources"]["ThumbnailApi"]["Properties"]["Body"]
    uris = [
        operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
        for operations in body["paths"].values()
        for operation in operations.values()
    ]
    assert len(uris) == 3  # GET /, GET /{proxy+}, OPTIONS /{proxy+}
    for uri in uris:
        assert "${" + alias_id("ThumbnailFunction") + "}" in uri
    permissions = resources_of(translated, "AWS::Lambda::Permission")
    assert permissions
    for permission in permissions.values():
        assert permission["Properties"]["FunctionName"] == {"Ref": alias_id("ThumbnailFunction")}


def test_the_queue_invokes_the_alias_of_the_pregeneration_function():
    mappings = resources_of(sam_translated(), "AWS::Lambda::EventSourceMapping")
    assert set(mappings) == {"PregenerateFunctionFrameQueue"}
    mapping = mappings["PregenerateFunctionFrameQueue"]["Properties"]
    # The alias's ARN, written out (template.yaml says why not a Ref), once the alias exists.
    assert mapping["FunctionName"] == {"Fn::Sub": "${PregenerateFunction.Arn}:" + ALIAS}
    assert mappings["PregenerateFunctionFrameQueue"]["DependsOn"] == alias_id("PregenerateFunction")
    alias = sam_translated()["Resources"][alias_id("PregenerateFunction")]["Properties"]
    assert (alias["Name"], alias["FunctionName"]) == (ALIAS, {"Ref": "PregenerateFunction"})
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["PregenerateQueue", "Arn"]}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_nothing_snapstart_refuses_is_configured(function):
    properties = sam_translated()["Resources"][function]["Properties"]
    assert "FileSystemConfigs" not in properties
    assert properties.get("EphemeralStorage", {"Size": 512})["Size"] <= 512
    translated = json.dumps(sam_translated())
    assert "ProvisionedConcurrencyConfig" not in translated


def test_function_alarms_count_every_version():
    # The FunctionName dimension alone aggregates all versions and aliases of a function, so
    # the alarms see the alias's invocations without naming it (a Resource dimension of
    # "name:live" would see only the alias, and nothing run on $LATEST or a version).
    alarms = resources_of(read_template(), "AWS::CloudWatch::Alarm")
    dimensions = []
    for alarm in alarms.values():
        properties = alarm["Properties"]
        metrics = [properties] + [
            query["MetricStat"]["Metric"]
            for query in properties.get("Metrics", [])
            if "MetricStat" in query
        ]
        for metric in metrics:
            if metric.get("Namespace") == "AWS/Lambda":
                dimensions.append(metric["Dimensions"])
    assert dimensions
    for dims in dimensions:
        assert [d["Name"] for d in dims] == ["FunctionName"]
        assert dims[0]["Value"]["Ref"] in FUNCTIONS
