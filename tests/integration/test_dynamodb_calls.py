"""Every read route makes one DynamoDB call; every write use case one transaction (plus the read it must
check against, and Powertools' idempotency record); nothing scans."""

from __future__ import annotations

import re
from pathlib import Path

from ecrm.orders import carriers
from ecrm.platform import clock
from infra.local import gateway as gw
from infra.local import tokens
from infra.local.system import LocalSystem
from tests.integration.conftest import ADMIN
from tests.integration.dynamodb_calls import counting, request
from tests.integration.orders_helpers import order_body, unique_email

ROOT = Path(__file__).resolve().parents[2]


def test_order_routes_stay_within_their_dynamodb_budget(system: LocalSystem, gateway: gw.Gateway) -> None:
    assert system.stack
    crm = system.stack.table()
    email = unique_email()
    bearer = {"authorization": f"Bearer {tokens.mint(email)}"}

    with counting() as calls:
        status, order = request(gateway, "POST", "/me/orders", order_body(email), bearer)
    assert status == 201
    assert calls.on(crm) == ["BatchGetItem", "TransactWriteItems"]  # price list read + one transaction
    oid = order["order_id"]

    with counting() as calls:
        status, _ = request(gateway, "POST", "/orders", order_body(email), {"idempotency-key": f"k-{oid}"})
    assert status == 201
    assert calls.on(crm) == ["BatchGetItem", "TransactWriteItems"]
    assert len(calls.on("Idempotency")) == 2  # Powertools: in-progress record, then the saved response

    for path in (f"/orders/{oid}", "/me/orders", "/track/" + order["tracking_url"].rsplit("/", 1)[1]):
        with counting() as calls:
            status, _ = request(gateway, "GET", path, headers=bearer)
        assert status == 200, path
        assert len(calls.items) == 1 and calls.items[0][0] in {"Query", "GetItem"}, (path, calls.items)

    with counting() as calls:
        status, _ = request(gateway, "POST", f"/admin/orders/{oid}/status", {"status": "paid"}, ADMIN)
    assert status == 200
    assert calls.on(crm) == ["GetItem", "TransactWriteItems"]

    number = "CNT" + oid[4:]
    request(
        gateway,
        "POST",
        f"/admin/orders/{oid}/status",
        {"status": "shipped", "carrier": "ups", "tracking_number": number},
        ADMIN,
    )
    secret = system.stack.functions["ApiFunction"].environment["CARRIER_WEBHOOK_SECRET"].encode()
    event = {
        "event_id": f"e-{oid}",
        "carrier": "ups",
        "tracking_number": number,
        "tag": "InTransit",
        "occurred_at": clock.iso(clock.now()),
    }
    import json

    raw = json.dumps(event).encode()
    with counting() as calls:
        status, _ = request(
            gateway,
            "POST",
            "/carrier-events",
            raw,
            {carriers.SIGNATURE_HEADER: carriers.sign(secret, raw, clock.now())},
        )
    assert status == 200
    # tracking number -> order id, the order, one transaction (carriers do not know our order ids)
    assert calls.on(crm) == ["GetItem", "GetItem", "TransactWriteItems"]

    # A re-labelled parcel: the order, then one transaction (order, timeline entry, tracking index).
    relabel = {"status": "in_transit", "carrier": "ups", "tracking_number": "CNX" + oid[4:]}
    with counting() as calls:
        status, _ = request(gateway, "POST", f"/admin/orders/{oid}/status", relabel, ADMIN)
    assert status == 200
    assert calls.on(crm) == ["GetItem", "TransactWriteItems"]


def test_no_code_path_scans_the_table() -> None:
    sources = [ROOT / "app.py", *ROOT.glob("functions/*/app.py"), *ROOT.glob("layers/ecrm/ecrm/**/*.py")]
    offenders = [
        str(p.relative_to(ROOT)) for p in sources if re.search(r"\.scan\(|\"Scan\"|'Scan'", p.read_text())
    ]
    assert offenders == []
