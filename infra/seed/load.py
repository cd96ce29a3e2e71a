"""Demo data for the local stack, written through the same services the API uses (run inside the API
function's environment, see LocalSystem.invoke_in)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SEED = Path(__file__).resolve().parent
DEMO_MEMBER_EMAIL = "ada@example.com"


def seed_skus() -> None:
    """Simple products the storefront can order by SKU."""
    from ecrm.catalog import skus

    for doc in json.loads((SEED / "skus.json").read_text()):
        skus.put(doc)


def seed_demo_order() -> dict[str, Any]:
    """One guest order so the outbox and the tracking page have something to show."""
    from ecrm.orders import service

    return service.place_order(
        {
            "lines": [{"sku": "TEE-ORG-M", "quantity": 2}, {"sku": "MUG-LOGO", "quantity": 1}],
            "customer": {"email": "grace@example.com", "name": "Grace Hopper"},
            "shipping_address": {
                "name": "Grace Hopper",
                "line1": "1 Harbour Street",
                "city": "Amsterdam",
                "postal_code": "1011 AB",
                "country": "NL",
            },
        },
        None,
        "seed",
    )


def seed_faq() -> int:
    """The FAQ knowledge base (infra/seed/faq.json) as FAQ#<id> / LANG#<lang> items, validated."""
    from ecrm.mail import faq_store

    entries = json.loads((SEED / "faq.json").read_text(encoding="utf-8"))
    for entry in entries:
        body = {k: entry[k] for k in ("lang", "questions", "answer", "tags") if k in entry}
        faq_store.put_entry(entry["id"], body, "seed")
    return len(entries)


def seed_loyalty() -> dict[str, Any]:
    """The loyalty program item (infra/seed/loyalty.json, validated) and a demo member, ada@example.com
    (the local token's `sub` for that address), with a welcome bonus, an order's locked points and a
    staff adjustment in the ledger."""
    import uuid

    from ecrm.customers.identity import Customer
    from ecrm.loyalty import members, orders, store, worker
    from ecrm.orders import service

    store.put_program(json.loads((SEED / "loyalty.json").read_text()), "seed")
    ada = Customer(str(uuid.uuid5(uuid.NAMESPACE_URL, f"mailto:{DEMO_MEMBER_EMAIL}")), DEMO_MEMBER_EMAIL,
                   "Ada Lovelace")
    if store.balance(ada.customer_id) is not None:
        return {"customer_id": ada.customer_id, "seeded": False}
    members.join(ada, {"name": "Ada Lovelace", "marketing_consent": True, "birthday": "12-10"})
    placed = service.place_order(
        {
            "lines": [{"sku": "TEE-ORG-M", "quantity": 2}, {"sku": "MUG-LOGO", "quantity": 1}],
            "customer": {"email": DEMO_MEMBER_EMAIL, "name": "Ada Lovelace"},
            "shipping_address": {"name": "Ada Lovelace", "line1": "12 St James's Square", "city": "London",
                                 "postal_code": "SW1Y 4JH", "country": "GB"},
        },
        ada,
        "seed",
    )
    from ecrm.orders import store as order_store

    order = order_store.get_order(placed["order_id"])
    assert order is not None
    worker.apply_order(ada.customer_id, orders.order_snapshot(order), [{"do": "earn"}])
    members.adjust(ada.customer_id, {"points": 400, "reason": "Demo data: goodwill for a late parcel",
                                     "adjustment_id": "SEED-GOODWILL"}, "seed")
    return {"customer_id": ada.customer_id, "seeded": True, "order_id": placed["order_id"]}


def seed_products() -> list[str]:
    """The configurable products (infra/seed/products/*.json) through the admin save, so they are validated
    and versioned like an admin PUT; a product that already exists is left alone (re-running seeds)."""
    from ecrm.catalog import service, store

    seeded = []
    for path in sorted((SEED / "products").glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if store.get_current(doc["product_id"]) is None:
            service.put_product(doc["product_id"], doc, "seed")
            seeded.append(doc["product_id"])
    return seeded


def seed_all() -> None:
    """Everything, in dependency order. Each context adds its own seed step here."""
    seed_skus()
    seed_products()
    seed_demo_order()
    seed_faq()
    seed_loyalty()
