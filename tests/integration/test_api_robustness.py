"""Every route, fed mutations of its own sample request (events/api), answers below 500, and every 4xx it
gives is an RFC 9457 problem+json whose validation errors name the field at fault.

The samples are real-shaped requests that succeed; one to three mutations (a value replaced by another JSON
value of any type, a key dropped or an unknown key added, a path or query parameter replaced) then probe the
checks behind each field. The path parameters point at what this module creates first (an order, a saved
configuration, a member, carrier events signed like the carrier's), so the mutations reach past "not found".
Writes that would change shared seed data (products, FAQ entries, the seeded customers' mailboxes) go to ids
of their own. `ECRM_FUZZ_EXAMPLES` and `ECRM_FUZZ_RANDOM=1` widen the search when hunting (CI stays
deterministic).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecrm.mail import faq_store
from ecrm.orders import carriers
from ecrm.platform import clock
from infra.local import gateway as gw
from infra.local import tokens
from infra.local.system import LocalSystem
from tests.integration.conftest import ADMIN_AUTHORIZATION

EVENTS = Path(__file__).resolve().parents[2] / "events" / "api"
# Seeded data the other suites rely on: fuzzed writes go to these ids instead.
OWN_IDS = {"product_id": "fuzz-aurora", "faq_id": "fuzz-faq"}
FUZZ_EMAIL = "fuzz@example.com"
MEMBER_EMAIL = "fuzz.member@example.com"
REQUESTS = itertools.count()
EXAMPLES = int(os.environ.get("ECRM_FUZZ_EXAMPLES", "12"))

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["", " ", "0", "-1", "1e400", "<script>alert(1)</script>", "' OR 1=1 --", "x" * 5000]),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)

odd_text = st.text(min_size=1, max_size=300) | st.sampled_from(
    ["..", "%", "0", "-1", "9" * 40, "1.5", "null"]
)


def _samples() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(EVENTS.glob("*.json"))]


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every position in a JSON document (the root included)."""
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += _paths(value, (*prefix, i))
    return found


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = json.loads(json.dumps(doc))
    parent = copy
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return copy


def _drop(doc: Any, path: tuple[Any, ...]) -> Any:
    copy = json.loads(json.dumps(doc))
    parent = copy
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]
    return copy


@st.composite
def mutated(
    draw: st.DrawFn, sample: dict[str, Any], own: dict[str, str]
) -> tuple[dict[str, str], dict[str, str], Any]:
    """The sample's path parameters (pointed at `own` ids), query string and JSON body, after one to three
    mutations."""
    params = _own_params(sample, own)
    query = dict(sample.get("queryStringParameters") or {})
    doc = json.loads(sample["body"]) if sample.get("body") else None
    if isinstance(doc, dict):
        for key in ("product_id", "tracking_number", "carrier"):
            if key in doc:
                doc[key] = params.get(key) or own.get(key, doc[key])
    doc = _own_addresses(doc)
    for _ in range(draw(st.integers(1, 3))):
        kinds = ["replace", "drop", "add"] + (["param"] if params else []) + ["query"]
        kind = draw(st.sampled_from(kinds))
        if kind == "param":
            name = draw(st.sampled_from(sorted(params)))
            params[name] = draw(odd_text)
        elif kind == "query":
            name = draw(st.sampled_from([*sorted(query), "cursor", "limit"]))
            query[name] = draw(odd_text)
        else:
            doc = _mutate_body(draw, doc, kind)
    return params, query, doc


def _mutate_body(draw: st.DrawFn, doc: Any, kind: str) -> Any:
    positions = _paths(doc)
    if kind == "replace" or doc is None:
        return _replace(doc, draw(st.sampled_from(positions)), draw(json_value))
    droppable = [p for p in positions if p]
    if kind == "drop" and droppable:
        return _drop(doc, draw(st.sampled_from(droppable)))
    objects = [p for p in positions if isinstance(_at(doc, p), dict)]
    if not objects:
        return draw(json_value)
    where = draw(st.sampled_from(objects))
    return _replace(doc, (*where, draw(st.text(min_size=1, max_size=12))), draw(json_value))


def _own_addresses(doc: Any) -> Any:
    """The sample with every email address replaced by a placeholder that `_request` makes unique: the
    seeded customers' mailboxes stay as the other suites expect, and no sender hits its rate limit."""
    if isinstance(doc, dict):
        return {k: FUZZ_EMAIL if k == "email" else _own_addresses(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_own_addresses(v) for v in doc]
    return doc


def _own_params(sample: dict[str, Any], own: dict[str, str]) -> dict[str, str]:
    """The sample's path parameters, pointed at what `own` created (and admin writes at `OWN_IDS`)."""
    params = {k: own.get(k, v) for k, v in (sample.get("pathParameters") or {}).items()}
    if _is_admin(sample):
        params = {k: OWN_IDS.get(k, v) for k, v in params.items()}
    return params


def _is_admin(sample: dict[str, Any]) -> bool:
    return bool(sample["requestContext"].get("identity", {}).get("userArn"))


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


@pytest.fixture(scope="module")
def own(gateway: gw.Gateway, system: LocalSystem) -> Iterator[dict[str, str]]:
    """An order (paid and shipped, so carrier events apply), its tracking token, a saved configuration and a
    member, created through the API for the mutations to aim at. Afterwards, every FAQ topic and product
    the mutations created is deleted: the knowledge base answers the other suites' mail; they list products.
    """
    assert system.stack
    table = system.stack.table()
    before = _shared_keys(table)

    def call(method: str, path: str, doc: Any, token: str | None = None, admin: bool = False) -> Any:
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = "Bearer " + token
        if admin:
            headers["authorization"] = ADMIN_AUTHORIZATION
        status, _, data = gateway.handle(method, path, headers, json.dumps(doc).encode(), "10.78.0.1")
        assert status < 300, data
        return json.loads(data)

    order_doc = json.loads(_sample("place_guest_order")["body"])
    order_doc["customer"]["email"] = "fuzz-own@example.com"
    order = call("POST", "/orders", order_doc)
    number = "JD0146" + str(next(REQUESTS)).zfill(14)
    call("POST", f"/admin/orders/{order['order_id']}/status", {"status": "paid"}, admin=True)
    shipped = {"status": "shipped", "carrier": "dhl", "tracking_number": number}
    call("POST", f"/admin/orders/{order['order_id']}/status", shipped, admin=True)
    saved = call(
        "POST", "/products/car-aurora/configurations", json.loads(_sample("save_configuration")["body"])
    )
    product = json.loads(_sample("put_product")["body"])
    call(
        "PUT",
        f"/admin/products/{OWN_IDS['product_id']}",
        {**product, "product_id": OWN_IDS["product_id"]},
        admin=True,
    )
    token = tokens.mint(MEMBER_EMAIL)
    call("POST", "/members", {"marketing_consent": False}, token=token)
    yield {
        "order_id": order["order_id"],
        "token": order["tracking_url"].rsplit("/", 1)[1],
        "configuration_id": saved["configuration_id"],
        "tracking_number": number,
        "carrier": "dhl",
        "member_id": tokens.verify(token)["sub"],
    }
    ddb = boto3.client("dynamodb")
    for key in _shared_keys(table) - before:
        ddb.delete_item(TableName=table, Key={"pk": {"S": key[0]}, "sk": {"S": key[1]}})
    faq_store.invalidate()


def _shared_keys(table: str) -> set[tuple[str, str]]:
    """The keys of every FAQ topic and product item: what the other suites read as the shop's own."""
    pages = (
        boto3.client("dynamodb")
        .get_paginator("scan")
        .paginate(
            TableName=table,
            ProjectionExpression="pk, sk",
            FilterExpression="begins_with(pk, :faq) OR begins_with(pk, :product)",
            ExpressionAttributeValues={":faq": {"S": "FAQ#"}, ":product": {"S": "PRODUCT#"}},
        )
    )
    return {(item["pk"]["S"], item["sk"]["S"]) for page in pages for item in page["Items"]}


def _sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def _request(
    gateway: gw.Gateway, sample: dict[str, Any], params: dict[str, str], query: dict[str, str], doc: Any
) -> tuple[int, dict[str, str], bytes]:
    """The sample's request with these parameters and this JSON body (its own addresses made unique)."""
    n = next(REQUESTS)
    text = json.dumps(doc).replace(json.dumps(FUZZ_EMAIL), json.dumps(f"fuzz-{n}@example.com"))
    data = b"" if doc is None and not sample.get("body") else text.encode()
    return _send(gateway, sample, params, query, data, n)


def _send(
    gateway: gw.Gateway,
    sample: dict[str, Any],
    params: dict[str, str],
    query: dict[str, str],
    data: bytes,
    n: int,
) -> tuple[int, dict[str, str], bytes]:
    """The sample's request with these parameters and raw body, authorised (and signed) as its route wants."""
    path = sample["resource"]
    for name, value in params.items():
        path = path.replace("{" + name + "}", quote(value, safe=""))
    if query:
        path += "?" + urlencode(query)
    headers = {"content-type": "application/json"}
    resource_auth = sample["requestContext"].get("authorizer") or {}
    if "claims" in resource_auth:
        headers["authorization"] = "Bearer " + tokens.mint(MEMBER_EMAIL)
    elif _is_admin(sample):
        headers["authorization"] = ADMIN_AUTHORIZATION
    if sample["resource"] == "/carrier-events":
        secret = gateway.api.environment["CARRIER_WEBHOOK_SECRET"].encode()
        headers[carriers.SIGNATURE_HEADER.lower()] = carriers.sign(secret, data, clock.now())
    # One address per request as well: the per-IP limits (the contact form's) would otherwise answer 429.
    return gateway.handle(sample["httpMethod"], path, headers, data, f"10.77.{n // 250 % 250}.{n % 250 + 1}")


def _check(status: int, headers: dict[str, str], data: bytes, what: str) -> None:
    assert status < 500, f"{what}: {status} {data[:500]!r}"
    if 400 <= status < 500:
        ctype = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
        assert ctype == "application/problem+json", f"{what}: {status} {ctype} {data[:300]!r}"
        problem = json.loads(data)
        assert problem["status"] == status and problem["title"] and problem["detail"], what
        if status in (400, 422):
            errors = problem.get("errors") or []
            assert errors and all(e.get("field") and e.get("detail") for e in errors), f"{what}: {problem}"


# Every route but the one-click unsubscribe, whose body is a form (RFC 8058), not JSON.
JSON_SAMPLES = [s for s in _samples() if s.get("body") is None or not s["body"].startswith("List-")]


# The local stack's pollers run in background threads and use `random` (retry jitter) while Hypothesis
# draws an example; Hypothesis then suspects the strategy itself of using `random`. It does not.
@pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
@pytest.mark.parametrize("sample", JSON_SAMPLES, ids=lambda s: f"{s['httpMethod']} {s['resource']}")
def test_mutated_requests_get_a_4xx_problem_never_a_500(
    gateway: gw.Gateway, own: dict[str, str], sample: dict[str, Any]
) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=os.environ.get("ECRM_FUZZ_RANDOM") is None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(mutated(sample, own))
    def probe(case: tuple[dict[str, str], dict[str, str], Any]) -> None:
        params, query, doc = case
        status, headers, data = _request(gateway, sample, params, query, doc)
        what = f"{sample['httpMethod']} {sample['resource']} {params} {query} {doc!r:.300}"
        _check(status, headers, data, what)

    probe()


@pytest.mark.parametrize(
    "path",
    ["/products/car-aurora/configurations/validate", "/products/car-aurora/configurations", "/contact"],
)
def test_an_unknown_empty_key_is_named_too(gateway: gw.Gateway, path: str) -> None:
    status, _, data = gateway.handle(
        "POST", path, {"content-type": "application/json"}, b'{"": null}', "203.0.113.9"
    )
    assert status == 422
    assert json.loads(data)["errors"][0]["field"] == '""'


RAW_BODIES = {
    "deeply nested array": b"[" * 30000 + b"]" * 30000,
    "deeply nested object": b'{"a":' * 10000 + b"1" + b"}" * 10000,
    "nested 900 deep": b'{"selection": '
    + b"[" * 900
    + b"]" * 900
    + b', "lines": '
    + b"[" * 900
    + b"]" * 900
    + b"}",
    "NaN": b'{"selection": {"model": NaN}, "lines": [{"sku": "TEE-ORG-M", "quantity": NaN}]}',
    "Infinity": b'{"points": Infinity, "lines": [{"sku": "TEE-ORG-M", "quantity": -Infinity}]}',
    "5000-digit number": b'{"points": ' + b"9" * 5000 + b', "quantity": 1e999}',
    "invalid UTF-8": b'{"name": "\xff\xfe"}',
    "byte order mark": b'\xef\xbb\xbf{"selection": {}}',
    "lone surrogate": b'{"message": "\\ud800", "name": "\\udfff"}',
    "not JSON": b"hello",
    "empty": b"",
}
# JSON after all (a byte order mark may be ignored, RFC 8259), or no body where one is optional (joining
# the programme): what a route says of these is its own business. Routes without a body ignore them all.
ROUTE_DECIDES = {"nested 900 deep", "byte order mark", "lone surrogate", "empty"}
WRITE_SAMPLES = [s for s in JSON_SAMPLES if s["httpMethod"] in ("POST", "PUT", "PATCH")]


@pytest.mark.parametrize("sample", WRITE_SAMPLES, ids=lambda s: f"{s['httpMethod']} {s['resource']}")
def test_bodies_json_cannot_hold_get_a_4xx_problem(
    gateway: gw.Gateway, own: dict[str, str], sample: dict[str, Any]
) -> None:
    params = _own_params(sample, own)
    for name, data in RAW_BODIES.items():
        status, headers, body = _send(gateway, sample, params, {}, data, next(REQUESTS))
        what = f"{sample['httpMethod']} {sample['resource']} with {name}"
        _check(status, headers, body, what)
        if sample.get("body") and name not in ROUTE_DECIDES:  # not JSON documents, whatever the route
            assert status == 400 and json.loads(body)["errors"][0]["field"] == "body", what


def test_a_body_that_is_not_json_by_its_media_type_is_a_415_naming_it(gateway: gw.Gateway) -> None:
    for media_type in ("text/plain", "multipart/form-data; boundary=x"):
        status, headers, data = gateway.handle(
            "POST",
            "/products/car-aurora/configurations/validate",
            {"content-type": media_type},
            b"{}",
            "10.79.0.1",
        )
        problem = json.loads(data)
        assert status == 415 and headers["Content-Type"] == "application/problem+json"
        assert (
            problem["type"].endswith("/unsupported-media-type")
            and problem["title"] == "Unsupported media type"
        )
        assert (
            problem["detail"] == f"Unsupported media type: {media_type}"
        )  # Chalice's words, not a dict's repr
        assert problem["errors"] == [{"field": "Content-Type", "detail": problem["detail"]}]
        assert problem["instance"] == "/products/car-aurora/configurations/validate"  # the URL, not the route


def test_a_cursor_nested_past_the_parser_is_a_400_naming_it(gateway: gw.Gateway) -> None:
    deep = base64.urlsafe_b64encode(b"[" * 1000).decode().rstrip("=")
    headers = {"authorization": "Bearer " + tokens.mint(MEMBER_EMAIL)}
    for path, extra in (
        ("/me/orders", {}),
        ("/me/points", {}),
        ("/admin/cases", {"authorization": ADMIN_AUTHORIZATION}),
    ):
        for cursor in (deep, "A" * 9000):
            status, _, data = gateway.handle(
                "GET", f"{path}?unanswered=1&cursor={cursor}", {**headers, **extra}, b"", "10.79.0.2"
            )
            assert status == 400 and json.loads(data)["errors"][0]["field"] == "cursor", (path, data[:200])
