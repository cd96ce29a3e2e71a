"""DynamoDB stream -> work queues. Partial batch failures: the shard resumes at the first record that failed
(retried with the ones after it), which ends in the stream DLQ after its retries; earlier records are not
repeated."""

from __future__ import annotations

from typing import Any

from ecrm.events import router
from ecrm.platform import batch
from ecrm.platform.observability import lambda_handler, logger


def record_handler(record: dict[str, Any]) -> None:
    """Route one stream record."""
    change = router.change_from_record(record)
    logger.set_correlation_id(change.correlation_id)
    router.perform(router.route(change))


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point."""
    return batch.dynamodb_stream(event, record_handler)
