"""Configurator use cases: catalogue, product model, validate, save/share configurations, admin versions.

Request cost (warm container, model cached in memory per (product_id, version), see cache.py):
- GET /products: 1 Query. GET /products/{id}, validate, save: 1 GetItem (the CURRENT pointer, or a
  status-only GetItem of the named version), plus 1 GetItem of the version document on a cache miss;
  save adds its PutItem.
- GET /configurations/{id}: GetItem of the configuration + status-only GetItem of its version.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from ecrm.catalog import cache, store
from ecrm.catalog.engine import (
    Evaluation,
    ProductModel,
    check_consistency,
    configuration_id,
    default_selection,
    evaluate,
    parse_product,
    price_selection,
)
from ecrm.platform import clock, ddb
from ecrm.platform.errors import Conflict, Gone, NotFound, ValidationFailed
from ecrm.platform.observability import count, logger

PRODUCT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
CONFIGURATION_ID = re.compile(r"[0-9a-f]{24}")
DOCUMENT_KEYS = ("product_id", "name", "currency", "base_price", "groups", "rules")
# Keys the store owns: accepted in a PUT (an admin may send back what GET returned) and ignored.
STORE_KEYS = frozenset(
    {"version", "status", "created_at", "created_by", "retired_at", "retired_by", "defaults"}
)
SELECTION_BODY_KEYS = frozenset({"selection", "version"})
LIST_MAX = 100


# An unused configuration (never ordered) is deleted this long after its last save.
CONFIGURATION_TTL_DAYS = 30


# ------------------------------------------------------------------ reading models
def _product_id(raw: str) -> str:
    if not PRODUCT_ID.fullmatch(raw or ""):
        raise NotFound(f"product {raw!r} not found", field="product_id")
    return raw


def _gone(product_id: str, version: int) -> Gone:
    return Gone(
        f"version {version} of product {product_id} was retired and can no longer be configured or ordered",
        field="version", product_id=product_id, version=version,
    )


def load_model(product_id: str, version: int | None = None) -> cache.CachedProduct:
    """The model of `version` (default: the current one), refusing retired versions (410).

    One GetItem when the model is cached, two on a cold cache.
    """
    if version is None:
        current = store.get_current(product_id)
        if current is None:
            raise NotFound(f"product {product_id} not found", field="product_id")
        version = int(current["version"])
        if current.get("status") == store.RETIRED:
            raise _gone(product_id, version)
        cached = cache.get(product_id, version)
        if cached is not None:
            return cached
        item = store.get_version(product_id, version)
    else:
        cached = cache.get(product_id, version)
        item = store.get_version(product_id, version, status_only=cached is not None)
        if item is None:
            raise NotFound(f"product {product_id} has no version {version}", field="version")
        if item.get("status") == store.RETIRED:
            raise _gone(product_id, version)
        if cached is not None:
            return cached
    if item is None or "document" not in item:  # pointer without its version: a half-written product
        raise NotFound(f"product {product_id} not found", field="product_id")
    if item.get("status") == store.RETIRED:
        raise _gone(product_id, version)
    return cache.put(product_id, version, item["document"])


def list_products(limit: int) -> dict[str, Any]:
    """The catalogue of configurable products on sale (one Query)."""
    if not 1 <= limit <= LIST_MAX:
        raise ValidationFailed(f"must be between 1 and {LIST_MAX}", field="limit")
    items = store.list_catalog(limit)
    return {"products": [
        {k: it.get(k) for k in ("product_id", "name", "version", "currency", "base_price", "from_price")}
        for it in items
    ]}


def get_product(product_id: str) -> dict[str, Any]:
    """What a storefront renders: groups, options, prices, rules with their messages, defaults, version."""
    entry = load_model(_product_id(product_id))
    doc = entry.document
    return {
        **{k: doc.get(k) for k in DOCUMENT_KEYS},
        "version": entry.model.version,
        "defaults": default_selection(entry.model),
    }


# ------------------------------------------------------------------ storefront
def _selection_request(body: Any) -> tuple[Any, int | None]:
    if not isinstance(body, dict):
        raise ValidationFailed("body must be a JSON object", field="body")
    for key in body:
        if key not in SELECTION_BODY_KEYS:
            # Prices in particular: they are computed here, never accepted from the client.
            raise ValidationFailed(
                f"unknown field; expected {sorted(SELECTION_BODY_KEYS)}", field=str(key)[:64]
            )
    version = body.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise ValidationFailed(
            "must be a positive integer (the version the storefront rendered)", field="version"
        )
    if "selection" not in body:
        raise ValidationFailed("is required (an object: group id -> choice)", field="selection")
    return body["selection"], version


def _evaluation_view(model: ProductModel, evaluation: Evaluation) -> dict[str, Any]:
    view = {"product_id": model.product_id, "version": model.version, **evaluation.to_dict()}
    view["configuration_id"] = (
        configuration_id(model.product_id, int(model.version or 0), evaluation.selection)
        if evaluation.valid else None
    )
    return view


def validate(product_id: str, body: Any) -> dict[str, Any]:
    """Validate a partial or full selection: validity, violations with reasons, what is still selectable,
    the price breakdown and a repair suggestion (one DynamoDB read when the model is cached)."""
    selection, version = _selection_request(body)
    entry = load_model(_product_id(product_id), version)
    return _evaluation_view(entry.model, evaluate(entry.model, selection))


def save_configuration(product_id: str, body: Any, correlation_id: str | None) -> tuple[dict[str, Any], bool]:
    """Save a valid configuration under its content-addressed id; (view, created).

    The same selection on the same version always gives the same id: the first save creates it (201),
    later saves answer 200 with the same id and push its expiry out (unless an order made it permanent).
    """
    selection, version = _selection_request(body)
    entry = load_model(_product_id(product_id), version)
    model = entry.model
    evaluation = evaluate(model, selection, full=False)
    if not evaluation.valid:
        raise ValidationFailed(
            "the configuration is not valid: " + "; ".join(v.message for v in evaluation.violations),
            field="selection",
            violations=[v.to_dict() for v in evaluation.violations],
        )
    model_version = int(model.version or 0)
    cid = configuration_id(model.product_id, model_version, evaluation.selection)
    now = clock.now()
    ttl = clock.epoch(now + timedelta(days=CONFIGURATION_TTL_DAYS))
    item = {
        "pk": store.config_pk(cid), "sk": store.CONFIG_SK, "type": "CONFIGURATION",
        "configuration_id": cid, "product_id": model.product_id, "version": model_version,
        "name": model.name, "selection": evaluation.selection,
        "price_at_save": evaluation.price.to_dict(),
        "created_at": clock.iso(now), "saved_at": clock.iso(now), "ttl": ttl,
        "correlation_id": correlation_id,
    }
    created = store.put_configuration(item, clock.epoch(now))
    if not created:
        store.extend_configuration(cid, ttl, clock.iso(now))
    count("ConfigurationSaved")
    logger.info("configuration saved", extra={"configuration_id": cid, "product_id": model.product_id,
                                               "version": model_version, "created": created})
    return _configuration_view(item, model, evaluation), created


def _configuration_view(item: dict[str, Any], model: ProductModel, evaluation: Evaluation) -> dict[str, Any]:
    ttl = item.get("ttl")
    return {
        "configuration_id": item["configuration_id"],
        "product_id": item["product_id"],
        "version": int(item["version"]),
        "name": model.name,
        "selection": evaluation.selection,
        "valid": evaluation.valid,
        "violations": [v.to_dict() for v in evaluation.violations],
        "price": evaluation.price.to_dict(),
        "expires_at": clock.iso(datetime.fromtimestamp(int(ttl), UTC)) if ttl is not None else None,
        "ordered": ttl is None,
        "url": f"/configurations/{item['configuration_id']}",
    }


def _configuration_item(configuration_id: str, now_epoch: int) -> dict[str, Any] | None:
    item = store.get_configuration(configuration_id)
    if item is None or (item.get("ttl") is not None and int(item["ttl"]) < now_epoch):
        return None  # DynamoDB deletes expired items lazily (within days); expired means gone already
    return item


def get_configuration(configuration_id: str) -> dict[str, Any]:
    """A shared configuration, re-priced on the version it was saved on (410 if that version was retired)."""
    if not CONFIGURATION_ID.fullmatch(configuration_id or ""):
        raise NotFound("configuration not found", field="configuration_id")
    item = _configuration_item(configuration_id, clock.epoch(clock.now()))
    if item is None:
        raise NotFound("configuration not found (unused configurations expire)", field="configuration_id")
    entry = load_model(item["product_id"], int(item["version"]))
    evaluation = evaluate(entry.model, item["selection"], full=False)
    return _configuration_view(item, entry.model, evaluation)


# ------------------------------------------------------------------ admin
def _document(product_id: str, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValidationFailed("body must be a JSON object (the product document)", field="body")
    unknown = [k for k in body if k not in DOCUMENT_KEYS and k not in STORE_KEYS]
    if unknown:
        raise ValidationFailed(f"unknown field; expected {list(DOCUMENT_KEYS)}", field=str(unknown[0])[:64])
    if body.get("product_id", product_id) != product_id:
        raise ValidationFailed(f"must be {product_id!r}, the product id in the URL", field="product_id")
    return {**{k: body[k] for k in DOCUMENT_KEYS if k in body}, "product_id": product_id}


def put_product(product_id: str, body: Any, actor: str) -> dict[str, Any]:
    """Create a new version of a product (the first one creates the product). Every consistency problem
    is reported in one 422 (`errors`, one per problem, each with its field)."""
    pid = _product_id(product_id)
    current = store.get_current(pid)
    previous = int(current["latest_version"]) if current else None
    version = (previous or 0) + 1
    doc = {**_document(pid, body), "version": version}
    model = parse_product(doc)  # ModelError: 422 naming the field
    problems = check_consistency(model)
    if problems:
        raise ValidationFailed(
            f"the product model has {len(problems)} problem(s); nothing was saved",
            field=problems[0].field,
            errors=[{"field": p.field, "detail": p.reason, "code": p.code} for p in problems],
        )
    defaults = default_selection(model)
    from_price = price_selection(model, defaults).total
    now = clock.iso(clock.now())
    version_item = {
        "pk": store.product_pk(pid), "sk": store.version_sk(version), "type": "PRODUCT_VERSION",
        "product_id": pid, "version": version, "status": store.ACTIVE, "name": model.name,
        "document": doc, "created_at": now, "created_by": actor,
    }
    current_item = {
        "pk": store.product_pk(pid), "sk": store.CURRENT_SK, "type": "PRODUCT",
        "product_id": pid, "version": version, "latest_version": version, "status": store.ACTIVE,
        "name": model.name, "currency": model.currency, "base_price": model.base_price,
        "from_price": from_price, "groups": len(model.groups),
        "created_at": (current or {}).get("created_at", now), "updated_at": now, "updated_by": actor,
        "gsi1pk": store.CATALOG, "gsi1sk": pid,
    }
    try:
        store.put_new_version(version_item, current_item, previous)
    except Exception as err:
        if ddb.is_condition_failure(err):
            raise Conflict("another version was saved at the same time; reload and try again",
                           field="version") from err
        raise
    cache.put(pid, version, doc, model)
    count("ProductVersionSaved")
    logger.info("product version saved", extra={"product_id": pid, "version": version, "actor": actor})
    return {"product_id": pid, "version": version, "status": store.ACTIVE, "name": model.name,
            "from_price": from_price, "currency": model.currency}


def retire_version(product_id: str, version_raw: str, actor: str) -> dict[str, Any]:
    """Retire a version: its configurations can no longer be re-read or ordered (410). Retiring the
    current version takes the product off sale until a new version is saved. Idempotent."""
    pid = _product_id(product_id)
    if not re.fullmatch(r"[1-9]\d{0,8}", version_raw or ""):
        raise ValidationFailed("must be a positive integer", field="version")
    version = int(version_raw)
    item = store.get_version(pid, version, status_only=True)
    if item is None:
        raise NotFound(f"product {pid} has no version {version}", field="version")
    if item.get("status") != store.RETIRED:
        current = store.get_current(pid)
        is_current = bool(current) and int(current["version"]) == version
        try:
            store.retire_version(pid, version, is_current, actor, clock.iso(clock.now()))
        except Exception as err:
            if ddb.is_condition_failure(err):
                raise Conflict("the product changed meanwhile; try again", field="version") from err
            raise
        logger.info("product version retired", extra={"product_id": pid, "version": version, "actor": actor})
    return {"product_id": pid, "version": version, "status": store.RETIRED}
