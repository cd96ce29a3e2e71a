"""Carrier checkpoints that arrive out of order: recorded in the timeline, never moving the status back.

The order item keeps `last_checkpoint_at` (the `occurred_at` of the last checkpoint applied), written in the
same transaction as the status change; a checkpoint that happened before it is a note, not a move.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import boto3

from ecrm.orders import carriers
from ecrm.platform import clock
from infra.local.system import LocalSystem
from tests.integration.conftest import Api, outbox_for, settle, wait_for
from tests.integration.orders_helpers import order_body, unique_email

CARRIER = "postnl"


class Parcel:
    """A guest order shipped with a fresh tracking number, and a carrier that reports on it."""

    def __init__(self, api: Api, system: LocalSystem) -> None:
        self.api, self.system = api, system
        self.email = unique_email()
        order = api.call("POST", "/orders", json=order_body(self.email)).json()
        self.order_id: str = order["order_id"]
        self.track_token: str = order["tracking_url"].rsplit("/", 1)[1]
        self.number = "3S" + uuid.uuid4().hex[:12].upper()
        shipped = {"carrier": CARRIER, "tracking_number": self.number}
        for status, extra in (("paid", {}), ("shipped", shipped)):
            resp = api.call("POST", f"/admin/orders/{self.order_id}/status", json={"status": status, **extra},
                            admin=True)
            assert resp.status_code == 200, resp.text

    def report(self, tag: str, occurred_at: datetime | str, location: str | None = None,
               event_id: str | None = None) -> dict[str, Any]:
        """POST one signed checkpoint; returns the response body."""
        doc = {"event_id": event_id or f"evt-{uuid.uuid4().hex}", "carrier": CARRIER,
               "tracking_number": self.number, "tag": tag,
               "occurred_at": occurred_at if isinstance(occurred_at, str) else clock.iso(occurred_at)}
        if location:
            doc["location"] = location
        assert self.system.stack
        secret = self.system.stack.functions["ApiFunction"].environment["CARRIER_WEBHOOK_SECRET"].encode()
        raw = json.dumps(doc).encode()
        headers = {"Content-Type": "application/json", carriers.SIGNATURE_HEADER: carriers.sign(secret, raw,
                                                                                                 clock.now())}
        resp = self.api.call("POST", "/carrier-events", data=raw, headers=headers)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def tracked(self) -> dict[str, Any]:
        """The guest tracking view."""
        return self.api.call("GET", f"/track/{self.track_token}").json()

    def items(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The raw order item and timeline items, as stored."""
        assert self.system.stack
        ddb = boto3.client("dynamodb", endpoint_url=self.system.stack.endpoint)
        resp = ddb.query(TableName=self.system.stack.table(), KeyConditionExpression="pk = :pk",
                         ExpressionAttributeValues={":pk": {"S": f"ORDER#{self.order_id}"}},
                         ConsistentRead=True)
        items = resp["Items"]
        order = next(i for i in items if i["sk"]["S"] == "ORDER")
        events = sorted((i for i in items if i["sk"]["S"].startswith("EVENT#")), key=lambda i: i["sk"]["S"])
        return order, events


def _base() -> datetime:
    # Checkpoints happened yesterday: occurred_at is the carrier's clock, not the signature's.
    return clock.now().replace(microsecond=0) - timedelta(days=1)


def test_a_late_older_checkpoint_is_recorded_but_does_not_move_the_status(
        api: Api, system: LocalSystem) -> None:
    parcel, t0 = Parcel(api, system), _base()
    first = parcel.report("OutForDelivery", t0, "Utrecht")
    assert first["changed"] is True and first["status"] == "out_for_delivery"
    assert first["out_of_order"] is False

    # The hub scan from an hour earlier arrives after the van left: in_transit would be a legal move
    # (it is how a redelivery looks), so only the checkpoint time can tell it is old news.
    late = parcel.report("InTransit", t0 - timedelta(hours=1), "Hub Nieuwegein")
    assert late == {"order_id": parcel.order_id, "status": "out_for_delivery", "changed": False,
                    "duplicate": False, "out_of_order": True, "replaced_label": False}

    doc = parcel.tracked()
    assert doc["status"] == "out_for_delivery"
    assert [(e["status"], e["source"]) for e in doc["timeline"]] == [
        ("placed", "customer"), ("paid", "admin"), ("shipped", "admin"),
        ("out_for_delivery", "carrier"), (None, "carrier")]
    assert doc["timeline"][-1]["location"] == "Hub Nieuwegein"

    order, events = parcel.items()
    assert order["status"]["S"] == "out_for_delivery"
    assert order["last_checkpoint_at"]["S"] == clock.iso(t0)  # the stale one did not move it back either
    assert events[-1]["out_of_order"] == {"BOOL": True}
    assert events[-1]["occurred_at"]["S"] == clock.iso(t0 - timedelta(hours=1))
    assert "out_of_order" not in events[-2]

    # A checkpoint newer than the last applied one moves the order again.
    delivered = parcel.report("Delivered", t0 + timedelta(hours=2), "Utrecht")
    assert delivered["changed"] is True and delivered["status"] == "delivered"
    assert parcel.items()[0]["last_checkpoint_at"]["S"] == clock.iso(t0 + timedelta(hours=2))

    wait_for(lambda: any("delivered" in m["Subject"] for m in outbox_for(system, parcel.email)))
    settle(system)
    subjects = [m["Subject"] for m in outbox_for(system, parcel.email)]
    oid = parcel.order_id
    assert sorted(subjects) == sorted([f"Order {oid} confirmed", f"Order {oid} has shipped",
                                       f"Order {oid} arrives today", f"Order {oid} was delivered"])


def test_a_newer_checkpoint_may_still_move_back_to_in_transit(api: Api, system: LocalSystem) -> None:
    parcel, t0 = Parcel(api, system), _base()
    assert parcel.report("OutForDelivery", t0)["status"] == "out_for_delivery"
    # The van came back to the depot: a later in-transit scan is news, not a stale one.
    back = parcel.report("InTransit", t0 + timedelta(hours=6), "Depot")
    assert back["changed"] is True and back["status"] == "in_transit" and back["out_of_order"] is False
    # A checkpoint at exactly the same instant as the last applied one is not older: it applies.
    same = parcel.report("OutForDelivery", t0 + timedelta(hours=6))
    assert same["changed"] is True and same["status"] == "out_for_delivery"


def test_offsets_are_compared_in_utc(api: Api, system: LocalSystem) -> None:
    parcel, t0 = Parcel(api, system), _base()
    parcel.report("OutForDelivery", t0.strftime("%Y-%m-%dT%H:%M:%SZ"))
    # 30 minutes later on the wall clock in UTC+01:00 is 30 minutes *earlier* in UTC.
    local = (t0 + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S") + "+01:00"
    late = parcel.report("InTransit", local)
    assert late["out_of_order"] is True and late["status"] == "out_for_delivery"
    later = (t0 + timedelta(minutes=90)).strftime("%Y-%m-%dT%H:%M:%S") + "+01:00"
    assert parcel.report("Delivered", later)["status"] == "delivered"


def test_a_same_status_checkpoint_counts_as_the_latest_word(api: Api, system: LocalSystem) -> None:
    parcel, t0 = Parcel(api, system), _base()
    assert parcel.report("InTransit", t0)["changed"] is True
    # A second transit scan changes no status but is the newest thing the carrier said...
    again = parcel.report("InTransit", t0 + timedelta(hours=2))
    assert again["changed"] is False and again["out_of_order"] is False
    assert parcel.items()[0]["last_checkpoint_at"]["S"] == clock.iso(t0 + timedelta(hours=2))
    # ...so an "out for delivery" from before it is old news (the van run is over).
    stale = parcel.report("OutForDelivery", t0 + timedelta(hours=1))
    assert stale["out_of_order"] is True and stale["status"] == "in_transit"
    settle(system)
    assert not any("arrives today" in m["Subject"] for m in outbox_for(system, parcel.email))


def test_checkpoints_without_status_news_or_refused_do_not_advance_the_last_checkpoint(
        api: Api, system: LocalSystem) -> None:
    parcel, t0 = Parcel(api, system), _base()
    parcel.report("OutForDelivery", t0)
    # "Pending" says nothing about the parcel; a late "InfoReceived" (shipped) is refused by the graph.
    assert parcel.report("Pending", t0 + timedelta(hours=5))["changed"] is False
    refused = parcel.report("InfoReceived", t0 + timedelta(hours=4))
    assert refused["changed"] is False and refused["out_of_order"] is False
    assert parcel.items()[0]["last_checkpoint_at"]["S"] == clock.iso(t0)
    # So the real delivery scan between them still applies.
    delivered = parcel.report("Delivered", t0 + timedelta(hours=1))
    assert delivered["changed"] is True and delivered["status"] == "delivered"
    assert len(parcel.tracked()["timeline"]) == 3 + 4


def test_a_repeated_stale_checkpoint_is_a_duplicate_and_recorded_once(api: Api, system: LocalSystem) -> None:
    parcel, t0 = Parcel(api, system), _base()
    parcel.report("OutForDelivery", t0)
    event_id = f"evt-{uuid.uuid4().hex}"
    first = parcel.report("InTransit", t0 - timedelta(hours=3), "Hub", event_id=event_id)
    assert first["out_of_order"] is True
    again = parcel.report("InTransit", t0 - timedelta(hours=3), "Hub", event_id=event_id)
    assert again["duplicate"] is True and again["changed"] is False
    timeline = parcel.tracked()["timeline"]
    assert [e["location"] for e in timeline].count("Hub") == 1
