"""Idempotent requests with Powertools' idempotency utility (its own DynamoDB table).

A retried request with the same Idempotency-Key (scoped per caller) returns the stored response and does
nothing again; the same key with a different body is refused (422), as the IETF Idempotency-Key draft asks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextvars import ContextVar
from functools import cache
from typing import Any

from ecrm.platform.errors import Conflict, ValidationFailed
from ecrm.platform.ids import content_hash
from ecrm.platform.settings import env

_KEY = re.compile(r"[\x21-\x7e]{1,255}")
_lambda_context: ContextVar[Any] = ContextVar("ecrm_lambda_context", default=None)


def set_lambda_context(context: Any) -> None:
    """Handlers call this once per invocation. Powertools then expires an in-progress record when the
    invocation's time is up, so a function that crashed mid-way is retried instead of being blocked until
    the record's long expiry."""
    _lambda_context.set(context)


@cache
def _persistence() -> Any:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(table_name=env("IDEMPOTENCY_TABLE_NAME"))


def once(
    scope: str,
    key: str | None,
    payload: Any,
    fn: Callable[[], dict[str, Any]],
    expires_after_s: int = 24 * 3600,
) -> dict[str, Any]:
    """Run `fn` once per (scope, key); without a key it simply runs."""
    if key is None:
        return fn()
    if not _KEY.fullmatch(key):
        raise ValidationFailed("must be 1-255 printable ASCII characters", field="Idempotency-Key")
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    config = IdempotencyConfig(
        event_key_jmespath="key", payload_validation_jmespath="payload", expires_after_seconds=expires_after_s
    )
    context = _lambda_context.get()
    if context is not None:
        config.register_lambda_context(context)

    @idempotent_function(data_keyword_argument="request", persistence_store=_persistence(), config=config)
    def run(request: dict[str, Any]) -> dict[str, Any]:
        return fn()

    try:
        return run(request={"key": f"{scope}#{key}", "payload": content_hash(payload, 64)})
    except IdempotencyValidationError as err:
        raise ValidationFailed(
            "this Idempotency-Key was already used with a different request", field="Idempotency-Key"
        ) from err
    except IdempotencyAlreadyInProgressError as err:
        raise Conflict(
            "a request with this Idempotency-Key is still in progress; retry shortly", field="Idempotency-Key"
        ) from err
