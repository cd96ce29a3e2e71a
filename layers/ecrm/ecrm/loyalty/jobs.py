"""The daily loyalty run (EventBridge schedule -> functions/loyalty_jobs): unlock lots whose return window
ended, expire due lots, review tiers, grant birthday bonuses, and warn members whose points expire in
`expiry.warning_days`. Every step Queries the day's ten GSI2 shards (no Scan): its cost grows with the
lots and accounts due that day, never with the number of members.

Missed days are caught up: a checkpoint item remembers the last day run and the next run covers every day
from it (inclusive: a lot unlocking later that day is picked up by the next run) to today, at most
`MAX_CATCHUP_DAYS`; an operator can backfill further with `{"from": "YYYY-MM-DD"}` in the event.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from typing import Any

from ecrm.customers import profile as profiles
from ecrm.loyalty import notices, queries, store
from ecrm.loyalty.errors import NotAMember
from ecrm.loyalty.events import Birthday, Event, Expire, ReviewTier, Unlock
from ecrm.loyalty.model import SHARDS, TYPE_BALANCE, TYPE_LOT
from ecrm.platform import aws, clock, ddb
from ecrm.platform.errors import AppError, ValidationFailed
from ecrm.platform.observability import count, logger
from ecrm.platform.settings import table_name

CHECKPOINT_PK = "LOYALTY#JOBS"
CHECKPOINT_SK = "CHECKPOINT"
MAX_CATCHUP_DAYS = 31


def run(event: dict[str, Any] | None = None) -> dict[str, Any]:
    """One scheduled run; returns counts per step (also logged)."""
    detail = (event or {}).get("detail") or {}
    today = clock.now().date()
    last = _checkpoint()
    # No checkpoint yet (first run): look back the whole catch-up window, in case the index has entries.
    floor = today - timedelta(days=MAX_CATCHUP_DAYS)
    start = floor if last is None else max(min(last, today), floor)
    if last is not None and today - last > timedelta(days=MAX_CATCHUP_DAYS):
        count("LoyaltyJobCatchupTruncated")
        logger.warning(
            "loyalty jobs missed more days than the catch-up covers; backfill with detail.from",
            extra={"checkpoint": last.isoformat(), "from": start.isoformat()},
        )
    if detail.get("from"):
        try:
            start = min(date.fromisoformat(str(detail["from"])), today)
        except ValueError as err:
            raise ValidationFailed("must be YYYY-MM-DD", "detail.from") from err
    days = [start + timedelta(days=i) for i in range((today - start).days + 1)]
    prog = store.program()
    stats = {
        "days": len(days),
        "from": start.isoformat(),
        "to": today.isoformat(),
        "queries": 0,
        "unlocked": 0,
        "expired": 0,
        "tier_reviews": 0,
        "birthdays": 0,
        "warnings": 0,
        "errors": 0,
    }
    for day in days:
        for doc in _day_items(queries.unlocking_lots_queries(table_name(), day), stats):
            if doc.get("type") == TYPE_LOT:
                stats["unlocked"] += _apply(doc["customer_id"], Unlock(doc["lot"]), stats)
        for doc in _day_items(queries.expiring_lots_queries(table_name(), day), stats):
            if doc.get("type") == TYPE_LOT:
                stats["expired"] += _apply(doc["customer_id"], Expire(day, doc["lot"]), stats)
        for doc in _day_items(queries.tier_review_queries(table_name(), day), stats):
            if doc.get("type") == TYPE_BALANCE:
                stats["tier_reviews"] += _apply(doc["customer_id"], ReviewTier(), stats)
        if prog.birthday_bonus:
            for doc in _day_items(_birthday_queries(day), stats):
                if doc.get("type") == profiles.TYPE_PROFILE:
                    stats["birthdays"] += _apply(doc["customer_id"], Birthday(day.year), stats)
        warn_day = day + timedelta(days=prog.expiry_warning_days)
        lots = list(_day_items(queries.expiring_lots_queries(table_name(), warn_day), stats))
        stats["warnings"] += _warn(notices.expiry_warnings(lots, warn_day))
    _set_checkpoint(today)
    logger.info("loyalty jobs run", extra=stats)
    return stats


def _day_items(requests: Iterable[dict[str, Any]], stats: dict[str, Any]) -> Iterator[dict[str, Any]]:
    # Read each day partition completely before applying anything: applying moves entries off the index,
    # which must not disturb the pagination of the read.
    client = aws.dynamodb()
    for kwargs in requests:
        kwargs = dict(kwargs)
        items: list[dict[str, Any]] = []
        while True:
            resp = client.query(**kwargs)
            stats["queries"] += 1
            items.extend(resp.get("Items", []))
            last = resp.get("LastEvaluatedKey")
            if not last or last == kwargs.get("ExclusiveStartKey"):
                break
            kwargs["ExclusiveStartKey"] = last
        for item in items:
            yield ddb.from_item(item) or {}


def _birthday_queries(day: date) -> list[dict[str, Any]]:
    md = day.strftime("%m-%d")
    return [
        {
            "TableName": table_name(),
            "IndexName": "gsi2",
            "KeyConditionExpression": "gsi2pk = :pk",
            "ExpressionAttributeValues": ddb.values({":pk": f"BIRTHDAYS#{md}#{s}"}),
        }
        for s in range(SHARDS)
    ]


def _apply(customer_id: str, event: Event, stats: dict[str, Any]) -> int:
    """Apply one event; 1 if it changed the account. One bad account does not stop the run (logged and
    counted; the next run retries it, as its index entry is still there)."""
    try:
        return 1 if store.apply(customer_id, event).outcome.applied else 0
    except NotAMember:
        return 0
    except AppError as err:
        stats["errors"] += 1
        count("LoyaltyJobError")
        logger.error(
            "loyalty job step failed",
            extra={"customer_id": customer_id, "event": type(event).__name__, "detail": err.detail},
        )
        return 0


def _warn(warnings: list[notices.ExpiryWarning]) -> int:
    from ecrm.mail.outbound import OutboundEmail, enqueue

    emails = []
    for w in warnings:
        profile = profiles.get(w.customer_id)
        if not profile or not profile.get("email"):
            continue
        emails.append(
            OutboundEmail(
                to=profile["email"],
                template="loyalty_points_expiring",
                data={
                    "name": profile.get("name") or "",
                    "points": str(w.points),
                    "expires_on": w.expires_on.isoformat(),
                },
                dedupe_key=w.dedupe_key,
                customer_id=w.customer_id,
            )
        )
    if emails:
        enqueue(emails)
    return len(emails)


def _checkpoint() -> date | None:
    resp = aws.dynamodb().get_item(
        TableName=table_name(), Key=ddb.key(CHECKPOINT_PK, CHECKPOINT_SK), ConsistentRead=True
    )
    item = ddb.from_item(resp.get("Item"))
    return date.fromisoformat(item["last_day"]) if item and item.get("last_day") else None


def _set_checkpoint(day: date) -> None:
    aws.dynamodb().put_item(
        TableName=table_name(),
        Item=ddb.to_item(
            {
                "pk": CHECKPOINT_PK,
                "sk": CHECKPOINT_SK,
                "type": "LOYALTY_JOBS",
                "last_day": day.isoformat(),
                "updated_at": clock.iso(clock.now()),
            }
        ),
    )
