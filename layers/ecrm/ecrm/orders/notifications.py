"""What an order change implies: one email per (order, status), one per new tracking number of a parcel on its
way (a re-label), and a timeline entry when staff changed the status directly in the DynamoDB console (the
API writes its own entries in the same transaction)."""

from __future__ import annotations

from functools import partial
from typing import Any

from ecrm.events.router import Change, Work
from ecrm.mail.outbound import OutboundEmail
from ecrm.orders import lifecycle, store
from ecrm.orders.model import email_kind_for
from ecrm.orders.service import STATUS_LABELS, tracking_url
from ecrm.platform import clock
from ecrm.platform.money import format_money
from ecrm.platform.observability import count, logger


def on_order_change(change: Change) -> Work:
    """Emails and console timeline entries for one change of an order item."""
    work = Work()
    new, old = change.new, change.old
    if new is None:
        return work
    new_return = _new_return(new, old)
    if new_return:
        # One email per return; when the last return completes the order it also covers `returned`.
        items = ", ".join(f"{q} x {k}" for k, q in sorted(new_return["lines"].items()))
        work.emails.append(
            OutboundEmail(
                to=new["email"],
                template="order_returned",
                data=email_data(new) | {"note": f"Items received: {items}."},
                dedupe_key=f"order#{new['order_id']}#return#{new_return['return_id']}",
                customer_id=new.get("customer_id"),
                correlation_id=change.correlation_id,
            )
        )
    status = new.get("status")
    # Also when the change enters `shipped` again (a console edit back from an exception): that status email
    # went out at the first shipment, so its key is spent and only this one carries the new number.
    if relabelled(new, old):
        work.emails.append(
            OutboundEmail(
                to=new["email"],
                kind="transactional",
                template=email_kind_for(lifecycle.SHIPPED),
                data=email_data(new),
                dedupe_key=tracking_dedupe_key(new),
                customer_id=new.get("customer_id"),
                correlation_id=change.correlation_id,
            )
        )
    if old is not None and old.get("status") == status:
        return work
    if old is not None and new.get("event_seq") == old.get("event_seq"):
        work.writes.append(partial(_record_console_edit, change))
    kind = email_kind_for(str(status))
    if kind and not (new_return and status == "returned"):
        work.emails.append(
            OutboundEmail(
                to=new["email"],
                kind="transactional",
                template=kind,
                data=email_data(new),
                dedupe_key=f"order#{new['order_id']}#status#{status}",
                customer_id=new.get("customer_id"),
                correlation_id=change.correlation_id,
            )
        )
    return work


def relabelled(new: dict[str, Any], old: dict[str, Any] | None) -> bool:
    """True when this change gave a parcel that was already on its way a tracking number it did not have
    (a re-labelled parcel): the customer needs the new number. The first number comes with the `shipped`
    email itself (the order was not on its way before), so it is not counted here."""
    if old is None or not new.get("tracking_number"):
        return False
    if old.get("status") not in lifecycle.ON_THE_WAY or new.get("status") not in lifecycle.ON_THE_WAY:
        return False
    return any(new.get(k) != old.get(k) for k in ("carrier", "tracking_number"))


def tracking_dedupe_key(order: dict[str, Any]) -> str:
    """One "your parcel has a new tracking number" email per change: the number names what was sent, and
    the write's `event_seq` tells a later change back to an earlier number from a redelivered stream record
    (which carries the same `event_seq`, so it is sent once)."""
    return (
        f"order#{order['order_id']}#tracking#{order.get('carrier')}#{order['tracking_number']}"
        f"#{order.get('event_seq')}"
    )


def _new_return(new: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any] | None:
    last = new.get("last_return")
    if not last or (old and (old.get("last_return") or {}).get("return_id") == last.get("return_id")):
        return None
    return last


def _record_console_edit(change: Change) -> None:
    new, old = change.new or {}, change.old or {}
    legal = lifecycle.can_transition(str(old.get("status")), str(new.get("status")))
    if not legal:
        # Staff are the authority on their own data; we record and notify, but flag it for review.
        count("ConsoleTransitionOutsideLifecycle")
        logger.warning(
            "console status change outside the lifecycle",
            extra={"order_id": new.get("order_id"), "from": old.get("status"), "to": new.get("status")},
        )
    seq = int(new.get("event_seq", 0))
    event = {
        "pk": new["pk"],
        "sk": f"{store.event_sk(seq)}C{change.sequence_number}",
        "type": "ORDER_EVENT",
        "order_id": new["order_id"],
        "status": new.get("status"),
        "source": "console",
        "at": new.get("updated_at")
        if new.get("updated_at") != old.get("updated_at")
        else clock.iso(clock.now()),
        "note": None
        if legal
        else f"changed in the console from {old.get('status')} (outside the usual lifecycle)",
    }
    store.put_event_if_absent(event)


def email_data(order: dict[str, Any]) -> dict[str, Any]:
    """Template data for an order email (SES escapes it in the HTML part)."""
    currency = order.get("currency", "EUR")
    lines = "\n".join(
        f"{ln['quantity']} x {ln['name']}  {format_money(int(ln['line_total']['amount']), currency)}"
        for ln in order.get("lines", [])
    )
    return {
        "name": order.get("name", ""),
        "order_id": order["order_id"],
        "status": order.get("status"),
        "status_label": STATUS_LABELS.get(str(order.get("status")), ""),
        "total": format_money(int(order.get("total_minor", 0)), currency),
        "lines": lines,
        "tracking_url": tracking_url(order["order_id"]),
        "carrier": order.get("carrier", ""),
        "tracking_number": order.get("tracking_number", ""),
        "note": "",
    }
