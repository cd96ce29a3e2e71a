"""What can happen to a loyalty account, as plain validated dataclasses, and the source key of each.

The source key names the cause of a points movement (`ORDER#<id>#EARN`, `REDEEM#<id>`,
`EXPIRE#<day>#<lot>`, ...). It is the ledger entry's sort key, written only if absent, so delivering the same
event twice (SQS at-least-once, a retried job, a double-clicked admin button) moves points once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from ecrm.loyalty.model import (
    ADJUST,
    BIRTHDAY,
    CAMPAIGN,
    EXPIRE,
    REDEEM,
    REVERSE,
    UNLOCK,
    WELCOME,
    order_lot_key,
)
from ecrm.loyalty.rules import ID_PATTERN, MAX_QUANTITY, Order
from ecrm.platform.errors import ValidationFailed

MAX_REASON_CHARS = 500


def _id(value: object, path: str) -> None:
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise ValidationFailed("must be 1-128 characters A-Z, a-z, 0-9, '.', '_', ':' or '-'", path)


def _aware(value: object, path: str) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValidationFailed("must be a timezone-aware time", path)


@dataclass(frozen=True, slots=True)
class Join:
    """The customer joins the program (creates the account; welcome bonus if the program has one)."""


@dataclass(frozen=True, slots=True)
class EarnOrder:
    """An order was placed (confirmed): book its points as PENDING until delivery + return window."""

    order: Order
    segments: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", frozenset(self.segments))


@dataclass(frozen=True, slots=True)
class Deliver:
    """The order was delivered at `delivered_at` (the carrier's time): the return window starts then.

    `placed_at` lets an event for an order placed before the customer joined be ignored rather than retried.
    """

    order_id: str
    placed_at: datetime
    delivered_at: datetime

    def __post_init__(self) -> None:
        _id(self.order_id, "order_id")
        _aware(self.placed_at, "placed_at")
        _aware(self.delivered_at, "delivered_at")


@dataclass(frozen=True, slots=True)
class Unlock:
    """Release a lot whose return window has ended (the unlock job, from the UNLOCKS# index)."""

    lot_key: str

    def __post_init__(self) -> None:
        if not isinstance(self.lot_key, str) or not self.lot_key:
            raise ValidationFailed("is required", "lot_key")


@dataclass(frozen=True, slots=True)
class Reverse:
    """Cancellation or return. `lines` maps line id -> quantity returned by THIS reversal; None = everything
    not yet reversed (a whole-order cancellation or return). `reversal_id` identifies the return (RMA id, or
    `CANCEL`), so the same return delivered twice claws back once."""

    order_id: str
    reversal_id: str
    placed_at: datetime
    lines: Mapping[str, int] | None = None

    def __post_init__(self) -> None:
        _id(self.order_id, "order_id")
        _id(self.reversal_id, "reversal_id")
        _aware(self.placed_at, "placed_at")
        if self.lines is not None:
            if not self.lines:
                raise ValidationFailed(
                    "must name at least one line (or be omitted for the whole order)", "lines"
                )
            for line_id, qty in self.lines.items():
                _id(line_id, f"lines.{line_id}")
                if isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= MAX_QUANTITY:
                    raise ValidationFailed(
                        f"must be a whole number between 1 and {MAX_QUANTITY}", f"lines.{line_id}"
                    )
            object.__setattr__(self, "lines", dict(self.lines))


@dataclass(frozen=True, slots=True)
class Redeem:
    """Spend points on a catalogue reward."""

    redemption_id: str
    reward_id: str

    def __post_init__(self) -> None:
        _id(self.redemption_id, "redemption_id")
        _id(self.reward_id, "reward_id")


@dataclass(frozen=True, slots=True)
class Expire:
    """The expiry run of `run_date` expires what is left of a lot due on or before that day."""

    run_date: date
    lot_key: str

    def __post_init__(self) -> None:
        if not isinstance(self.run_date, date) or isinstance(self.run_date, datetime):
            raise ValidationFailed("must be a date", "run_date")
        if not isinstance(self.lot_key, str) or not self.lot_key:
            raise ValidationFailed("is required", "lot_key")


@dataclass(frozen=True, slots=True)
class Adjust:
    """A staff adjustment: non-zero, bounded by the program's `adjustments.max_points`, with a reason."""

    adjustment_id: str
    points: int
    reason: str
    actor: str

    def __post_init__(self) -> None:
        _id(self.adjustment_id, "adjustment_id")
        if isinstance(self.points, bool) or not isinstance(self.points, int) or self.points == 0:
            raise ValidationFailed("must be a non-zero whole number", "points")
        reason = self.reason.strip() if isinstance(self.reason, str) else ""
        if len(reason) < 3 or len(reason) > MAX_REASON_CHARS or any(ord(c) < 32 for c in reason):
            raise ValidationFailed(
                f"a reason of 3-{MAX_REASON_CHARS} printable characters is required", "reason"
            )
        if not isinstance(self.actor, str) or not self.actor.strip() or len(self.actor) > 128:
            raise ValidationFailed("who made the adjustment is required", "actor")
        object.__setattr__(self, "reason", reason)


@dataclass(frozen=True, slots=True)
class Birthday:
    """The yearly birthday bonus (the birthday job sends it once per `year`)."""

    year: int

    def __post_init__(self) -> None:
        if isinstance(self.year, bool) or not isinstance(self.year, int) or not 2000 <= self.year <= 9999:
            raise ValidationFailed("must be a year", "year")


@dataclass(frozen=True, slots=True)
class CampaignGrant:
    """A `grant` campaign's one-off points for a member (in one of its segments, while it runs)."""

    campaign_id: str
    segments: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        _id(self.campaign_id, "campaign_id")
        object.__setattr__(self, "segments", frozenset(self.segments))


@dataclass(frozen=True, slots=True)
class ReviewTier:
    """The scheduled tier review (from the TIER_REVIEW# index): applies the downgrade rule."""


Event = (
    Join
    | EarnOrder
    | Deliver
    | Unlock
    | Reverse
    | Redeem
    | Expire
    | Adjust
    | Birthday
    | CampaignGrant
    | ReviewTier
)


def source_key(event: Event) -> str | None:
    """The ledger source key an event writes, or None for events that move no points by themselves
    (`Deliver` writes an UNLOCK entry only when the window has already passed; see `engine`)."""
    match event:
        case Join():
            return WELCOME
        case EarnOrder(order=order):
            return f"{order_lot_key(order.order_id)}#EARN"
        case Unlock(lot_key=lot_key):
            return f"{lot_key}#{UNLOCK}"
        case Reverse(order_id=order_id, reversal_id=reversal_id):
            return f"{order_lot_key(order_id)}#{REVERSE}#{reversal_id}"
        case Redeem(redemption_id=redemption_id):
            return f"{REDEEM}#{redemption_id}"
        case Expire(run_date=run_date, lot_key=lot_key):
            return f"{EXPIRE}#{run_date.isoformat()}#{lot_key}"
        case Adjust(adjustment_id=adjustment_id):
            return f"{ADJUST}#{adjustment_id}"
        case Birthday(year=year):
            return f"{BIRTHDAY}#{year}"
        case CampaignGrant(campaign_id=campaign_id):
            return f"{CAMPAIGN}#{campaign_id}"
    return None
