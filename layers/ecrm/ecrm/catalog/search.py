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
REPAIR_NODES = 64
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
    known = _violation_texts(model)
    out: list[Violation] = []
    complete = True
    lo, hi = c.group_lo, c.group_hi
    for gi, gm in enumerate(c.group_mask):
        n = (chosen & gm).bit_count()
        if n < lo[gi]:
            complete = False
            out.append(known[("required" if n == 0 and c.groups[gi].required else "min_selected", gi)])
        elif n > hi[gi]:
            out.append(known[("max_selected", gi)])
    cons = c.cons
    for ri, trigger in enumerate(c.rule_trigger):
        # A clause can only fail once its first condition holds: skip the rules nothing has triggered.
        if trigger >= 0 and not chosen & trigger:
            continue
        for ci in c.rule_clauses[ri]:
            for pos, m in cons[ci][1]:
                if pos:
                    if chosen & m:
                        break
                elif not chosen & m:
                    break
            else:
                out.append(known[("rule", ri)])
                break
    return out, complete


def _violation_texts(model: ProductModel) -> dict[tuple[str, int], Violation]:
    """Every violation a model can report, built once per model (they are immutable)."""
    c = model.compiled
    cached = c.derived.get("violations")
    if cached is not None:
        return cached
    texts: dict[tuple[str, int], Violation] = {}
    for gi, g in enumerate(c.groups):
        texts[("required", gi)] = Violation("required", f"{g.name}: please make a choice", (g.id,))
        texts[("min_selected", gi)] = Violation(
            "min_selected", f"{g.name}: choose at least {c.group_lo[gi]}", (g.id,)
        )
        texts[("max_selected", gi)] = Violation(
            "max_selected", f"{g.name}: choose at most {c.group_hi[gi]}", (g.id,)
        )
    for ri, rule in enumerate(c.rules):
        texts[("rule", ri)] = Violation(rule.id, rule.message, rule.groups)
    c.derived["violations"] = texts
    return texts


class Analysis:
    """Search-based facts about one selection (bits chosen): supports for every value, and a repair."""

    def __init__(self, model: ProductModel, chosen: int, budget: int = DEFAULT_BUDGET) -> None:
        self.model = model
        self.c: CompiledModel = model.compiled
        self.chosen = chosen
        self.budget = [budget]
        self._sat_cache: dict[int, int | None] = {}
        self._states: dict[int, tuple[int, int] | None] = {}
        self.witness = self.solution(chosen)
        # Bits the propagated selection rules out (sound: adding one of them to the selection has no
        # valid completion); only consulted when a witness exists, i.e. the propagation succeeded.
        chosen_state = self._states.get(chosen)
        self._chosen_off = chosen_state[1] if chosen_state is not None else 0
        c = self.c
        counts = [(chosen & gm).bit_count() for gm in c.group_mask]
        self._must_change = sum(
            1 << gi for gi, n in enumerate(counts) if not c.group_lo[gi] <= n <= c.group_hi[gi]
        )
        self._must_break = sum(1 << gi for gi, n in enumerate(counts) if n > c.group_hi[gi])
        self._fixed = 0  # the whole mask of every chosen single-like group: their values cannot move
        self._full_off = 0  # the unchosen bits of every group already at its maximum
        for gi, n in enumerate(counts):
            if n and c.groups[gi].kind != "multi":
                self._fixed |= c.group_mask[gi]
            if n >= c.group_hi[gi]:
                self._full_off |= c.group_mask[gi] & ~chosen

    def solution(self, chosen: int) -> int | None:
        """A full valid assignment containing the bits chosen (memoised per evaluation)."""
        if chosen in self._sat_cache:
            return self._sat_cache[chosen]
        state = self.state(chosen)
        found = None if state is None else self.c.solve(*state, propagated=True, budget=self.budget)
        self._sat_cache[chosen] = found
        return found

    def state(self, chosen: int) -> tuple[int, int] | None:
        """The propagated state of the bits chosen, None on conflict (memoised per evaluation)."""
        if chosen not in self._states:
            if chosen:
                self._states[chosen] = self.c.propagate(chosen, 0)
            else:  # the empty selection's state is a fact about the model: computed once per model
                derived = self.c.derived
                if "empty_state" not in derived:
                    derived["empty_state"] = self.c.propagate(0, 0)
                self._states[0] = derived["empty_state"]
        return self._states[chosen]

    def supported_bits(self) -> list[int]:
        """Per group, the mask of its bits that extend the selection to a valid configuration."""
        c = self.c
        chosen = self.chosen
        result: list[int] = []
        # Valid configurations found while testing one group that contain the whole selection are
        # witnesses for every other group too: patching them settles many later options without a search.
        pool: list[int] = []
        for gi in range(len(c.groups)):
            gm = c.group_mask[gi]
            own = chosen & gm
            single_like = c.groups[gi].kind != "multi"  # a multi with max 1 still keeps its choice
            base = chosen & ~gm if single_like else chosen
            if self.witness is not None:
                witnesses = [self.witness, *pool[-(MAX_WITNESSES - 1):]]
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
            if single_like:
                # Every value a witness accepts in place of its own, in one pass per witness; what the
                # propagated selection already rules out (when it is the base) needs no search either.
                patched = 0
                reps = c.sym_reps[gi]
                for w in witnesses:
                    patched |= c.patch_mask(gi, w)
                    if not reps & ~patched:
                        break
                ruled_out = 0 if own or self.witness is None else self._chosen_off
                for cls in c.sym_classes[gi]:
                    bit = 1 << cls[0]
                    if bit & patched:
                        pass
                    elif bit & ruled_out or not self._search_support(gi, bit, base, True, witnesses):
                        continue
                    else:
                        patched |= c.patch_mask(gi, witnesses[-1])
                    for b in cls:
                        supported |= 1 << b
                pool += [w for w in witnesses if w & chosen == chosen and w != self.witness and w not in pool]
                result.append(supported)
                continue
            for cls in c.sym_classes[gi]:
                # A chosen option is not interchangeable with an unchosen one: split the class.
                parts = [tuple(b for b in cls if own >> b & 1), tuple(b for b in cls if not own >> b & 1)]
                for part in parts:
                    if not part:
                        continue
                    bit = 1 << part[0]
                    if self._supports(gi, bit, base, own, single_like, witnesses):
                        for b in part:
                            supported |= 1 << b
            pool += [w for w in witnesses if w & chosen == chosen and w != self.witness and w not in pool]
            result.append(supported)
        return result

    def _supports(
        self, gi: int, bit: int, base: int, own: int, single_like: bool, witnesses: list[int]
    ) -> bool:
        """Whether `bit` of group `gi` together with `base` extends to a valid configuration."""
        c = self.c
        gm = c.group_mask[gi]
        if not single_like and bit & own:
            return True  # the witness itself contains every chosen option
        # Cheap first: patch a known solution in this group only; only constraints on the bits that
        # flipped can change their verdict.
        bit_cons = c.bit_cons
        new_cons = bit_cons[bit.bit_length() - 1]
        for w in witnesses:
            if single_like:
                old = w & gm
                cand = (w & ~gm) | bit
                if c.holds_all(new_cons + bit_cons[old.bit_length() - 1] if old else new_cons, cand):
                    return True
            else:
                if c.holds_all(new_cons, w | bit):
                    return True
                # Or add it and drop the witness's own extra options of this group (the maximum may bind).
                trimmed = (w & ~(gm & ~own)) | bit
                if trimmed != w | bit and c.holds_all(c.group_cons[gi], trimmed):
                    return True
        if not bit & own and bit & self._chosen_off and self.witness is not None:
            return False  # the propagated selection itself rules it out
        return self._search_support(gi, bit, base, single_like, witnesses)

    def _search_support(self, gi: int, bit: int, base: int, single_like: bool, witnesses: list[int]) -> bool:
        """`_supports` once no witness can simply be patched: refute directly, else propagate and search
        (a configuration found is appended to `witnesses`)."""
        c = self.c
        gm = c.group_mask[gi]
        # A rule broken by this value and choices that cannot move any more is a dead end already.
        if self._directly_refuted(gi, bit, base):
            return False
        # Local search first: keep a witness everywhere except this group and the groups of the rules the
        # swap breaks; a configuration found there proves support (none found proves nothing).
        if single_like and self._found_locally(gi, bit, base, witnesses):
            return True
        # Then search, from a state built without a full propagation: every full group's other values
        # cleared, then propagation around this group only. Sound (it only draws consequences) and
        # enough for the search, which re-checks every rule on each completion it tries.
        gm_off = (gm & ~bit) if single_like else 0
        grown = c.propagate(base | bit, (self._full_off & ~gm) | gm_off | (self._full_off & gm & ~bit), gm)
        if grown is None:
            return False
        found = c.solve(*grown, propagated=True, budget=self.budget, prefer=witnesses[0])
        if found is None:
            return False
        if len(witnesses) >= MAX_WITNESSES:
            witnesses.pop(1 if len(witnesses) > 1 else 0)
        witnesses.append(found)
        return True

    def _found_locally(self, gi: int, bit: int, base: int, witnesses: list[int]) -> bool:
        """`_local_support` from the first witness; a configuration found becomes a witness."""
        found = self._local_support(gi, bit, base, witnesses[0])
        if found is None:
            return False
        if len(witnesses) >= MAX_WITNESSES:
            witnesses.pop(1 if len(witnesses) > 1 else 0)
        witnesses.append(found)
        return True

    def _local_support(self, gi: int, bit: int, base: int, w: int) -> int | None:
        """A valid configuration with `base`, `bit` in the single-like group `gi`, and the values of the
        valid configuration `w` (which contains `base`) in every group that no rule broken by the swap
        touches; None if there is none (which does not mean `bit` is unsupported)."""
        c = self.c
        gm = c.group_mask[gi]
        rest = w & ~gm
        group_mask = c.group_mask
        bit_group = c.bit_group
        free = 0
        movable = ~(self._fixed | gm)
        groups = {gi}
        for others, own in c.group_split[gi]:
            if bit & own:
                continue
            for pos, m in others:
                if pos:
                    if rest & m:
                        break
                elif not rest & m:
                    break
            else:
                for _, m in others:
                    gj = bit_group[m.bit_length() - 1]
                    if group_mask[gj] & movable:
                        free |= group_mask[gj]
                        groups.add(gj)
        if not free:
            return None
        # Only clauses on the groups that may change can break: the rest keep w's values, and w is valid.
        scope = sorted({ci for gj in groups for ci in c.group_clauses[gj]})
        keep = c.all_mask & ~(free | gm)
        state = c.propagate((rest & keep) | base | bit, (keep & ~w) | (gm & ~bit), free | gm)
        if state is None:
            return None
        return c.solve(*state, propagated=True, budget=self.budget, prefer=w, scope=scope)

    def _directly_refuted(self, gi: int, bit: int, base: int) -> bool:
        """Whether some rule on `bit` is false whatever the open groups become, given `base`.

        Items over groups whose value `base` fixes (chosen single-like groups, and `gi` itself when it is
        single-like) are decided; an item is false for sure when it is POS over decided, unchosen bits, or
        NEG over a chosen bit. A clause of only such items is violated: no completion can help.
        """
        c = self.c
        on = base | bit
        decided = self._fixed_mask(gi)
        for ci in c.bit_cons[bit.bit_length() - 1]:
            con = c.cons[ci]
            if con[0]:
                continue
            for pos, m in con[1]:
                if pos:
                    if on & m or m & ~decided:
                        break
                elif not on & m:
                    break
            else:
                return True
        return False

    def _fixed_mask(self, gi: int) -> int:
        """Bits whose value the selection fixes when group `gi` is given one value."""
        c = self.c
        fixed = self._fixed
        if c.groups[gi].kind != "multi":
            fixed |= c.group_mask[gi]
        return fixed

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
        release: tuple[int, ...] = ()
        exact = True
        if self.witness is None:
            found = self._min_release(chosen_groups)
            if found is None:
                return None
            release, exact = found
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
        # Nothing beats (fewest releases, and no group changed beyond those and the ones that must be).
        floor = [len(release), max(len(release), self._must_change.bit_count())] if exact else [0, 0]
        nodes = [REPAIR_NODES]
        # First among completions that keep every choice outside the release set (finds good bounds fast),
        # then, when something had to be released, among all configurations (another release set of the
        # same size may need fewer fills).
        if best[1:] > floor and best[1:] > list(self._cost(keep, forbid)):
            self._branch_and_bound(best, keep, forbid, nodes)
        if release and best[1:] > floor:
            self._branch_and_bound(best, 0, 0, nodes)
        return self._changes(sel, best[0])

    def _cost(self, on: int, off: int) -> tuple[int, int]:
        """Lower bounds (exact for a full assignment): (customer choices broken, groups changed)."""
        chosen = self.chosen
        masks = self.c.group_mask
        group_of = self.c.bit_group
        diff = (on & ~chosen) | (off & chosen)
        broken_bits = off & chosen
        # Groups whose current count is outside their limits must change however the search goes: counting
        # them from the start is what lets the bound prune at the root for a merely incomplete selection.
        changed, broken = self._must_change, self._must_break
        while diff:
            low = diff & -diff
            gi = group_of[low.bit_length() - 1]
            changed |= 1 << gi
            if broken_bits & masks[gi]:
                broken |= 1 << gi
            diff &= ~masks[gi]
        return broken.bit_count(), changed.bit_count()

    def _direct_core(self, kept: list[int]) -> list[int] | None:
        """The kept choice groups of the first rule that those choices alone break for good, if any."""
        c = self.c
        on = fixed = 0
        for gi in kept:
            on |= self.chosen & c.group_mask[gi]
            if c.groups[gi].kind != "multi":
                fixed |= c.group_mask[gi]
        for ci in c.clause_ids:
            for pos, m in c.cons[ci][1]:
                if pos:
                    if on & m or m & ~fixed:
                        break
                elif not on & m:
                    break
            else:
                mask = c.con_mask[ci]
                return [gi for gi in kept if c.group_mask[gi] & mask]
        return None

    def _branch_and_bound(self, best: list[Any], keep: int, forbid: int, nodes: list[int]) -> None:
        c = self.c
        state = self.state(keep) if not forbid else c.propagate(keep, forbid)  # memoised when it can be
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

    def _min_release(self, chosen_groups: list[int]) -> tuple[tuple[int, ...], bool] | None:
        """Fewest chosen groups to give up so the rest extends to a valid configuration, and whether
        that is proven smallest (False when the budget ran out and every choice was released).

        Implicit hitting sets: every unsatisfiable subset of choices found ("core") must lose at least
        one group; the smallest set hitting all cores found so far is tried next. Cores come from a rule
        the fixed choices break outright when there is one, and are shrunk with QuickXplain.
        """
        if not self._sat_groups([]):
            return None
        cores: list[tuple[int, ...]] = []
        calls = [0]
        try:
            while True:
                hitting = _min_hitting_set(cores, chosen_groups)
                if hitting is None:
                    return tuple(chosen_groups), False
                kept = [gi for gi in chosen_groups if gi not in hitting]
                if self._counted_sat(kept, calls):
                    return hitting, True
                cores.append(tuple(self._quickxplain(self._direct_core(kept) or kept, calls)))
        except _OutOfBudget:
            return tuple(chosen_groups), False

    def _counted_sat(self, groups: list[int], calls: list[int]) -> bool:
        calls[0] += 1
        if calls[0] > REPAIR_SAT_CALLS:
            raise _OutOfBudget
        return self._sat_groups(groups)

    def _quickxplain(self, conflicting: list[int], calls: list[int]) -> list[int]:
        """A minimal unsatisfiable subset of the choice groups `conflicting` (which together are
        unsatisfiable), in O(k log n) satisfiability checks (Junker's QuickXplain)."""

        def qx(background: list[int], changed: bool, candidates: list[int]) -> list[int]:
            if changed and not self._counted_sat(background, calls):
                return []
            if len(candidates) == 1:
                return candidates
            half = len(candidates) // 2
            first, second = candidates[:half], candidates[half:]
            from_second = qx(background + first, True, second)
            from_first = qx(background + from_second, bool(from_second), first)
            return from_first + from_second

        return qx([], False, conflicting)

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


class _OutOfBudget(Exception):
    """Internal: the repair's satisfiability-check budget is spent."""


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
