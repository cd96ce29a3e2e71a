"""A correlation id given by the storefront (or API Gateway's request id) follows the work it causes."""

from __future__ import annotations

import boto3

from ecrm.events import router
from ecrm.platform import ddb
from infra.local.system import LocalSystem
from tests.integration.conftest import Api
from tests.integration.orders_helpers import order_body, unique_email


def test_correlation_id_travels_from_request_to_item_to_email_message(api: Api, system: LocalSystem) -> None:
    corr = "storefront-req-4711-abcdef"
    resp = api.call("POST", "/orders", json=order_body(unique_email()), headers={"X-Correlation-Id": corr})
    assert resp.headers["X-Correlation-Id"] == corr
    oid = resp.json()["order_id"]
    assert system.stack
    client = boto3.client("dynamodb", endpoint_url=system.stack.endpoint)
    item = client.get_item(TableName=system.stack.table(), Key=ddb.key(f"ORDER#{oid}", "ORDER"))["Item"]
    assert item["correlation_id"]["S"] == corr
    change = router.Change("INSERT", ddb.from_item(item), None, "1")
    work = system.invoke_in("StreamRouterFunction", router.route, change)
    assert [e.correlation_id for e in work.emails] == [corr]
    generated = api.call(
        "POST", "/orders", json=order_body(unique_email()), headers={"X-Correlation-Id": "<script>"}
    )
    assert generated.headers["X-Correlation-Id"] not in {"", "<script>"}
