"""Simple (non-configurable) products priced per SKU: the server-side price list orders are priced from.

Items: pk=`SKU#<sku>`, sk=`SKU` with name, price (minor units), currency, category, active. Admins edit
them in the console; orders read them in one BatchGetItem.
"""

from __future__ import annotations

from typing import Any

from ecrm.platform import aws, ddb
from ecrm.platform.settings import table_name


def sku_key(sku: str) -> dict[str, Any]:
    """Primary key of a SKU item."""
    return ddb.key(f"SKU#{sku}", "SKU")


def get_many(skus: list[str]) -> dict[str, dict[str, Any]]:
    """SKU items by SKU, in one BatchGetItem (at most 100 distinct SKUs; orders allow 50 lines)."""
    unique = sorted(set(skus))
    if not unique:
        return {}
    table = table_name()
    request = {table: {"Keys": [sku_key(s) for s in unique], "ConsistentRead": False}}
    found: dict[str, dict[str, Any]] = {}
    while request:
        resp = aws.dynamodb().batch_get_item(RequestItems=request)
        for item in resp.get("Responses", {}).get(table, []):
            doc = ddb.from_item(item) or {}
            found[doc["sku"]] = doc
        request = resp.get("UnprocessedKeys") or {}
    return found


def put(doc: dict[str, Any]) -> None:
    """Create or replace a SKU item (seed data, admin scripts)."""
    item = {
        "pk": f"SKU#{doc['sku']}",
        "sk": "SKU",
        "type": "SKU",
        "gsi1pk": "SKUS",
        "gsi1sk": doc["sku"],
        **doc,
    }
    aws.dynamodb().put_item(TableName=table_name(), Item=ddb.to_item(item))
