"""Pricing of a selection: exact integer minor units, independent of pick order. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from ecrm.catalog.model import ProductModel
from ecrm.catalog.selection import read_selection


class PriceLine(NamedTuple):
    """One priced choice, the tuple (group, option, label, amount). `option` is the option id, the number
    value (number groups) or None (text). A named tuple because a price has one line per chosen option
    and a frozen dataclass costs several times more to build."""

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
    """Price a selection (validated and normalised first): base + one line per chosen option/value, in
    model order.

    Exact ints. A conditional price replaces the option's own price when all its conditions are chosen;
    when several apply the first in document order wins. Pick order never matters: the price is a function
    of the set of chosen bits.
    """
    sel, bits = read_selection(model, selection)
    return price_bits(model, sel, bits)


def price_bits(model: ProductModel, sel: Mapping[str, Any], chosen: int) -> PriceBreakdown:
    """Price the chosen bits of the normalised selection `sel` (see `price_selection`)."""
    c = model.compiled
    lines: list[PriceLine] = []
    total = model.base_price
    group_index = model.group_index
    for gid, value in sel.items():
        gi = group_index[gid]
        kind = c.groups[gi].kind
        group_bits = chosen & c.group_mask[gi]
        while group_bits:  # ascending bits = option order, whatever order the customer picked in
            low = group_bits & -group_bits
            group_bits ^= low
            bit = low.bit_length() - 1
            amount = c.price_of(bit, chosen) if c.price_variants[bit] else c.price_default[bit]
            total += amount
            if kind == "number":
                lines.append(
                    PriceLine(gid, value, f"{c.bit_label[bit]}: {value}{c.number_units[gi]}", amount)
                )
            else:
                lines.append(PriceLine(gid, c.bit_option[bit], c.bit_label[bit], amount))
    return PriceBreakdown(model.currency, model.base_price, tuple(lines), total)
