"""The template loses no event silently and tells someone when things fail.

EventBridge's delivery to the queue has a retry policy and a dead-letter queue of its own;
every dead-letter queue, the rule's failed deliveries, the queue's oldest message, the
functions' errors and throttles, the API's slow, 4xx and 5xx answers have an alarm, notifying
the stack's SNS topic (and an optional existing one) when they fire and when they clear. Read
with SAM's YAML loader, as in ``test_template.py``.
"""

from __future__ import annotations

import copy
import json
import shlex
import tomllib

import pytest

from tests.support.template_support import (
    ROOT,
    function_environment,
    parameter,
    read_template,
    resources_of,
)

#: The stack's own topic always, an existing one (AlarmTopicArn) as well when it is given.
NOTIFY_TOPICS = {
    "Fn::If": [
        "HasAlarmTopic",
        [{"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}],
        [{"Ref": "AlarmTopic"}],
    ]
}


@pytest.fixture
def template() -> dict:
    return copy.deepcopy(read_template())


def alarms(template: dict) -> dict[str, dict]:
    return {
        name: r["Properties"]
        for name, r in resources_of(template, "AWS::CloudWatch::Alarm").items()
    }


def dimension(alarm: dict, name: str) -> object:
    (value,) = [d["Value"] for d in alarm["Dimensions"] if d["Name"] == name]
    return value


def alarms_on(template: dict, namespace: str, metric: str) -> list[dict]:
    return [
        a
        for a in alarms(template).values()
        if a.get("Namespace") == namespace and a.get("MetricName") == metric
    ]


# --- events that cannot be delivered -----------------------------------------------------------


def test_the_rule_retries_a_failed_delivery_then_dead_letters_the_event(template: dict) -> None:
    (target,) = template["Resources"]["FrameCreatedRule"]["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["PregenerateQueue", "Arn"]}
    retry = target["RetryPolicy"]
    assert 0 < retry["MaximumRetryAttempts"] <= 185  # EventBridge's range
    assert 60 <= retry["MaximumEventAgeInSeconds"] <= 86400
    (queue,) = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][:1]
    assert template["Resources"][queue]["Type"] == "AWS::SQS::Queue"
    assert queue != "PregenerateQueue"


def test_only_the_rule_may_send_to_its_dead_letter_queue_and_only_over_tls(
    template: dict,
) -> None:
    (target,) = template["Resources"]["FrameCreatedRule"]["Properties"]["Targets"]
    queue = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    (policy,) = [
        p["Properties"]
        for p in resources_of(template, "AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": queue}]
    ]
    statements = policy["PolicyDocument"]["Statement"]
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    assert allow["Resource"] == {"Fn::GetAtt": [queue, "Arn"]}
    assert allow["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["FrameCreatedRule", "Arn"]}}
    }
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_dead_letter_queues_keep_messages_as_long_as_sqs_can(template: dict) -> None:
    (target,) = template["Resources"]["FrameCreatedRule"]["Properties"]["Targets"]
    for queue in (target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0], "PregenerateDeadLetterQueue"):
        properties = template["Resources"][queue]["Properties"]
        assert properties["MessageRetentionPeriod"] == 1209600
        assert properties["SqsManagedSseEnabled"] is True


# --- alarms ------------------------------------------------------------------------------------


def _dead_letter_queues(template: dict) -> set[str]:
    (target,) = template["Resources"]["FrameCreatedRule"]["Properties"]["Targets"]
    queues = {target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]}
    for resource in resources_of(template, "AWS::SQS::Queue").values():
        redrive = resource["Properties"].get("RedrivePolicy")
        if redrive:
            queues.add(redrive["deadLetterTargetArn"]["Fn::GetAtt"][0])
    return queues


def test_every_dead_letter_queue_alarms_as_soon_as_it_holds_a_message(template: dict) -> None:
    queues = _dead_letter_queues(template)
    assert queues == {"PregenerateDeadLetterQueue", "FrameCreatedRuleDeadLetterQueue"}
    watched = {}
    for alarm in alarms_on(template, "AWS/SQS", "ApproximateNumberOfMessagesVisible"):
        watched[dimension(alarm, "QueueName")["Fn::GetAtt"][0]] = alarm
    assert set(watched) == queues
    for alarm in watched.values():
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
        assert alarm["Statistic"] == "Maximum"


def test_failed_deliveries_of_the_rule_alarm(template: dict) -> None:
    (alarm,) = alarms_on(template, "AWS/Events", "FailedInvocations")
    assert dimension(alarm, "RuleName") == {"Ref": "FrameCreatedRule"}
    assert (alarm["Statistic"], alarm["Threshold"]) == ("Sum", 0)
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_errors_and_throttles_of_either_function_alarm(template: dict, metric: str) -> None:
    # Errors: a timeout, crash or out-of-memory (both answer or report everything else).
    # Throttles: the API at its reserved concurrency; pregeneration's pollers refused.
    watched = {}
    for alarm in alarms_on(template, "AWS/Lambda", metric):
        watched[dimension(alarm, "FunctionName")["Ref"]] = alarm
    assert set(watched) == set(resources_of(template, "AWS::Serverless::Function"))
    for alarm in watched.values():
        assert (alarm["Statistic"], alarm["Threshold"]) == ("Sum", 0)
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_5xx_answers_of_the_api_alarm_on_the_deployed_api_and_stage(template: dict) -> None:
    (alarm,) = alarms_on(template, "AWS/ApiGateway", "5XXError")
    api = template["Resources"]["ThumbnailApi"]["Properties"]
    assert dimension(alarm, "ApiName") == api["Name"]
    assert dimension(alarm, "Stage") == api["StageName"]
    assert alarm["Statistic"] == "Average"  # a share of the answers, not a count
    assert 0 < alarm["Threshold"] < 1


def test_every_alarm_notifies_the_stacks_topic_when_it_fires_and_when_it_clears(
    template: dict,
) -> None:
    topic = template["Resources"]["AlarmTopic"]
    assert topic["Type"] == "AWS::SNS::Topic"
    assert "Condition" not in topic  # always there: the alarms always have somewhere to go
    assert template["Parameters"]["AlarmTopicArn"]["Default"] == ""
    assert template["Conditions"]["HasAlarmTopic"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]
    }
    every = alarms(template)
    assert len(every) >= 11
    for name, alarm in every.items():
        assert alarm["AlarmActions"] == NOTIFY_TOPICS, name
        assert alarm["OKActions"] == NOTIFY_TOPICS, name
        assert alarm["TreatMissingData"] == "notBreaching", name


def test_an_email_address_given_is_subscribed_to_the_alarm_topic(template: dict) -> None:
    (subscription,) = resources_of(template, "AWS::SNS::Subscription").values()
    assert subscription["Condition"] == "HasAlarmEmail"
    assert template["Conditions"]["HasAlarmEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]
    }
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }


def test_production_alarms_reach_someone() -> None:
    # The prod environment of samconfig.toml must name a recipient: an email address (its
    # placeholder fails the parameter's pattern until it is set) or an existing topic.
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    overrides = dict(
        item.split("=", 1)
        for item in shlex.split(config["prod"]["deploy"]["parameters"]["parameter_overrides"])
    )
    assert overrides.get("AlarmEmail") or overrides.get("AlarmTopicArn")


def test_a_queue_whose_frames_wait_too_long_alarms_before_sqs_drops_them(template: dict) -> None:
    # A disabled event source mapping leaves frames in the queue until its retention ends.
    (alarm,) = alarms_on(template, "AWS/SQS", "ApproximateAgeOfOldestMessage")
    assert dimension(alarm, "QueueName") == {"Fn::GetAtt": ["PregenerateQueue", "QueueName"]}
    assert alarm["Statistic"] == "Maximum"
    queue = template["Resources"]["PregenerateQueue"]["Properties"]
    retention = queue["MessageRetentionPeriod"]
    # Fires with at least half the retention left to act in.
    waited = alarm["Threshold"] + alarm["Period"] * alarm["EvaluationPeriods"]
    assert waited <= retention / 2
    # ...but not for a frame that is merely failing its way to the DLQ at the defaults.
    receives = template["Parameters"]["MaxReceiveCount"]["Default"]
    timeout = template["Parameters"]["PregenerateTimeout"]["Default"]
    visibility = template["Mappings"]["PregenerateQueueVisibility"][timeout]["Seconds"]
    assert alarm["Threshold"] > receives * visibility


def test_the_api_alarms_on_its_4xx_rate(template: dict) -> None:
    (alarm,) = alarms_on(template, "AWS/ApiGateway", "4XXError")
    api = template["Resources"]["ThumbnailApi"]["Properties"]
    assert dimension(alarm, "ApiName") == api["Name"]
    assert dimension(alarm, "Stage") == api["StageName"]
    assert alarm["Statistic"] == "Average"
    assert 0 < alarm["Threshold"] < 1


def test_the_api_alarms_when_its_p99_duration_nears_the_timeout(template: dict) -> None:
    (alarm,) = [a for a in alarms(template).values() if "Metrics" in a]
    by_id = {m["Id"]: m for m in alarm["Metrics"]}
    stat = next(m["MetricStat"] for m in by_id.values() if "MetricStat" in m)
    assert stat["Stat"] == "p99"
    assert stat["Metric"]["Namespace"] == "AWS/Lambda"
    assert stat["Metric"]["MetricName"] == "Duration"
    assert stat["Metric"]["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": "ThumbnailFunction"}}
    ]
    (returned,) = [m for m in alarm["Metrics"] if m.get("ReturnData")]
    # Duration is in milliseconds, ApiTimeout in seconds: the share of the timeout used.
    assert returned["Expression"] == {"Fn::Sub": "p99 / (${ApiTimeout} * 1000)"}
    assert template["Resources"]["ThumbnailFunction"]["Properties"]["Timeout"] == {
        "Ref": "ApiTimeout"
    }
    assert 0.5 <= alarm["Threshold"] < 1


# --- parameters --------------------------------------------------------------------------------


def _references(node: object) -> set[str]:
    text = json.dumps(node)
    return {
        name for name in read_template()["Parameters"] if f'"{name}"' in text or "${" + name in text
    }


def test_every_parameter_is_used(template: dict) -> None:
    used = _references(
        {k: template.get(k) for k in ("Resources", "Conditions", "Outputs", "Globals", "Mappings")}
    )
    assert set(template["Parameters"]) == used


def test_the_pregeneration_download_timeout_reaches_pregeneration(template: dict) -> None:
    value = function_environment(template, "PregenerateFunction")["DOWNLOAD_TIMEOUT"]
    assert value == {"Ref": "PregenerateDownloadTimeout"}
    timeout = parameter(template, value)
    assert timeout["MaxValue"] <= 900  # Lambda's longest invocation


def test_an_empty_download_cap_leaves_it_to_the_functions_memory(template: dict) -> None:
    cap = template["Parameters"]["MaxDownloadBytes"]
    assert cap["Default"] == ""
    assert cap["AllowedPattern"] == "^$|^[1-9][0-9]*$"
