"""Membership and points end to end on the local stack, every step visible over HTTP and in the outbox:
join (welcome bonus), a guest order linked at join, order -> locked points, delivery -> return window,
time travel + the scheduled job -> spendable, redemption, a late partial return, expiry warning, expiry."""

from __future__ import annotations

from infra.local.system import LocalSystem
from tests.integration.conftest import Api, body_text, outbox_for, wait_for
from tests.integration.loyalty_helpers import Member, adjust, deliver, run_jobs, travel
from tests.integration.orders_helpers import order_body

ORDER_POINTS = 72  # 2 x 29.00 + 1 x 14.90 EUR, floor per line: 58 + 14


def test_join_earn_unlock_redeem_return_expire(api: Api, system: LocalSystem) -> None:
    m = Member(api, "journey")
    assert m.call("GET", "/me").status_code == 404  # not a member yet

    guest = api.call("POST", "/orders", json=order_body(m.email)).json()["order_id"]
    joined = m.join(marketing_consent=True, birthday="1990-04-01")
    assert joined["loyalty"]["available"] == 100 and joined["loyalty"]["tier"] == "MEMBER"
    assert joined["marketing_consent"] is True
    again = m.call("POST", "/members", json={})
    assert again.status_code == 409 and again.headers["Content-Type"] == "application/problem+json"

    # The guest order is linked to the new member (visible in /me/orders) and earns once, locked.
    wait_for(
        lambda: guest in [o["order_id"] for o in m.call("GET", "/me/orders").json()["orders"]], timeout=60
    )
    m.wait_points(available=100, locked=ORDER_POINTS, awaiting_delivery=ORDER_POINTS)

    oid = m.order()
    m.wait_points(locked=2 * ORDER_POINTS, awaiting_delivery=2 * ORDER_POINTS)
    deliver(api, oid)
    view = m.wait_points(awaiting_delivery=ORDER_POINTS, in_return_window=ORDER_POINTS)
    assert view["next_unlock_points"] == ORDER_POINTS and view["available"] == 100

    try:
        travel(api, 31)
        stats = run_jobs(api)
        assert stats["unlocked"] >= 1
        m.wait_points(available=100 + ORDER_POINTS, locked=ORDER_POINTS, timeout=30)
        assert "UNLOCK" in m.ledger_kinds()

        # Not enough for a 500-point reward yet: a clear 409, nothing spent.
        short = m.call(
            "POST", "/me/redemptions", json={"reward_id": "EUR5"}, headers={"Idempotency-Key": "j-1"}
        )
        assert short.status_code == 409 and short.json()["available"] == 172
        assert adjust(api, m.customer_id, 400, "Late parcel, case CASE-1").status_code == 201
        redeemed = m.call(
            "POST", "/me/redemptions", json={"reward_id": "EUR5"}, headers={"Idempotency-Key": "j-2"}
        )
        assert redeemed.status_code == 201, redeemed.text
        assert redeemed.json()["code"].startswith("LOY-") and redeemed.json()["points"] == 500
        m.wait_points(available=72, timeout=30)

        # A late return (after the window) claws back exactly the returned line from available points.
        ret = api.call(
            "POST",
            f"/admin/orders/{oid}/returns",
            admin=True,
            json={"return_id": "RJ1", "lines": [{"sku": "TEE-ORG-M", "quantity": 1}]},
        )
        assert ret.status_code == 200, ret.text
        m.wait_points(available=72 - 29)
        reverse = next(e for e in m.ledger() if e["kind"] == "REVERSE")
        assert reverse["points"] == -29 and reverse["order_id"] == oid
        wait_for(
            lambda: any("Return of order" in str(e["Subject"]) for e in outbox_for(system, m.email)),
            timeout=60,
        )

        # 30 days before the remaining 43 points expire, a warning; then they expire.
        travel(api, 31 + 340)
        run_jobs(api)
        warning = wait_for(
            lambda: [e for e in outbox_for(system, m.email) if "expire on" in str(e["Subject"])]
        )
        assert "43 of your points expire" in body_text(warning[0])
        travel(api, 31 + 372)
        stats = run_jobs(api)
        assert stats["expired"] >= 1
        after = m.wait_points(available=0, timeout=30)
        assert after["locked"] == ORDER_POINTS  # the guest order was never delivered: still locked
        kinds = m.ledger_kinds()
        assert kinds[0] == "EXPIRE"
        assert sorted(set(kinds)) == ["ADJUST", "EARN", "EXPIRE", "REDEEM", "REVERSE", "UNLOCK", "WELCOME"]
        assert kinds.count("EARN") == 2
    finally:
        travel(api, 0)


def test_me_profile_and_validation(api: Api) -> None:
    m = Member(api, "profile")
    bad = m.call("POST", "/members", json={"marketing_consent": "yes"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "marketing_consent"
    m.join()
    assert m.call("PATCH", "/me", json={"marketing_consent": True, "name": "Ada K."}).status_code == 200
    me = m.me()
    assert me["marketing_consent"] is True and me["name"] == "Ada K."
    for body, field in [
        ({"birthday": "2001-02-30"}, "birthday"),
        ({"name": ""}, "name"),
        ({"email": "x@example.com"}, "email"),
        ({"marketing_consent": 1}, "marketing_consent"),
    ]:
        resp = m.call("PATCH", "/me", json=body)
        assert resp.status_code == 422, resp.text
        assert resp.json()["errors"][0]["field"] == field
    assert m.call("PATCH", "/me", json={"birthday": "02-29"}).json()["birthday"] == "02-29"
    page = m.call("GET", "/me/points?limit=1").json()
    assert [e["kind"] for e in page["entries"]] == ["WELCOME"] and page["next_cursor"] is None
    assert m.call("GET", "/me/points?cursor=bogus").status_code == 400


def test_bad_redemptions_and_adjustments(api: Api) -> None:
    m = Member(api, "bad")
    not_member = m.call("POST", "/me/redemptions", json={"reward_id": "EUR5"})
    assert not_member.status_code == 409
    m.join()
    cases = [
        ({"reward_id": "NOPE"}, 422, "reward_id"),
        ({}, 422, "reward_id"),
        ({"reward_id": "EUR5", "points": 5}, 422, "points"),
    ]
    for body, status, field in cases:
        resp = m.call("POST", "/me/redemptions", json=body)
        assert resp.status_code == status, resp.text
        assert resp.json()["errors"][0]["field"] == field
    over = m.call("POST", "/me/redemptions", json={"reward_id": "EUR5"})
    assert over.status_code == 409 and over.json()["errors"][0]["field"] == "reward_id"

    for points, reason, field in [
        (-1.5, "fractional", "points"),
        (0, "zero points", "points"),
        ("10", "a string", "points"),
        (10, "", "reason"),
        (10, None, "reason"),
        (10**7, "too many points", "points"),
    ]:
        resp = adjust(api, m.customer_id, points, reason)
        assert resp.status_code == 422, (points, reason, resp.text)
        assert resp.json()["errors"][0]["field"] == field
    unknown = adjust(api, "no-such-member", 10, "for nobody")
    assert unknown.status_code == 404
    deduct = adjust(api, m.customer_id, -30, "Duplicate welcome bonus", adjustment_id="ADJ-X1")
    assert deduct.status_code == 201 and deduct.json()["entry"]["reason"] == "Duplicate welcome bonus"
    again = adjust(api, m.customer_id, -30, "Duplicate welcome bonus", adjustment_id="ADJ-X1")
    assert again.json()["duplicate"] is True
    assert m.points()["available"] == 70  # nothing half-applied, the duplicate applied once
    assert [e["kind"] for e in m.ledger()] == ["ADJUST", "WELCOME"]


def test_tier_upgrade_and_its_reversal_send_emails(api: Api, system: LocalSystem) -> None:
    m = Member(api, "tier")
    m.join()
    oid = m.order(lines=[{"sku": "TEE-ORG-M", "quantity": 18}])  # 522.00 EUR: past Silver's 500.00
    view = m.wait_points(tier="SILVER", locked=522)
    assert view["next_tier"] == "GOLD" and view["next_tier_missing_minor"] == 150000 - 52200
    assert m.me()["loyalty"]["tier_name"] == "Silver"
    up = wait_for(
        lambda: [e for e in outbox_for(system, m.email) if e["Subject"] == "Welcome to Silver!"], timeout=60
    )
    assert "from Member to Silver" in body_text(up[0]) and "125%" in body_text(up[0])

    from tests.integration.loyalty_helpers import admin_status

    admin_status(api, oid, "cancelled")  # the order that caused the upgrade goes: so does the upgrade
    m.wait_points(tier="MEMBER", locked=0, available=100)
    wait_for(
        lambda: [e for e in outbox_for(system, m.email) if e["Subject"] == "Your tier is now Member"],
        timeout=60,
    )
