"""Opaque page cursors over DynamoDB's LastEvaluatedKey, checked before they go back to DynamoDB.

A cursor returns as ExclusiveStartKey: anything but the exact key shape would be a ValidationException (a
500), and a cursor must never page through someone else's items, so the caller states what it expects.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from ecrm.platform.errors import BadRequest

GSI1_KEYS = frozenset({"pk", "sk", "gsi1pk", "gsi1sk"})
GSI2_KEYS = frozenset({"pk", "sk", "gsi2pk", "gsi2sk"})


def encode(key: dict[str, Any]) -> str:
    """LastEvaluatedKey -> url-safe opaque string."""
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


# Four key strings of at most 1024 bytes each, as base64 of JSON, fit well within this.
MAX_CURSOR_CHARS = 8192


def decode(
    cursor: str,
    expected: Callable[[dict[str, str]], bool],
    keys: frozenset[str] = GSI1_KEYS,
) -> dict[str, Any]:
    """The ExclusiveStartKey for `cursor`: string attributes `keys` exactly, accepted by `expected` (given the
    plain string values); anything else is a 400 naming `cursor`."""
    invalid = BadRequest("cursor is not valid", field="cursor")
    if len(cursor) > MAX_CURSOR_CHARS:
        raise invalid
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, RecursionError) as err:  # RecursionError: brackets nested past the parser's depth
        raise invalid from err
    if not isinstance(key, dict) or set(key) != keys:
        raise invalid
    if not all(isinstance(v, dict) and list(v) == ["S"] and _key_string(v["S"]) for v in key.values()):
        raise invalid
    if not expected({k: v["S"] for k, v in key.items()}):
        raise invalid
    return key


def _key_string(value: Any) -> bool:
    # DynamoDB refuses empty key strings and sort keys over 1024 bytes (a ValidationException, so a 500).
    return isinstance(value, str) and 0 < len(value.encode("utf-8", "surrogatepass")) <= 1024
