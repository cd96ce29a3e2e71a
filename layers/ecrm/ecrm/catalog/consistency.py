"""Admin-save checks of a product model: everything that is well formed but cannot work for customers.

Runs the same solver as the storefront (so "consistent" means exactly what evaluate() will do) plus a
few searches that only make sense once per model version: unsatisfiable cores, dead options, and a
counterexample search for prices below zero.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from ecrm.catalog.encoding import CompiledModel, SearchLimitExceeded
from ecrm.catalog.model import Group, ModelProblem, ProductModel, Rule, format_decimal
from ecrm.catalog.search import Analysis, find_violations
from ecrm.catalog.selection import default_selection, encode_selection

# Admin-time searches may take longer than a storefront click, but not forever.
CHECK_BUDGET = 500_000
NEGATIVE_PRICE_NODES = 20_000


def check_consistency(model: ProductModel) -> list[ModelProblem]:
    """Every reason the admin save must reject `model`; [] when it is fit for customers.

    Reports (by `code`): duplicate_id, unknown_reference, empty_range, bad_target (from parsing);
    unsatisfiable (rules contradict each other), unsatisfiable_group (a required group no choice can fill),
    ambiguous_default / too_many_defaults / default_conflict (the default selection breaks the model),
    dead_option (an option, text or number range that no valid configuration can contain: e.g. an option
    required but excluded by every choice), negative_price (a selection that can still lead to a valid
    configuration prices below zero), too_complex (the solver budget ran out).
    """
    if model.problems:
        # The indexes left out the broken items; solver findings on them would mislead.
        return list(model.problems)
    try:
        c = model.compiled
        if not c.satisfiable(0, budget=[CHECK_BUDGET]):
            return _unsatisfiable(model)
        problems = _default_problems(model)
        problems.extend(_dead_options(model))
        problems.extend(_negative_price(model))
        return problems
    except SearchLimitExceeded:
        return [
            ModelProblem("rules", "the rules are too intricate to check in reasonable time", "too_complex")
        ]


def _rule_list(rules: Iterable[Rule]) -> str:
    return ", ".join(f"'{r.id}'" for r in rules)


def _unsatisfiable(model: ProductModel) -> list[ModelProblem]:
    """Explain an empty model: a minimal set of contradicting rules and the required groups they starve."""

    def sat(rules: list[Rule], groups: tuple[Group, ...] = model.groups) -> bool:
        return CompiledModel(groups, rules).satisfiable(0, budget=[CHECK_BUDGET])

    core = list(model.rules)
    if sat([]):
        i = 0
        while i < len(core):
            trial = core[:i] + core[i + 1 :]
            if sat(trial):
                i += 1
            else:
                core = trial
    else:
        core = []
    problems: list[ModelProblem] = []
    names = _rule_list(core) or "none"
    for gi, g in enumerate(model.groups):
        if not (g.required or g.min_selected):
            continue
        relaxed = dataclasses.replace(g, required=False, min_selected=0)
        groups = (*model.groups[:gi], relaxed, *model.groups[gi + 1 :])
        if sat(core, groups):
            problems.append(
                ModelProblem(
                    f"groups.{gi}",
                    f"required group '{g.id}' can never be filled: rules {names} rule out every choice",
                    "unsatisfiable_group",
                )
            )
    if not problems:
        for rule in core:
            problems.append(
                ModelProblem(
                    f"rules.{rule.index}",
                    f"rules {names} contradict each other: no configuration satisfies them all",
                    "unsatisfiable",
                )
            )
    if not problems:
        problems.append(
            ModelProblem("groups", "no configuration satisfies the groups' limits", "unsatisfiable")
        )
    return problems


def _bit_field(model: ProductModel, bit: int, suffix: str = "") -> str:
    c = model.compiled
    gi = c.bit_group[bit]
    g = model.groups[gi]
    if g.kind in ("single", "multi"):
        j = c.group_bits[gi].index(bit)
        return f"groups.{gi}.options.{j}{suffix}"
    return f"groups.{gi}{'.default' if suffix and g.kind == 'number' else ''}"


def _bit_label(model: ProductModel, bit: int) -> str:
    c = model.compiled
    gi = c.bit_group[bit]
    g = model.groups[gi]
    if g.kind in ("single", "multi"):
        return f"{g.id}={c.bit_option[bit]}"
    if g.kind == "text":
        return f"{g.id} (text entered)"
    spec = g.number
    assert spec is not None
    lo, hi = c.number_classes[gi][c.group_bits[gi].index(bit)]
    return f"{g.id} in {format_decimal(spec.value(lo))}..{format_decimal(spec.value(hi))}"


def _rules_of_bit(model: ProductModel, bit: int) -> list[Rule]:
    c = model.compiled
    seen: dict[int, None] = {}
    for ci in c.bit_cons[bit]:
        if c.con_rule[ci] >= 0:
            seen.setdefault(c.con_rule[ci], None)
    return [c.rules[ri] for ri in seen]


def _default_problems(model: ProductModel) -> list[ModelProblem]:
    problems: list[ModelProblem] = []
    for gi, g in enumerate(model.groups):
        defaults = [j for j, o in enumerate(g.options) if o.default]
        if g.kind == "single" and len(defaults) > 1:
            for j in defaults[1:]:
                problems.append(
                    ModelProblem(
                        f"groups.{gi}.options.{j}.default",
                        f"group '{g.id}' takes one option but has {len(defaults)} defaults",
                        "ambiguous_default",
                    )
                )
        elif g.kind == "multi" and len(defaults) > g.max_selected:
            problems.append(
                ModelProblem(
                    f"groups.{gi}",
                    f"{len(defaults)} defaults but at most {g.max_selected} allowed",
                    "too_many_defaults",
                )
            )
    if problems:
        return problems
    c = model.compiled
    bits = encode_selection(model, default_selection(model))
    budget = [CHECK_BUDGET]
    if c.satisfiable(bits, budget=budget):
        return []
    # Shrink to a minimal set of defaults that cannot be combined, and name the rules they break.
    core = [b for b in range(c.nbits) if bits >> b & 1]
    i = 0
    while i < len(core):
        trial = core[:i] + core[i + 1 :]
        if c.satisfiable(sum(1 << b for b in trial), budget=budget):
            i += 1
        else:
            core = trial
    core_bits = sum(1 << b for b in core)
    broken = [
        v.rule_id
        for v in find_violations(model, core_bits)[0]
        if v.rule_id not in ("required", "min_selected")
    ]
    labels = ", ".join(_bit_label(model, b) for b in core)
    why = f" (breaks {', '.join(repr(r) for r in broken)})" if broken else ""
    for b in core:
        problems.append(
            ModelProblem(
                _bit_field(model, b, ".default"),
                f"the defaults {labels} cannot be combined in a valid configuration{why}",
                "default_conflict",
            )
        )
    return problems


def _dead_options(model: ProductModel) -> list[ModelProblem]:
    c = model.compiled
    analysis = Analysis(model, 0, budget=CHECK_BUDGET)
    problems: list[ModelProblem] = []
    for gi, mask in enumerate(analysis.supported_bits()):
        g = model.groups[gi]
        dead = [b for b in c.group_bits[gi] if not mask >> b & 1]
        if not dead:
            continue
        if g.kind in ("single", "multi"):
            for b in dead:
                rules = _rules_of_bit(model, b)
                hint = f" (check rules {_rule_list(rules)})" if rules else ""
                problems.append(
                    ModelProblem(
                        _bit_field(model, b),
                        f"option '{c.bit_option[b]}' of group '{g.id}' can never be part of a valid "
                        f"configuration{hint}",
                        "dead_option",
                    )
                )
        elif g.kind == "text":
            problems.append(
                ModelProblem(f"groups.{gi}", f"text group '{g.id}' can never be filled", "dead_option")
            )
        else:
            labels = ", ".join(_bit_label(model, b).split(" in ", 1)[1] for b in dead)
            problems.append(
                ModelProblem(
                    f"groups.{gi}", f"values {labels} of group '{g.id}' can never be chosen", "dead_option"
                )
            )
    return problems


def _negative_price(model: ProductModel) -> list[ModelProblem]:
    """Find a selection that can still become valid yet prices below zero, if one exists.

    Prices are checked for every step of the way, not only for complete configurations, because the
    storefront shows the running total. Only bits that can be negative matter, plus (transitively) the
    bits their conditional prices depend on: dropping any other chosen bit never lowers the total.
    """
    c = model.compiled
    base = model.base_price

    def low(b: int) -> int:
        return min([c.price_default[b], *(p for _, p in c.price_variants[b])])

    negative = [b for b in range(c.nbits) if low(b) < 0]
    if base + sum(low(b) for b in negative) >= 0:
        return []
    relevant = set(negative)
    frontier = list(negative)
    while frontier:
        b = frontier.pop()
        for conds, _ in c.price_variants[b]:
            for m in conds:
                for x in range(c.nbits):
                    if m >> x & 1 and x not in relevant:
                        relevant.add(x)
                        frontier.append(x)
    order = sorted(relevant)
    if len(order) > 300:
        raise SearchLimitExceeded("too many prices that can be negative to check")  # keeps recursion bounded
    rest = [0] * (len(order) + 1)
    for k in range(len(order) - 1, -1, -1):
        rest[k] = rest[k + 1] + min(0, low(order[k]))
    budget = [CHECK_BUDGET]
    nodes = [NEGATIVE_PRICE_NODES]
    sat_cache: dict[int, bool] = {}

    def extendable(picked: int) -> bool:
        if picked not in sat_cache:
            sat_cache[picked] = c.satisfiable(picked, budget=budget)
        return sat_cache[picked]

    def search(k: int, picked: int, low_sum: int) -> int | None:
        nodes[0] -= 1
        if nodes[0] < 0:
            raise SearchLimitExceeded("negative price search")
        if base + low_sum + rest[k] >= 0:
            return None  # even the cheapest completion of this branch stays at or above zero
        if k == len(order):
            total = base + sum(c.price_of(b, picked) for b in order if picked >> b & 1)
            return picked if total < 0 else None
        b = order[k]
        with_b = picked | (1 << b)
        if extendable(with_b):
            found = search(k + 1, with_b, low_sum + low(b))
            if found is not None:
                return found
        return search(k + 1, picked, low_sum)

    witness = search(0, 0, 0)
    if witness is None:
        return []
    total = base + sum(c.price_of(b, witness) for b in order if witness >> b & 1)
    labels = ", ".join(_bit_label(model, b) for b in order if witness >> b & 1)
    return [
        ModelProblem(
            "base_price",
            f"choosing {labels} (a selection that can still become valid) prices at {total}, below zero",
            "negative_price",
        )
    ]
