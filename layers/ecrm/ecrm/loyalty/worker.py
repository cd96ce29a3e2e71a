"""The loyalty queue's consumer: applies the messages `ecrm.loyalty.stream` produces.

- `order`: earn / deliver / reverse steps for one order, each ONE transaction, each idempotent (ledger source
  keys; delivering an already delivered lot is a no-op). Non-members are ignored; `NotReady` (a delivery or
  return seen before the earning) propagates so SQS redelivers the message later.
- `link`: a new member's guest orders (same address, GSI2 `ORDERS_BY_EMAIL#`) get the member's id and GSI1
  entry, and earn once.
- `tier`: the tier-change email.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ecrm.customers import profile as profiles
from ecrm.customers.identity import normalise_email
from ecrm.loyalty import notices, store
from ecrm.loyalty.errors import NotAMember
from ecrm.loyalty.events import Deliver, EarnOrder, Event, Reverse
from ecrm.loyalty.model import AccountState
from ecrm.loyalty.orders import order_snapshot, sync_steps
from ecrm.loyalty.rules import Order, OrderLine
from ecrm.platform import aws, clock, ddb
from ecrm.platform.errors import ValidationFailed
from ecrm.platform.observability import count, logger
from ecrm.platform.settings import table_name


class BadLoyaltyMessage(ValueError):
    """A message that can never be applied (it goes to the DLQ after its retries)."""


def handle(message: dict[str, Any]) -> dict[str, Any]:
    """Apply one queue message; returns a summary (for logs and tests)."""
    kind = message.get("kind") if isinstance(message, dict) else None
    if kind == "order":
        return apply_order(message["customer_id"], message["order"], message["steps"])
    if kind == "link":
        return link_guest_orders(message["customer_id"], message["email"])
    if kind == "tier":
        return tier_email(message["customer_id"], message.get("old"), message.get("new"))
    raise BadLoyaltyMessage(f"unknown loyalty message kind {kind!r}")


# ------------------------------------------------------------------ orders
def loyalty_order(snapshot: dict[str, Any], placed_at: datetime) -> Order:
    """The core's Order from a message snapshot."""
    return Order(
        order_id=snapshot["order_id"],
        currency=snapshot["currency"],
        placed_at=placed_at,
        lines=tuple(
            OrderLine(
                ln["line_id"], ln["sku"], int(ln["quantity"]), int(ln["amount_minor"]), ln.get("category")
            )
            for ln in snapshot["lines"]
        ),
        shipping_minor=int(snapshot.get("shipping_minor", 0)),
        discount_minor=int(snapshot.get("discount_minor", 0)),
    )


def effective_placed_at(snapshot: dict[str, Any], balance: dict[str, Any] | None) -> datetime:
    """When the order counts as placed for loyalty: its creation, or the join time for an order placed
    before the customer joined (a guest order linked at join earns once, as the issue asks; every event of
    that order uses the same time, so its delivery and returns find its points)."""
    placed = clock.parse_iso(snapshot["created_at"])
    if balance is None:
        return placed
    return max(placed, AccountState.from_doc(balance).joined_at)


def apply_order(customer_id: str, snapshot: dict[str, Any], steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply an order's steps in order (earn, deliver, reverse...)."""
    results = []
    prog = store.program()
    for step in steps:
        try:
            outcome = store.apply(customer_id, _event_for(step, snapshot), prog=prog).outcome
        except NotAMember:
            count("LoyaltyOrderIgnoredNotMember")
            return {"ignored": "not a member", "order_id": snapshot["order_id"]}
        results.append({"do": step["do"], "status": outcome.status, "points": outcome.points})
        if outcome.tier_change:
            logger.info("tier changed", extra={"customer_id": customer_id, "to": outcome.tier_change.new})
    logger.info("loyalty order steps applied", extra={"order_id": snapshot["order_id"], "results": results})
    return {"order_id": snapshot["order_id"], "results": results}


def _event_for(step: dict[str, Any], snapshot: dict[str, Any]) -> Any:
    def make(balance: dict[str, Any] | None) -> Event:
        placed_at = effective_placed_at(snapshot, balance)
        match step.get("do"):
            case "earn":
                return EarnOrder(loyalty_order(snapshot, placed_at))
            case "deliver":
                return Deliver(snapshot["order_id"], placed_at, max(clock.parse_iso(step["at"]), placed_at))
            case "reverse":
                return Reverse(snapshot["order_id"], step["reversal_id"], placed_at, step.get("lines"))
        raise BadLoyaltyMessage(f"unknown order step {step.get('do')!r}")

    return make


# ------------------------------------------------------------------ guest orders -> member
def link_guest_orders(customer_id: str, email: str) -> dict[str, Any]:
    """Give a new member the orders placed with their address (guest checkout, or before joining), and
    apply their loyalty history once. Orders of another member are left alone."""
    client = aws.dynamodb()
    table = table_name()
    kwargs: dict[str, Any] = {
        "TableName": table,
        "IndexName": "gsi2",
        "KeyConditionExpression": "gsi2pk = :pk",
        "ExpressionAttributeValues": ddb.values({":pk": f"ORDERS_BY_EMAIL#{normalise_email(email)}"}),
    }
    linked, synced = 0, 0
    while True:
        resp = client.query(**kwargs)
        for raw in resp.get("Items", []):
            order = ddb.from_item(raw) or {}
            if order.get("type") != "ORDER":
                continue
            owner = order.get("customer_id")
            if owner and owner != customer_id:
                continue
            if not owner:
                if not _link(order, customer_id):
                    continue
                order["customer_id"] = customer_id
                linked += 1
            apply_order(customer_id, order_snapshot(order), sync_steps(order))
            synced += 1
        if "LastEvaluatedKey" not in resp:
            break
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
    count("LoyaltyGuestOrdersLinked", linked)
    logger.info("guest orders linked", extra={"customer_id": customer_id, "linked": linked, "synced": synced})
    return {"linked": linked, "synced": synced}


def _link(order: dict[str, Any], customer_id: str) -> bool:
    """Set customer_id + GSI1 on a guest order, only if it still has no owner (one conditional Update)."""
    client = aws.dynamodb()
    try:
        client.update_item(
            TableName=table_name(),
            Key=ddb.key(order["pk"], order["sk"]),
            UpdateExpression="SET customer_id = :c, gsi1pk = :g1, gsi1sk = :g1s, linked_at = :now",
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(customer_id)",
            ExpressionAttributeValues=ddb.values(
                {
                    ":c": customer_id,
                    ":g1": f"CUSTOMER#{customer_id}",
                    ":g1s": f"ORDER#{order['created_at']}#{order['order_id']}",
                    ":now": clock.iso(clock.now()),
                }
            ),
        )
        return True
    except client.exceptions.ConditionalCheckFailedException:
        return False


# ------------------------------------------------------------------ tier email
def tier_email(customer_id: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    """The tier-change email (transactional: it is about the member's account)."""
    from ecrm.mail.outbound import OutboundEmail, enqueue

    prog = store.program()
    change = notices.tier_change_from_images(prog, old, new)
    if change is None or new is None:
        return {"sent": False, "reason": "no tier change"}
    profile = profiles.get(customer_id)
    if profile is None or not profile.get("email"):
        return {"sent": False, "reason": "no profile"}
    old_tier, new_tier = prog.find_tier(change.old), prog.find_tier(change.new)
    if new_tier is None:
        raise ValidationFailed(f"tier {change.new} is not in the program", "tier")
    upgrade = change.reason == "upgrade"
    data = {
        "name": profile.get("name") or "",
        "old_tier": old_tier.name if old_tier else change.old,
        "new_tier": new_tier.name,
        "multiplier_percent": str(new_tier.multiplier_percent),
        "headline": (f"Welcome to {new_tier.name}!" if upgrade else f"Your tier is now {new_tier.name}"),
    }
    enqueue(
        [
            OutboundEmail(
                to=profile["email"],
                template="loyalty_tier_changed",
                data=data,
                dedupe_key=f"loyalty-tier#{customer_id}#{change.new}#{new.get('tier_since', '')}",
                customer_id=customer_id,
            )
        ]
    )
    count("LoyaltyTierEmail")
    return {"sent": True, "tier": change.new, "reason": change.reason}
