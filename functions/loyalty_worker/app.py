"""Loyalty queue -> points. Each message is one order's steps (earn, deliver, reverse), a guest-order link
or a tier email; each step is ONE transaction keyed by its source, so a redelivered message applies once.
Partial batch failures: a message that fails (e.g. NotReady: a return seen before the earning) is retried
alone, then lands in the loyalty DLQ."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from ecrm.loyalty import worker
from ecrm.platform.observability import capture_lambda_handler, logger, metrics

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: Any) -> None:
    """Apply one loyalty message."""
    message = json.loads(record.body)
    logger.set_correlation_id(message.get("correlation_id") if isinstance(message, dict) else None)
    worker.handle(message)


@capture_lambda_handler
@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point."""
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
