"""Daily loyalty run (EventBridge schedule): unlock, expire, tier review, birthdays, expiry warnings, with
catch-up of missed days. Idempotent: running it twice, or for a day already run, changes nothing more."""

from __future__ import annotations

from typing import Any

from ecrm.loyalty import jobs
from ecrm.platform.observability import lambda_handler


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point."""
    return jobs.run(event)
