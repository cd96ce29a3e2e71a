"""Partial batch responses for SQS and DynamoDB-stream event sources (ReportBatchItemFailures).

Powertools' batch utility does the same but imports every event data class and asyncio (~40 ms measured,
docs/benchmarks.md), which alone breaks the workers' cold-start budget of 1.2x `import boto3` + one client.
This is the small part of it we use, with the same response shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ecrm.platform.observability import logger


def _process(
    records: list[dict[str, Any]],
    handle: Callable[[dict[str, Any]], None],
    identify: Callable[[dict[str, Any]], str],
    stop_at_first_failure: bool,
) -> dict[str, Any]:
    failed: list[str] = []
    for record in records:
        ident = identify(record)
        if failed and stop_at_first_failure:
            failed.append(ident)
            continue
        try:
            handle(record)
        except Exception:  # one bad record must not fail the others: it is reported and retried alone
            logger.exception("record failed", extra={"item_identifier": ident})
            failed.append(ident)
    return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}


def sqs(event: dict[str, Any], handle: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Handle each SQS record; failed ones are reported by messageId and come back after the visibility
    timeout (then to the queue's DLQ after maxReceiveCount)."""
    return _process(event.get("Records") or [], handle, lambda r: r["messageId"], stop_at_first_failure=False)


def dynamodb_stream(event: dict[str, Any], handle: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Handle stream records in order; after the first failure the rest of the batch is reported too,
    because Lambda resumes the shard at the first failed sequence number and an item's later change must
    not be acted on before its earlier one."""
    return _process(
        event.get("Records") or [],
        handle,
        lambda r: r["dynamodb"]["SequenceNumber"],
        stop_at_first_failure=True,
    )
