"""DynamoDB access for orders: one GetItem/Query per read, one TransactWriteItems per change.

Keys (see docs/data-model.md):
- order:     pk=ORDER#id sk=ORDER          gsi1 CUSTOMER#cid / ORDER#ts#id   gsi2 ORDERS_BY_EMAIL#email / ts
- timeline:  pk=ORDER#id sk=EVENT#000001   (same partition: order + timeline in one Query)
- tracking:  pk=TRACKING#carrier#number sk=TRACKING -> order id
- carrier event dedupe: pk=CARRIER_EVENT#carrier#event_id sk=CARRIER_EVENT (TTL)
"""

from __future__ import annotations

from typing import Any

from ecrm.platform import aws, ddb
from ecrm.platform.errors import Conflict
from ecrm.platform.settings import table_name

ORDER_SK = "ORDER"


def order_pk(order_id: str) -> str:
    """Partition of an order and its timeline."""
    return f"ORDER#{order_id}"


def event_sk(seq: int) -> str:
    """Sort key of the `seq`-th timeline entry (zero-padded so it sorts)."""
    return f"EVENT#{seq:06d}"


def tracking_pk(carrier: str, number: str) -> str:
    """Partition of the tracking-number lookup item."""
    return f"TRACKING#{carrier}#{number}"


def get_order(order_id: str) -> dict[str, Any] | None:
    """The order item alone (one GetItem, strongly consistent: status changes read-modify-write it)."""
    resp = aws.dynamodb().get_item(
        TableName=table_name(), Key=ddb.key(order_pk(order_id), ORDER_SK), ConsistentRead=True
    )
    return ddb.from_item(resp.get("Item"))


def get_order_with_timeline(order_id: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The order and its timeline in one Query of its partition."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": table_name(),
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": ddb.values({":pk": order_pk(order_id)}),
    }
    while True:
        resp = aws.dynamodb().query(**kwargs)
        items.extend(ddb.from_item(i) for i in resp.get("Items", []))  # type: ignore[misc]
        if "LastEvaluatedKey" not in resp:
            break
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
    order = next((i for i in items if i["sk"] == ORDER_SK), None)
    events = sorted((i for i in items if i["sk"].startswith("EVENT#")), key=lambda i: i["sk"])
    return order, events


def list_customer_orders(
    customer_id: str, limit: int, cursor: dict[str, Any] | None
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """A page of a customer's orders, newest first (one Query on gsi1)."""
    kwargs: dict[str, Any] = {
        "TableName": table_name(),
        "IndexName": "gsi1",
        "Limit": limit,
        "ScanIndexForward": False,
        "KeyConditionExpression": "gsi1pk = :pk AND begins_with(gsi1sk, :prefix)",
        "ExpressionAttributeValues": ddb.values({":pk": f"CUSTOMER#{customer_id}", ":prefix": "ORDER#"}),
    }
    if cursor:
        kwargs["ExclusiveStartKey"] = cursor
    resp = aws.dynamodb().query(**kwargs)
    return [ddb.from_item(i) for i in resp.get("Items", [])], resp.get("LastEvaluatedKey")  # type: ignore[misc]


def order_id_by_tracking(carrier: str, number: str) -> str | None:
    """The order a carrier tracking number belongs to (one GetItem)."""
    resp = aws.dynamodb().get_item(
        TableName=table_name(), Key=ddb.key(tracking_pk(carrier, number), "TRACKING")
    )
    item = ddb.from_item(resp.get("Item"))
    return item["order_id"] if item else None


def create_order(order: dict[str, Any], first_event: dict[str, Any]) -> None:
    """Write a new order and its first timeline entry in one transaction."""
    table = table_name()
    aws.dynamodb().transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": table,
                    "Item": ddb.to_item(order),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Put": {
                    "TableName": table,
                    "Item": ddb.to_item(first_event),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
    )


def record_status_change(
    order: dict[str, Any],
    changes: dict[str, Any],
    event: dict[str, Any],
    tracking: dict[str, Any] | None = None,
    dedupe: dict[str, Any] | None = None,
) -> None:
    """Apply a status change: update the order (if nobody changed it since it was read), append the timeline
    entry, index the tracking number and remember the carrier event id, all in one transaction."""
    table = table_name()
    names = {f"#k{i}": k for i, k in enumerate(changes)}
    sets = ", ".join(f"#k{i} = :v{i}" for i in range(len(changes)))
    vals = {f":v{i}": v for i, v in enumerate(changes.values())}
    vals[":seq"] = order["event_seq"]
    items: list[dict[str, Any]] = [
        {
            "Update": {
                "TableName": table,
                "Key": ddb.key(order["pk"], order["sk"]),
                "UpdateExpression": f"SET {sets}",
                "ConditionExpression": "event_seq = :seq",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": ddb.values(vals),
            }
        },
        {
            "Put": {
                "TableName": table,
                "Item": ddb.to_item(event),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
    ]
    if tracking:
        items.append(
            {
                "Put": {
                    "TableName": table,
                    "Item": ddb.to_item(tracking),
                    "ConditionExpression": "attribute_not_exists(pk) OR order_id = :oid",
                    "ExpressionAttributeValues": ddb.values({":oid": order["order_id"]}),
                }
            }
        )
    if dedupe:
        items.append(
            {
                "Put": {
                    "TableName": table,
                    "Item": ddb.to_item(dedupe),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        )
    try:
        aws.dynamodb().transact_write_items(TransactItems=items)
    except aws.dynamodb().exceptions.TransactionCanceledException as err:
        codes = ddb.cancellation_codes(err)
        if len(codes) > 2 and tracking and codes[2] == "ConditionalCheckFailed":
            raise Conflict(
                "this tracking number already belongs to another order", field="tracking_number"
            ) from err
        if dedupe and codes[-1] == "ConditionalCheckFailed":
            raise DuplicateEvent() from err
        raise Conflict("the order changed while this update was being applied; retry") from err


class DuplicateEvent(Exception):
    """The carrier event was already applied."""


def put_event_if_absent(event: dict[str, Any]) -> bool:
    """Write a timeline entry unless one with its key exists (stream router, console edits)."""
    return ddb.put_if_absent(table_name(), event)
