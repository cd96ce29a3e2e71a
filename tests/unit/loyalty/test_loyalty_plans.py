"""The shape of the transactions: low-level AttributeValue items, the conditions each write carries, and the
index entries (GSI1 ledger page and debt list, GSI2 unlock/expiry/tier-review days). The conditions are
also evaluated against a fake table in test_loyalty_invariants.py."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ecrm.loyalty.errors import InconsistentAccount, NotAMember, TooManyLots
from ecrm.loyalty.events import Adjust, EarnOrder, Join, Redeem
from ecrm.loyalty.model import customer_pk, shard_of
from ecrm.loyalty.plans import (
    Plan,
    build_plan,
    plan_deliver,
    plan_earn,
    plan_expire,
    plan_join,
    plan_redeem,
    plan_reverse,
    plan_unlock,
)
from ecrm.loyalty.queries import (
    account_query,
    expiring_lots_queries,
    ledger_page_query,
    negative_balances_query,
    split_account_items,
    tier_review_queries,
)
from ecrm.loyalty.rules import Order, OrderLine, parse_program
from ecrm.platform import ddb
from ecrm.platform.errors import ValidationFailed

PROGRAM = parse_program(
    json.loads((Path(__file__).resolve().parents[3] / "infra" / "seed" / "loyalty.json").read_text())
)
TABLE = "ecrm-table"
C = "c-42"
T0 = datetime(2027, 6, 1, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)


class Items:
    """A minimal holder of the items written so far (Puts and the balance Update's SET/REMOVE applied)."""

    def __init__(self) -> None:
        self.balance: dict[str, Any] | None = None
        self.lots: dict[str, dict[str, Any]] = {}

    def commit(self, plan: Plan) -> None:
        for role, entry in zip(plan.roles, plan.items, strict=True):
            if role == "balance":
                self.balance = balance_after(entry, self.balance)
            elif role == "lot":
                doc = ddb.from_item(entry["Put"]["Item"]) or {}
                self.lots[doc["lot"]] = doc

    def lot_list(self) -> list[dict[str, Any]]:
        return list(self.lots.values())


def balance_after(entry: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    if "Put" in entry:
        return ddb.from_item(entry["Put"]["Item"]) or {}
    update = entry["Update"]
    doc = dict(current or {})
    names, values = update["ExpressionAttributeNames"], update["ExpressionAttributeValues"]
    sets, _, removes = update["UpdateExpression"].removeprefix("SET ").partition(" REMOVE ")
    for assignment in sets.split(", "):
        name, value = assignment.split(" = ")
        doc[names[name]] = ddb.from_item({"v": values[value]})["v"]
    for name in filter(None, removes.split(", ")):
        doc.pop(names[name], None)
    return doc


def is_attribute_value(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and len(value) == 1
        and next(iter(value)) in {"S", "N", "M", "L", "BOOL", "NULL"}
    )


def joined() -> Items:
    items = Items()
    items.commit(plan_join(TABLE, PROGRAM, C, None, T0))
    return items


def test_join_creates_ledger_balance_and_lot_all_conditioned_on_absence() -> None:
    plan = plan_join(TABLE, PROGRAM, C, None, T0)
    assert plan.roles == ("ledger", "balance", "lot")
    for entry in plan.items:
        put = entry["Put"]
        assert put["TableName"] == TABLE
        assert put["ConditionExpression"] == "attribute_not_exists(pk)"
        assert all(is_attribute_value(v) for v in put["Item"].values())
    ledger = ddb.from_item(plan.items[0]["Put"]["Item"])
    assert (ledger["pk"], ledger["sk"], ledger["type"]) == (customer_pk(C), "LEDGER#WELCOME", "LEDGER")
    assert ledger["gsi1pk"] == customer_pk(C)
    assert ledger["gsi1sk"] == "POINTS#2027-06-01T10:00:00.000Z#WELCOME"
    balance = ddb.from_item(plan.items[1]["Put"]["Item"])
    assert (balance["sk"], balance["version"], balance["available"], balance["tier"]) == (
        "LOYALTY",
        1,
        100,
        "MEMBER",
    )
    lot = ddb.from_item(plan.items[2]["Put"]["Item"])
    assert lot["sk"] == "LOT#WELCOME"
    assert lot["gsi2pk"] == f"EXPIRES#2028-06-01#{shard_of(C)}"
    assert lot["gsi2sk"] == f"{customer_pk(C)}#WELCOME"


def test_a_second_join_plans_nothing() -> None:
    items = joined()
    plan = plan_join(TABLE, PROGRAM, C, items.balance, T0 + DAY)
    assert plan.items == () and plan.outcome.status == "duplicate"


def test_earning_updates_the_balance_under_its_version_and_indexes_the_lot_by_unlock_day() -> None:
    items = joined()
    order = Order("O1", "EUR", T0, (OrderLine("0", "MUG-LOGO", 1, 5000),))
    plan = plan_earn(TABLE, PROGRAM, C, items.balance, items.lot_list(), order, T0)
    assert plan.roles == ("ledger", "balance", "lot")
    update = plan.items[1]["Update"]
    assert update["Key"] == {"pk": {"S": customer_pk(C)}, "sk": {"S": "LOYALTY"}}
    assert update["ConditionExpression"] == "#version = :expected_version"
    assert update["ExpressionAttributeValues"][":expected_version"] == {"N": "1"}
    assert update["ExpressionAttributeValues"][":version"] == {"N": "2"}
    assert update["ExpressionAttributeValues"][":locked"] == {"N": "50"}
    # Nothing is debt, nothing is under review: those index attributes are removed, not left stale.
    assert "#gsi1pk" in update["UpdateExpression"].split(" REMOVE ")[1]
    items.commit(plan)
    assert "gsi2pk" not in items.lots["ORDER#O1"]  # pending delivery: no day to index yet

    delivered = plan_deliver(
        TABLE, PROGRAM, C, items.balance, items.lot_list(), "O1", T0, T0 + 2 * DAY, T0 + 3 * DAY
    )
    assert delivered.roles == ("balance", "lot")  # no points move: no ledger entry
    assert delivered.items[1]["Put"]["ConditionExpression"] == "attribute_exists(pk)"
    items.commit(delivered)
    assert items.lots["ORDER#O1"]["gsi2pk"] == f"UNLOCKS#2027-07-03#{shard_of(C)}"

    unlock = plan_unlock(TABLE, PROGRAM, C, items.balance, items.lot_list(), "ORDER#O1", T0 + 33 * DAY)
    assert unlock.roles == ("ledger", "balance", "lot")
    assert ddb.from_item(unlock.items[0]["Put"]["Item"])["sk"] == "LEDGER#ORDER#O1#UNLOCK"
    items.commit(unlock)
    assert items.lots["ORDER#O1"]["gsi2pk"] == f"EXPIRES#2028-07-04#{shard_of(C)}"
    assert items.balance["available"] == 150


def test_non_members_get_no_plan() -> None:
    order = Order("O1", "EUR", T0, (OrderLine("0", "MUG-LOGO", 1, 5000),))
    with pytest.raises(NotAMember):
        build_plan(TABLE, PROGRAM, C, None, [], EarnOrder(order), T0)


def test_redemption_guards_available_and_carries_service_items() -> None:
    items = joined()
    items.commit(
        build_plan(
            TABLE,
            PROGRAM,
            C,
            items.balance,
            items.lot_list(),
            Adjust("A1", 600, "opening balance", "staff"),
            T0 + DAY,
        )
    )
    voucher = {
        "Put": {
            "TableName": TABLE,
            "Item": {"pk": {"S": "VOUCHER#X"}, "sk": {"S": "VOUCHER"}},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }
    plan = plan_redeem(
        TABLE, PROGRAM, C, items.balance, items.lot_list(), "R1", "EUR5", T0 + 2 * DAY, extra_items=[voucher]
    )
    assert plan.roles == ("ledger", "balance", "lot", "lot", "extra")
    update = plan.items[1]["Update"]
    assert update["ConditionExpression"] == "#version = :expected_version AND #available >= :min_available"
    assert update["ExpressionAttributeValues"][":min_available"] == {"N": "500"}
    assert [p["Put"]["ConditionExpression"] for p in plan.items[2:4]] == ["attribute_exists(pk)"] * 2
    assert plan.items[-1] is voucher
    assert plan.outcome.reward is not None and plan.outcome.reward.value_minor == 500
    assert plan.classify_failure(["ConditionalCheckFailed", "None", "None", "None", "None"]) == "duplicate"
    assert plan.classify_failure(["None", "ConditionalCheckFailed", "None", "None", "None"]) == "conflict"
    assert plan.classify_failure(["None", "None", "None", "None", "ConditionalCheckFailed"]) == "conflict"
    items.commit(plan)
    # The welcome lot is spent out: closed, off the expiry index, and kept only until its TTL.
    welcome = items.lots["WELCOME"]
    assert welcome["state"] == "CLOSED" and "gsi2pk" not in welcome
    assert welcome["ttl"] == int((T0 + 2 * DAY + timedelta(days=PROGRAM.lot_retention_days)).timestamp())
    assert items.lots["ADJUST#A1"]["remaining"] == 200


def test_a_transaction_never_exceeds_100_items() -> None:
    items = joined()
    filler = [
        {
            "ConditionCheck": {
                "TableName": TABLE,
                "Key": ddb.key("X", str(i)),
                "ConditionExpression": "attribute_exists(pk)",
            }
        }
        for i in range(98)
    ]
    with pytest.raises(TooManyLots):
        build_plan(
            TABLE,
            PROGRAM,
            C,
            items.balance,
            items.lot_list(),
            Adjust("A1", 5, "a reason", "staff"),
            T0,
            extra_items=filler,
        )


def test_a_debt_puts_the_account_on_the_staff_list_and_paying_it_takes_it_off() -> None:
    items = joined()
    plan = build_plan(
        TABLE, PROGRAM, C, items.balance, items.lot_list(), Adjust("A1", -130, "fraud", "staff"), T0
    )
    items.commit(plan)
    assert items.balance["available"] == -30
    assert items.balance["gsi1pk"] == "LOYALTY#NEGATIVE"
    assert items.balance["gsi1sk"] == f"2027-06-01T10:00:00.000Z#{customer_pk(C)}"
    items.commit(
        build_plan(TABLE, PROGRAM, C, items.balance, items.lot_list(), Adjust("A2", 30, "waived", "boss"), T0)
    )
    assert items.balance["available"] == 0 and "gsi1pk" not in items.balance


def test_tier_review_day_is_indexed_on_the_balance_item() -> None:
    items = joined()
    order = Order("O1", "EUR", T0, (OrderLine("0", "MUG-LOGO", 1, 60000),))
    plan = plan_earn(TABLE, PROGRAM, C, items.balance, items.lot_list(), order, T0)
    assert plan.outcome.tier_change is not None and plan.outcome.tier_change.new == "SILVER"
    items.commit(plan)
    assert items.balance["gsi2pk"] == f"TIER_REVIEW#2028-06-01#{shard_of(C)}"
    assert items.balance["gsi2sk"] == customer_pk(C)
    # Cancelling that order undoes the upgrade and takes the account off the review index.
    items.commit(
        plan_reverse(TABLE, PROGRAM, C, items.balance, items.lot_list(), "O1", "CANCEL", T0, None, T0 + DAY)
    )
    assert items.balance["tier"] == "MEMBER" and "gsi2pk" not in items.balance


def test_expiry_plan_is_keyed_by_run_day_and_lot() -> None:
    items = joined()
    run = date(2028, 6, 1)
    plan = plan_expire(
        TABLE,
        PROGRAM,
        C,
        items.balance,
        items.lot_list(),
        "WELCOME",
        run,
        datetime(2028, 6, 1, 0, 5, tzinfo=UTC),
    )
    assert ddb.from_item(plan.items[0]["Put"]["Item"])["sk"] == "LEDGER#EXPIRE#2028-06-01#WELCOME"
    assert plan.outcome.points == -100


def test_plans_accept_decimal_numbers_as_the_resource_api_returns_them() -> None:
    items = joined()
    as_decimals = {
        k: Decimal(v) if isinstance(v, int) and not isinstance(v, bool) else v
        for k, v in (items.balance or {}).items()
    }
    plan = build_plan(
        TABLE, PROGRAM, C, as_decimals, items.lot_list(), Adjust("A1", 10, "a reason", "staff"), T0
    )
    assert plan.items[1]["Update"]["ExpressionAttributeValues"][":available"] == {"N": "110"}


def test_an_incomplete_read_or_a_hand_edited_balance_is_refused_rather_than_written_on() -> None:
    items = joined()
    with pytest.raises(InconsistentAccount):
        build_plan(TABLE, PROGRAM, C, items.balance, [], Adjust("A1", 5, "a reason", "staff"), T0)  # no lots
    edited = dict(items.balance or {}, available=1000)
    with pytest.raises(InconsistentAccount) as err:
        build_plan(TABLE, PROGRAM, C, edited, items.lot_list(), Redeem("R1", "EUR5"), T0)
    assert err.value.status == 500


def test_a_balance_of_another_customer_is_refused() -> None:
    items = joined()
    with pytest.raises(ValidationFailed, match="another customer"):
        build_plan(TABLE, PROGRAM, "someone-else", items.balance, [], Join(), T0)


def test_read_requests() -> None:
    query = account_query(TABLE, C)
    assert query["KeyConditionExpression"] == "pk = :pk AND sk BETWEEN :lo AND :hi"
    assert query["ExpressionAttributeValues"] == {
        ":pk": {"S": customer_pk(C)},
        ":lo": {"S": "LOT#"},
        ":hi": {"S": "LOYALTY"},
    }
    assert query["ConsistentRead"] is True
    # LEDGER# sorts before LOT#, so the write path never reads the (unbounded) ledger.
    assert "LEDGER#X" < "LOT#" < "LOT#ORDER#O1" < "LOYALTY"
    items = joined()
    balance, lots = split_account_items(
        [items.balance, *items.lot_list(), {"type": "PROFILE", "sk": "PROFILE"}]
    )
    assert balance == items.balance and [lot["lot"] for lot in lots] == ["WELCOME"]

    page = ledger_page_query(TABLE, C, limit=500)
    assert (page["IndexName"], page["ScanIndexForward"], page["Limit"]) == ("gsi1", False, 100)
    shards = expiring_lots_queries(TABLE, date(2028, 6, 1))
    assert [q["ExpressionAttributeValues"][":pk"]["S"] for q in shards] == [
        f"EXPIRES#2028-06-01#{s}" for s in range(10)
    ]
    assert all(q["IndexName"] == "gsi2" for q in shards + tier_review_queries(TABLE, date(2028, 6, 1)))
    assert negative_balances_query(TABLE)["ExpressionAttributeValues"][":pk"] == {"S": "LOYALTY#NEGATIVE"}
