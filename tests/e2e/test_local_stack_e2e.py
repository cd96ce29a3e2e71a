"""`python -m infra.local run` end to end, as a storefront, a member, an admin and a person at a terminal
use it: HTTP to the gateway, SigV4-signed admin calls, the AWS CLI against moto, the outbox folder, Ctrl-C."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.e2e.conftest import READY_LINE, ROOT, LocalStack, free_port, person_env, wait_for
from tests.integration.orders_helpers import order_body, unique_email

pytestmark = pytest.mark.e2e

MAIL_WAIT_S = 8.0  # "within a few seconds": the pollers and the outbox run every 0.2 s
SETTLE_S = 1.5  # after the expected mail arrived, long enough for a duplicate to show up
STOP_WITHIN_S = 10.0  # Ctrl-C to exit; typically 2-3 s, most of it the interpreter freeing moto's state


def signed_post(stack: LocalStack, path: str, body: dict[str, Any]) -> requests.Response:
    """POST signed with SigV4 for execute-api, as the AWS CLI or an SDK signs for an IAM principal."""
    url, data = stack.base + path, json.dumps(body)
    req = AWSRequest(method="POST", url=url, data=data, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials("test", "test"), "execute-api", "us-east-1").add_auth(req)
    assert req.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=test/")
    return requests.post(url, data=data, headers=dict(req.headers.items()), timeout=30)


def subjects_once(stack: LocalStack, to: str, expected: list[str]) -> list[Any]:
    """Wait until every expected subject reached `to`, then check nothing else (or twice) came."""
    wait_for(lambda: {m["Subject"] for m in stack.emails(to)} >= set(expected), timeout=MAIL_WAIT_S)
    time.sleep(SETTLE_S)
    mails = stack.emails(to)
    assert sorted(m["Subject"] for m in mails) == sorted(expected)
    return mails


def text_of(msg: Any) -> str:
    """The plain-text part of an email."""
    part = msg.get_body(preferencelist=("plain",))
    return part.get_content() if part else ""


def test_guest_order_with_an_idempotency_key_is_placed_once_and_confirmed_once(
        local_stack: LocalStack) -> None:
    email = unique_email("guest")
    body = order_body(email)
    key = {"Idempotency-Key": f"e2e-{uuid.uuid4().hex}"}
    first = requests.post(f"{local_stack.base}/orders", json=body, headers=key, timeout=30)
    assert first.status_code == 201, first.text
    order = first.json()
    assert order["status"] == "placed" and order["total"]["amount"] == 2 * 2900 + 1490
    retry = requests.post(f"{local_stack.base}/orders", json=body, headers=key, timeout=30)
    assert retry.status_code == 201 and retry.json()["order_id"] == order["order_id"]

    token = order["tracking_url"].rsplit("/", 1)[1]
    tracked = requests.get(f"{local_stack.base}/track/{token}", timeout=30)
    assert tracked.status_code == 200 and tracked.json()["status"] == "placed"
    assert "email" not in tracked.json()

    mails = subjects_once(local_stack, email, [f"Order {order['order_id']} confirmed"])
    assert token in text_of(mails[0])


def test_members_get_tokens_from_http_and_the_cli_and_see_only_their_orders(local_stack: LocalStack) -> None:
    email = unique_email("member")
    resp = requests.post(f"{local_stack.base}/_local/token", json={"email": email}, timeout=30)
    assert resp.status_code == 200, resp.text
    bearer = {"Authorization": f"Bearer {resp.json()['id_token']}"}

    ids = []
    for _ in range(2):
        placed = requests.post(f"{local_stack.base}/me/orders", json=order_body(email), headers=bearer,
                               timeout=30)
        assert placed.status_code == 201, placed.text
        assert placed.headers["Location"] == f"/orders/{placed.json()['order_id']}"
        ids.append(placed.json()["order_id"])
    listed = requests.get(f"{local_stack.base}/me/orders", headers=bearer, timeout=30)
    assert listed.status_code == 200
    assert [o["order_id"] for o in listed.json()["orders"]] == ids[::-1]  # newest first
    one = requests.get(f"{local_stack.base}/orders/{ids[0]}", headers=bearer, timeout=30)
    assert one.status_code == 200 and one.json()["email"] == email
    assert requests.get(f"{local_stack.base}/me/orders", timeout=30).status_code == 401

    # `python -m infra.local token EMAIL` prints a token the running stack accepts, for the same customer.
    cli = subprocess.run([sys.executable, "-m", "infra.local", "token", email], cwd=ROOT, env=person_env(),
                         capture_output=True, text=True, timeout=60, check=False)
    assert cli.returncode == 0, cli.stderr
    printed = cli.stdout.strip()
    assert printed.count(".") == 2 and "\n" not in printed
    again = requests.get(f"{local_stack.base}/me/orders", headers={"Authorization": f"Bearer {printed}"},
                         timeout=30)
    assert again.status_code == 200 and [o["order_id"] for o in again.json()["orders"]] == ids[::-1]
    stranger = subprocess.run([sys.executable, "-m", "infra.local", "token", unique_email("other")], cwd=ROOT,
                              env=person_env(), capture_output=True, text=True, timeout=60, check=True)
    theirs = requests.get(f"{local_stack.base}/orders/{ids[0]}",
                          headers={"Authorization": f"Bearer {stranger.stdout.strip()}"}, timeout=30)
    assert theirs.status_code == 404

    subjects_once(local_stack, email, [f"Order {oid} confirmed" for oid in ids])


def test_admin_route_and_aws_cli_status_changes_each_email_once(local_stack: LocalStack) -> None:
    email = unique_email("admin")
    order = requests.post(f"{local_stack.base}/orders", json=order_body(email), timeout=30).json()
    oid = order["order_id"]
    path = f"/admin/orders/{oid}/status"

    unsigned = requests.post(local_stack.base + path, json={"status": "paid"}, timeout=30)
    assert unsigned.status_code == 403
    assert signed_post(local_stack, path, {"status": "paid"}).json()["changed"] is True
    shipped = signed_post(local_stack, path, {"status": "shipped", "carrier": "dhl",
                                              "tracking_number": "JD01 4600 0036 9876"})
    assert shipped.status_code == 200, shipped.text
    illegal = signed_post(local_stack, path, {"status": "cancelled"})
    assert illegal.status_code == 409 and illegal.headers["Content-Type"] == "application/problem+json"

    # What an admin does from a terminal: edit the status attribute with the AWS CLI (as in the console).
    key = json.dumps({"pk": {"S": f"ORDER#{oid}"}, "sk": {"S": "ORDER"}})
    edit = local_stack.aws(
        "dynamodb", "update-item", "--table-name", local_stack.table, "--key", key,
        "--update-expression", "SET #s = :s", "--expression-attribute-names", '{"#s": "status"}',
        "--expression-attribute-values", '{":s": {"S": "delivered"}}', "--return-values", "ALL_NEW")
    assert edit.returncode == 0, edit.stderr
    assert json.loads(edit.stdout)["Attributes"]["status"] == {"S": "delivered"}

    mails = subjects_once(local_stack, email, [f"Order {oid} confirmed", f"Order {oid} has shipped",
                                               f"Order {oid} was delivered"])
    shipped_mail = next(m for m in mails if "shipped" in m["Subject"])
    assert "dhl" in text_of(shipped_mail) and "JD0146000036" + "9876" in text_of(shipped_mail)

    token = order["tracking_url"].rsplit("/", 1)[1]
    timeline = wait_for(lambda: (t := requests.get(f"{local_stack.base}/track/{token}", timeout=30).json()[
        "timeline"]) and len(t) == 4 and t, timeout=MAIL_WAIT_S)
    assert [(e["status"], e["source"]) for e in timeline] == [
        ("placed", "customer"), ("paid", "admin"), ("shipped", "admin"), ("delivered", "console")]
    got = local_stack.aws("dynamodb", "get-item", "--table-name", local_stack.table, "--key", key,
                          "--consistent-read")
    assert got.returncode == 0, got.stderr
    item = json.loads(got.stdout)["Item"]
    assert item["tracking_number"] == {"S": "JD014600003698" + "76"} and item["carrier"] == {"S": "dhl"}


def test_tracking_links_point_at_the_running_gateway(local_stack: LocalStack) -> None:
    order = requests.post(f"{local_stack.base}/orders", json=order_body(unique_email()), timeout=30).json()
    assert order["tracking_url"].startswith(f"{local_stack.base}/track/")


@pytest.mark.parametrize("option", ["--port", "--moto-port"])
def test_a_busy_port_is_named_and_the_start_gives_up_instead_of_hanging(option: str) -> None:
    # moto's server reports a busy port only from its own thread and then never gets ready: without the
    # check up front, `make run` hung (port 5000 is AirPlay's on macOS).
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ports = {"--port": str(free_port()), "--moto-port": str(free_port()), option: str(port)}
        args = [x for kv in ports.items() for x in kv]
        run = subprocess.run(
            [sys.executable, "-m", "infra.local", "run", *args, "--no-seed"],
            cwd=ROOT,
            env=person_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"port {port} is in use by another program" in run.stderr and option in run.stderr
    assert READY_LINE not in run.stdout and "Traceback" not in run.stderr


def test_ctrl_c_stops_the_stack_cleanly(local_stack: LocalStack) -> None:
    # Last in this module: it ends the process the other tests share.
    assert READY_LINE in local_stack.stdout.read_text(errors="replace")
    assert f"API {local_stack.base}" in local_stack.stdout.read_text(errors="replace")
    local_stack.proc.send_signal(signal.SIGINT)
    try:
        code = local_stack.proc.wait(timeout=STOP_WITHIN_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {STOP_WITHIN_S}s after Ctrl-C:\n{local_stack.output()[-3000:]}")
    output = local_stack.output()
    assert code == 0, output[-3000:]
    assert "KeyboardInterrupt" not in output
    assert "Traceback" not in output.split("stopping...", 1)[-1], output[-3000:]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{local_stack.base}/_local/health", timeout=2)
