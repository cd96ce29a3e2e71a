"""Loyalty costs in DynamoDB calls and capacity units (in-process moto with the template's table).

1. Per use case: calls and consumed capacity of join, earn, redeem, reverse, and the balance page.
2. The daily expiry run as members grow (100 / 1000 / 5000) with the same number of due lots, and as due lots
   grow with the same members: Query calls stay at 10 shards x 5 day indexes; the rest is 2 calls per due
   lot (account Query + one transaction). No Scan, so members who have nothing due cost nothing.

Consumed capacity is what moto reports with ReturnConsumedCapacity=TOTAL; where moto reports none (it does
not for TransactWriteItems), it is estimated from item sizes as DynamoDB bills it (transactional writes: 2
WCU per KB per item; strongly consistent reads: 1 RCU per 4 KB) and marked `~`.

    .venv/bin/python bench/bench_loyalty.py            # full (about a minute)
    .venv/bin/python bench/bench_loyalty.py --quick    # 100 / 300 members
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _p in (str(ROOT), str(ROOT / "layers" / "ecrm")):
    if _p not in sys.path:
        sys.path.insert(0, _p)


class Meter:
    """Counts DynamoDB calls and sums consumed (or estimated) capacity, via botocore events."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.capacity = 0.0
        self.estimated = False
        self._sizes: dict[int, float] = {}

    def install(self, client: Any) -> None:
        events = client.meta.events
        events.register("provide-client-params.dynamodb.*", self._before)
        events.register("after-call.dynamodb.*", self._after)

    def reset(self) -> None:
        self.calls.clear()
        self.capacity, self.estimated = 0.0, False

    def _before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in {
            "GetItem",
            "Query",
            "PutItem",
            "UpdateItem",
            "TransactWriteItems",
            "BatchWriteItem",
        }:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")
        if model.name == "TransactWriteItems":
            size = 0.0
            for entry in params["TransactItems"]:
                op = next(iter(entry.values()))
                size += 2 * math.ceil(
                    len(json.dumps(op.get("Item") or op.get("ExpressionAttributeValues") or {})) / 1024
                )
            self._sizes[id(params)] = size
            self._last_transact = size

    def _after(self, http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls[model.name] += 1
        consumed = parsed.get("ConsumedCapacity")
        units = 0.0
        if isinstance(consumed, dict):
            units = float(consumed.get("CapacityUnits") or 0)
        elif isinstance(consumed, list):
            units = sum(float(c.get("CapacityUnits") or 0) for c in consumed)
        if not units and model.name == "TransactWriteItems":
            units, self.estimated = getattr(self, "_last_transact", 0.0), True
        if not units and model.name == "Query":
            units = max(0.5, math.ceil(len(json.dumps(parsed.get("Items", []))) / 4096) * 1.0)
            self.estimated = True
        if not units and model.name == "GetItem":
            units, self.estimated = 0.5, True
        self.capacity += units

    def row(self) -> tuple[str, str]:
        calls = ", ".join(f"{n} {op}" for op, n in sorted(self.calls.items()))
        return calls, f"{'~' if self.estimated else ''}{self.capacity:g}"


def main() -> None:
    quick = "--quick" in sys.argv
    from infra.local import stack
    from infra.seed.load import SEED

    server, endpoint = stack.start_moto(0)
    try:
        st = stack.create(endpoint)
        from ecrm.platform import aws, clock
        from ecrm.platform.settings import scoped_env

        with scoped_env(st.functions["LoyaltyJobsFunction"].environment):
            meter = Meter()
            meter.install(aws.dynamodb())
            from ecrm.loyalty import store

            store.put_program(json.loads((SEED / "loyalty.json").read_text()), "bench")
            print(use_case_table(meter))
            print()
            sizes = (100, 300) if quick else (100, 1000, 5000)
            print(expiry_table(meter, sizes, st.table()))
            clock.reset()
    finally:
        server.stop()


def use_case_table(meter: Meter) -> str:
    from ecrm.customers.identity import Customer
    from ecrm.loyalty import members, store, worker
    from ecrm.platform import clock

    clock.set_fixed(datetime(2026, 5, 20, 12, tzinfo=UTC))
    rows = []
    ada = Customer("bench-ada", "ada@bench.example", "Ada")
    store.program()  # a warm container: the program read is cached for a minute
    meter.reset()
    members.join(ada, {"marketing_consent": True})
    rows.append(("join (profile + email + balance + welcome lot + ledger)", *meter.row()))
    snapshot = {
        "order_id": "ORD-BENCH1",
        "created_at": "2026-05-20T12:00:00.000Z",
        "currency": "EUR",
        "lines": [
            {"line_id": f"SKU-{i}", "sku": f"SKU-{i}", "quantity": 1, "amount_minor": 2500} for i in range(5)
        ],
    }
    meter.reset()
    worker.apply_order(ada.customer_id, snapshot, [{"do": "earn"}])
    rows.append(("earn (5-line order)", *meter.row()))
    meter.reset()
    worker.apply_order(ada.customer_id, snapshot, [{"do": "earn"}])
    rows.append(("earn, same order again (duplicate)", *meter.row()))
    meter.reset()
    worker.apply_order(ada.customer_id, snapshot, [{"do": "deliver", "at": "2026-05-21T12:00:00.000Z"}])
    rows.append(("deliver (lock countdown)", *meter.row()))
    members.adjust(ada.customer_id, {"points": 2000, "reason": "bench"}, "bench")
    meter.reset()
    members._redeem(ada.customer_id, "RBENCH1", "EUR5")
    rows.append(("redeem (+ discount code item)", *meter.row()))
    meter.reset()
    worker.apply_order(
        ada.customer_id, snapshot, [{"do": "reverse", "reversal_id": "RET-1", "lines": {"SKU-1": 1}}]
    )
    rows.append(("reverse one line", *meter.row()))
    meter.reset()
    store.balance(ada.customer_id)
    rows.append(("balance page (GET /me's balance read)", *meter.row()))
    out = ["| use case | DynamoDB calls | capacity units |", "|---|---|---|"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(out)


def _bulk_members(prefix: str, n: int, joined: datetime, table: str) -> None:
    """Members as the join plan writes them, 25 items per BatchWriteItem (setup, not measured)."""
    from ecrm.loyalty import plans, store
    from ecrm.platform import aws

    prog = store.program()
    client = aws.dynamodb()
    puts = []
    for i in range(n):
        plan = plans.plan_join(table, prog, f"{prefix}-{i}", None, joined)
        puts += [{"PutRequest": {"Item": item["Put"]["Item"]}} for item in plan.items]
    for start in range(0, len(puts), 25):
        client.batch_write_item(RequestItems={table: puts[start : start + 25]})


def expiry_table(meter: Meter, sizes: tuple[int, ...], table: str) -> str:
    from ecrm.loyalty import jobs
    from ecrm.platform import clock

    run_day = datetime(2027, 11, 20, 3, tzinfo=UTC)
    due_joined = run_day - timedelta(days=365)  # welcome lots expire 12 months after joining: on run_day
    other_joined = run_day - timedelta(days=120)
    out = [
        "| members | lots due today | DynamoDB calls | Query calls | capacity units | run time (s) |",
        "|---|---|---|---|---|---|",
    ]
    cases = [(n, 20) for n in sizes] + [(sizes[1], d) for d in (0, 60)]
    created = 0
    for idx, (members_n, due) in enumerate(cases):
        prefix = f"m{idx}"
        # Each case adds its members to the table: earlier cases' members stay, so the table only grows.
        _bulk_members(prefix + "due", due, due_joined, table)
        _bulk_members(prefix + "other", max(members_n - due, 0), other_joined, table)
        created += members_n
        clock.set_fixed(run_day)
        jobs._set_checkpoint(run_day.date())  # a one-day run (catch-up is measured by `days`)
        meter.reset()
        started = time.perf_counter()
        stats = jobs.run({})
        elapsed = time.perf_counter() - started
        assert stats["expired"] == due, stats
        _calls, cap = meter.row()
        total = sum(meter.calls.values())
        out.append(
            f"| {members_n} (table holds {created}) | {due} | {total} | {meter.calls['Query']} | "
            f"{cap} | {elapsed:.2f} |"
        )
        # The next case's lots must be due on the same day: move this case's due lots out of the way by
        # having expired them (they are CLOSED now and off the index).
    return "\n".join(out)


if __name__ == "__main__":
    main()
