"""Sample events under events/ are real AWS shapes for what invokes each function, and they cover every
function, event source and route.

- `events/api/*.json`: API Gateway REST proxy events for the Chalice app, one route each
  (`requestContext.resourcePath` + `httpMethod`); file names start with the route's view name.
- `events/<function folder>/*.json` (the folder of the function's CodeUri): an event of one of the
  function's sources, checked with Powertools' parser models (pydantic, strict) and event data classes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities import data_classes as dc
from aws_lambda_powertools.utilities.parser import ValidationError, parse
from aws_lambda_powertools.utilities.parser import models as pm

from .support import (
    API_EVENTS_DIR,
    EVENTS,
    Function,
    Route,
    chalice_function,
    chalice_routes,
    event_files,
    event_sources,
    functions,
    load_event,
    referenced,
    rel,
    resolver,
    resources,
)

PARSER_MODELS: dict[str, Any] = {
    "SQS": pm.SqsModel,
    "DynamoDB": pm.DynamoDBStreamModel,
    "SNS": pm.SnsModel,
    "S3": pm.S3Model,
    "SES": pm.SesModel,
    "EventBridge": pm.EventBridgeModel,
}


def _touch_sqs(ev: dc.SQSEvent) -> Any:
    return [(r.message_id, r.body, r.attributes.sent_timestamp, r.event_source_arn) for r in ev.records]


def _touch_ddb(ev: dc.DynamoDBStreamEvent) -> Any:
    return [
        (
            r.event_name,
            r.dynamodb.keys,
            r.dynamodb.new_image,
            r.dynamodb.old_image,
            r.dynamodb.sequence_number,
        )
        for r in ev.records
    ]


def _touch_sns(ev: dc.SNSEvent) -> Any:
    return [(r.sns.message_id, r.sns.message, r.sns.topic_arn, r.sns.message_attributes) for r in ev.records]


def _touch_s3(ev: dc.S3Event) -> Any:
    return [(r.s3.bucket.name, r.s3.get_object.key, r.event_name) for r in ev.records]


def _touch_ses(ev: dc.SESEvent) -> Any:
    return [
        (
            r.ses.mail.message_id,
            r.ses.mail.common_headers.subject,
            r.ses.receipt.action.get_type,
            r.ses.receipt.spam_verdict.status,
        )
        for r in ev.records
    ]


def _touch_eventbridge(ev: dc.EventBridgeEvent) -> Any:
    return (ev.get_id, ev.detail_type, ev.source, ev.detail)


# Data class + a reader that touches its fields (the classes are lazy wrappers: reading is what checks).
DATA_CLASSES: dict[str, tuple[type, Callable[[Any], Any]]] = {
    "SQS": (dc.SQSEvent, _touch_sqs),
    "DynamoDB": (dc.DynamoDBStreamEvent, _touch_ddb),
    "SNS": (dc.SNSEvent, _touch_sns),
    "S3": (dc.S3Event, _touch_s3),
    "SES": (dc.SESEvent, _touch_ses),
    "EventBridge": (dc.EventBridgeEvent, _touch_eventbridge),
}


def function_for_folder(folder: str) -> Function | None:
    return next((f for f in functions().values() if f.events_dir == folder), None)


def sources(fn: Function) -> list[tuple[str, str, dict[str, Any]]]:
    return [s for s in event_sources(fn) if s[0] != "Api"]


@cache
def parses_as(path: Path) -> dict[str, str | None]:
    """For the function owning `path`: source kind -> None if the sample parses as that kind, else why not."""
    fn = function_for_folder(path.parent.name)
    assert fn is not None
    doc = load_event(path)
    out: dict[str, str | None] = {}
    for kind, _, _props in sources(fn):
        if kind in out:
            continue
        if kind in PARSER_MODELS:
            try:
                parse(event=doc, model=PARSER_MODELS[kind])
                cls, touch = DATA_CLASSES[kind]
                touch(cls(doc))
                out[kind] = None
            except (ValidationError, KeyError, TypeError, ValueError, AttributeError) as err:
                out[kind] = f"{type(err).__name__}: {str(err)[:600]}"
        elif kind in {"ConstantInput", "Scheduler"}:
            inputs = [json.loads(p["Input"]) for k, _, p in sources(fn) if k == kind and "Input" in p]
            ok = (doc in inputs) if inputs else isinstance(doc, dict)
            out[kind] = None if ok else f"not one of the constant Inputs {inputs}"
        else:
            out[kind] = f"no contract for source kind {kind}"
    return out


# ------------------------------------------------------------------ layout
def test_there_are_sample_events() -> None:
    assert event_files(), f"no sample events under {rel(EVENTS)}"


def test_every_sample_folder_belongs_to_a_function() -> None:
    folders = {f.events_dir for f in functions().values()}
    stray = sorted(
        {rel(p) for p in event_files() if p.parent == EVENTS or p.relative_to(EVENTS).parts[0] not in folders}
    )
    assert not stray, f"samples outside events/<function folder>/ (folders: {sorted(folders)}): {stray}"


# ------------------------------------------------------------------ API samples
API_FILES = [p for p in event_files() if p.parent.name == API_EVENTS_DIR]
FUNCTION_FILES = [
    p
    for p in event_files()
    if p.parent != EVENTS
    and p.parent.name != API_EVENTS_DIR
    and function_for_folder(p.parent.name) is not None
]


def _path_regex(resource: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{(\w+)(?:\\\+)?\\\}", r"(?P<\1>[^/]+)", re.escape(resource)) + "$")


def _authorizer(route_path: str, method: str) -> str | None:
    for ev in chalice_function().events.values():
        props = ev.get("Properties") or {}
        if (
            ev.get("Type") == "Api"
            and props.get("Path") == route_path
            and str(props.get("Method")).upper() == method
        ):
            return (props.get("Auth") or {}).get("Authorizer")
    return None


@pytest.mark.parametrize("path", API_FILES, ids=rel)
def test_api_sample_is_a_rest_proxy_event_for_a_route(path: Path) -> None:
    doc = load_event(path)
    model = parse(event=doc, model=pm.APIGatewayProxyEventModel)
    event = dc.APIGatewayProxyEvent(doc)
    ctx = event.request_context
    method, resource = ctx.http_method, ctx.resource_path
    assert (event.http_method, event.resource) == (method, resource), "top-level and requestContext disagree"
    routes = {(r.path, r.method): r for r in chalice_routes()}
    route = routes.get((resource, method))
    assert route, f"{rel(path)}: {method} {resource} is not a route of app.py (routes: {sorted(routes)})"
    assert path.stem.startswith(route.view_name), f"{rel(path)}: name it {route.view_name}[...].json"

    params = event.path_parameters or {}
    assert sorted(params) == sorted(route.view_args), (
        f"pathParameters {params} vs route args {route.view_args}"
    )
    m = _path_regex(resource).match(event.path)
    assert m and m.groupdict() == params, f"path {event.path} does not fit {resource} with {params}"
    assert str(model.requestContext.path or "").endswith(event.path), (
        "requestContext.path is not the stage path"
    )
    assert ctx.request_id and ctx.stage and ctx.identity.source_ip, (
        "requestId, stage and identity.sourceIp are set"
    )

    headers = doc.get("headers") or {}
    lowered = [k.lower() for k in headers]
    assert len(lowered) == len(set(lowered)), "a header appears twice with different case"
    mv = doc.get("multiValueHeaders") or {}
    assert {k: v[-1] for k, v in mv.items()} == headers, "headers and multiValueHeaders disagree"
    mvq = doc.get("multiValueQueryStringParameters") or {}
    assert {k: v[-1] for k, v in mvq.items()} == (doc.get("queryStringParameters") or {}), (
        "queryStringParameters and multiValueQueryStringParameters disagree"
    )

    if doc.get("body") is not None:
        assert isinstance(doc["body"], str), "body is a string, as API Gateway sends it"
        ctype = (event.headers.get("content-type") or "").split(";")[0].strip()
        if ctype == "application/json" and not doc.get("isBase64Encoded"):
            json.loads(doc["body"])

    auth = _authorizer(route.path, route.method)
    claims = ((doc["requestContext"].get("authorizer") or {}).get("claims")) or {}
    if auth == "CustomerAuthorizer":
        from ecrm.customers.identity import from_claims

        assert {"sub", "email", "name"} <= set(claims), (
            f"Cognito claims need sub, email, name: {sorted(claims)}"
        )
        assert all(isinstance(v, str) for v in claims.values()), "API Gateway passes every claim as a string"
        from_claims(claims)
        assert event.headers.get("authorization"), "a Cognito route is called with the ID token"
    elif auth == "AWS_IAM":
        assert not claims, "an IAM route has no Cognito claims"
        assert ctx.identity.user_arn and ctx.identity.access_key, (
            "IAM calls carry identity.userArn and accessKey"
        )
        assert (event.headers.get("authorization") or "").startswith("AWS4-HMAC-SHA256 "), (
            "SigV4 Authorization"
        )
    else:
        assert not claims, f"{auth} route with Cognito claims"


@pytest.mark.parametrize("route", chalice_routes(), ids=str)
def test_every_route_has_a_sample_event(route: Route) -> None:
    samples = [
        p
        for p in API_FILES
        if (load_event(p).get("requestContext") or {}).get("resourcePath") == route.path
        and (load_event(p).get("requestContext") or {}).get("httpMethod") == route.method
    ]
    assert samples, (
        f"route {route} has no sample event: add events/{API_EVENTS_DIR}/{route.view_name}.json "
        f"(requestContext.resourcePath {route.path}, httpMethod {route.method})"
    )


# ------------------------------------------------------------------ function samples
def _physical_matches(logical: str, name: str) -> bool:
    props = resources().get(logical, {}).get("Properties") or {}
    explicit = next(
        (props[k] for k in ("QueueName", "TableName", "TopicName", "BucketName") if k in props), None
    )
    if explicit is not None:
        return resolver().resolve(explicit) == name
    return f"-{logical}-" in name  # CloudFormation's generated <stack>-<LogicalId>-<suffix>


def _source_resources(fn: Function, kind: str) -> list[str]:
    keys = {
        "SQS": ("Queue", "EventSourceArn"),
        "DynamoDB": ("Stream", "EventSourceArn"),
        "SNS": ("Topic", "TopicArn"),
    }.get(kind, ())
    found = []
    for k, _, props in sources(fn):
        if k == kind:
            found += [str(referenced(props[key])) for key in keys if key in props]
    return found


@pytest.mark.parametrize("path", FUNCTION_FILES, ids=rel)
def test_function_sample_parses_as_one_of_its_sources(path: Path) -> None:
    fn = function_for_folder(path.parent.name)
    assert fn is not None
    results = parses_as(path)
    assert results, f"{fn.logical_id} has no event source in template.yaml, yet {rel(path)} exists"
    assert any(v is None for v in results.values()), (
        f"{rel(path)} is none of {fn.logical_id}'s event sources:\n"
        + "\n".join(f"  {k}: {v}" for k, v in results.items())
    )


@pytest.mark.parametrize("path", FUNCTION_FILES, ids=rel)
def test_function_sample_content(path: Path) -> None:
    """Beyond the shape: the sample comes from this function's own source and carries what its code reads."""
    fn = function_for_folder(path.parent.name)
    assert fn is not None
    kinds = [k for k, v in parses_as(path).items() if v is None]
    if not kinds:
        pytest.skip("does not parse (see test_function_sample_parses_as_one_of_its_sources)")
    doc = load_event(path)
    code = fn.module_path.read_text(encoding="utf-8")
    for kind in kinds:
        if kind == "SQS":
            for record in doc["Records"]:
                queue = record["eventSourceARN"].split(":")[5]
                assert any(_physical_matches(q, queue) for q in _source_resources(fn, kind)), (
                    f"{queue} is not one of {fn.logical_id}'s queues {_source_resources(fn, kind)}"
                )
                assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest(), "md5OfBody"
                if "OutboundEmail.from_json" in code:
                    from ecrm.mail.outbound import OutboundEmail

                    OutboundEmail.from_json(record["body"])
        elif kind == "DynamoDB":
            from ecrm.platform import ddb

            for record in doc["Records"]:
                table = record["eventSourceARN"].split(":")[5].split("/")[1]
                tables = [t for t in _source_resources(fn, kind)]
                assert any(_physical_matches(t, table) for t in tables), f"{table} is not one of {tables}"
                data = record["dynamodb"]
                view = next(
                    (resources()[t]["Properties"].get("StreamSpecification") or {}).get("StreamViewType")
                    for t in tables
                    if _physical_matches(t, table)
                )
                assert data["StreamViewType"] == view, f"the table's stream is {view}"
                for image in ("NewImage", "OldImage"):
                    if image in data:
                        item = ddb.from_item(data[image])
                        assert item and {k: item[k] for k in data["Keys"]} == ddb.from_item(data["Keys"]), (
                            f"{image} does not carry the record's Keys"
                        )
                        assert item.get("type"), f"{image} without the `type` every item carries"
                        if item["type"] == "ORDER":
                            _check_order_item(item)
                if "router.change_from_record" in code:
                    from ecrm.events import router

                    router.change_from_record(record)
        elif kind == "SNS":
            for record in doc["Records"]:
                topic = record["Sns"]["TopicArn"].split(":")[5]
                topics = _source_resources(fn, kind)
                assert any(_physical_matches(t, topic) for t in topics), f"{topic} is not one of {topics}"
                assert record["EventSubscriptionArn"].startswith(record["Sns"]["TopicArn"] + ":")
                for t in topics:
                    ses_types = _ses_event_types(t)
                    if ses_types and _physical_matches(t, topic):  # SES event publishing feeds this topic
                        message = json.loads(record["Sns"]["Message"])
                        assert str(message.get("eventType", "")).lower() in ses_types, (
                            f"eventType {message.get('eventType')} is not one SES sends here ({ses_types})"
                        )
                        assert message.get("mail", {}).get("messageId"), (
                            "SES notifications carry mail.messageId"
                        )
        elif kind == "SES":
            rules = [(where, props) for k, where, props in sources(fn) if k == "SES"]
            for record in doc["Records"]:
                receipt = record["ses"]["receipt"]
                assert receipt["action"]["type"] == "Lambda", (
                    "a receipt rule's Lambda action invokes the function"
                )
                assert f"-{fn.logical_id}-" in receipt["action"]["functionArn"], (
                    f"functionArn {receipt['action']['functionArn']} is not {fn.logical_id}"
                )
                allowed = set()
                for where, _ in rules:
                    rule = (resources()[where].get("Properties") or {}).get("Rule") or {}
                    allowed |= {str(resolver().resolve(r)).lower() for r in rule.get("Recipients") or []}
                if allowed:
                    assert {r.lower() for r in receipt["recipients"]} <= allowed, (
                        f"recipients {receipt['recipients']} are not the rule's {sorted(allowed)}"
                    )


def _ses_event_types(topic: str) -> set[str]:
    """Event types an SES configuration set publishes to `topic` (empty if SES does not publish there)."""
    found: set[str] = set()
    for res in resources("AWS::SES::ConfigurationSetEventDestination").values():
        dest = ((res.get("Properties") or {}).get("EventDestination")) or {}
        if referenced((dest.get("SnsDestination") or {}).get("TopicARN")) == topic:
            found |= {str(t).lower() for t in dest.get("MatchingEventTypes") or []}
    return found


def _check_order_item(item: dict[str, Any]) -> None:
    """An ORDER image has what the code that reads orders needs (API view, email data)."""
    from ecrm.orders import service
    from ecrm.platform.settings import scoped_env

    service.view(item, [], include_private=True)
    from ecrm.orders.notifications import email_data

    env = {"TRACKING_LINK_SECRET": "x" * 32, "PUBLIC_BASE_URL": "https://shop.example.com"}
    with scoped_env(env):
        email_data(item)


def _function_sources() -> list[tuple[str, str]]:
    return sorted(
        {(f.logical_id, k) for f in functions().values() if not f.is_chalice_api for k, _, _ in sources(f)}
    )


@pytest.mark.parametrize(("function", "kind"), _function_sources(), ids=lambda v: str(v))
def test_every_function_source_has_a_sample_event(function: str, kind: str) -> None:
    fn = functions()[function]
    folder = EVENTS / fn.events_dir
    samples = [p for p in sorted(folder.glob("*.json")) if parses_as(p).get(kind) is None]
    assert samples, f"{function} ({kind} source) has no sample event that parses as {kind} in {rel(folder)}/"


def test_every_function_has_a_sample_event() -> None:
    missing = [
        f"{f.logical_id} -> {rel(EVENTS / f.events_dir)}/"
        for f in functions().values()
        if not sorted((EVENTS / f.events_dir).glob("*.json"))
    ]
    assert not missing, "functions without sample events: " + ", ".join(missing)
