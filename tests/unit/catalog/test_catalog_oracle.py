"""Reference semantics of the product document, written naively and independently of the engine's bit
encoding, plus hypothesis strategies for small random models. The property tests compare the engine
with this oracle by brute force; the tests in this file check the oracle itself on hand-made cases.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

SEEDS = Path(__file__).resolve().parents[3] / "infra" / "seed" / "products"

Config = dict[str, Any]  # group id -> None | option id | frozenset | text | Decimal


def load_seed(name: str) -> dict[str, Any]:
    """A seed product document."""
    return json.loads((SEEDS / f"{name}.json").read_text())


# --------------------------------------------------------------------------------------------------
# Reference semantics


def _dec(x: Any) -> Decimal:
    return Decimal(str(x))


def grid(group: dict[str, Any]) -> list[Decimal]:
    """Every value of a number group."""
    lo, hi, step = _dec(group["min"]), _dec(group["max"]), _dec(group.get("step", 1))
    out = []
    v = lo
    while v <= hi:
        out.append(v)
        v += step
    return out


def domain(group: dict[str, Any]) -> list[Any]:
    """Every value a group can take in a full configuration, unset (None / empty set) included."""
    kind = group["kind"]
    if kind == "single":
        return [None] + [o["id"] for o in group["options"]]
    if kind == "multi":
        ids = [o["id"] for o in group["options"]]
        return [frozenset(c) for n in range(len(ids) + 1) for c in itertools.combinations(ids, n)]
    if kind == "text":
        return [None, "X"]
    return [None, *grid(group)]


def is_set(value: Any) -> bool:
    """Whether a group value counts as chosen."""
    return value is not None and value != frozenset()


def term_true(doc: dict[str, Any], term: dict[str, Any], config: Config) -> bool:
    """A rule term read on a configuration (unset groups make every term on them false)."""
    value = config.get(term["group"])
    if not is_set(value):
        return False
    options = term.get("options") or ([term["option"]] if "option" in term else None)
    if options is not None:
        if isinstance(value, frozenset):
            return bool(value & set(options))
        return value in options
    if term.get("min") is not None and value < _dec(term["min"]):
        return False
    return not (term.get("max") is not None and value > _dec(term["max"]))


def _as_list(x: Any) -> list[dict[str, Any]]:
    return [x] if isinstance(x, dict) else list(x)


def rule_holds(doc: dict[str, Any], rule: dict[str, Any], config: Config) -> bool:
    """Whether one rule is satisfied by a configuration read as final."""
    kind = rule["kind"]
    if kind == "conditional_price":
        return True
    if not all(term_true(doc, t, config) for t in _as_list(rule["if"])):
        return True
    for t in _as_list(rule["then"]):
        if kind == "requires" and not term_true(doc, t, config):
            return False
        if kind == "excludes" and term_true(doc, t, config):
            return False
        if kind == "conditional_requirement":
            value = config.get(t["group"])
            if not is_set(value):
                return False
            options = t.get("options") or ([t["option"]] if "option" in t else None)
            if isinstance(value, frozenset) and options is not None:
                if not value <= set(options):
                    return False
            elif not term_true(doc, t, config):
                return False
    return True


def group_limits(group: dict[str, Any]) -> tuple[int, int]:
    """(lo, hi) number of chosen values the group allows."""
    required = group.get("required", False)
    if group["kind"] == "multi":
        lo = group.get("min", 0)
        if required and lo == 0:
            lo = 1
        return lo, group.get("max", len(group["options"]))
    return (1 if required else 0), 1


def group_count(value: Any) -> int:
    """How many values are chosen in a group."""
    if isinstance(value, frozenset):
        return len(value)
    return 1 if value is not None else 0


def group_holds(group: dict[str, Any], value: Any) -> bool:
    """Whether a group value respects the group's own limits."""
    lo, hi = group_limits(group)
    return lo <= group_count(value) <= hi


def valid(doc: dict[str, Any], config: Config) -> bool:
    """The oracle's notion of a valid full configuration."""
    return all(group_holds(g, config.get(g["id"])) for g in doc["groups"]) and all(
        rule_holds(doc, r, config) for r in doc.get("rules", [])
    )


def violated_rules(doc: dict[str, Any], config: Config) -> set[str]:
    """Ids of rules (not group limits) broken by a configuration read as final."""
    return {r["id"] for r in doc.get("rules", []) if not rule_holds(doc, r, config)}


def _target_matches(target: dict[str, Any], group_id: str, item: Any, value: Any) -> bool:
    if target["group"] != group_id:
        return False
    options = target.get("options") or ([target["option"]] if "option" in target else None)
    if options is not None:
        return item in options
    if isinstance(value, Decimal):
        if target.get("min") is not None and value < _dec(target["min"]):
            return False
        if target.get("max") is not None and value > _dec(target["max"]):
            return False
    return True


def price(doc: dict[str, Any], config: Config) -> int:
    """Base price plus every chosen item, a conditional price replacing the item's own (first rule wins)."""
    total = doc["base_price"]
    cps = [r for r in doc.get("rules", []) if r["kind"] == "conditional_price"]
    for g in doc["groups"]:
        value = config.get(g["id"])
        if not is_set(value):
            continue
        if g["kind"] in ("single", "multi"):
            own = {o["id"]: o.get("price", 0) for o in g["options"]}
            items = [(oid, own[oid]) for oid in (sorted(value) if isinstance(value, frozenset) else [value])]
        else:
            items = [(None, g.get("price", 0))]
        for item, amount in items:
            for r in cps:
                if _target_matches(r["target"], g["id"], item, value) and all(
                    term_true(doc, t, config) for t in _as_list(r.get("if", []))
                ):
                    amount = r["price"]
                    break
            total += amount
    return total


def all_configs(doc: dict[str, Any]) -> Iterator[Config]:
    """Every full configuration (valid or not) of a small model."""
    groups = doc["groups"]
    for values in itertools.product(*(domain(g) for g in groups)):
        yield {g["id"]: v for g, v in zip(groups, values, strict=True)}


def exists(
    doc: dict[str, Any], allowed: dict[str, Callable[[Any], bool]], limit: int = 2_000_000
) -> Config | None:
    """A valid full configuration whose group values pass `allowed[group]`, by naive backtracking.

    Rules are checked as soon as every group they mention has a value: slow but obviously right.
    """
    groups = doc["groups"]
    order = [g["id"] for g in groups]
    position = {gid: i for i, gid in enumerate(order)}
    rules_at: dict[int, list[dict[str, Any]]] = {}
    for r in doc.get("rules", []):
        terms = [*_as_list(r.get("if", [])), *_as_list(r.get("then", []))]
        if r.get("target"):
            terms.append(r["target"])
        last = max(position[t["group"]] for t in terms)
        rules_at.setdefault(last, []).append(r)
    doms = [
        [v for v in domain(g) if group_holds(g, v) and allowed.get(g["id"], lambda _v: True)(v)]
        for g in groups
    ]
    config: Config = {}
    counter = [limit]

    def go(i: int) -> bool:
        if i == len(groups):
            return True
        for v in doms[i]:
            counter[0] -= 1
            if counter[0] < 0:
                raise RuntimeError("oracle search too large")
            config[order[i]] = v
            if all(rule_holds(doc, r, config) for r in rules_at.get(i, [])) and go(i + 1):
                return True
        config.pop(order[i], None)
        return False

    return dict(config) if go(0) else None


# --------------------------------------------------------------------------------------------------
# Selections


def to_selection(doc: dict[str, Any], config: Config) -> dict[str, Any]:
    """The engine's input form of a (partial) configuration: unset groups left out."""
    out: dict[str, Any] = {}
    for g in doc["groups"]:
        value = config.get(g["id"])
        if not is_set(value):
            continue
        if isinstance(value, frozenset):
            out[g["id"]] = sorted(value)
        elif isinstance(value, Decimal):
            out[g["id"]] = str(value)
        else:
            out[g["id"]] = value
    return out


def from_selection(doc: dict[str, Any], selection: dict[str, Any]) -> Config:
    """The oracle's form of an engine selection."""
    config: Config = {}
    for g in doc["groups"]:
        raw = selection.get(g["id"])
        if g["kind"] == "multi":
            config[g["id"]] = frozenset(raw or ())
        elif g["kind"] == "number":
            config[g["id"]] = None if raw is None else _dec(raw)
        else:
            config[g["id"]] = raw
    return config


def extends(doc: dict[str, Any], config: Config, selection: Config, skip: str | None = None) -> bool:
    """Whether a full configuration keeps every choice of `selection` (except group `skip`)."""
    for g in doc["groups"]:
        gid = g["id"]
        want = selection.get(gid)
        if gid == skip or not is_set(want):
            continue
        have = config.get(gid)
        if isinstance(want, frozenset):
            if not want <= (have or frozenset()):
                return False
        elif (have is not None) != (want is not None) or (have != want and g["kind"] != "text"):
            return False
    return True


def keep_filter(
    doc: dict[str, Any], selection: Config, skip: str | None = None
) -> dict[str, Callable[[Any], bool]]:
    """`allowed` predicates (for `exists`) that keep the choices of `selection`."""
    allowed: dict[str, Callable[[Any], bool]] = {}
    for g in doc["groups"]:
        gid = g["id"]
        want = selection.get(gid)
        if gid == skip or not is_set(want):
            continue
        if isinstance(want, frozenset):
            allowed[gid] = lambda v, w=want: v is not None and w <= v
        elif g["kind"] == "text":
            allowed[gid] = lambda v: v is not None
        else:
            allowed[gid] = lambda v, w=want: v == w
    return allowed


def repair_cost(doc: dict[str, Any], config: Config, selection: Config) -> tuple[int, int]:
    """(customer choices given up, groups changed at all) going from `selection` to `config`."""
    broken = changed = 0
    for g in doc["groups"]:
        gid = g["id"]
        want, have = selection.get(gid), config.get(gid)
        norm_want = want if is_set(want) else None
        norm_have = have if is_set(have) else None
        if g["kind"] == "text":
            norm_want = None if norm_want is None else "set"
            norm_have = None if norm_have is None else "set"
        if norm_want != norm_have:
            changed += 1
            if norm_want is not None and (
                not isinstance(want, frozenset) or not want <= (have or frozenset())
            ):
                broken += 1
    return broken, changed


def partials(doc: dict[str, Any], config: Config) -> Iterator[Config]:
    """Every selection that a full configuration extends (every step on the way to it)."""
    choices = []
    for g in doc["groups"]:
        value = config.get(g["id"])
        if isinstance(value, frozenset):
            items = sorted(value)
            choices.append(
                [frozenset(c) for n in range(len(items) + 1) for c in itertools.combinations(items, n)]
            )
        else:
            choices.append([None, value] if value is not None else [None])
    for values in itertools.product(*choices):
        yield {g["id"]: v for g, v in zip(doc["groups"], values, strict=True)}


def expected_problem_codes(doc: dict[str, Any]) -> set[str]:
    """What check_consistency must report for a structurally sound small model, by brute force."""
    good = [c for c in all_configs(doc) if valid(doc, c)]
    if not good:
        return {"unsatisfiable"}  # or unsatisfiable_group: tests accept either
    codes: set[str] = set()
    ambiguous = False
    defaults: Config = {}
    for g in doc["groups"]:
        ds = [o["id"] for o in g.get("options", []) if o.get("default")]
        if g["kind"] == "single":
            if len(ds) > 1:
                codes.add("ambiguous_default")
                ambiguous = True
            defaults[g["id"]] = ds[0] if ds else None
        elif g["kind"] == "multi":
            if len(ds) > group_limits(g)[1]:
                codes.add("too_many_defaults")
                ambiguous = True
            defaults[g["id"]] = frozenset(ds)
        elif g["kind"] == "number" and g.get("default") is not None:
            defaults[g["id"]] = _dec(g["default"])
    if not ambiguous and not any(extends(doc, c, defaults) for c in good):
        codes.add("default_conflict")
    for g in doc["groups"]:
        gid = g["id"]
        if g["kind"] == "single":
            seen = {c[gid] for c in good}
            if any(o["id"] not in seen for o in g["options"]):
                codes.add("dead_option")
        elif g["kind"] == "multi":
            seen_multi: set[str] = set()
            for c in good:
                seen_multi |= c[gid]
            if any(o["id"] not in seen_multi for o in g["options"]):
                codes.add("dead_option")
        elif g["kind"] == "text":
            if not any(c[gid] is not None for c in good):
                codes.add("dead_option")
        elif not set(grid(g)) <= {c[gid] for c in good}:
            codes.add("dead_option")
    steps: set[str] = set()
    for c in good:
        for p in partials(doc, c):
            key = json.dumps(to_selection(doc, p), sort_keys=True)
            if key in steps:
                continue
            steps.add(key)
            if price(doc, p) < 0:
                codes.add("negative_price")
                break
    return codes


# --------------------------------------------------------------------------------------------------
# Random small models


@st.composite
def models(draw: st.DrawFn, max_groups: int = 4, allow_negative: bool = True) -> dict[str, Any]:
    """A small, structurally valid product document (rules may make it inconsistent)."""
    n_groups = draw(st.integers(1, max_groups))
    groups: list[dict[str, Any]] = []
    for i in range(n_groups):
        kind = draw(st.sampled_from(["single", "single", "multi", "text", "number"]))
        gid = f"g{i}"
        required = draw(st.booleans())
        g: dict[str, Any] = {"id": gid, "name": f"Group {i}", "kind": kind, "required": required}
        low_price = -300 if allow_negative else 0
        if kind in ("single", "multi"):
            n = draw(st.integers(1, 3))
            g["options"] = [
                {
                    "id": f"o{j}",
                    "name": f"Option {j}",
                    "price": draw(st.integers(low_price, 500)),
                    "default": draw(st.booleans()) if draw(st.integers(0, 3)) == 0 else False,
                }
                for j in range(n)
            ]
            if kind == "multi":
                mx = draw(st.integers(1, n))
                mn = draw(st.integers(0, mx))
                g["min"], g["max"] = mn, mx
        elif kind == "text":
            g["max_length"] = 3
            g["price"] = draw(st.integers(low_price, 500))
            if draw(st.booleans()):
                g["pattern"] = "[A-Z]+"
        else:
            start = draw(st.sampled_from(["0", "1", "36"]))
            step = draw(st.sampled_from(["0.5", "1"]))
            count = draw(st.integers(1, 4))
            g["min"], g["step"] = start, step
            g["max"] = str(_dec(start) + _dec(step) * (count - 1))
            g["price"] = draw(st.integers(low_price, 500))
            if draw(st.integers(0, 3)) == 0:
                g["default"] = str(_dec(start) + _dec(step) * draw(st.integers(0, count - 1)))
        groups.append(g)

    def term(for_target: bool = False, group_level: bool = False) -> dict[str, Any]:
        g = draw(st.sampled_from(groups))
        t: dict[str, Any] = {"group": g["id"]}
        if g["kind"] in ("single", "multi"):
            ids = [o["id"] for o in g["options"]]
            if for_target:
                t["option"] = draw(st.sampled_from(ids))
            elif draw(st.integers(0, 3)) > 0:
                t["options"] = draw(
                    st.lists(st.sampled_from(ids), min_size=1, max_size=len(ids), unique=True)
                )
        elif g["kind"] == "number" and draw(st.booleans()):
            values = grid(g)
            lo = draw(st.integers(0, len(values) - 1))
            hi = draw(st.integers(lo, len(values) - 1))
            if draw(st.booleans()) or group_level:
                t["min"] = str(values[lo])
            if draw(st.booleans()):
                t["max"] = str(values[hi])
        return t

    rules: list[dict[str, Any]] = []
    for k in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["requires", "excludes", "conditional_requirement", "conditional_price"]))
        r: dict[str, Any] = {"id": f"r{k}", "kind": kind, "message": f"rule {k}"}
        n_if = draw(st.integers(0 if kind == "conditional_price" else 1, 2))
        conds = [term() for _ in range(n_if)]
        if kind == "conditional_price":
            if conds:
                r["if"] = conds
            r["target"] = term(for_target=True)
            r["price"] = draw(st.integers(-300 if allow_negative else 0, 500))
        else:
            r["if"] = conds[0] if len(conds) == 1 and draw(st.booleans()) else conds
            r["then"] = [
                term(group_level=kind == "conditional_requirement") for _ in range(draw(st.integers(1, 2)))
            ]
        rules.append(r)
    return {
        "product_id": "p",
        "name": "Random product",
        "currency": "EUR",
        "base_price": draw(st.integers(0, 1000)),
        "groups": groups,
        "rules": rules,
    }


@st.composite
def selections(draw: st.DrawFn, doc: dict[str, Any]) -> Config:
    """A random partial configuration (oracle form): any group may be left unset or over its limits."""
    config: Config = {}
    for g in doc["groups"]:
        if draw(st.integers(0, 2)) == 0:
            config[g["id"]] = frozenset() if g["kind"] == "multi" else None
            continue
        values = [v for v in domain(g) if is_set(v)]
        config[g["id"]] = draw(st.sampled_from(values))
    return config


# --------------------------------------------------------------------------------------------------
# The oracle's own tests


def test_oracle_reads_the_car_seed() -> None:
    doc = load_seed("car")
    gt_small_engine = {
        "model": "gt",
        "engine": "petrol-1-5",
        "transmission": "manual",
        "colour": "white",
        "wheels": "18-alloy",
        "interior": "nappa",
        "packs": frozenset(),
        "charging-cable": None,
        "plate-frame": None,
    }
    assert violated_rules(doc, gt_small_engine) == {"gt-engines"}
    fixed = {**gt_small_engine, "engine": "petrol-2-0"}
    assert valid(doc, fixed)
    assert price(doc, fixed) == 2890000 + 650000 + 420000 + 95000 + 170000


def test_oracle_exists_agrees_with_enumeration_on_a_tiny_model() -> None:
    doc = {
        "product_id": "t",
        "name": "t",
        "currency": "EUR",
        "base_price": 0,
        "groups": [
            {"id": "a", "kind": "single", "required": True, "options": [{"id": "x"}, {"id": "y"}]},
            {"id": "b", "kind": "multi", "min": 0, "max": 2, "options": [{"id": "p"}, {"id": "q"}]},
        ],
        "rules": [
            {
                "id": "r",
                "kind": "requires",
                "if": {"group": "a", "option": "x"},
                "then": {"group": "b", "option": "q"},
            }
        ],
    }
    brute = [c for c in all_configs(doc) if valid(doc, c)]
    assert len(brute) == 2 + 4  # x with {q},{p,q}; y with any subset
    assert exists(doc, {"a": lambda v: v == "x", "b": lambda v: "p" not in v}) == {
        "a": "x",
        "b": frozenset({"q"}),
    }
    assert exists(doc, {"a": lambda v: v == "x", "b": lambda v: not v}) is None
