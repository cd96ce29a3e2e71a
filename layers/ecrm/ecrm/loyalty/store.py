"""DynamoDB adapter of the loyalty core: read the program and the account, send one transaction per event.

The loop is the one docs/loyalty.md describes: Query the account (balance + lots), `plans.build_plan`,
`transact_write_items`; a cancelled transaction is either a duplicate (the ledger entry exists: the source
was applied before, nothing to do) or a conflict (someone else wrote the account: re-read and rebuild).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ecrm.loyalty import plans, queries, rules
from ecrm.loyalty.engine import DUPLICATE, Outcome
from ecrm.loyalty.events import Event, source_key
from ecrm.loyalty.model import LEDGER_PREFIX, customer_pk
from ecrm.platform import aws, clock, ddb
from ecrm.platform.errors import AppError, Conflict
from ecrm.platform.observability import logger
from ecrm.platform.settings import table_name

PROGRAM_TTL_S = 60.0
MAX_ATTEMPTS = 60  # optimistic concurrency: a hot account (50 concurrent redemptions) needs a few rounds

_program_cache: dict[str, Any] = {}


class ProgramMisconfigured(AppError):
    """The program item is missing or invalid: a staff edit to fix, never the caller's fault."""

    status, title, type_slug = 500, "Loyalty program misconfigured", "loyalty-program-invalid"


def program(*, fresh: bool = False) -> rules.Program:
    """The validated program (GetItem + `rules.parse_program`), cached per container for a minute.

    A bad item raises ProgramMisconfigured naming the field, before anything is written."""
    cached = _program_cache.get("program")
    if cached and not fresh and time.monotonic() - cached[0] < PROGRAM_TTL_S:
        return cached[1]  # type: ignore[no-any-return]
    resp = aws.dynamodb().get_item(**queries.program_get(table_name()))
    doc = ddb.from_item(resp.get("Item"))
    if doc is None:
        logger.error("loyalty program item missing", extra={"pk": rules.PROGRAM_PK, "sk": rules.PROGRAM_SK})
        raise ProgramMisconfigured(
            f"the loyalty program item ({rules.PROGRAM_PK} / {rules.PROGRAM_SK}) does not exist"
        )
    try:
        parsed = rules.parse_program(doc)
    except AppError as err:
        logger.error("loyalty program item invalid", extra={"field": err.field, "detail": err.detail})
        raise ProgramMisconfigured(
            f"the loyalty program item is invalid: {err.field}: {err.detail}", field=err.field
        ) from err
    _program_cache["program"] = (time.monotonic(), parsed)
    return parsed


def clear_program_cache() -> None:
    """Forget the cached program (tests, seeding)."""
    _program_cache.clear()


def put_program(doc: dict[str, Any], actor: str) -> rules.Program:
    """Validate and store the program item (seed, scripts). Nothing is written if it does not parse."""
    parsed = rules.parse_program(doc)
    item = dict(doc) | {
        "pk": rules.PROGRAM_PK,
        "sk": rules.PROGRAM_SK,
        "type": rules.PROGRAM_TYPE,
        "updated_at": clock.iso(clock.now()),
        "updated_by": actor,
    }
    aws.dynamodb().put_item(TableName=table_name(), Item=ddb.to_item(item))
    clear_program_cache()
    return parsed


def balance(customer_id: str, consistent: bool = False) -> dict[str, Any] | None:
    """The balance item (ONE GetItem: the balance page)."""
    kwargs = queries.balance_get(table_name(), customer_id)
    if consistent:
        kwargs["ConsistentRead"] = True
    return ddb.from_item(aws.dynamodb().get_item(**kwargs).get("Item"))


def account(customer_id: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The balance item and every lot (one Query, paginated)."""
    kwargs = queries.account_query(table_name(), customer_id)
    docs: list[dict[str, Any]] = []
    while True:
        resp = aws.dynamodb().query(**kwargs)
        docs.extend(ddb.from_item(i) for i in resp.get("Items", []))  # type: ignore[misc]
        if "LastEvaluatedKey" not in resp:
            break
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
    return queries.split_account_items(docs)


def ledger_page(
    customer_id: str, limit: int, start_key: dict[str, Any] | None
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One page of the ledger, newest first (one Query on GSI1)."""
    resp = aws.dynamodb().query(**queries.ledger_page_query(table_name(), customer_id, limit, start_key))
    return [ddb.from_item(i) for i in resp.get("Items", [])], resp.get("LastEvaluatedKey")  # type: ignore[misc]


def ledger_entry(customer_id: str, source: str) -> dict[str, Any] | None:
    """The ledger entry of a source, if it was applied."""
    resp = aws.dynamodb().get_item(
        TableName=table_name(),
        Key=ddb.key(customer_pk(customer_id), LEDGER_PREFIX + source),
        ConsistentRead=True,
    )
    return ddb.from_item(resp.get("Item"))


@dataclass(frozen=True)
class Applied:
    """What applying one event did (`outcome`), and the plan that committed (None if nothing was written)."""

    outcome: Outcome
    plan: plans.Plan | None


EventFor = Callable[[dict[str, Any] | None], Event]
ExtraFor = Callable[[plans.Plan], Sequence[dict[str, Any]]]


def apply(
    customer_id: str,
    event: Event | EventFor,
    *,
    now: Callable[[], datetime] = clock.now,
    extra_items: ExtraFor | None = None,
    prog: rules.Program | None = None,
    attempts: int = MAX_ATTEMPTS,
) -> Applied:
    """Apply one event to one account in ONE TransactWriteItems, retrying on concurrent writes.

    `event` may be a function of the balance item read (e.g. an order event whose effective time depends on
    when the member joined). Domain errors (NotAMember, NotReady, InsufficientPoints, ...) propagate; a
    domain error on an event whose ledger entry already exists is reported as a duplicate instead (a
    redelivered redemption must not answer "not enough points" for points it already spent).
    """
    prog = prog or program()
    client = aws.dynamodb()
    table = table_name()
    for attempt in _attempts(attempts):
        bal, lots = account(customer_id)
        ev = event(bal) if callable(event) else event
        try:
            plan = plans.build_plan(table, prog, customer_id, bal, lots, ev, now())
        except AppError:
            source = source_key(ev)
            if source and bal is not None and ledger_entry(customer_id, source) is not None:
                return Applied(Outcome(DUPLICATE, "already applied", source), None)
            raise
        if not plan.items:
            return Applied(plan.outcome, None)
        if extra_items is not None:
            plan = plans.plan_from_decision(
                table, prog, customer_id, plan.decision, extra_items=extra_items(plan)
            )
        try:
            client.transact_write_items(TransactItems=list(plan.items))
            return Applied(plan.outcome, plan)
        except client.exceptions.TransactionCanceledException as err:
            codes = ddb.cancellation_codes(err)
            if plan.classify_failure(codes) == "duplicate":
                return Applied(Outcome(DUPLICATE, "already applied", plan.outcome.source), None)
            if any(c not in ("None", "ConditionalCheckFailed", "TransactionConflict") for c in codes):
                raise
            logger.debug("loyalty write conflict; retrying", extra={"attempt": attempt, "codes": codes})
    raise Conflict("the points account is busy; retry shortly")


def _attempts(n: int) -> Iterator[int]:
    for attempt in range(n):
        if attempt:
            # Jittered backoff: concurrent writers of one account spread out instead of colliding again.
            time.sleep(random.uniform(0, min(0.2, 0.005 * 2 ** min(attempt, 6))))
        yield attempt
