"""The one clock: UTC, injectable so expiry, locks and tiers are testable (and the local stack time-travels).

The local stack and tests can also set `ECRM_CLOCK_OFFSET_SECONDS` (or call `set_offset`) to shift time for
every process that reads it, which is how an e2e test "waits out" a 30-day return window.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

_fixed: datetime | None = None
_offset = timedelta(0)


def now() -> datetime:
    """Current UTC time, honouring a fixed test time or an offset."""
    if _fixed is not None:
        return _fixed
    env_offset = os.environ.get("ECRM_CLOCK_OFFSET_SECONDS")
    offset = timedelta(seconds=float(env_offset)) if env_offset else _offset
    return datetime.now(UTC) + offset


def set_fixed(moment: datetime | None) -> None:
    """Freeze the clock (tests). `None` unfreezes."""
    global _fixed
    if moment is not None and moment.tzinfo is None:
        raise ValueError("fixed time must be timezone-aware")
    _fixed = moment


def set_offset(delta: timedelta) -> None:
    """Shift the clock by `delta` (in-process time travel)."""
    global _offset
    _offset = delta


def reset() -> None:
    """Back to the real clock."""
    global _fixed, _offset
    _fixed = None
    _offset = timedelta(0)


def iso(moment: datetime) -> str:
    """UTC ISO-8601 with millisecond precision and a Z, sortable as a string."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(value: str) -> datetime:
    """Parse an ISO-8601 timestamp (Z or offset) into an aware UTC datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def epoch(moment: datetime) -> int:
    """Epoch seconds, the unit of DynamoDB TTL."""
    return int(moment.timestamp())
