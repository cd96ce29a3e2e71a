"""Builders shared by the order tests."""

from __future__ import annotations

import uuid
from typing import Any


def unique_email(prefix: str = "buyer") -> str:
    """A fresh customer address per test, so tests never see each other's mail."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def order_body(email: str, name: str = "Ada Lovelace", **overrides: Any) -> dict[str, Any]:
    """A valid place-order request."""
    doc: dict[str, Any] = {
        "lines": [{"sku": "TEE-ORG-M", "quantity": 2}, {"sku": "MUG-LOGO", "quantity": 1}],
        "customer": {"email": email, "name": name},
        "shipping_address": {
            "name": name,
            "line1": "12 Analytical Row",
            "city": "London",
            "postal_code": "N1 9GU",
            "country": "GB",
        },
    }
    doc.update(overrides)
    return doc
