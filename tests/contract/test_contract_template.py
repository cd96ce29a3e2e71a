"""template.yaml is deployable and operable: lint-clean, SAM-transformable, least privilege, every function
logged with retention, every failure path ending in an alarmed dead-letter queue, partial batch responses on
every batch source, a supported Python runtime."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

import pytest

from .support import ROOT, Function, cfn, functions, parameter_defaults, referenced, resolver, resources, sam

# Actions AWS only authorises on Resource "*" (no resource-level permissions exist for them).
STAR_RESOURCE_ACTIONS = frozenset(
    {
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "xray:GetSamplingStatisticSummaries",
        "cloudwatch:PutMetricData",
    }
)
# AWS managed policies SAM attaches itself (basic logging, Tracing: Active, and the poller permissions of
# SQS / DynamoDB stream event sources). Anything else must be an inline statement or a scoped policy template.
ALLOWED_MANAGED_POLICIES = frozenset(
    {
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
        "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
        "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole",
    }
)
MIN_PYTHON = (3, 12)
FUNCTIONS = sorted(functions().values(), key=lambda f: f.logical_id)


def fn_id(fn: Function) -> str:
    return fn.logical_id


# ------------------------------------------------------------------ deployable
def test_cfn_lint_clean() -> None:
    from cfnlint.api import lint_file

    matches = lint_file(ROOT / "template.yaml")
    assert not matches, "cfn-lint:\n" + "\n".join(str(m) for m in matches)


def test_sam_transform_offline() -> None:
    out = cfn()
    left = [k for k, v in out["Resources"].items() if v["Type"].startswith("AWS::Serverless::")]
    assert not left, f"untransformed SAM resources: {left}"
    assert not [k for k in out if k == "Transform"], "Transform still present after the SAM transform"


# ------------------------------------------------------------------ least privilege
def _branches(node: Any) -> Iterator[Any]:
    """Both branches of Fn::If (a condition may be true in some deployment)."""
    if isinstance(node, dict) and list(node) == ["Fn::If"]:
        for branch in node["Fn::If"][1:]:
            yield from _branches(branch)
    elif isinstance(node, list):
        for item in node:
            yield from _branches(item)
    elif not (isinstance(node, dict) and list(node) == ["Ref"] and node["Ref"] == "AWS::NoValue"):
        yield node


def policy_statements(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, statement) for every statement of every policy document in a template."""

    def walk(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "PolicyDocument":
                    for policy in _branches(value):
                        for stmt in _branches(policy.get("Statement", [])):
                            yield where, stmt
                else:
                    yield from walk(value, where)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item, where)

    for name, res in doc["Resources"].items():
        yield from walk(res.get("Properties", {}), f"{name} ({res['Type']})")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_wildcard_actions_or_resources() -> None:
    problems = []
    for where, stmt in policy_statements(cfn()):
        if stmt.get("Effect") != "Allow":
            continue
        if "NotAction" in stmt or "NotResource" in stmt:
            problems.append(f"{where}: Allow with NotAction/NotResource grants everything else: {stmt}")
            continue
        actions = [a for a in _as_list(stmt.get("Action", [])) if isinstance(a, str)]
        wild = [a for a in actions if a == "*" or a.endswith(":*")]
        if wild:
            problems.append(f"{where}: wildcard action(s) {wild}")
        if "Principal" in stmt:  # a resource policy: any principal needs a condition that narrows it
            principal = stmt["Principal"]
            if (
                principal == "*" or (isinstance(principal, dict) and "*" in _as_list(principal.get("AWS")))
            ) and not stmt.get("Condition"):
                problems.append(f"{where}: Principal * without a Condition")
            continue
        if "*" in _as_list(stmt.get("Resource", [])):
            extra = sorted(set(actions) - STAR_RESOURCE_ACTIONS)
            if extra:
                problems.append(
                    f'{where}: Resource "*" for {extra} (only {sorted(STAR_RESOURCE_ACTIONS)} may use "*")'
                )
    assert not problems, "\n".join(problems)


_ALL_OF_TYPE = re.compile(r"^(?:\*|[A-Za-z-]+[/:]\*)$")


def test_no_statement_grants_every_resource_of_a_type() -> None:
    """`arn:...:table/*`, `arn:...:sqs:region:account:*`, `...:template/*` are Resource "*" in disguise."""
    res = resolver()
    problems = []
    for where, stmt in policy_statements(cfn()):
        if stmt.get("Effect") != "Allow" or "Principal" in stmt:
            continue
        for resource in _as_list(stmt.get("Resource", [])):
            arn = res.resolve(resource)
            if not isinstance(arn, str) or not arn.startswith("arn:"):
                continue
            resource_part = arn.split(":", 5)[5] if arn.count(":") >= 5 else ""
            if _ALL_OF_TYPE.match(resource_part):
                problems.append(
                    f"{where}: {stmt.get('Action')} on every resource of the type: {resource} -> {arn}"
                )
    assert not problems, "\n".join(problems)


def test_only_expected_managed_policies() -> None:
    res = resolver()
    problems = []
    for name, role in resources("AWS::IAM::Role", cfn()).items():
        for arn in role["Properties"].get("ManagedPolicyArns", []):
            for value in _branches(arn):
                if res.resolve(value) not in ALLOWED_MANAGED_POLICIES:
                    problems.append(f"{name}: managed policy {value}")
    assert not problems, (
        "managed policies beyond what SAM attaches (use a scoped policy template or an "
        "explicit statement):\n" + "\n".join(problems)
    )


@functools.cache
def sam_policy_templates() -> dict[str, Any]:
    """SAM's policy templates (name -> definition with its Parameters)."""
    from samtranslator.policy_template_processor.processor import PolicyTemplatesProcessor

    return PolicyTemplatesProcessor.get_default_policy_templates_json()["Templates"]


def _is_scoped(value: Any) -> bool:
    """A policy template parameter that names one resource: a Ref/GetAtt/Sub of a template resource or a
    literal without wildcards."""
    if isinstance(value, str):
        return "*" not in value and value != ""
    ref = referenced(value)
    if ref is not None:
        return ref in sam()["Resources"] or ref in parameter_defaults()
    resolved = resolver().resolve(value)
    return isinstance(resolved, str) and "*" not in resolved


@pytest.mark.parametrize("fn", FUNCTIONS, ids=fn_id)
def test_function_policies_are_scoped(fn: Function) -> None:
    """Each entry of Policies is an explicit Statement list or a SAM policy template bound to specific
    resources; never a managed policy by name, never a template parameter of "*"."""
    policies = fn.properties.get("Policies", [])
    templates = sam_policy_templates()
    problems = []
    for index, entry in enumerate(_as_list(policies)):
        where = f"{fn.logical_id}.Policies[{index}]"
        if isinstance(entry, str):
            if resolver().resolve(entry) not in ALLOWED_MANAGED_POLICIES:
                problems.append(f"{where}: managed policy {entry!r}")
        elif isinstance(entry, dict) and "Statement" in entry:
            continue  # explicit statements: checked by the wildcard tests on the transformed template
        elif isinstance(entry, dict) and len(entry) == 1 and next(iter(entry)) in templates:
            name, params = next(iter(entry.items()))
            wanted = set(templates[name].get("Parameters") or {})
            for key in sorted(wanted):
                if not _is_scoped((params or {}).get(key)):
                    problems.append(
                        f"{where}: {name}.{key} = {(params or {}).get(key)!r} is not one resource"
                    )
        else:
            problems.append(f"{where}: neither a Statement list nor a SAM policy template: {entry!r}")
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------ logs
def _names_log_group_of(name_prop: Any, fn: str) -> bool:
    if isinstance(name_prop, dict) and "Fn::Sub" in name_prop:
        sub = name_prop["Fn::Sub"]
        text, extra = (sub, {}) if isinstance(sub, str) else (sub[0], sub[1])
        if text == f"/aws/lambda/${{{fn}}}":
            return True
        m = re.fullmatch(r"/aws/lambda/\$\{(\w+)\}", text)
        return bool(m and referenced(extra.get(m.group(1))) == fn)
    if isinstance(name_prop, dict) and "Fn::Join" in name_prop:
        sep, parts = name_prop["Fn::Join"]
        return sep == "" and len(parts) == 2 and parts[0] == "/aws/lambda/" and parts[1] == {"Ref": fn}
    return False


@pytest.mark.parametrize("fn", FUNCTIONS, ids=fn_id)
def test_function_has_log_group_with_retention(fn: Function) -> None:
    groups = resources("AWS::Logs::LogGroup")
    custom = (fn.properties.get("LoggingConfig") or {}).get("LogGroup")
    if custom is not None:  # the function logs to a group of its own choosing
        target = referenced(custom)
        matching = {target: groups[target]} if target in groups else {}
    else:
        matching = {
            k: v
            for k, v in groups.items()
            if _names_log_group_of((v.get("Properties") or {}).get("LogGroupName"), fn.logical_id)
        }
    assert matching, (
        f"{fn.logical_id} has no AWS::Logs::LogGroup named !Sub /aws/lambda/${{{fn.logical_id}}}: "
        "Lambda would create one that never expires"
    )
    for name, group in matching.items():
        assert (group.get("Properties") or {}).get("RetentionInDays"), f"{name} has no RetentionInDays"


# ------------------------------------------------------------------ runtime
@pytest.mark.parametrize("fn", FUNCTIONS, ids=fn_id)
def test_runtime_is_python_312_or_later(fn: Function) -> None:
    m = re.fullmatch(r"python(\d+)\.(\d+)", fn.runtime)
    assert m, f"{fn.logical_id}: runtime {fn.runtime!r} is not a Python runtime"
    assert (int(m.group(1)), int(m.group(2))) >= MIN_PYTHON, f"{fn.logical_id}: {fn.runtime} < python3.12"


# ------------------------------------------------------------------ event sources and dead letters
def event_source_mappings() -> list[tuple[str, str, str, dict[str, Any]]]:
    """(mapping, source kind, source logical id, properties) of every event source mapping after the transform
    (SAM SQS/DynamoDB events and hand-written AWS::Lambda::EventSourceMapping alike)."""
    out = []
    for name, esm in resources("AWS::Lambda::EventSourceMapping", cfn()).items():
        props = esm["Properties"]
        source = referenced(props.get("EventSourceArn"))
        stype = resources(doc=cfn()).get(str(source), {}).get("Type", "")
        kind = {
            "AWS::SQS::Queue": "SQS",
            "AWS::DynamoDB::Table": "DynamoDB",
            "AWS::Kinesis::Stream": "Kinesis",
        }
        out.append((name, kind.get(stype, f"unknown {props.get('EventSourceArn')}"), str(source), props))
    return out


def _mapping_ids(kind: str | None = None) -> list[str]:
    return [m[0] for m in event_source_mappings() if kind is None or m[1] == kind]


@pytest.mark.parametrize("mapping", _mapping_ids())
def test_batch_sources_report_partial_failures(mapping: str) -> None:
    name, kind, source, props = next(m for m in event_source_mappings() if m[0] == mapping)
    assert kind in {"SQS", "DynamoDB"}, f"{name}: event source {kind} has no contract here yet; add one"
    assert "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []), (
        f"{name} ({kind} {source}): FunctionResponseTypes lacks ReportBatchItemFailures, so one bad record "
        "makes the whole batch retry"
    )
    if kind == "DynamoDB":
        on_failure = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        assert on_failure, f"{name}: stream source without DestinationConfig.OnFailure drops failed records"
        assert props.get("MaximumRetryAttempts") not in (None, -1) or props.get(
            "MaximumRecordAgeInSeconds"
        ) not in (None, -1), (
            f"{name}: retries forever (set MaximumRetryAttempts), the OnFailure destination "
            "would never be used and the shard would block"
        )


@pytest.mark.parametrize("mapping", _mapping_ids("SQS"))
def test_sqs_sources_have_a_redrive_policy(mapping: str) -> None:
    name, _, source, props = next(m for m in event_source_mappings() if m[0] == mapping)
    queue = resources("AWS::SQS::Queue").get(source)
    assert queue, f"{name}: {source} is not a queue of the template"
    redrive = (queue.get("Properties") or {}).get("RedrivePolicy") or {}
    dlq = referenced(redrive.get("deadLetterTargetArn"))
    assert dlq in resources("AWS::SQS::Queue"), (
        f"queue {source} has no RedrivePolicy to a DLQ of the template"
    )
    assert redrive.get("maxReceiveCount"), f"queue {source}: RedrivePolicy without maxReceiveCount"
    fn = next(f for f in functions().values() if referenced(props.get("FunctionName")) == f.logical_id)
    timeout = int(
        fn.properties.get("Timeout", sam().get("Globals", {}).get("Function", {}).get("Timeout", 3))
    )
    visibility = int((queue.get("Properties") or {}).get("VisibilityTimeout", 30))
    assert visibility >= timeout, (
        f"queue {source}: VisibilityTimeout {visibility}s < {fn.logical_id} Timeout "
        f"{timeout}s (Lambda refuses to create the mapping)"
    )


def dead_letter_queues() -> dict[str, str]:
    """Queue logical id -> why it is a DLQ."""
    dlqs: dict[str, str] = {}
    queues = resources("AWS::SQS::Queue")

    def note(node: Any, why: str) -> None:
        ref = referenced(node)
        if ref in queues:
            dlqs.setdefault(ref, why)

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "deadLetterTargetArn":
                    note(value, f"{where} RedrivePolicy.deadLetterTargetArn")
                elif key == "OnFailure" and isinstance(value, dict):
                    note(value.get("Destination"), f"{where} OnFailure destination")
                elif key == "DeadLetterQueue" and isinstance(value, dict):
                    note(value.get("TargetArn"), f"{where} DeadLetterQueue")
                elif key == "DeadLetterConfig" and isinstance(value, dict):
                    note(value.get("Arn") or value.get("TargetArn"), f"{where} DeadLetterConfig")
                else:
                    walk(value, where)
        elif isinstance(node, list):
            for item in node:
                walk(item, where)

    for name, res in sam()["Resources"].items():
        walk(res.get("Properties", {}), name)
    return dlqs


def _alarms_for(queue: str) -> list[str]:
    found = []
    for name, alarm in resources("AWS::CloudWatch::Alarm").items():
        props = alarm.get("Properties") or {}
        metrics = [props] + [
            (m.get("MetricStat") or {}).get("Metric", {}) for m in props.get("Metrics") or []
        ]
        for metric in metrics:
            if metric.get("MetricName") != "ApproximateNumberOfMessagesVisible" or metric.get(
                "Namespace"
            ) not in (None, "AWS/SQS"):
                continue
            if any(
                d.get("Name") == "QueueName" and referenced(d.get("Value")) == queue
                for d in metric.get("Dimensions") or []
            ):
                found.append(name)
    return found


def _dlq_ids() -> list[str]:
    return sorted(dead_letter_queues())


def test_there_are_dead_letter_queues() -> None:
    assert _dlq_ids(), "no dead-letter queue found in the template"


@pytest.mark.parametrize("queue", _dlq_ids())
def test_dead_letter_queue_is_alarmed(queue: str) -> None:
    why = dead_letter_queues()[queue]
    alarms = _alarms_for(queue)
    assert alarms, (
        f"{queue} ({why}) has no CloudWatch alarm on ApproximateNumberOfMessagesVisible with "
        f"Dimensions QueueName: !GetAtt {queue}.QueueName"
    )
    for name in alarms:
        assert resources("AWS::CloudWatch::Alarm")[name]["Properties"].get("AlarmActions"), (
            f"alarm {name} on {queue} notifies nobody (no AlarmActions)"
        )
    retention = int(
        (resources("AWS::SQS::Queue")[queue].get("Properties") or {}).get("MessageRetentionPeriod", 345600)
    )
    assert retention >= 7 * 86400, f"{queue}: a DLQ should keep messages for days, not {retention}s"
