"""Order placement as the API offers it: once per Idempotency-Key, with the resource location."""

from __future__ import annotations

from typing import Any

from ecrm.customers.identity import Customer
from ecrm.orders import service
from ecrm.platform.idempotency import once


def place(
    body: Any, customer: Customer | None, idempotency_key: str | None, correlation_id: str
) -> tuple[dict[str, Any], str]:
    """Place an order once per Idempotency-Key; returns the order view and its Location."""
    scope = f"orders:{customer.customer_id if customer else 'guest'}"
    result = once(scope, idempotency_key, body, lambda: service.place_order(body, customer, correlation_id))
    location = f"/orders/{result['order_id']}" if customer else result["tracking_url"]
    return result, location
