"""Membership and loyalty points: the pure core (no boto3 calls, no I/O, `now` passed in).

Public API for the service layer:

- `rules.parse_program(doc) -> Program` (the console-editable program item), `rules.compute_earn(...)`;
- `events`: Join, EarnOrder, Deliver, Unlock, Reverse, Redeem, Expire, Adjust, Birthday, CampaignGrant,
  ReviewTier, and `source_key(event)`;
- `plans.build_plan(table, program, customer_id, balance, lots, event, now) -> Plan` (+ `plan_earn`,
  `plan_redeem`, ... one per use case): one TransactWriteItems per event;
- `queries`: the read requests (balance GetItem, account Query, ledger page, day indexes);
- `model.view(program, balance, now)`: the balance page from one GetItem;
- `notices`: expiry warnings and tier changes for emails;
- `account.Account`: the in-memory reference with the same semantics (tests).

See docs/loyalty.md for the rules, policies and key design.
"""

from ecrm.loyalty.account import Account
from ecrm.loyalty.engine import Decision, Outcome, TierChange, decide
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
from ecrm.loyalty.model import BalanceView, view
from ecrm.loyalty.plans import Plan, build_plan
from ecrm.loyalty.rules import EarnLine, Order, OrderLine, Program, compute_earn, parse_program

__all__ = [
    "Account",
    "Adjust",
    "BalanceView",
    "Birthday",
    "CampaignGrant",
    "Decision",
    "Deliver",
    "EarnLine",
    "EarnOrder",
    "Event",
    "Expire",
    "InconsistentAccount",
    "InsufficientPoints",
    "Join",
    "NotAMember",
    "NotReady",
    "Order",
    "OrderLine",
    "Outcome",
    "Plan",
    "Program",
    "Redeem",
    "Reverse",
    "ReviewTier",
    "TierChange",
    "TooManyLots",
    "Unlock",
    "build_plan",
    "compute_earn",
    "decide",
    "parse_program",
    "source_key",
    "view",
]
