"""Loyalty invariants on the local stack: duplicates apply once (stream records, queue messages, a retry
storm), concurrent redemptions never overspend, one DynamoDB read per balance page and one transaction per
points movement, and a bad program item fails loudly with nothing half-applied."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from ecrm.loyalty import store
from ecrm.loyalty.orders import order_snapshot
from ecrm.platform import ddb
from infra.local import gateway as gw
from infra.local.system import LocalSystem
from tests.integration.conftest import ADMIN, Api, settle
from tests.integration.dynamodb_calls import counting, request
from tests.integration.loyalty_helpers import Member, adjust, queue_url

ORDER_POINTS = 72


def _order_item(system: LocalSystem, order_id: str) -> dict[str, Any]:
    import boto3

    assert system.stack
    item = boto3.client("dynamodb").get_item(
        TableName=system.stack.table(), Key=ddb.key(f"ORDER#{order_id}", "ORDER")
    )["Item"]
    return dict(item)


def _stream_record(raw_item: dict[str, Any], seq: str) -> dict[str, Any]:
    return {
        "eventID": uuid.uuid4().hex,
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": {"pk": raw_item["pk"], "sk": raw_item["sk"]},
            "NewImage": raw_item,
            "SequenceNumber": seq,
            "SizeBytes": 1000,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-11-26T00:00:00.000",
    }


def _sqs_record(body: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(body)
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": uuid.uuid4().hex,
        "body": text,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(text.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:LoyaltyQueue",
        "awsRegion": "us-east-1",
    }


def test_same_stream_record_and_queue_message_twice_earn_once(api: Api, system: LocalSystem) -> None:
    assert system.stack
    m = Member(api, "dupe")
    m.join()
    oid = m.order()
    m.wait_points(locked=ORDER_POINTS)
    raw = _order_item(system, oid)

    # The same stream record routed twice (a retried router batch) -> two identical queue messages.
    record = _stream_record(raw, "900000000000000000001")
    router = system.stack.functions["StreamRouterFunction"]
    assert router.invoke({"Records": [record]}) == {"batchItemFailures": []}
    assert router.invoke({"Records": [record]}) == {"batchItemFailures": []}

    # The same queue message twice in one batch, and again in another.
    message = {
        "kind": "order",
        "customer_id": m.customer_id,
        "order": order_snapshot(ddb.from_item(raw) or {}),
        "steps": [{"do": "earn"}],
    }
    worker = system.stack.functions["LoyaltyWorkerFunction"]
    assert worker.invoke({"Records": [_sqs_record(message), _sqs_record(message)]}) == {
        "batchItemFailures": []
    }
    assert worker.invoke({"Records": [_sqs_record(message)]}) == {"batchItemFailures": []}
    settle(system)

    assert m.points()["locked"] == ORDER_POINTS
    assert m.ledger_kinds().count("EARN") == 1


def test_retry_storm_on_one_order_earns_once(api: Api, system: LocalSystem) -> None:
    import boto3

    assert system.stack
    m = Member(api, "storm")
    m.join()
    oid = m.order()
    raw = _order_item(system, oid)
    message = {
        "kind": "order",
        "customer_id": m.customer_id,
        "order": order_snapshot(ddb.from_item(raw) or {}),
        "steps": [{"do": "earn"}],
    }
    worker = system.stack.functions["LoyaltyWorkerFunction"]
    sqs = boto3.client("sqs")
    url = queue_url(system, "LoyaltyQueue")
    barrier = threading.Barrier(20)

    def hammer(i: int) -> Any:
        barrier.wait()
        if i % 2:
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(message))  # through the real poller
            return {"batchItemFailures": []}
        return worker.invoke({"Records": [_sqs_record(message)]})  # and directly, at the same moment

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(hammer, range(20)))
    assert all(r == {"batchItemFailures": []} for r in results)
    settle(system, 3)
    assert m.points()["locked"] == ORDER_POINTS
    assert m.ledger_kinds().count("EARN") == 1


def test_fifty_concurrent_redemptions_for_ten_rewards(api: Api) -> None:
    m = Member(api, "rush")
    m.join()  # 100 welcome points
    assert adjust(api, m.customer_id, 4900, "Load test: exactly ten 500-point rewards").status_code == 201
    m.wait_points(available=5000)
    barrier = threading.Barrier(50)

    def redeem(i: int) -> Any:
        barrier.wait()
        resp = requests.post(  # one connection per thread, and room for the optimistic retries
            f"{api.base}/me/redemptions",
            json={"reward_id": "EUR5"},
            timeout=180,
            headers={"Authorization": f"Bearer {m.token}", "Idempotency-Key": f"rush-{m.customer_id}-{i}"},
        )
        return resp.status_code, resp.json()

    started = time.monotonic()
    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(redeem, range(50)))
    print(f"50 concurrent redemptions took {time.monotonic() - started:.1f}s")
    statuses = sorted(s for s, _ in results)
    assert statuses.count(201) == 10, statuses
    assert statuses.count(409) == 40, statuses
    refusals = [body for s, body in results if s == 409]
    assert all(
        b["type"].endswith("/insufficient-points") and b["errors"][0]["field"] == "reward_id"
        for b in refusals
    )
    assert len({b["code"] for s, b in results if s == 201}) == 10
    view = m.points()
    assert view["available"] == 0 and view["owed"] == 0
    assert m.ledger_kinds().count("REDEEM") == 10


def test_retried_redemption_with_the_same_key_spends_once(api: Api) -> None:
    m = Member(api, "retry")
    m.join()
    adjust(api, m.customer_id, 900, "enough for two rewards")
    first = m.call("POST", "/me/redemptions", json={"reward_id": "EUR5"}, headers={"Idempotency-Key": "same"})
    second = m.call(
        "POST", "/me/redemptions", json={"reward_id": "EUR5"}, headers={"Idempotency-Key": "same"}
    )
    assert first.status_code == second.status_code == 201
    assert first.json()["code"] == second.json()["code"]
    assert m.points()["available"] == 500
    other = m.call(
        "POST", "/me/redemptions", json={"reward_id": "EUR10"}, headers={"Idempotency-Key": "same"}
    )
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "Idempotency-Key"


def test_one_read_per_balance_page_and_one_transaction_per_movement(
    api: Api, system: LocalSystem, gateway: gw.Gateway
) -> None:
    assert system.stack
    crm = system.stack.table()
    m = Member(api, "calls")
    bearer = {"authorization": f"Bearer {m.token}"}
    status, _ = request(gateway, "POST", "/members", {"marketing_consent": False}, bearer)
    assert status == 201
    adjust(api, m.customer_id, 500, "for the call budget test")
    request(gateway, "GET", "/me", None, bearer)  # warm the program cache of this container

    with counting() as calls:
        status, _ = request(gateway, "GET", "/me", None, bearer)
    assert status == 200
    assert calls.on(crm) == ["GetItem", "GetItem"]  # the profile, and the balance: ONE read

    with counting() as calls:
        status, _ = request(gateway, "GET", "/me/points", None, bearer)
    assert status == 200 and calls.on(crm) == ["Query"]

    with counting() as calls:
        status, _ = request(
            gateway,
            "POST",
            "/me/redemptions",
            {"reward_id": "EUR5"},
            {**bearer, "idempotency-key": f"calls-{m.customer_id}"},
        )
    assert status == 201
    assert calls.on(crm) == ["Query", "TransactWriteItems"]  # read the account, ONE transaction

    with counting() as calls:
        status, _ = request(
            gateway,
            "POST",
            f"/admin/members/{m.customer_id}/adjustments",
            {"points": 5, "reason": "call budget"},
            ADMIN,
        )
    assert status == 201 and calls.on(crm) == ["Query", "TransactWriteItems"]

    # Earn and reverse in the worker: one account Query and ONE transaction each.
    from ecrm.loyalty import worker

    oid = m.order()
    settle(system)
    snapshot = order_snapshot(ddb.from_item(_order_item(system, f"{oid}")) or {})
    other = Member(api, "calls2")
    other.join()
    with counting() as calls:
        system.invoke_in(
            "LoyaltyWorkerFunction",
            worker.apply_order,
            other.customer_id,
            snapshot | {"order_id": oid + "X"},
            [{"do": "earn"}],
        )
    assert calls.on(crm) == ["Query", "TransactWriteItems"]
    with counting() as calls:
        system.invoke_in(
            "LoyaltyWorkerFunction",
            worker.apply_order,
            other.customer_id,
            snapshot | {"order_id": oid + "X"},
            [{"do": "reverse", "reversal_id": "R1", "lines": {"MUG-LOGO": 1}}],
        )
    assert calls.on(crm) == ["Query", "TransactWriteItems"]


def test_bad_program_item_fails_loudly_and_writes_nothing(api: Api, system: LocalSystem) -> None:
    import boto3

    assert system.stack
    m = Member(api, "badprog")
    m.join()
    client = boto3.client("dynamodb")
    key = ddb.key("LOYALTY#PROGRAM", "CURRENT")
    good = client.get_item(TableName=system.stack.table(), Key=key)["Item"]
    doc = ddb.from_item(good) or {}
    doc["tiers"]["levels"][1]["min_spend_minor"] = 0  # not higher than the base tier
    try:
        client.put_item(TableName=system.stack.table(), Item=ddb.to_item(doc))
        store.clear_program_cache()
        resp = m.call("POST", "/me/redemptions", json={"reward_id": "EUR5"})
        assert resp.status_code == 500
        problem = resp.json()
        assert problem["type"].endswith("/loyalty-program-invalid")
        assert "tiers.levels.1.min_spend_minor" in problem["detail"]
        assert m.call("GET", "/me").status_code == 500
    finally:
        client.put_item(TableName=system.stack.table(), Item=good)
        store.clear_program_cache()
    assert m.points()["available"] == 100 and m.ledger_kinds() == ["WELCOME"]
