"""Partial and whole returns: validated against what was ordered, idempotent by return id, one email each."""

from __future__ import annotations

from infra.local.system import LocalSystem
from tests.integration.conftest import Api, body_text, outbox_for, settle, wait_for
from tests.integration.orders_helpers import order_body, unique_email


def _delivered_order(api: Api, email: str) -> str:
    oid = api.call("POST", "/orders", json=order_body(email)).json()["order_id"]
    steps = [
        {"status": "paid"},
        {"status": "shipped", "carrier": "dhl", "tracking_number": f"RT{oid[4:]}"},
        {"status": "delivered"},
    ]
    for step in steps:
        assert api.call("POST", f"/admin/orders/{oid}/status", json=step, admin=True).status_code == 200
    return oid


def test_partial_then_final_return(api: Api, system: LocalSystem) -> None:
    email = unique_email()
    undelivered = api.call("POST", "/orders", json=order_body(email)).json()["order_id"]
    early = api.call(
        "POST",
        f"/admin/orders/{undelivered}/returns",
        admin=True,
        json={"lines": [{"sku": "MUG-LOGO", "quantity": 1}]},
    )
    assert early.status_code == 409

    oid = _delivered_order(api, email)
    path = f"/admin/orders/{oid}/returns"
    too_many = api.call("POST", path, admin=True, json={"lines": [{"sku": "MUG-LOGO", "quantity": 2}]})
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["field"] == "lines.0.quantity"
    foreign = api.call("POST", path, admin=True, json={"lines": [{"sku": "CARE-KIT", "quantity": 1}]})
    assert foreign.status_code == 422 and foreign.json()["errors"][0]["field"] == "lines.0.sku"

    first = api.call(
        "POST", path, admin=True, json={"return_id": "R1", "lines": [{"sku": "TEE-ORG-M", "quantity": 1}]}
    )
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "delivered" and first.json()["returned"] == {"TEE-ORG-M": 1}
    again = api.call(
        "POST", path, admin=True, json={"return_id": "R1", "lines": [{"sku": "TEE-ORG-M", "quantity": 1}]}
    )
    assert again.json()["duplicate"] is True and again.json()["returned"] == {"TEE-ORG-M": 1}

    last = api.call(
        "POST",
        path,
        admin=True,
        json={
            "return_id": "R2",
            "lines": [{"sku": "TEE-ORG-M", "quantity": 1}, {"sku": "MUG-LOGO", "quantity": 1}],
        },
    )
    assert last.json()["status"] == "returned"

    wait_for(lambda: len([m for m in outbox_for(system, email) if "Return of order" in m["Subject"]]) >= 2)
    settle(system)
    returns = [m for m in outbox_for(system, email) if "Return of order" in m["Subject"]]
    assert len(returns) == 2  # one per return; the final one also stands for the `returned` status
    assert "1 x TEE-ORG-M" in body_text(returns[0])
