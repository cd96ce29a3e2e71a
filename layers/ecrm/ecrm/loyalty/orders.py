"""Orders as loyalty sees them (pure): the snapshot a message carries and the steps an order change implies.

Line ids are the names returns use (`orders.returns.line_key`: SKU or configuration id), made id-safe, so a
partial return's `{line: qty}` claws back exactly those lines.
"""

from __future__ import annotations

import re
from typing import Any

_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._:-]")

DELIVERED = "delivered"
CANCELLED = "cancelled"
RETURNED = "returned"
CANCEL_REVERSAL = "CANCEL"
RETURNED_REVERSAL = "RETURNED"
LINK_REVERSAL = "LINKED-RETURNS"


def line_id(line: dict[str, Any]) -> str:
    """A line's id for loyalty: the same name returns use (SKU or configuration id), made id-safe."""
    raw = str(line.get("sku") or line.get("configuration_id") or "line")
    return (_ID_UNSAFE.sub("-", raw) or "line")[:128].lstrip("-._:") or "line"


def order_snapshot(order: dict[str, Any]) -> dict[str, Any]:
    """The facts of an order that earning needs (carried in the message: the worker does not re-read)."""
    lines: dict[str, dict[str, Any]] = {}
    for line in order.get("lines") or []:
        key = line_id(line)
        entry = lines.setdefault(
            key,
            {
                "line_id": key,
                "sku": str(line.get("sku") or line.get("configuration_id") or key),
                "quantity": 0,
                "amount_minor": 0,
                "category": line.get("category"),
            },
        )
        entry["quantity"] += int(line.get("quantity", 0))
        entry["amount_minor"] += int((line.get("line_total") or {}).get("amount", 0))
    return {
        "order_id": order["order_id"],
        "created_at": order["created_at"],
        "currency": order.get("currency", "EUR"),
        "lines": list(lines.values()),
        "shipping_minor": int(order.get("shipping_minor") or 0),
        "discount_minor": int(order.get("discount_minor") or 0),
    }


def delivered_at(order: dict[str, Any]) -> str:
    """When the goods arrived: the carrier's checkpoint time if a carrier said so, else the status change."""
    if order.get("status_source") == "carrier" and order.get("last_checkpoint_at"):
        return str(order["last_checkpoint_at"])
    return str(order.get("updated_at") or order["created_at"])


def returned_lines(lines: dict[str, Any]) -> dict[str, int]:
    """`{line key: qty}` from an order's `returned` / `last_return.lines`, with loyalty line ids."""
    out: dict[str, int] = {}
    for key, qty in (lines or {}).items():
        lid = line_id({"sku": key})
        out[lid] = out.get(lid, 0) + int(qty)
    return out


def sync_steps(order: dict[str, Any]) -> list[dict[str, Any]]:
    """Everything an order's current state implies, for an order that just became a member's (linking)."""
    steps: list[dict[str, Any]] = [{"do": "earn"}]
    status = order.get("status")
    returned = returned_lines(order.get("returned") or {})
    if status in (DELIVERED, RETURNED) or returned:
        steps.append({"do": "deliver", "at": delivered_at(order)})
    if status == CANCELLED:
        steps.append({"do": "reverse", "reversal_id": CANCEL_REVERSAL, "lines": None})
    elif returned:
        steps.append({"do": "reverse", "reversal_id": LINK_REVERSAL, "lines": returned})
    elif status == RETURNED:
        steps.append({"do": "reverse", "reversal_id": RETURNED_REVERSAL, "lines": None})
    return steps


def order_steps(new: dict[str, Any], old: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The loyalty steps one change of an order implies (none for guests)."""
    if not new.get("customer_id"):
        return []
    if old is None:
        return [{"do": "earn"}]
    if not old.get("customer_id"):
        return sync_steps(new)
    steps: list[dict[str, Any]] = []
    status, before = new.get("status"), old.get("status")
    if status != before and status == DELIVERED:
        steps.append({"do": "deliver", "at": delivered_at(new)})
    if status != before and status == CANCELLED:
        steps.append({"do": "reverse", "reversal_id": CANCEL_REVERSAL, "lines": None})
    last = new.get("last_return") or {}
    new_return = bool(last) and (old.get("last_return") or {}).get("return_id") != last.get("return_id")
    if new_return:
        steps.append(
            {
                "do": "reverse",
                "reversal_id": line_id({"sku": last["return_id"]}),
                "lines": returned_lines(last.get("lines") or {}),
            }
        )
    elif status != before and status == RETURNED:
        steps.append({"do": "reverse", "reversal_id": RETURNED_REVERSAL, "lines": None})
    return steps
