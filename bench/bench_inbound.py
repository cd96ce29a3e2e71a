"""Inbound email -> automatic reply enqueued, in-process on moto, per message kind.

Run: `.venv/bin/python bench/bench_inbound.py [--n 30]`. For each kind, every iteration:
1. SES's part: the raw message is put in the inbound bucket, and InboundMailFunction is invoked with a
   real-shaped SES event (infra.local.ses), in its template environment: S3 GetObject, parse, decide,
   dedupe/customer/thread/order/points reads, the autoreply slot, ONE TransactWriteItems;
2. the stream's part: the CASE_REPLY item's INSERT routed as StreamRouterFunction would (router.route +
   router.perform: one SQS SendMessageBatch to the email queue).
The stream poll latency (Lambda polls a shard about 4 times a second) and SES sending are not included.
Prints a markdown table (milliseconds; moto in-process over HTTP, so absolute values are pessimistic and
only ratios within one run mean much).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for p in (str(ROOT), str(ROOT / "layers" / "ecrm")):
    if p not in sys.path:
        sys.path.insert(0, p)

CORPUS = ROOT / "tests" / "corpus" / "inbound"


def _email(sender: str, subject: str, body: str) -> bytes:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = f"Bench <{sender}>"
    msg["To"] = "support@shop.example"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@bench.example>"
    msg.set_content(body)
    return msg.as_bytes()


def _summary(names: list[str], kind: str) -> str:
    from collections import Counter

    counts = Counter(names)
    return ", ".join(f"{n} {c}" for n, c in sorted(counts.items()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=30)
    args = parser.parse_args()

    import logging

    logging.disable(logging.WARNING)
    from infra.local import ses, stack
    from infra.seed import load as seed_load

    server, endpoint = stack.start_moto(0)
    try:
        st = stack.create(endpoint)
        from ecrm.platform.settings import scoped_env

        with scoped_env(st.functions["ApiFunction"].environment):
            seed_load.seed_skus()
            seed_load.seed_faq()
            from ecrm.orders import service

            owner = "bench-owner@example.net"
            order_id = service.place_order(
                {
                    "lines": [{"sku": "TEE-ORG-M", "quantity": 1}],
                    "customer": {"email": owner, "name": "Bench"},
                    "shipping_address": {
                        "name": "B",
                        "line1": "1 St",
                        "city": "Ams",
                        "postal_code": "1011",
                        "country": "NL",
                    },
                },
                None,
                "bench",
            )["order_id"]
        import boto3

        from ecrm.platform import ddb

        db = boto3.client("dynamodb")
        ooo = (CORPUS / "14-ooo-en-autosubmitted.eml").read_bytes()
        kinds = {
            "faq": lambda s: _email(s, "Returns", "How do I return an item that does not fit?"),
            "ack": lambda s: _email(s, "Hello", "I have a complaint about the colour of the box."),
            "order_status": lambda s: _email(s, f"Where is {order_id}?", f"Where is my order {order_id}?"),
            "points": lambda s: _email(s, "Points", "How many points do I have?"),
            "no reply (out of office)": lambda s: ooo.replace(b"peter.lang@example.com", s.encode()),
        }
        from ecrm.events import router

        router_fn = st.functions["StreamRouterFunction"]
        samples: dict[str, tuple[list[float], list[float], list[float]]] = {k: ([], [], []) for k in kinds}
        calls: dict[str, list[str]] = {k: [] for k in kinds}
        floor: list[float] = []
        from ecrm.platform import aws

        current: list[str] = []
        for service_name in ("dynamodb", "s3", "sqs"):
            aws.client(service_name).meta.events.register(
                "before-call.*.*", lambda model, **_: current.append(model.name)
            )
        # Round-robin over the kinds: moto deep-copies the table on every transaction, so latency grows with
        # the table; interleaving gives every kind the same table sizes.
        for i in range(args.n + 3):
            for kind, make in kinds.items():
                sender = owner if kind == "order_status" else f"b{uuid.uuid4().hex[:10]}@example.net"
                if kind == "order_status":  # one sender, so the autoreply window must not get in the way
                    db.delete_item(TableName=st.table(), Key=ddb.key(f"AUTOREPLY#{owner}", "AUTOREPLY"))
                if kind == "points":
                    cid = f"c{uuid.uuid4().hex[:10]}"
                    db.put_item(
                        TableName=st.table(),
                        Item=ddb.to_item(
                            {"pk": f"EMAIL#{sender}", "sk": "EMAIL", "type": "EMAIL", "customer_id": cid}
                        ),
                    )
                    db.put_item(
                        TableName=st.table(),
                        Item=ddb.to_item(
                            {
                                "pk": f"CUSTOMER#{cid}",
                                "sk": "LOYALTY",
                                "type": "LOYALTY",
                                "available": 120,
                                "tier": "silver",
                                "expiring": [{"on": "2027-01-01", "points": 20}],
                            }
                        ),
                    )
                raw = make(sender)
                current.clear()
                t0 = time.perf_counter()
                result = ses.receive(st, raw)
                t1 = time.perf_counter()
                out = result["result"]["results"][0]
                assert (out["reply_kind"] is not None) == (kind != "no reply (out of office)"), (kind, out)
                t2 = t3 = time.perf_counter()
                if out["reply_kind"]:
                    items = db.query(
                        TableName=st.table(),
                        KeyConditionExpression="pk = :p",
                        ExpressionAttributeValues={":p": {"S": f"CASE#{out['case_ref']}"}},
                    )["Items"]
                    reply = next(ddb.from_item(x) for x in items if x["type"]["S"] == "CASE_REPLY")
                    t2 = time.perf_counter()
                    with scoped_env(router_fn.environment):
                        router.perform(router.route(router.Change("INSERT", reply, None, "1")))
                    t3 = time.perf_counter()
                calls[kind] = list(current)
                if kind == "faq":  # what one 2-item transaction costs moto at this table size
                    f0 = time.perf_counter()
                    db.transact_write_items(
                        TransactItems=[
                            {
                                "Put": {
                                    "TableName": st.table(),
                                    "Item": ddb.to_item(
                                        {"pk": f"BENCH#{uuid.uuid4().hex}", "sk": s, "type": "BENCH"}
                                    ),
                                }
                            }
                            for s in ("a", "b")
                        ]
                    )
                    floor.append((time.perf_counter() - f0) * 1000)
                if i >= 3:  # warm containers only (the first calls build the FAQ index, clients...)
                    a, b, c = samples[kind]
                    a.append((t1 - t0) * 1000)
                    b.append((t3 - t2) * 1000)
                    c.append((t1 - t0 + t3 - t2) * 1000)
        rows = [(k, *v) for k, v in samples.items()]
        print(f"Inbound message -> reply enqueued, in-process moto, n={args.n} per kind (ms, warm)\n")
        print(
            "| kind | inbound function median | p95 | router enqueue median | total median | total p95 | "
            "AWS calls (inbound function + router) |"
        )
        print("|---|---:|---:|---:|---:|---:|---|")
        for kind, a, b, c in rows:
            p95 = lambda xs: sorted(xs)[int(0.95 * (len(xs) - 1))]  # noqa: E731
            print(
                f"| {kind} | {statistics.median(a):.1f} | {p95(a):.1f} | {statistics.median(b):.1f} | "
                f"{statistics.median(c):.1f} | {p95(c):.1f} | {_summary(calls[kind], kind)} |"
            )
        print(
            f"\nmoto floor: one 2-item TransactWriteItems at the same table sizes, median "
            f"{statistics.median(floor[3:]):.1f} ms (moto deep-copies the table per transaction)."
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
