"""Order use cases: place, read, track, change status (admin, carrier, console). Side effects (email,
loyalty) never happen here: they follow from the table's stream, so a write and its notification agree."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ecrm.catalog import skus
from ecrm.customers.identity import Customer, normalise_email
from ecrm.orders import carriers, lifecycle, store, tracking_links
from ecrm.orders.model import PlaceOrderRequest, price_order, timeline_entry, validate_place_order
from ecrm.platform import clock, ids, jsonbody, paging
from ecrm.platform.errors import BadRequest, NotFound, ValidationFailed
from ecrm.platform.observability import count, logger
from ecrm.platform.settings import env

PAGE_MAX = 50
STATUS_LABELS = {
    "placed": "Order placed", "paid": "Payment received", "packed": "Being packed", "shipped": "Shipped",
    "in_transit": "In transit", "out_for_delivery": "Out for delivery", "delivered": "Delivered",
    "delivery_exception": "Delivery problem", "cancelled": "Cancelled", "returned": "Returned",
}


def _tracking_secrets() -> list[bytes]:
    # Comma-separated: the first signs new links, all verify (rotation without breaking sent emails).
    # Stripped, so "new, old" in a parameter store does not turn into a secret with a leading space.
    return [s.strip().encode() for s in env("TRACKING_LINK_SECRET").split(",") if s.strip()]


def tracking_url(order_id: str) -> str:
    """The guest tracking link for an order (unguessable; never the order number alone)."""
    token = tracking_links.make_token(_tracking_secrets()[0], order_id)
    return f"{env('PUBLIC_BASE_URL').rstrip('/')}/track/{token}"


# ------------------------------------------------------------------ place
def place_order(body: Any, customer: Customer | None, correlation_id: str | None = None) -> dict[str, Any]:
    """Validate, price from the server-side catalogue and store a new order; returns the customer view."""
    request = validate_place_order(body)
    priced, categories = _price(request)
    priced_doc = priced.to_dict()
    for line in priced_doc["lines"]:
        # Kept on the line so loyalty campaigns by category apply to what was actually bought.
        line["category"] = categories.get(str(line.get("sku")))
    now = clock.now()
    order_id = ids.new_id("ORD")
    created = clock.iso(now)
    email = customer.email if customer else request.customer.email
    order: dict[str, Any] = {
        "pk": store.order_pk(order_id), "sk": store.ORDER_SK, "type": "ORDER",
        "order_id": order_id, "status": lifecycle.PLACED, "event_seq": 1,
        "customer_id": customer.customer_id if customer else None,
        "email": email, "name": request.customer.name,
        "shipping_address": request.to_dict()["shipping_address"],
        "marketing_consent": request.marketing_consent,
        **priced_doc,
        "total_minor": priced.total_minor,
        "created_at": created, "updated_at": created, "status_source": "customer",
        "correlation_id": correlation_id,
        # Keyed by the normalised address (as customers are), so a guest's "Ada@Example.com" and the
        # member token's "ada@example.com" land in one partition; `email` keeps what was typed, for delivery.
        "gsi2pk": f"ORDERS_BY_EMAIL#{normalise_email(email)}", "gsi2sk": f"ORDER#{created}#{order_id}",
    }
    if customer:
        order["gsi1pk"], order["gsi1sk"] = f"CUSTOMER#{customer.customer_id}", f"ORDER#{created}#{order_id}"
    event = {"pk": order["pk"], "sk": store.event_sk(1), "type": "ORDER_EVENT", "order_id": order_id,
             **timeline_entry(lifecycle.PLACED, "customer", now)}
    store.create_order(order, event)
    count("OrderPlaced")
    logger.info("order placed",
                extra={"order_id": order_id, "lines": len(priced.lines), "member": bool(customer)})
    return view(order, [event], include_private=True) | {"tracking_url": tracking_url(order_id)}


def _price(request: PlaceOrderRequest) -> tuple[Any, dict[str, str]]:
    wanted = [ln.sku for ln in request.lines if ln.sku]
    found = skus.get_many(wanted)
    prices = {s: (d["price"], d["currency"], d["name"]) for s, d in found.items() if d.get("active", True)}
    # A configuration id appears on one line only (validated), so its problems can name that line.
    configs = {ln.configuration_id: f"lines.{i}.configuration_id"
               for i, ln in enumerate(request.lines) if ln.configuration_id}
    if configs:
        from ecrm.catalog import ordering  # the configurator prices saved configurations at order time

        prices.update(ordering.price_configurations(list(configs), fields=configs))
    categories = {s: str(d["category"]) for s, d in found.items() if d.get("category")}
    return price_order(request.lines, prices, request.currency), categories


# ------------------------------------------------------------------ read
def view(order: dict[str, Any], events: list[dict[str, Any]], include_private: bool) -> dict[str, Any]:
    """The API shape of an order; the guest view leaves out address, email and name."""
    doc: dict[str, Any] = {
        "order_id": order["order_id"], "status": order["status"],
        "status_label": STATUS_LABELS.get(order["status"], order["status"]),
        "created_at": order["created_at"], "updated_at": order["updated_at"],
        "currency": order["currency"], "lines": order["lines"], "subtotal": order["subtotal"],
        "total": order["total"],
        "tracking": ({"carrier": order["carrier"], "tracking_number": order["tracking_number"]}
                     if order.get("tracking_number") else None),
        "timeline": [{k: e.get(k) for k in ("status", "source", "at", "note", "location")} for e in events],
        "allowed_next": sorted(lifecycle.allowed_next(order["status"])),
    }
    if include_private:
        doc.update(email=order["email"], name=order["name"], shipping_address=order["shipping_address"])
    return doc


def get_for_customer(order_id: str, customer: Customer) -> dict[str, Any]:
    """A member's own order; someone else's order is indistinguishable from a missing one (404)."""
    order, events = store.get_order_with_timeline(order_id)
    if order is None or order.get("customer_id") != customer.customer_id:
        raise NotFound(f"order {order_id} not found", field="order_id")
    return view(order, events, include_private=True) | {"tracking_url": tracking_url(order_id)}


def track(token: str) -> dict[str, Any]:
    """Guest tracking by signed link."""
    order_id = tracking_links.read_token(_tracking_secrets(), token)
    order, events = store.get_order_with_timeline(order_id)
    if order is None:
        raise NotFound("tracking link not found", field="token")
    return view(order, events, include_private=False)


def list_for_customer(customer: Customer, limit: int, cursor: str | None) -> dict[str, Any]:
    """A page of the member's orders, newest first, with an opaque cursor."""
    if not 1 <= limit <= PAGE_MAX:
        raise ValidationFailed(f"must be between 1 and {PAGE_MAX}", field="limit")
    start = paging.decode(cursor, lambda k: _own_order_key(k, customer)) if cursor else None
    items, last = store.list_customer_orders(customer.customer_id, limit, start)
    summaries = [{"order_id": o["order_id"], "status": o["status"], "created_at": o["created_at"],
                  "total": o["total"], "items": sum(int(ln["quantity"]) for ln in o["lines"])} for o in items]
    return {"orders": summaries, "next_cursor": paging.encode(last) if last else None}


def _own_order_key(key: dict[str, str], customer: Customer) -> bool:
    # A cursor must not page through someone else's orders.
    return (key["gsi1pk"] == f"CUSTOMER#{customer.customer_id}" and key["gsi1sk"].startswith("ORDER#")
            and key["sk"] == store.ORDER_SK and key["pk"].startswith("ORDER#"))


# ------------------------------------------------------------------ status changes
def _validate_status_change(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object", field="body")
    status = body.get("status")
    if not isinstance(status, str) or status not in lifecycle.ORDER_STATUSES:
        raise ValidationFailed(f"must be one of {', '.join(lifecycle.ORDER_STATUSES)}", field="status")
    out = {"status": status, "note": None, "carrier": None, "tracking_number": None}
    note = body.get("note")
    if note is not None:
        if not isinstance(note, str) or len(note) > 500:
            raise ValidationFailed("must be a string of at most 500 characters", field="note")
        out["note"] = note
    if body.get("tracking_number") is not None or body.get("carrier") is not None:
        # Normalised exactly as carrier webhooks are, or their events would not find the order.
        carrier = body.get("carrier")
        number = body.get("tracking_number")
        if not isinstance(carrier, str) or not carriers.CARRIER_PATTERN.fullmatch(carrier.strip().lower()):
            raise ValidationFailed("must be a carrier slug (a-z 0-9 -)", field="carrier")
        if not isinstance(number, str) or not carriers.TRACKING_NUMBER_PATTERN.fullmatch(
                carriers.normalise_tracking_number(number)):
            raise ValidationFailed("must be 4-64 characters A-Z 0-9 - (spaces are ignored)",
                                   field="tracking_number")
        out["carrier"] = carrier.strip().lower()
        out["tracking_number"] = carriers.normalise_tracking_number(number)
    if status == lifecycle.SHIPPED and not out["tracking_number"]:
        raise ValidationFailed("is required when an order is shipped", field="tracking_number")
    return out


def admin_change_status(order_id: str, body: Any, actor: str, correlation_id: str | None) -> dict[str, Any]:
    """Staff move an order along its lifecycle; an illegal move is a 409 with the reason.

    The current status again with a tracking number the order does not have yet (a re-labelled parcel)
    records the new number and a timeline entry saying so; the stream then emails the customer the new
    number if the parcel is on its way (notifications.on_order_change). The same status with the same or
    no tracking number changes nothing, so a retried request is a no-op."""
    change = _validate_status_change(body)
    order = store.get_order(order_id)
    if order is None:
        raise NotFound(f"order {order_id} not found", field="order_id")
    if change["status"] == order["status"]:
        changed = _change_tracking(order, change, actor, correlation_id)
        return {"order_id": order_id, "status": order["status"], "changed": changed}
    lifecycle.check_transition(order["status"], change["status"])
    if _new_tracking(order, change):  # no new label on a delivered, cancelled or returned order
        lifecycle.check_tracking_change(change["status"])
    _apply(order, change["status"], "admin", change["note"], correlation_id, actor=actor,
           carrier=change["carrier"], tracking_number=change["tracking_number"])
    return {"order_id": order_id, "status": change["status"], "changed": True}


def _change_tracking(order: dict[str, Any], change: dict[str, Any], actor: str,
                     correlation_id: str | None) -> bool:
    """Record a tracking number the order does not have yet, with a timeline entry; False (nothing written)
    when the request names no tracking number or the one the order already has."""
    if not _new_tracking(order, change):
        return False
    carrier, number = change["carrier"], change["tracking_number"]
    lifecycle.check_tracking_change(order["status"])
    what = "tracking number changed"
    if order.get("tracking_number"):
        what += f" from {order.get('carrier')} {order['tracking_number']}"
    what += f" to {carrier} {number}"
    note = f"{what}: {change['note']}" if change["note"] else what
    _apply(order, None, "admin", note, correlation_id, actor=actor, carrier=carrier, tracking_number=number)
    count("OrderTrackingChanged")
    logger.info("order tracking number changed", extra={"order_id": order["order_id"], "carrier": carrier})
    return True


def _new_tracking(order: dict[str, Any], change: dict[str, Any]) -> bool:
    """True when a validated change names a carrier + tracking number the order does not have."""
    wanted = (change["carrier"], change["tracking_number"])
    return bool(wanted[1]) and wanted != (order.get("carrier"), order.get("tracking_number"))


def carrier_event(raw_body: bytes, signature: str | None, correlation_id: str | None) -> dict[str, Any]:
    """A signed carrier checkpoint: appended to the timeline; moves the status when it implies a legal one.

    Carriers and aggregators deliver out of order, and the graph cannot tell a late hub scan from a van
    returning to the depot (`out_for_delivery -> in_transit` is legal). So a checkpoint that happened before
    the last one applied to the order (`last_checkpoint_at`, written in the same transaction) is recorded
    in the timeline but never moves the status. Applied means: it implies a status, and that status is the
    current one or a legal next one; checkpoints without status news (Pending, Expired) or refused by the
    graph do not advance `last_checkpoint_at`, so they cannot make a real later scan look stale.
    """
    if not signature:
        raise carriers.SignatureError(f"the {carriers.SIGNATURE_HEADER} header is required")
    carriers.verify_signature(env("CARRIER_WEBHOOK_SECRET").encode(), raw_body, signature, clock.now())
    event = carriers.parse_carrier_event(jsonbody.parse(raw_body))
    order_id = store.order_id_by_tracking(event.carrier, event.tracking_number)
    if order_id is None:
        raise ValidationFailed(f"no order has {event.carrier} tracking number {event.tracking_number}",
                               field="tracking_number")
    order = store.get_order(order_id)
    if order is None:
        raise NotFound(f"order {order_id} not found")
    new_status = event.status
    out_of_order = _before_last_checkpoint(event.occurred_at, order.get("last_checkpoint_at"))
    # The order was re-labelled since: a scan of the old label is history, not news about the parcel.
    superseded = bool(order.get("tracking_number")) and (event.carrier, event.tracking_number) != (
        order.get("carrier"), order.get("tracking_number"))
    applies = new_status is not None and not out_of_order and not superseded and (
        new_status == order["status"] or lifecycle.can_transition(order["status"], new_status))
    note = event.description
    if superseded:
        note = f"{note or 'checkpoint'} (replaced label {event.carrier} {event.tracking_number})"
    moved = applies and new_status != order["status"]
    dedupe = {"pk": f"CARRIER_EVENT#{event.carrier}#{event.event_id}", "sk": "CARRIER_EVENT",
              "type": "CARRIER_EVENT", "order_id": order_id,
              "ttl": clock.epoch(clock.now()) + 90 * 86400}
    try:
        _apply(order, new_status if moved else None, "carrier", note, correlation_id,
               checkpoint=event.to_dict(), dedupe=dedupe, out_of_order=out_of_order,
               extra={"last_checkpoint_at": clock.iso(event.occurred_at)} if applies else None)
    except store.DuplicateEvent:
        return {"order_id": order_id, "status": order["status"], "duplicate": True, "changed": False,
                "out_of_order": False, "replaced_label": False}
    count("CarrierCheckpoint")
    if superseded:
        count("CarrierCheckpointReplacedLabel")
    if out_of_order:
        count("CarrierCheckpointOutOfOrder")
        logger.info("carrier checkpoint older than the last applied one; recorded only",
                    extra={"order_id": order_id, "occurred_at": clock.iso(event.occurred_at),
                           "last_checkpoint_at": order.get("last_checkpoint_at")})
    return {"order_id": order_id, "status": new_status if moved else order["status"], "changed": moved,
            "duplicate": False, "out_of_order": out_of_order, "replaced_label": superseded}


def _before_last_checkpoint(occurred_at: datetime, last: Any) -> bool:
    """True when a checkpoint happened before the last one applied to the order (millisecond precision,
    as stored). An unreadable stored value (say, a console edit) orders nothing rather than block every
    later checkpoint."""
    if not isinstance(last, str) or not last:
        return False
    try:
        last_at = clock.parse_iso(last)
    except ValueError:
        logger.warning("ignoring unreadable last_checkpoint_at", extra={"value": last[:40]})
        return False
    return clock.iso(occurred_at) < clock.iso(last_at)


def _apply(order: dict[str, Any], new_status: str | None, source: str, note: str | None,
           correlation_id: str | None, actor: str | None = None, carrier: str | None = None,
           tracking_number: str | None = None, checkpoint: dict[str, Any] | None = None,
           dedupe: dict[str, Any] | None = None, out_of_order: bool = False,
           extra: dict[str, Any] | None = None) -> None:
    now = clock.now()
    seq = int(order["event_seq"]) + 1
    changes: dict[str, Any] = {"event_seq": seq, "updated_at": clock.iso(now),
                               "correlation_id": correlation_id, **(extra or {})}
    if new_status:
        changes.update(status=new_status, status_source=source)
    event = {"pk": order["pk"], "sk": store.event_sk(seq), "type": "ORDER_EVENT",
             "order_id": order["order_id"], **timeline_entry(new_status, source, now, note), "actor": actor}
    tracking = None
    if tracking_number and carrier:
        changes.update(carrier=carrier, tracking_number=tracking_number)
        tracking = {"pk": store.tracking_pk(carrier, tracking_number), "sk": "TRACKING", "type": "TRACKING",
                    "order_id": order["order_id"]}
        event.update(carrier=carrier, tracking_number=tracking_number)
    if checkpoint:
        event.update(checkpoint=checkpoint["checkpoint_code"], location=checkpoint["location"],
                     occurred_at=checkpoint["occurred_at"], carrier_event_id=checkpoint["event_id"])
        if out_of_order:
            event["out_of_order"] = True
    store.record_status_change(order, changes, event, tracking, dedupe)
    if new_status:
        count("OrderStatusChanged")
        logger.info("order status changed", extra={"order_id": order["order_id"], "from": order["status"],
                                                   "to": new_status, "source": source})
