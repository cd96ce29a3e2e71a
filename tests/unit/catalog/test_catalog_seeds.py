"""Properties on the demo seeds, checked against the naive oracle's backtracking search.

The seeds are too large to enumerate per example (about 10^5 full configurations), so each claim of the
engine is checked by an independent search for a witness: every selectable option must have one, and
every greyed-out option must have none.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_catalog_oracle import (
    exists,
    from_selection,
    grid,
    keep_filter,
    load_seed,
    price,
    selections,
    to_selection,
    valid,
    violated_rules,
)

from ecrm.catalog.engine import evaluate, normalise_selection, parse_product

DOCS = {name: load_seed(name) for name in ("car", "shoe")}
MODELS = {name: parse_product(doc) for name, doc in DOCS.items()}
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _with(allowed: dict[str, Any], gid: str, test: Any) -> dict[str, Any]:
    return {**allowed, gid: test}


@pytest.mark.parametrize("name", ["car", "shoe"])
@SETTINGS
@given(data=st.data())
def test_seed_claims_are_backed_by_witnesses(name: str, data: st.DataObject) -> None:
    doc, model = DOCS[name], MODELS[name]
    picked = data.draw(selections(doc))
    result = evaluate(model, to_selection(doc, picked))

    assert result.valid == valid(doc, picked)
    assert {v.rule_id for v in result.violations} - {
        "required",
        "min_selected",
        "max_selected",
    } == violated_rules(doc, picked)
    assert result.price.total == price(doc, picked)
    assert result.consistent == (exists(doc, keep_filter(doc, picked)) is not None)

    for g in doc["groups"]:
        gid = g["id"]
        if g["kind"] == "single":
            base = keep_filter(doc, picked, skip=gid)
            for o in g["options"]:
                witness = exists(doc, _with(base, gid, lambda v, o=o["id"]: v == o))
                assert (o["id"] in result.selectable[gid]) == (witness is not None), (gid, o["id"])
        elif g["kind"] == "multi":
            base = keep_filter(doc, picked)
            chosen = picked.get(gid) or frozenset()
            for o in g["options"]:
                witness = exists(doc, _with(base, gid, lambda v, o=o["id"], c=chosen: c <= v and o in v))
                assert (o["id"] in result.selectable[gid]) == (witness is not None), (gid, o["id"])
        elif g["kind"] == "text":
            witness = exists(doc, _with(keep_filter(doc, picked, skip=gid), gid, lambda v: v is not None))
            assert result.fillable[gid] == (witness is not None)
        else:
            base = keep_filter(doc, picked, skip=gid)
            values = data.draw(st.lists(st.sampled_from(grid(g)), min_size=1, max_size=4, unique=True))
            for value in values:
                claimed = any(Decimal(lo) <= value <= Decimal(hi) for lo, hi in result.ranges[gid])
                witness = exists(doc, _with(base, gid, lambda v, w=value: v == w))
                assert claimed == (witness is not None), (gid, value)


@pytest.mark.parametrize("name", ["car", "shoe"])
@SETTINGS
@given(data=st.data())
def test_seed_repairs_make_the_selection_valid(name: str, data: st.DataObject) -> None:
    doc, model = DOCS[name], MODELS[name]
    picked = data.draw(selections(doc))
    result = evaluate(model, to_selection(doc, picked))
    assert result.repair is not None  # the seeds are consistent: some valid configuration always exists
    repaired = dict(result.selection)
    for change in result.repair:
        if change.input_required:
            repaired[change.group] = "X"
        elif change.after is None:
            repaired.pop(change.group, None)
        else:
            repaired[change.group] = change.after
    after = from_selection(doc, normalise_selection(model, repaired))
    assert valid(doc, after)
    assert evaluate(model, repaired).valid
    if result.valid:
        assert result.repair == []


@pytest.mark.parametrize("name", ["car", "shoe"])
@SETTINGS
@given(data=st.data())
def test_seed_valid_configurations_price_above_zero(name: str, data: st.DataObject) -> None:
    doc, model = DOCS[name], MODELS[name]
    picked = data.draw(selections(doc))
    witness = exists(doc, keep_filter(doc, picked))
    if witness is None:
        return
    result = evaluate(model, to_selection(doc, witness), full=False)
    assert result.valid and result.price.total >= 0 and isinstance(result.price.total, int)
