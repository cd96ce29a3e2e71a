"""Pricing of a selection: exact integer minor units, independent of pick order. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ecrm.catalog.model import ProductModel
from ecrm.catalog.selection import encode_selection


@dataclass(frozen=True, slots=True)
class PriceLine:
    """One priced choice. `option` is the option id, the number value (number groups) or None (text)."""

    group: str
    option: str | None
    label: str
    amount: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"group": self.group, "option": self.option, "label": self.label, "amount": self.amount}


@dataclass(frozen=True, slots=True)
class PriceBreakdown:
    """Exact price in minor units: total == base + sum(line amounts)."""

    currency: str
    base: int
    lines: tuple[PriceLine, ...]
    total: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "currency": self.currency,
            "base": self.base,
            "lines": [line.to_dict() for line in self.lines],
            "total": self.total,
        }


def price_selection(model: ProductModel, selection: Mapping[str, Any]) -> PriceBreakdown:
    """Price a normalised selection: base + one line per chosen option/value, in model order.

    Exact ints. A conditional price replaces the option's own price when all its conditions are chosen;
    when several apply the first in document order wins. Pick order never matters: the price is a function
    of the set of chosen bits.
    """
    return price_bits(model, selection, encode_selection(model, selection))


def price_bits(model: ProductModel, sel: Mapping[str, Any], chosen: int) -> PriceBreakdown:
    c = model.compiled
    lines: list[PriceLine] = []
    total = model.base_price
    for gid, value in sel.items():
        gi = model.group_index[gid]
        g = model.groups[gi]
        if g.kind in ("single", "multi"):
            names = {o.id: o.name for o in g.options}
            for oid in (value,) if g.kind == "single" else value:
                amount = c.price_of(c.option_bit[(gi, oid)], chosen)
                lines.append(PriceLine(g.id, oid, f"{g.name}: {names[oid]}", amount))
                total += amount
        else:
            bit = (chosen & c.group_mask[gi]).bit_length() - 1
            amount = c.price_of(bit, chosen)
            if g.kind == "text":
                lines.append(PriceLine(g.id, None, g.name, amount))
            else:
                unit = f" {g.number.unit}" if g.number is not None and g.number.unit else ""
                lines.append(PriceLine(g.id, value, f"{g.name}: {value}{unit}", amount))
            total += amount
    return PriceBreakdown(model.currency, model.base_price, tuple(lines), total)
