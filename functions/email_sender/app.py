"""Email queue -> SES. One message failing (SES throttling, a poison body) does not hold back the batch."""

from __future__ import annotations

from typing import Any

from ecrm.mail import sender
from ecrm.mail.outbound import OutboundEmail
from ecrm.platform import batch
from ecrm.platform.idempotency import set_lambda_context
from ecrm.platform.observability import lambda_handler, logger


def record_handler(record: dict[str, Any]) -> None:
    """Send one queued email."""
    attrs = record.get("messageAttributes") or {}
    logger.set_correlation_id((attrs.get("correlation_id") or {}).get("stringValue"))
    sender.deliver(OutboundEmail.from_json(record["body"]))


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point."""
    set_lambda_context(context)
    return batch.sqs(event, record_handler)
