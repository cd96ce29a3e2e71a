"""Bring up the resources of template.yaml on an embedded moto server, and invoke functions in-process."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from infra.local import moto_patches
from infra.local import template as tpl

log = logging.getLogger("ecrm.local")
REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK_NAME = "ecrm-local"

# Parameters the local stack passes instead of the template defaults (secrets that are not secret locally).
LOCAL_PARAMETERS = {
    "Stage": "local",
    "PublicBaseUrl": "http://127.0.0.1:8000",
    "MailFromAddress": "shop@example.com",
    "MailDomain": "example.com",
}


def _aws_env(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_MAX_ATTEMPTS": "1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }


class PortInUse(RuntimeError):
    """A fixed local port is taken by another program."""


def require_free_port(port: int | None, option: str) -> None:
    """Raise `PortInUse` naming `option` when 127.0.0.1:`port` cannot be bound (0 or None: nothing to check).

    moto's threaded server only prints a busy port from its own thread and then never becomes ready, so
    without this check `make run` would hang instead of saying what is wrong (on macOS, AirPlay holds 5000).
    """
    if not port:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the servers do: connections of a previous run lingering in TIME_WAIT do not make a port busy.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as err:
            raise PortInUse(
                f"port {port} is in use by another program: stop it, or pick another with {option} N"
            ) from err


def start_moto(port: int = 0) -> tuple[Any, str]:
    """An in-process moto server on 127.0.0.1; returns it and its endpoint URL."""
    from moto.server import ThreadedMotoServer

    require_free_port(port, "--moto-port")
    moto_patches.apply()

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound = server.get_host_and_port()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    return server, f"http://{host}:{bound}"


class LambdaContext:
    """What the Lambda runtime passes as `context`, enough for Powertools."""

    def __init__(self, spec: tpl.FunctionSpec) -> None:
        self.function_name = f"{STACK_NAME}-{spec.logical_id}"
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + spec.timeout

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds before the function's timeout."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class LocalFunction:
    """A function of the template, loaded as Lambda would load it, with its own environment."""

    spec: tpl.FunctionSpec
    environment: dict[str, str]
    _module: ModuleType | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def handler(self) -> Any:
        """The handler callable (the module is imported once, like a warm container)."""
        with self._lock:
            if self._module is None:
                from ecrm.platform.settings import scoped_env

                name = f"local_fn_{self.spec.logical_id}"
                spec = importlib.util.spec_from_file_location(name, self.spec.module_path)
                assert spec and spec.loader, self.spec.module_path
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                with scoped_env(self.environment):
                    spec.loader.exec_module(module)
                self._module = module
        return getattr(self._module, self.spec.attribute)

    def invoke(self, event: dict[str, Any]) -> Any:
        """Invoke with a real-shaped event, in this function's environment."""
        from ecrm.platform.settings import scoped_env

        fn = self.handler()
        with scoped_env(self.environment):
            return fn(event, LambdaContext(self.spec))


@dataclass
class Stack:
    """The running local stack: endpoint, physical resource ids and the functions."""

    endpoint: str
    physical: dict[str, str]
    attributes: dict[str, dict[str, str]]
    functions: dict[str, LocalFunction]
    sam: dict[str, Any]
    params: dict[str, str]

    def queue_url(self, logical_id: str) -> str:
        """The local URL of a queue of the template."""
        return self.attributes[logical_id]["LocalUrl"]

    def table(self) -> str:
        """The CRM table's physical name."""
        return self.physical["CrmTable"]


def _parameters(sam: dict[str, Any], overrides: dict[str, str]) -> dict[str, str]:
    params = {k: str(v.get("Default", "")) for k, v in sam.get("Parameters", {}).items()}
    params.update(overrides)
    return params


def create(endpoint: str, overrides: dict[str, str] | None = None) -> Stack:
    """Create every data resource of template.yaml in moto and wire the functions to it."""
    import boto3

    os.environ.update(_aws_env(endpoint))
    sam = tpl.load()
    params = _parameters(sam, {**LOCAL_PARAMETERS, **(overrides or {})})
    cfn = tpl.sam_transform(sam, params)
    data = tpl.data_stack(cfn)
    cf = boto3.client("cloudformation")
    cf.create_stack(
        StackName=STACK_NAME,
        TemplateBody=json.dumps(data),
        Parameters=[
            {"ParameterKey": k, "ParameterValue": v} for k, v in params.items() if k in data["Parameters"]
        ],
    )
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cf.describe_stack_resources(StackName=STACK_NAME)["StackResources"]
    }
    attributes = _attributes(data, physical, endpoint)
    _apply_what_moto_ignores(sam, cfn, params, physical, attributes)
    resolver = tpl.Resolver(REGION, ACCOUNT, params, physical, attributes)
    fns = {}
    for name, spec in tpl.functions(sam).items():
        env = {k: str(v) for k, v in resolver.resolve(spec.environment).items()}
        env.update(_aws_env(endpoint))
        env["AWS_LAMBDA_FUNCTION_NAME"] = f"{STACK_NAME}-{name}"
        fns[name] = LocalFunction(spec, env)
    return Stack(endpoint, physical, attributes, fns, sam, params)


def _attributes(data: dict[str, Any], physical: dict[str, str], endpoint: str) -> dict[str, dict[str, str]]:
    import boto3

    attrs: dict[str, dict[str, str]] = {}
    ddb = boto3.client("dynamodb")
    for name, res in data["Resources"].items():
        pid = physical.get(name)
        if pid is None:
            continue
        if res["Type"] == "AWS::DynamoDB::Table":
            desc = ddb.describe_table(TableName=pid)["Table"]
            attrs[name] = {"Arn": desc["TableArn"], "StreamArn": desc.get("LatestStreamArn", "")}
        elif res["Type"] == "AWS::SQS::Queue":
            qname = pid.rsplit("/", 1)[1]
            attrs[name] = {
                "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{qname}",
                "QueueName": qname,
                "QueueUrl": pid,
                "LocalUrl": f"{endpoint}/{ACCOUNT}/{qname}",
            }
        elif res["Type"] == "AWS::SNS::Topic":
            attrs[name] = {"TopicArn": pid, "TopicName": pid.rsplit(":", 1)[1]}
        elif res["Type"] == "AWS::S3::Bucket":
            attrs[name] = {"Arn": f"arn:aws:s3:::{pid}", "DomainName": f"{pid}.s3.amazonaws.com"}
    return attrs


def _apply_what_moto_ignores(
    sam: dict[str, Any],
    cfn: dict[str, Any],
    params: dict[str, str],
    physical: dict[str, str],
    attributes: dict[str, dict[str, str]],
) -> None:
    """TTL, SES identities, configuration sets and templates: moto's CloudFormation skips these."""
    import boto3

    resolver = tpl.Resolver(REGION, ACCOUNT, params, physical, attributes)
    ddb, ses = boto3.client("dynamodb"), boto3.client("ses")
    ses.verify_domain_identity(Domain=params["MailDomain"])
    ses.verify_email_identity(EmailAddress=params["MailFromAddress"])
    for name, res in cfn["Resources"].items():
        props = resolver.resolve(res.get("Properties", {}))
        if (
            res["Type"] == "AWS::DynamoDB::Table"
            and name in physical
            and props.get("TimeToLiveSpecification")
        ):
            spec = props["TimeToLiveSpecification"]
            ddb.update_time_to_live(TableName=physical[name], TimeToLiveSpecification=spec)
        elif res["Type"] == "AWS::SES::ConfigurationSet":
            ses.create_configuration_set(ConfigurationSet={"Name": props["Name"]})
            physical[name] = props["Name"]
        elif res["Type"] == "AWS::SES::Template":
            ses.create_template(Template=props["Template"])
            physical[name] = props["Template"]["TemplateName"]
