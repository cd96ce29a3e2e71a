"""Configurations at order time: re-validate and re-price saved configurations on the server, and make
ordered configurations permanent.

`price_configurations` is what `orders.service` calls while placing an order. It never trusts anything the
client sent but the ids: the selection and its version come from the saved item, the price from the engine
run on that version's model (cached in memory, see cache.py).

Removing the TTL of an ordered configuration happens from the order's stream event (`on_order_change`, wired
in events/router.py), not here: at pricing time the order is not written yet (it may still be refused), and
the stream also covers orders written any other way. Retries are harmless (REMOVE ttl is idempotent) and the
stream lags by seconds against a 30-day TTL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ecrm.catalog import cache, store
from ecrm.catalog.engine import SelectionError, evaluate
from ecrm.platform import clock
from ecrm.platform.errors import Gone, ValidationFailed

MAX_CONFIGURATIONS = 50


def price_configurations(
    configuration_ids: list[str], fields: Mapping[str, str] | None = None
) -> dict[str, tuple[int, str, str]]:
    """configuration_id -> (unit price in minor units, currency, name), priced now on the saved version.

    Unknown or expired ids are left out (the order then names the line: `lines.N.configuration_id`).
    A configuration whose version was retired is a 410 naming the configuration and the version; one that
    no longer validates (it cannot, versions are immutable, unless the engine's rules changed) is a 422.
    Both name the request field that carried the id: `fields[configuration_id]` (the order passes
    `lines.N.configuration_id`), `configuration_id` when it is not given.
    Two or three DynamoDB calls: BatchGetItem of the configurations, BatchGetItem of their versions (status
    only when every model is cached; whole documents otherwise).
    """
    wanted = sorted(set(configuration_ids))[:MAX_CONFIGURATIONS]
    if not wanted:
        return {}
    now_epoch = clock.epoch(clock.now())
    configs = {
        cid: item for cid, item in store.get_configurations(wanted).items()
        if item.get("ttl") is None or int(item["ttl"]) >= now_epoch
    }
    if not configs:
        return {}
    keys = sorted({(str(c["product_id"]), int(c["version"])) for c in configs.values()})
    cached = {k: cache.get(*k) for k in keys}
    versions = store.get_versions(keys, status_only=all(v is not None for v in cached.values()))
    prices: dict[str, tuple[int, str, str]] = {}
    # In the caller's order (the order's lines), so the first configured line at fault is the one named.
    for cid in (c for c in dict.fromkeys(configuration_ids) if c in configs):
        item = configs[cid]
        field = (fields or {}).get(cid, "configuration_id")
        key = (str(item["product_id"]), int(item["version"]))
        version_item = versions.get(key)
        if version_item is None:
            continue  # the product version vanished (deleted in the console): unknown configuration
        if version_item.get("status") == store.RETIRED:
            raise Gone(
                f"configuration {cid} was saved on version {key[1]} of product {key[0]}, which was retired; "
                "configure the product again",
                field=field, configuration_id=cid, product_id=key[0], version=key[1],
            )
        entry = cached[key] or cache.put(key[0], key[1], version_item["document"])
        try:
            evaluation = evaluate(entry.model, item["selection"], full=False)
        except SelectionError as err:
            raise _no_longer_valid(cid, field, str(err)) from err
        if not evaluation.valid:
            raise _no_longer_valid(cid, field, "; ".join(v.message for v in evaluation.violations))
        prices[cid] = (evaluation.price.total, evaluation.price.currency, entry.model.name)
    return prices


def _no_longer_valid(cid: str, field: str, why: str) -> ValidationFailed:
    return ValidationFailed(f"configuration {cid} is no longer valid: {why}", field=field,
                            configuration_id=cid)


def on_order_change(change: Any) -> Any:
    """Stream handler for ORDER items: when an order is created, its configurations stop expiring."""
    from ecrm.events.router import Work

    work = Work()
    if change.event_name != "INSERT" or not change.new:
        return work
    order = change.new
    at = str(order.get("created_at") or clock.iso(clock.now()))
    ids = {ln.get("configuration_id") for ln in order.get("lines") or [] if ln.get("configuration_id")}
    for cid in sorted(ids):
        work.writes.append(lambda cid=cid: store.mark_ordered(str(cid), str(order.get("order_id")), at))
    return work
