"""SES bounce/complaint notifications via SNS -> suppression list. A bad message raises: SNS invokes
asynchronously, Lambda retries twice, then the OnFailure DLQ keeps it for inspection."""

from __future__ import annotations

from typing import Any

from ecrm.mail import feedback
from ecrm.platform.observability import lambda_handler


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point."""
    return {"suppressed": len(feedback.handle_sns_event(event))}
