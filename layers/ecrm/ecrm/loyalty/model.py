"""Loyalty account state, points lots and ledger entries, with their DynamoDB item shapes (pure).

One customer's loyalty data lives under pk=`CUSTOMER#id`:

- the balance item, sk=`LOYALTY`: counters, tier, qualifying spend per month, a `version` for optimistic
  concurrency, and small summaries (next unlocks, next expiries) so the balance page is ONE GetItem;
- points lots, sk=`LOT#<source-key>`: every credit (an order's points, a bonus, a positive adjustment) with
  what is left of it, when it unlocks and when it expires; GSI2 indexes a lot by the day it unlocks
  (`UNLOCKS#day#shard`) and then by the day it expires (`EXPIRES#day#shard`) so the daily jobs Query;
- ledger entries, sk=`LEDGER#<source-key>`: one per points movement, written only if absent, so a duplicate
  delivery of the same source applies once; GSI1 gives the newest-first ledger page.

Invariants kept by `engine.decide` (and tested): `available + locked` equals the sum of ledger points;
`locked` is the remaining of PENDING/LOCKED lots; `max(available, 0)` is the remaining of OPEN lots; a
negative `available` is a debt (see docs/loyalty.md, reversal policy).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ecrm.loyalty.rules import Program, rolling_spend
from ecrm.platform.clock import epoch, iso, parse_iso

BALANCE_SK = "LOYALTY"
LOT_PREFIX = "LOT#"
LEDGER_PREFIX = "LEDGER#"
LEDGER_GSI1_PREFIX = "POINTS#"
TYPE_BALANCE = "LOYALTY"
TYPE_LOT = "LOT"
TYPE_LEDGER = "LEDGER"
SHARDS = 10
# Sparse GSI1 partition listing accounts in debt (negative available), oldest debt first, for staff.
NEGATIVE_GSI1PK = "LOYALTY#NEGATIVE"
# How many upcoming unlock / expiry dates the balance item summarises (the page shows the next few).
SUMMARY_CAP = 12

# Lot states. PENDING: ordered, not delivered; LOCKED: in the return window; OPEN: spendable; CLOSED: empty.
PENDING = "PENDING"
LOCKED = "LOCKED"
OPEN = "OPEN"
CLOSED = "CLOSED"
LOCKED_STATES = frozenset({PENDING, LOCKED})

# Ledger / lot kinds.
EARN = "EARN"
WELCOME = "WELCOME"
BIRTHDAY = "BIRTHDAY"
CAMPAIGN = "CAMPAIGN"
ADJUST = "ADJUST"
UNLOCK = "UNLOCK"
REVERSE = "REVERSE"
REDEEM = "REDEEM"
EXPIRE = "EXPIRE"
ORDER = "ORDER"


# --- keys ----------------------------------------------------------------------------------------------


def customer_pk(customer_id: str) -> str:
    """Partition key of everything a customer owns."""
    return f"CUSTOMER#{customer_id}"


def shard_of(customer_id: str) -> int:
    """Stable shard 0-9 of a customer, spreading a day's GSI2 entries over 10 partitions."""
    return zlib.crc32(customer_id.encode()) % SHARDS


def order_lot_key(order_id: str) -> str:
    """Lot key (and ledger source prefix) of an order's points."""
    return f"ORDER#{order_id}"


def expires_gsi2pk(day: date, shard: int) -> str:
    """GSI2 partition of lots expiring on `day`."""
    return f"EXPIRES#{day.isoformat()}#{shard}"


def unlocks_gsi2pk(day: date, shard: int) -> str:
    """GSI2 partition of lots whose return window ends on `day`."""
    return f"UNLOCKS#{day.isoformat()}#{shard}"


def tier_review_gsi2pk(day: date, shard: int) -> str:
    """GSI2 partition of balance items whose tier is due for review on `day`."""
    return f"TIER_REVIEW#{day.isoformat()}#{shard}"


def to_ms(moment: datetime) -> datetime:
    """UTC, truncated to milliseconds: the precision items store, so state round-trips exactly."""
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _t(value: str | None) -> datetime | None:
    return parse_iso(value) if value else None


def _d(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _iso(value: datetime | None) -> str | None:
    return iso(value) if value is not None else None


def _isod(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


# --- lots ----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Part:
    """One earned component of an order lot (a line's base points or a campaign bonus) and how much of it
    reversals have clawed back so far."""

    line_id: str | None
    kind: str
    points: int
    clawed: int = 0
    campaign_id: str | None = None
    depends_on: tuple[str, ...] = ()

    def to_doc(self) -> dict[str, Any]:
        """Plain dict for the lot item."""
        return {
            "line": self.line_id,
            "kind": self.kind,
            "points": self.points,
            "clawed": self.clawed,
            "campaign": self.campaign_id,
            "depends_on": list(self.depends_on) if self.depends_on else None,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Part:
        """Inverse of `to_doc`."""
        return cls(
            line_id=doc.get("line"),
            kind=doc["kind"],
            points=int(doc["points"]),
            clawed=int(doc.get("clawed", 0)),
            campaign_id=doc.get("campaign"),
            depends_on=tuple(doc.get("depends_on") or ()),
        )


@dataclass(slots=True)
class LineState:
    """An eligible order line: its quantity, qualifying spend, and what reversals took back so far."""

    quantity: int
    spend_minor: int
    returned: int = 0
    spend_clawed: int = 0

    def to_doc(self) -> dict[str, Any]:
        """Plain dict for the lot item."""
        return {
            "quantity": self.quantity,
            "spend_minor": self.spend_minor,
            "returned": self.returned,
            "spend_clawed": self.spend_clawed,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> LineState:
        """Inverse of `to_doc`."""
        return cls(
            int(doc["quantity"]),
            int(doc["spend_minor"]),
            int(doc.get("returned", 0)),
            int(doc.get("spend_clawed", 0)),
        )


@dataclass(slots=True)
class Lot:
    """Points credited by one source. `remaining` is what is left to spend (or still locked)."""

    key: str
    kind: str
    earned: int
    remaining: int
    state: str
    earned_at: datetime
    clawed: int = 0
    lock_until: datetime | None = None
    expires_on: date | None = None
    closed_at: datetime | None = None
    order_id: str | None = None
    spend_month: str | None = None
    parts: list[Part] = field(default_factory=list)
    lines: dict[str, LineState] = field(default_factory=dict)
    reversals: list[str] = field(default_factory=list)

    def clone(self) -> Lot:
        """An independent copy (much cheaper than deepcopy: the decision copies every lot it is given)."""
        return replace(
            self,
            parts=[replace(p) for p in self.parts],
            lines={k: replace(v) for k, v in self.lines.items()},
            reversals=list(self.reversals),
        )

    def to_doc(self) -> dict[str, Any]:
        """The lot's data fields (keys and indexes are added by `lot_item`)."""
        return {
            "lot": self.key,
            "kind": self.kind,
            "state": self.state,
            "earned": self.earned,
            "clawed": self.clawed,
            "remaining": self.remaining,
            "earned_at": iso(self.earned_at),
            "lock_until": _iso(self.lock_until),
            "expires_on": _isod(self.expires_on),
            "closed_at": _iso(self.closed_at),
            "order_id": self.order_id,
            "spend_month": self.spend_month,
            "parts": [p.to_doc() for p in self.parts] if self.kind == ORDER else None,
            "lines": {k: v.to_doc() for k, v in self.lines.items()} if self.kind == ORDER else None,
            "reversals": list(self.reversals) if self.kind == ORDER else None,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Lot:
        """A lot from its item (as returned by `ddb.from_item`)."""
        return cls(
            key=doc["lot"],
            kind=doc["kind"],
            earned=int(doc["earned"]),
            remaining=int(doc["remaining"]),
            state=doc["state"],
            earned_at=parse_iso(doc["earned_at"]),
            clawed=int(doc.get("clawed", 0)),
            lock_until=_t(doc.get("lock_until")),
            expires_on=_d(doc.get("expires_on")),
            closed_at=_t(doc.get("closed_at")),
            order_id=doc.get("order_id"),
            spend_month=doc.get("spend_month"),
            parts=[Part.from_doc(p) for p in doc.get("parts") or []],
            lines={k: LineState.from_doc(v) for k, v in (doc.get("lines") or {}).items()},
            reversals=list(doc.get("reversals") or []),
        )


def lot_item(customer_id: str, lot: Lot, program: Program) -> dict[str, Any]:
    """The full lot item: keys, the GSI2 entry matching its state, and a TTL once closed."""
    pk = customer_pk(customer_id)
    item: dict[str, Any] = {
        "pk": pk,
        "sk": LOT_PREFIX + lot.key,
        "type": TYPE_LOT,
        "customer_id": customer_id,
    }
    item.update(lot.to_doc())
    gsi2pk = None
    if lot.state == LOCKED and lot.lock_until is not None:
        gsi2pk = unlocks_gsi2pk(lot.lock_until.date(), shard_of(customer_id))
    elif lot.state == OPEN and lot.expires_on is not None:
        gsi2pk = expires_gsi2pk(lot.expires_on, shard_of(customer_id))
    if gsi2pk:
        item["gsi2pk"] = gsi2pk
        item["gsi2sk"] = f"{pk}#{lot.key}"
    if lot.state == CLOSED and lot.closed_at is not None:
        # Closed lots stay long enough for any late return to find the lines they earned on.
        item["ttl"] = epoch(lot.closed_at + timedelta(days=program.lot_retention_days))
    return item


# --- balance -------------------------------------------------------------------------------------------


@dataclass(slots=True)
class TierUpgrade:
    """The most recent upgrade, remembered so that reversing the order that caused it can undo it."""

    lot_key: str
    from_tier: str
    from_since: datetime

    def to_doc(self) -> dict[str, Any]:
        """Plain dict for the balance item."""
        return {"lot": self.lot_key, "from_tier": self.from_tier, "from_since": iso(self.from_since)}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> TierUpgrade:
        """Inverse of `to_doc`."""
        return cls(doc["lot"], doc["from_tier"], parse_iso(doc["from_since"]))


@dataclass(slots=True)
class AccountState:
    """The balance item. `available` may be negative: that is a debt left by a reversal or adjustment."""

    customer_id: str
    version: int
    joined_at: datetime
    tier: str
    tier_since: datetime
    available: int = 0
    locked: int = 0
    awaiting_delivery: int = 0
    lifetime_earned: int = 0
    lifetime_redeemed: int = 0
    lifetime_expired: int = 0
    lifetime_deducted: int = 0
    tier_review_on: date | None = None
    tier_upgrade: TierUpgrade | None = None
    spend: dict[str, int] = field(default_factory=dict)
    debt_since: datetime | None = None
    unlocks: list[tuple[date, int]] = field(default_factory=list)
    expiring: list[tuple[date, int]] = field(default_factory=list)
    updated_at: datetime | None = None

    @property
    def total(self) -> int:
        """available + locked: what the ledger sums to."""
        return self.available + self.locked

    def clone(self) -> AccountState:
        """An independent copy."""
        return replace(
            self,
            tier_upgrade=replace(self.tier_upgrade) if self.tier_upgrade else None,
            spend=dict(self.spend),
            unlocks=list(self.unlocks),
            expiring=list(self.expiring),
        )

    def to_doc(self) -> dict[str, Any]:
        """The balance's data fields (keys and indexes are added by `balance_item`)."""
        return {
            "customer_id": self.customer_id,
            "version": self.version,
            "joined_at": iso(self.joined_at),
            "available": self.available,
            "locked": self.locked,
            "awaiting_delivery": self.awaiting_delivery,
            "lifetime_earned": self.lifetime_earned,
            "lifetime_redeemed": self.lifetime_redeemed,
            "lifetime_expired": self.lifetime_expired,
            "lifetime_deducted": self.lifetime_deducted,
            "tier": self.tier,
            "tier_since": iso(self.tier_since),
            "tier_review_on": _isod(self.tier_review_on),
            "tier_upgrade": self.tier_upgrade.to_doc() if self.tier_upgrade else None,
            "spend": dict(self.spend),
            "debt_since": _iso(self.debt_since),
            "unlocks": [{"on": d.isoformat(), "points": p} for d, p in self.unlocks],
            "expiring": [{"on": d.isoformat(), "points": p} for d, p in self.expiring],
            "updated_at": _iso(self.updated_at),
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> AccountState:
        """The state from a balance item (as returned by `ddb.from_item`)."""
        upgrade = doc.get("tier_upgrade")
        return cls(
            customer_id=doc["customer_id"],
            version=int(doc["version"]),
            joined_at=parse_iso(doc["joined_at"]),
            tier=doc["tier"],
            tier_since=parse_iso(doc["tier_since"]),
            available=int(doc.get("available", 0)),
            locked=int(doc.get("locked", 0)),
            awaiting_delivery=int(doc.get("awaiting_delivery", 0)),
            lifetime_earned=int(doc.get("lifetime_earned", 0)),
            lifetime_redeemed=int(doc.get("lifetime_redeemed", 0)),
            lifetime_expired=int(doc.get("lifetime_expired", 0)),
            lifetime_deducted=int(doc.get("lifetime_deducted", 0)),
            tier_review_on=_d(doc.get("tier_review_on")),
            tier_upgrade=TierUpgrade.from_doc(upgrade) if upgrade else None,
            spend={k: int(v) for k, v in (doc.get("spend") or {}).items()},
            debt_since=_t(doc.get("debt_since")),
            unlocks=[(date.fromisoformat(e["on"]), int(e["points"])) for e in doc.get("unlocks") or []],
            expiring=[(date.fromisoformat(e["on"]), int(e["points"])) for e in doc.get("expiring") or []],
            updated_at=_t(doc.get("updated_at")),
        )


def balance_item(state: AccountState) -> dict[str, Any]:
    """The full balance item with its sparse index entries (debt list on GSI1, tier review day on GSI2)."""
    item: dict[str, Any] = {"pk": customer_pk(state.customer_id), "sk": BALANCE_SK, "type": TYPE_BALANCE}
    item.update(state.to_doc())
    item.update(balance_index_fields(state))
    return item


def balance_index_fields(state: AccountState) -> dict[str, str | None]:
    """GSI attributes of the balance item; None means the attribute must be absent."""
    fields: dict[str, str | None] = {"gsi1pk": None, "gsi1sk": None, "gsi2pk": None, "gsi2sk": None}
    if state.available < 0 and state.debt_since is not None:
        fields["gsi1pk"] = NEGATIVE_GSI1PK
        fields["gsi1sk"] = f"{iso(state.debt_since)}#{customer_pk(state.customer_id)}"
    if state.tier_review_on is not None:
        fields["gsi2pk"] = tier_review_gsi2pk(state.tier_review_on, shard_of(state.customer_id))
        fields["gsi2sk"] = customer_pk(state.customer_id)
    return fields


# --- ledger --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One points movement, keyed by its source. `points` = available_delta + locked_delta; `lots` says
    which lots' remaining changed and by how much (the audit trail behind every balance)."""

    source: str
    kind: str
    points: int
    available_delta: int
    locked_delta: int
    balance_after: int
    at: datetime
    lots: dict[str, int]
    detail: dict[str, Any]

    def to_doc(self) -> dict[str, Any]:
        """The entry's data fields (keys are added by `ledger_item`)."""
        return {
            "source": self.source,
            "kind": self.kind,
            "points": self.points,
            "available_delta": self.available_delta,
            "locked_delta": self.locked_delta,
            "balance_after": self.balance_after,
            "at": iso(self.at),
            "lots": dict(self.lots),
            "detail": self.detail,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> LedgerEntry:
        """An entry from its item."""
        return cls(
            source=doc["source"],
            kind=doc["kind"],
            points=int(doc["points"]),
            available_delta=int(doc["available_delta"]),
            locked_delta=int(doc["locked_delta"]),
            balance_after=int(doc["balance_after"]),
            at=parse_iso(doc["at"]),
            lots={k: int(v) for k, v in (doc.get("lots") or {}).items()},
            detail=dict(doc.get("detail") or {}),
        )


def ledger_item(customer_id: str, entry: LedgerEntry) -> dict[str, Any]:
    """The full ledger item: sk by source (idempotency), GSI1 by time (newest-first page)."""
    pk = customer_pk(customer_id)
    item: dict[str, Any] = {
        "pk": pk,
        "sk": LEDGER_PREFIX + entry.source,
        "type": TYPE_LEDGER,
        "customer_id": customer_id,
        "gsi1pk": pk,
        "gsi1sk": f"{LEDGER_GSI1_PREFIX}{iso(entry.at)}#{entry.source}",
    }
    item.update(entry.to_doc())
    return item


# --- read view: the balance page from ONE GetItem -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BalanceView:
    """What the customer (and staff) see, computed from the balance item alone."""

    member: bool
    available: int = 0
    owed: int = 0
    locked: int = 0
    awaiting_delivery: int = 0
    in_return_window: int = 0
    total: int = 0
    lifetime_earned: int = 0
    tier: str | None = None
    tier_name: str | None = None
    tier_review_on: date | None = None
    qualifying_spend_minor: int = 0
    currency: str | None = None
    next_tier: str | None = None
    next_tier_missing_minor: int | None = None
    next_unlock_on: date | None = None
    next_unlock_points: int = 0
    next_expiry_on: date | None = None
    next_expiry_points: int = 0
    expiring_soon_points: int = 0
    can_redeem: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON shape for the API (dates as ISO strings)."""
        out: dict[str, Any] = {}
        for name in self.__slots__:
            value = getattr(self, name)
            out[name] = value.isoformat() if isinstance(value, date) else value
        return out


def view(program: Program, balance_doc: dict[str, Any] | None, now: datetime) -> BalanceView:
    """The balance page. `expiring_soon_points` counts points expiring within the program's warning days
    (exact unless more than SUMMARY_CAP distinct dates are pending, then a lower bound)."""
    if balance_doc is None:
        return BalanceView(member=False, currency=program.currency)
    state = AccountState.from_doc(balance_doc)
    today = now.astimezone(UTC).date()
    spend = rolling_spend(state.spend, today, program.tier_window_months)
    tier = program.find_tier(state.tier)
    nxt = program.next_tier(state.tier)
    horizon = today + timedelta(days=program.expiry_warning_days)
    return BalanceView(
        member=True,
        available=max(state.available, 0),
        owed=max(-state.available, 0),
        locked=state.locked,
        awaiting_delivery=state.awaiting_delivery,
        in_return_window=state.locked - state.awaiting_delivery,
        total=state.total,
        lifetime_earned=state.lifetime_earned,
        tier=state.tier,
        tier_name=tier.name if tier else state.tier,
        tier_review_on=state.tier_review_on,
        qualifying_spend_minor=spend,
        currency=program.currency,
        next_tier=nxt.code if nxt else None,
        next_tier_missing_minor=max(nxt.min_spend_minor - spend, 0) if nxt else None,
        next_unlock_on=state.unlocks[0][0] if state.unlocks else None,
        next_unlock_points=state.unlocks[0][1] if state.unlocks else 0,
        next_expiry_on=state.expiring[0][0] if state.expiring else None,
        next_expiry_points=state.expiring[0][1] if state.expiring else 0,
        expiring_soon_points=sum(p for d, p in state.expiring if d <= horizon),
        can_redeem=state.available > 0,
    )
