"""Search-based answers about a selection: rule violations, what is still selectable, and repairs. Pure.

`Analysis` wraps one selection (as chosen bits). Supports are computed the cheap way first: take a known
valid configuration (a witness), swap in the candidate value, and re-check only the constraints of that
group (for every group at once: `CompiledModel.patch_all`); a value that rules out a chosen one by itself
is refuted by lookup (`CompiledModel.implied_off`); a value the witness does not accept is tried with the
witness mended in one or two other groups; only when that fails do we propagate and search. Options that
no rule tells apart are tested once per class (see `CompiledModel.sym_classes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from itertools import combinations
from typing import Any

from ecrm.catalog.encoding import (
    DEFAULT_BUDGET,
    ClauseTruth,
    CompiledModel,
    SearchLimitExceeded,
    SplitEntry,
)
from ecrm.catalog.model import ProductModel, format_decimal

# Repair is an optimisation; these caps keep a pathological selection from costing more than a few ms.
REPAIR_SAT_CALLS = 400
REPAIR_NODES = 64
MAX_WITNESSES = 4

# A clause a changed witness breaks, shaped as a `SplitEntry` (so one passes as is): its items over the
# groups that may still change, the changed group's values that would hold it (0 where unused), and those
# other groups as bits of group indexes.
BrokenClause = SplitEntry


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
        self._pool: list[int] = []  # valid configurations found that contain the whole selection
        self._pooled: set[int] = set()  # the same, for membership tests (and the selection's own witness)
        self._dangerous_memo: dict[tuple[int, int], list[SplitEntry]] = {}
        self._held_by: list[list[SplitEntry]] = []  # `patch_all` of the witness, per group
        self._witness_truth: ClauseTruth | None = None  # `clause_truth` of the witness, when at hand
        c = self.c
        self._must_change = 0  # groups (as bits of group indexes) whose count is outside their limits
        self._must_break = 0  # groups over their maximum
        self._fixed = 0  # the whole mask of every chosen single-like group: their values cannot move
        self._full_off = 0  # the unchosen bits of every group already at its maximum
        # Groups whose value a witness may change while keeping the selection: those of at most one value
        # that hold no choice, and every multi group of a larger maximum.
        self._mendable = c.many_groups
        # Only the chosen groups need a look: the rest get what an empty group gets, from per-model masks.
        chosen_groups = 0
        rest = chosen
        while rest:
            gi = c.bit_group[rest.bit_length() - 1]
            gm = c.group_mask[gi]
            rest &= c.group_inv[gi]
            chosen_groups |= 1 << gi
            own = chosen & gm
            n = own.bit_count()
            if n < c.group_lo[gi] or n > c.group_hi[gi]:
                self._must_change |= 1 << gi
                if n > c.group_hi[gi]:
                    self._must_break |= 1 << gi
            if c.groups[gi].kind != "multi":
                self._fixed |= gm
            if n >= c.group_hi[gi]:
                self._full_off |= gm ^ own
        self._must_change |= c.required_groups & ~chosen_groups
        self._mendable |= c.one_groups & ~chosen_groups
        if c.zero_groups & ~chosen_groups:  # a group of maximum 0 rules out all its values
            for gi in range(len(c.groups)):
                if c.zero_groups >> gi & 1 and not chosen_groups >> gi & 1:
                    self._full_off |= c.group_mask[gi]
        # The selection's propagated state, from the full groups just found (the same fixpoint as from the
        # selection alone: those values are what the group limits rule out first).
        self._states[chosen] = c.propagate_from_root(chosen, self._full_off, settled=True)
        self.witness = self._support_witness(chosen)
        if self.witness is not None:
            self._pooled.add(self.witness)
        # Bits the propagated selection rules out (sound: adding one of them to the selection has no
        # valid completion); only consulted when a witness exists, i.e. the propagation succeeded.
        chosen_state = self._states[chosen]
        self._chosen_off = chosen_state[1] if chosen_state is not None else 0

    def _support_witness(self, chosen: int) -> int | None:
        """A valid configuration holding the selection, for the supports: the selection completed with the
        model's most permissive values (`support_prefer`) when that breaks no rule, else `solution`.

        The permissive completion accepts far more values as they stand than the default one, so fewer
        need a mend or a search; but only the default one is the repair's starting point (a repair
        suggests defaults), and it is what tells whether a witness exists at all, so it comes first.
        """
        found = self.solution(chosen)
        state = self._states[chosen]
        if found is None or state is None:
            return found
        c = self.c
        probe = c.complete(*state, c.support_prefer)
        truth = c.clause_truth(probe)  # also what `patch_all` of the witness starts from
        if truth[1] != c.clauses_all:
            return found
        self._witness_truth = truth
        return probe

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
            self._states[chosen] = self.c.propagate_from_root(chosen)
        return self._states[chosen]

    def supported_bits(self) -> list[int]:
        """Per group, the mask of its bits that extend the selection to a valid configuration."""
        if self.witness is None:
            return self._supported_bits_without_witness()
        c = self.c
        # What the selection's witness accepts in place of each group's value, for every group in one pass.
        if self._witness_truth is None:
            self._witness_truth = c.clause_truth(self.witness)
        result, self._held_by = c.patch_all(self.witness, self._witness_truth)
        # A single-like group every class of which the witness accepts (or, in a group the selection leaves
        # open, the propagated selection rules out) is settled as patched: the common case, found for all
        # groups at once by mask operations. The rest, and the multi groups, get a look one by one.
        reps = c.single_like_reps
        open_reps = reps ^ (reps & sum(result))
        loose = open_reps & self._chosen_off
        open_reps ^= loose ^ (loose & self._fixed)
        todo = set(c.multi_groups)
        while open_reps:
            gi = c.bit_group[open_reps.bit_length() - 1]
            todo.add(gi)
            open_reps &= c.group_inv[gi]
        chosen = self.chosen
        for gi in sorted(todo):
            # Valid configurations found for earlier groups that contain the whole selection are witnesses
            # here too: patching them settles many options without a search.
            witnesses = [self.witness, *self._pool[-(MAX_WITNESSES - 1) :]]
            own = chosen & c.group_mask[gi]
            if c.single_like[gi]:
                result[gi] = self._single_like_support(gi, own, chosen ^ own, witnesses, result[gi])
            else:
                result[gi] = self._multi_support(gi, own, chosen, witnesses)
        return result

    def _supported_bits_without_witness(self) -> list[int]:
        """`supported_bits` of a selection no valid configuration holds: a single-like group's values are
        tested against the rest of the selection (its own choice may be the conflict); nothing else is
        supported."""
        c = self.c
        chosen = self.chosen
        result: list[int] = []
        for gi, single_like in enumerate(c.single_like):
            own = chosen & c.group_mask[gi]
            w = self.solution(chosen ^ own) if single_like and own else None
            if w is None:
                result.append(0)
            else:
                result.append(self._single_like_support(gi, own, chosen ^ own, [w], c.patch_mask(gi, w)))
        return result

    def _single_like_support(self, gi: int, own: int, base: int, witnesses: list[int], patched: int) -> int:
        """The supported values of the single-like group `gi`, given what the first witness accepts.

        A patch mask is a union of symmetry classes (their bits lie in the same clause items), so it is the
        supported set as it stands; each class outside it is then tested through its representative,
        after the refutations that cost one lookup (most values the first witness does not accept are
        unsupported).
        """
        c = self.c
        # The classes neither accepted nor ruled out by the propagated selection, in one mask operation.
        settled = patched if own or self.witness is None else patched | self._chosen_off
        reps = c.sym_reps[gi]
        reps ^= reps & settled
        table = c.implied_off_table
        while reps:
            rep = reps & -reps
            reps ^= rep
            b = rep.bit_length() - 1
            off = table[b]
            if off < 0:
                off = c.implied_off(b)
            if not off & base and self._search_support(gi, rep, base, True, witnesses):
                patched |= c.class_of_bit[b]
        return patched

    def _multi_support(self, gi: int, own: int, base: int, witnesses: list[int]) -> int:
        """The supported values of the multi group `gi` (each added to the group's current choice).

        Every chosen option is supported (a witness holds them all). The first witness's `add_mask` (what
        it accepts as an addition, one pass) settles most classes at once; a class it leaves open is
        unsupported when a lookup refutes it (the propagated selection rules it out, or by itself it rules
        out a chosen option: `implied_off`), else it is tried against the other witnesses, then searched.
        Only called when the selection has a witness, so its propagated state exists.
        """
        c = self.c
        gm = c.group_mask[gi]
        reps = c.sym_reps[gi]
        if own:
            # A chosen option is not interchangeable with an unchosen one: a class holding one is split,
            # and its unchosen rest gets a representative of its own.
            for rep, cls_mask in c.sym_masks[gi]:
                if cls_mask & own:
                    reps ^= rep
                    rest = cls_mask ^ (cls_mask & own)
                    if rest:
                        reps |= rest & -rest
        covered = own | self._witness_add_mask(gi)
        open_reps = reps ^ (reps & covered)
        if not open_reps:
            return gm
        unsupported = 0
        used = 1  # witnesses whose additions are in `covered` so far
        ruled_out = self._chosen_off
        table = c.implied_off_table
        class_of_bit = c.class_of_bit
        while open_reps:
            rep = open_reps & -open_reps
            open_reps ^= rep
            b = rep.bit_length() - 1
            if not rep & ruled_out:
                off = table[b]
                if not (off if off >= 0 else c.implied_off(b)) & base:
                    while not rep & covered and used < len(witnesses):
                        covered |= c.add_mask(gi, witnesses[used])
                        used += 1
                    if rep & covered or self._multi_search_support(gi, rep, base, own, witnesses):
                        continue
            cls_mask = class_of_bit[b]
            unsupported |= cls_mask ^ (cls_mask & own)
        return gm ^ unsupported

    def _witness_add_mask(self, gi: int) -> int:
        """`add_mask(gi, witness)` for the selection's witness, by per-model lookups from its clause truth
        (computed by `supported_bits`): the clauses on `gi` that no other group holds decide it."""
        c = self.c
        truth = self._witness_truth
        assert truth is not None and self.witness is not None
        trues, once, twice = truth
        mine = trues.get(gi, 0)
        on_group = c.group_clause_bits[gi]
        held_elsewhere = twice | (once ^ (once & mine))
        return c.add_mask_alone(gi, self.witness & c.group_mask[gi], on_group ^ (on_group & held_elsewhere))

    def _multi_search_support(self, gi: int, bit: int, base: int, own: int, witnesses: list[int]) -> bool:
        """Whether the unchosen option `bit` of the multi group `gi` can join `base` when no witness
        accepts it as an addition (and no lookup refutes it): trimmed witnesses, then search."""
        c = self.c
        gm = c.group_mask[gi]
        for w in witnesses:
            # Add it and drop the witness's own extra options of this group (the maximum may bind).
            trimmed = (w & ~(gm & ~own)) | bit
            if trimmed != w | bit and c.holds_all(c.group_cons[gi], trimmed):
                return True
        return self._search_support(gi, bit, base, False, witnesses)

    def _search_support(self, gi: int, bit: int, base: int, single_like: bool, witnesses: list[int]) -> bool:
        """Support of `bit` once no witness can simply be patched: refute directly, else propagate and search
        (a configuration found is appended to `witnesses`). Cheapest tests first."""
        c = self.c
        # (The callers have refuted what a lookup refutes: `implied_off`, and the propagated selection.)
        # A witness mended in one other group: bit operations only, and it settles most supported values.
        if self._patched_twice(gi, bit, witnesses, single_like):
            return True
        # A rule broken by this value and choices that cannot move any more is a dead end already.
        if self._directly_refuted(gi, bit, base):
            return False
        grown = self._grown_state(gi, bit, base, single_like)
        if grown is None:
            return False
        # Local search: keep a witness everywhere except this group and the groups of the rules the swap
        # breaks; a configuration found there proves support (none found proves nothing).
        if single_like and self._found_locally(gi, bit, base, witnesses):
            return True
        # Then search from the propagated state, which is enough: the search re-checks every rule on each
        # completion it tries.
        found = c.solve(*grown, propagated=True, budget=self.budget, prefer=witnesses[0])
        if found is None:
            return False
        self._add_witness(witnesses, found)
        return True

    def _grown_state(self, gi: int, bit: int, base: int, single_like: bool) -> tuple[int, int] | None:
        """A propagated state holding `base` and `bit` in group `gi`, for the searches; None on conflict.

        When `base` is the whole selection (its propagated state is at hand), that state plus `bit`, woken
        around `gi` only. Otherwise (another value of a chosen group) a state built without a full
        propagation: every full group's other values cleared, then propagation around `gi` only. Sound
        either way (propagation only draws consequences), and enough for the search, which re-checks
        every rule on each completion it tries.
        """
        c = self.c
        gm = c.group_mask[gi]
        gm_off = (gm & ~bit) if single_like else 0
        chosen_state = self._states.get(self.chosen) if base == self.chosen else None
        if chosen_state is not None:
            on, off = chosen_state[0] | bit, chosen_state[1] | gm_off
            return c.propagate(on, off, wake=c.wake_list(on, off, gm))
        return c.propagate(base | bit, (self._full_off & ~gm) | gm_off | (self._full_off & gm & ~bit), gm)

    def _patched_twice(self, gi: int, bit: int, witnesses: list[int], single_like: bool) -> bool:
        """Whether some witness, given `bit` in group `gi` (in place of its value there, or added to a multi
        group), is valid as it stands, or with one other group changed (`_two_group_patch`), or for a
        single-like group two other groups (`_three_group_patch`, tried only once no witness works with
        one). In the order that settles the most values soonest: the first witness mended in one group,
        the others as they stand, the others mended in one group, then every witness in two. The
        configuration found then becomes a witness."""
        c = self.c
        gm = c.group_mask[gi]
        ginv = c.group_inv[gi]
        tried: list[tuple[int, list[BrokenClause]]] = []
        mended = 0  # how many of `tried` had their one-group mend already
        found = None
        for k, w in enumerate(witnesses):
            self._spend()
            if single_like:
                cand = (w & ginv) | bit
                broken = self._broken_by_swap(gi, bit, w)
            elif (w & gm).bit_count() < c.group_hi[gi]:
                cand = w | bit
                broken = self._broken_by_adding(gi, cand)
            else:
                continue  # the multi group is full in this witness
            if not broken:
                found = cand  # a witness takes it as it stands (so far only the first one was mended)
                break
            tried.append((cand, broken))
            if k == 0:
                # The first witness mended in one group settles most values (measured: about 2 in 3 at 30
                # groups), more often than any later witness takes the value as it stands.
                found = self._two_group_patch(gi, cand, broken)
                if found is not None:
                    break
                mended = 1
        if found is None:
            for cand, broken in tried[mended:]:
                found = self._two_group_patch(gi, cand, broken)
                if found is not None:
                    break
        if found is None and single_like:
            for cand, broken in tried:
                found = self._three_group_patch(gi, cand, broken)
                if found is not None:
                    break
        if found is None:
            return False
        self._add_witness(witnesses, found)
        return True

    def _spend(self) -> None:
        """Count one step of a mend against the search budget: mends stand in for the search steps they save,
        so a model too intricate for the budget still runs out of it instead of mending without end."""
        self.budget[0] -= 1
        if self.budget[0] < 0:
            raise SearchLimitExceeded("configurator search budget exceeded")

    def _three_group_patch(self, gi: int, cand: int, broken: list[BrokenClause]) -> int | None:
        """`_two_group_patch` one step deeper: set a group of the first broken clause to a value that makes
        the clause true, then mend whatever is still broken in one more group. None if that finds nothing
        (which proves nothing). Cheaper than the local search it saves, which would free the same groups."""
        c = self.c
        first_items, _, first_groups = broken[0]
        steps = first_groups & self._mendable & c.one_groups & ~(1 << gi)
        while steps:
            gj = (steps & -steps).bit_length() - 1
            steps &= steps - 1
            gm = c.group_mask[gj]
            # The values of gj that make an item of the first broken clause true (none is, in `cand`).
            values = 0
            for pos, m in first_items:
                if m & gm:
                    values |= m if pos else gm ^ (gm & m)
            while values:
                value = values & -values
                values ^= value
                self._spend()
                step = (cand & c.group_inv[gj]) | value
                still = self._broken_by_change(step, (gi, gj))
                if still is None:
                    continue  # a clause on gi and gj alone is broken: no third group can help
                if not still:
                    return step
                found = self._two_group_patch(gi, step, still, also=gj)
                if found is not None:
                    return found
        return None

    def _broken_by_change(self, full: int, groups: tuple[int, ...]) -> list[BrokenClause] | None:
        """The clauses on `groups` that `full` breaks, as their items over other groups and those groups;
        None when one of them has no item over another group (nothing outside `groups` can mend it)."""
        c = self.c
        inside, clauses = _pair_clauses(c, groups)
        broken: list[BrokenClause] = []
        cons = c.cons
        for ci in clauses:
            items = cons[ci][1]
            for pos, m in items:
                if pos:
                    if full & m:
                        break
                elif not full & m:
                    break
            else:
                others = tuple((pos, m) for pos, m in items if not m & inside)
                if not others:
                    return None
                broken.append((others, 0, sum({1 << c.bit_group[m.bit_length() - 1] for _, m in others})))
        return broken

    def _broken_by_swap(self, gi: int, bit: int, w: int) -> list[BrokenClause]:
        """The `group_split` entries of the clauses that the valid configuration `w` breaks once `bit` takes
        the place of its value in the single-like group `gi` (their items over other groups are all false
        in `w`)."""
        broken: list[BrokenClause] = []
        for entry in self._dangerous(gi, w):
            if not bit & entry[1]:
                broken.append(entry)
        return broken

    def _dangerous(self, gi: int, w: int) -> list[SplitEntry]:
        """The `group_split` entries of the single-like group `gi` whose items over other groups are all
        false in the valid configuration `w`: only the value of `gi` holds those clauses. The same for
        every value tried in `gi` against the same witness, so memoised per evaluation."""
        if w is self.witness and self._held_by:
            return self._held_by[gi]  # found by `patch_all` already
        key = (gi, w)
        found = self._dangerous_memo.get(key)
        if found is None:
            rest = w & self.c.group_inv[gi]
            found = []
            for entry in self.c.group_split[gi]:
                for pos, m in entry[0]:
                    if pos:
                        if rest & m:
                            break
                    elif not rest & m:
                        break
                else:
                    found.append(entry)
            self._dangerous_memo[key] = found
        return found

    def _broken_by_adding(self, gi: int, cand: int) -> list[BrokenClause]:
        """For each clause on the multi group `gi` that `cand` (a valid configuration with one option added
        to `gi`) breaks: its items over other groups, and their groups."""
        c = self.c
        gm = c.group_mask[gi]
        broken: list[BrokenClause] = []
        for ci in c.group_clauses[gi]:
            items = c.cons[ci][1]
            for pos, m in items:
                if pos:
                    if cand & m:
                        break
                elif not cand & m:
                    break
            else:
                others = tuple((pos, m) for pos, m in items if not m & gm)
                broken.append((others, 0, sum({1 << c.bit_group[m.bit_length() - 1] for _, m in others})))
        return broken

    def _add_witness(self, witnesses: list[int], found: int) -> None:
        """Append a valid configuration found to a group's witnesses (dropping the oldest extra one beyond
        MAX_WITNESSES: the first stays), and to the pool for later groups if it holds the whole selection."""
        if len(witnesses) >= MAX_WITNESSES:
            witnesses.pop(1 if len(witnesses) > 1 else 0)
        witnesses.append(found)
        if found & self.chosen == self.chosen and found not in self._pooled:
            self._pooled.add(found)
            self._pool.append(found)

    def _two_group_patch(
        self, gi: int, cand: int, broken: list[BrokenClause], also: int = -1
    ) -> int | None:
        """A valid configuration equal to `cand` except in one group other than `gi`, where `cand` is a valid
        configuration changed in group `gi` only, which breaks just the clauses whose items over other
        groups (and their groups) are `broken`; None if none is found (which proves nothing). `also` is a
        second group already changed (by `_three_group_patch`) that must not change again.

        Only a group that appears in every broken clause can mend them all. For a group of one value that
        holds no choice, `patch_mask` gives exactly the values that keep all of its clauses true; a multi
        group is re-chosen greedily (`_mend_multi`). The clauses on neither group keep their value.
        """
        common = self._mendable & ~(1 << gi)
        if also >= 0:
            common &= ~(1 << also)
        for _, _, groups in broken:
            common &= groups
            if not common:
                return None
        c = self.c
        group_hi = c.group_hi
        while common:
            gj = (common & -common).bit_length() - 1
            common &= common - 1
            if group_hi[gj] == 1:
                allowed = c.patch_mask(gj, cand)
                if allowed:
                    return (cand & c.group_inv[gj]) | (allowed & -allowed)
            else:
                found = self._mend_multi(gj, cand, broken)
                if found is not None:
                    return found
        return None

    def _mend_multi(self, gj: int, cand: int, broken: list[BrokenClause]) -> int | None:
        """`cand` with the options of the multi group `gj` changed so that each clause of `broken` (items
        over groups other than the swapped one, all false in `cand`) gets a true item in `gj`, keeping the
        selection's own options of `gj`; None when this greedy choice breaks a clause or a limit of `gj`.

        Removals first (a NEG item is made true by dropping its options), then one option added per clause
        still unmet. The result is checked against every constraint on `gj`, so a wrong guess only costs
        the fallback to the local search.
        """
        c = self.c
        gm = c.group_mask[gj]
        drop = 0
        wanted: list[int] = []
        for others, _, _ in broken:
            pos_mask = neg_mask = 0
            for pos, m in others:
                if m & gm:
                    if pos:
                        pos_mask |= m
                    elif not neg_mask:
                        neg_mask = m
            if pos_mask:
                wanted.append(pos_mask)
            else:
                drop |= neg_mask
        if drop & self.chosen:
            return None
        values = cand & gm & ~drop
        for want in wanted:
            if not values & want:
                free = want & ~drop
                if not free:
                    return None
                values |= free & -free
        found = (cand & ~gm) | values
        return found if c.holds_all(c.group_cons[gj], found) else None

    def _found_locally(self, gi: int, bit: int, base: int, witnesses: list[int]) -> bool:
        """`_local_support` from the first witness; a configuration found becomes a witness."""
        found = self._local_support(gi, bit, base, witnesses[0])
        if found is None:
            return False
        self._add_witness(witnesses, found)
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
        for others, _, _ in self._broken_by_swap(gi, bit, w):
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
        memo = _selectable_memo(c)
        for (gi, gid, kind, gm, ids), mask in zip(c.group_views, self.supported_bits(), strict=True):
            if ids:
                if mask == gm:
                    selectable[gid] = list(ids)
                else:
                    selectable[gid] = _option_ids(c, memo[gi], gi, mask >> c.group_first[gi])
            else:
                fillable[gid] = bool(mask)
                if kind == "number":
                    ranges[gid] = _value_ranges(c, gi, mask)
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
        release: tuple[int, ...] = ()
        exact = True
        if self.witness is None:
            chosen_groups = [gi for gi in range(len(c.groups)) if self.chosen & c.group_mask[gi]]
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
        best = [incumbent, *self._cost(incumbent, c.all_mask ^ incumbent)]
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
        c = self.c
        group_of = c.bit_group
        ginv = c.group_inv
        broken_bits = off & chosen
        diff = (on ^ (on & chosen)) | broken_bits
        # Groups whose current count is outside their limits must change however the search goes: counting
        # them from the start is what lets the bound prune at the root for a merely incomplete selection.
        changed, broken = self._must_change, self._must_break
        while diff:
            gi = group_of[diff.bit_length() - 1]
            changed |= 1 << gi
            if broken_bits & c.group_mask[gi]:
                broken |= 1 << gi
            diff &= ginv[gi]
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
        # Memoised when it can be (no forbidden values).
        state = self.state(keep) if not forbid else c.propagate_from_root(keep, forbid)
        if state is None:
            return

        def prune(on: int, off: int) -> bool:
            return self._cost(on, off) >= (best[1], best[2])

        try:
            for solution in c.iter_solutions(*state, prefer=self.chosen, prune=prune, budget=nodes):
                cost = self._cost(solution, c.all_mask ^ solution)
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
        """The per-group changes from the selection to the complete configuration `full`, in model order."""
        c = self.c
        diff = full ^ self.chosen
        touched: list[int] = []
        while diff:
            gi = c.bit_group[diff.bit_length() - 1]
            touched.append(gi)
            diff &= c.group_inv[gi]
        changes: list[Change] = []
        memo = _fill_memo(c)
        for gi in reversed(touched):
            before = sel.get(c.groups[gi].id)
            # The group's bits of `full`, shifted down: bit k is the group's k-th option (or class).
            local = (full & c.group_mask[gi]) >> c.group_first[gi]
            if before is None and c.single_like[gi]:
                # Filling an empty group of at most one value depends on nothing else, and a Change is
                # immutable: one per (group, value) per model (an incomplete selection fills a dozen).
                change = memo[gi].get(local)
                if change is None:
                    change = memo[gi][local] = _change(c, gi, None, local)
                changes.append(change)
            else:
                changes.append(_change(c, gi, before, local))
        return changes


def _fill_memo(c: CompiledModel) -> list[dict[int, Change]]:
    """Per group of at most one value, the `Change` filling it from empty with each value (at most one
    entry per bit of the group, and one for "nothing")."""
    memo = c.derived.get("fill_changes")
    if memo is None:
        memo = c.derived["fill_changes"] = [{} for _ in c.groups]
    return memo


def _change(c: CompiledModel, gi: int, before: Any, local: int) -> Change:
    """The change of group `gi` from `before` to the value whose bits (shifted down to the group's first bit)
    are `local`."""
    g = c.groups[gi]
    first = (local & -local).bit_length() - 1  # -1 when nothing is chosen
    if g.kind == "single":
        return Change(g.id, before, c.group_option_ids[gi][first] if local else None)
    if g.kind == "multi":
        ids = c.group_option_ids[gi]
        return Change(g.id, before, sorted(o for k, o in enumerate(ids) if local >> k & 1) or None)
    if g.kind == "text":
        return Change(g.id, before, None, input_required=bool(local))
    after = _number_value(c, gi, c.group_first[gi] + first, before) if local else None
    return Change(g.id, before, after)


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


def _pair_clauses(c: CompiledModel, groups: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    """The bits of `groups` and the clauses on any of them (those of the first group first, each once): per
    model, filled on first use (the three-group mend asks for the same few pairs on every click)."""
    memo = c.derived.setdefault("pair_clauses", {})
    found = memo.get(groups)
    if found is None:
        inside = 0
        for gj in groups:
            inside |= c.group_mask[gj]
        clauses = tuple(dict.fromkeys(ci for gj in groups for ci in c.group_clauses[gj]))
        found = memo[groups] = (inside, clauses)
    return found


# Per-model memos keyed by a group's own bits stop growing here (a group of many options has more subsets
# than clicks ever show; beyond this the answer is just computed).
GROUP_MEMO_LIMIT = 1024


def _selectable_memo(c: CompiledModel) -> list[dict[int, tuple[str, ...]]]:
    """Per group, the option ids of each supported mask seen so far (a fact about the model)."""
    memo = c.derived.get("selectable_ids")
    if memo is None:
        memo = c.derived["selectable_ids"] = [{} for _ in c.groups]
    return memo


def _option_ids(c: CompiledModel, memo: dict[int, tuple[str, ...]], gi: int, local: int) -> list[str]:
    """The option ids of group `gi` whose bits are set in `local` (the group's bits shifted down), in
    option order. A pure function of (group, mask), and most clicks show a mask seen before: memoised per
    model, which saves walking a dozen options per group on every click."""
    ids = memo.get(local)
    if ids is None:
        ids = tuple(o for k, o in enumerate(c.group_option_ids[gi]) if local >> k & 1)
        if len(memo) < GROUP_MEMO_LIMIT:
            memo[local] = ids
    return list(ids)


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
    # A pure function of (group, mask) over a handful of classes: formatted once per model, not per click.
    memo = c.derived.setdefault("value_ranges", {})
    key = (gi, mask & c.group_mask[gi])
    if key not in memo:
        memo[key] = tuple(_format_ranges(c, gi, mask))
    return list(memo[key])


def _format_ranges(c: CompiledModel, gi: int, mask: int) -> list[tuple[str, str]]:
    """`_value_ranges` computed."""
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
