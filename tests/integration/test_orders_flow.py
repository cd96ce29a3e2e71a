"""Order tracking through the real path: HTTP -> service -> DynamoDB -> stream -> router -> queue -> sender
-> SES -> outbox, on the in-process local stack."""

from __future__ import annotations

import json

import boto3

from infra.local.system import LocalSystem
from tests.integration.conftest import Api, body_html, body_text, outbox_for, settle, wait_for
from tests.integration.orders_helpers import order_body, unique_email


def test_guest_order_is_priced_by_the_server_and_confirmed_by_email(api: Api, system: LocalSystem) -> None:
    email = unique_email()
    body = order_body(email, name="Ada <b>Lovelace</b>")
    body["lines"][0]["price"] = 1  # a client price is refused outright, never trusted
    refused = api.call("POST", "/orders", json=body)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "lines.0.price"
    del body["lines"][0]["price"]
    resp = api.call("POST", "/orders", json=body)
    assert resp.status_code == 201, resp.text
    order = resp.json()
    assert order["status"] == "placed"
    assert order["total"]["amount"] == 2 * 2900 + 1490
    assert [ln["category"] for ln in order["lines"]] == ["apparel", "home"]  # loyalty campaigns by category
    assert resp.headers["Location"] == order["tracking_url"]
    assert "/track/" in order["tracking_url"] and order["order_id"] not in order["tracking_url"]

    mails = wait_for(lambda: outbox_for(system, email))
    assert len(mails) == 1
    assert mails[0]["Subject"] == f"Order {order['order_id']} confirmed"
    assert order["tracking_url"] in body_text(mails[0])
    assert "<b>Lovelace</b>" not in body_html(mails[0])  # customer text is escaped in HTML
    assert "&lt;b&gt;Lovelace" in body_html(mails[0])


def test_guest_tracking_link_shows_the_timeline_without_personal_data(api: Api) -> None:
    order = api.call("POST", "/orders", json=order_body(unique_email())).json()
    token = order["tracking_url"].rsplit("/", 1)[1]
    tracked = api.call("GET", f"/track/{token}")
    assert tracked.status_code == 200
    doc = tracked.json()
    assert doc["order_id"] == order["order_id"]
    assert [e["status"] for e in doc["timeline"]] == ["placed"]
    assert "email" not in doc and "shipping_address" not in doc
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert api.call("GET", f"/track/{tampered}").status_code == 404
    assert api.call("GET", f"/track/{order['order_id']}").status_code == 404


def test_idempotency_key_returns_the_same_order_and_creates_nothing_new(
    api: Api, system: LocalSystem
) -> None:
    email = unique_email()
    body = order_body(email)
    first = api.call("POST", "/orders", json=body, headers={"Idempotency-Key": f"k-{email}"})
    again = api.call("POST", "/orders", json=body, headers={"Idempotency-Key": f"k-{email}"})
    assert first.status_code == 201 and again.status_code == 201
    assert first.json()["order_id"] == again.json()["order_id"]
    other = api.call(
        "POST",
        "/orders",
        json=order_body(email, name="Someone Else"),
        headers={"Idempotency-Key": f"k-{email}"},
    )
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    settle(system)
    assert len(outbox_for(system, email)) == 1


def test_member_orders_are_private_and_listed_newest_first(api: Api, member_token) -> None:
    alice, bob = unique_email("alice"), unique_email("bob")
    ta, tb = member_token(alice), member_token(bob)
    ids = [
        api.call("POST", "/me/orders", json=order_body(alice), token=ta).json()["order_id"] for _ in range(3)
    ]
    page1 = api.call("GET", "/me/orders?limit=2", token=ta).json()
    assert [o["order_id"] for o in page1["orders"]] == ids[::-1][:2]
    page2 = api.call("GET", f"/me/orders?limit=2&cursor={page1['next_cursor']}", token=ta).json()
    assert [o["order_id"] for o in page2["orders"]] == ids[:1]
    assert api.call("GET", f"/me/orders?limit=2&cursor={page1['next_cursor']}", token=tb).status_code == 400
    assert api.call("GET", f"/orders/{ids[0]}", token=ta).json()["email"] == alice
    assert api.call("GET", f"/orders/{ids[0]}", token=tb).status_code == 404
    assert api.call("GET", f"/orders/{ids[0]}").status_code == 401
    assert api.call("GET", "/me/orders", token=tb).json()["orders"] == []


def test_admin_moves_an_order_through_its_lifecycle_and_each_change_emails_once(
    api: Api, system: LocalSystem
) -> None:
    email = unique_email()
    oid = api.call("POST", "/orders", json=order_body(email)).json()["order_id"]
    path = f"/admin/orders/{oid}/status"
    assert api.call("POST", path, json={"status": "paid"}).status_code == 403  # not IAM-signed
    assert api.call("POST", path, json={"status": "paid"}, admin=True).status_code == 200
    shipped_without_tracking = api.call("POST", path, json={"status": "shipped"}, admin=True)
    assert shipped_without_tracking.status_code == 422
    assert shipped_without_tracking.json()["errors"][0]["field"] == "tracking_number"
    ok = api.call(
        "POST",
        path,
        json={"status": "shipped", "carrier": "dhl", "tracking_number": f"JD{oid[4:]}"},
        admin=True,
    )
    assert ok.status_code == 200, ok.text
    illegal = api.call("POST", path, json={"status": "cancelled"}, admin=True)
    assert illegal.status_code == 409
    assert "cancel" in illegal.json()["detail"]
    for status in ("in_transit", "out_for_delivery", "delivered"):
        assert api.call("POST", path, json={"status": status}, admin=True).status_code == 200
    again = api.call("POST", path, json={"status": "delivered"}, admin=True)
    assert again.status_code == 200 and again.json()["changed"] is False

    subjects = wait_for(
        lambda: (s := [m["Subject"] for m in outbox_for(system, email)]) and len(s) >= 4 and s
    )
    settle(system)
    subjects = [m["Subject"] for m in outbox_for(system, email)]
    assert sorted(subjects) == sorted(
        [
            f"Order {oid} confirmed",
            f"Order {oid} has shipped",
            f"Order {oid} arrives today",
            f"Order {oid} was delivered",
        ]
    )
    shipped = next(m for m in outbox_for(system, email) if "shipped" in m["Subject"])
    assert f"JD{oid[4:]}" in body_text(shipped)
    tracked = api.call(
        "GET",
        "/track/"
        + api.call("POST", "/orders", json=order_body(email)).json()["tracking_url"].rsplit("/", 1)[1],
    )
    assert tracked.status_code == 200


def test_console_edit_of_status_is_recorded_and_notified(api: Api, system: LocalSystem) -> None:
    email = unique_email()
    order = api.call("POST", "/orders", json=order_body(email)).json()
    oid = order["order_id"]
    assert system.stack
    ddb = boto3.client("dynamodb", endpoint_url=system.stack.endpoint)
    # What an admin does in the DynamoDB console: edit the status attribute only.
    ddb.update_item(
        TableName=system.stack.table(),
        Key={"pk": {"S": f"ORDER#{oid}"}, "sk": {"S": "ORDER"}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "cancelled"}},
    )
    wait_for(lambda: any("cancelled" in m["Subject"] for m in outbox_for(system, email)))
    token = order["tracking_url"].rsplit("/", 1)[1]
    timeline = wait_for(
        lambda: (t := api.call("GET", f"/track/{token}").json()["timeline"]) and len(t) == 2 and t
    )
    assert timeline[-1]["status"] == "cancelled" and timeline[-1]["source"] == "console"


def test_bad_input_gets_problem_details_naming_the_field(api: Api) -> None:
    email = unique_email()
    cases = [
        (b"{not json", {"Content-Type": "application/json"}, 400, "body"),
        (json.dumps(order_body(email)).encode(), {"Content-Type": "text/plain"}, 415, "Content-Type"),
        (
            json.dumps(order_body(email, lines=[{"sku": "NOPE-1", "quantity": 1}])).encode(),
            {},
            422,
            "lines.0.sku",
        ),
        (
            json.dumps(order_body(email, lines=[{"sku": "TEE-ORG-M", "quantity": "2"}])).encode(),
            {},
            422,
            "lines.0.quantity",
        ),
        (json.dumps(order_body(email, lines=[])).encode(), {}, 422, "lines"),
        (json.dumps(order_body("not-an-email")).encode(), {}, 422, "customer.email"),
        (json.dumps(order_body(email, name="x" * 5000)).encode(), {}, 422, "customer.name"),
        (json.dumps({"lines": "all"}).encode(), {}, 422, "lines"),
        (json.dumps([1, 2]).encode(), {}, 422, None),
        (b"x" * 70_000, {"Content-Type": "application/json"}, 413, "body"),
    ]
    for raw, headers, status, field in cases:
        resp = api.call("POST", "/orders", data=raw, headers={"Content-Type": "application/json", **headers})
        assert resp.status_code == status, (raw[:80], resp.text)
        assert resp.headers["Content-Type"] == "application/problem+json"
        problem = resp.json()
        assert problem["status"] == status and problem["detail"]
        if field:
            assert problem["errors"][0]["field"] == field, problem


def test_unicode_everywhere_is_accepted(api: Api, system: LocalSystem) -> None:
    email = unique_email()
    for name in ("สมชาย ใจดี", "مریم رضایی", "王小明", "Zoë Ñúñez"):
        body = order_body(email, name=name)
        body["shipping_address"]["city"] = name.split()[0]
        resp = api.call("POST", "/orders", json=body)
        assert resp.status_code == 201, resp.text
        assert resp.json()["name"] == name
    mails = wait_for(lambda: (m := outbox_for(system, email)) and len(m) == 4 and m)
    assert any("王小明" in body_text(m) for m in mails)
