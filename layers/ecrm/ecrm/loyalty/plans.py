"""Pure transaction plans: (balance item, lot items, event, now) -> TransactWriteItems entries.

The store is then a thin adapter:

    items = query(**queries.account_query(table, customer_id))           # balance + lots, one Query
    balance, lots = queries.split_account_items(from_item(i) for i in items)
    plan = build_plan(table, program, customer_id, balance, lots, event, now)
    if plan.items: client.transact_write_items(TransactItems=plan.items)
    on TransactionCanceledException: plan.classify_failure(cancellation_codes(err))
        "duplicate" -> already applied, done;  "conflict" -> re-read and rebuild (optimistic concurrency)

Every plan is ONE transaction, in this order: the ledger entry (Put, `attribute_not_exists(pk)`: a source
is applied once), the balance item (Put `attribute_not_exists(pk)` when created, else Update with
`version = :expected_version`, plus `available >= :min_available` for a redemption so concurrent
redemptions can never take it below zero even if a writer forgot the version), then the lots (Put, new ones
`attribute_not_exists(pk)`, changed ones `attribute_exists(pk)` so a TTL-deleted lot is never resurrected
half-written), then any `extra_items` the service adds (e.g. the discount code a redemption issues).
Values are serialised with boto3's TypeSerializer (via `ecrm.platform.ddb`), in low-level client format.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ecrm.loyalty.engine import Decision, Outcome, decide
from ecrm.loyalty.errors import TooManyLots
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
)
from ecrm.loyalty.model import (
    BALANCE_SK,
    AccountState,
    Lot,
    balance_item,
    customer_pk,
    ledger_item,
    lot_item,
)
from ecrm.loyalty.rules import Order, Program
from ecrm.platform import ddb
from ecrm.platform.errors import ValidationFailed

MAX_TRANSACTION_ITEMS = 100
LEDGER = "ledger"
BALANCE = "balance"
LOT = "lot"
EXTRA = "extra"

NOT_EXISTS = "attribute_not_exists(pk)"
EXISTS = "attribute_exists(pk)"


@dataclass(frozen=True, slots=True)
class Plan:
    """One transaction: `items` for TransactWriteItems, `roles` saying what each item is, and the outcome
    the transaction has if it commits. No items = nothing to write (duplicate or no-op, see outcome)."""

    items: tuple[dict[str, Any], ...]
    roles: tuple[str, ...]
    outcome: Outcome
    decision: Decision

    def classify_failure(self, codes: Sequence[str]) -> str:
        """Why a cancelled transaction failed, from its per-item cancellation codes.

        "duplicate": the ledger entry already exists, the source was applied before; nothing to do.
        "conflict": the balance version moved, a lot changed, or a service item's condition failed;
        re-read the account and build the plan again (a rebuilt redemption raises InsufficientPoints if
        the points are gone meanwhile).
        """
        for role, code in zip(self.roles, codes, strict=False):
            if role == LEDGER and code == "ConditionalCheckFailed":
                return "duplicate"
        return "conflict"


def build_plan(
    table_name: str,
    program: Program,
    customer_id: str,
    balance: Mapping[str, Any] | None,
    lots: Iterable[Mapping[str, Any]],
    event: Event,
    now: datetime,
    *,
    extra_items: Sequence[dict[str, Any]] = (),
) -> Plan:
    """The transaction that applies `event` to the account read from the table.

    `balance` is the balance item as a plain dict (`ddb.from_item`) or None; `lots` every LOT# item of the
    customer (`queries.account_query` returns both). `extra_items` are appended only if the plan writes.
    Raises the domain errors of `engine.decide` and `TooManyLots` past 100 items.
    """
    state = AccountState.from_doc(dict(balance)) if balance is not None else None
    if state is not None and state.customer_id != customer_id:
        raise ValidationFailed("balance item belongs to another customer", "customer_id")
    lot_map = {lot.key: lot for lot in (Lot.from_doc(dict(doc)) for doc in lots)}
    decision = decide(program, customer_id, state, lot_map, event, now)
    return plan_from_decision(table_name, program, customer_id, decision, extra_items=extra_items)


def plan_from_decision(
    table_name: str,
    program: Program,
    customer_id: str,
    decision: Decision,
    *,
    extra_items: Sequence[dict[str, Any]] = (),
) -> Plan:
    """Serialise a decision into TransactWriteItems entries (see the module docstring for the order)."""
    if decision.state is None:
        return Plan((), (), decision.outcome, decision)
    items: list[dict[str, Any]] = []
    roles: list[str] = []
    if decision.ledger is not None:
        items.append(_put(table_name, ledger_item(customer_id, decision.ledger), NOT_EXISTS))
        roles.append(LEDGER)
    items.append(_balance_write(table_name, decision))
    roles.append(BALANCE)
    for lot in decision.new_lots:
        items.append(_put(table_name, lot_item(customer_id, lot, program), NOT_EXISTS))
        roles.append(LOT)
    for lot in decision.changed_lots:
        items.append(_put(table_name, lot_item(customer_id, lot, program), EXISTS))
        roles.append(LOT)
    items.extend(extra_items)
    roles.extend(EXTRA for _ in extra_items)
    if len(items) > MAX_TRANSACTION_ITEMS:
        raise TooManyLots(
            f"the transaction would hold {len(items)} items; DynamoDB allows {MAX_TRANSACTION_ITEMS}"
        )
    return Plan(tuple(items), tuple(roles), decision.outcome, decision)


def _put(table_name: str, item: dict[str, Any], condition: str) -> dict[str, Any]:
    return {"Put": {"TableName": table_name, "Item": ddb.to_item(item), "ConditionExpression": condition}}


def _balance_write(table_name: str, decision: Decision) -> dict[str, Any]:
    state = decision.state
    if state is None:
        raise ValueError("a decision without a state writes nothing")
    item = balance_item(state)
    if decision.expected_version is None:
        return _put(table_name, item, NOT_EXISTS)
    # Update, not Put: attributes other code or staff added to the item survive; every loyalty attribute is
    # SET absolutely (computed from the version we read, which the condition pins) or REMOVEd when empty.
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    sets: list[str] = []
    removes: list[str] = []
    for name, value in item.items():
        if name in ("pk", "sk"):
            continue
        names[f"#{name}"] = name
        if value is None:
            removes.append(f"#{name}")
        else:
            values[f":{name}"] = value
            sets.append(f"#{name} = :{name}")
    condition = "#version = :expected_version"
    values[":expected_version"] = decision.expected_version
    if decision.min_available is not None:
        condition += " AND #available >= :min_available"
        values[":min_available"] = decision.min_available
    expression = "SET " + ", ".join(sets)
    if removes:
        expression += " REMOVE " + ", ".join(removes)
    return {
        "Update": {
            "TableName": table_name,
            "Key": ddb.key(customer_pk(state.customer_id), BALANCE_SK),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": ddb.values(values),
        }
    }


# --- one builder per use case (thin names over build_plan) ---------------------------------------------

Balance = Mapping[str, Any] | None
Lots = Iterable[Mapping[str, Any]]


def plan_join(table_name: str, program: Program, customer_id: str, balance: Balance, now: datetime) -> Plan:
    """Create the account (and the welcome bonus lot + ledger entry)."""
    return build_plan(table_name, program, customer_id, balance, (), Join(), now)


def plan_earn(
    table_name: str,
    program: Program,
    customer_id: str,
    balance: Balance,
    lots: Lots,
    order: Order,
    now: datetime,
    segments: Iterable[str] = (),
) -> Plan:
    """Book an order's points as PENDING (ledger EARN + balance + new order lot)."""
    return build_plan(
        table_name, program, customer_id, balance, lots, EarnOrder(order, frozenset(segments)), now
    )


def plan_deliver(
    table_name: str,
    program: Program,
    customer_id: str,
    balance: Balance,
    lots: Lots,
    order_id: str,
    placed_at: datetime,
    delivered_at: datetime,
    now: datetime,
) -> Plan:
    """Start the return window at the delivered time (balance + lot; ledger UNLOCK if already over)."""
    return build_plan(
        table_name, program, customer_id, balance, lots, Deliver(order_id, placed_at, delivered_at), now
    )


def plan_unlock(
    table_name: str,
    program: Program,
    customer_id: str,
    balance: Balance,
    lots: Lots,
    lot_key: str,
    now: datetime,
) -> Plan:
    """Release a lot whose return window is over (ledger UNLOCK + balance + lot)."""
    return build_plan(table_name, program, customer_id, balance, lots, Unlock(lot_key), now)


def plan_reverse(
    table_name: str,
    program: Program,
    customer_id: str,
    balance: Balance,
    lots: Lots,
    order_id: str,
    reversal_id: str,
    placed_at: datetime,
    lines: Mapping[str, int] | None,
    now: datetime,
) -> Plan:
    """Claw back the points of returned/cancelled lines (ledger REVERSE + balance + lots drawn)."""
    return build_plan(
        table_name, program, customer_id, balance, lots, Reverse(order_id, reversal_id, placed_at, lines), now
    )


def plan_redeem(
    table_name: str,
    program: Program,
    customer_id: str,
    balance: Balance,
    lots: Lots,
    redemption_id: str,
    reward_id: str,
    now: datetime,
    extra_items: Sequence[dict[str, Any]] = (),
) -> Plan:
    """Spend points on a reward, oldest lots first.

    Ledger REDEEM + balance (condition `available >= cost`) + the lots drawn + `extra_items`.
    """
    return build_plan(
        table_name,
        program,
        customer_id,
        balance,
        lots,
        Redeem(redemption_id, reward_id),
        now,
        extra_items=extra_items,
    )


def plan_expire(
    table_name: str,
    program: Program,
    customer_id: str,
    balance: Balance,
    lots: Lots,
    lot_key: str,
    run_date: date,
    now: datetime,
) -> Plan:
    """Expire what is left of a due lot (ledger EXPIRE#day#lot + balance + lot)."""
    return build_plan(table_name, program, customer_id, balance, lots, Expire(run_date, lot_key), now)


def plan_adjust(
    table_name: str,
    program: Program,
    customer_id: str,
    balance: Balance,
    lots: Lots,
    adjustment_id: str,
    points: int,
    reason: str,
    actor: str,
    now: datetime,
) -> Plan:
    """A staff adjustment with its reason (ledger ADJUST + balance + new lot or lots drawn)."""
    return build_plan(
        table_name, program, customer_id, balance, lots, Adjust(adjustment_id, points, reason, actor), now
    )


def plan_birthday(
    table_name: str,
    program: Program,
    customer_id: str,
    balance: Balance,
    lots: Lots,
    year: int,
    now: datetime,
) -> Plan:
    """The yearly birthday bonus."""
    return build_plan(table_name, program, customer_id, balance, lots, Birthday(year), now)


def plan_campaign_grant(
    table_name: str,
    program: Program,
    customer_id: str,
    balance: Balance,
    lots: Lots,
    campaign_id: str,
    segments: Iterable[str],
    now: datetime,
) -> Plan:
    """A grant campaign's one-off points."""
    return build_plan(
        table_name, program, customer_id, balance, lots, CampaignGrant(campaign_id, frozenset(segments)), now
    )


def plan_review_tier(
    table_name: str, program: Program, customer_id: str, balance: Balance, lots: Lots, now: datetime
) -> Plan:
    """The scheduled tier review (balance only; no ledger entry: no points move)."""
    return build_plan(table_name, program, customer_id, balance, lots, ReviewTier(), now)
