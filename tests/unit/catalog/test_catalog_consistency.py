"""check_consistency: one hand-made model per broken kind, each caught with a field and a reason."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from test_catalog_oracle import load_seed

from ecrm.catalog import consistency
from ecrm.catalog.engine import check_consistency, parse_product


def _single(
    gid: str,
    options: list[str],
    required: bool = True,
    prices: dict[str, int] | None = None,
    defaults: tuple[str, ...] = (),
) -> dict[str, Any]:
    return {
        "id": gid,
        "name": gid.title(),
        "kind": "single",
        "required": required,
        "options": [
            {"id": o, "name": o.title(), "price": (prices or {}).get(o, 0), "default": o in defaults}
            for o in options
        ],
    }


def _rule(
    rid: str, kind: str, when: dict[str, Any] | list[dict[str, Any]], then: dict[str, Any]
) -> dict[str, Any]:
    return {"id": rid, "kind": kind, "message": f"rule {rid}", "if": when, "then": then}


def _doc(groups: list[dict[str, Any]], rules: list[dict[str, Any]], base_price: int = 1000) -> dict[str, Any]:
    return {
        "product_id": "p",
        "name": "P",
        "currency": "EUR",
        "base_price": base_price,
        "groups": groups,
        "rules": rules,
    }


def _codes(doc: dict[str, Any]) -> list[tuple[str, str]]:
    problems = check_consistency(parse_product(doc))
    for p in problems:
        assert p.reason and p.field
    return [(p.field, p.code) for p in problems]


def test_a_sound_model_has_no_problems() -> None:
    doc = _doc(
        [_single("a", ["x", "y"], defaults=("x",)), _single("b", ["p", "q"])],
        [_rule("r", "requires", {"group": "a", "option": "y"}, {"group": "b", "option": "q"})],
    )
    assert _codes(doc) == []


def test_required_group_no_choice_can_fill() -> None:
    # Every model excludes every engine: the engine group can never be filled.
    doc = _doc(
        [_single("model", ["m1"]), _single("engine", ["e1", "e2"])],
        [
            _rule("r1", "excludes", {"group": "model", "option": "m1"}, {"group": "engine", "option": "e1"}),
            _rule("r2", "excludes", {"group": "model", "option": "m1"}, {"group": "engine", "option": "e2"}),
        ],
    )
    problems = check_consistency(parse_product(doc))
    assert {(p.field, p.code) for p in problems} >= {("groups.1", "unsatisfiable_group")}
    assert all("'r1'" in p.reason and "'r2'" in p.reason for p in problems)


def test_rules_that_contradict_each_other() -> None:
    # Three required one-option groups that pairwise exclude each other. The report names a minimal set of
    # contradicting rules (here the last one alone) and the required groups it starves.
    doc = _doc(
        [_single("a", ["x"]), _single("b", ["y"]), _single("c", ["z"])],
        [
            _rule("ab", "excludes", {"group": "a"}, {"group": "b"}),
            _rule("bc", "excludes", {"group": "b"}, {"group": "c"}),
            _rule("ac", "excludes", {"group": "a"}, {"group": "c"}),
        ],
    )
    problems = check_consistency(parse_product(doc))
    assert [(p.field, p.code) for p in problems] == [
        ("groups.0", "unsatisfiable_group"),
        ("groups.2", "unsatisfiable_group"),
    ]
    assert all("'ac'" in p.reason and "'ab'" not in p.reason for p in problems)


def test_option_required_but_excluded_by_every_choice() -> None:
    # The sport pack needs the V8, which no body style allows: the pack (and the V8) are dead.
    doc = _doc(
        [
            _single("body", ["coupe", "estate"]),
            _single("engine", ["i4", "v8"]),
            {
                "id": "packs",
                "name": "Packs",
                "kind": "multi",
                "options": [{"id": "sport", "name": "Sport"}, {"id": "winter", "name": "Winter"}],
            },
        ],
        [
            _rule(
                "v8-needs",
                "requires",
                {"group": "packs", "option": "sport"},
                {"group": "engine", "option": "v8"},
            ),
            _rule(
                "no-v8-coupe",
                "excludes",
                {"group": "body", "option": "coupe"},
                {"group": "engine", "option": "v8"},
            ),
            _rule(
                "no-v8-estate",
                "excludes",
                {"group": "body", "option": "estate"},
                {"group": "engine", "option": "v8"},
            ),
        ],
    )
    assert _codes(doc) == [("groups.1.options.1", "dead_option"), ("groups.2.options.0", "dead_option")]


def test_dead_text_and_number_values() -> None:
    doc = _doc(
        [
            _single("upper", ["mesh"]),
            {"id": "monogram", "name": "Monogram", "kind": "text", "max_length": 5},
            {"id": "size", "name": "Size", "kind": "number", "min": "36", "max": "40", "step": "1"},
        ],
        [
            _rule("no-mono", "excludes", {"group": "upper", "option": "mesh"}, {"group": "monogram"}),
            _rule("no-big", "excludes", {"group": "upper", "option": "mesh"}, {"group": "size", "min": "39"}),
        ],
    )
    problems = check_consistency(parse_product(doc))
    assert [(p.field, p.code) for p in problems] == [("groups.1", "dead_option"), ("groups.2", "dead_option")]
    assert "39..40" in problems[1].reason


def test_default_selection_that_breaks_a_rule() -> None:
    doc = _doc(
        [_single("a", ["x", "y"], defaults=("x",)), _single("b", ["p", "q"], defaults=("p",))],
        [_rule("r", "excludes", {"group": "a", "option": "x"}, {"group": "b", "option": "p"})],
    )
    problems = check_consistency(parse_product(doc))
    assert [(p.field, p.code) for p in problems] == [
        ("groups.0.options.0.default", "default_conflict"),
        ("groups.1.options.0.default", "default_conflict"),
    ]
    assert "'r'" in problems[0].reason


def test_ambiguous_and_too_many_defaults() -> None:
    doc = _doc(
        [
            _single("a", ["x", "y"], defaults=("x", "y")),
            {
                "id": "m",
                "name": "M",
                "kind": "multi",
                "max": 1,
                "options": [
                    {"id": "p", "name": "P", "default": True},
                    {"id": "q", "name": "Q", "default": True},
                ],
            },
        ],
        [],
    )
    assert _codes(doc) == [
        ("groups.0.options.1.default", "ambiguous_default"),
        ("groups.1", "too_many_defaults"),
    ]


def test_negative_price_of_a_valid_configuration() -> None:
    doc = _doc([_single("trade-in", ["none", "old-car"], prices={"old-car": -1500})], [], base_price=1000)
    assert _codes(doc) == [("base_price", "negative_price")]


def test_negative_prices_that_can_never_meet_are_fine() -> None:
    # Two discounts that would go below zero together, but a rule keeps them apart.
    doc = _doc(
        [
            _single("a", ["full", "promo"], prices={"promo": -600}),
            _single("b", ["full", "promo"], prices={"promo": -600}),
        ],
        [
            _rule(
                "one-promo", "excludes", {"group": "a", "option": "promo"}, {"group": "b", "option": "promo"}
            )
        ],
        base_price=1000,
    )
    assert _codes(doc) == []


def test_negative_price_on_the_way_to_a_valid_configuration() -> None:
    # Valid configurations cost 50, but a customer who picks the discount first would see -50.
    doc = _doc(
        [
            _single("a", ["plain", "discount"], required=False, prices={"discount": -150}),
            _single("b", ["plain", "extra"], required=False, prices={"extra": 100}),
        ],
        [
            _rule(
                "needs-extra",
                "requires",
                {"group": "a", "option": "discount"},
                {"group": "b", "option": "extra"},
            )
        ],
        base_price=100,
    )
    problems = check_consistency(parse_product(doc))
    assert [(p.field, p.code) for p in problems] == [("base_price", "negative_price")]
    assert "-50" in problems[0].reason


def test_conditional_price_below_zero_is_caught() -> None:
    doc = _doc(
        [_single("a", ["x", "y"]), _single("b", ["p", "q"])],
        [
            {
                "id": "deal",
                "kind": "conditional_price",
                "message": "deal",
                "price": -2000,
                "if": {"group": "a", "option": "y"},
                "target": {"group": "b", "option": "q"},
            }
        ],
        base_price=1000,
    )
    assert _codes(doc) == [("base_price", "negative_price")]


def test_too_complex_models_are_reported_not_hung(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consistency, "CHECK_BUDGET", 0)
    doc = copy.deepcopy(load_seed("car"))
    assert _codes(doc) == [("rules", "too_complex")]
