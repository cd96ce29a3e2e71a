"""Property tests for the engine's shortcuts: each one must give exactly what the plain solver gives.

The oracle tests (test_catalog_properties.py) already compare `evaluate` with brute force on tiny models.
These go below `evaluate`, on larger random models too: whole-group patching (`patch_all`, `add_mask`),
propagation from the root state, the binary no-good table (`implied_off`), the witness mends, and the
witness-based `selectable` against one plain solver call per value.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_catalog_oracle import load_seed, models

from ecrm.catalog.encoding import CompiledModel
from ecrm.catalog.engine import parse_product
from ecrm.catalog.search import Analysis
from ecrm.catalog.selection import read_selection

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _valid_configs(c: CompiledModel, rng: random.Random, count: int) -> list[int]:
    """Some valid complete configurations (as bitsets), found from random partial states."""
    found: set[int] = set()
    for _ in range(count * 4):
        on = sum(1 << b for b in range(c.nbits) if rng.random() < 0.15)
        w = c.solve(on)
        if w is not None:
            found.add(w)
        if len(found) >= count:
            break
    return sorted(found)


def _holds(c: CompiledModel, full: int) -> bool:
    return c.holds_all(range(c.ncons), full)


def generated_model(seed: int, n_groups: int) -> dict[str, Any]:
    """A random model of `n_groups` groups shaped like the benchmark's: mostly single groups of 6 options,
    some multi/number/text groups, and about two rules per group of every kind between random groups."""
    rng = random.Random(seed)
    groups: list[dict[str, Any]] = []
    for i in range(n_groups):
        kind = rng.choice(["single"] * 6 + ["multi", "multi", "number", "text"])
        g: dict[str, Any] = {"id": f"g{i}", "name": f"G{i}", "kind": kind, "required": rng.random() < 0.5}
        if kind in ("single", "multi"):
            g["options"] = [
                {"id": f"o{j}", "name": f"O{j}", "price": rng.randint(0, 900), "default": j == 0}
                for j in range(rng.randint(2, 6))
            ]
            if kind == "multi":
                g["options"][0]["default"] = False
                g["min"], g["max"] = 0, rng.randint(1, len(g["options"]))
        elif kind == "number":
            g.update({"min": "36", "max": "40", "step": "0.5", "price": 0})
        else:
            g.update({"max_length": 5, "price": 100})
        groups.append(g)

    def term(g: dict[str, Any], many: bool) -> dict[str, Any]:
        if g["kind"] == "text":
            return {"group": g["id"]}
        if g["kind"] == "number":
            return {"group": g["id"], "min": rng.choice(["37", "38.5", "39"])}
        ids = [o["id"] for o in g["options"]]
        if many:
            return {"group": g["id"], "options": sorted(rng.sample(ids, rng.randint(1, len(ids))))}
        return {"group": g["id"], "option": rng.choice(ids)}

    rules: list[dict[str, Any]] = []
    for k in range(2 * n_groups):
        a, b = rng.sample(groups, 2)
        kind = rng.choice(["requires", "excludes", "conditional_requirement"])
        then = term(b, kind != "excludes")
        rules.append({"id": f"r{k}", "kind": kind, "message": "m", "if": term(a, False), "then": then})
    return {
        "product_id": "p",
        "name": "P",
        "currency": "EUR",
        "base_price": 1000,
        "groups": groups,
        "rules": rules,
    }


def _random_selection(c: CompiledModel, rng: random.Random, doc: dict[str, Any]) -> dict[str, Any]:
    sel: dict[str, Any] = {}
    for g in doc["groups"]:
        if rng.random() < 0.5:
            continue
        if g["kind"] == "single":
            sel[g["id"]] = rng.choice(g["options"])["id"]
        elif g["kind"] == "multi":
            picked = rng.sample(g["options"], rng.randint(0, min(2, len(g["options"]))))
            sel[g["id"]] = [o["id"] for o in picked]
    return sel


def _item_true(item: tuple[bool, int], full: int) -> bool:
    pos, m = item
    return bool(full & m) if pos else not full & m


def _check_patches(c: CompiledModel, w: int) -> None:
    """`patch_all` and `add_mask` (also from the clause truth, as the supports read it for their witness)
    against one full check per value."""
    allowed, held_by = c.patch_all(w)
    trues, once, twice = c.clause_truth(w)
    assert once == c.clauses_all  # every clause true
    for gi, gm in enumerate(c.group_mask):
        bits = [1 << b for b in c.group_bits[gi]]
        if c.group_hi[gi] == 1:
            expected = sum(b for b in bits if _holds(c, (w & ~gm) | b))
            assert allowed[gi] == expected == c.patch_mask(gi, w), gi
            # The entries `patch_all` hands over are exactly the clauses only this group's value holds.
            rest = w & ~gm
            only_here = [e for e in c.group_split[gi] if not any(_item_true(item, rest) for item in e[0])]
            assert held_by[gi] == only_here, gi
        expected_add = sum(b for b in bits if _holds(c, w | b))
        assert c.add_mask(gi, w) == expected_add, gi
        # The clauses on the group that no other group holds decide what it can add.
        held_elsewhere = twice | (once & ~trues.get(gi, 0))
        alone = c.group_clause_bits[gi] & ~held_elsewhere
        assert c.add_mask_alone(gi, w & gm, alone) == expected_add, gi


@SETTINGS
@given(doc=models(max_groups=5), seed=st.integers(0, 2**16))
def test_whole_group_patches_match_one_check_per_value(doc: dict[str, Any], seed: int) -> None:
    c = parse_product(doc).compiled
    for w in _valid_configs(c, random.Random(seed), 6):
        assert _holds(c, w)
        _check_patches(c, w)


def test_whole_group_patches_on_larger_models() -> None:
    for seed in range(6):
        c = parse_product(generated_model(seed, 14)).compiled
        for w in _valid_configs(c, random.Random(seed), 8):
            _check_patches(c, w)


@SETTINGS
@given(doc=models(max_groups=5), seed=st.integers(0, 2**16))
def test_propagation_from_the_root_is_the_full_propagation(doc: dict[str, Any], seed: int) -> None:
    c = parse_product(doc).compiled
    rng = random.Random(seed)
    for _ in range(20):
        on = sum(1 << b for b in range(c.nbits) if rng.random() < 0.2)
        off = sum(1 << b for b in range(c.nbits) if rng.random() < 0.1) & ~on
        assert c.propagate_from_root(on, off) == c.propagate(on, off)
    for b in range(c.nbits):
        # The no-good table is sound: no valid configuration holds b with a bit it rules out.
        ruled_out = c.implied_off(b)
        w = c.solve(1 << b)
        if w is not None:
            assert not w & ruled_out


def _search_based_support(c: CompiledModel, chosen: int) -> list[int]:
    """The definition of `supported_bits`, one plain solver call per value (no witness, no shortcut)."""
    out: list[int] = []
    for gi, gm in enumerate(c.group_mask):
        single_like = c.groups[gi].kind != "multi"
        base = chosen & ~gm if single_like else chosen
        mask = 0
        for b in c.group_bits[gi]:
            bit = 1 << b
            # A single-like group gets exactly this value; a multi group gets it on top of its choice.
            if c.solve(base | bit, (gm & ~bit) if single_like else 0) is not None:
                mask |= bit
        out.append(mask)
    return out


def test_witness_based_selectable_matches_one_search_per_value() -> None:
    for seed in range(8):
        doc = generated_model(seed, 12)
        model = parse_product(doc)
        c = model.compiled
        rng = random.Random(seed)
        for _ in range(25):
            _, chosen = read_selection(model, _random_selection(c, rng, doc))
            assert Analysis(model, chosen).supported_bits() == _search_based_support(c, chosen)


@SETTINGS
@given(doc=models(max_groups=5), seed=st.integers(0, 2**16))
def test_witness_based_selectable_matches_one_search_per_value_on_small_models(
    doc: dict[str, Any], seed: int
) -> None:
    model = parse_product(doc)
    c = model.compiled
    rng = random.Random(seed)
    for _ in range(5):
        chosen = sum(1 << b for b in range(c.nbits) if rng.random() < 0.25)
        assert Analysis(model, chosen).supported_bits() == _search_based_support(c, chosen)


def _analyses_with_witness(per_model: int) -> Iterator[tuple[CompiledModel, int, Analysis]]:
    """(compiled model, chosen bits, analysis) of random selections with a witness, on 12-group models."""
    for seed in range(8):
        doc = generated_model(seed, 12)
        model = parse_product(doc)
        c = model.compiled
        rng = random.Random(seed)
        for _ in range(per_model):
            _, chosen = read_selection(model, _random_selection(c, rng, doc))
            analysis = Analysis(model, chosen)
            if analysis.witness is not None:
                yield c, chosen, analysis


def test_what_a_multi_group_adds_to_the_selections_witness_matches_add_mask() -> None:
    checked = 0
    for c, _, analysis in _analyses_with_witness(25):
        analysis.supported_bits()  # computes the witness's clause truth, as `evaluate` does
        for gi in c.multi_groups:
            assert analysis._witness_add_mask(gi) == c.add_mask(gi, analysis.witness), gi
            checked += 1
    assert checked > 100


def test_every_mended_witness_is_valid_and_keeps_the_selection() -> None:
    for c, chosen, analysis in _analyses_with_witness(15):
        for gi, gm in enumerate(c.group_mask):
            single_like = c.groups[gi].kind != "multi"
            base = chosen & ~gm if single_like else chosen
            for b in c.group_bits[gi]:
                witnesses = [analysis.witness]
                if analysis._patched_twice(gi, 1 << b, witnesses, single_like):
                    found = witnesses[-1]
                    assert _holds(c, found)
                    assert found & (base | 1 << b) == base | 1 << b


def test_supports_start_from_the_permissive_completion_and_repairs_from_the_defaults() -> None:
    # The car's permissive values differ from its defaults in several required groups (e.g. an automatic
    # gearbox holds more rules than the default manual one), so both completions are exercised.
    car = parse_product(load_seed("car"))
    c = car.compiled
    sel, chosen = read_selection(car, {"model": "estate", "packs": ["tow"]})
    analysis = Analysis(car, chosen)
    assert analysis.witness is not None and _holds(c, analysis.witness)
    assert analysis.witness & chosen == chosen
    assert analysis.witness & c.support_prefer  # it leans to the permissive values...
    assert analysis.witness != analysis.solution(chosen)  # ...which are not the defaults
    # The repair still fills the open groups with their defaults, not with the permissive values.
    filled = {change.group: change.after for change in analysis.repair(sel) or []}
    assert filled["transmission"] == "manual" and filled["engine"] == "petrol-1-5"
    for seed in range(6):
        doc = generated_model(seed, 12)
        model = parse_product(doc)
        rng = random.Random(seed)
        for _ in range(15):
            _, chosen = read_selection(model, _random_selection(model.compiled, rng, doc))
            analysis = Analysis(model, chosen)
            assert (analysis.witness is None) == (analysis.solution(chosen) is None)
            if analysis.witness is not None:
                assert _holds(model.compiled, analysis.witness)
                assert analysis.witness & chosen == chosen


def _plain_complete(c: CompiledModel, on: int, off: int, prefer: int) -> int:
    """The definition of `complete`, group by group and value by value (no per-model fill, no skips)."""
    for gi, gm in enumerate(c.group_mask):
        um = gm & ~(on | off)
        if not um:
            continue
        order = [m for m in c.pref_order[gi] if m & um]
        if c.group_hi[gi] == 1:
            preferred = [m for m in order if m & prefer]
            if preferred:
                # Among preferred values: a default first, else the lowest.
                on |= next((m for m in sorted(preferred) if m & c.default_mask), min(preferred))
            elif c.group_lo[gi] > 0:
                on |= next((m for m in sorted(order) if m & c.default_mask), min(order))
            continue
        t = (on & gm).bit_count()
        picks = [m for m in order if m & prefer][: max(0, c.group_hi[gi] - t)]
        for m in order:
            if len(picks) >= c.group_lo[gi] - t:
                break
            if m not in picks:
                picks.append(m)
        on |= sum(picks)
    return on


def _plain_first_broken(c: CompiledModel, full: int, clauses: list[int], start: int) -> int:
    for ci in clauses[start:]:
        if not any(_item_true(item, full) for item in c.cons[ci][1]):
            return ci
    return -1


@SETTINGS
@given(doc=models(max_groups=5), seed=st.integers(0, 2**16))
def test_completion_and_first_broken_clause_match_their_definitions(doc: dict[str, Any], seed: int) -> None:
    c = parse_product(doc).compiled
    rng = random.Random(seed)
    for _ in range(20):
        on = sum(1 << b for b in range(c.nbits) if rng.random() < 0.15)
        off = sum(1 << b for b in range(c.nbits) if rng.random() < 0.15) & ~on
        state = c.propagate_from_root(on, off)
        if state is None:
            continue
        prefer = rng.choice([0, sum(1 << b for b in range(c.nbits) if rng.random() < 0.3)])
        full = c.complete(*state, prefer)
        assert full == _plain_complete(c, *state, prefer)
        clauses = list(c.clause_ids)
        start = rng.randint(0, len(clauses))
        assert c._first_broken(full, clauses, start) == _plain_first_broken(c, full, clauses, start)
        # The empty assignment too: a clause of POS items only is broken there.
        assert c._first_broken(0, clauses, 0) == _plain_first_broken(c, 0, clauses, 0)


def test_completion_matches_its_definition_on_larger_models() -> None:
    for seed in range(6):
        c = parse_product(generated_model(seed, 14)).compiled
        rng = random.Random(seed)
        for _ in range(30):
            state = c.propagate_from_root(sum(1 << b for b in range(c.nbits) if rng.random() < 0.1))
            if state is None:
                continue
            for prefer in (0, *_valid_configs(c, rng, 2)):
                assert c.complete(*state, prefer) == _plain_complete(c, *state, prefer)


def test_memoised_answers_match_a_fresh_model() -> None:
    """The per-model memos (option ids per supported mask, changes that fill an empty group) give the same
    `evaluate` as a model parsed afresh for every call."""
    from ecrm.catalog.engine import evaluate

    for seed in range(4):
        doc = generated_model(seed, 12)
        model = parse_product(doc)
        rng = random.Random(seed)
        for _ in range(20):
            sel = _random_selection(model.compiled, rng, doc)
            assert evaluate(model, sel).to_dict() == evaluate(parse_product(doc), sel).to_dict()


def _plain_propagate(c: CompiledModel, on: int, off: int) -> tuple[int, int] | None:
    """The definition of unit propagation: every constraint, over and over, until nothing changes (no
    queue, no wake-up lists)."""
    changed = True
    while changed:
        changed = False
        for con in c.prop_cons:
            if con[0]:
                _, gm, lo, hi = con
                t = (on & gm).bit_count()
                um = gm & ~(on | off)
                u = um.bit_count()
                if t > hi or t + u < lo:
                    return None
                if um and t == hi:
                    off |= um
                    changed = True
                elif um and t + u == lo:
                    on |= um
                    changed = True
                continue
            open_items = []
            for pos, m, rest in con[1]:
                true = bool(on & m) if pos else m & off == m
                false = m & off == m if pos else bool(on & m)
                if true:
                    break
                if not false:
                    open_items.append((pos, m, rest))
            else:
                if not open_items:
                    return None
                if len(open_items) == 1:
                    pos, m, rest = open_items[0]
                    um = m & ~off
                    if not pos:
                        new_off, new_on = off | um, on
                    elif um & (um - 1):
                        new_off, new_on = off | (rest & ~(on | off)), on
                    else:
                        new_off, new_on = off, on | um
                    if (new_on, new_off) != (on, off):
                        on, off = new_on, new_off
                        changed = True
    return on, off


def _check_propagation(c: CompiledModel, rng: random.Random) -> None:
    for _ in range(20):
        on = sum(1 << b for b in range(c.nbits) if rng.random() < 0.15)
        off = sum(1 << b for b in range(c.nbits) if rng.random() < 0.1) & ~on
        expected = _plain_propagate(c, on, off)
        assert c.propagate(on, off) == expected
        assert c.propagate_from_root(on, off) == expected
        if expected is None:
            continue
        # From a propagated state, one more group set and only its constraints woken (as the search does).
        gi = rng.randrange(len(c.groups))
        um = c.group_mask[gi] & ~(expected[0] | expected[1])
        if not um:
            continue
        bit = 1 << rng.choice([b for b in c.group_bits[gi] if um >> b & 1])
        grown_on, grown_off = expected[0] | bit, expected[1]
        if c.group_hi[gi] == 1:
            grown_off |= um & ~bit
        woken = c.propagate(grown_on, grown_off, wake=c.wake_list(grown_on, grown_off, c.group_mask[gi]))
        assert woken == _plain_propagate(c, grown_on, grown_off)


@SETTINGS
@given(doc=models(max_groups=5), seed=st.integers(0, 2**16))
def test_propagation_matches_its_definition(doc: dict[str, Any], seed: int) -> None:
    """`propagate` wakes, after ruling bits out or choosing them, only the constraints that can then
    change (`wake_after_off`, `wake_after_on`): the fixpoint must be the plain one."""
    _check_propagation(parse_product(doc).compiled, random.Random(seed))


def test_propagation_matches_its_definition_on_larger_models() -> None:
    for seed in range(6):
        _check_propagation(parse_product(generated_model(seed, 14)).compiled, random.Random(seed))


def test_patch_tables_match_the_pass_over_the_clauses() -> None:
    """`patch_all` (per-model tables per group value) against `patch_all_plain` (one pass over the
    clauses), on valid configurations and on arbitrary assignments, on a warm and on a fresh model."""
    for seed in range(6):
        doc = generated_model(seed, 14)
        warm = parse_product(doc).compiled
        rng = random.Random(seed)
        fulls = _valid_configs(warm, rng, 8)
        fulls += [sum(1 << b for b in range(warm.nbits) if rng.random() < 0.2) for _ in range(20)]
        for full in fulls * 2:
            assert warm.patch_all(full) == warm.patch_all_plain(full)
            fresh = parse_product(doc).compiled
            assert fresh.patch_all(full) == fresh.patch_all_plain(full)
