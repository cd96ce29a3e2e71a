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


def seed_all() -> None:
    """Everything, in dependency order. Each context adds its own seed step here."""
    seed_skus()
    seed_demo_order()
    seed_faq()
