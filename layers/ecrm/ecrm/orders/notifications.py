"""What an order change implies: one email per (order, status), and a timeline entry when staff changed the
status directly in the DynamoDB console (the API writes its own entries in the same transaction)."""

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
