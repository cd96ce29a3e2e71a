"""Read template.yaml the way AWS does: SAM transform offline, then resolve what the local stack needs.

The local stack never hand-writes a resource: tables, queues and topics come from the transformed template
through moto's CloudFormation; functions, their environments, event sources and API routes are read from
the same file, so a resource or variable missing from template.yaml is missing locally too.
"""

from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

# Resource types moto's CloudFormation creates faithfully; the rest are applied by the local stack or are
# AWS-only (API Gateway, Lambda, IAM, Cognito, alarms, dashboard).
MOTO_CFN_TYPES = {"AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::S3::Bucket"}


def load(path: Path = TEMPLATE) -> dict[str, Any]:
    """template.yaml as plain JSON-able data (CloudFormation short tags expanded)."""
    from cfnlint.decode import cfn_yaml

    return json.loads(json.dumps(cfn_yaml.load(str(path)), default=str))


def sam_transform(sam: dict[str, Any], parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """The AWS SAM transform, offline (local code paths become placeholder S3 URIs, as `sam package` does)."""
    from samtranslator.translator.transform import transform

    doc = copy.deepcopy(sam)
    for name, res in doc["Resources"].items():
        props = res.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = f"s3://local-artifacts/{name}.zip"

    class _NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return transform(doc, parameters or {}, _NoManagedPolicies())


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "Ref" and isinstance(v, str):
                found.add(v)
            elif k == "Fn::GetAtt":
                found.add(v[0] if isinstance(v, list) else v.split(".")[0])
            elif k == "Fn::Sub":
                text = v if isinstance(v, str) else v[0]
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text)}
                if not isinstance(v, str):
                    found |= _refs(v[1])
            else:
                found |= _refs(v)
    elif isinstance(node, list):
        for item in node:
            found |= _refs(item)
    return found


def data_stack(cfn: dict[str, Any]) -> dict[str, Any]:
    """The part of the transformed template that moto's CloudFormation can create."""
    resources = {k: v for k, v in cfn["Resources"].items() if v["Type"] in MOTO_CFN_TYPES}
    params = cfn.get("Parameters", {})
    changed = True
    while changed:
        changed = False
        for name, res in list(resources.items()):
            missing = [
                r for r in _refs(res) if r not in resources and r not in params and not r.startswith("AWS::")
            ]
            if missing:
                del resources[name]
                changed = True
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": params,
        "Conditions": cfn.get("Conditions", {}),
        "Resources": resources,
    }


@dataclass
class EventSource:
    """One event source of a function, as declared in template.yaml."""

    name: str
    type: str
    properties: dict[str, Any]


@dataclass
class FunctionSpec:
    """A function of template.yaml: where its code is and what it is given."""

    logical_id: str
    code_dir: Path
    handler: str
    environment: dict[str, Any]
    events: list[EventSource] = field(default_factory=list)
    timeout: int = 10

    @property
    def module_path(self) -> Path:
        """The handler's module file."""
        return self.code_dir / (self.handler.rsplit(".", 1)[0].replace(".", "/") + ".py")

    @property
    def attribute(self) -> str:
        """The handler's attribute name in its module."""
        return self.handler.rsplit(".", 1)[1]


def functions(sam: dict[str, Any]) -> dict[str, FunctionSpec]:
    """Every AWS::Serverless::Function with Globals merged, as the Lambda service would see it."""
    glob = sam.get("Globals", {}).get("Function", {})
    glob_env = glob.get("Environment", {}).get("Variables", {})
    specs: dict[str, FunctionSpec] = {}
    for name, res in sam["Resources"].items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        props = res["Properties"]
        env = {**glob_env, **props.get("Environment", {}).get("Variables", {})}
        events = [
            EventSource(n, e["Type"], e.get("Properties", {})) for n, e in props.get("Events", {}).items()
        ]
        specs[name] = FunctionSpec(
            logical_id=name,
            code_dir=(ROOT / props["CodeUri"]).resolve(),
            handler=props["Handler"],
            environment=env,
            events=events,
            timeout=int(props.get("Timeout", glob.get("Timeout", 10))),
        )
    return specs


class Resolver:
    """Resolves the intrinsic functions used in environment variables and event sources."""

    def __init__(
        self,
        region: str,
        account: str,
        params: dict[str, str],
        physical: dict[str, str],
        attributes: dict[str, dict[str, str]],
    ) -> None:
        self.region, self.account = region, account
        self.params, self.physical, self.attributes = params, physical, attributes

    def _ref(self, name: str) -> str:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
            "AWS::StackName": "ecrm-local",
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.params:
            return self.params[name]
        if name in self.physical:
            return self.physical[name]
        return f"local-{name}"

    def _getatt(self, name: str, attr: str) -> str:
        return self.attributes.get(name, {}).get(attr, f"local-{name}-{attr}")

    def resolve(self, node: Any) -> Any:
        """A value with Ref / Fn::GetAtt / Fn::Sub / Fn::Join replaced by local values."""
        if isinstance(node, dict) and len(node) == 1:
            ((k, v),) = node.items()
            if k == "Ref":
                return self._ref(v)
            if k == "Fn::GetAtt":
                name, attr = v if isinstance(v, list) else v.split(".", 1)
                return self._getatt(name, attr)
            if k == "Fn::Sub":
                text, extra = (v, {}) if isinstance(v, str) else (v[0], self.resolve(v[1]))

                def sub(m: re.Match[str]) -> str:
                    token = m.group(1)
                    if token in extra:
                        return str(extra[token])
                    if "." in token and not token.startswith("AWS::"):
                        return self._getatt(*token.split(".", 1))
                    return self._ref(token)

                return re.sub(r"\$\{([^}!]+)\}", sub, text)
            if k == "Fn::Join":
                return v[0].join(str(self.resolve(x)) for x in v[1])
        if isinstance(node, dict):
            return {k: self.resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [self.resolve(x) for x in node]
        return node
