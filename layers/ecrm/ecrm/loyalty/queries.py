"""Read requests of the loyalty access patterns, as low-level client kwargs (pure: the store just sends them).

| pattern | request |
|---|---|
| balance page | GetItem pk=CUSTOMER#id, sk=LOYALTY (`balance_get`) |
| account for a write (balance + every lot) | Query pk=CUSTOMER#id, sk BETWEEN `LOT#` AND `LOYALTY` |
| ledger page, newest first | Query gsi1 gsi1pk=CUSTOMER#id, begins_with(gsi1sk, `POINTS#`), descending |
| lots expiring / unlocking on a day | Query gsi2 gsi2pk=`EXPIRES#day#s` / `UNLOCKS#day#s`, s = 0..9 |
| tier reviews due on a day | Query gsi2 gsi2pk=`TIER_REVIEW#day#s`, s = 0..9 |
| accounts with a negative balance (staff) | Query gsi1 gsi1pk=`LOYALTY#NEGATIVE` (oldest debt first) |
| program | GetItem pk=`LOYALTY#PROGRAM`, sk=`CURRENT` |
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from ecrm.loyalty.model import (
    BALANCE_SK,
    LEDGER_GSI1_PREFIX,
    LOT_PREFIX,
    NEGATIVE_GSI1PK,
    SHARDS,
    TYPE_BALANCE,
    TYPE_LOT,
    customer_pk,
    expires_gsi2pk,
    tier_review_gsi2pk,
    unlocks_gsi2pk,
)
from ecrm.loyalty.rules import PROGRAM_PK, PROGRAM_SK
from ecrm.platform import ddb


def program_get(table_name: str) -> dict[str, Any]:
    """GetItem kwargs for the program item (parse the result with `rules.parse_program`)."""
    return {"TableName": table_name, "Key": ddb.key(PROGRAM_PK, PROGRAM_SK)}


def balance_get(table_name: str, customer_id: str) -> dict[str, Any]:
    """GetItem kwargs for the balance item: everything the balance page shows (`model.view`)."""
    return {"TableName": table_name, "Key": ddb.key(customer_pk(customer_id), BALANCE_SK)}


def account_query(table_name: str, customer_id: str) -> dict[str, Any]:
    """Query kwargs returning the balance item and every lot in one request: `LOT#...` sorts just before
    `LOYALTY`, and ledger entries (`LEDGER#...`) sort before both, so they are not read. Strongly consistent,
    because a plan built from a stale read would only fail its version check. Paginate on
    LastEvaluatedKey."""
    return {
        "TableName": table_name,
        "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
        "ExpressionAttributeValues": ddb.values(
            {":pk": customer_pk(customer_id), ":lo": LOT_PREFIX, ":hi": BALANCE_SK}
        ),
        "ConsistentRead": True,
    }


def split_account_items(
    docs: Iterable[Mapping[str, Any]],
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(balance item or None, lot items) from the deserialised `account_query` results."""
    balance = None
    lots: list[dict[str, Any]] = []
    for doc in docs:
        if doc.get("type") == TYPE_BALANCE and doc.get("sk") == BALANCE_SK:
            balance = dict(doc)
        elif doc.get("type") == TYPE_LOT:
            lots.append(dict(doc))
    return balance, lots


def ledger_page_query(
    table_name: str, customer_id: str, limit: int = 20, start_key: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Query kwargs for one page of the ledger, newest first (GSI1)."""
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "IndexName": "gsi1",
        "KeyConditionExpression": "gsi1pk = :pk AND begins_with(gsi1sk, :prefix)",
        "ExpressionAttributeValues": ddb.values(
            {":pk": customer_pk(customer_id), ":prefix": LEDGER_GSI1_PREFIX}
        ),
        "ScanIndexForward": False,
        "Limit": max(1, min(limit, 100)),
    }
    if start_key:
        kwargs["ExclusiveStartKey"] = start_key
    return kwargs


def _gsi2_day(table_name: str, partitions: Iterable[str]) -> list[dict[str, Any]]:
    return [
        {
            "TableName": table_name,
            "IndexName": "gsi2",
            "KeyConditionExpression": "gsi2pk = :pk",
            "ExpressionAttributeValues": ddb.values({":pk": pk}),
        }
        for pk in partitions
    ]


def expiring_lots_queries(table_name: str, day: date) -> list[dict[str, Any]]:
    """One Query per shard for lots expiring on `day` (the expiry run, and the warning run for
    today + warning days). GSI2 projects keys only if so configured: read `pk`/`lot` from each hit."""
    return _gsi2_day(table_name, (expires_gsi2pk(day, s) for s in range(SHARDS)))


def unlocking_lots_queries(table_name: str, day: date) -> list[dict[str, Any]]:
    """One Query per shard for lots whose return window ends on `day` (the unlock run)."""
    return _gsi2_day(table_name, (unlocks_gsi2pk(day, s) for s in range(SHARDS)))


def tier_review_queries(table_name: str, day: date) -> list[dict[str, Any]]:
    """One Query per shard for balance items whose tier is due for review on `day`."""
    return _gsi2_day(table_name, (tier_review_gsi2pk(day, s) for s in range(SHARDS)))


def negative_balances_query(table_name: str, limit: int = 50) -> dict[str, Any]:
    """Query kwargs for accounts in debt, oldest debt first (staff follow-up)."""
    return {
        "TableName": table_name,
        "IndexName": "gsi1",
        "KeyConditionExpression": "gsi1pk = :pk",
        "ExpressionAttributeValues": ddb.values({":pk": NEGATIVE_GSI1PK}),
        "Limit": max(1, min(limit, 100)),
    }
