"""Order statuses and the transitions allowed between them (pure: no I/O, no clock).

One graph serves every writer: the admin route, the carrier webhook and the stream router that notices a
console edit all ask `check_transition` before a status changes, so they agree on what is legal. The
reasoning behind each status and edge (and how they line up with Shopify fulfilment events and AfterShip
tags) lives in docs/orders.md; keep the two in step.
"""

from __future__ import annotations

from collections.abc import Mapping

from ecrm.platform.errors import Conflict

PLACED = "placed"
PAID = "paid"
PACKED = "packed"
SHIPPED = "shipped"
IN_TRANSIT = "in_transit"
OUT_FOR_DELIVERY = "out_for_delivery"
DELIVERED = "delivered"
DELIVERY_EXCEPTION = "delivery_exception"
CANCELLED = "cancelled"
RETURNED = "returned"

# In the order a parcel normally lives through them; UIs may rely on this order for display.
ORDER_STATUSES: tuple[str, ...] = (
    PLACED,
    PAID,
    PACKED,
    SHIPPED,
    IN_TRANSIT,
    OUT_FOR_DELIVERY,
    DELIVERED,
    DELIVERY_EXCEPTION,
    CANCELLED,
    RETURNED,
)

# Statuses in which the goods are still with the shop: the only ones an order may be cancelled from.
PRE_SHIPMENT: frozenset[str] = frozenset({PLACED, PAID, PACKED})
# Statuses in which the parcel is with a carrier (or the customer): returns, not cancellations.
POST_SHIPMENT: frozenset[str] = frozenset(
    {SHIPPED, IN_TRANSIT, OUT_FOR_DELIVERY, DELIVERY_EXCEPTION, DELIVERED}
)

# Statuses in which the parcel is on its way to the customer (label bought up to the last delivery attempt):
# a new tracking number here (a re-labelled parcel) is news the customer needs.
ON_THE_WAY: frozenset[str] = POST_SHIPMENT - {DELIVERED}
# Statuses in which staff may record or replace the tracking number without changing the status: before
# shipment (a label bought ahead of hand-off) and on the way. Not once delivered, cancelled or returned.
TRACKING_EDITABLE: frozenset[str] = PRE_SHIPMENT | ON_THE_WAY

TRANSITIONS: Mapping[str, frozenset[str]] = {
    # Payment may be captured later (bank transfer) or never (the customer gives up): cancel.
    PLACED: frozenset({PAID, CANCELLED}),
    # Shops without a separate packing step hand the parcel straight to the carrier.
    PAID: frozenset({PACKED, SHIPPED, CANCELLED}),
    PACKED: frozenset({SHIPPED, CANCELLED}),
    # Carriers skip scans: a label may be followed by any carrier state, even straight "delivered".
    SHIPPED: frozenset({IN_TRANSIT, OUT_FOR_DELIVERY, DELIVERED, DELIVERY_EXCEPTION}),
    # `returned` straight from transit: carriers often tag the return leg's scans as InTransit, so the
    # "returned to sender" checkpoint can arrive without an exception in between (see docs/orders.md).
    IN_TRANSIT: frozenset({OUT_FOR_DELIVERY, DELIVERED, DELIVERY_EXCEPTION, RETURNED}),
    # Back to in_transit: the van returns to the depot and the carrier tries again another day.
    OUT_FOR_DELIVERY: frozenset({IN_TRANSIT, DELIVERED, DELIVERY_EXCEPTION, RETURNED}),
    # Most exceptions resolve: redelivery, collection at a pickup point (-> delivered), or return.
    DELIVERY_EXCEPTION: frozenset({IN_TRANSIT, OUT_FOR_DELIVERY, DELIVERED, RETURNED}),
    # A delivered order can only come back as a return; a wrong "delivered" scan is a customer-service case.
    DELIVERED: frozenset({RETURNED}),
    CANCELLED: frozenset(),
    RETURNED: frozenset(),
}

# Statuses that email the customer. Scans that carry no news for the customer (paid, packed, every hub
# scan in transit) stay silent; the reasons for each are in docs/orders.md.
NOTIFY_STATUSES: frozenset[str] = frozenset(
    {PLACED, SHIPPED, OUT_FOR_DELIVERY, DELIVERED, DELIVERY_EXCEPTION, CANCELLED, RETURNED}
)


class TransitionError(Conflict):
    """A status change the graph does not allow (HTTP 409 at the edge).

    `reason` is a sentence an admin can act on; `current` and `new` are kept for logs and the problem body.
    """

    def __init__(self, current: str, new: str, reason: str) -> None:
        super().__init__(reason, field="status", current_status=current, requested_status=new)
        self.current = current
        self.new = new
        self.reason = reason


class NoChange(Exception):
    """The requested status is the current one: nothing to write, nothing to send.

    Deliberately not a `TransitionError`: a duplicate carrier checkpoint or a double-clicked admin button
    is a success that changes nothing (HTTP 200/204), not a conflict.
    """

    def __init__(self, status: str) -> None:
        super().__init__(f"order is already {status}")
        self.status = status


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _reason(current: str, new: str) -> str:
    """Why `current -> new` is refused, phrased for the person who asked for it."""
    if current not in TRANSITIONS:
        return f"unknown current status {current!r}"
    if new not in TRANSITIONS:
        return f"unknown status {new!r}; expected one of {', '.join(ORDER_STATUSES)}"
    if current == CANCELLED:
        return "a cancelled order is final; place a new order instead"
    if current == RETURNED:
        return "a returned order is final; place a new order instead"
    if new == CANCELLED and current in POST_SHIPMENT:
        return f"{_article(current)} {current} order cannot be cancelled; start a return instead"
    if new == RETURNED and current in PRE_SHIPMENT:
        return f"{_article(current)} {current} order has not shipped, so cancel it instead of returning it"
    if current == SHIPPED and new == RETURNED:
        return "a shipped order the carrier has not moved needs a delivery exception before it is returned"
    if current == PLACED and new in POST_SHIPMENT | {PACKED}:
        return "an order must be paid before it is packed or shipped"
    if current in PRE_SHIPMENT and new in POST_SHIPMENT - {SHIPPED}:
        return f"{_article(current)} {current} order must be shipped before carrier updates apply"
    if ORDER_STATUSES.index(new) < ORDER_STATUSES.index(current) and new in PRE_SHIPMENT | {SHIPPED}:
        return f"an order cannot go back from {current} to {new}"
    if current == DELIVERED:
        return "a delivered order can only be returned"
    allowed = ", ".join(s for s in ORDER_STATUSES if s in TRANSITIONS[current])
    return f"cannot change status from {current} to {new}; allowed next: {allowed}"


def can_transition(current: str, new: str) -> bool:
    """True when `current -> new` is an allowed status change.

    Same-status is not a change and returns False; use `check_transition` to tell a no-op (`NoChange`)
    from a refusal (`TransitionError`). Unknown statuses are never allowed.
    """
    return new in TRANSITIONS.get(current, frozenset())


def check_transition(current: str, new: str) -> None:
    """Return silently when `current -> new` is allowed.

    Raises `NoChange` when `new == current` (a known status), so duplicate checkpoints and retries write
    and notify nothing; raises `TransitionError` with a human-readable reason otherwise.
    """
    if current == new and current in TRANSITIONS:
        raise NoChange(current)
    if not can_transition(current, new):
        raise TransitionError(current, new, _reason(current, new))


def allowed_next(status: str) -> frozenset[str]:
    """The statuses `status` may move to (empty for terminal or unknown statuses)."""
    return TRANSITIONS.get(status, frozenset())


def is_terminal(status: str) -> bool:
    """True for statuses with no way out (cancelled, returned).

    Raises ValueError for an unknown status: a typo must not read as "still open".
    """
    if status not in TRANSITIONS:
        raise ValueError(f"unknown order status {status!r}")
    return not TRANSITIONS[status]


def check_tracking_change(status: str) -> None:
    """Return silently when an order in `status` may get a new tracking number without a status change.

    Raises `Conflict` naming `tracking_number` otherwise: a delivered, cancelled or returned parcel is not
    re-labelled (a return travels under its own label, see docs/orders.md)."""
    if status not in TRACKING_EDITABLE:
        raise Conflict(f"the tracking number of {_article(status)} {status} order cannot change",
                       field="tracking_number", current_status=status)


def is_notifying(status: str) -> bool:
    """True when entering `status` sends the customer an email."""
    return status in NOTIFY_STATUSES
