"""Logging, metrics and tracing with Powertools, paid for only as far as they are used.

The Tracer pulls in the X-Ray SDK (~300 ms import), so it is only imported when tracing is enabled.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

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


def capture_lambda_handler(fn: F) -> F:
    """Tracer.capture_lambda_handler when tracing is on; the function itself otherwise."""
    if not tracing_enabled():
        return fn
    return _tracer().capture_lambda_handler(fn)


def set_correlation_id(value: str | None) -> None:
    """Carry the request's correlation id into every log line of this invocation."""
    logger.set_correlation_id(value)
