"""Search-based answers about a selection: rule violations, what is still selectable, and repairs. Pure.

`Analysis` wraps one selection (as chosen bits). Supports are computed the cheap way first: take a known
valid configuration (a witness), swap in the candidate value, and re-check only the constraints of that
group; only when that fails do we propagate and, if still undecided, search. Options that no rule tells
apart are tested once per class (see `CompiledModel.sym_classes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from itertools import combinations
from typing import Any

from ecrm.catalog.encoding import DEFAULT_BUDGET, CompiledModel, SearchLimitExceeded
from ecrm.catalog.model import ProductModel, format_decimal

# Repair is an optimisation; these caps keep a pathological selection from costing more than a few ms.
REPAIR_SAT_CALLS = 400
REPAIR_NODES = 2_000
MAX_WITNESSES = 4


@dataclass(frozen=True, slots=True)
class Violation:
    """A rule (or built-in constraint: `required`, `min_selected`, `max_selected`) the selection breaks."""

    rule_id: str
    message: str
    groups: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"rule_id": self.rule_id, "message": self.message, "groups": list(self.groups)}


@dataclass(frozen=True, slots=True)
class Change:
    """One group of a repair: set it from `before` to `after` (None = not chosen).

    `input_required` is True for a text group that must be filled: the engine cannot invent the words.
    """

    group: str
    before: Any
    after: Any
    input_required: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "group": self.group,
            "from": self.before,
            "to": self.after,
            "input_required": self.input_required,
        }


def find_violations(model: ProductModel, chosen: int) -> tuple[list[Violation], bool]:
    """Violations of the selection read as final (unset = not chosen), and whether it is complete."""
    c = model.compiled
    out: list[Violation] = []
    complete = True
    for gi, g in enumerate(model.groups):
        n = (chosen & c.group_mask[gi]).bit_count()
        if n < c.group_lo[gi]:
            complete = False
            if n == 0 and g.required:
                out.append(Violation("required", f"{g.name}: please make a choice", (g.id,)))
            else:
                out.append(Violation("min_selected", f"{g.name}: choose at least {c.group_lo[gi]}", (g.id,)))
        elif n > c.group_hi[gi]:
            out.append(Violation("max_selected", f"{g.name}: choose at most {c.group_hi[gi]}", (g.id,)))
    cons = c.cons
    for ri, trigger in enumerate(c.rule_trigger):
        # A clause can only fail once its first condition holds: skip the rules nothing has triggered.
        if trigger >= 0 and not chosen & trigger:
            continue
        for ci in c.rule_clauses[ri]:
            if not any((chosen & m) if pos else not (chosen & m) for pos, m in cons[ci][1]):
                rule = c.rules[ri]
                out.append(Violation(rule.id, rule.message, rule.groups))
                break
    return out, complete


class Analysis:
    """Search-based facts about one selection (bits chosen): supports for every value, and a repair."""

    def __init__(self, model: ProductModel, chosen: int, budget: int = DEFAULT_BUDGET) -> None:
        self.model = model
        self.c: CompiledModel = model.compiled
        self.chosen = chosen
        self.budget = [budget]
        self._sat_cache: dict[int, int | None] = {}
        self.witness = self.solution(chosen)

    def solution(self, chosen: int) -> int | None:
        """A full valid assignment containing the bits chosen (memoised per evaluation)."""
        if chosen in self._sat_cache:
            return self._sat_cache[chosen]
        found = self.c.solve(chosen, budget=self.budget)
        self._sat_cache[chosen] = found
        return found

    def supported_bits(self) -> list[int]:
        """Per group, the mask of its bits that extend the selection to a valid configuration."""
        c = self.c
        chosen = self.chosen
        result: list[int] = []
        for gi in range(len(c.groups)):
            gm = c.group_mask[gi]
            own = chosen & gm
            single_like = c.groups[gi].kind != "multi"  # a multi with max 1 still keeps its choice
            base = chosen & ~gm if single_like else chosen
            if self.witness is not None:
                witnesses = [self.witness]
            elif single_like and own:
                # The rest of the selection may be fine and only this group's choice the conflict.
                w = self.solution(base)
                witnesses = [w] if w is not None else []
            else:
                witnesses = []
            if not witnesses:
                result.append(0)
                continue
            supported = 0
            clause_items = c.group_clauses[gi]
            for cls in c.sym_classes[gi]:
                if single_like:
                    parts = [cls]
                else:
                    # A chosen option is not interchangeable with an unchosen one: split the class.
                    parts = [tuple(b for b in cls if own >> b & 1), tuple(b for b in cls if not own >> b & 1)]
                for part in parts:
                    if not part:
                        continue
                    bit = 1 << part[0]
                    if self._supports(gi, bit, base, own, single_like, witnesses, clause_items):
                        for b in part:
                            supported |= 1 << b
            result.append(supported)
        return result

    def _supports(
        self,
        gi: int,
        bit: int,
        base: int,
        own: int,
        single_like: bool,
        witnesses: list[int],
        clause_items: tuple,
    ) -> bool:
        c = self.c
        gm = c.group_mask[gi]
        if not single_like and bit & own:
            return True  # the witness itself contains every chosen option
        # Cheap first: patch a known solution in this group only and re-check the constraints of this group.
        for w in witnesses:
            # Multi: add the option, or add it and drop the witness's own extra options of this group.
            candidates = ((w & ~gm) | bit,) if single_like else (w | bit, (w & ~(gm & ~own)) | bit)
            for cand in candidates:
                n = (cand & gm).bit_count()
                if c.group_lo[gi] <= n <= c.group_hi[gi] and all(
                    any((cand & m) if pos else not (cand & m) for pos, m in items) for items in clause_items
                ):
                    return True
        # Then a refutation by propagation around this group only (sound, usually enough), then full search.
        if c.propagate(base | bit, 0, bit | own) is None:
            return False
        found = self.solution(base | bit)
        if found is not None:
            if len(witnesses) >= MAX_WITNESSES:
                witnesses.pop(1 if len(witnesses) > 1 else 0)
            witnesses.append(found)
            return True
        return False

    def supports(self) -> tuple[dict[str, list[str]], dict[str, list[tuple[str, str]]], dict[str, bool]]:
        """`selectable`, `ranges` and `fillable` as documented on `evaluate`."""
        c = self.c
        selectable: dict[str, list[str]] = {}
        ranges: dict[str, list[tuple[str, str]]] = {}
        fillable: dict[str, bool] = {}
        for gi, mask in enumerate(self.supported_bits()):
            g = c.groups[gi]
            if g.kind in ("single", "multi"):
                selectable[g.id] = [c.bit_option[b] or "" for b in c.group_bits[gi] if mask >> b & 1]
            else:
                fillable[g.id] = bool(mask)
                if g.kind == "number":
                    ranges[g.id] = _value_ranges(c, gi, mask)
        return selectable, ranges, fillable

    # ----------------------------------------------------------------------------------------------
    # Repair

    def repair(self, sel: Mapping[str, Any]) -> list[Change] | None:
        """A smallest change making the selection valid; None if no valid configuration exists.

        "Smallest" is lexicographic: first the fewest customer choices given up (a single/text/number
        value replaced or cleared, or a chosen multi option dropped), then the fewest groups touched at all
        (filling a required group counts). The first figure is exact (implicit hitting sets); the second is
        exact unless the branch-and-bound node budget runs out, in which case the best found is returned.
        """
        c = self.c
        chosen_groups = [gi for gi in range(len(c.groups)) if self.chosen & c.group_mask[gi]]
        if self.witness is not None:
            release: tuple[int, ...] | None = ()
        else:
            release = self._min_release(chosen_groups)
            if release is None:
                return None
        keep = self.chosen
        forbid = 0
        for gi in release:
            keep &= ~c.group_mask[gi]
            if c.groups[gi].kind != "multi":
                forbid |= self.chosen & c.group_mask[gi]  # a released value must change, else why release it
        incumbent = self.solution(keep)
        if incumbent is None:
            return None
        best = [incumbent, *self._cost(incumbent, c.all_mask & ~incumbent)]
        nodes = [REPAIR_NODES]
        # First among completions that keep every choice outside the release set (finds good bounds fast),
        # then, when something had to be released, among all configurations (another release set of the
        # same size may need fewer fills).
        self._branch_and_bound(best, keep, forbid, nodes)
        if release:
            self._branch_and_bound(best, 0, 0, nodes)
        return self._changes(sel, best[0])

    def _cost(self, on: int, off: int) -> tuple[int, int]:
        """Lower bounds (exact for a full assignment): (customer choices broken, groups changed)."""
        chosen = self.chosen
        masks = self.c.group_mask
        group_of = self.c.bit_group
        diff = (on & ~chosen) | (off & chosen)
        broken_bits = off & chosen
        changed = broken = 0
        while diff:
            low = diff & -diff
            gi = group_of[low.bit_length() - 1]
            changed += 1
            if broken_bits & masks[gi]:
                broken += 1
            diff &= ~masks[gi]
        return broken, changed

    def _branch_and_bound(self, best: list[Any], keep: int, forbid: int, nodes: list[int]) -> None:
        c = self.c
        state = c.propagate(keep, forbid)
        if state is None:
            return

        def prune(on: int, off: int) -> bool:
            return self._cost(on, off) >= (best[1], best[2])

        try:
            for solution in c.iter_solutions(*state, prefer=self.chosen, prune=prune, budget=nodes):
                cost = self._cost(solution, c.all_mask & ~solution)
                if cost < (best[1], best[2]):
                    best[:] = [solution, *cost]
        except SearchLimitExceeded:
            pass  # keep the best configuration found within the node budget

    def _sat_groups(self, groups: tuple[int, ...] | list[int]) -> bool:
        keep = 0
        for gi in groups:
            keep |= self.chosen & self.c.group_mask[gi]
        return self.solution(keep) is not None

    def _min_release(self, chosen_groups: list[int]) -> tuple[int, ...] | None:
        """Fewest chosen groups to give up so the rest extends to a valid configuration.

        Implicit hitting sets: every unsatisfiable subset of choices found ("core", shrunk by deletion)
        must lose at least one group; the smallest set hitting all cores found so far is tried next.
        When the search budget runs out, every choice is released (the repair then restarts from defaults).
        """
        if not self._sat_groups([]):
            return None
        cores: list[tuple[int, ...]] = []
        calls = [0]
        while True:
            hitting = _min_hitting_set(cores, chosen_groups)
            calls[0] += 1
            if hitting is None or calls[0] > REPAIR_SAT_CALLS:
                return tuple(chosen_groups)
            kept = [gi for gi in chosen_groups if gi not in hitting]
            if self._sat_groups(kept):
                return hitting
            core = list(kept)
            i = 0
            while i < len(core):
                trial = core[:i] + core[i + 1 :]
                calls[0] += 1
                if calls[0] > REPAIR_SAT_CALLS:
                    return tuple(chosen_groups)
                if self._sat_groups(trial):
                    i += 1
                else:
                    core = trial
            cores.append(tuple(core))

    def _changes(self, sel: Mapping[str, Any], full: int) -> list[Change]:
        c = self.c
        changes: list[Change] = []
        for gi, g in enumerate(c.groups):
            gm = c.group_mask[gi]
            if (full & gm) == (self.chosen & gm):
                continue
            before = sel.get(g.id)
            bits = [b for b in c.group_bits[gi] if full >> b & 1]
            if g.kind == "single":
                after: Any = c.bit_option[bits[0]] if bits else None
                changes.append(Change(g.id, before, after))
            elif g.kind == "multi":
                after = sorted(c.bit_option[b] or "" for b in bits) or None
                changes.append(Change(g.id, before, after))
            elif g.kind == "text":
                changes.append(Change(g.id, before, None, input_required=bool(bits)))
            else:
                after = _number_value(c, gi, bits[0], before) if bits else None
                changes.append(Change(g.id, before, after))
        return changes


def _min_hitting_set(cores: list[tuple[int, ...]], chosen_groups: list[int]) -> tuple[int, ...] | None:
    """Smallest set of groups meeting every core (model order breaks ties); None if too many to try."""
    if not cores:
        return ()
    universe = sorted({gi for core in cores for gi in core})
    tried = 0
    for size in range(1, len(universe) + 1):
        for combo in combinations(universe, size):
            tried += 1
            if tried > 20_000:
                return None
            if all(any(gi in combo for gi in core) for core in cores):
                return combo
    return tuple(chosen_groups)


def _number_value(c: CompiledModel, gi: int, bit: int, before: Any) -> str:
    """A value for number group `gi` in class `bit`: the default if it is in it, else the nearest to
    the customer's current value (or the lowest value of the class)."""
    g = c.groups[gi]
    spec = g.number
    assert spec is not None
    lo, hi = c.number_classes[gi][c.group_bits[gi].index(bit)]
    if spec.default is not None:
        index = spec.index(spec.default)
        if index is not None and lo <= index <= hi:
            return format_decimal(spec.default)
    target = lo
    if before is not None:
        current = spec.index(Decimal(before))
        if current is not None:
            target = min(max(current, lo), hi)
    return format_decimal(spec.value(target))


def _value_ranges(c: CompiledModel, gi: int, mask: int) -> list[tuple[str, str]]:
    """Inclusive [min, max] value ranges of the supported classes of number group `gi`, merged."""
    spec = c.groups[gi].number
    assert spec is not None
    merged: list[list[int]] = []
    for b, (lo, hi) in zip(c.group_bits[gi], c.number_classes[gi], strict=True):
        if not mask >> b & 1:
            continue
        if merged and merged[-1][1] + 1 == lo:
            merged[-1][1] = hi
        else:
            merged.append([lo, hi])
    return [(format_decimal(spec.value(lo)), format_decimal(spec.value(hi))) for lo, hi in merged]
