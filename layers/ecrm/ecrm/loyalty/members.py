"""Membership use cases behind the API: join, the member page, profile edits, the points ledger,
redemptions and staff adjustments. Each writes ONE transaction; reads are one GetItem / Query each."""

from __future__ import annotations

from typing import Any

from ecrm.customers import profile as profiles
from ecrm.customers.identity import Customer
from ecrm.loyalty import plans, store
from ecrm.loyalty.engine import DUPLICATE
from ecrm.loyalty.errors import NotAMember
from ecrm.loyalty.events import Adjust, Redeem
from ecrm.loyalty.model import LEDGER_GSI1_PREFIX, balance_item, customer_pk, ledger_item, view
from ecrm.platform import aws, clock, ddb, ids, paging
from ecrm.platform.errors import BadRequest, Conflict, NotFound, ValidationFailed
from ecrm.platform.observability import count, logger
from ecrm.platform.settings import table_name

JOIN_FIELDS = frozenset({"name", "marketing_consent", "birthday"})
PAGE_MAX = 100
VOUCHER_TTL_DAYS = 365


# ------------------------------------------------------------------ join
def join(customer: Customer, body: Any) -> dict[str, Any]:
    """Join the program once: PROFILE + unique EMAIL# + balance (+ welcome lot and ledger entry), in ONE
    transaction. Guest orders with the same address are linked afterwards, from the stream."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object", field="body")
    unknown = sorted(set(body) - JOIN_FIELDS)
    if unknown:
        raise ValidationFailed(f"unknown field (allowed: {', '.join(sorted(JOIN_FIELDS))})", unknown[0])
    now = clock.now()
    name = profiles.parse_name(body["name"]) if "name" in body else customer.name
    consent = profiles.parse_consent(body.get("marketing_consent", False))
    birthday = profiles.parse_birthday(body.get("birthday"), now.date())
    prog = store.program()
    table = table_name()
    plan = plans.plan_join(table, prog, customer.customer_id, None, now)
    profile_item = profiles.new_profile(customer, name, consent, birthday, now, "join")
    extra = [
        _put(table, profile_item),
        _put(table, profiles.email_item(customer.customer_id, customer.email, now)),
    ]
    items = list(plan.items) + extra
    client = aws.dynamodb()
    try:
        client.transact_write_items(TransactItems=items)
    except client.exceptions.TransactionCanceledException as err:
        codes = ddb.cancellation_codes(err)
        if codes and codes[-1] == "ConditionalCheckFailed":
            owner = profiles.customer_id_for_email(customer.email)
            if owner != customer.customer_id:
                raise Conflict("another member already uses this email address", field="email") from err
        if "ConditionalCheckFailed" in codes:
            raise Conflict("already a member", field="customer_id") from err
        raise
    count("LoyaltyMemberJoined")
    logger.info("member joined", extra={"customer_id": customer.customer_id, "consent": consent})
    state = plan.decision.state
    return _me(profile_item, balance_item(state) if state else None, prog, now)


def _put(table: str, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "Put": {
            "TableName": table,
            "Item": ddb.to_item(item),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


# ------------------------------------------------------------------ read
def me(customer: Customer) -> dict[str, Any]:
    """Profile, tier, balance, locked points, next expiry, progress to the next tier.

    Two GetItems: the profile and the balance (the balance page is one read; the program is cached)."""
    profile = profiles.get(customer.customer_id)
    if profile is None:
        raise NotFound("not a member yet: POST /members to join", field="customer_id")
    return _me(profile, store.balance(customer.customer_id), store.program(), clock.now())


def _me(profile: dict[str, Any], balance_doc: dict[str, Any] | None, prog: Any, now: Any) -> dict[str, Any]:
    points = view(prog, balance_doc, now).to_dict()
    tier = prog.find_tier(points.get("tier"))
    nxt = prog.find_tier(points.get("next_tier")) if points.get("next_tier") else None
    points["tier_multiplier_percent"] = tier.multiplier_percent if tier else None
    points["next_tier_name"] = nxt.name if nxt else None
    points["next_tier_min_spend_minor"] = nxt.min_spend_minor if nxt else None
    return profiles.public(profile) | {"loyalty": points}


def patch_me(customer: Customer, body: Any) -> dict[str, Any]:
    """Change name, marketing consent or birthday (validated; one UpdateItem)."""
    now = clock.now()
    changes = profiles.validate_patch(body, now.date())
    try:
        profile = profiles.update(customer.customer_id, changes, now)
    except NotAMember as err:
        raise NotFound("not a member yet: POST /members to join", field="customer_id") from err
    if "marketing_consent" in changes:
        logger.info(
            "marketing consent changed",
            extra={"customer_id": customer.customer_id, "consent": changes["marketing_consent"]},
        )
    return _me(profile, store.balance(customer.customer_id), store.program(), now)


def points(customer: Customer, limit: int, cursor: str | None) -> dict[str, Any]:
    """The ledger, newest first, paged with an opaque cursor (one Query on GSI1)."""
    if not 1 <= limit <= PAGE_MAX:
        raise ValidationFailed(f"must be between 1 and {PAGE_MAX}", field="limit")
    start = paging.decode(cursor, lambda k: _own_ledger_key(k, customer.customer_id)) if cursor else None
    items, last = store.ledger_page(customer.customer_id, limit, start)
    return {
        "entries": [ledger_view(i) for i in items],
        "next_cursor": paging.encode(last) if last else None,
    }


def ledger_view(item: dict[str, Any]) -> dict[str, Any]:
    """The API shape of a ledger entry."""
    detail = dict(item.get("detail") or {})
    return {
        "source": item["source"],
        "kind": item["kind"],
        "points": int(item["points"]),
        "available_change": int(item.get("available_delta", 0)),
        "locked_change": int(item.get("locked_delta", 0)),
        "balance_after": int(item.get("balance_after", 0)),
        "at": item["at"],
        "reason": detail.get("reason"),
        "order_id": detail.get("order_id"),
        "detail": detail,
    }


def _own_ledger_key(key: dict[str, str], customer_id: str) -> bool:
    # No paging through someone else's ledger.
    pk = customer_pk(customer_id)
    return key["gsi1pk"] == pk and key["pk"] == pk and key["gsi1sk"].startswith(LEDGER_GSI1_PREFIX)


# ------------------------------------------------------------------ redeem
def redeem(customer: Customer, body: Any, idempotency_key: str | None) -> dict[str, Any]:
    """Spend points on a reward (a discount code). Never below zero: the transaction re-checks
    `available >= cost`; a retried request with the same Idempotency-Key spends once."""
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object", field="body")
    unknown = sorted(set(body) - {"reward_id"})
    if unknown:
        raise ValidationFailed("unknown field (allowed: reward_id)", unknown[0])
    reward_id = body.get("reward_id")
    if not isinstance(reward_id, str) or not reward_id:
        raise ValidationFailed("is required", field="reward_id")
    prog = store.program()
    reward = prog.reward(reward_id)
    if reward is None or not reward.active:
        known = ", ".join(r.reward_id for r in prog.rewards if r.active)
        raise ValidationFailed(f"unknown reward (available: {known})", field="reward_id")
    from ecrm.platform.idempotency import once

    # The redemption id comes from the key: even after the idempotency record expires, the same key can
    # only ever write the same ledger source (LEDGER#REDEEM#<id>), once.
    redemption_id = (
        "R" + ids.content_hash({"c": customer.customer_id, "k": idempotency_key}, 24)
        if idempotency_key
        else ids.new_id("RDM")
    )
    return once(
        f"redeem#{customer.customer_id}",
        idempotency_key,
        {"reward_id": reward_id},
        lambda: _redeem(customer.customer_id, redemption_id, reward_id),
    )


def _redeem(customer_id: str, redemption_id: str, reward_id: str) -> dict[str, Any]:
    now = clock.now()
    code = "LOY-" + ids.content_hash({"r": redemption_id, "c": customer_id}, 12).upper()
    table = table_name()

    def voucher(plan: plans.Plan) -> list[dict[str, Any]]:
        reward = plan.outcome.reward
        assert reward is not None
        item = {
            "pk": f"DISCOUNT#{code}",
            "sk": "DISCOUNT",
            "type": "DISCOUNT_CODE",
            "code": code,
            "customer_id": customer_id,
            "redemption_id": redemption_id,
            "reward_id": reward.reward_id,
            "kind": reward.kind,
            "value_minor": reward.value_minor,
            "currency": reward.currency,
            "status": "issued",
            "issued_at": clock.iso(now),
            "valid_until": clock.iso(now.replace(microsecond=0) + _days(VOUCHER_TTL_DAYS)),
        }
        return [
            {
                "Put": {
                    "TableName": table,
                    "Item": ddb.to_item(item),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]

    try:
        result = store.apply(
            customer_id, Redeem(redemption_id, reward_id), now=lambda: now, extra_items=voucher
        )
    except NotAMember as err:
        raise NotAMember("join first: POST /members", field="customer_id") from err
    if result.outcome.status == DUPLICATE:
        entry = store.ledger_entry(customer_id, f"REDEEM#{redemption_id}") or {}
        detail = entry.get("detail") or {}
        return {
            "redemption_id": redemption_id,
            "reward_id": detail.get("reward_id", reward_id),
            "code": code,
            "points": -int(entry.get("points", 0)),
            "duplicate": True,
            "balance": view(store.program(), store.balance(customer_id), now).to_dict(),
        }
    assert result.plan is not None and result.outcome.reward is not None
    reward = result.outcome.reward
    state = result.plan.decision.state
    count("LoyaltyRedeemed")
    logger.info(
        "points redeemed", extra={"customer_id": customer_id, "reward_id": reward_id, "points": reward.points}
    )
    return {
        "redemption_id": redemption_id,
        "reward_id": reward.reward_id,
        "reward_name": reward.name,
        "points": reward.points,
        "code": code,
        "value_minor": reward.value_minor,
        "currency": reward.currency,
        "available_after": state.available if state else None,
        "duplicate": False,
    }


def _days(n: int) -> Any:
    from datetime import timedelta

    return timedelta(days=n)


# ------------------------------------------------------------------ staff
def adjust(member_id: str, body: Any, actor: str) -> dict[str, Any]:
    """A staff adjustment with a reason, visible in the member's ledger; idempotent by `adjustment_id`."""
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object", field="body")
    unknown = sorted(set(body) - {"points", "reason", "adjustment_id"})
    if unknown:
        raise ValidationFailed("unknown field (allowed: points, reason, adjustment_id)", unknown[0])
    points_value = body.get("points")
    if isinstance(points_value, bool) or not isinstance(points_value, int):
        raise ValidationFailed("must be a non-zero whole number of points", field="points")
    if "reason" not in body:
        raise ValidationFailed("a reason is required", field="reason")
    adjustment_id = body.get("adjustment_id") or ids.new_id("ADJ")
    event = Adjust(str(adjustment_id), points_value, body.get("reason"), actor)  # validates every field
    try:
        result = store.apply(member_id, event)
    except NotAMember as err:
        raise NotFound(f"member {member_id} not found", field="member_id") from err
    ledger = result.plan.decision.ledger if result.plan is not None else None
    entry = (
        ledger_item(member_id, ledger)
        if ledger is not None
        else store.ledger_entry(member_id, f"ADJUST#{event.adjustment_id}") or {}
    )
    logger.info("points adjusted", extra={"customer_id": member_id, "points": points_value, "actor": actor})
    return {
        "member_id": member_id,
        "adjustment_id": event.adjustment_id,
        "points": points_value,
        "reason": event.reason,
        "duplicate": result.outcome.status == DUPLICATE,
        "shortfall": result.outcome.shortfall,
        "entry": ledger_view(entry) if entry else None,
    }
