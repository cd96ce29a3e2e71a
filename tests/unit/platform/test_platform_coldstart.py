"""The garbage collector is paused for a Lambda container's init phase and back when its first invocation
starts; boto3 clients are built with it paused too.

Each case runs in a fresh interpreter: the pause happens at the first import of `ecrm`, once per process.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.contract.support import functions

ROOT = Path(__file__).resolve().parents[3]

CONTEXT = """
class Context:
    function_name = "ecrm-fn"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:ecrm-fn"
    memory_limit_in_mb = 512
    aws_request_id = "req-1"
    log_group_name = "/aws/lambda/ecrm-fn"
    log_stream_name = "local"
    def get_remaining_time_in_millis(self):
        return 30000
"""


def _run(code: str, lambda_env: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_FUNCTION_NAME"}
    env.update(
        PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'layers' / 'ecrm'}",
        AWS_DEFAULT_REGION="eu-west-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_METRICS_NAMESPACE="ECRM",
        POWERTOOLS_SERVICE_NAME="test",
        TABLE_NAME="unused",
    )
    if lambda_env:
        env["AWS_LAMBDA_FUNCTION_NAME"] = "ecrm-fn"
    proc = subprocess.run(
        [sys.executable, "-c", CONTEXT + code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_outside_lambda_the_collector_is_left_alone() -> None:
    state = _run(
        "import gc, json, ecrm\nfrom ecrm.platform import coldstart\n"
        "print(json.dumps({'enabled': gc.isenabled(), 'paused': coldstart.paused()}))",
        lambda_env=False,
    )
    assert state == {"enabled": True, "paused": False}


def test_a_function_collects_again_during_its_first_invocation_and_froze_its_init_heap() -> None:
    state = _run(
        "import gc, json, importlib.util\n"
        "spec = importlib.util.spec_from_file_location('fn', 'functions/email_feedback/app.py')\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        "during_init = gc.isenabled()\n"
        "seen = []\n"
        "real = mod.feedback.handle_sns_event\n"
        "mod.feedback.handle_sns_event = lambda event: seen.append(gc.isenabled()) or real(event)\n"
        "result = mod.handler({'Records': []}, Context())\n"
        "print(json.dumps({'during_init': during_init, 'during_invocation': seen, 'after': gc.isenabled(),\n"
        "                  'frozen': gc.get_freeze_count(), 'result': result}))",
        lambda_env=True,
    )
    assert state["during_init"] is False
    assert state["during_invocation"] == [True]  # a long first invocation (a daily job) is collected as usual
    assert state["after"] is True
    assert state["frozen"] > 10_000  # the modules and objects init built
    assert state["result"] == {"suppressed": 0}


def test_a_client_is_built_with_the_collector_paused_then_frozen() -> None:
    state = _run(
        "import gc, json\n"
        "from ecrm.platform import aws, coldstart\n"
        "coldstart.finish()\n"
        "frozen = gc.get_freeze_count()\n"
        "seen = []\n"
        "gc.callbacks.append(lambda phase, info: seen.append(info['generation']))\n"
        "aws.client('sqs')\n"
        "print(json.dumps({'collections': len(seen), 'enabled': gc.isenabled(),\n"
        "                  'frozen_more': gc.get_freeze_count() - frozen}))",
        lambda_env=True,
    )
    assert state["collections"] == 0
    assert state["enabled"] is True
    assert state["frozen_more"] > 1_000  # the client and its service model


@pytest.mark.parametrize("name", sorted(n for n, f in functions().items() if not f.is_chalice_api))
def test_every_function_handler_wears_lambda_handler(name: str) -> None:
    """Without it the collector would stay paused for the container's life (and logs lack the context)."""
    fn = functions()[name]
    handler = fn.handler.rsplit(".", 1)[1]
    tree = ast.parse(fn.module_path.read_text())
    [definition] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == handler]
    names = [d.id for d in definition.decorator_list if isinstance(d, ast.Name)]
    assert names[:1] == ["lambda_handler"], f"{fn.module_path}: {handler} must be decorated @lambda_handler"


def test_a_failing_first_invocation_still_ends_the_init_phase() -> None:
    state = _run(
        "import gc, json\n"
        "from ecrm.platform.observability import lambda_handler\n"
        "@lambda_handler\n"
        "def handler(event, context):\n"
        "    raise RuntimeError('boom')\n"
        "during_init = gc.isenabled()\n"
        "try:\n"
        "    handler({}, Context())\n"
        "except RuntimeError:\n"
        "    pass\n"
        "print(json.dumps({'during_init': during_init, 'after': gc.isenabled()}))",
        lambda_env=True,
    )
    assert state == {"during_init": False, "after": True}


def test_the_api_collects_again_after_its_first_request() -> None:
    state = _run(
        "import gc, json\n"
        "import app\n"
        "during_init = gc.isenabled()\n"
        "event = json.load(open('events/api/place_guest_order.json'))\n"
        "event['body'] = '{not json'\n"
        "response = app.app(event, Context())\n"
        "print(json.dumps({'during_init': during_init, 'after': gc.isenabled(),\n"
        "                  'status': response['statusCode']}))",
        lambda_env=True,
    )
    assert state["during_init"] is False
    assert state["after"] is True
    assert state["status"] == 400
