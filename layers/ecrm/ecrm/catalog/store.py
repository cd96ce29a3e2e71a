"""DynamoDB items of the configurator: product versions, the current-version pointer, saved configurations.

    pk=PRODUCT#<id> sk=VERSION#000001  type PRODUCT_VERSION: the admin's document (a map, readable in the
                                        console), version, status active|retired, who/when
    pk=PRODUCT#<id> sk=CURRENT         type PRODUCT: current version, latest version number, name, summary,
                                        status; gsi1pk=CATALOG gsi1sk=<id> while on sale (the listing)
    pk=CONFIG#<id>  sk=CONFIG          type CONFIGURATION: product id, version, normalised selection, price at
                                        save; `ttl` until an order references it

Every function here is one DynamoDB call (a GetItem, a Query, a BatchGetItem, a PutItem/UpdateItem or one
transaction), so a route's cost is visible from the service code.
"""

from __future__ import annotations

from typing import Any

from ecrm.platform import aws, ddb
from ecrm.platform.settings import table_name

CURRENT_SK = "CURRENT"
CATALOG = "CATALOG"
CONFIG_SK = "CONFIG"
ACTIVE, RETIRED = "active", "retired"
# Only what a cached model still needs to know per request: whether its version was retired meanwhile.
_STATUS_ONLY = "pk, sk, product_id, #v, #s"
_STATUS_NAMES = {"#s": "status", "#v": "version"}


def product_pk(product_id: str) -> str:
    """Partition of a product's versions and pointer."""
    return f"PRODUCT#{product_id}"


def version_sk(version: int) -> str:
    """Sort key of one version (zero-padded so versions sort as strings)."""
    return f"VERSION#{version:06d}"


def config_pk(configuration_id: str) -> str:
    """Partition of a saved configuration."""
    return f"CONFIG#{configuration_id}"


def _get(pk: str, sk: str, projection: str | None = None) -> dict[str, Any] | None:
    params: dict[str, Any] = {"TableName": table_name(), "Key": ddb.key(pk, sk)}
    if projection:
        params["ProjectionExpression"] = projection
        params["ExpressionAttributeNames"] = _STATUS_NAMES
    return ddb.from_item(aws.dynamodb().get_item(**params).get("Item"))


def get_current(product_id: str) -> dict[str, Any] | None:
    """The CURRENT pointer of a product (one GetItem)."""
    return _get(product_pk(product_id), CURRENT_SK)


def get_version(product_id: str, version: int, status_only: bool = False) -> dict[str, Any] | None:
    """One version item (one GetItem); `status_only` skips the document when the model is cached."""
    return _get(product_pk(product_id), version_sk(version), _STATUS_ONLY if status_only else None)


def get_versions(keys: list[tuple[str, int]], status_only: bool) -> dict[tuple[str, int], dict[str, Any]]:
    """Several version items in one BatchGetItem (order path: at most 50 distinct)."""
    table = table_name()
    spec: dict[str, Any] = {"Keys": [ddb.key(product_pk(p), version_sk(v)) for p, v in keys]}
    if status_only:
        spec |= {"ProjectionExpression": _STATUS_ONLY, "ExpressionAttributeNames": _STATUS_NAMES}
    return {(d["product_id"], int(d["version"])): d for d in _batch_get(table, spec)}


def get_configurations(configuration_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Saved configurations by id, in one BatchGetItem."""
    if not configuration_ids:
        return {}
    spec = {"Keys": [ddb.key(config_pk(c), CONFIG_SK) for c in configuration_ids]}
    return {d["configuration_id"]: d for d in _batch_get(table_name(), spec)}


def _batch_get(table: str, spec: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    request: dict[str, Any] = {table: spec}
    while request:
        resp = aws.dynamodb().batch_get_item(RequestItems=request)
        found += [ddb.from_item(item) or {} for item in resp.get("Responses", {}).get(table, [])]
        request = resp.get("UnprocessedKeys") or {}
    return found


def get_configuration(configuration_id: str) -> dict[str, Any] | None:
    """One saved configuration (one GetItem)."""
    return _get(config_pk(configuration_id), CONFIG_SK)


def list_catalog(limit: int) -> list[dict[str, Any]]:
    """Products on sale, by id (one Query on gsi1)."""
    resp = aws.dynamodb().query(
        TableName=table_name(),
        IndexName="gsi1",
        KeyConditionExpression="gsi1pk = :c",
        ExpressionAttributeValues=ddb.values({":c": CATALOG}),
        Limit=limit,
    )
    return [ddb.from_item(item) or {} for item in resp.get("Items", [])]


def put_new_version(version_item: dict[str, Any], current_item: dict[str, Any], previous: int | None) -> None:
    """Write version n+1 and move the pointer, in one transaction. The pointer's condition
    (`latest_version` still what we read) turns two concurrent admin saves into one success and one 409."""
    table = table_name()
    if previous is None:
        condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
    else:
        condition = {
            "ConditionExpression": "latest_version = :prev",
            "ExpressionAttributeValues": ddb.values({":prev": previous}),
        }
    aws.dynamodb().transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": ddb.to_item(version_item),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"TableName": table, "Item": ddb.to_item(current_item), **condition}},
        ]
    )


def retire_version(product_id: str, version: int, is_current: bool, actor: str, at: str) -> None:
    """Mark a version retired; when it is the current one the product also leaves the listing."""
    table = table_name()
    items: list[dict[str, Any]] = [
        {"Update": {
            "TableName": table, "Key": ddb.key(product_pk(product_id), version_sk(version)),
            "UpdateExpression": "SET #s = :r, retired_at = :at, retired_by = :by",
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": ddb.values({":r": RETIRED, ":at": at, ":by": actor}),
        }}
    ]
    if is_current:
        items.append({"Update": {
            "TableName": table, "Key": ddb.key(product_pk(product_id), CURRENT_SK),
            "UpdateExpression": "SET #s = :r, updated_at = :at REMOVE gsi1pk, gsi1sk",
            "ConditionExpression": "#v = :v",
            "ExpressionAttributeNames": {"#s": "status", "#v": "version"},
            "ExpressionAttributeValues": ddb.values({":r": RETIRED, ":at": at, ":v": version}),
        }})
    aws.dynamodb().transact_write_items(TransactItems=items)


def put_configuration(item: dict[str, Any], now_epoch: int) -> bool:
    """Create a saved configuration; False when it already exists (content-addressed: same id, same
    content). An item whose TTL has passed but that DynamoDB has not deleted yet counts as absent."""
    try:
        aws.dynamodb().put_item(
            TableName=table_name(),
            Item=ddb.to_item(item),
            ConditionExpression="attribute_not_exists(pk) OR (attribute_exists(#ttl) AND #ttl < :now)",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues=ddb.values({":now": now_epoch}),
        )
        return True
    except Exception as err:
        if ddb.is_condition_failure(err):
            return False
        raise


def extend_configuration(configuration_id: str, ttl: int, at: str) -> None:
    """Saved again: push the expiry out, unless an order made it permanent (no `ttl` any more)."""
    try:
        aws.dynamodb().update_item(
            TableName=table_name(),
            Key=ddb.key(config_pk(configuration_id), CONFIG_SK),
            UpdateExpression="SET #ttl = :ttl, saved_at = :at",
            ConditionExpression="attribute_exists(#ttl)",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues=ddb.values({":ttl": ttl, ":at": at}),
        )
    except Exception as err:
        if not ddb.is_condition_failure(err):
            raise


def mark_ordered(configuration_id: str, order_id: str, at: str) -> None:
    """An order references the configuration: it must never expire (REMOVE ttl). Idempotent; a missing
    configuration is not recreated."""
    try:
        aws.dynamodb().update_item(
            TableName=table_name(),
            Key=ddb.key(config_pk(configuration_id), CONFIG_SK),
            UpdateExpression="REMOVE #ttl SET ordered_at = if_not_exists(ordered_at, :at), "
            "first_order_id = if_not_exists(first_order_id, :o)",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues=ddb.values({":at": at, ":o": order_id}),
        )
    except Exception as err:
        if not ddb.is_condition_failure(err):
            raise
