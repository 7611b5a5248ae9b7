"""The template's ``Rules`` are valid CloudFormation and refuse the parameter mistakes they name.

CloudFormation evaluates ``Rules`` before it creates anything, and only ``Ref`` and the rule
functions may appear in them: ``Fn::And``, ``Fn::Contains``, ``Fn::EachMemberEquals``,
``Fn::EachMemberIn``, ``Fn::Equals``, ``Fn::Not``, ``Fn::Or``, ``Fn::RefAll``, ``Fn::ValueOf``,
``Fn::ValueOfAll`` (AWS CloudFormation Template Reference, "Rule functions":
https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference-rules.html).
cfn-lint and ``sam validate`` accept other functions there (an ``Fn::Join`` passed both), so
these tests walk every rule, then evaluate the rules on parameter values with the documented
meaning of each function: a rule applies when its ``RuleCondition`` is true (or absent), and
a ``CommaDelimitedList`` parameter is its value split at commas (``""`` is ``[""]``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

import pytest

from tests.support.template_support import read_template

#: The parameters `sam local` runs with in `make test-lambda` ("lambda" is a keyword, hence
#: import_module): the rules must let that template through too.
LOCAL_OVERRIDES = importlib.import_module("tests.lambda.sam").LOCAL_OVERRIDES

#: What may appear in a rule's condition or assertions (the reference above).
RULE_FUNCTIONS = {
    "Ref",
    "Fn::And",
    "Fn::Contains",
    "Fn::EachMemberEquals",
    "Fn::EachMemberIn",
    "Fn::Equals",
    "Fn::Not",
    "Fn::Or",
    "Fn::RefAll",
    "Fn::ValueOf",
    "Fn::ValueOfAll",
}

KEY = "K2JCJMDEHXQW5F"
NEXT_KEY = "K3NEXTKEYROTAT"
SECRET = "arn:aws:secretsmanager:us-west-2:123456789012:secret:thumbnails/cloudfront-key-AbCdEf"
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
REGIONAL_CERTIFICATE = (
    "arn:aws:acm:us-west-2:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
)
SIGNED_BY_CLOUDFRONT = {
    "CloudFrontPublicKeyIds": KEY,
    "CloudFrontKeyPairId": KEY,
    "CloudFrontPrivateKeySecretArn": SECRET,
}


def _functions_in(node: object) -> set[str]:
    """Every function name (``Ref`` or ``Fn::...``) used anywhere in `node`."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" or key.startswith("Fn::") or key == "Condition":
                found.add(key)
            found |= _functions_in(value)
    elif isinstance(node, list):
        for item in node:
            found |= _functions_in(item)
    return found


def _rule_expressions(rule: dict) -> list[object]:
    return [rule.get("RuleCondition"), *(a["Assert"] for a in rule["Assertions"])]


@pytest.mark.parametrize("name", sorted(read_template()["Rules"]))
def test_rules_use_only_ref_and_the_rule_functions(name: str) -> None:
    rule = read_template()["Rules"][name]
    assert set(rule) <= {"RuleCondition", "Assertions"}
    for expression in _rule_expressions(rule):
        assert _functions_in(expression) <= RULE_FUNCTIONS, expression


def test_every_assertion_says_what_is_wrong() -> None:
    for rule in read_template()["Rules"].values():
        for assertion in rule["Assertions"]:
            assert set(assertion) == {"Assert", "AssertDescription"}
            assert assertion["AssertDescription"].strip()


# --- evaluating the rules ---------------------------------------------------------------------


class UnsupportedInRules(Exception):
    """A function CloudFormation does not evaluate in Rules."""


def _evaluate(node: object, values: Mapping[str, object]) -> object:
    """`node` evaluated as CloudFormation's rule functions are documented to behave."""
    if isinstance(node, list):
        return [_evaluate(item, values) for item in node]
    if not isinstance(node, dict):
        return node
    ((function, argument),) = node.items()
    if function == "Ref":
        return values[argument]
    arguments = [_evaluate(item, values) for item in argument]
    if function == "Fn::Equals":
        first, second = arguments
        return first == second
    if function == "Fn::Not":
        (condition,) = arguments
        return not condition
    if function == "Fn::And":
        assert 2 <= len(arguments) <= 10
        return all(arguments)
    if function == "Fn::Or":
        assert 2 <= len(arguments) <= 10
        return any(arguments)
    if function == "Fn::Contains":
        strings, string = arguments
        return string in strings
    if function == "Fn::EachMemberEquals":
        strings, string = arguments
        return all(member == string for member in strings)
    if function == "Fn::EachMemberIn":
        to_check, to_match = arguments
        return all(member in to_match for member in to_check)
    raise UnsupportedInRules(function)


def _parameter_values(overrides: Mapping[str, str]) -> dict[str, object]:
    values: dict[str, object] = {}
    for name, parameter in read_template()["Parameters"].items():
        value = str(overrides.get(name, parameter.get("Default", "")))
        if parameter["Type"] in ("CommaDelimitedList", "List<String>"):
            values[name] = value.split(",")
        else:
            values[name] = value
    return values


def refused(overrides: Mapping[str, str]) -> list[str]:
    """The descriptions of the assertions that fail for these parameter values."""
    values = _parameter_values(overrides)
    failed = []
    for rule in read_template()["Rules"].values():
        if "RuleCondition" in rule and not _evaluate(rule["RuleCondition"], values):
            continue
        for assertion in rule["Assertions"]:
            if not _evaluate(assertion["Assert"], values):
                failed.append(assertion["AssertDescription"])
    return failed


def test_cloudfront_signing_without_its_keys_is_refused() -> None:
    # The default signer is cloudfront and the keys default to empty.
    failures = refused({})
    assert any("CloudFrontKeyPairId" in f for f in failures)
    assert any("CloudFrontPrivateKeySecretArn" in f for f in failures)
    assert any("CloudFrontPublicKeyIds" in f for f in failures)


@pytest.mark.parametrize(
    "overrides",
    [
        SIGNED_BY_CLOUDFRONT,
        # Rotating: the next key signs, both are trusted.
        dict(
            SIGNED_BY_CLOUDFRONT,
            CloudFrontPublicKeyIds=f"{KEY},{NEXT_KEY}",
            CloudFrontKeyPairId=NEXT_KEY,
        ),
        dict(
            SIGNED_BY_CLOUDFRONT,
            CustomDomainName="t.example.org",
            CustomDomainCertificateArn=CERTIFICATE,
        ),
        dict(
            SIGNED_BY_CLOUDFRONT,
            ApiDomainName="api.example.org",
            ApiDomainCertificateArn=REGIONAL_CERTIFICATE,
        ),
        {"UrlSigner": "s3"},
        # What `sam local` runs with (tests/lambda): nothing deployed, no keys.
        LOCAL_OVERRIDES,
    ],
    ids=["one-key", "rotating", "links-domain", "api-domain", "s3-links", "sam-local"],
)
def test_consistent_parameters_pass_every_rule(overrides: Mapping[str, str]) -> None:
    assert refused(overrides) == []


def test_a_key_pair_outside_the_key_group_is_refused() -> None:
    # CloudFront would answer 403 to every link it signed.
    failures = refused(dict(SIGNED_BY_CLOUDFRONT, CloudFrontKeyPairId=NEXT_KEY))
    assert failures == ["CloudFrontKeyPairId must be one of CloudFrontPublicKeyIds."]


def test_an_empty_public_key_id_is_refused() -> None:
    failures = refused(dict(SIGNED_BY_CLOUDFRONT, CloudFrontPublicKeyIds=f"{KEY},"))
    assert len(failures) == 1
    assert "CloudFrontPublicKeyIds" in failures[0]


@pytest.mark.parametrize(
    ("domain", "certificate"),
    [
        ("CustomDomainName", "CustomDomainCertificateArn"),
        ("ApiDomainName", "ApiDomainCertificateArn"),
    ],
)
@pytest.mark.parametrize("given", ["domain", "certificate"])
def test_a_custom_domain_without_its_certificate_or_the_reverse_is_refused(
    domain: str, certificate: str, given: str
) -> None:
    value = {"domain": (domain, "thumbs.example.org"), "certificate": (certificate, CERTIFICATE)}
    name, text = value[given]
    failures = refused(dict(SIGNED_BY_CLOUDFRONT, **{name: text}))
    assert failures == [f"Set both {domain} and {certificate}, or neither."]


def test_a_links_domain_without_cloudfront_is_refused() -> None:
    failures = refused(
        {
            "UrlSigner": "s3",
            "CustomDomainName": "thumbs.example.org",
            "CustomDomainCertificateArn": CERTIFICATE,
        }
    )
    assert failures == ["CustomDomainName needs UrlSigner=cloudfront."]


def test_a_function_rules_do_not_support_is_not_evaluated() -> None:
    # The evaluator refuses what CloudFormation refuses, so the rules above ran on it alone.
    with pytest.raises(UnsupportedInRules, match="Fn::Join"):
        _evaluate(
            {"Fn::Join": ["", {"Ref": "CloudFrontPublicKeyIds"}]}, {"CloudFrontPublicKeyIds": [""]}
        )
