"""What the contract tests read: template.yaml (as written and SAM-transformed), the Chalice app, events/.

Everything is discovered from the files at test time, so a route, function, queue or sample event added by
anyone is checked without editing these tests.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from infra.local import template as tpl

ROOT = tpl.ROOT
EVENTS = ROOT / "events"
REGION, ACCOUNT = "us-east-1", "123456789012"
API_EVENTS_DIR = "api"  # events/api/ holds the API function's (REST proxy) samples

# SAM event types a function may be invoked by, and the kind of payload each delivers.
SAM_EVENT_KINDS = {
    "SQS": "SQS",
    "DynamoDB": "DynamoDB",
    "SNS": "SNS",
    "S3": "S3",
    "Schedule": "EventBridge",
    "EventBridgeRule": "EventBridge",
    "CloudWatchEvent": "EventBridge",
    "ScheduleV2": "Scheduler",
    "Api": "Api",
}


@cache
def sam() -> dict[str, Any]:
    """template.yaml as data (short-form intrinsics expanded)."""
    return tpl.load()


@cache
def cfn() -> dict[str, Any]:
    """template.yaml after the SAM transform (offline)."""
    return tpl.sam_transform(sam(), parameter_defaults())


def parameter_defaults() -> dict[str, str]:
    """Every template parameter at its default."""
    return {k: str(v.get("Default", "")) for k, v in sam().get("Parameters", {}).items()}


def resources(kind: str | None = None, doc: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Resources of template.yaml (or `doc`), optionally of one type."""
    res = (doc or sam())["Resources"]
    return {k: v for k, v in res.items() if kind is None or v.get("Type") == kind}


def resolver() -> tpl.Resolver:
    """Resolves intrinsics with parameter defaults; a resource's Ref becomes `local-<LogicalId>`."""
    return tpl.Resolver(REGION, ACCOUNT, parameter_defaults(), {}, {})


def referenced(node: Any) -> str | None:
    """The logical id a `Ref`, `Fn::GetAtt` or single-reference `Fn::Sub` names (None otherwise)."""
    if isinstance(node, dict) and len(node) == 1:
        ((key, value),) = node.items()
        if key == "Ref" and isinstance(value, str):
            return value
        if key == "Fn::GetAtt":
            return value[0] if isinstance(value, list) else str(value).split(".")[0]
        if key == "Fn::Sub" and isinstance(value, str):
            refs = re.findall(r"\$\{([^}!]+)\}", value)
            own = {r.split(".")[0] for r in refs if not r.startswith("AWS::")}
            return own.pop() if len(own) == 1 else None
    return None


def all_refs(node: Any) -> set[str]:
    """Every logical id or parameter a node references."""
    return tpl._refs(node)


# ------------------------------------------------------------------ functions
@dataclass(frozen=True, eq=False)  # hashed by identity: functions() is cached
class Function:
    """One AWS::Serverless::Function with Globals applied."""

    logical_id: str
    properties: dict[str, Any]
    environment: dict[str, Any]
    runtime: str
    code_uri: str
    handler: str

    @property
    def events(self) -> dict[str, dict[str, Any]]:
        """SAM events by name: {"Type", "Properties"}."""
        return self.properties.get("Events") or {}

    @property
    def is_chalice_api(self) -> bool:
        """The Chalice app at the repository root."""
        return self.handler.rsplit(".", 1)[0] == "app" and (ROOT / self.code_uri).resolve() == ROOT.resolve()

    @property
    def events_dir(self) -> str:
        """The folder under events/ that holds this function's sample events."""
        if self.is_chalice_api:
            return API_EVENTS_DIR
        return Path(self.code_uri.rstrip("/")).name

    @property
    def module_path(self) -> Path:
        """The handler module's file."""
        base = (ROOT / self.code_uri).resolve()
        return base / (self.handler.rsplit(".", 1)[0].replace(".", "/") + ".py")


@cache
def functions() -> dict[str, Function]:
    """Every AWS::Serverless::Function of template.yaml, Globals merged."""
    glob = sam().get("Globals", {}).get("Function", {})
    glob_env = (glob.get("Environment") or {}).get("Variables") or {}
    found = {}
    for name, res in resources("AWS::Serverless::Function").items():
        props = res.get("Properties", {})
        env = {**glob_env, **((props.get("Environment") or {}).get("Variables") or {})}
        found[name] = Function(
            logical_id=name,
            properties=props,
            environment=env,
            runtime=str(props.get("Runtime", glob.get("Runtime", ""))),
            code_uri=str(props.get("CodeUri", glob.get("CodeUri", ""))),
            handler=str(props.get("Handler", glob.get("Handler", ""))),
        )
    return found


def chalice_function() -> Function:
    """The function that runs app.py."""
    matches = [f for f in functions().values() if f.is_chalice_api]
    assert len(matches) == 1, (
        f"expected exactly one function with CodeUri . and Handler app.app, got {matches}"
    )
    return matches[0]


def _function_of(node: Any) -> str | None:
    ref = referenced(node)
    return ref if ref in functions() else None


def event_sources(fn: Function) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, where, properties) for every way AWS invokes `fn`: SAM events, SES receipt rules, SNS
    subscriptions, EventBridge rules and schedules and event source mappings declared as plain resources."""
    found: list[tuple[str, str, dict[str, Any]]] = []
    for name, ev in fn.events.items():
        found.append(
            (
                SAM_EVENT_KINDS.get(ev.get("Type", ""), f"unsupported:{ev.get('Type')}"),
                f"{fn.logical_id}.Events.{name}",
                ev.get("Properties") or {},
            )
        )
    for name, res in sam()["Resources"].items():
        rtype, props = res.get("Type"), res.get("Properties") or {}
        if rtype in {"AWS::SES::ReceiptRule", "AWS::SES::ReceiptRuleSet"}:
            rules = [props.get("Rule", {})] if rtype == "AWS::SES::ReceiptRule" else props.get("Rules", [])
            for rule in rules:
                for action in rule.get("Actions", []):
                    if _function_of((action.get("LambdaAction") or {}).get("FunctionArn")) == fn.logical_id:
                        found.append(("SES", name, action["LambdaAction"]))
        elif rtype == "AWS::SNS::Subscription" and props.get("Protocol") == "lambda":
            if _function_of(props.get("Endpoint")) == fn.logical_id:
                found.append(("SNS", name, props))
        elif rtype == "AWS::SNS::Topic":
            for sub in props.get("Subscription") or []:
                if sub.get("Protocol") == "lambda" and _function_of(sub.get("Endpoint")) == fn.logical_id:
                    found.append(("SNS", name, sub))
        elif rtype == "AWS::Events::Rule":
            for target in props.get("Targets") or []:
                if _function_of(target.get("Arn")) == fn.logical_id:
                    kind = "ConstantInput" if "Input" in target else "EventBridge"
                    found.append((kind, name, target))
        elif rtype == "AWS::Scheduler::Schedule":
            if _function_of((props.get("Target") or {}).get("Arn")) == fn.logical_id:
                found.append(("Scheduler", name, props["Target"]))
        elif (
            rtype == "AWS::Lambda::EventSourceMapping"
            and _function_of(props.get("FunctionName")) == fn.logical_id
        ):
            source = str(referenced(props.get("EventSourceArn")) or "")
            stype = resources().get(source, {}).get("Type", "")
            kind = {"AWS::SQS::Queue": "SQS", "AWS::DynamoDB::Table": "DynamoDB"}.get(
                stype, f"unsupported:{stype}"
            )
            found.append((kind, name, props))
    # A Schedule / EventBridge rule with a constant Input delivers that Input, not the EventBridge envelope.
    return [("ConstantInput" if k == "EventBridge" and "Input" in p else k, w, p) for k, w, p in found]


# ------------------------------------------------------------------ code
SENDER_MODULE = "ecrm.mail.sender"
SENDER_ENTRY_POINTS = ("deliver", "_send")  # where templated and raw mail leave through SES


@cache
def graph(fn: Function) -> Any:
    """The static reference graph of a function's entry point (see codegraph.py)."""
    from . import codegraph

    assert fn.module_path.is_file(), f"{fn.logical_id}: handler module {rel(fn.module_path)} does not exist"
    return codegraph.graph_for(fn.module_path, f"entry_{fn.logical_id}")


def sends_mail(fn: Function) -> bool:
    """The function's app.py imports the sender, or its code can reach the sender's send path (importing
    the module for a helper such as `suppression_reason` does not count)."""
    entry = graph(fn).infos[f"entry_{fn.logical_id}"]
    direct = any(t == SENDER_MODULE or t.startswith(SENDER_MODULE + ".") for t in entry.imports.values())
    return direct or any((SENDER_MODULE, s) in graph(fn).reached for s in SENDER_ENTRY_POINTS)


# ------------------------------------------------------------------ Chalice
@dataclass(frozen=True)
class Route:
    """One method on one Chalice route."""

    path: str
    method: str
    view_name: str
    view_args: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.view_name})"


@cache
def chalice_routes() -> list[Route]:
    """Every (path, method) app.py serves."""
    import app  # the Chalice app at the repository root (pytest puts the root on sys.path)

    return sorted(
        (
            Route(path, method.upper(), entry.view_name, tuple(entry.view_args))
            for path, methods in app.app.routes.items()
            for method, entry in methods.items()
        ),
        key=lambda r: (r.path, r.method),
    )


# ------------------------------------------------------------------ sample events
def event_files() -> list[Path]:
    """Every JSON file under events/."""
    return sorted(EVENTS.rglob("*.json")) if EVENTS.is_dir() else []


def load_event(path: Path) -> Any:
    """A sample event's JSON."""
    return json.loads(path.read_text(encoding="utf-8"))


def rel(path: Path) -> str:
    """A path relative to the repository root, for messages."""
    return str(path.relative_to(ROOT))
