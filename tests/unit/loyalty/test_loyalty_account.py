"""Example histories of one account, on the default program (infra/seed/loyalty.json): each test reads as a
policy statement from docs/loyalty.md."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from ecrm.loyalty.account import Account
from ecrm.loyalty.errors import InsufficientPoints, NotAMember, NotReady
from ecrm.loyalty.events import (
    Adjust,
    Birthday,
    CampaignGrant,
    Deliver,
    EarnOrder,
    Expire,
    Join,
    Redeem,
    Reverse,
    ReviewTier,
    Unlock,
)
from ecrm.loyalty.model import CLOSED, LOCKED, OPEN, PENDING, BalanceView, customer_pk, view
from ecrm.loyalty.notices import expiry_warnings, tier_change_from_images
from ecrm.loyalty.rules import Order, OrderLine, parse_program
from ecrm.platform.errors import NotFound, ValidationFailed

SEED = Path(__file__).resolve().parents[3] / "infra" / "seed" / "loyalty.json"
PROGRAM = parse_program(json.loads(SEED.read_text()))
# Outside every seed campaign, so the base rules show plainly.
T0 = datetime(2027, 6, 1, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def order(order_id: str, *lines: tuple[str, int, int], at: datetime = T0, shipping: int = 0) -> Order:
    """lines: (sku, quantity, line amount)."""
    return Order(
        order_id,
        "EUR",
        at,
        tuple(OrderLine(str(i), s, q, a, "home") for i, (s, q, a) in enumerate(lines)),
        shipping,
    )


def member(at: datetime = T0) -> Account:
    account = Account(PROGRAM, "c1")
    account.apply(Join(), at)
    return account


def page(account: Account, now: datetime) -> BalanceView:
    return view(PROGRAM, account.items()[(customer_pk("c1"), "LOYALTY")], now)


def test_joining_credits_the_welcome_bonus_once() -> None:
    account = member()
    assert account.apply(Join(), T0 + DAY).status == "duplicate"
    assert account.state.available == PROGRAM.welcome_bonus == 100
    assert [e.kind for e in account.ledger.values()] == ["WELCOME"]


def test_non_members_earn_nothing_and_events_say_so() -> None:
    account = Account(PROGRAM, "c1")
    with pytest.raises(NotAMember):
        account.apply(EarnOrder(order("O1", ("MUG-LOGO", 1, 5000))), T0)


def test_points_stay_locked_until_the_return_window_after_delivery_has_passed() -> None:
    account = member()
    account.apply(EarnOrder(order("O1", ("MUG-LOGO", 2, 12000))), T0)
    assert account.lots["ORDER#O1"].state == PENDING
    assert (account.state.available, account.state.locked) == (100, 120)

    # Delivered 10 days after the order: the 30-day window runs from delivery, not from the order date.
    delivered = T0 + 10 * DAY
    account.apply(Deliver("O1", T0, delivered), delivered + DAY)
    lot = account.lots["ORDER#O1"]
    assert lot.state == LOCKED and lot.lock_until == delivered + 30 * DAY
    assert page(account, delivered + DAY).next_unlock_on == (delivered + 30 * DAY).date()

    assert account.apply(Unlock("ORDER#O1"), delivered + 29 * DAY).reason == "return window not over"
    assert account.apply(Unlock("ORDER#O1"), delivered + 30 * DAY).applied
    assert (account.state.available, account.state.locked) == (220, 0)
    # Expiry counts from the moment the points became spendable.
    assert account.lots["ORDER#O1"].expires_on == date(2028, 7, 11)


def test_a_late_delivery_event_unlocks_at_once() -> None:
    account = member()
    account.apply(EarnOrder(order("O1", ("MUG-LOGO", 1, 5000))), T0)
    outcome = account.apply(Deliver("O1", T0, T0 + DAY), T0 + 40 * DAY)
    assert outcome.source == "ORDER#O1#UNLOCK"
    assert account.lots["ORDER#O1"].state == OPEN


def test_events_for_orders_not_booked_yet_are_retried_but_pre_membership_orders_are_ignored() -> None:
    account = member()
    with pytest.raises(NotReady):
        account.apply(Deliver("O9", T0, T0 + DAY), T0 + DAY)
    before = T0 - 30 * DAY
    assert (
        account.apply(Reverse("O8", "CANCEL", before), T0).reason == "order placed before the customer joined"
    )
    assert account.apply(EarnOrder(order("O8", ("MUG-LOGO", 1, 5000), at=before)), T0).status == "noop"


def test_partial_return_claws_back_exactly_the_returned_lines_points() -> None:
    account = member()
    account.apply(EarnOrder(order("O1", ("MUG-LOGO", 3, 3100), ("CARE-KIT", 1, 2450))), T0)
    parts = {p.line_id: p.points for p in account.lots["ORDER#O1"].parts}
    assert parts == {"0": 31, "1": 24}
    # One mug of three: the customer keeps floor(31 * 2 / 3) = 20, so 11 come back.
    assert account.apply(Reverse("O1", "RMA-1", T0, {"0": 1}), T0 + DAY).points == -11
    # The other two, later: the line is now clawed back to exactly its 31 points.
    assert account.apply(Reverse("O1", "RMA-2", T0, {"0": 5}), T0 + 2 * DAY).points == -20
    assert account.apply(Reverse("O1", "RMA-2", T0, {"0": 5}), T0 + 3 * DAY).status == "duplicate"
    assert account.state.locked == 24
    # Cancelling what is left claws back the rest, never more than was earned.
    assert account.apply(Reverse("O1", "CANCEL", T0), T0 + 3 * DAY).points == -24
    assert account.lots["ORDER#O1"].state == CLOSED


def test_reversal_of_spent_points_takes_other_points_then_leaves_a_visible_debt() -> None:
    account = member()  # 100 welcome points, expiring first
    account.apply(EarnOrder(order("O1", ("MUG-LOGO", 1, 60000))), T0)  # 600 points
    account.apply(Deliver("O1", T0, T0), T0 + 31 * DAY)
    account.apply(Birthday(2027), T0 + 32 * DAY)  # 250 points, expiring after O1's
    account.apply(Redeem("R1", "EUR5"), T0 + 33 * DAY)  # 500: the 100 welcome, then 400 of O1
    assert account.lots["ORDER#O1"].remaining == 200

    # A late return of O1 (staff accepted it): 200 come from O1's lot, 250 from the birthday lot,
    # the last 150 cannot be taken back and become a debt.
    outcome = account.apply(Reverse("O1", "RMA-LATE", T0), T0 + 40 * DAY)
    assert (outcome.points, outcome.shortfall) == (-600, 150)
    assert account.lots["BIRTHDAY#2027"].state == CLOSED
    assert account.state.available == -150
    assert account.state.debt_since == T0 + 40 * DAY
    shown = page(account, T0 + 40 * DAY)
    assert (shown.available, shown.owed, shown.can_redeem) == (0, 150, False)
    # Staff find it on the negative-balance index.
    item = account.items()[(customer_pk("c1"), "LOYALTY")]
    assert item["gsi1pk"] == "LOYALTY#NEGATIVE"

    with pytest.raises(InsufficientPoints, match="negative"):
        account.apply(Redeem("R2", "EUR5"), T0 + 41 * DAY)

    # New spendable points repay the debt first.
    account.apply(Adjust("A1", 200, "goodwill after complaint", "staff@shop"), T0 + 42 * DAY)
    assert account.state.available == 50
    assert account.lots["ADJUST#A1"].remaining == 50
    assert account.state.debt_since is None


def test_redemption_spends_oldest_lots_first_and_never_goes_below_zero() -> None:
    account = member()
    account.apply(Adjust("A1", 300, "migration from old shop", "staff"), T0 + DAY)
    account.apply(Adjust("A2", 300, "migration from old shop", "staff"), T0 + 2 * DAY)
    account.apply(Redeem("R1", "EUR5"), T0 + 3 * DAY)
    remaining = {k: lot.remaining for k, lot in account.lots.items()}
    assert remaining == {"WELCOME": 0, "ADJUST#A1": 0, "ADJUST#A2": 200}
    entry = account.ledger["REDEEM#R1"]
    assert entry.lots == {"WELCOME": -100, "ADJUST#A1": -300, "ADJUST#A2": -100}
    assert entry.detail["reward_id"] == "EUR5"
    with pytest.raises(InsufficientPoints):
        account.apply(Redeem("R2", "EUR5"), T0 + 3 * DAY)
    assert account.state.available == 200
    with pytest.raises(NotFound):
        account.apply(Redeem("R3", "NOPE"), T0 + 3 * DAY)


def test_expiry_run_expires_what_is_due_and_warns_before() -> None:
    account = member()
    welcome = account.lots["WELCOME"]
    assert welcome.expires_on == date(2028, 6, 1)
    account.apply(Adjust("A1", 450, "test", "staff"), T0 + 10 * DAY)
    account.apply(Redeem("R1", "EUR5"), T0 + 11 * DAY)  # spends the welcome lot and 400 of A1
    # The warning run looks `warning_days` ahead and only mentions points still there: the welcome lot was
    # spent, so its expiry day warns nobody.
    lots = [doc for (_, sk), doc in account.items().items() if sk.startswith("LOT#")]
    assert expiry_warnings(lots, date(2028, 6, 1)) == []
    assert account.lots["ADJUST#A1"].expires_on == date(2028, 6, 11)
    warnings = expiry_warnings(lots, date(2028, 6, 11))
    assert [(w.customer_id, w.points) for w in warnings] == [("c1", 50)]
    assert warnings[0].dedupe_key == "loyalty-expiry#c1#2028-06-11"
    assert page(account, datetime(2028, 5, 20, tzinfo=UTC)).expiring_soon_points == 50

    assert account.apply(
        Expire(date(2028, 6, 10), "ADJUST#A1"), datetime(2028, 6, 10, tzinfo=UTC)
    ).reason == ("not due")
    outcome = account.apply(Expire(date(2028, 6, 11), "ADJUST#A1"), datetime(2028, 6, 11, 1, tzinfo=UTC))
    assert outcome.points == -50
    assert account.state.lifetime_expired == 50
    # The same run again, or a catch-up run of a later day, expires nothing more.
    assert account.apply(
        Expire(date(2028, 6, 11), "ADJUST#A1"), datetime(2028, 6, 12, tzinfo=UTC)
    ).status == ("duplicate")
    assert account.apply(
        Expire(date(2028, 6, 12), "ADJUST#A1"), datetime(2028, 6, 12, tzinfo=UTC)
    ).status == ("noop")
    with pytest.raises(ValidationFailed):
        account.apply(Expire(date(2029, 1, 1), "ADJUST#A1"), datetime(2028, 6, 12, tzinfo=UTC))


def test_adjustments_need_a_reason_and_stay_within_bounds() -> None:
    account = member()
    with pytest.raises(ValidationFailed) as err:
        Adjust("A1", 10, "  ", "staff")
    assert err.value.field == "reason"
    with pytest.raises(ValidationFailed):
        Adjust("A1", 0, "nothing", "staff")
    with pytest.raises(ValidationFailed) as err:
        account.apply(Adjust("A1", PROGRAM.max_adjustment + 1, "too generous", "staff"), T0)
    assert err.value.field == "points"
    outcome = account.apply(Adjust("A2", -30, "duplicate account merge", "staff@shop"), T0)
    assert outcome.points == -30
    assert account.ledger["ADJUST#A2"].detail == {
        "adjustment_id": "A2",
        "reason": "duplicate account merge",
        "actor": "staff@shop",
    }
    assert account.apply(Adjust("A2", -30, "duplicate account merge", "staff@shop"), T0).status == "duplicate"


def test_tiers_upgrade_on_earning_and_downgrade_only_after_the_hold() -> None:
    account = member()
    outcome = account.apply(EarnOrder(order("O1", ("MUG-LOGO", 1, 60000))), T0)
    assert outcome.tier_change is not None and outcome.tier_change.new == "SILVER"
    assert account.state.tier_review_on == date(2028, 6, 1)
    # The upgrade applies from the next order: O2 earns at 125%.
    account.apply(EarnOrder(order("O2", ("MUG-LOGO", 1, 10000), at=T0 + DAY)), T0 + DAY)
    assert account.ledger["ORDER#O2#EARN"].points == 125
    # The tier is held a year from the upgrade, and June 2027's spend leaves the rolling window on
    # 1 June 2028: that is the review date, and a review before it changes nothing...
    assert account.state.tier_review_on == date(2028, 6, 1)
    assert not account.apply(ReviewTier(), datetime(2028, 5, 31, tzinfo=UTC)).tier_change
    assert account.state.tier_review_on == date(2028, 6, 1)
    # ...on it, the member drops to what the rolling spend reaches.
    outcome = account.apply(ReviewTier(), datetime(2028, 6, 1, 2, tzinfo=UTC))
    assert outcome.tier_change.reason == "downgrade" and account.state.tier == "MEMBER"
    assert account.state.tier_review_on is None


def test_spending_more_moves_the_review_date_to_when_the_spend_would_lapse() -> None:
    account = member()
    account.apply(EarnOrder(order("O1", ("MUG-LOGO", 1, 50000))), T0)
    assert account.state.tier_review_on == date(2028, 6, 1)  # hold and lapse coincide
    # Another 50000 in March 2028 keeps the rolling spend above 50000 until March 2029.
    march = datetime(2028, 3, 10, tzinfo=UTC)
    account.apply(EarnOrder(order("O2", ("MUG-LOGO", 1, 50000), at=march)), march)
    assert (account.state.tier, account.state.tier_review_on) == ("SILVER", date(2029, 3, 1))
    assert account.apply(ReviewTier(), datetime(2028, 6, 1, tzinfo=UTC)).tier_change is None
    assert account.state.tier_review_on == date(2029, 3, 1)
    assert account.state.spend == {"2028-03": 50000}  # June 2027 has left the window and the item


def test_a_downgrade_lands_on_the_tier_the_spend_reaches_and_holds_it() -> None:
    account = member()
    account.apply(EarnOrder(order("O1", ("MUG-LOGO", 1, 150000))), T0)
    assert account.state.tier == "GOLD"
    later = datetime(2028, 2, 1, tzinfo=UTC)
    account.apply(EarnOrder(order("O2", ("MUG-LOGO", 1, 60000), at=later)), later)
    outcome = account.apply(ReviewTier(), datetime(2028, 6, 1, tzinfo=UTC))
    assert (outcome.tier_change.old, outcome.tier_change.new) == ("GOLD", "SILVER")
    # Silver is now held a year from the downgrade, although February's spend lapses in February 2029.
    assert account.state.tier_review_on == date(2029, 6, 1)


def test_returning_the_order_that_caused_an_upgrade_undoes_it() -> None:
    account = member()
    account.apply(EarnOrder(order("O1", ("MUG-LOGO", 1, 20000))), T0)
    account.apply(EarnOrder(order("O2", ("MUG-LOGO", 1, 40000))), T0 + DAY)
    assert account.state.tier == "SILVER"
    assert account.state.spend == {"2027-06": 60000}
    outcome = account.apply(Reverse("O2", "CANCEL", T0 + DAY), T0 + 2 * DAY)
    assert outcome.tier_change.reason == "upgrade_reversed"
    assert (account.state.tier, account.state.tier_review_on) == ("MEMBER", None)
    assert account.state.spend == {"2027-06": 20000}


def test_tier_change_email_comes_from_the_stream_images() -> None:
    old = {"type": "LOYALTY", "tier": "MEMBER"}
    new = {"type": "LOYALTY", "tier": "GOLD"}
    change = tier_change_from_images(PROGRAM, old, new)
    assert change is not None and (change.old, change.new, change.reason) == ("MEMBER", "GOLD", "upgrade")
    assert tier_change_from_images(PROGRAM, new, new) is None


def test_birthday_and_grant_bonuses_apply_once() -> None:
    account = member()
    assert account.apply(Birthday(2027), T0).points == 250
    assert account.apply(Birthday(2027), T0 + DAY).status == "duplicate"
    with pytest.raises(NotFound):
        account.apply(CampaignGrant("WINTER-APPAREL-2026"), T0)  # a multiplier campaign grants nothing


def test_the_balance_page_needs_only_the_balance_item() -> None:
    account = member()
    account.apply(EarnOrder(order("O1", ("MUG-LOGO", 1, 20000))), T0)
    shown = page(account, T0)
    assert (shown.available, shown.locked, shown.awaiting_delivery, shown.total) == (100, 200, 200, 300)
    assert (shown.tier, shown.next_tier, shown.next_tier_missing_minor) == ("MEMBER", "SILVER", 30000)
    assert shown.next_expiry_on == date(2028, 6, 1) and shown.next_expiry_points == 100
    assert shown.to_dict()["next_expiry_on"] == "2028-06-01"
    assert view(PROGRAM, None, T0).member is False
