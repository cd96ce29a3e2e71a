"""The in-memory reference account: `engine.decide` committed to plain Python objects.

Same semantics as the DynamoDB path (both call `decide`); the ledger here plays the part of the
`attribute_not_exists(pk)` condition on ledger entries. Property tests drive it with random event
sequences; `items()` renders exactly the items a table would hold, so the DynamoDB path can be compared
item by item.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ecrm.loyalty.engine import DUPLICATE, Decision, Outcome, decide
from ecrm.loyalty.events import Event, source_key
from ecrm.loyalty.model import AccountState, LedgerEntry, Lot, balance_item, ledger_item, lot_item
from ecrm.loyalty.rules import Program


class Account:
    """One customer's loyalty account held in memory."""

    def __init__(self, program: Program, customer_id: str) -> None:
        self.program = program
        self.customer_id = customer_id
        self.state: AccountState | None = None
        self.lots: dict[str, Lot] = {}
        self.ledger: dict[str, LedgerEntry] = {}

    def apply(self, event: Event, now: datetime) -> Outcome:
        """Apply one event at `now`; a source already in the ledger is a duplicate and changes nothing.

        Domain errors (`InsufficientPoints`, `NotReady`, ...) propagate and leave the account untouched.
        """
        key = source_key(event)
        if key is not None and key in self.ledger:
            return Outcome(DUPLICATE, "already applied", key)
        decision = decide(self.program, self.customer_id, self.state, self.lots, event, now)
        self.commit(decision)
        return decision.outcome

    def commit(self, decision: Decision) -> None:
        """Write a decision (what a successful transaction does)."""
        if decision.state is None:
            return
        self.state = decision.state
        for lot in (*decision.new_lots, *decision.changed_lots):
            self.lots[lot.key] = lot
        if decision.ledger is not None:
            self.ledger[decision.ledger.source] = decision.ledger

    def items(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Every item this account would have in the table, by (pk, sk)."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        docs: list[dict[str, Any]] = []
        if self.state is not None:
            docs.append(balance_item(self.state))
        docs.extend(lot_item(self.customer_id, lot, self.program) for lot in self.lots.values())
        docs.extend(ledger_item(self.customer_id, entry) for entry in self.ledger.values())
        for doc in docs:
            out[(doc["pk"], doc["sk"])] = doc
        return out
