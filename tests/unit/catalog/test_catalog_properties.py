"""Property tests: the engine agrees with the brute-force oracle on random small models."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_catalog_oracle import (
    all_configs,
    expected_problem_codes,
    extends,
    from_selection,
    grid,
    is_set,
    models,
    price,
    repair_cost,
    selections,
    to_selection,
    valid,
    violated_rules,
)

from ecrm.catalog.engine import (
    check_consistency,
    configuration_id,
    evaluate,
    normalise_selection,
    parse_product,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _apply_repair(selection: dict[str, Any], repair: list[Any]) -> dict[str, Any]:
    out = dict(selection)
    for change in repair:
        if change.input_required:
            out[change.group] = "X"  # generated text groups accept "X"
        elif change.after is None:
            out.pop(change.group, None)
        else:
            out[change.group] = change.after
    return out


@SETTINGS
@given(data=st.data())
def test_evaluate_matches_the_oracle(data: st.DataObject) -> None:
    doc = data.draw(models())
    model = parse_product(doc)
    assert model.problems == ()
    configs = list(all_configs(doc))
    good = [c for c in configs if valid(doc, c)]
    picked = data.draw(selections(doc))
    selection = to_selection(doc, picked)
    result = evaluate(model, selection)

    # Validity: exactly the oracle's, and every rule the oracle sees broken is reported (and no other).
    assert result.valid == valid(doc, picked)
    reported_rules = {v.rule_id for v in result.violations} - {"required", "min_selected", "max_selected"}
    assert reported_rules == violated_rules(doc, picked)
    assert result.consistent == any(extends(doc, c, picked) for c in good)

    # Selectable: every claim is backed by a valid full configuration, and nothing extendable is missing.
    for g in doc["groups"]:
        gid = g["id"]
        if g["kind"] == "single":
            expected = {c[gid] for c in good if c[gid] is not None and extends(doc, c, picked, skip=gid)}
            assert set(result.selectable[gid]) == expected, gid
        elif g["kind"] == "multi":
            expected = {o for c in good if extends(doc, c, picked) for o in c[gid]}
            assert set(result.selectable[gid]) == expected, gid
        elif g["kind"] == "text":
            expected_fill = any(c[gid] is not None and extends(doc, c, picked, skip=gid) for c in good)
            assert result.fillable[gid] == expected_fill, gid
        else:
            allowed = {c[gid] for c in good if c[gid] is not None and extends(doc, c, picked, skip=gid)}
            claimed = {v for lo, hi in result.ranges[gid] for v in grid(g) if Decimal(lo) <= v <= Decimal(hi)}
            assert claimed == allowed, gid
            assert result.fillable[gid] == bool(allowed)

    # Price: exact and equal to the oracle's.
    assert isinstance(result.price.total, int)
    assert result.price.total == price(doc, picked)
    assert result.price.total == result.price.base + sum(line.amount for line in result.price.lines)


@SETTINGS
@given(data=st.data())
def test_repair_is_valid_and_smallest(data: st.DataObject) -> None:
    doc = data.draw(models())
    model = parse_product(doc)
    good = [c for c in all_configs(doc) if valid(doc, c)]
    picked = data.draw(selections(doc))
    selection = to_selection(doc, picked)
    result = evaluate(model, selection)
    if result.valid:
        assert result.repair == []
        return
    if not good:
        assert result.repair is None
        return
    assert result.repair is not None
    repaired = _apply_repair(result.selection, result.repair)
    after = from_selection(doc, normalise_selection(model, repaired))
    assert valid(doc, after), (selection, result.repair)
    best = min(repair_cost(doc, c, picked) for c in good)
    assert repair_cost(doc, after, picked) == best
    # A consistent selection is only ever completed, never changed.
    if result.consistent:
        assert best[0] == 0


@SETTINGS
@given(data=st.data())
def test_price_and_id_do_not_depend_on_pick_order(data: st.DataObject) -> None:
    doc = data.draw(models())
    model = parse_product(doc)
    selection = to_selection(doc, data.draw(selections(doc)))
    seed = data.draw(st.integers(0, 2**16))
    rng = random.Random(seed)
    keys = list(selection)
    rng.shuffle(keys)
    shuffled: dict[str, Any] = {}
    for key in keys:
        value = selection[key]
        if isinstance(value, list):
            value = value[:]
            rng.shuffle(value)
        shuffled[key] = value
    a, b = evaluate(model, selection), evaluate(model, shuffled)
    assert a.to_dict() == b.to_dict()
    na, nb = normalise_selection(model, selection), normalise_selection(model, shuffled)
    assert na == nb
    assert normalise_selection(model, na) == na  # idempotent
    assert configuration_id("p", 1, na) == configuration_id("p", 1, nb)


@SETTINGS
@given(doc=models())
def test_check_consistency_matches_the_oracle(doc: dict[str, Any]) -> None:
    model = parse_product(doc)
    problems = check_consistency(model)
    codes = {p.code for p in problems}
    expected = expected_problem_codes(doc)
    if expected == {"unsatisfiable"}:
        assert codes and codes <= {"unsatisfiable", "unsatisfiable_group"}
    else:
        assert codes == expected
    for p in problems:
        assert p.field and p.reason


@SETTINGS
@given(doc=models(allow_negative=True))
def test_consistent_models_never_price_below_zero(doc: dict[str, Any]) -> None:
    model = parse_product(doc)
    assume(check_consistency(model) == [])
    for config in all_configs(doc):
        if not valid(doc, config):
            continue
        # Every step on the way to a valid configuration, as the storefront shows it.
        result = evaluate(model, to_selection(doc, config), full=False)
        assert result.valid
        assert result.price.total >= 0
        for gid, value in config.items():
            if is_set(value):
                partial = {**config, gid: frozenset() if isinstance(value, frozenset) else None}
                assert evaluate(model, to_selection(doc, partial), full=False).price.total >= 0


@pytest.mark.parametrize("seed", range(5))
def test_fast_path_agrees_with_full_evaluation(seed: int) -> None:
    rng = random.Random(seed)
    groups = [
        {
            "id": f"g{i}",
            "name": f"G{i}",
            "kind": "single",
            "required": True,
            "options": [{"id": f"o{j}", "name": f"O{j}", "price": rng.randint(0, 99)} for j in range(3)],
        }
        for i in range(4)
    ]
    rules = [
        {
            "id": "r",
            "kind": "excludes",
            "message": "no",
            "if": {"group": "g0", "option": "o0"},
            "then": {"group": "g1", "option": "o1"},
        }
    ]
    model = parse_product(
        {
            "product_id": "p",
            "name": "P",
            "currency": "EUR",
            "base_price": 100,
            "groups": groups,
            "rules": rules,
        }
    )
    for _ in range(20):
        sel = {g["id"]: f"o{rng.randint(0, 2)}" for g in groups if rng.random() < 0.8}
        fast, full = evaluate(model, sel, full=False), evaluate(model, sel)
        assert (fast.valid, fast.complete, fast.violations, fast.price) == (
            full.valid,
            full.complete,
            full.violations,
            full.price,
        )
        assert fast.selectable == {} and fast.repair is None
