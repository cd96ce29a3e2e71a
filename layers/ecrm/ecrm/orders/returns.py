"""Returns, whole or partial: staff record what came back; loyalty claws back exactly those lines' points and
the customer is told, both from the stream. When everything has come back the order becomes `returned`."""

from __future__ import annotations

import re
from typing import Any

from ecrm.orders import lifecycle, service, store
from ecrm.platform import ids
from ecrm.platform.errors import BadRequest, Conflict, NotFound, ValidationFailed

_RETURN_ID = re.compile(r"[A-Za-z0-9-]{1,40}")
RETURNABLE = frozenset({lifecycle.DELIVERED, lifecycle.DELIVERY_EXCEPTION})


def line_key(line: dict[str, Any]) -> str:
    """How a line is named in returns: its SKU or configuration id."""
    return str(line.get("sku") or line.get("configuration_id"))


def _validate(body: Any, order: dict[str, Any]) -> tuple[str, dict[str, int], str | None]:
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object", field="body")
    return_id = body.get("return_id") or ids.new_id("RET")
    if not isinstance(return_id, str) or not _RETURN_ID.fullmatch(return_id):
        raise ValidationFailed("must be 1-40 characters A-Z a-z 0-9 -", field="return_id")
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 500):
        raise ValidationFailed("must be a string of at most 500 characters", field="note")
    lines = body.get("lines")
    if not isinstance(lines, list) or not 1 <= len(lines) <= 50:
        raise ValidationFailed("must list 1 to 50 returned lines", field="lines")
    ordered = {line_key(ln): int(ln["quantity"]) for ln in order["lines"]}
    already: dict[str, int] = {k: int(v) for k, v in (order.get("returned") or {}).items()}
    wanted: dict[str, int] = {}
    for i, line in enumerate(lines):
        if not isinstance(line, dict):
            raise ValidationFailed("must be an object", field=f"lines.{i}")
        key = line.get("sku") or line.get("configuration_id")
        field = f"lines.{i}.{'sku' if line.get('sku') else 'configuration_id'}"
        if not isinstance(key, str) or key not in ordered:
            raise ValidationFailed("is not a line of this order", field=field)
        qty = line.get("quantity")
        if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
            raise ValidationFailed("must be a positive integer", field=f"lines.{i}.quantity")
        wanted[key] = wanted.get(key, 0) + qty
        if already.get(key, 0) + wanted[key] > ordered[key]:
            left = ordered[key] - already.get(key, 0)
            raise ValidationFailed(
                f"only {left} of this line can still be returned", field=f"lines.{i}.quantity"
            )
    return return_id, wanted, note


def record_return(order_id: str, body: Any, actor: str, correlation_id: str | None) -> dict[str, Any]:
    """Record a return (idempotent by `return_id`); moves the order to `returned` when nothing is left."""
    order = store.get_order(order_id)
    if order is None:
        raise NotFound(f"order {order_id} not found", field="order_id")
    if order["status"] not in RETURNABLE and order["status"] != lifecycle.RETURNED:
        raise Conflict(
            f"a {order['status']} order cannot take a return; only delivered orders can "
            "(cancel it instead if it has not shipped)",
            field="order_id",
        )
    return_id, wanted, note = _validate(body, order)
    returned = {k: int(v) for k, v in (order.get("returned") or {}).items()}
    for key, qty in wanted.items():
        returned[key] = returned.get(key, 0) + qty
    complete = all(returned.get(line_key(ln), 0) >= int(ln["quantity"]) for ln in order["lines"])
    new_status = lifecycle.RETURNED if complete and order["status"] != lifecycle.RETURNED else None
    if new_status:
        lifecycle.check_transition(order["status"], new_status)
    summary = ", ".join(f"{q} x {k}" for k, q in sorted(wanted.items()))
    marker = {
        "pk": order["pk"],
        "sk": f"RETURN#{return_id}",
        "type": "ORDER_RETURN",
        "order_id": order_id,
        "return_id": return_id,
        "lines": wanted,
        "actor": actor,
    }
    try:
        service._apply(
            order,
            new_status,
            "admin",
            note or f"Return received: {summary}",
            correlation_id,
            actor=actor,
            dedupe=marker,
            extra={"returned": returned, "last_return": {"return_id": return_id, "lines": wanted}},
        )
    except store.DuplicateEvent:
        return {
            "order_id": order_id,
            "return_id": return_id,
            "duplicate": True,
            "status": order["status"],
            "returned": order.get("returned") or {},
        }
    return {
        "order_id": order_id,
        "return_id": return_id,
        "duplicate": False,
        "status": new_status or order["status"],
        "returned": returned,
    }
