"""Customer notices derived from loyalty items (pure): expiry warnings and tier changes.

Both are side effects, so they come from data already committed (the warning run's Query, the stream's
old/new balance images) rather than from a write in flight: a crash between commit and send loses nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from ecrm.loyalty.engine import TierChange
from ecrm.loyalty.model import OPEN, TYPE_BALANCE, TYPE_LOT
from ecrm.loyalty.rules import Program


@dataclass(frozen=True, slots=True)
class ExpiryWarning:
    """`points` of a customer expire on `expires_on` (email once; dedupe on customer + date)."""

    customer_id: str
    points: int
    expires_on: date

    @property
    def dedupe_key(self) -> str:
        """Key for the sent-email dedupe item, so a re-run of the warning job sends nothing twice."""
        return f"loyalty-expiry#{self.customer_id}#{self.expires_on.isoformat()}"


def expiry_warnings(lot_docs: Iterable[Mapping[str, Any]], expires_on: date) -> list[ExpiryWarning]:
    """Warnings for lots expiring on `expires_on` (the warning job queries EXPIRES#<today + warning days>),
    one per customer with the points still left on those lots; customers with nothing left get none."""
    totals: dict[str, int] = {}
    for doc in lot_docs:
        if (
            doc.get("type") != TYPE_LOT
            or doc.get("state") != OPEN
            or doc.get("expires_on") != expires_on.isoformat()
        ):
            continue
        remaining = int(doc.get("remaining", 0))
        if remaining > 0:
            totals[doc["customer_id"]] = totals.get(doc["customer_id"], 0) + remaining
    return [ExpiryWarning(c, p, expires_on) for c, p in sorted(totals.items())]


def tier_change_from_images(
    program: Program, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> TierChange | None:
    """The tier change between two stream images of a balance item, or None (the stream router's trigger
    for the tier email; it fires for console edits too, as the design wants)."""
    if not new or new.get("type") != TYPE_BALANCE:
        return None
    before = (old or {}).get("tier")
    after = new.get("tier")
    if before is None or after is None or before == after:
        return None
    old_rank, new_rank = program.tier_rank(before), program.tier_rank(after)
    reason = "upgrade" if new_rank > old_rank else "downgrade"
    return TierChange(str(before), str(after), reason)
