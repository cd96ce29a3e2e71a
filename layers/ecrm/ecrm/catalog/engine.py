"""Product configurator engine: the public API the catalog service calls. Pure: no boto3, no I/O, no clock.

    parse_product(doc) -> ProductModel                    (model.py; raises ModelError)
    check_consistency(model) -> list[ModelProblem]        (consistency.py)
    normalise_selection(model, selection) -> dict         (selection.py; raises SelectionError)
    evaluate(model, selection, *, full=True) -> Evaluation
    configuration_id(product_id, version, normalised_selection) -> str

A selection maps group id -> option id (single), [option ids] (multi), text (text) or a number given as a
string or int (number). Groups left out are "not chosen yet". See docs/configurator.md for the semantics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ecrm.catalog.consistency import check_consistency
from ecrm.catalog.encoding import SearchLimitExceeded
from ecrm.catalog.model import ModelError, ModelProblem, ProductModel, SelectionError, parse_product
from ecrm.catalog.pricing import PriceBreakdown, PriceLine, price_bits, price_selection
from ecrm.catalog.search import Analysis, Change, Violation, find_violations
from ecrm.catalog.selection import configuration_id, default_selection, normalise_selection, read_selection

__all__ = [
    "Change",
    "Evaluation",
    "ModelError",
    "ModelProblem",
    "PriceBreakdown",
    "PriceLine",
    "ProductModel",
    "SearchLimitExceeded",
    "SelectionError",
    "Violation",
    "check_consistency",
    "configuration_id",
    "default_selection",
    "evaluate",
    "normalise_selection",
    "parse_product",
    "price_selection",
]


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Everything the storefront needs after a click. See `evaluate`."""

    selection: dict[str, Any]
    valid: bool
    complete: bool
    consistent: bool | None
    violations: tuple[Violation, ...]
    price: PriceBreakdown
    selectable: dict[str, list[str]] = field(default_factory=dict)
    ranges: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    fillable: dict[str, bool] = field(default_factory=dict)
    repair: list[Change] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (lists, dicts, str, int, bool, None only)."""
        return {
            "selection": self.selection,
            "valid": self.valid,
            "complete": self.complete,
            "consistent": self.consistent,
            "violations": [v.to_dict() for v in self.violations],
            "price": self.price.to_dict(),
            "selectable": {g: list(opts) for g, opts in self.selectable.items()},
            "ranges": {g: [{"min": lo, "max": hi} for lo, hi in rs] for g, rs in self.ranges.items()},
            "fillable": dict(self.fillable),
            "repair": None if self.repair is None else [c.to_dict() for c in self.repair],
        }


def evaluate(model: ProductModel, selection: Mapping[str, Any], *, full: bool = True) -> Evaluation:
    """Validate, price and explain a (possibly partial) selection.

    - `valid`: the selection, read as final, satisfies every rule and fills every required group.
    - `complete`: every required group (and multi minimum) is filled.
    - `consistent`: the selection can still be extended to a valid configuration (None when `full` is off
      and the selection is not valid).
    - `violations`: broken rules, plus `required` / `min_selected` / `max_selected` for group limits.
    - `selectable[group]` (single/multi groups): options that, added to the selection (for single groups:
      replacing that group's own choice), still extend to at least one valid full configuration.
      `fillable[group]` (text/number) and `ranges[group]` (number, inclusive value ranges) say the same for
      groups without options.
    - `price`: see `price_selection`.
    - `repair`: [] when valid; otherwise a smallest list of per-group changes that makes it valid (fewest
      customer choices changed, then fewest other groups touched); None when no valid configuration exists.

    `full=False` computes only validity and price (the order/save path): no search, linear in the selection.
    Raises `SelectionError` for a malformed selection and `SearchLimitExceeded` for a model too hard to
    search (check_consistency rejects those at save time).
    """
    sel, bits = read_selection(model, selection)
    violations, complete = find_violations(model, bits)
    valid = not violations
    price = price_bits(model, sel, bits)
    if not full:
        return Evaluation(sel, valid, complete, True if valid else None, tuple(violations), price)
    analysis = Analysis(model, bits)
    selectable, ranges, fillable = analysis.supports()
    repair = [] if valid else analysis.repair(sel)
    return Evaluation(
        selection=sel,
        valid=valid,
        complete=complete,
        consistent=analysis.witness is not None,
        violations=tuple(violations),
        price=price,
        selectable=selectable,
        ranges=ranges,
        fillable=fillable,
        repair=repair,
    )
