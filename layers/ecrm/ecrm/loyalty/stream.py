"""What table changes mean for loyalty (pure decisions, no I/O): the stream router calls these handlers and
sends their messages to the loyalty queue; `ecrm.loyalty.worker` applies them.

- ORDER: placed -> earn; delivered -> start the lock countdown; cancelled / returned -> reverse; a partial
  return (`last_return`) -> reverse exactly those lines; an order linked to a member (customer_id appears) ->
  the whole history at once (`sync`).
- CUSTOMER_PROFILE inserted (a member joined) -> link the guest orders placed with the same address.
- LOYALTY (balance item) whose tier changed -> the tier email (`notices.tier_change_from_images` in the
  worker, where the program is at hand); console edits of the tier are caught the same way.

Every message is safe to deliver twice: each step has a ledger source key or is a no-op once applied.
"""

from __future__ import annotations

from ecrm.events.router import Change, Work
from ecrm.loyalty.orders import order_snapshot, order_steps

QUEUE_ENV = "LOYALTY_QUEUE_URL"


def on_order_change(change: Change) -> Work:
    """Router handler for ORDER items."""
    work = Work()
    new = change.new
    if new is None:
        return work
    steps = order_steps(new, change.old)
    if steps:
        work.messages[QUEUE_ENV] = [
            {
                "kind": "order",
                "customer_id": new["customer_id"],
                "order": order_snapshot(new),
                "steps": steps,
                "correlation_id": change.correlation_id,
            }
        ]
    return work


def on_profile_change(change: Change) -> Work:
    """Router handler for CUSTOMER_PROFILE items: a new member's guest orders get linked."""
    work = Work()
    if change.event_name == "INSERT" and change.new and change.new.get("email"):
        work.messages[QUEUE_ENV] = [
            {
                "kind": "link",
                "customer_id": change.new["customer_id"],
                "email": change.new["email"],
                "correlation_id": change.correlation_id,
            }
        ]
    return work


def on_balance_change(change: Change) -> Work:
    """Router handler for LOYALTY (balance) items: a tier change becomes an email (decided in the worker,
    which has the program to name the tiers)."""
    work = Work()
    new, old = change.new, change.old
    if not new or not old or new.get("sk") != "LOYALTY" or new.get("tier") == old.get("tier"):
        return work
    work.messages[QUEUE_ENV] = [
        {
            "kind": "tier",
            "customer_id": new["customer_id"],
            "old": {"type": old.get("type"), "tier": old.get("tier")},
            "new": {"type": new.get("type"), "tier": new.get("tier"), "tier_since": new.get("tier_since")},
            "correlation_id": change.correlation_id,
        }
    ]
    return work
