"""Logging, metrics and tracing with Powertools, paid for only as far as they are used.

The Tracer pulls in the X-Ray SDK (~300 ms import), so it is only imported when tracing is enabled.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from ecrm.platform import coldstart

F = TypeVar("F", bound=Callable[..., Any])

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "ecrm"))
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "ECRM"))


def count(outcome: str, value: int = 1) -> None:
    """One EMF metric per business outcome (OrderPlaced, EmailSent, ...)."""
    metrics.add_metric(name=outcome, unit=MetricUnit.Count, value=value)


def tracing_enabled() -> bool:
    """Tracing is on in AWS when X-Ray is active, off locally and in tests."""
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").lower() != "true" and bool(
        os.environ.get("AWS_XRAY_DAEMON_ADDRESS")
    )


@cache
def _tracer() -> Any:
    from aws_lambda_powertools import Tracer

    return Tracer()


def lambda_handler(fn: F) -> F:
    """What every function's handler wears: the Lambda context in each log line, metrics flushed at the end,
    tracing when it is on, and the end of the init phase when the first invocation starts
    (`coldstart.finish`)."""
    wrapped = metrics.log_metrics(logger.inject_lambda_context(fn))
    if tracing_enabled():
        wrapped = _tracer().capture_lambda_handler(wrapped)

    @functools.wraps(fn)
    def handler(event: Any, context: Any) -> Any:
        coldstart.finish()
        return wrapped(event, context)

    return handler  # type: ignore[return-value]


def set_correlation_id(value: str | None) -> None:
    """Carry the request's correlation id into every log line of this invocation."""
    logger.set_correlation_id(value)
