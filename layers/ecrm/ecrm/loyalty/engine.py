"""The pure heart of loyalty: `decide(program, customer, state, lots, event, now) -> Decision`.

A decision is everything one transaction must write: the new balance state (with the version it expects
to replace), the lots created or changed, and at most one ledger entry. The in-memory reference `Account`
commits decisions to dicts; `plans` turns the same decisions into TransactWriteItems. One function decides
for both, so the property tests of the reference hold for the DynamoDB path too.

Deliberately no I/O and no clock: `now` comes in, and is truncated to milliseconds (what items store) so
a decision computed from items read back equals one computed from memory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from ecrm.loyalty.errors import InconsistentAccount, InsufficientPoints, NotAMember, NotReady, TooManyLots
from ecrm.loyalty.events import (
    Adjust,
    Birthday,
    CampaignGrant,
    Deliver,
    EarnOrder,
    Event,
    Expire,
    Join,
    Redeem,
    Reverse,
    ReviewTier,
    Unlock,
    source_key,
)
from ecrm.loyalty.model import (
    ADJUST,
    BIRTHDAY,
    CAMPAIGN,
    CLOSED,
    EARN,
    EXPIRE,
    LOCKED,
    LOCKED_STATES,
    OPEN,
    ORDER,
    PENDING,
    REDEEM,
    REVERSE,
    SUMMARY_CAP,
    UNLOCK,
    WELCOME,
    AccountState,
    LedgerEntry,
    LineState,
    Lot,
    Part,
    TierUpgrade,
    order_lot_key,
    to_ms,
)
from ecrm.loyalty.rules import (
    BASE,
    GRANT,
    Program,
    Reward,
    add_months,
    compute_earn,
    evaluate_tier,
    month_key,
    rolling_spend,
    window_months,
)
from ecrm.platform.errors import NotFound, ValidationFailed

APPLIED = "applied"
DUPLICATE = "duplicate"
NOOP = "noop"

# A transaction holds 100 items; keep room for the ledger entry, the balance and a few service items
# (e.g. the discount code a redemption issues in the same transaction).
MAX_LOTS_PER_TRANSACTION = 90


@dataclass(frozen=True, slots=True)
class TierChange:
    """A tier change the service turns into an email.

    reason: upgrade | downgrade | upgrade_reversed | reset (the program no longer has the old tier).
    """

    old: str
    new: str
    reason: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an event did. `status` is applied, duplicate (already applied once) or noop (nothing to do,
    `reason` says why). `shortfall` is what a reversal or deduction could not take back (now owed)."""

    status: str
    reason: str = ""
    source: str | None = None
    points: int = 0
    tier_change: TierChange | None = None
    reward: Reward | None = None
    shortfall: int = 0

    @property
    def applied(self) -> bool:
        """True when the event changed the account."""
        return self.status == APPLIED


@dataclass(frozen=True, slots=True)
class Decision:
    """Everything one transaction writes. `expected_version` None means the account is created by it;
    `min_available` is the redemption guard (`available >= cost`) the balance write must also check."""

    outcome: Outcome
    expected_version: int | None = None
    state: AccountState | None = None
    new_lots: tuple[Lot, ...] = ()
    changed_lots: tuple[Lot, ...] = ()
    ledger: LedgerEntry | None = None
    min_available: int | None = None

    @property
    def writes(self) -> bool:
        """True when there is something to write."""
        return self.state is not None


def decide(
    program: Program,
    customer_id: str,
    state: AccountState | None,
    lots: Mapping[str, Lot],
    event: Event,
    now: datetime,
) -> Decision:
    """Apply `event` to a copy of (state, lots) and return what must be written.

    `lots` must hold every lot of the customer that is not CLOSED, plus the lot the event names if it is
    closed (the account Query returns all of them). Raises `NotAMember`, `NotReady` (retry later),
    `InsufficientPoints`, `ValidationFailed`, `NotFound` or `TooManyLots`; never writes anything itself.
    """
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise ValidationFailed("must be a timezone-aware time", "now")
    if state is not None and not isinstance(event, Join):  # a repeated Join needs no lots: it is a duplicate
        _check_consistent(state, lots)
    work = _Work(program, customer_id, state, lots, to_ms(now), source_key(event))
    return _HANDLERS[type(event)](work, event)


def _check_consistent(state: AccountState, lots: Mapping[str, Lot]) -> None:
    """The balance's counters must match the lots passed in, or the read was incomplete."""
    locked = sum(lot.remaining for lot in lots.values() if lot.state in LOCKED_STATES)
    spendable = sum(lot.remaining for lot in lots.values() if lot.state == OPEN)
    if locked != state.locked or spendable != max(state.available, 0):
        raise InconsistentAccount(
            f"customer {state.customer_id}: lots hold {spendable} available / {locked} locked points, the "
            f"balance says {state.available} / {state.locked}; read every LOT# item (paginate) and never "
            "edit balance counters by hand (use an adjustment)"
        )


class _Work:
    """A scratch copy of the account that handlers mutate; `finish` diffs it against the original."""

    def __init__(
        self,
        program: Program,
        customer_id: str,
        state: AccountState | None,
        lots: Mapping[str, Lot],
        now: datetime,
        source: str | None,
    ) -> None:
        self.program = program
        self.customer_id = customer_id
        self.now = now
        self.today = now.date()
        self.source = source
        self.before_state = state
        self.state: AccountState | None = state.clone() if state is not None else None
        self.before_lots = dict(lots)
        self.lots: dict[str, Lot] = {k: v.clone() for k, v in lots.items()}
        self.tier_change: TierChange | None = None
        self.reward: Reward | None = None
        self.shortfall = 0
        self.min_available: int | None = None

    # -- outcomes without writes --

    def noop(self, reason: str) -> Decision:
        return Decision(Outcome(NOOP, reason, self.source))

    def duplicate(self, reason: str = "already applied") -> Decision:
        return Decision(Outcome(DUPLICATE, reason, self.source))

    # -- accessors --

    def member(self) -> AccountState:
        if self.state is None:
            raise NotAMember(f"customer {self.customer_id} has not joined the loyalty program")
        return self.state

    def order_lot(self, order_id: str, placed_at: datetime) -> Lot | Decision:
        """The order's lot, a no-op for orders from before the customer joined, or NotReady."""
        state = self.member()
        lot = self.lots.get(order_lot_key(order_id))
        if lot is not None:
            return lot
        if to_ms(placed_at) < state.joined_at:
            return self.noop("order placed before the customer joined")
        raise NotReady(f"points for order {order_id} are not booked yet; retry later")

    # -- points movements --

    def close(self, lot: Lot) -> None:
        lot.state = CLOSED
        lot.closed_at = self.now

    def fifo(self, exclude: str | None = None) -> list[Lot]:
        """Spendable lots, soonest expiry first (oldest earned first on ties): what spending draws from."""
        spendable = [
            lot
            for lot in self.lots.values()
            if lot.state == OPEN and lot.remaining > 0 and lot.key != exclude
        ]
        return sorted(spendable, key=lambda lot: (lot.expires_on or date.max, lot.earned_at, lot.key))

    def draw(self, amount: int, exclude: str | None = None) -> int:
        """Take up to `amount` from available points, oldest lots first; returns what was taken."""
        state = self.member()
        taken = 0
        for lot in self.fifo(exclude):
            if taken == amount:
                break
            take = min(lot.remaining, amount - taken)
            lot.remaining -= take
            taken += take
            if lot.remaining == 0:
                self.close(lot)
        state.available -= taken
        return taken

    def credit(self, lot: Lot, amount: int) -> int:
        """Make `amount` of an OPEN lot available; a debt is repaid first, out of this lot. Returns the repaid
        amount."""
        state = self.member()
        repaid = min(amount, max(-state.available, 0))
        state.available += amount
        lot.remaining -= repaid
        if lot.remaining == 0:
            self.close(lot)
        return repaid

    def open_lot(self, key: str, kind: str, points: int) -> Lot:
        """A new, immediately spendable lot (bonus, grant, positive adjustment)."""
        state = self.member()
        lot = Lot(
            key=key,
            kind=kind,
            earned=points,
            remaining=points,
            state=OPEN,
            earned_at=self.now,
            expires_on=self.expiry_date(),
        )
        self.lots[key] = lot
        state.lifetime_earned += points
        self.credit(lot, points)
        return lot

    def expiry_date(self) -> date:
        return add_months(self.now, self.program.expiry_months).date()

    def unlock(self, lot: Lot) -> Decision:
        """LOCKED/PENDING -> OPEN: the return window is over. Expiry counts from now (see docs)."""
        state = self.member()
        amount = lot.remaining
        state.locked -= amount
        lot.state = OPEN
        lot.expires_on = self.expiry_date()
        repaid = self.credit(lot, amount)
        self.source = f"{lot.key}#{UNLOCK}"
        return self.finish(
            UNLOCK, {"lot": lot.key, "order_id": lot.order_id, "unlocked": amount, "repaid": repaid}
        )

    # -- tiers --

    def review_tier(self, trigger_lot: str | None) -> None:
        """Apply the tier rule (`rules.evaluate_tier`); an upgrade caused by an order remembers it."""
        state = self.member()
        decision = evaluate_tier(self.program, state.tier, state.tier_since.date(), state.spend, self.today)
        if decision.tier != state.tier:
            old_rank = self.program.tier_rank(state.tier)
            new_rank = self.program.tier_rank(decision.tier)
            reason = "reset" if old_rank < 0 else ("upgrade" if new_rank > old_rank else "downgrade")
            first = self.tier_change  # an undone upgrade in the same event: report the whole move
            self.tier_change = TierChange(
                first.old if first else state.tier, decision.tier, first.reason if first else reason
            )
            state.tier_upgrade = (
                TierUpgrade(trigger_lot, state.tier, state.tier_since)
                if reason == "upgrade" and trigger_lot is not None
                else None
            )
            state.tier = decision.tier
            state.tier_since = self.now
        state.tier_review_on = decision.review_on

    def undo_upgrade_if_caused_by(self, lot: Lot) -> None:
        """Reversing the order whose earning caused the latest upgrade undoes it when the spend that is left
        no longer reaches the tier: back to the higher of the previous tier and what the spend reaches."""
        state = self.member()
        upgrade = state.tier_upgrade
        if upgrade is None or upgrade.lot_key != lot.key:
            return
        rolling = rolling_spend(state.spend, self.today, self.program.tier_window_months)
        current = self.program.find_tier(state.tier)
        if current is not None and rolling >= current.min_spend_minor:
            return
        reached = self.program.tier_for_spend(rolling)
        previous_rank = self.program.tier_rank(upgrade.from_tier)
        new = upgrade.from_tier if previous_rank >= self.program.tier_rank(reached.code) else reached.code
        state.tier_upgrade = None
        if new == state.tier:
            return
        self.tier_change = TierChange(state.tier, new, "upgrade_reversed")
        # Back to the previous tier as it was held before (same hold); a tier in between starts afresh.
        state.tier_since = upgrade.from_since if new == upgrade.from_tier else self.now
        state.tier = new

    # -- the diff --

    def finish(self, kind: str | None, detail: Mapping[str, Any]) -> Decision:
        state = self.member()
        self._summarise(state)
        before = self.before_state
        new = [lot for key, lot in self.lots.items() if key not in self.before_lots]
        changed = [
            lot for key, lot in self.lots.items() if key in self.before_lots and lot != self.before_lots[key]
        ]
        if kind is None and before is not None and not new and not changed and state == before:
            return self.noop("nothing to change")
        if len(new) + len(changed) > MAX_LOTS_PER_TRANSACTION:
            touched = len(new) + len(changed)
            raise TooManyLots(
                f"this would touch {touched} point lots; at most {MAX_LOTS_PER_TRANSACTION} fit"
                " in one transaction (redeem a smaller reward, or ask staff to consolidate with adjustments)"
            )
        available_delta = state.available - (before.available if before else 0)
        locked_delta = state.locked - (before.locked if before else 0)
        state.version = (before.version if before else 0) + 1
        state.updated_at = self.now
        ledger = None
        if kind is not None and self.source is not None:
            lot_deltas = {}
            for key, lot in self.lots.items():
                prior = self.before_lots[key].remaining if key in self.before_lots else 0
                if lot.remaining != prior:
                    lot_deltas[key] = lot.remaining - prior
            ledger = LedgerEntry(
                source=self.source,
                kind=kind,
                points=available_delta + locked_delta,
                available_delta=available_delta,
                locked_delta=locked_delta,
                balance_after=state.total,
                at=self.now,
                lots=lot_deltas,
                detail={k: v for k, v in detail.items() if v is not None},
            )
        outcome = Outcome(
            status=APPLIED,
            source=self.source if ledger else None,
            points=available_delta + locked_delta,
            tier_change=self.tier_change,
            reward=self.reward,
            shortfall=self.shortfall,
        )
        return Decision(
            outcome=outcome,
            expected_version=before.version if before else None,
            state=state,
            new_lots=tuple(new),
            changed_lots=tuple(changed),
            ledger=ledger,
            min_available=self.min_available,
        )

    def _summarise(self, state: AccountState) -> None:
        """Rewrite the balance item's summaries so the balance page needs no other read."""
        lots = self.lots.values()
        state.awaiting_delivery = sum(lot.remaining for lot in lots if lot.state == PENDING)
        state.unlocks = _by_day(
            (lot.lock_until.date(), lot.remaining) for lot in lots if lot.state == LOCKED and lot.lock_until
        )
        state.expiring = _by_day(
            (lot.expires_on, lot.remaining)
            for lot in lots
            if lot.state == OPEN and lot.remaining > 0 and lot.expires_on
        )
        window = set(window_months(self.today, self.program.tier_window_months))
        state.spend = {m: v for m, v in sorted(state.spend.items()) if m in window and v > 0}
        if state.available < 0:
            state.debt_since = state.debt_since or self.now
        else:
            state.debt_since = None


def _by_day(entries: Any) -> list[tuple[date, int]]:
    totals: dict[date, int] = {}
    for day, points in entries:
        totals[day] = totals.get(day, 0) + points
    return sorted(totals.items())[:SUMMARY_CAP]


# --- handlers --------------------------------------------------------------------------------------------


def _join(work: _Work, event: Join) -> Decision:
    if work.state is not None:
        return work.duplicate("already a member")
    base = work.program.base_tier
    work.state = AccountState(
        customer_id=work.customer_id, version=0, joined_at=work.now, tier=base.code, tier_since=work.now
    )
    if work.program.welcome_bonus > 0:
        work.open_lot(WELCOME, WELCOME, work.program.welcome_bonus)
        return work.finish(WELCOME, {})
    return work.finish(None, {})


def _earn(work: _Work, event: EarnOrder) -> Decision:
    state = work.member()
    order = event.order
    key = order_lot_key(order.order_id)
    if key in work.lots:
        return work.duplicate()
    placed_at = to_ms(order.placed_at)
    if placed_at < state.joined_at:
        return work.noop("order placed before the customer joined")
    lines = compute_earn(work.program, order, state.tier, work.now, segments=event.segments)
    points = sum(line.points for line in lines)
    spend = sum(line.basis_minor for line in lines if line.kind == BASE)
    month = month_key(min(placed_at, work.now).date())
    lot = Lot(
        key=key,
        kind=ORDER,
        earned=points,
        remaining=points,
        state=PENDING,
        earned_at=work.now,
        order_id=order.order_id,
        spend_month=month,
        parts=[
            Part(line.line_id, line.kind, line.points, 0, line.campaign_id, line.depends_on)
            for line in lines
            if line.points > 0
        ],
        lines={
            line.line_id: LineState(line.quantity, line.basis_minor)
            for line in lines
            if line.kind == BASE and line.line_id is not None
        },
    )
    if points == 0:
        # Nothing to lock: the lot only remembers the lines' qualifying spend for later returns.
        work.close(lot)
    work.lots[key] = lot
    state.locked += points
    state.lifetime_earned += points
    if spend:
        state.spend[month] = state.spend.get(month, 0) + spend
    work.review_tier(trigger_lot=key)
    note = None
    if points == 0 and spend:
        note = "no points: below the minimum order value"
    return work.finish(
        EARN,
        {
            "order_id": order.order_id,
            "spend_minor": spend,
            "currency": order.currency,
            "lines": [
                {"line": line.line_id, "kind": line.kind, "points": line.points, "campaign": line.campaign_id}
                for line in lines
                if line.points > 0
            ],
            "note": note,
        },
    )


def _deliver(work: _Work, event: Deliver) -> Decision:
    lot = work.order_lot(event.order_id, event.placed_at)
    if isinstance(lot, Decision):
        return lot
    if lot.state != PENDING:
        return work.noop("already delivered" if lot.state != CLOSED else "no points left on this order")
    delivered_at = min(to_ms(event.delivered_at), work.now)
    lot.lock_until = delivered_at + timedelta(days=work.program.return_window_days)
    if lot.lock_until <= work.now:
        # A late delivery event (or no return window): release now rather than wait for a job that has run.
        return work.unlock(lot)
    lot.state = LOCKED
    return work.finish(None, {})


def _unlock(work: _Work, event: Unlock) -> Decision:
    work.member()
    lot = work.lots.get(event.lot_key)
    if lot is None:
        return work.noop("unknown lot")
    if lot.state != LOCKED:
        return work.noop("not locked")
    if lot.lock_until is None or lot.lock_until > work.now:
        return work.noop("return window not over")
    return work.unlock(lot)


def _reverse(work: _Work, event: Reverse) -> Decision:
    state = work.member()
    lot = work.order_lot(event.order_id, event.placed_at)
    if isinstance(lot, Decision):
        return lot
    if event.reversal_id in lot.reversals:
        return work.duplicate()
    requested = (
        dict(event.lines)
        if event.lines is not None
        else {line_id: line.quantity for line_id, line in lot.lines.items()}
    )
    ignored = sorted(line_id for line_id in requested if line_id not in lot.lines)
    returned_now: dict[str, int] = {}
    for line_id, qty in requested.items():
        line = lot.lines.get(line_id)
        if line is None:
            continue  # an excluded SKU earned nothing and counted no spend: nothing to take back
        new_returned = min(line.quantity, line.returned + qty)
        if new_returned > line.returned:
            returned_now[line_id] = new_returned - line.returned
            line.returned = new_returned

    owed = 0
    by_line: dict[str, int] = {}
    for part in lot.parts:
        if part.line_id is not None:
            line = lot.lines[part.line_id]
            # Keep floor(points * kept / quantity): the customer keeps the rounded-down share of what they
            # kept, and a line returned in several steps is clawed back to exactly its points.
            target = part.points - part.points * (line.quantity - line.returned) // line.quantity
        else:
            all_back = all(lot.lines[d].returned >= lot.lines[d].quantity for d in part.depends_on)
            target = part.points if all_back else part.clawed
        delta = target - part.clawed
        part.clawed = target
        if delta:
            owed += delta
            by_line[part.line_id or "ORDER"] = by_line.get(part.line_id or "ORDER", 0) + delta
    spend_back = 0
    for line in lot.lines.values():
        target = line.spend_minor - line.spend_minor * (line.quantity - line.returned) // line.quantity
        spend_back += target - line.spend_clawed
        line.spend_clawed = target

    lot.reversals.append(event.reversal_id)
    lot.clawed += owed
    from_lot = min(owed, lot.remaining)
    lot.remaining -= from_lot
    if lot.state in LOCKED_STATES:
        state.locked -= from_lot
    else:
        state.available -= from_lot
    rest = owed - from_lot
    if rest:
        # Already spent: take it from other available points, and what is still missing becomes a debt.
        taken = work.draw(rest, exclude=lot.key)
        work.shortfall = rest - taken
        state.available -= work.shortfall
    if lot.remaining == 0 and lot.state != CLOSED:
        work.close(lot)
    state.lifetime_earned -= owed
    if spend_back and lot.spend_month in state.spend:
        state.spend[lot.spend_month] = max(state.spend[lot.spend_month] - spend_back, 0)
    work.undo_upgrade_if_caused_by(lot)
    # Less spend can bring the review date forward, even to today: apply the rule now rather than leave a
    # review date a daily job has already passed.
    work.review_tier(trigger_lot=None)
    return work.finish(
        REVERSE,
        {
            "order_id": event.order_id,
            "reversal_id": event.reversal_id,
            "whole_order": event.lines is None,
            "lines": [{"line": k, "returned": v} for k, v in sorted(returned_now.items())],
            "clawed": [{"line": k, "points": v} for k, v in sorted(by_line.items())],
            "ignored_lines": ignored or None,
            "spend_minor": spend_back,
            "shortfall": work.shortfall or None,
        },
    )


def _redeem(work: _Work, event: Redeem) -> Decision:
    state = work.member()
    reward = work.program.reward(event.reward_id)
    if reward is None or not reward.active:
        raise NotFound(f"no active reward {event.reward_id}", "reward_id")
    if state.available < reward.points:
        detail = (
            f"the balance is negative ({-state.available} points owed after a return); "
            "new points repay it first"
            if state.available < 0
            else f"{reward.points} points needed, {state.available} available"
        )
        raise InsufficientPoints(detail, "reward_id", available=max(state.available, 0), cost=reward.points)
    work.draw(reward.points)
    state.lifetime_redeemed += reward.points
    work.min_available = reward.points
    work.reward = reward
    return work.finish(
        REDEEM,
        {
            "redemption_id": event.redemption_id,
            "reward_id": reward.reward_id,
            "reward_name": reward.name,
            "value_minor": reward.value_minor,
            "currency": reward.currency,
        },
    )


def _expire(work: _Work, event: Expire) -> Decision:
    state = work.member()
    if event.run_date > work.today:
        raise ValidationFailed("an expiry run cannot be for a future day", "run_date")
    lot = work.lots.get(event.lot_key)
    if lot is None:
        return work.noop("unknown lot")
    if lot.state != OPEN or lot.remaining == 0:
        return work.noop("nothing left to expire")
    if lot.expires_on is None or lot.expires_on > event.run_date:
        return work.noop("not due")
    amount = lot.remaining
    lot.remaining = 0
    work.close(lot)
    state.available -= amount
    state.lifetime_expired += amount
    return work.finish(
        EXPIRE,
        {"lot": lot.key, "expires_on": lot.expires_on.isoformat(), "run_date": event.run_date.isoformat()},
    )


def _adjust(work: _Work, event: Adjust) -> Decision:
    state = work.member()
    limit = work.program.max_adjustment
    if abs(event.points) > limit:
        raise ValidationFailed(f"must be between -{limit} and {limit}", "points")
    if event.points > 0:
        key = f"{ADJUST}#{event.adjustment_id}"
        if key in work.lots:
            return work.duplicate()
        work.open_lot(key, ADJUST, event.points)
    else:
        wanted = -event.points
        taken = work.draw(min(wanted, max(state.available, 0)))
        # Staff may deduct more than is available (fraud, goodwill reversed): the rest is owed, visibly.
        work.shortfall = wanted - taken
        state.available -= work.shortfall
        state.lifetime_deducted += wanted
    return work.finish(
        ADJUST,
        {
            "adjustment_id": event.adjustment_id,
            "reason": event.reason,
            "actor": event.actor,
            "shortfall": work.shortfall or None,
        },
    )


def _birthday(work: _Work, event: Birthday) -> Decision:
    work.member()
    if event.year > work.today.year:
        raise ValidationFailed("cannot be in the future", "year")
    if work.program.birthday_bonus == 0:
        return work.noop("the program has no birthday bonus")
    key = f"{BIRTHDAY}#{event.year}"
    if key in work.lots:
        return work.duplicate()
    work.open_lot(key, BIRTHDAY, work.program.birthday_bonus)
    return work.finish(BIRTHDAY, {"year": event.year})


def _grant(work: _Work, event: CampaignGrant) -> Decision:
    work.member()
    campaign = work.program.campaign(event.campaign_id)
    if campaign is None or campaign.kind != GRANT:
        raise NotFound(f"no grant campaign {event.campaign_id}", "campaign_id")
    if not campaign.active_at(work.now):
        return work.noop("campaign not running")
    if not campaign.matches_segments(event.segments):
        return work.noop("not in the campaign's segments")
    key = f"{CAMPAIGN}#{campaign.campaign_id}"
    if key in work.lots:
        return work.duplicate()
    work.open_lot(key, CAMPAIGN, campaign.points)
    return work.finish(CAMPAIGN, {"campaign_id": campaign.campaign_id, "name": campaign.name})


def _review(work: _Work, event: ReviewTier) -> Decision:
    work.member()
    work.review_tier(trigger_lot=None)
    return work.finish(None, {})


_HANDLERS: dict[type, Callable[[_Work, Any], Decision]] = {
    Join: _join,
    EarnOrder: _earn,
    Deliver: _deliver,
    Unlock: _unlock,
    Reverse: _reverse,
    Redeem: _redeem,
    Expire: _expire,
    Adjust: _adjust,
    Birthday: _birthday,
    CampaignGrant: _grant,
    ReviewTier: _review,
}
