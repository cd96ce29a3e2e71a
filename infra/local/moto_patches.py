"""Two fixes to moto's DynamoDB for a local stack that runs concurrent requests and many transactions.

1. Linearisable: moto serves requests on threads without a lock; one lock around every DynamoDB operation
   makes it behave like the real service for concurrency tests (50 simultaneous redemptions).
2. Transactions without copying tables: moto backs up every table a transaction touches with a deep copy
   (cost grows with the table: seconds per transaction after a few thousand items) and, on failure,
   restores that copy, replacing the table object (and its stream shard) under everyone's feet. Here the
   conditions are checked first and the writes applied only if all hold; under the lock nothing can change
   in between, which is the all-or-nothing DynamoDB gives.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

_OPERATIONS = (
    "put_item",
    "update_item",
    "delete_item",
    "transact_write_items",
    "batch_write_item",
    "get_item",
    "query",
    "batch_get_item",
    "transact_get_items",
)


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    seen: set[tuple[str, str]] = set()
    plan: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    errors: list[Any] = []
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(entry.items()))
        if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
            raise ValueError("Unsupported transaction operation")
        table = self.get_table(op["TableName"])
        if op_type == "Put":
            key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = op["Item"][table.range_key_attr]
        else:
            key = op["Key"]
        marker = (op["TableName"], str(dict(sorted(key.items()))))
        if marker in seen:
            raise MultipleTransactionsException()
        seen.add(marker)
        current = self.get_item(op["TableName"], key)
        condition = op.get("ConditionExpression")
        if condition is not None:
            expr = get_filter_expression(
                condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            )
            if not expr.expr(current):
                old = (
                    current.to_json()["Attributes"]
                    if (op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current)
                    else None
                )
                errors.append(("ConditionalCheckFailed", ConditionalCheckFailed().message, old))
                continue
        errors.append((None, None, None))
        plan.append((op_type, op, key))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    backups = [
        (op["TableName"], key, copy.deepcopy(self.get_item(op["TableName"], key)))
        for op_type, op, key in plan
        if op_type != "ConditionCheck"
    ]
    try:
        for op_type, op, key in plan:
            # Conditions are passed again (they hold: nothing ran in between) so moto validates as before.
            kw = {
                "condition_expression": op.get("ConditionExpression"),
                "expression_attribute_names": op.get("ExpressionAttributeNames"),
                "expression_attribute_values": op.get("ExpressionAttributeValues"),
            }
            if op_type == "Put":
                self.put_item(op["TableName"], op["Item"], **kw)
            elif op_type == "Delete":
                self.delete_item(op["TableName"], key, **kw)
            elif op_type == "Update":
                self.update_item(op["TableName"], key, update_expression=op["UpdateExpression"], **kw)
    except Exception:
        # A malformed update half-way: put the touched items back as they were (rare; validation errors).
        for table_name, key, item in backups:
            if item is None:
                self.delete_item(table_name, key)
            else:
                self.put_item(table_name, item.to_json()["Attributes"])
        raise


def apply() -> None:
    """Patch moto's DynamoDB backend (idempotent)."""
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend, "_ecrm_patched", False):
        return
    DynamoDBBackend.transact_write_items = _transact_write_items
    lock = threading.RLock()
    for name in _OPERATIONS:
        original = getattr(DynamoDBBackend, name)

        def locked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return __original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, locked)
    DynamoDBBackend._ecrm_patched = True  # type: ignore[attr-defined]
