"""Parsed product models kept in the function's memory across warm invocations.

Keyed by (product_id, version): a version's document never changes once written (an edit is a new
version), so a cached model is never stale. Only a version's *status* can change (retire); callers
check it on every request with a small read (the CURRENT pointer or a status-only GetItem), so the cache
saves the document read and the parse (a few ms), never the freshness check.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ecrm.catalog.engine import ProductModel, parse_product

MAX_ENTRIES = 64  # a storefront sells a handful of configurable products; models are ~100 KB each at most


@dataclass(frozen=True, slots=True)
class CachedProduct:
    """A parsed model with the document it came from (what GET /products/{id} renders)."""

    model: ProductModel
    document: dict[str, Any]


_entries: OrderedDict[tuple[str, int], CachedProduct] = OrderedDict()
_lock = threading.Lock()  # the local stack runs several invocations on threads of one process
stats = {"hits": 0, "misses": 0}


def get(product_id: str, version: int) -> CachedProduct | None:
    """The cached model of this version, or None."""
    with _lock:
        entry = _entries.get((product_id, version))
        if entry is None:
            stats["misses"] += 1
            return None
        _entries.move_to_end((product_id, version))
        stats["hits"] += 1
        return entry


def put(
    product_id: str, version: int, document: dict[str, Any], model: ProductModel | None = None
) -> CachedProduct:
    """Cache a stored document's model (parsed here unless the caller already has it)."""
    entry = CachedProduct(model if model is not None else parse_product(document), document)
    with _lock:
        _entries[(product_id, version)] = entry
        _entries.move_to_end((product_id, version))
        while len(_entries) > MAX_ENTRIES:
            _entries.popitem(last=False)
    return entry


def clear() -> None:
    """Forget everything (tests: simulate a cold start)."""
    with _lock:
        _entries.clear()
