"""Talking to LocalStack's CloudFormation engine: packaging, stacks, template conditions.

Every client is made here, against the LocalStack endpoint only (a loopback URL, checked), with
dummy credentials: nothing can reach a real AWS account.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
BUILT_TEMPLATE = ROOT / ".aws-sam" / "build" / "template.yaml"
#: The SAM CLI of the venv running the tests (the project's, whatever VENV names it).
SAM = Path(sys.executable).parent / "sam"
REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
#: A stack's create or delete takes seconds on LocalStack (about 6 s measured); this is a
#: bound on a hung engine, not an expectation.
STACK_LIMIT = 600
#: The reason LocalStack gives a resource it cannot create and replaced by a placeholder.
PLACEHOLDER_REASON = "is not supported but was deployed as a fallback"
#: Placeholders each scenario's stack got (the run's summary lists them, conftest.py).
PLACEHOLDERS_SEEN: dict[str, dict[str, str]] = {}
#: (what, seconds) of packaging, each create and each delete, for the run's summary.
TIMINGS: list[tuple[str, float]] = []


def check_endpoint(endpoint: str) -> str:
    """Return `endpoint` if it is an http URL of a loopback address, else raise ValueError."""
    parsed = urllib.parse.urlsplit(endpoint)
    host = parsed.hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if parsed.scheme != "http" or not loopback:
        raise ValueError(f"{endpoint!r} is not LocalStack on this machine (http://127.0.0.1:PORT)")
    return endpoint


class Engine:
    """boto3 clients of one LocalStack endpoint.

    Parameters
    ----------
    endpoint : str
        LocalStack's URL (loopback only).
    """

    def __init__(self, endpoint: str) -> None:
        self.endpoint = check_endpoint(endpoint)
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(
                service,
                endpoint_url=self.endpoint,
                region_name=REGION,
                config=Config(retries={"max_attempts": 2}, s3={"addressing_style": "path"}),
                **CREDENTIALS,
            )
        return self._clients[service]

    def environment(self) -> dict[str, str]:
        """Variables for a subprocess (the SAM CLI) that must talk to LocalStack only."""
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("AWS_") or key == "AWS_CA_BUNDLE"
        }
        environment.update(
            AWS_ENDPOINT_URL=self.endpoint,
            AWS_ACCESS_KEY_ID=CREDENTIALS["aws_access_key_id"],
            AWS_SECRET_ACCESS_KEY=CREDENTIALS["aws_secret_access_key"],
            AWS_DEFAULT_REGION=REGION,
            AWS_REGION=REGION,
            SAM_CLI_TELEMETRY="0",
        )
        return environment

    def package(self, bucket: str, output: Path) -> str:
        """``sam package`` the built template to `bucket`; return the packaged template."""
        if not BUILT_TEMPLATE.is_file():
            raise AssertionError(f"{BUILT_TEMPLATE} is missing: run `make build` first")
        self.client("s3").create_bucket(Bucket=bucket)
        started = time.monotonic()
        done = subprocess.run(
            [
                str(SAM),
                "package",
                "--template-file",
                str(BUILT_TEMPLATE),
                "--s3-bucket",
                bucket,
                "--output-template-file",
                str(output),
                "--no-progressbar",
            ],
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=STACK_LIMIT,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"sam package failed:\n{done.stdout}\n{done.stderr}")
        TIMINGS.append(("sam package (code and layer uploaded)", time.monotonic() - started))
        return output.read_text()


@dataclass
class Stack:
    """A stack as created: what it was made from and what the engine reports."""

    name: str
    stack_id: str
    status: str
    reason: str
    template: dict[str, Any]
    parameters: dict[str, str]
    outputs: dict[str, str] = field(default_factory=dict)
    #: logical id -> StackResourceSummary
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """The stack's resources of `resource_type`: logical id -> summary."""
        return {
            logical: summary
            for logical, summary in self.resources.items()
            if summary["ResourceType"] == resource_type
        }

    def failures(self) -> list[str]:
        """Every event that failed, with its reason, oldest first."""
        return [
            f"{event['LogicalResourceId']} ({event.get('ResourceType')}): "
            f"{event['ResourceStatus']}: {event.get('ResourceStatusReason') or ''}"
            for event in reversed(self.events)
            if event["ResourceStatus"].endswith("FAILED")
            # The stack's own events repeat its resources' failures without a reason.
            and (event["LogicalResourceId"] != self.name or event.get("ResourceStatusReason"))
        ]

    def placeholders(self) -> dict[str, str]:
        """Resources LocalStack did not create but replaced by a placeholder: logical id -> type."""
        found = {
            event["LogicalResourceId"]: event.get("ResourceType", "")
            for event in self.events
            if PLACEHOLDER_REASON in (event.get("ResourceStatusReason") or "")
        }
        # A placeholder's physical id is "unknown": a second sign, should the message change.
        for logical, summary in self.resources.items():
            if summary.get("PhysicalResourceId") == "unknown":
                found[logical] = summary["ResourceType"]
        return found


def wait(cloudformation: Any, stack_id: str) -> dict[str, Any]:
    """Poll the stack until no operation is in progress; return its description."""
    deadline = time.monotonic() + STACK_LIMIT
    while True:
        stack = cloudformation.describe_stacks(StackName=stack_id)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS"):
            return stack
        if time.monotonic() > deadline:
            raise AssertionError(f"{stack_id} still {stack['StackStatus']} after {STACK_LIMIT} s")
        time.sleep(0.5)


def events(cloudformation: Any, stack_id: str) -> list[dict[str, Any]]:
    """Every event of the stack, newest first."""
    found: list[dict[str, Any]] = []
    for page in cloudformation.get_paginator("describe_stack_events").paginate(StackName=stack_id):
        found.extend(page["StackEvents"])
    return found


#: CloudFormation takes a template body of at most 51,200 bytes in the request itself; a
#: larger one (up to 1 MB) must be uploaded to S3 and named by `TemplateURL`, which is what
#: `sam deploy` does with its bucket (samconfig's `resolve_s3`). The packaged template is past
#: the limit, so the test deploys it as `sam deploy` would.
TEMPLATE_BODY_LIMIT = 51_200
TEMPLATE_BUCKET = "thumbnails-deploy-artefacts"


def template_source(engine: Engine, name: str, template_body: str) -> dict[str, str]:
    """``TemplateBody``, or ``TemplateURL`` of an upload when the body is past the limit."""
    body = template_body.encode()
    if len(body) <= TEMPLATE_BODY_LIMIT:
        return {"TemplateBody": template_body}
    s3 = engine.client("s3")
    s3.create_bucket(Bucket=TEMPLATE_BUCKET)
    key = f"{name}.template"
    s3.put_object(Bucket=TEMPLATE_BUCKET, Key=key, Body=body)
    return {"TemplateURL": f"{engine.endpoint}/{TEMPLATE_BUCKET}/{key}"}


def create(engine: Engine, name: str, template_body: str, parameters: dict[str, str]) -> Stack:
    """Create a stack from the packaged template and wait for the engine to finish."""
    cloudformation = engine.client("cloudformation")
    started = time.monotonic()
    stack_id = cloudformation.create_stack(
        StackName=name,
        **template_source(engine, name, template_body),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        # Kept on failure: the failed resources' reasons stay readable.
        OnFailure="DO_NOTHING",
    )["StackId"]
    described = wait(cloudformation, stack_id)
    TIMINGS.append((f"create {name} ({described['StackStatus']})", time.monotonic() - started))
    stack = Stack(
        name=name,
        stack_id=stack_id,
        status=described["StackStatus"],
        reason=described.get("StackStatusReason") or "",
        template=yaml_parse(template_body),
        parameters=parameters,
        outputs={o["OutputKey"]: o.get("OutputValue", "") for o in described.get("Outputs", [])},
        events=events(cloudformation, stack_id),
    )
    paginator = cloudformation.get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=stack_id):
        for summary in page["StackResourceSummaries"]:
            stack.resources[summary["LogicalResourceId"]] = summary
    return stack


def delete(engine: Engine, stack: Stack) -> tuple[str, list[dict[str, Any]]]:
    """Delete the stack; return its final status and its events, newest first."""
    cloudformation = engine.client("cloudformation")
    started = time.monotonic()
    cloudformation.delete_stack(StackName=stack.stack_id)
    try:
        status = wait(cloudformation, stack.stack_id)["StackStatus"]
    except ClientError as error:
        # LocalStack forgets a deleted stack's description; its events remain (below).
        if "does not exist" not in str(error):
            raise
        status = ""
    found = events(cloudformation, stack.stack_id)
    if not status:
        stack_events = [e for e in found if e["LogicalResourceId"] == stack.name]
        status = stack_events[0]["ResourceStatus"] if stack_events else "UNKNOWN"
    TIMINGS.append((f"delete {stack.name} ({status})", time.monotonic() - started))
    return status, found


class Conditions:
    """The template's Conditions evaluated for a stack's parameters (as the engine does).

    Parameters
    ----------
    template : dict
        The parsed template (Parameters, Conditions).
    parameters : dict
        The values passed; a parameter not passed takes its Default.
    """

    def __init__(self, template: dict[str, Any], parameters: dict[str, str]) -> None:
        self._conditions = template.get("Conditions", {})
        self._values: dict[str, Any] = {}
        for name, declaration in template.get("Parameters", {}).items():
            value = parameters.get(name, declaration.get("Default"))
            if declaration.get("Type") == "CommaDelimitedList" and isinstance(value, str):
                value = value.split(",") if value else [""]
            self._values[name] = value

    def holds(self, name: str | None) -> bool:
        """Whether condition `name` is true (no condition: true)."""
        return True if name is None else bool(self.evaluate(self._conditions[name]))

    def parameter(self, name: str) -> Any:
        return self._values[name]

    def evaluate(self, node: Any) -> Any:
        """The value of a condition expression (Fn::Equals/Not/And/Or, Condition, Ref)."""
        if not isinstance(node, dict):
            return node
        if len(node) != 1:
            raise ValueError(f"not an intrinsic function: {node!r}")
        ((function, argument),) = node.items()
        if function == "Ref":
            return self._values[argument]
        if function == "Condition":
            return self.holds(argument)
        if function == "Fn::Equals":
            left, right = (self.evaluate(a) for a in argument)
            return str(left) == str(right) if not isinstance(left, list) else left == right
        if function == "Fn::Not":
            return not self.evaluate(argument[0])
        if function == "Fn::And":
            return all(self.evaluate(a) for a in argument)
        if function == "Fn::Or":
            return any(self.evaluate(a) for a in argument)
        if function == "Fn::Join":
            separator, items = argument
            return separator.join(str(i) for i in _flatten(self.evaluate(items)))
        raise ValueError(f"{function} is not evaluated here (tests/deploy/engine.py)")

    def resolve(self, node: Any) -> Any:
        """`node` with Fn::If chosen and AWS::NoValue dropped (other intrinsics kept)."""
        if isinstance(node, list):
            resolved = [self.resolve(item) for item in node]
            return [item for item in resolved if item is not _NO_VALUE]
        if isinstance(node, dict):
            if set(node) == {"Fn::If"}:
                name, when_true, when_false = node["Fn::If"]
                return self.resolve(when_true if self.holds(name) else when_false)
            if node == {"Ref": "AWS::NoValue"}:
                return _NO_VALUE
            if set(node) == {"Ref"} and node["Ref"] in self._values:
                return self._values[node["Ref"]]
            resolved = {key: self.resolve(value) for key, value in node.items()}
            return {key: value for key, value in resolved.items() if value is not _NO_VALUE}
        return node


_NO_VALUE = object()


def _flatten(items: Any) -> list[Any]:
    if not isinstance(items, list):
        return [items]
    return [leaf for item in items for leaf in _flatten(item)]
