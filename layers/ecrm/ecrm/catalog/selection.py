"""Customer selections: validation, canonical form, bit encoding and content-addressed ids. Pure."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ecrm.catalog.model import (
    Group,
    ProductModel,
    SelectionError,
    check_free_text,
    format_decimal,
    parse_decimal,
)
from ecrm.platform.ids import content_hash


def normalise_selection(model: ProductModel, selection: Mapping[str, Any]) -> dict[str, Any]:
    """Validate `selection` against the model and return its canonical form.

    Canonical: groups in model order, unset groups (None, "", []) left out, multi lists sorted, text NFC
    normalised and trimmed, numbers as exact canonical decimal strings ("42.50" and 42.5 -> "42.5"). The
    order in which options were picked therefore never changes the result (nor the configuration id).
    Raises `SelectionError(field, reason)` for unknown groups/options, wrong types, text that is too long,
    contains control characters or does not match the pattern, and numbers out of range or off step.
    """
    if not isinstance(selection, Mapping):
        raise SelectionError("selection", "must be an object")
    for key in selection:
        if not isinstance(key, str) or key not in model.group_index:
            raise SelectionError(f"selection.{key}", "unknown group")
    out: dict[str, Any] = {}
    for group in model.groups:
        if group.id not in selection:
            continue
        value = _normalise_value(group, selection[group.id], f"selection.{group.id}")
        if value is not None:
            out[group.id] = value
    return out


def _normalise_value(group: Group, raw: Any, where: str) -> Any:
    if raw is None:
        return None
    if group.kind == "single":
        if not isinstance(raw, str):
            raise SelectionError(where, "must be an option id")
        if not any(o.id == raw for o in group.options):
            raise SelectionError(where, f"unknown option '{raw}'")
        return raw
    if group.kind == "multi":
        if not isinstance(raw, (list, tuple)):
            raise SelectionError(where, "must be a list of option ids")
        if len(raw) > len(group.options):
            raise SelectionError(where, "lists more options than the group has")
        known = {o.id for o in group.options}
        seen: set[str] = set()
        for i, item in enumerate(raw):
            if not isinstance(item, str):
                raise SelectionError(f"{where}.{i}", "must be an option id")
            if item not in known:
                raise SelectionError(f"{where}.{i}", f"unknown option '{item}'")
            if item in seen:
                raise SelectionError(f"{where}.{i}", f"option '{item}' listed twice")
            seen.add(item)
        return sorted(seen) or None
    if group.kind == "text":
        if not isinstance(raw, str):
            raise SelectionError(where, "must be a string")
        # Bound the work before normalising: NFC can grow a string, but not by more than a small factor.
        if len(raw) > 4 * group.max_length + 16:
            raise SelectionError(where, f"must be at most {group.max_length} characters")
        bad = check_free_text(raw)
        if bad:
            raise SelectionError(where, bad)
        text = unicodedata.normalize("NFC", raw).strip()
        if not text:
            return None
        if len(text) > group.max_length:
            raise SelectionError(where, f"must be at most {group.max_length} characters")
        if group.pattern is not None and not group.pattern.fullmatch(text):
            raise SelectionError(where, "does not match the allowed pattern")
        return text
    spec = group.number
    assert spec is not None
    if isinstance(raw, str) and not raw.strip():
        return None
    value = parse_decimal(raw, where, SelectionError)
    if value < spec.min or value > spec.max:
        raise SelectionError(
            where, f"must be between {format_decimal(spec.min)} and {format_decimal(spec.max)}"
        )
    if spec.index(value) is None:
        raise SelectionError(
            where, f"must be a multiple of {format_decimal(spec.step)} from {format_decimal(spec.min)}"
        )
    return format_decimal(value)


def default_selection(model: ProductModel) -> dict[str, Any]:
    """The selection a storefront starts from: every default option (and number default)."""
    raw: dict[str, Any] = {}
    for g in model.groups:
        if g.kind == "single":
            defaults = [o.id for o in g.options if o.default]
            if defaults:
                raw[g.id] = defaults[0]
        elif g.kind == "multi":
            defaults = [o.id for o in g.options if o.default]
            if defaults:
                raw[g.id] = defaults
        elif g.kind == "number" and g.number is not None and g.number.default is not None:
            raw[g.id] = format_decimal(g.number.default)
    return normalise_selection(model, raw)


def configuration_id(product_id: str, version: int, normalised_selection: Mapping[str, Any]) -> str:
    """Content-addressed id of a saved configuration: the same selection of the same model version always
    gets the same id (24 hex chars of sha256 over canonical JSON). Pass the output of `normalise_selection`.
    """
    return content_hash(
        {"product_id": product_id, "version": version, "selection": dict(normalised_selection)}
    )


def encode_selection(model: ProductModel, sel: Mapping[str, Any]) -> int:
    """The chosen bits of a normalised selection."""
    c = model.compiled
    bits = 0
    for gid, value in sel.items():
        gi = model.group_index[gid]
        g = model.groups[gi]
        if g.kind == "single":
            bits |= 1 << c.option_bit[(gi, value)]
        elif g.kind == "multi":
            for oid in value:
                bits |= 1 << c.option_bit[(gi, oid)]
        elif g.kind == "text":
            bits |= 1 << c.group_bits[gi][0]
        else:
            spec = g.number
            assert spec is not None
            index = spec.index(Decimal(value))
            assert index is not None
            bits |= 1 << c.number_bit(gi, index)
    return bits
