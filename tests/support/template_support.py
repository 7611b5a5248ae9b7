"""What the template tests share: ``template.yaml`` as SAM's YAML loader reads it and as
SAM's translator expands it (offline), and small readers of its resources."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"

#: The only AWS managed policy a function's role has: X-Ray's trace uploads (Tracing: Active),
#: which have no resource type. The roles are written in the template, so SAM attaches neither
#: AWSLambdaBasicExecutionRole (logs on every log group) nor AWSLambdaSQSQueueExecutionRole
#: (receive and delete on every queue; test_template_permissions.py).
EXPECTED_MANAGED_POLICIES = {"arn:${AWS::Partition}:iam::aws:policy/AWSXrayWriteOnlyAccess"}


def managed_policies(role: dict) -> set[str]:
    """A role's managed policy ARNs, each as written (the text of its ``Fn::Sub``)."""
    return {
        arn["Fn::Sub"] if isinstance(arn, dict) else arn
        for arn in role["Properties"].get("ManagedPolicyArns", [])
    }


@cache
def read_template() -> dict:
    """``template.yaml`` as SAM's YAML loader reads it (``!Ref`` -> ``{"Ref": ...}``); shared:
    do not change it (the ``template`` fixture gives a copy)."""
    return yaml_parse(TEMPLATE.read_text())


@cache
def sam_translated() -> dict:
    """The template as SAM expands it (roles, permissions, the API's OpenAPI body)."""
    raw = copy.deepcopy(read_template())
    # The translator wants S3 URIs where `sam build`/`sam deploy` would have put them.
    raw["Globals"]["Function"]["CodeUri"] = "s3://bucket/function.zip"
    for resource in raw["Resources"].values():
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = "s3://bucket/layer.zip"

    # A session with a region of its own: the translator reads only the region from it, and
    # collection happens before conftest's fake environment is in place. The template names no
    # managed policy, so the name-to-ARN map (which `sam` fetches from IAM) is never needed.
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name="us-east-1"))
    return translator.translate(raw, parameter_values={}, get_managed_policy_map=dict)


def resources_of(template: dict, kind: str) -> dict[str, dict]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def functions(template: dict) -> dict[str, dict]:
    return resources_of(template, "AWS::Serverless::Function")


def function_environment(template: dict, name: str) -> dict:
    """A function's variables as SAM merges them: Globals, then the function's own."""
    merged = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    own = template["Resources"][name]["Properties"].get("Environment", {})
    merged.update(own.get("Variables", {}))
    return merged


def parameter(template: dict, value: object) -> dict | None:
    """The parameter a ``{"Ref": name}`` value refers to, else None."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return template["Parameters"].get(value["Ref"])
    return None


def as_list(value: object) -> list:
    return value if isinstance(value, list) else [value]


def role_statements(role: dict) -> list[dict]:
    """Every statement a role can have: conditional ones (``Fn::If``) in both branches."""
    statements = []
    for policy in role["Properties"].get("Policies", []):
        for statement in as_list(policy["PolicyDocument"]["Statement"]):
            if "Fn::If" in statement:
                _condition, *branches = statement["Fn::If"]
                statements += [b for b in branches if isinstance(b, dict) and "Effect" in b]
            else:
                statements.append(statement)
    return statements
