"""Loyalty queue -> points. Each message is one order's steps (earn, deliver, reverse), a guest-order link
or a tier email; each step is ONE transaction keyed by its source, so a redelivered message applies once.
Partial batch failures: a message that fails (e.g. NotReady: a return seen before the earning) is retried
alone, then lands in the loyalty DLQ."""

from __future__ import annotations

import json
from typing import Any

from ecrm.loyalty import worker
from ecrm.platform import batch
from ecrm.platform.observability import lambda_handler, logger


def record_handler(record: dict[str, Any]) -> None:
    """Apply one loyalty message."""
    message = json.loads(record["body"])
    logger.set_correlation_id(message.get("correlation_id") if isinstance(message, dict) else None)
    worker.handle(message)


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point."""
    return batch.sqs(event, record_handler)
