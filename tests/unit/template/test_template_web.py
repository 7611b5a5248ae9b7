"""The public endpoint's abuse limits in the template: stage throttling as parameters, and
request signing's secret (issue 27). Read with SAM's YAML loader and SAM's translation, as in
``test_template.py``; ``make check-template`` runs cfn-lint on the same file.
"""

from __future__ import annotations

import copy

import pytest

from tests.support.template_support import (
    function_environment,
    read_template,
    resources_of,
    sam_translated,
)


@pytest.fixture
def template() -> dict:
    return copy.deepcopy(read_template())


def test_the_stage_throttles_every_method_with_the_stack_parameters(template: dict) -> None:
    (stage,) = resources_of(sam_translated(), "AWS::ApiGateway::Stage").values()
    (settings,) = stage["Properties"]["MethodSettings"]
    assert (settings["ResourcePath"], settings["HttpMethod"]) == ("/*", "*")
    assert settings["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}
    assert settings["ThrottlingBurstLimit"] == {"Ref": "ApiThrottlingBurstLimit"}
    rate = template["Parameters"]["ApiThrottlingRateLimit"]
    burst = template["Parameters"]["ApiThrottlingBurstLimit"]
    # Sensible defaults: API Gateway's account default is 10,000/5,000; ours are far lower,
    # and a burst below the steady rate would throttle a steady stream.
    assert 1 <= rate["Default"] <= 1000
    assert rate["Default"] <= burst["Default"] <= 5000
    assert rate["MinValue"] >= 1 and burst["MinValue"] >= 1


def test_request_signing_is_off_by_default_and_reads_only_its_own_secret(template: dict) -> None:
    secret = template["Parameters"]["RequestSigningSecretArn"]
    assert secret["Default"] == ""
    assert template["Parameters"]["RequestSigningFreePresets"]["Default"] == "pregenerated"
    environment = function_environment(template, "ThumbnailFunction")
    assert environment["REQUEST_SIGNING_SECRET"] == {"Ref": "RequestSigningSecretArn"}
    assert environment["REQUEST_SIGNING_FREE_PRESETS"] == {"Ref": "RequestSigningFreePresets"}
    assert template["Conditions"]["SignsRequests"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "RequestSigningSecretArn"}, ""]}]
    }


def test_avif_is_a_binary_media_type(template: dict) -> None:
    types = template["Resources"]["ThumbnailApi"]["Properties"]["BinaryMediaTypes"]
    assert "image~1avif" in types
