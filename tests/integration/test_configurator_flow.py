"""Product configurator on the real path: HTTP -> app.py -> catalog service -> DynamoDB (and the order's
stream event back to the configuration), on the in-process local stack."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import boto3

from infra.local.system import LocalSystem
from tests.integration.conftest import Api, wait_for
from tests.integration.orders_helpers import order_body, unique_email

SEEDS = Path(__file__).resolve().parents[2] / "infra" / "seed" / "products"
CAR_GT = {
    "model": "gt", "engine": "electric", "transmission": "auto", "colour": "matte-grey",
    "wheels": "19-sport", "interior": "nappa", "packs": ["sport", "winter"], "charging-cable": "type2-22kw",
    "plate-frame": "AURORA GT",
}


def seed(name: str) -> dict[str, Any]:
    """A seed product document."""
    return json.loads((SEEDS / f"{name}.json").read_text(encoding="utf-8"))


def fresh_product(api: Api, name: str = "car") -> tuple[str, dict[str, Any]]:
    """Publish a copy of a seed under a new id (tests that version or retire never share a product)."""
    doc = seed(name)
    doc["product_id"] = f"{doc['product_id']}-{uuid.uuid4().hex[:8]}"
    resp = api.call("PUT", f"/admin/products/{doc['product_id']}", json=doc, admin=True)
    assert resp.status_code == 200, resp.text
    assert resp.json()["version"] == 1
    return doc["product_id"], doc


def problem(resp: Any, status: int, field: str) -> dict[str, Any]:
    """Assert an RFC 9457 answer naming `field`."""
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"] == "application/problem+json"
    doc = resp.json()
    assert field in [e["field"] for e in doc["errors"]], doc
    return doc


def test_catalogue_lists_the_seeded_products_and_renders_a_model(api: Api) -> None:
    listing = api.call("GET", "/products")
    assert listing.status_code == 200
    ids = {p["product_id"]: p for p in listing.json()["products"]}
    assert {"car-aurora", "shoe-runner"} <= set(ids)
    assert ids["car-aurora"]["from_price"] == 2890000 and ids["car-aurora"]["currency"] == "EUR"

    model = api.call("GET", "/products/car-aurora").json()
    assert model["version"] >= 1 and model["currency"] == "EUR"
    groups = {g["id"]: g for g in model["groups"]}
    assert [o["id"] for o in groups["engine"]["options"]][:2] == ["petrol-1-5", "petrol-2-0"]
    assert groups["wheels"]["options"][0]["price"] == -45000
    assert any(r["message"].startswith("The GT comes with") for r in model["rules"])
    assert model["defaults"]["model"] == "hatch" and model["defaults"]["wheels"] == "17-alloy"


def test_configure_step_by_step_save_share_order_then_versions_and_retirement(
    api: Api, system: LocalSystem
) -> None:
    pid, doc = fresh_product(api)
    validate = f"/products/{pid}/configurations/validate"

    # 1. Nothing chosen: incomplete, every option still open.
    start = api.call("POST", validate, json={"selection": {}}).json()
    assert start["valid"] is False and start["complete"] is False and start["consistent"] is True
    assert {v["rule_id"] for v in start["violations"]} == {"required"}
    assert set(start["selectable"]["engine"]) == {"petrol-1-5", "petrol-2-0", "diesel-2-0", "electric"}
    assert start["configuration_id"] is None

    # 2. The GT: engines and wheels shrink to what the rules allow, the price follows.
    gt = api.call("POST", validate, json={"selection": {"model": "gt"}}).json()
    assert set(gt["selectable"]["engine"]) == {"petrol-2-0", "electric"}
    assert set(gt["selectable"]["wheels"]) == {"18-alloy", "19-sport"}
    assert "matte-grey" in gt["selectable"]["colour"]
    assert gt["price"]["total"] == 2890000 + 650000

    # 3. A conflicting pick: the violation explains itself and the repair says what to change.
    bad = api.call("POST", validate, json={"selection": {"model": "gt", "wheels": "17-alloy"}}).json()
    assert bad["valid"] is False and bad["consistent"] is False  # no completion keeps these two choices
    assert any(v["rule_id"] == "gt-big-wheels" and "18" in v["message"] for v in bad["violations"])
    released = [c for c in bad["repair"] if c["from"] is not None]
    assert len(released) == 1 and released[0]["group"] in {"model", "wheels"}  # give up one of the two
    assert {"engine", "colour", "interior"} <= {c["group"] for c in bad["repair"]}  # and fill the rest

    # 4. Complete and valid: the breakdown adds up and an id is offered.
    full = api.call("POST", validate, json={"selection": CAR_GT}).json()
    assert full["valid"] is True and full["violations"] == [] and full["repair"] == []
    price = full["price"]
    assert price["total"] == price["base"] + sum(line["amount"] for line in price["lines"])

    # 5. Save (201), save again in another order (200, same id), share.
    saved = api.call("POST", f"/products/{pid}/configurations", json={"selection": CAR_GT})
    assert saved.status_code == 201, saved.text
    cid = saved.json()["configuration_id"]
    assert cid == full["configuration_id"] and saved.headers["Location"] == f"/configurations/{cid}"
    reordered = dict(reversed(list(CAR_GT.items())), packs=["winter", "sport"])
    again = api.call("POST", f"/products/{pid}/configurations", json={"selection": reordered})
    assert again.status_code == 200 and again.json()["configuration_id"] == cid
    shared = api.call("GET", f"/configurations/{cid}").json()
    assert shared["price"] == price and shared["version"] == 1 and shared["ordered"] is False
    assert shared["expires_at"] and shared["selection"]["plate-frame"] == "AURORA GT"
    invalid = api.call("POST", f"/products/{pid}/configurations", json={"selection": {"model": "gt"}})
    assert problem(invalid, 422, "selection")["violations"]

    # 6. Order it: priced by the server from the saved configuration; a client price is refused.
    email = unique_email()
    body = order_body(email, lines=[{"configuration_id": cid, "quantity": 2}])
    body["lines"][0]["price"] = 1
    problem(api.call("POST", "/orders", json=body), 422, "lines.0.price")
    del body["lines"][0]["price"]
    placed = api.call("POST", "/orders", json=body)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["lines"][0]["configuration_id"] == cid
    assert order["lines"][0]["unit_price"]["amount"] == price["total"]
    assert order["total"]["amount"] == 2 * price["total"]

    # The order's stream event makes the configuration permanent (no TTL).
    wait_for(lambda: api.call("GET", f"/configurations/{cid}").json()["ordered"])
    assert "ttl" not in _config_item(system, cid)

    # 7. A new version with other prices: the old configuration keeps its version and its price.
    v2 = copy.deepcopy(doc)
    v2["base_price"] += 100000
    for group in v2["groups"]:
        for option in group.get("options", []):
            option["price"] = option.get("price", 0) + (1000 if option.get("price", 0) >= 0 else 0)
    published = api.call("PUT", f"/admin/products/{pid}", json=v2, admin=True)
    assert published.status_code == 200 and published.json()["version"] == 2
    assert api.call("GET", f"/products/{pid}").json()["version"] == 2
    now = api.call("POST", validate, json={"selection": CAR_GT}).json()
    assert now["version"] == 2 and now["price"]["total"] > price["total"]
    assert now["configuration_id"] != cid  # the id names the version it was made on
    old = api.call("GET", f"/configurations/{cid}").json()
    assert old["version"] == 1 and old["price"] == price
    reorder = api.call("POST", "/orders", json=order_body(unique_email(), lines=[{"configuration_id": cid,
                                                                                  "quantity": 1}]))
    assert reorder.status_code == 201 and reorder.json()["total"]["amount"] == price["total"]
    assert api.call("POST", validate, json={"selection": CAR_GT, "version": 1}).json()["version"] == 1

    # 8. Retire version 1: re-reading, ordering and validating against it are clear 410s naming the version.
    retired = api.call("POST", f"/admin/products/{pid}/versions/1/retire", admin=True)
    assert retired.status_code == 200 and retired.json()["status"] == "retired"
    assert api.call("POST", f"/admin/products/{pid}/versions/1/retire", admin=True).status_code == 200
    gone = problem(api.call("GET", f"/configurations/{cid}"), 410, "version")
    assert gone["version"] == 1 and "version 1" in gone["detail"]
    # The problem names the line that carries the retired configuration, as every per-line error does.
    current = api.call("POST", f"/products/{pid}/configurations", json={"selection": CAR_GT}).json()
    assert current["version"] == 2
    lines = [{"configuration_id": current["configuration_id"], "quantity": 1},
             {"sku": "TEE-ORG-M", "quantity": 1}, {"configuration_id": cid, "quantity": 1}]
    refused = problem(api.call("POST", "/orders", json=order_body(unique_email(), lines=lines)), 410,
                      "lines.2.configuration_id")
    assert [e["field"] for e in refused["errors"]] == ["lines.2.configuration_id"]
    assert refused["version"] == 1 and refused["configuration_id"] == cid
    alone = api.call("POST", "/orders", json=order_body(unique_email(), lines=[{"configuration_id": cid,
                                                                                "quantity": 1}]))
    assert problem(alone, 410, "lines.0.configuration_id")["version"] == 1
    problem(api.call("POST", validate, json={"selection": CAR_GT, "version": 1}), 410, "version")
    problem(api.call("POST", f"/products/{pid}/configurations", json={"selection": CAR_GT, "version": 1}),
            410, "version")
    assert api.call("POST", validate, json={"selection": CAR_GT}).json()["valid"] is True  # v2 still on sale

    # 9. Retiring the current version takes the product off sale.
    assert api.call("POST", f"/admin/products/{pid}/versions/2/retire", admin=True).status_code == 200
    problem(api.call("GET", f"/products/{pid}"), 410, "version")
    # Two retired configurations: the first line at fault is named (as for unknown SKUs).
    for both in ([lines[2], lines[1], lines[0]], lines):
        first = problem(api.call("POST", "/orders", json=order_body(unique_email(), lines=both)), 410,
                        "lines.0.configuration_id")
        assert first["configuration_id"] == both[0]["configuration_id"]
    assert pid not in {p["product_id"] for p in api.call("GET", "/products").json()["products"]}
    problem(api.call("POST", f"/admin/products/{pid}/versions/7/retire", admin=True), 404, "version")


def _config_item(system: LocalSystem, cid: str) -> dict[str, Any]:
    assert system.stack
    from ecrm.platform import ddb

    client = boto3.client("dynamodb", endpoint_url=system.stack.endpoint)
    item = client.get_item(TableName=system.stack.table(), Key=ddb.key(f"CONFIG#{cid}", "CONFIG"))["Item"]
    return ddb.from_item(item) or {}


def test_admin_save_lists_every_problem_and_models_are_readable_in_the_console(
    api: Api, system: LocalSystem
) -> None:
    pid, _ = fresh_product(api, "shoe")
    broken = seed("shoe")
    broken["product_id"] = pid
    broken["groups"][1]["options"].append({"id": "wide", "name": "Wide again", "price": 0})
    broken["rules"].append({"id": "ghost", "kind": "requires", "message": "x",
                            "if": {"group": "sole", "option": "carbon"}, "then": {"group": "laces"}})
    resp = api.call("PUT", f"/admin/products/{pid}", json=broken, admin=True)
    doc = problem(resp, 422, "groups.1.options.3.id")
    assert {"duplicate_id", "unknown_reference"} <= {e["code"] for e in doc["errors"]}
    assert len(doc["errors"]) >= 2 and all(e["field"] and e["detail"] for e in doc["errors"])

    floaty = seed("shoe") | {"product_id": pid, "base_price": 129.0}
    problem(api.call("PUT", f"/admin/products/{pid}", json=floaty, admin=True), 422, "base_price")
    other = seed("shoe")  # the id in the body must be the one in the URL
    problem(api.call("PUT", f"/admin/products/{pid}", json=other, admin=True), 422, "product_id")
    typo = seed("shoe") | {"product_id": pid, "rulez": []}
    problem(api.call("PUT", f"/admin/products/{pid}", json=typo, admin=True), 422, "rulez")
    assert api.call("GET", f"/products/{pid}").json()["version"] == 1  # nothing was saved

    # The console shows the document as a map, the version and its status.
    assert system.stack
    from ecrm.platform import ddb

    client = boto3.client("dynamodb", endpoint_url=system.stack.endpoint)
    raw = client.get_item(TableName=system.stack.table(),
                          Key=ddb.key(f"PRODUCT#{pid}", "VERSION#000001"))["Item"]
    assert raw["status"] == {"S": "active"} and "M" in raw["document"]
    assert raw["document"]["M"]["groups"]["L"][0]["M"]["id"] == {"S": "size"}


def test_bad_input_is_a_problem_naming_the_field(api: Api) -> None:
    pid = f"note-{uuid.uuid4().hex[:8]}"
    model = {
        "product_id": pid, "name": "Engraved notebook", "currency": "EUR", "base_price": 1500,
        "groups": [
            {"id": "cover", "name": "Cover", "kind": "single", "required": True,
             "options": [{"id": "linen", "name": "Linen", "default": True}, {"id": "cork", "name": "Cork"}]},
            {"id": "engraving", "name": "Engraving", "kind": "text", "max_length": 40, "price": 500},
        ],
    }
    assert api.call("PUT", f"/admin/products/{pid}", json=model, admin=True).status_code == 200
    validate = f"/products/{pid}/configurations/validate"

    problem(api.call("GET", "/products/no-such-product"), 404, "product_id")
    problem(api.call("POST", "/products/no-such-product/configurations/validate", json={"selection": {}}),
            404, "product_id")
    problem(api.call("GET", "/products/bad%20id%3Cscript%3E"), 404, "product_id")
    problem(api.call("POST", validate, json={"selection": {"paper": "dotted"}}), 422, "selection.paper")
    problem(api.call("POST", validate, json={"selection": {"cover": "gold"}}), 422, "selection.cover")
    problem(api.call("POST", validate, json={"selection": {"cover": 3}}), 422, "selection.cover")
    problem(api.call("POST", validate, json={"selection": ["cover"]}), 422, "selection")
    problem(api.call("POST", validate, json={"cover": "linen"}), 422, "cover")
    problem(api.call("POST", validate, json={"selection": {}, "version": "1"}), 422, "version")
    problem(api.call("POST", validate, json={"selection": {}, "version": 99}), 404, "version")
    problem(api.call("POST", validate, json=[1]), 422, "body")
    problem(api.call("POST", validate, data="{not json", headers={"Content-Type": "application/json"}),
            400, "body")
    for nasty in ("x" * 41, "Ada\r\nBcc: all@example.com", "line\nbreak", "bidi\u202eevil"):
        resp = api.call("POST", validate, json={"selection": {"engraving": nasty}})
        problem(resp, 422, "selection.engraving")
    priced = {"selection": {"cover": "cork"}, "price": {"total": 1}}
    problem(api.call("POST", f"/products/{pid}/configurations", json=priced), 422, "price")
    problem(api.call("GET", "/configurations/not-an-id"), 404, "configuration_id")
    problem(api.call("GET", "/configurations/" + "0" * 24), 404, "configuration_id")

    # Markup is just text: stored and echoed verbatim inside JSON, never as HTML.
    script = "<script>alert('x')</script> & \"co\""
    saved = api.call("POST", f"/products/{pid}/configurations",
                     json={"selection": {"cover": "cork", "engraving": script}})
    assert saved.status_code == 201 and saved.headers["Content-Type"] == "application/json"
    shared = api.call("GET", saved.json()["url"])
    assert shared.headers["Content-Type"] == "application/json"
    assert shared.json()["selection"]["engraving"] == script
    assert shared.json()["price"]["total"] == 1500 + 500
