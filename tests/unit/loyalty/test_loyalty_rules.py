"""Program data parsing (console-edited, so validated with field paths) and the earning computation."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecrm.loyalty.rules import (
    BASE,
    CAMPAIGN,
    SHIPPING_LINE,
    Order,
    OrderLine,
    Program,
    add_months,
    allocate_discount,
    compute_earn,
    evaluate_tier,
    lapse_date,
    parse_program,
    rolling_spend,
    window_months,
)
from ecrm.platform import ddb
from ecrm.platform.errors import ValidationFailed

SEED_DOC: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[3] / "infra" / "seed" / "loyalty.json").read_text()
)
PROGRAM = parse_program(SEED_DOC)
QUIET = datetime(2027, 6, 1, tzinfo=UTC)  # no seed campaign runs then


def program_with(**changes: Any) -> Program:
    """The seed program with dotted-path changes (`earning.min_order_minor=0`)."""
    doc = copy.deepcopy(SEED_DOC)
    for path, value in changes.items():
        node = doc
        *parents, last = path.split("__")
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[last] = value
    return parse_program(doc)


def one_line_order(
    sku: str,
    qty: int,
    amount: int,
    *,
    category: str | None = None,
    at: datetime = QUIET,
    shipping: int = 0,
    discount: int = 0,
) -> Order:
    return Order("O1", "EUR", at, (OrderLine("0", sku, qty, amount, category),), shipping, discount)


# --- the seed program ------------------------------------------------------------------------------------


def test_seed_program_is_the_documented_default() -> None:
    assert (PROGRAM.currency, PROGRAM.points_per_unit, PROGRAM.unit_minor) == ("EUR", 1, 100)
    assert [t.code for t in PROGRAM.tiers] == ["MEMBER", "SILVER", "GOLD"]
    assert (PROGRAM.tier_window_months, PROGRAM.return_window_days) == (12, 30)
    assert (PROGRAM.expiry_months, PROGRAM.expiry_warning_days) == (12, 30)
    assert PROGRAM.exclude_shipping and PROGRAM.is_excluded("GIFT-CARD-50")
    assert {r.reward_id: (r.points, r.value_minor) for r in PROGRAM.rewards} == {
        "EUR5": (500, 500),
        "EUR10": (950, 1000),
        "EUR20": (1800, 2000),
    }
    assert {c.kind for c in PROGRAM.campaigns} == {"multiplier", "fixed"}


def test_program_survives_a_round_trip_through_dynamodb() -> None:
    # The console stores numbers as N; the deserialiser gives Decimals, which the parser accepts.
    from boto3.dynamodb.types import TypeDeserializer

    item = ddb.to_item(SEED_DOC)
    raw = {k: TypeDeserializer().deserialize(v) for k, v in item.items()}
    assert isinstance(raw["earning"]["unit_minor"], Decimal)
    assert parse_program(raw) == PROGRAM


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"earning__mutliplier": 2}, "earning.mutliplier"),
        ({"earning__points_per_unit": 1.5}, "earning.points_per_unit"),
        ({"earning__points_per_unit": Decimal("1.5")}, "earning.points_per_unit"),
        ({"earning__points_per_unit": True}, "earning.points_per_unit"),
        ({"earning__unit_minor": 0}, "earning.unit_minor"),
        ({"earning__excluded_skus": ["BAD SKU"]}, "earning.excluded_skus.0"),
        ({"earning__exclude_shipping": "yes"}, "earning.exclude_shipping"),
        ({"lock__return_window_days": -1}, "lock.return_window_days"),
        ({"tiers__levels__0__min_spend_minor": 100}, "tiers.levels.0.min_spend_minor"),
        ({"tiers__levels__2__min_spend_minor": 50000}, "tiers.levels.2.min_spend_minor"),
        ({"tiers__levels__1__code": "MEMBER"}, "tiers.levels.1.code"),
        ({"tiers__levels__1__code": "silver"}, "tiers.levels.1.code"),
        ({"campaigns__0__ends_at": "2026-11-30T00:00:00Z"}, "campaigns.0.ends_at"),
        ({"campaigns__0__starts_at": "next monday"}, "campaigns.0.starts_at"),
        ({"campaigns__0__kind": "double"}, "campaigns.0.kind"),
        ({"campaigns__0__multiplier_percent": 100}, "campaigns.0.multiplier_percent"),
        ({"campaigns__0__per": "order"}, "campaigns.0.per"),
        ({"campaigns__1__id": "WINTER-APPAREL-2026"}, "campaigns.1.id"),
        ({"expiry__order": "newest_first"}, "expiry.order"),
        ({"expiry__months": 0}, "expiry.months"),
        ({"rewards__1__id": "EUR5"}, "rewards.1.id"),
        ({"rewards__0__currency": "USD"}, "rewards.0.currency"),
        ({"rewards__0__points": 0}, "rewards.0.points"),
        ({"currency": "eur"}, "currency"),
    ],
)
def test_bad_program_data_is_refused_with_the_field_at_fault(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        program_with(**change)
    assert err.value.field == field


def test_missing_required_sections_are_named() -> None:
    doc = copy.deepcopy(SEED_DOC)
    del doc["tiers"]
    with pytest.raises(ValidationFailed) as err:
        parse_program(doc)
    assert err.value.field == "tiers"
    assert err.value.to_problem()["status"] == 422


# --- earning ---------------------------------------------------------------------------------------------


def test_points_are_floored_per_line() -> None:
    order = Order("O1", "EUR", QUIET, tuple(OrderLine(str(i), "MUG-LOGO", 1, 1099) for i in range(3)))
    lines = compute_earn(PROGRAM, order, "MEMBER", QUIET)
    # 3 x floor(10.99) = 30, not floor(32.97) = 32: each line is clawed back on its own.
    assert [(ln.line_id, ln.kind, ln.points) for ln in lines] == [
        ("0", BASE, 10),
        ("1", BASE, 10),
        ("2", BASE, 10),
    ]


def test_tier_multiplier_applies_before_flooring() -> None:
    lines = compute_earn(PROGRAM, one_line_order("MUG-LOGO", 1, 1099), "GOLD", QUIET)
    assert lines[0].points == 16  # floor(10.99 * 1.5)


def test_minimum_order_value_excluded_skus_and_shipping() -> None:
    below = Order(
        "O1",
        "EUR",
        QUIET,
        (OrderLine("0", "MUG-LOGO", 1, 600), OrderLine("1", "GIFT-CARD-50", 1, 5000)),
        shipping_minor=495,
    )
    lines = compute_earn(PROGRAM, below, "MEMBER", QUIET)
    # The gift card neither earns nor counts towards the minimum; the mug line still carries its spend.
    assert [(ln.line_id, ln.points, ln.basis_minor) for ln in lines] == [("0", 0, 600)]

    counting_shipping = program_with(earning__exclude_shipping=False, earning__min_order_minor=0)
    lines = compute_earn(counting_shipping, below, "MEMBER", QUIET)
    assert [(ln.line_id, ln.points) for ln in lines] == [("0", 6), (SHIPPING_LINE, 4)]


def test_order_discount_is_spread_so_no_points_are_earned_on_it() -> None:
    order = Order(
        "O1",
        "EUR",
        QUIET,
        (OrderLine("0", "MUG-LOGO", 1, 3000), OrderLine("1", "CARE-KIT", 1, 1000)),
        discount_minor=1000,
    )
    lines = compute_earn(PROGRAM, order, "MEMBER", QUIET)
    assert [(ln.basis_minor, ln.points) for ln in lines] == [(2250, 22), (750, 7)]


def test_campaign_bonuses_are_separate_lines_added_to_the_tier_multiplier() -> None:
    december = datetime(2026, 12, 10, tzinfo=UTC)
    order = Order(
        "O1",
        "EUR",
        december,
        (
            OrderLine("0", "TEE-ORG-M", 2, 5800, "apparel"),
            OrderLine("1", "CARE-KIT", 3, 7350, "accessories"),
        ),
    )
    lines = compute_earn(PROGRAM, order, "GOLD", december)
    got = [(ln.line_id, ln.kind, ln.campaign_id, ln.points, ln.quantity) for ln in lines]
    assert got == [
        ("0", BASE, None, 87, 2),  # floor(58 * 1.5)
        ("1", BASE, None, 110, 3),  # floor(73.5 * 1.5)
        ("0", CAMPAIGN, "WINTER-APPAREL-2026", 58, 2),  # +100% of base rate, not of the Gold rate
        ("1", CAMPAIGN, "CARE-KIT-LAUNCH", 150, 3),  # 50 per unit
    ]


def test_order_level_bonus_needs_the_segment_and_depends_on_the_matching_lines() -> None:
    q1 = datetime(2027, 2, 1, tzinfo=UTC)
    order = Order(
        "O1", "EUR", q1, (OrderLine("0", "MUG-LOGO", 1, 2000), OrderLine("1", "GIFT-CARD-50", 1, 5000))
    )
    assert all(ln.kind == BASE for ln in compute_earn(PROGRAM, order, "MEMBER", q1))
    lines = compute_earn(PROGRAM, order, "MEMBER", q1, segments={"vip"})
    bonus = [ln for ln in lines if ln.kind == CAMPAIGN]
    assert [(b.line_id, b.points, b.depends_on) for b in bonus] == [(None, 200, ("0",))]


def test_campaign_window_is_judged_at_the_order_time_but_never_in_the_future() -> None:
    order = one_line_order(
        "TEE-ORG-M", 1, 2900, category="apparel", at=datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
    )
    late = datetime(2027, 1, 3, tzinfo=UTC)  # processed after the campaign ended: still earns it
    assert any(ln.kind == CAMPAIGN for ln in compute_earn(PROGRAM, order, "MEMBER", late))
    future = one_line_order("TEE-ORG-M", 1, 2900, category="apparel", at=datetime(2026, 12, 5, tzinfo=UTC))
    before = datetime(2026, 11, 20, tzinfo=UTC)  # a bad clock says the order is from the future
    assert not any(ln.kind == CAMPAIGN for ln in compute_earn(PROGRAM, future, "MEMBER", before))


def test_unknown_tier_earns_at_the_base_rate_and_other_currencies_are_refused() -> None:
    assert compute_earn(PROGRAM, one_line_order("MUG-LOGO", 1, 5000), "PLATINUM", QUIET)[0].points == 50
    usd = Order("O1", "USD", QUIET, (OrderLine("0", "MUG-LOGO", 1, 5000),))
    with pytest.raises(ValidationFailed) as err:
        compute_earn(PROGRAM, usd, "MEMBER", QUIET)
    assert err.value.field == "currency"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"lines": ()}, "lines"),
        ({"lines": (OrderLine("0", "A", 1, 1), OrderLine("0", "B", 1, 1))}, "lines.1.line_id"),
        ({"lines": (OrderLine(SHIPPING_LINE, "A", 1, 1),)}, "lines.0.line_id"),
        ({"lines": (OrderLine("0", "A", 0, 1),)}, "lines.0.quantity"),
        ({"lines": (OrderLine("0", "A", 1, -1),)}, "lines.0.amount_minor"),
        ({"discount_minor": 2}, "discount_minor"),
        ({"placed_at": datetime(2027, 1, 1)}, "placed_at"),
        ({"order_id": "A#B"}, "order_id"),
    ],
)
def test_orders_are_validated(kwargs: dict[str, Any], field: str) -> None:
    base: dict[str, Any] = {
        "order_id": "O1",
        "currency": "EUR",
        "placed_at": QUIET,
        "lines": (OrderLine("0", "A", 1, 1),),
    }
    with pytest.raises(ValidationFailed) as err:
        Order(**(base | kwargs))
    assert err.value.field == field


@given(st.lists(st.integers(0, 10**7), min_size=1, max_size=20), st.data())
def test_discount_allocation_loses_no_minor_unit(amounts: list[int], data: st.DataObject) -> None:
    discount = data.draw(st.integers(0, sum(amounts)))
    nets = allocate_discount(amounts, discount)
    assert sum(amounts) - sum(nets) == discount
    assert all(0 <= n <= a for n, a in zip(nets, amounts, strict=True))


@given(
    st.lists(st.tuples(st.integers(1, 5), st.integers(0, 10**6)), min_size=1, max_size=10),
    st.sampled_from(["MEMBER", "SILVER", "GOLD"]),
)
def test_per_line_flooring_never_pays_more_than_the_whole_order_rate(
    raw: list[tuple[int, int]], tier: str
) -> None:
    order = Order(
        "O1", "EUR", QUIET, tuple(OrderLine(str(i), "MUG-LOGO", q, a) for i, (q, a) in enumerate(raw))
    )
    lines = compute_earn(program_with(earning__min_order_minor=0), order, tier, QUIET)
    percent = PROGRAM.find_tier(tier).multiplier_percent
    whole = sum(a for _, a in raw) * percent // 10000
    assert whole - len(raw) < sum(ln.points for ln in lines) <= whole


# --- tiers -----------------------------------------------------------------------------------------------


def test_rolling_window_is_the_last_calendar_months_including_this_one() -> None:
    assert window_months(date(2027, 2, 15), 3) == ["2026-12", "2027-01", "2027-02"]
    spend = {"2026-11": 1, "2026-12": 10, "2027-02": 100}
    assert rolling_spend(spend, date(2027, 2, 15), 3) == 110


def test_add_months_clamps_to_the_end_of_the_month() -> None:
    assert add_months(datetime(2027, 1, 31, tzinfo=UTC), 1) == datetime(2027, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2027, 11, 30, tzinfo=UTC), 3) == datetime(2028, 2, 29, tzinfo=UTC)
    assert add_months(datetime(2027, 12, 1, tzinfo=UTC), 12) == datetime(2028, 12, 1, tzinfo=UTC)


def test_lapse_date_is_when_old_spend_leaves_the_window() -> None:
    spend = {"2027-03": 30000, "2027-06": 30000}
    assert lapse_date(spend, date(2027, 6, 10), 12, 50000) == date(2028, 3, 1)
    assert lapse_date(spend, date(2027, 6, 10), 12, 30000) == date(2028, 6, 1)
    assert lapse_date(spend, date(2027, 6, 10), 12, 70000) == date(2027, 6, 10)


def test_evaluate_tier_upgrades_at_once_and_holds_before_downgrading() -> None:
    today = date(2027, 6, 10)
    up = evaluate_tier(PROGRAM, "MEMBER", date(2027, 1, 1), {"2027-06": 160000}, today)
    assert (up.tier, up.since, up.review_on) == ("GOLD", today, date(2028, 6, 10))
    # Spend gone but within the hold: kept.
    held = evaluate_tier(PROGRAM, "GOLD", date(2027, 1, 1), {}, date(2027, 12, 31))
    assert (held.tier, held.review_on) == ("GOLD", date(2028, 1, 1))
    # After the hold: down to what the spend reaches (two levels at once), base tier is never reviewed.
    down = evaluate_tier(PROGRAM, "GOLD", date(2026, 1, 1), {"2027-06": 1000}, today)
    assert (down.tier, down.review_on) == ("MEMBER", None)
    reset = evaluate_tier(PROGRAM, "PLATINUM", date(2026, 1, 1), {"2027-06": 60000}, today)
    assert reset.tier == "SILVER"


def test_campaign_helpers_cover_sku_patterns_and_timestamps() -> None:
    campaign = PROGRAM.campaign("CARE-KIT-LAUNCH")
    assert campaign is not None
    assert campaign.matches_line(OrderLine("0", "CARE-KIT", 1, 1))
    assert not campaign.matches_line(OrderLine("0", "CARE-KIT-XL", 1, 1))
    assert campaign.active_at(campaign.starts_at) and not campaign.active_at(campaign.ends_at)
    assert campaign.ends_at - campaign.starts_at > timedelta(days=60)
