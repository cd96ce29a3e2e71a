"""Thin helpers over the low-level DynamoDB client: (de)serialisation and call shapes.

Stores use the low-level client on purpose: one client per container, TransactWriteItems everywhere, and
every call is countable in tests.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from ecrm.platform import aws

_ser = TypeSerializer()
_deser = TypeDeserializer()


def _plain(value: Any) -> Any:
    # DynamoDB numbers come back as Decimal; our domain uses int wherever the value is integral.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return {_plain(v) for v in value}
    return value


def _wire(value: Any) -> Any:
    if isinstance(value, float):
        raise TypeError("floats are not allowed in items; use int minor units or Decimal")
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_wire(v) for v in value]
    return value


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    """Python dict -> DynamoDB AttributeValue map (None values dropped)."""
    return {k: _ser.serialize(v) for k, v in _wire(data).items()}


def from_item(item: dict[str, Any] | None) -> dict[str, Any] | None:
    """DynamoDB AttributeValue map -> Python dict with ints where integral."""
    if item is None:
        return None
    return {k: _plain(_deser.deserialize(v)) for k, v in item.items()}


def value(v: Any) -> dict[str, Any]:
    """One AttributeValue (for expression attribute values)."""
    return _ser.serialize(_wire(v))


def values(mapping: dict[str, Any]) -> dict[str, Any]:
    """ExpressionAttributeValues from a plain mapping."""
    return {k: value(v) for k, v in mapping.items()}


def key(pk: str, sk: str) -> dict[str, Any]:
    """The primary key AttributeValue map."""
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def is_condition_failure(error: Exception) -> bool:
    """True when a write failed only because its condition did not hold."""
    code = getattr(error, "response", {}).get("Error", {}).get("Code", "")
    return code in {"ConditionalCheckFailedException", "TransactionCanceledException"}


def put_if_absent(
    table: str,
    item: dict[str, Any],
    replace_if: str | None = None,
    names: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> bool:
    """PutItem `item` (a plain dict) unless an item with its key exists; False when one does.

    `replace_if` widens the condition: an existing item is replaced when that expression holds for it
    (`names` / `values` are its attribute names and plain values). Any failure other than the condition
    raises."""
    kwargs: dict[str, Any] = {
        "TableName": table,
        "Item": to_item(item),
        "ConditionExpression": "attribute_not_exists(pk)" + (f" OR {replace_if}" if replace_if else ""),
    }
    if names:
        kwargs["ExpressionAttributeNames"] = names
    if values:
        kwargs["ExpressionAttributeValues"] = {k: value(v) for k, v in values.items()}
    try:
        aws.dynamodb().put_item(**kwargs)
        return True
    except Exception as err:
        if getattr(err, "response", {}).get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise


def cancellation_codes(error: Exception) -> list[str]:
    """Per-item reasons of a cancelled transaction ('None', 'ConditionalCheckFailed', ...)."""
    reasons = getattr(error, "response", {}).get("CancellationReasons") or []
    return [r.get("Code", "None") for r in reasons]
