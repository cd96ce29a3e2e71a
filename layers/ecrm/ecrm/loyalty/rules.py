"""Loyalty program data (earning rules, tiers, campaigns, rewards) and the pure earning computation.

The program is ONE DynamoDB item (pk=`LOYALTY#PROGRAM`, sk=`CURRENT`, type `LOYALTY_PROGRAM`) that shop staff
edit in the console, so it is validated every time it is read: `parse_program` raises `ValidationFailed`
naming the field at fault (`tiers.levels.1.min_spend_minor`) rather than letting a typo earn wrong points.
Unknown keys are rejected for the same reason (a misspelt `mutliplier_percent` must not be silently ignored).

No floats: rates are integers (points per `unit_minor` minor units, multipliers in percent), and every
rounding is an explicit floor. The format is documented in docs/loyalty.md; infra/seed/loyalty.json is the
default program.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ecrm.platform.clock import parse_iso
from ecrm.platform.errors import ValidationFailed

PROGRAM_PK = "LOYALTY#PROGRAM"
PROGRAM_SK = "CURRENT"
PROGRAM_TYPE = "LOYALTY_PROGRAM"

# Ids end up inside sort keys (`LEDGER#ORDER#<id>#EARN`): `#` would make keys ambiguous, so it is refused.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,31}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_SKU_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}\*?")

# Pseudo order line for shipping when a program counts it (exclude_shipping=false); real lines may not use it.
SHIPPING_LINE = "SHIPPING"

BASE = "BASE"
CAMPAIGN = "CAMPAIGN"

MULTIPLIER = "multiplier"
FIXED = "fixed"
GRANT = "grant"
CAMPAIGN_KINDS = (MULTIPLIER, FIXED, GRANT)
PER_UNIT = "unit"
PER_ORDER = "order"

OLDEST_FIRST = "oldest_first"

MAX_ORDER_LINES = 100
MAX_QUANTITY = 9999
# A bound on anything multiplied into points, so one bad order cannot mint absurd balances.
MAX_AMOUNT_MINOR = 10**12

# Keys of the stored item that are not program fields (keys, audit notes), ignored by the parser.
_ITEM_KEYS = frozenset({"pk", "sk", "type", "notes", "updated_at", "updated_by", "revision"})


@dataclass(frozen=True, slots=True)
class Tier:
    """A tier level: reached when rolling qualifying spend >= `min_spend_minor`."""

    code: str
    name: str
    min_spend_minor: int
    multiplier_percent: int


@dataclass(frozen=True, slots=True)
class Campaign:
    """A time-boxed bonus, active for orders placed in [starts_at, ends_at).

    `multiplier`: extra points on matching lines, `multiplier_percent` of base (200 = double points).
    `fixed`: `points` per matching unit (`per`="unit") or once per order with a matching line (`per`="order").
    `grant`: `points` once per member (segment-targeted) while active, not tied to an order.
    Targeting: `skus` / `categories` select lines (none = every eligible line); `segments` select customers
    (none = everyone).
    """

    campaign_id: str
    name: str
    kind: str
    starts_at: datetime
    ends_at: datetime
    multiplier_percent: int = 100
    points: int = 0
    per: str = PER_UNIT
    skus: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()

    def active_at(self, moment: datetime) -> bool:
        """True while the campaign runs (start inclusive, end exclusive)."""
        return self.starts_at <= moment < self.ends_at

    def matches_segments(self, segments: Collection[str]) -> bool:
        """True when the campaign targets everyone or one of the customer's segments."""
        return not self.segments or any(s in self.segments for s in segments)

    def matches_line(self, line: OrderLine) -> bool:
        """True when the line is a merchandise line this campaign targets (shipping never is)."""
        if line.line_id == SHIPPING_LINE:
            return False
        if not self.skus and not self.categories:
            return True
        return any(_sku_matches(line.sku, p) for p in self.skus) or (
            line.category is not None and line.category in self.categories
        )


@dataclass(frozen=True, slots=True)
class Reward:
    """An entry of the rewards catalogue: what `points` buy (e.g. a 5 EUR discount code)."""

    reward_id: str
    name: str
    points: int
    kind: str
    value_minor: int
    currency: str
    active: bool = True


@dataclass(frozen=True, slots=True)
class Program:
    """The validated loyalty program. Build it with `parse_program`, never by hand from console data."""

    program_id: str
    currency: str
    points_per_unit: int
    unit_minor: int
    min_order_minor: int
    exclude_shipping: bool
    excluded_skus: tuple[str, ...]
    return_window_days: int
    tiers: tuple[Tier, ...]
    tier_window_months: int
    tier_hold_months: int
    campaigns: tuple[Campaign, ...]
    welcome_bonus: int
    birthday_bonus: int
    expiry_months: int
    expiry_warning_days: int
    lot_retention_days: int
    rewards: tuple[Reward, ...]
    max_adjustment: int

    @property
    def base_tier(self) -> Tier:
        """The entry tier (min spend 0), every member's floor."""
        return self.tiers[0]

    def find_tier(self, code: str | None) -> Tier | None:
        """The tier with this code, or None when the program no longer has it."""
        return next((t for t in self.tiers if t.code == code), None)

    def tier_rank(self, code: str | None) -> int:
        """Position of a tier (0 = base); -1 for a code the program no longer knows."""
        return next((i for i, t in enumerate(self.tiers) if t.code == code), -1)

    def tier_for_spend(self, spend_minor: int) -> Tier:
        """The highest tier whose threshold `spend_minor` reaches."""
        reached = self.tiers[0]
        for tier in self.tiers:
            if spend_minor >= tier.min_spend_minor:
                reached = tier
        return reached

    def next_tier(self, code: str) -> Tier | None:
        """The tier above `code`, if any."""
        rank = self.tier_rank(code)
        return self.tiers[rank + 1] if 0 <= rank < len(self.tiers) - 1 else None

    def reward(self, reward_id: str) -> Reward | None:
        """A catalogue reward by id."""
        return next((r for r in self.rewards if r.reward_id == reward_id), None)

    def campaign(self, campaign_id: str) -> Campaign | None:
        """A campaign by id."""
        return next((c for c in self.campaigns if c.campaign_id == campaign_id), None)

    def is_excluded(self, sku: str) -> bool:
        """True when a SKU never earns (exact match, or prefix match for patterns ending in `*`)."""
        return any(_sku_matches(sku, p) for p in self.excluded_skus)


def _sku_matches(sku: str, pattern: str) -> bool:
    return sku.startswith(pattern[:-1]) if pattern.endswith("*") else sku == pattern


# --- orders as loyalty sees them -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One order line: `amount_minor` is what the customer paid for the whole line, after line discounts."""

    line_id: str
    sku: str
    quantity: int
    amount_minor: int
    category: str | None = None


@dataclass(frozen=True, slots=True)
class Order:
    """The facts of an order that earning needs. `discount_minor` is an order-level discount (e.g. a points
    voucher), spread over the lines pro rata so nobody earns points on money they did not pay."""

    order_id: str
    currency: str
    placed_at: datetime
    lines: tuple[OrderLine, ...]
    shipping_minor: int = 0
    discount_minor: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", tuple(self.lines))
        _check_id(self.order_id, "order_id")
        if not isinstance(self.currency, str) or not _CURRENCY.fullmatch(self.currency):
            raise ValidationFailed("must be an ISO 4217 code such as EUR", "currency")
        _check_aware(self.placed_at, "placed_at")
        if not 1 <= len(self.lines) <= MAX_ORDER_LINES:
            raise ValidationFailed(f"must have between 1 and {MAX_ORDER_LINES} lines", "lines")
        seen: set[str] = set()
        for i, line in enumerate(self.lines):
            path = f"lines.{i}"
            _check_id(line.line_id, f"{path}.line_id")
            if line.line_id == SHIPPING_LINE or line.line_id in seen:
                raise ValidationFailed("must be unique and not SHIPPING", f"{path}.line_id")
            seen.add(line.line_id)
            if not isinstance(line.sku, str) or not line.sku:
                raise ValidationFailed("is required", f"{path}.sku")
            _check_int(line.quantity, f"{path}.quantity", 1, MAX_QUANTITY)
            _check_int(line.amount_minor, f"{path}.amount_minor", 0, MAX_AMOUNT_MINOR)
        _check_int(self.shipping_minor, "shipping_minor", 0, MAX_AMOUNT_MINOR)
        merchandise = sum(line.amount_minor for line in self.lines)
        _check_int(self.discount_minor, "discount_minor", 0, merchandise)


@dataclass(frozen=True, slots=True)
class EarnLine:
    """Points earned by one order line (`BASE`) or a campaign bonus (`CAMPAIGN`).

    Line-level entries carry `line_id` and `quantity` so a partial return claws back exactly their share.
    An order-level bonus (`line_id` None) depends on `depends_on` lines and is clawed back when all of them
    are fully returned.
    """

    line_id: str | None
    kind: str
    points: int
    basis_minor: int
    quantity: int
    campaign_id: str | None = None
    depends_on: tuple[str, ...] = field(default=())


def points_for(rules: Program, amount_minor: int, percent: int) -> int:
    """floor(amount * points_per_unit * percent / (unit_minor * 100)): the one rounding rule (per line)."""
    return (amount_minor * rules.points_per_unit * percent) // (rules.unit_minor * 100)


def allocate_discount(amounts: Sequence[int], discount: int) -> list[int]:
    """Net amounts after spreading `discount` pro rata (largest remainder, ties to the earlier line).

    The shares sum to exactly `discount`, so no minor unit is created or lost.
    """
    total = sum(amounts)
    if discount <= 0 or total <= 0:
        return list(amounts)
    shares = [a * discount // total for a in amounts]
    leftover = discount - sum(shares)
    by_remainder = sorted(range(len(amounts)), key=lambda i: (-(amounts[i] * discount % total), i))
    for i in by_remainder[:leftover]:
        shares[i] += 1
    return [a - s for a, s in zip(amounts, shares, strict=True)]


def compute_earn(
    rules: Program,
    order: Order,
    member_tier: str,
    now: datetime,
    *,
    segments: Collection[str] = (),
) -> list[EarnLine]:
    """The points an order earns: one `BASE` line per eligible order line, then campaign bonus lines.

    - eligible = not an excluded SKU; shipping only when the program counts it (as line `SHIPPING`);
    - base points per line = floor(net * points_per_unit * tier multiplier% / (unit_minor * 100));
    - no points at all (BASE lines still listed with 0, they carry the qualifying spend) when the eligible
      merchandise subtotal is below `min_order_minor`;
    - campaigns are judged at the order's `placed_at` (capped at `now`, so a bad future timestamp cannot
      reach a future campaign); multiplier bonuses are added on top of the tier multiplier, not compounded.
    An order in another currency than the program's raises `ValidationFailed` (one program per currency).
    """
    if order.currency != rules.currency:
        raise ValidationFailed(
            f"order currency {order.currency} is not the program currency {rules.currency}", "currency"
        )
    at = min(order.placed_at, now)
    nets = allocate_discount([line.amount_minor for line in order.lines], order.discount_minor)
    eligible = [(ln, net) for ln, net in zip(order.lines, nets, strict=True) if not rules.is_excluded(ln.sku)]
    merchandise = sum(net for _, net in eligible)
    if not rules.exclude_shipping and order.shipping_minor > 0:
        eligible.append(
            (OrderLine(SHIPPING_LINE, SHIPPING_LINE, 1, order.shipping_minor), order.shipping_minor)
        )
    qualifies = merchandise > 0 and merchandise >= rules.min_order_minor
    tier = rules.find_tier(member_tier) or rules.base_tier
    lines = [
        EarnLine(
            line_id=ln.line_id,
            kind=BASE,
            points=points_for(rules, net, tier.multiplier_percent) if qualifies else 0,
            basis_minor=net,
            quantity=ln.quantity,
        )
        for ln, net in eligible
    ]
    if not qualifies:
        return lines
    for campaign in rules.campaigns:
        if campaign.kind == GRANT or not campaign.active_at(at) or not campaign.matches_segments(segments):
            continue
        # A line fully paid by a discount earns no bonus either.
        matching = [(ln, net) for ln, net in eligible if net > 0 and campaign.matches_line(ln)]
        if not matching:
            continue
        if campaign.kind == MULTIPLIER:
            for ln, net in matching:
                extra = points_for(rules, net, campaign.multiplier_percent - 100)
                if extra > 0:
                    lines.append(
                        EarnLine(ln.line_id, CAMPAIGN, extra, net, ln.quantity, campaign.campaign_id)
                    )
        elif campaign.per == PER_UNIT:
            for ln, net in matching:
                lines.append(
                    EarnLine(
                        ln.line_id,
                        CAMPAIGN,
                        campaign.points * ln.quantity,
                        net,
                        ln.quantity,
                        campaign.campaign_id,
                    )
                )
        else:
            lines.append(
                EarnLine(
                    line_id=None,
                    kind=CAMPAIGN,
                    points=campaign.points,
                    basis_minor=sum(net for _, net in matching),
                    quantity=0,
                    campaign_id=campaign.campaign_id,
                    depends_on=tuple(ln.line_id for ln, _ in matching),
                )
            )
    return lines


# --- tiers over a rolling window -----------------------------------------------------------------------


def month_key(day: date) -> str:
    """`2026-11`: the bucket qualifying spend is summed in."""
    return f"{day.year:04d}-{day.month:02d}"


def window_months(today: date, months: int) -> list[str]:
    """The `months` calendar months ending with today's, oldest first (the rolling tier window)."""
    keys = []
    year, month = today.year, today.month
    for _ in range(months):
        keys.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return keys[::-1]


def rolling_spend(spend: Mapping[str, int], today: date, months: int) -> int:
    """Qualifying spend of the rolling window: the last `months` calendar months including the current."""
    return sum(int(spend.get(m, 0)) for m in window_months(today, months))


def add_months(moment: datetime, months: int) -> datetime:
    """Same day `months` later, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    total = moment.month - 1 + months
    year, month = moment.year + total // 12, total % 12 + 1
    next_first = date(year + (month == 12), month % 12 + 1, 1)
    last_day = (next_first - timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def lapse_date(spend: Mapping[str, int], today: date, months: int, threshold: int) -> date:
    """The first day, from today on, on which the rolling spend is below `threshold` if nothing more is
    bought: today, or the first day of the month in which enough old spend has left the window."""
    if rolling_spend(spend, today, months) < threshold:
        return today
    day = today
    for _ in range(months + 1):
        day = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
        if rolling_spend(spend, day, months) < threshold:
            return day
    return day  # not reached: after `months` months every bucket has left the window


def tier_review_date(
    rules: Program, tier: str, since: date, spend: Mapping[str, int], today: date
) -> date | None:
    """The first day the member could lose `tier`: max(since + hold, the spend's lapse date). None for the
    base tier, which is never reviewed."""
    level = rules.find_tier(tier)
    if level is None or rules.tier_rank(tier) == 0:
        return None
    held = add_months(datetime(since.year, since.month, since.day), rules.tier_hold_months).date()
    return max(held, lapse_date(spend, today, rules.tier_window_months, level.min_spend_minor))


@dataclass(frozen=True, slots=True)
class TierDecision:
    """Result of a tier evaluation: the tier, since when it is held, and its review date (None for base)."""

    tier: str
    since: date
    review_on: date | None


def evaluate_tier(
    rules: Program, current: str | None, since: date, spend: Mapping[str, int], today: date
) -> TierDecision:
    """The tier rule, run on each earning and by the scheduled review (and cheap enough to run anywhere).

    The tier is the highest one the rolling spend reaches, with two softeners:
    - upgrades are immediate (the earning that crosses a threshold);
    - a tier moved into is held for at least `tier_hold_months` from that day, even if spend falls.
    So a member is moved down only on or after `tier_review_on` = max(since + hold, the first day the rolling
    spend falls below the tier's threshold with nothing more bought), to the tier the spend then reaches
    (possibly several levels down; that tier is then held anew). A tier code the program no longer has is
    replaced at once by the tier the spend reaches.
    """
    rolling = rolling_spend(spend, today, rules.tier_window_months)
    target = rules.tier_for_spend(rolling)
    rank = rules.tier_rank(current)
    target_rank = rules.tier_rank(target.code)
    tier, held_since = str(current), since
    if rank < 0 or target_rank > rank:
        tier, held_since = target.code, today
    elif target_rank < rank:
        review = tier_review_date(rules, tier, since, spend, today)
        if review is None or today >= review:
            tier, held_since = target.code, today
    return TierDecision(tier, held_since, tier_review_date(rules, tier, held_since, spend, today))


# --- parsing the stored program ------------------------------------------------------------------------


def parse_program(data: Mapping[str, Any]) -> Program:
    """Validate console-editable program data (a plain dict, e.g. `ddb.from_item` output or the seed JSON).

    Integers may arrive as `int` or integral `Decimal` (DynamoDB); floats and booleans-as-numbers are refused.
    Raises `ValidationFailed` with a dotted `field` path on the first problem found.
    """
    doc = _object(
        data,
        "",
        {
            "program_id",
            "currency",
            "earning",
            "lock",
            "tiers",
            "bonuses",
            "campaigns",
            "expiry",
            "rewards",
            "adjustments",
        },
        required={"program_id", "currency", "earning", "lock", "tiers", "expiry", "rewards"},
        extra=_ITEM_KEYS,
    )
    program_id = _id(doc["program_id"], "program_id")
    currency = _text(doc["currency"], "currency")
    if not _CURRENCY.fullmatch(currency):
        raise ValidationFailed("must be an ISO 4217 code such as EUR", "currency")

    earning = _object(
        doc["earning"],
        "earning",
        {
            "points_per_unit",
            "unit_minor",
            "min_order_minor",
            "exclude_shipping",
            "excluded_skus",
        },
        required={"points_per_unit", "unit_minor"},
    )
    excluded = _list(earning.get("excluded_skus", []), "earning.excluded_skus")
    for i, sku in enumerate(excluded):
        if not isinstance(sku, str) or not _SKU_PATTERN.fullmatch(sku):
            raise ValidationFailed(
                "must be a SKU, optionally ending in * for a prefix", f"earning.excluded_skus.{i}"
            )

    lock = _object(doc["lock"], "lock", {"return_window_days"}, required={"return_window_days"})
    tiers_doc = _object(
        doc["tiers"], "tiers", {"window_months", "hold_months", "levels"}, required={"levels"}
    )
    tiers = _tiers(tiers_doc["levels"])
    bonuses = _object(doc.get("bonuses", {}), "bonuses", {"welcome", "birthday"})
    expiry = _object(
        doc["expiry"],
        "expiry",
        {"months", "order", "warning_days", "lot_retention_days"},
        required={"months"},
    )
    order = expiry.get("order", OLDEST_FIRST)
    if order != OLDEST_FIRST:
        raise ValidationFailed(f"only {OLDEST_FIRST!r} is supported", "expiry.order")
    adjustments = _object(doc.get("adjustments", {}), "adjustments", {"max_points"})

    expiry_months = _int(expiry["months"], "expiry.months", 1, 120)
    program = Program(
        program_id=program_id,
        currency=currency,
        points_per_unit=_int(earning["points_per_unit"], "earning.points_per_unit", 0, 10_000),
        unit_minor=_int(earning["unit_minor"], "earning.unit_minor", 1, 1_000_000),
        min_order_minor=_int(
            earning.get("min_order_minor", 0), "earning.min_order_minor", 0, MAX_AMOUNT_MINOR
        ),
        exclude_shipping=_bool(earning.get("exclude_shipping", True), "earning.exclude_shipping"),
        excluded_skus=tuple(excluded),
        return_window_days=_int(lock["return_window_days"], "lock.return_window_days", 0, 365),
        tiers=tiers,
        tier_window_months=_int(tiers_doc.get("window_months", 12), "tiers.window_months", 1, 36),
        tier_hold_months=_int(tiers_doc.get("hold_months", 12), "tiers.hold_months", 0, 36),
        campaigns=_campaigns(doc.get("campaigns", [])),
        welcome_bonus=_int(bonuses.get("welcome", 0), "bonuses.welcome", 0, 1_000_000),
        birthday_bonus=_int(bonuses.get("birthday", 0), "bonuses.birthday", 0, 1_000_000),
        expiry_months=expiry_months,
        expiry_warning_days=_int(expiry.get("warning_days", 30), "expiry.warning_days", 0, 365),
        # Closed lots are kept (for late returns) at least as long as a lot can live.
        lot_retention_days=_int(
            expiry.get("lot_retention_days", 730), "expiry.lot_retention_days", 31 * expiry_months, 3650
        ),
        rewards=_rewards(doc["rewards"], currency),
        max_adjustment=_int(adjustments.get("max_points", 100_000), "adjustments.max_points", 1, 10_000_000),
    )
    return program


def _tiers(value: Any) -> tuple[Tier, ...]:
    levels = _list(value, "tiers.levels")
    if not levels:
        raise ValidationFailed("needs at least one tier", "tiers.levels")
    tiers: list[Tier] = []
    for i, raw in enumerate(levels):
        path = f"tiers.levels.{i}"
        level = _object(
            raw,
            path,
            {"code", "name", "min_spend_minor", "multiplier_percent"},
            required={"code", "name", "min_spend_minor"},
        )
        code = _text(level["code"], f"{path}.code")
        if not _CODE.fullmatch(code):
            raise ValidationFailed("must be upper case A-Z, 0-9 or _ (e.g. GOLD)", f"{path}.code")
        if any(t.code == code for t in tiers):
            raise ValidationFailed(f"duplicate tier code {code}", f"{path}.code")
        spend = _int(level["min_spend_minor"], f"{path}.min_spend_minor", 0, MAX_AMOUNT_MINOR)
        if i == 0 and spend != 0:
            raise ValidationFailed(
                "the first tier is the entry tier: it must be 0", f"{path}.min_spend_minor"
            )
        if tiers and spend <= tiers[-1].min_spend_minor:
            raise ValidationFailed("must be higher than the previous tier's", f"{path}.min_spend_minor")
        tiers.append(
            Tier(
                code=code,
                name=_text(level["name"], f"{path}.name", max_chars=64),
                min_spend_minor=spend,
                multiplier_percent=_int(
                    level.get("multiplier_percent", 100), f"{path}.multiplier_percent", 0, 1000
                ),
            )
        )
    return tuple(tiers)


def _campaigns(value: Any) -> tuple[Campaign, ...]:
    campaigns: list[Campaign] = []
    for i, raw in enumerate(_list(value, "campaigns")):
        path = f"campaigns.{i}"
        doc = _object(
            raw,
            path,
            {
                "id",
                "name",
                "kind",
                "starts_at",
                "ends_at",
                "multiplier_percent",
                "points",
                "per",
                "skus",
                "categories",
                "segments",
            },
            required={"id", "name", "kind", "starts_at", "ends_at"},
        )
        campaign_id = _id(doc["id"], f"{path}.id")
        if any(c.campaign_id == campaign_id for c in campaigns):
            raise ValidationFailed(f"duplicate campaign id {campaign_id}", f"{path}.id")
        kind = doc["kind"]
        if kind not in CAMPAIGN_KINDS:
            raise ValidationFailed(f"must be one of {', '.join(CAMPAIGN_KINDS)}", f"{path}.kind")
        starts_at = _time(doc["starts_at"], f"{path}.starts_at")
        ends_at = _time(doc["ends_at"], f"{path}.ends_at")
        if ends_at <= starts_at:
            raise ValidationFailed("must be after starts_at", f"{path}.ends_at")
        multiplier = 100
        points = 0
        per = doc.get("per", PER_UNIT)
        if kind == MULTIPLIER:
            multiplier = _int(doc.get("multiplier_percent"), f"{path}.multiplier_percent", 101, 1000)
        else:
            points = _int(doc.get("points"), f"{path}.points", 1, 1_000_000)
        if per not in (PER_UNIT, PER_ORDER) or (kind != FIXED and "per" in doc):
            raise ValidationFailed("must be 'unit' or 'order', and only for fixed campaigns", f"{path}.per")
        skus = _strings(doc.get("skus", []), f"{path}.skus", _SKU_PATTERN)
        categories = _strings(doc.get("categories", []), f"{path}.categories")
        if kind == GRANT and (skus or categories):
            raise ValidationFailed("a grant is not tied to order lines", f"{path}.skus")
        campaigns.append(
            Campaign(
                campaign_id=campaign_id,
                name=_text(doc["name"], f"{path}.name", max_chars=100),
                kind=kind,
                starts_at=starts_at,
                ends_at=ends_at,
                multiplier_percent=multiplier,
                points=points,
                per=per,
                skus=skus,
                categories=categories,
                segments=_strings(doc.get("segments", []), f"{path}.segments"),
            )
        )
    return tuple(campaigns)


def _rewards(value: Any, currency: str) -> tuple[Reward, ...]:
    rewards: list[Reward] = []
    for i, raw in enumerate(_list(value, "rewards")):
        path = f"rewards.{i}"
        doc = _object(
            raw,
            path,
            {"id", "name", "points", "kind", "value_minor", "currency", "active"},
            required={"id", "name", "points", "value_minor"},
        )
        reward_id = _id(doc["id"], f"{path}.id")
        if any(r.reward_id == reward_id for r in rewards):
            raise ValidationFailed(f"duplicate reward id {reward_id}", f"{path}.id")
        reward_currency = _text(doc.get("currency", currency), f"{path}.currency")
        if reward_currency != currency:
            raise ValidationFailed(f"must be the program currency {currency}", f"{path}.currency")
        kind = doc.get("kind", "discount_code")
        if kind != "discount_code":
            raise ValidationFailed("only 'discount_code' rewards are supported", f"{path}.kind")
        rewards.append(
            Reward(
                reward_id=reward_id,
                name=_text(doc["name"], f"{path}.name", max_chars=100),
                points=_int(doc["points"], f"{path}.points", 1, 10_000_000),
                kind=kind,
                value_minor=_int(doc["value_minor"], f"{path}.value_minor", 1, MAX_AMOUNT_MINOR),
                currency=reward_currency,
                active=_bool(doc.get("active", True), f"{path}.active"),
            )
        )
    return tuple(rewards)


# --- field helpers -------------------------------------------------------------------------------------


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _object(
    value: Any,
    path: str,
    allowed: Collection[str],
    *,
    required: Collection[str] = (),
    extra: Collection[str] = (),
) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationFailed("must be an object", path or None)
    for key in value:
        if key not in allowed and key not in extra:
            raise ValidationFailed(
                f"unknown field (allowed: {', '.join(sorted(allowed))})", _join(path, str(key))
            )
    for key in required:
        if key not in value:
            raise ValidationFailed("is required", _join(path, key))
    return value


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, (list, tuple)):
        raise ValidationFailed("must be a list", path)
    return list(value)


def _int(value: Any, path: str, lo: int, hi: int) -> int:
    # bool is an int subclass; a console "true" in a number field is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise ValidationFailed("must be a whole number", path)
    if isinstance(value, Decimal) and (not value.is_finite() or value != value.to_integral_value()):
        raise ValidationFailed("must be a whole number", path)
    number = int(value)
    if not lo <= number <= hi:
        raise ValidationFailed(f"must be between {lo} and {hi}", path)
    return number


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed("must be true or false", path)
    return value


def _text(value: Any, path: str, *, max_chars: int = 128) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed("must be a non-empty string", path)
    if len(value) > max_chars or any(ord(c) < 32 for c in value):
        raise ValidationFailed(f"must be at most {max_chars} printable characters", path)
    return value.strip()


def _id(value: Any, path: str) -> str:
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise ValidationFailed("must be 1-128 characters A-Z, a-z, 0-9, '.', '_', ':' or '-'", path)
    return value


def _strings(value: Any, path: str, pattern: re.Pattern[str] | None = None) -> tuple[str, ...]:
    items = _list(value, path)
    out = []
    for i, item in enumerate(items):
        text = _text(item, f"{path}.{i}", max_chars=64)
        if pattern is not None and not pattern.fullmatch(text):
            raise ValidationFailed("has an invalid format", f"{path}.{i}")
        out.append(text)
    return tuple(out)


def _time(value: Any, path: str) -> datetime:
    if not isinstance(value, str):
        raise ValidationFailed("must be an ISO-8601 UTC time such as 2026-12-01T00:00:00Z", path)
    try:
        return parse_iso(value)
    except ValueError:
        raise ValidationFailed("must be an ISO-8601 UTC time such as 2026-12-01T00:00:00Z", path) from None


def _check_id(value: Any, path: str) -> None:
    _id(value, path)


def _check_int(value: Any, path: str, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValidationFailed(f"must be a whole number between {lo} and {hi}", path)


def _check_aware(value: Any, path: str) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValidationFailed("must be a timezone-aware time", path)
