"""Parsing product documents: shape errors raise ModelError with a dotted field; meaning errors are kept
as problems for check_consistency."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from test_catalog_oracle import load_seed

from ecrm.catalog.engine import ModelError, check_consistency, parse_product
from ecrm.platform.errors import ValidationFailed


def _doc(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "product_id": "tee",
        "name": "Tee",
        "currency": "EUR",
        "base_price": 1000,
        "groups": [
            {
                "id": "size",
                "name": "Size",
                "kind": "single",
                "required": True,
                "options": [{"id": "s", "name": "S"}, {"id": "m", "name": "M", "default": True}],
            },
            {
                "id": "extras",
                "name": "Extras",
                "kind": "multi",
                "max": 2,
                "options": [
                    {"id": "gift", "name": "Gift box", "price": 300},
                    {"id": "pin", "name": "Pin", "price": 150},
                ],
            },
            {
                "id": "print",
                "name": "Print",
                "kind": "text",
                "max_length": 8,
                "pattern": "[A-Z]+",
                "price": 500,
            },
            {"id": "length", "name": "Length", "kind": "number", "min": "60", "max": "80", "step": "2.5"},
        ],
        "rules": [
            {
                "id": "r1",
                "kind": "excludes",
                "message": "No pin on S",
                "if": {"group": "size", "option": "s"},
                "then": {"group": "extras", "option": "pin"},
            },
        ],
    }
    doc.update(overrides)
    return doc


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    *parents, last = path.split(".")
    node: Any = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return doc


@pytest.mark.parametrize("name", ["car", "shoe"])
def test_seeds_parse_and_are_consistent(name: str) -> None:
    model = parse_product(load_seed(name))
    assert model.problems == ()
    assert check_consistency(model) == []
    kinds = {r.kind for r in model.rules}
    assert {"requires", "excludes", "conditional_requirement", "conditional_price"} <= kinds


def test_parsed_model_keeps_the_document_meaning() -> None:
    model = parse_product(_doc(version=3, status="active", created_at="2026-11-01T00:00:00Z"))
    assert model.version == 3
    assert [g.id for g in model.groups] == ["size", "extras", "print", "length"]
    extras = model.group("extras")
    assert (extras.min_selected, extras.max_selected) == (0, 2)
    length = model.group("length")
    assert length.number is not None
    assert length.number.count == 9
    assert length.number.value(3) == Decimal("67.5")


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("product_id", "bad id!", "product_id"),
        ("currency", "eur", "currency"),
        ("base_price", 10.5, "base_price"),
        ("base_price", -1, "base_price"),
        ("base_price", True, "base_price"),
        ("groups", [], "groups"),
        ("groups.0.kind", "radio", "groups.0.kind"),
        ("groups.0.options.1.price", 1.5, "groups.0.options.1.price"),
        ("groups.0.options.1.default", "yes", "groups.0.options.1.default"),
        ("groups.0.options.0.colour", "red", "groups.0.options.0.colour"),
        ("groups.1.max", 3, "groups.1.max"),
        ("groups.2.max_length", 0, "groups.2.max_length"),
        ("groups.2.pattern", "[", "groups.2.pattern"),
        ("groups.3.min", 60.0, "groups.3.min"),
        ("groups.3.max", "81", "groups.3.max"),
        ("groups.3.step", "0", "groups.3.step"),
        ("groups.3.step", "NaN", "groups.3.step"),
        ("rules.0.kind", "forbids", "rules.0.kind"),
        ("rules.0.message", "", "rules.0.message"),
        ("rules.0.if", [], "rules.0.if"),
        ("rules.0.then", {"group": "extras", "option": "pin", "options": ["gift"]}, "rules.0.then.options"),
        ("rules.0.then", {"group": "length", "min": "70", "max": "65"}, "rules.0.then.max"),
    ],
)
def test_malformed_documents_name_the_field(path: str, value: Any, field: str) -> None:
    with pytest.raises(ModelError) as info:
        parse_product(_set(_doc(), path, value))
    assert info.value.field == field
    assert isinstance(info.value, ValidationFailed)  # the API renders it as 422 problem+json
    assert info.value.reason


def test_required_multi_means_at_least_one() -> None:
    model = parse_product(_set(_doc(), "groups.1.required", True))
    assert model.group("extras").min_selected == 1


def test_number_default_must_be_on_the_grid() -> None:
    with pytest.raises(ModelError) as info:
        parse_product(_set(_doc(), "groups.3.default", "61"))
    assert info.value.field == "groups.3.default"
    assert parse_product(_set(_doc(), "groups.3.default", "62.5")).group("length").number.default == Decimal(
        "62.5"
    )


@pytest.mark.parametrize(
    ("path", "value", "field", "code"),
    [
        ("groups.3.id", "print", "groups.3.id", "duplicate_id"),
        ("groups.0.options.1.id", "s", "groups.0.options.1.id", "duplicate_id"),
        ("rules.0.if", {"group": "colour", "option": "red"}, "rules.0.if.0.group", "unknown_reference"),
        (
            "rules.0.then",
            {"group": "extras", "option": "hat"},
            "rules.0.then.0.options.0",
            "unknown_reference",
        ),
        ("rules.0.then", {"group": "print", "option": "x"}, "rules.0.then.0.options", "unknown_reference"),
        ("rules.0.then", {"group": "size", "min": "1"}, "rules.0.then.0.min", "unknown_reference"),
        ("rules.0.then", {"group": "length", "min": "80.5"}, "rules.0.then.0.min", "empty_range"),
        ("rules.0.then", {"group": "length", "min": "61", "max": "62"}, "rules.0.then.0.min", "empty_range"),
    ],
)
def test_meaning_errors_are_problems_not_exceptions(path: str, value: Any, field: str, code: str) -> None:
    model = parse_product(_set(_doc(), path, value))
    problems = check_consistency(model)
    assert [(p.field, p.code) for p in problems] == [(field, code)]


def test_duplicate_rule_ids_and_bad_price_targets_are_problems() -> None:
    doc = _doc()
    doc["rules"] = [
        *doc["rules"],
        {
            "id": "r1",
            "kind": "requires",
            "message": "dup",
            "if": {"group": "size", "option": "m"},
            "then": {"group": "extras"},
        },
        {
            "id": "p1",
            "kind": "conditional_price",
            "message": "two targets",
            "price": 0,
            "target": {"group": "extras", "options": ["gift", "pin"]},
        },
    ]
    codes = {(p.field, p.code) for p in check_consistency(parse_product(doc))}
    assert codes == {("rules.1.id", "duplicate_id"), ("rules.2.target", "bad_target")}
