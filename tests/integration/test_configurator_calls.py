"""The configurator's DynamoDB budget per route: with the model cached in memory (warm container), a
validate click costs one GetItem; a cold container pays one more read to load and parse the version."""

from __future__ import annotations

from ecrm.catalog import cache
from infra.local import gateway as gw
from infra.local.system import LocalSystem
from tests.integration.conftest import ADMIN
from tests.integration.dynamodb_calls import counting, request
from tests.integration.orders_helpers import order_body, unique_email

SELECTION = {"size": "44", "width": "regular", "upper": "leather", "upper-colour": "black",
             "sole": "cushion", "sole-colour": "gum", "extras": ["reflective-laces"], "monogram": "A.L."}


def test_configurator_routes_stay_within_their_dynamodb_budget(
    system: LocalSystem, gateway: gw.Gateway
) -> None:
    assert system.stack
    crm = system.stack.table()
    validate = "/products/shoe-runner/configurations/validate"

    cache.clear()  # a cold container: the pointer, then the version document (parsed once, then cached)
    with counting() as calls:
        status, cold = request(gateway, "POST", validate, {"selection": {"size": "44"}})
    assert status == 200, cold
    assert calls.on(crm) == ["GetItem", "GetItem"]

    clicks = ({"size": "44", "upper": "leather"}, SELECTION, {"sole": "carbon", "extras": ["insoles"]})
    for selection in clicks:
        with counting() as calls:
            status, _ = request(gateway, "POST", validate, {"selection": selection})
        assert status == 200
        assert calls.items == [("GetItem", crm)]  # warm: the CURRENT pointer only

    with counting() as calls:
        status, _ = request(gateway, "POST", validate, {"selection": SELECTION, "version": 1})
    assert status == 200 and calls.items == [("GetItem", crm)]  # a named version: its status only

    for path, op in (("/products/shoe-runner", "GetItem"), ("/products", "Query")):
        with counting() as calls:
            status, _ = request(gateway, "GET", path)
        assert status == 200 and calls.items == [(op, crm)], (path, calls.items)

    with counting() as calls:
        status, saved = request(
            gateway, "POST", "/products/shoe-runner/configurations", {"selection": SELECTION}
        )
    assert status in {200, 201}, saved
    assert calls.on(crm)[0] == "GetItem" and calls.on(crm)[1] == "PutItem"
    cid = saved["configuration_id"]

    with counting() as calls:
        status, _ = request(gateway, "GET", f"/configurations/{cid}")
    assert status == 200 and calls.on(crm) == ["GetItem", "GetItem"]  # configuration + its version's status

    body = order_body(unique_email(), lines=[{"configuration_id": cid, "quantity": 1}])
    with counting() as calls:
        status, order = request(gateway, "POST", "/orders", body)
    assert status == 201, order
    # configurations, their versions' status, one transaction (no SKU line: no price-list read)
    assert calls.on(crm) == ["BatchGetItem", "BatchGetItem", "TransactWriteItems"]

    with counting() as calls:
        status, _ = request(gateway, "POST", "/admin/products/shoe-runner/versions/99/retire", None, ADMIN)
    assert status == 404 and calls.on(crm) == ["GetItem"]
