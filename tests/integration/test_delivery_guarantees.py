"""Retries change nothing the second time; poison messages end in the DLQ; carrier webhooks are signed."""

from __future__ import annotations

import json
import uuid

import boto3

from ecrm.mail.outbound import OutboundEmail
from ecrm.orders import carriers
from ecrm.platform import clock
from infra.local.system import LocalSystem
from tests.integration.conftest import Api, body_text, outbox_for, settle, wait_for
from tests.integration.orders_helpers import order_body, unique_email


def _ship(api: Api, oid: str, number: str) -> None:
    for status, extra in (("paid", {}), ("shipped", {"carrier": "postnl", "tracking_number": number})):
        resp = api.call("POST", f"/admin/orders/{oid}/status", json={"status": status, **extra}, admin=True)
        assert resp.status_code == 200, resp.text


def _signed(system: LocalSystem, doc: dict) -> tuple[bytes, dict[str, str]]:
    assert system.stack
    secret = system.stack.functions["ApiFunction"].environment["CARRIER_WEBHOOK_SECRET"].encode()
    raw = json.dumps(doc).encode()
    return raw, {
        "Content-Type": "application/json",
        carriers.SIGNATURE_HEADER: carriers.sign(secret, raw, clock.now()),
    }


def test_carrier_webhook_moves_the_order_once_per_event(api: Api, system: LocalSystem) -> None:
    email = unique_email()
    oid = api.call("POST", "/orders", json=order_body(email)).json()["order_id"]
    number = "3S" + uuid.uuid4().hex[:12].upper()
    _ship(api, oid, number)
    event = {
        "event_id": f"evt-{uuid.uuid4().hex}",
        "carrier": "postnl",
        "tracking_number": number,
        "tag": "OutForDelivery",
        "occurred_at": clock.iso(clock.now()),
        "location": "Utrecht",
        "message": "Parcel is with the driver",
    }
    raw, headers = _signed(system, event)
    assert (
        api.call(
            "POST", "/carrier-events", data=raw, headers={**headers, carriers.SIGNATURE_HEADER: "t=1,v1=00"}
        ).status_code
        == 401
    )
    assert (
        api.call(
            "POST", "/carrier-events", data=raw, headers={"Content-Type": "application/json"}
        ).status_code
        == 401
    )
    first = api.call("POST", "/carrier-events", data=raw, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "out_for_delivery" and first.json()["changed"] is True
    dup = api.call("POST", "/carrier-events", data=raw, headers=headers)
    assert dup.status_code == 200 and dup.json()["duplicate"] is True

    unknown, h2 = _signed(system, {**event, "event_id": "evt-x", "tracking_number": "NOSUCH0001"})
    resp = api.call("POST", "/carrier-events", data=unknown, headers=h2)
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "tracking_number"

    # A later hub scan after "out for delivery" (the van went back to the depot) moves it back to in transit.
    late, h3 = _signed(
        system,
        {**event, "event_id": f"evt-{uuid.uuid4().hex}", "tag": "InTransit", "location": "Hub Nieuwegein"},
    )
    moved = api.call("POST", "/carrier-events", data=late, headers=h3).json()
    assert (
        moved["changed"] is True and moved["status"] == "in_transit"
    )  # out_for_delivery -> in_transit is legal

    wait_for(lambda: any("arrives today" in m["Subject"] for m in outbox_for(system, email)))
    settle(system)
    subjects = [m["Subject"] for m in outbox_for(system, email)]
    assert subjects.count(f"Order {oid} arrives today") == 1


def test_a_stream_record_delivered_twice_sends_one_email(api: Api, system: LocalSystem) -> None:
    email = unique_email()
    oid = api.call("POST", "/orders", json=order_body(email)).json()["order_id"]
    wait_for(lambda: outbox_for(system, email))
    _replay_order_stream(system, oid)
    _replay_order_stream(system, oid)
    settle(system)
    assert len(outbox_for(system, email)) == 1


def _replay_order_stream(system: LocalSystem, oid: str) -> None:
    """Deliver every stream record of an order item to the stream router again (a Lambda retry)."""
    assert system.stack
    streams = boto3.client("dynamodbstreams", endpoint_url=system.stack.endpoint)
    arn = system.stack.attributes["CrmTable"]["StreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    records = []
    while it:
        resp = streams.get_records(ShardIterator=it, Limit=1000)
        records += resp["Records"]
        if not resp["Records"]:
            break
        it = resp.get("NextShardIterator")
    mine = [
        r
        for r in records
        if r["dynamodb"]["Keys"]["pk"]["S"] == f"ORDER#{oid}" and r["dynamodb"]["Keys"]["sk"]["S"] == "ORDER"
    ]
    assert mine
    for r in mine:
        r["eventSourceARN"] = arn
    event = json.loads(json.dumps({"Records": mine}, default=str))
    router = system.stack.functions["StreamRouterFunction"]
    assert router.invoke(event) == {"batchItemFailures": []}


def _shipped_numbers(system: LocalSystem, email: str, oid: str) -> list[str]:
    """The tracking number of every "has shipped" email to `email`, as sent (one entry per email)."""
    numbers = []
    for mail in outbox_for(system, email):
        if mail["Subject"] == f"Order {oid} has shipped":
            numbers.append(body_text(mail).split("tracking number ", 1)[1].split(".", 1)[0])
    return numbers


def test_a_relabelled_parcel_gets_its_new_number_recorded_and_emailed_once(
    api: Api, system: LocalSystem
) -> None:
    email = unique_email()
    placed = api.call("POST", "/orders", json=order_body(email)).json()
    oid, token = placed["order_id"], placed["tracking_url"].rsplit("/", 1)[1]
    path = f"/admin/orders/{oid}/status"
    first, second, third = ("3S" + uuid.uuid4().hex[:12].upper() for _ in range(3))
    _ship(api, oid, first)

    # Same status, new carrier and number (typed with spaces and in lower case, normalised as webhooks are).
    relabel = {"status": "shipped", "carrier": "DHL", "tracking_number": f"{second[:6]} {second[6:]}".lower()}
    resp = api.call("POST", path, json=relabel, admin=True)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"order_id": oid, "status": "shipped", "changed": True}
    # A retry of the request and the same number typed differently change nothing.
    for body in (relabel, {**relabel, "tracking_number": second, "carrier": "dhl"}):
        again = api.call("POST", path, json=body, admin=True)
        assert again.status_code == 200 and again.json()["changed"] is False, again.text
    tracked = api.call("GET", f"/track/{token}").json()
    assert tracked["status"] == "shipped"
    assert tracked["tracking"] == {"carrier": "dhl", "tracking_number": second}
    assert [e["status"] for e in tracked["timeline"]] == ["placed", "paid", "shipped", None]
    entry = tracked["timeline"][-1]
    assert entry["source"] == "admin"
    assert entry["note"] == f"tracking number changed from postnl {first} to dhl {second}"

    # The customer hears about the new number once, even when the stream delivers the change again.
    wait_for(lambda: len(_shipped_numbers(system, email, oid)) >= 2)
    _replay_order_stream(system, oid)
    settle(system)
    assert sorted(_shipped_numbers(system, email, oid)) == sorted([first, second])

    # Carrier events now find the order by the new number.
    event = {"event_id": f"evt-{uuid.uuid4().hex}", "carrier": "dhl", "tracking_number": second,
             "tag": "InTransit", "occurred_at": clock.iso(clock.now())}
    raw, headers = _signed(system, event)
    moved = api.call("POST", "/carrier-events", data=raw, headers=headers)
    assert moved.status_code == 200 and moved.json()["status"] == "in_transit", moved.text
    assert moved.json()["replaced_label"] is False
    # A late scan of the replaced label lands in the timeline but says nothing about the parcel.
    old_scan = {"event_id": f"evt-{uuid.uuid4().hex}", "carrier": "postnl", "tracking_number": first,
                "tag": "Delivered", "occurred_at": clock.iso(clock.now())}
    raw, headers = _signed(system, old_scan)
    stale = api.call("POST", "/carrier-events", data=raw, headers=headers)
    assert stale.status_code == 200, stale.text
    assert stale.json()["status"] == "in_transit" and stale.json()["changed"] is False
    assert stale.json()["replaced_label"] is True
    note = api.call("GET", f"/track/{token}").json()["timeline"][-1]["note"]
    assert note.endswith(f"(replaced label postnl {first})")

    # Re-labelled again while in transit: recorded, emailed, the status stays.
    in_transit = {"status": "in_transit", "carrier": "dhl", "tracking_number": third}
    assert api.call("POST", path, json=in_transit, admin=True).json()["changed"] is True
    assert api.call("POST", path, json={"status": "in_transit"}, admin=True).json()["changed"] is False
    wait_for(lambda: third in _shipped_numbers(system, email, oid))

    # Another order's number is refused; so is a new number once the parcel is delivered.
    other_email = unique_email()
    other_placed = api.call("POST", "/orders", json=order_body(other_email)).json()
    other = other_placed["order_id"]
    other_number = "3S" + uuid.uuid4().hex[:12].upper()
    assert api.call("POST", f"/admin/orders/{other}/status", json={"status": "paid"}, admin=True).ok
    # Before shipment a number is recorded without an email (the shipped email will carry it).
    label = {"status": "paid", "carrier": "postnl", "tracking_number": other_number}
    assert api.call("POST", f"/admin/orders/{other}/status", json=label, admin=True).json()["changed"] is True
    taken = api.call("POST", path, json={**in_transit, "carrier": "postnl", "tracking_number": other_number},
                     admin=True)
    assert taken.status_code == 409 and taken.json()["errors"][0]["field"] == "tracking_number"
    # A status change that would put a new label on a delivered parcel is refused as a whole.
    fourth = "3S" + uuid.uuid4().hex[:12].upper()
    relabelled_delivery = api.call("POST", path, json={"status": "delivered", "carrier": "ups",
                                                       "tracking_number": fourth}, admin=True)
    assert relabelled_delivery.status_code == 409, relabelled_delivery.text
    assert relabelled_delivery.json()["errors"][0]["field"] == "tracking_number"
    assert api.call("GET", f"/track/{token}").json()["status"] == "in_transit"
    assert api.call("POST", path, json={"status": "delivered"}, admin=True).json()["changed"] is True
    late = api.call("POST", path, json={"status": "delivered", "carrier": "dhl", "tracking_number": first},
                    admin=True)
    assert late.status_code == 409, late.text
    assert late.json()["errors"][0]["field"] == "tracking_number"
    same = {"status": "delivered", "carrier": "dhl", "tracking_number": third}
    assert api.call("POST", path, json=same, admin=True).json()["changed"] is False

    settle(system)
    assert sorted(_shipped_numbers(system, email, oid)) == sorted([first, second, third])
    assert [m["Subject"] for m in outbox_for(system, other_email)] == [f"Order {other} confirmed"]
    other_view = api.call("GET", "/track/" + other_placed["tracking_url"].rsplit("/", 1)[1]).json()
    assert other_view["status"] == "paid" and other_view["tracking"]["tracking_number"] == other_number


def test_a_queue_message_delivered_twice_sends_one_email(system: LocalSystem) -> None:
    email = unique_email()
    msg = OutboundEmail(
        to=email,
        dedupe_key=f"test#{email}",
        template="order_delivered",
        data={"name": "Twice", "order_id": "ORD-TWICE", "tracking_url": "http://x"},
    )
    assert system.stack
    sqs = boto3.client("sqs", endpoint_url=system.stack.endpoint)
    url = system.stack.queue_url("EmailQueue")
    sqs.send_message(QueueUrl=url, MessageBody=msg.to_json())
    sqs.send_message(QueueUrl=url, MessageBody=msg.to_json())
    wait_for(lambda: outbox_for(system, email))
    settle(system)
    assert len(outbox_for(system, email)) == 1


def test_poison_message_lands_in_the_dlq_and_the_rest_of_the_batch_is_sent(system: LocalSystem) -> None:
    assert system.stack
    sqs = boto3.client("sqs", endpoint_url=system.stack.endpoint)
    url, dlq = system.stack.queue_url("EmailQueue"), system.stack.queue_url("EmailDLQ")
    good = unique_email()
    poison = "{this is not an email message"
    ok = OutboundEmail(
        to=good,
        dedupe_key=f"test#{good}",
        template="order_delivered",
        data={"name": "Fine", "order_id": "ORD-FINE", "tracking_url": "http://x"},
    )
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": "1", "MessageBody": poison}, {"Id": "2", "MessageBody": ok.to_json()}]
    )
    wait_for(lambda: outbox_for(system, good))

    def in_dlq() -> bool:
        msgs = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
            "Messages", []
        )
        return any(m["Body"] == poison for m in msgs)

    wait_for(in_dlq, timeout=30)
    assert len(outbox_for(system, good)) == 1


def test_suppressed_addresses_are_not_mailed(api: Api, system: LocalSystem) -> None:
    email = unique_email()
    assert system.stack
    ddb = boto3.client("dynamodb", endpoint_url=system.stack.endpoint)
    ddb.put_item(
        TableName=system.stack.table(),
        Item={
            "pk": {"S": f"SUPPRESS#{email}"},
            "sk": {"S": "SUPPRESS"},
            "type": {"S": "SUPPRESSION"},
            "reason": {"S": "bounce"},
        },
    )
    assert api.call("POST", "/orders", json=order_body(email)).status_code == 201
    settle(system, 2.0)
    assert outbox_for(system, email) == []
