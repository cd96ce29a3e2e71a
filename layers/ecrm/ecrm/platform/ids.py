"""Identifiers: sortable, unguessable enough for ids, and content hashes for content-addressed items."""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Any

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _b32(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_ulid() -> str:
    """A 26-char ULID: 48-bit ms timestamp + 80 random bits, lexicographically time-ordered."""
    ms = int(time.time() * 1000)
    rand = int.from_bytes(os.urandom(10), "big")
    return _b32(ms, 10) + _b32(rand, 16)


def new_id(prefix: str, length: int = 10) -> str:
    """A short, human-readable id such as `ORD-7K3Q9XW2MB` (random, Crockford base32, no ambiguous chars)."""
    rand = int.from_bytes(os.urandom(8), "big")
    return f"{prefix}-{_b32(rand, length)}"


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: the same data always gives the same bytes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_hash(obj: Any, length: int = 24) -> str:
    """Hex sha256 of the canonical JSON of `obj`, truncated."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:length]
