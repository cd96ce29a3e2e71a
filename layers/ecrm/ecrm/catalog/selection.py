"""Customer selections: validation, canonical form, bit encoding and content-addressed ids. Pure."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from ecrm.catalog.model import (
    MAX_NUMBER_CHARS,
    Group,
    NumberSpec,
    ProductModel,
    SelectionError,
    check_free_text,
    format_decimal,
    parse_decimal,
)
from ecrm.platform.ids import content_hash

# Distinct number strings remembered per model (each entry is a few hundred bytes at most).
NUMBER_MEMO_LIMIT = 4096


def normalise_selection(model: ProductModel, selection: Mapping[str, Any]) -> dict[str, Any]:
    """Validate `selection` against the model and return its canonical form.

    Canonical: groups in model order, unset groups (None, "", []) left out, multi lists sorted, text NFC
    normalised and trimmed, numbers as exact canonical decimal strings ("42.50" and 42.5 -> "42.5"). The
    order in which options were picked therefore never changes the result (nor the configuration id).
    Raises `SelectionError(field, reason)` for unknown groups/options, wrong types, text that is too long,
    contains control characters or does not match the pattern, and numbers out of range or off step.
    """
    return read_selection(model, selection)[0]


def read_selection(model: ProductModel, selection: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    """`normalise_selection` plus the chosen bits, in one pass (the request path needs both)."""
    if not isinstance(selection, Mapping):
        raise SelectionError("selection", "must be an object")
    group_index = model.group_index
    given: list[tuple[int, Any]] = []
    for key, raw in selection.items():
        gi = group_index.get(key) if isinstance(key, str) else None
        if gi is None:
            raise SelectionError(f"selection.{key}", "unknown group")
        if raw is not None:
            given.append((gi, raw))
    # Model order (group indexes are unique, so the sort never compares the values), and only the groups
    # given: a partial selection of a large model does not pay for the groups it leaves out.
    given.sort(key=_first)
    c = model.compiled
    groups = model.groups
    out: dict[str, Any] = {}
    bits = 0
    for gi, raw in given:
        group = groups[gi]
        kind = group.kind
        if kind == "single":
            bit = c.option_index[gi].get(raw) if isinstance(raw, str) else None
            if bit is None:
                where = f"selection.{group.id}"
                if not isinstance(raw, str):
                    raise SelectionError(where, "must be an option id")
                raise SelectionError(where, f"unknown option '{raw}'")
            out[group.id] = raw
            bits |= 1 << bit
            continue
        where = f"selection.{group.id}"
        if kind == "multi":
            value, group_bits = _read_multi(c.option_index[gi], raw, where)
            if value:
                out[group.id] = value
                bits |= group_bits
        elif kind == "text":
            text = _read_text(group, raw, where)
            if text is not None:
                out[group.id] = text
                bits |= 1 << c.group_bits[gi][0]
        else:
            read = _read_number_memoised(c.derived, gi, group, raw, where)
            if read is not None:
                out[group.id] = read[0]
                bits |= 1 << c.number_bit(gi, read[1])
    return out, bits


def _first(entry: tuple[int, Any]) -> int:
    return entry[0]


def _read_multi(index: Mapping[str, int], raw: Any, where: str) -> tuple[list[str], int]:
    if not isinstance(raw, (list, tuple)):
        raise SelectionError(where, "must be a list of option ids")
    if len(raw) > len(index):
        raise SelectionError(where, "lists more options than the group has")
    bits = 0
    for i, item in enumerate(raw):
        if not isinstance(item, str):
            raise SelectionError(f"{where}.{i}", "must be an option id")
        bit = index.get(item)
        if bit is None:
            raise SelectionError(f"{where}.{i}", f"unknown option '{item}'")
        if bits >> bit & 1:
            raise SelectionError(f"{where}.{i}", f"option '{item}' listed twice")
        bits |= 1 << bit
    return sorted(raw), bits


def _read_text(group: Group, raw: Any, where: str) -> str | None:
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


def _read_number_memoised(
    derived: dict[str, Any], gi: int, group: Group, raw: Any, where: str
) -> tuple[str, int] | None:
    """`_read_number`, memoised per model for the strings customers send: a handful of grid points (shoe
    sizes) come back on every click, and reading one through Decimal costs more than the rest of a group.
    Only short strings read without error are kept, and a full memo starts over, so junk sent on purpose
    costs memory once and never crowds out the common values for good."""
    if not isinstance(raw, str) or len(raw) > MAX_NUMBER_CHARS:
        return _read_number(group, raw, where)
    memo = derived.get("number_reads")
    if memo is None:
        memo = derived["number_reads"] = {}
    read = memo.get((gi, raw))
    if read is None:
        read = _read_number(group, raw, where)  # raises for a bad value, which is never memoised
        if read is not None:
            if len(memo) >= NUMBER_MEMO_LIMIT:
                memo.clear()
            memo[(gi, raw)] = read
    return read


def _read_number(group: Group, raw: Any, where: str) -> tuple[str, int] | None:
    spec = group.number
    assert spec is not None
    if isinstance(raw, str) and not raw.strip():
        return None
    value = parse_decimal(raw, where, SelectionError)
    if value < spec.min or value > spec.max:
        raise SelectionError(
            where, f"must be between {format_decimal(spec.min)} and {format_decimal(spec.max)}"
        )
    index = spec.index(value)
    if index is None:
        raise SelectionError(
            where, f"must be a multiple of {format_decimal(spec.step)} from {format_decimal(spec.min)}"
        )
    return _grid_text(spec, index), index


@lru_cache(maxsize=4096)
def _grid_text(spec: NumberSpec, index: int) -> str:
    # Formatting a Decimal canonically is slow next to everything else on the request path; the values
    # customers pick repeat (shoe sizes), so cache the text per grid point.
    return format_decimal(spec.value(index))


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
    """The chosen bits of a selection (normalised or not; it is validated on the way)."""
    return read_selection(model, sel)[1]
