"""DynamoDB stream -> work queues. Partial batch failures: a record that fails is retried alone (with the
records after it), then lands in the stream DLQ; the others are not repeated."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from ecrm.events import router
from ecrm.platform.observability import capture_lambda_handler, logger, metrics

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def record_handler(record: Any) -> None:
    """Route one stream record."""
    change = router.change_from_record(record.raw_event)
    logger.set_correlation_id(change.correlation_id)
    router.perform(router.route(change))


@capture_lambda_handler
@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point."""
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
