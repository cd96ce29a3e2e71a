"""The model compiled to bits, and the constraint solver that works on it.

Every possible choice is one bit: an option of a single or multi group, "text entered" for a text group,
and one bit per value class of a number group (values that no rule tells apart share a class, so a
36..47 step 0.5 shoe size with one "46 and up" rule has two bits, not 23). A (partial) assignment is two
Python ints used as bitsets: on (bits known chosen) and off (bits known not chosen). Python's arbitrary-size
ints make a set operation over hundreds of options a single C-level op, which is why this stays fast
without any dependency.

Constraints are of two shapes only:
- cardinality, one per group: lo <= |on & group| <= hi (single/text/number: hi = 1; multi: min..max);
- generalised clause, from rules: a disjunction of items, each `POS(mask)` ("some bit of mask chosen")
  or `NEG(mask)` ("no bit of mask chosen"). "if A and B then C" is [NEG(A), NEG(B), POS(C)].

`propagate` is unit propagation over both shapes with a work queue indexed by bit (arc consistency for
these constraints); `iter_solutions` is depth-first search with propagation at every node. Conditional
prices do not constrain anything, so they are kept apart as per-bit price variants.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ecrm.catalog.model import range_indexes

if TYPE_CHECKING:
    from ecrm.catalog.model import Group, Rule, Term

# Request-path searches give up after this many propagations instead of pinning a Lambda. Realistic models
# need a few dozen per evaluation; check_consistency runs the same searches at admin save time.
DEFAULT_BUDGET = 20_000
# Per-model tables keyed by a group's value (or by a set of clauses) stop growing here per group: a multi
# group has more subsets than clicks ever show; beyond this the answer is just computed.
GROUP_TABLE_LIMIT = 1024

Item = tuple[bool, int]  # (positive, mask)
# A clause seen from one group: (its items over other groups, the group's values that make one of its own
# items true, the other groups as bits of group indexes). See `CompiledModel.group_split`.
SplitEntry = tuple[tuple[Item, ...], int, int]
# A clause for `patch_all`: its items with their groups, per group the values making one of its items on
# that group true, and per group its `SplitEntry`.
ClauseView = tuple[tuple[tuple[bool, int, int], ...], dict[int, int], dict[int, SplitEntry]]
# What `clause_truth` finds of a configuration: per group, the clauses its value makes true; the clauses
# true through at least one group; through at least two.
ClauseTruth = tuple[dict[int, int], int, int]


# A group held no clause alone (shared, never changed).
_NO_ENTRIES: list[SplitEntry] = []


class SearchLimitExceeded(RuntimeError):
    """The model is too hard to search within the budget (admin should simplify its rules)."""


class CompiledModel:
    """Bit-level indexes of a model plus the solver. Built once per parsed model."""

    def __init__(self, groups: Sequence[Group], rules: Sequence[Rule]) -> None:
        self.groups = tuple(groups)
        self.rules = tuple(rules)
        self.group_ids = {g.id: i for i, g in enumerate(self.groups)}

        # Number groups: cut the value grid wherever some rule's range starts or ends.
        cuts: dict[int, set[int]] = {}
        for rule in self.rules:
            for term in _rule_terms(rule):
                gi = self.group_ids[term.group]
                spec = self.groups[gi].number
                if spec is not None and (term.min is not None or term.max is not None):
                    lo, hi = range_indexes(spec, term.min, term.max)
                    cuts.setdefault(gi, set()).update((lo, hi + 1))

        self.group_bits: list[tuple[int, ...]] = []
        self.bit_group: list[int] = []
        self.bit_option: list[str | None] = []  # option id, or None for text/number bits
        self.option_bit: dict[tuple[int, str], int] = {}
        self.number_classes: dict[int, list[tuple[int, int]]] = {}  # gi -> [(lo_index, hi_index)] per bit
        nbits = 0
        for gi, g in enumerate(self.groups):
            bits: list[int] = []
            if g.kind in ("single", "multi"):
                for o in g.options:
                    self.option_bit[(gi, o.id)] = nbits
                    self.bit_option.append(o.id)
                    bits.append(nbits)
                    nbits += 1
            elif g.kind == "text":
                self.bit_option.append(None)
                bits.append(nbits)
                nbits += 1
            else:
                assert g.number is not None
                count = g.number.count
                points = sorted(p for p in cuts.get(gi, set()) | {0, count} if 0 <= p <= count)
                classes = [(points[k], points[k + 1] - 1) for k in range(len(points) - 1)]
                self.number_classes[gi] = classes
                for _ in classes:
                    self.bit_option.append(None)
                    bits.append(nbits)
                    nbits += 1
            self.bit_group.extend([gi] * len(bits))
            self.group_bits.append(tuple(bits))
        self.nbits = nbits
        # Request-path lookups, built once: option id -> bit per group, and the price-line label per bit.
        self.option_index: list[dict[str, int]] = [
            {o.id: self.option_bit[(gi, o.id)] for o in g.options} for gi, g in enumerate(self.groups)
        ]
        self.bit_label: list[str] = []
        self.number_units: list[str] = []
        for gi, g in enumerate(self.groups):
            unit = f" {g.number.unit}" if g.number is not None and g.number.unit else ""
            self.number_units.append(unit)
            if g.kind in ("single", "multi"):
                self.bit_label.extend(f"{g.name}: {o.name}" for o in g.options)
            else:
                self.bit_label.extend([g.name] * len(self.group_bits[gi]))
        self.all_mask = (1 << nbits) - 1
        # A group's bits are consecutive: its first bit, and the option id of each bit from there.
        self.group_first: list[int] = [bits[0] if bits else 0 for bits in self.group_bits]
        self.group_option_ids: list[tuple[str, ...]] = [
            tuple(self.bit_option[b] or "" for b in bits) for bits in self.group_bits
        ]
        self.group_mask = [_mask(bits) for bits in self.group_bits]
        # Per group, what the answer to a click is built from: (index, id, kind, mask, option ids or () for
        # text and number groups).
        self.group_views: list[tuple[int, str, str, int, tuple[str, ...]]] = [
            (gi, g.id, g.kind, self.group_mask[gi], ids if g.kind in ("single", "multi") else ())
            for gi, (g, ids) in enumerate(zip(self.groups, self.group_option_ids, strict=True))
        ]
        self.group_lo: list[int] = []
        self.group_hi: list[int] = []
        for g in self.groups:
            if g.kind == "multi":
                self.group_lo.append(g.min_selected)
                self.group_hi.append(g.max_selected)
            else:
                self.group_lo.append(1 if g.required else 0)
                self.group_hi.append(1)

        # Whether each group holds at most one value whatever its limits say (a multi group with max 1 still
        # keeps its choice when another option is tried, so it is not "single-like").
        self.single_like: list[bool] = [g.kind != "multi" for g in self.groups]
        # Groups (as bits of group indexes) by their limits, for per-selection summaries.
        self.required_groups = sum(1 << gi for gi, lo in enumerate(self.group_lo) if lo > 0)
        self.one_groups = sum(1 << gi for gi, hi in enumerate(self.group_hi) if hi == 1)
        self.many_groups = sum(1 << gi for gi, hi in enumerate(self.group_hi) if hi > 1)
        self.zero_groups = sum(1 << gi for gi, hi in enumerate(self.group_hi) if hi == 0)

        # Constraint 0..G-1 are the group cardinalities (so constraint id == group index), then clauses.
        self.cons: list[tuple] = [
            (True, self.group_mask[gi], self.group_lo[gi], self.group_hi[gi])
            for gi in range(len(self.groups))
        ]
        self.con_rule: list[int] = [-1] * len(self.groups)
        self.rule_clauses: list[tuple[int, ...]] = []
        self.rule_trigger: list[int] = []
        self.price_default: list[int] = []
        self.price_variants: list[list[tuple[tuple[int, ...], int]]] = [[] for _ in range(nbits)]
        for gi, g in enumerate(self.groups):
            if g.kind in ("single", "multi"):
                self.price_default.extend(o.price for o in g.options)
            else:
                self.price_default.extend([g.price] * len(self.group_bits[gi]))

        for ri, rule in enumerate(self.rules):
            clause_ids: list[int] = []
            trigger = 0
            if rule.kind == "conditional_price":
                assert rule.target is not None
                conds = tuple(self.term_mask(t) for t in rule.conditions)
                for b in _bits(self.term_mask(rule.target)):
                    self.price_variants[b].append((conds, rule.price))
            else:
                negs: list[Item] = [(False, self.term_mask(t)) for t in rule.conditions]
                for term in rule.then:
                    m = self.term_mask(term)
                    gi = self.group_ids[term.group]
                    clauses: list[list[Item]] = []
                    if rule.kind == "excludes":
                        clauses.append([*negs, (False, m)])
                    else:
                        clauses.append([*negs, (True, m)])
                    if rule.kind == "conditional_requirement" and self.groups[gi].kind == "multi":
                        rest = self.group_mask[gi] & ~m
                        if rest:
                            clauses.append([*negs, (False, rest)])
                    for items in clauses:
                        simplified = _simplify(items)
                        if simplified is None:
                            continue
                        ci = len(self.cons)
                        self.cons.append((False, simplified, self._rests(simplified)))
                        self.con_rule.append(ri)
                        clause_ids.append(ci)
                        first_neg = next((m2 for pos, m2 in simplified if not pos), -1)
                        trigger |= first_neg
            self.rule_clauses.append(tuple(clause_ids))
            self.rule_trigger.append(trigger)

        ncons = len(self.cons)
        # The constraints as `propagate` reads them: clause items carry their `_rests` entry inline.
        self.prop_cons: list[tuple] = [
            con if con[0] else (False, tuple((p, m, r) for (p, m), r in zip(con[1], con[2], strict=True)))
            for con in self.cons
        ]
        # Each group's complement within the model's bits (a positive int: see `propagate`).
        self.group_inv: list[int] = [self.all_mask ^ gm for gm in self.group_mask]
        self.clause_ids: tuple[int, ...] = tuple(ci for ci, con in enumerate(self.cons) if not con[0])
        # Per constraint, a mask that a complete assignment must touch for the clause to break: its first NEG
        # item (an "if" condition); 0 (no such test) for a clause without one, or a cardinality.
        self.clause_gate: list[int] = [
            0 if con[0] else next((m for pos, m in con[1] if not pos), 0) for con in self.cons
        ]
        bit_cons: list[list[int]] = [[] for _ in range(nbits)]
        self.con_mask: list[int] = []
        for ci, con in enumerate(self.cons):
            m = con[1] if con[0] else _union(con[1])
            self.con_mask.append(m)
            for b in _bits(m):
                bit_cons[b].append(ci)
        self.bit_cons: list[tuple[int, ...]] = [tuple(x) for x in bit_cons]
        self.ncons = ncons
        self.group_cons: list[tuple[int, ...]] = []
        for gi in range(len(self.groups)):
            touching = sorted({ci for b in self.group_bits[gi] for ci in self.bit_cons[b]})
            self.group_cons.append(tuple(touching))
        # What `propagate` wakes once it has ruled bits of a group out, or chosen them: the group's
        # cardinality, and the clauses with a POS item on the group (ruling out can make such an item
        # false), or with a NEG item on it (choosing can make one false). An item only made true cannot
        # make its clause propagate or fail.
        self.wake_after_off: list[tuple[int, ...]] = []
        self.wake_after_on: list[tuple[int, ...]] = []
        for gi, gm in enumerate(self.group_mask):
            after_off: list[int] = []
            after_on: list[int] = []
            for ci in self.group_cons[gi]:
                con = self.cons[ci]
                if con[0]:
                    after_off.append(ci)
                    after_on.append(ci)
                    continue
                if any(pos and m & gm for pos, m in con[1]):
                    after_off.append(ci)
                if any(not pos and m & gm for pos, m in con[1]):
                    after_on.append(ci)
            self.wake_after_off.append(tuple(after_off))
            self.wake_after_on.append(tuple(after_on))
        # Per group, every clause touching it split into (items over other groups, bits of this group that
        # make one of its own items true). Every item lies inside one group, so for a configuration `w`
        # with this group's value swapped for one bit b, the clause holds iff an other-group item holds in
        # w or b is in the mask: this lets `patch_mask` test a whole group against a known solution at once.
        # The third entry is the set of the other groups (as bits of group indexes).
        self.group_split: list[tuple[SplitEntry, ...]] = []
        entry_of: dict[tuple[int, int], SplitEntry] = {}  # (clause, group) -> entry
        for gi, gm in enumerate(self.group_mask):
            split: list[SplitEntry] = []
            for ci in self.group_cons[gi]:
                con = self.cons[ci]
                if con[0]:
                    continue
                others: list[Item] = []
                own = 0
                for pos, m in con[1]:
                    if m & gm:
                        own |= m if pos else gm & ~m
                    else:
                        others.append((pos, m))
                if own != gm:  # a clause any value of the group satisfies never restricts the swap
                    groups = sum({1 << self.bit_group[m.bit_length() - 1] for _, m in others})
                    split.append((tuple(others), own, groups))
                    entry_of[(ci, gi)] = split[-1]
            self.group_split.append(tuple(split))
        # The same split seen from each clause, for `patch_all`: the group of every item, per group the
        # values that make one of the clause's items on it true, and its `group_split` entries.
        self.clause_items: list[ClauseView] = []
        for ci in self.clause_ids:
            items = tuple((pos, m, self.bit_group[m.bit_length() - 1]) for pos, m in self.cons[ci][1])
            owns: dict[int, int] = {}
            for pos, m, gj in items:
                owns[gj] = owns.get(gj, 0) | (m if pos else self.group_mask[gj] & ~m)
            entries = {gj: entry_of[(ci, gj)] for gj in owns if (ci, gj) in entry_of}
            self.clause_items.append((items, owns, entries))
        # For `patch_all`: per group, its clause items as (clause position in `clause_items`, positive, mask).
        self.group_items: list[tuple[tuple[int, bool, int], ...]] = [() for _ in self.groups]
        for k, (items, _, _) in enumerate(self.clause_items):
            for pos, m, gj in items:
                self.group_items[gj] += ((k, pos, m),)
        self.item_groups: tuple[int, ...] = tuple(gi for gi, items in enumerate(self.group_items) if items)
        # Per group, the positions in `clause_items` of the clauses on it (as bits).
        self.group_clause_bits: list[int] = [sum({1 << k for k, _, _ in items}) for items in self.group_items]
        self.clauses_all = (1 << len(self.clause_items)) - 1

        # Value order for search: defaults first (so completions suggest them), then document order.
        self.default_mask = 0
        for gi, g in enumerate(self.groups):
            if g.kind in ("single", "multi"):
                for o in g.options:
                    if o.default:
                        self.default_mask |= 1 << self.option_bit[(gi, o.id)]
            elif g.kind == "number" and g.number is not None and g.number.default is not None:
                self.default_mask |= 1 << self.number_bit(gi, g.number.index(g.number.default) or 0)
        # What `complete` gives a whole open group of at most one value when nothing is preferred there: its
        # first default, else its first value.
        self.group_fill: list[int] = []
        for gm in self.group_mask:
            first = (gm & self.default_mask) or gm
            self.group_fill.append(first & -first)
        self.support_prefer = self._permissive_values()
        self.pref_order: list[tuple[int, ...]] = []
        for bits in self.group_bits:
            masks = [1 << b for b in bits]
            self.pref_order.append(
                tuple(
                    [m for m in masks if m & self.default_mask]
                    + [m for m in masks if not m & self.default_mask]
                )
            )

        # Bits of one group that appear in exactly the same clause items are interchangeable for feasibility
        # (a symmetry of the constraint system): the engine tests one representative per class.
        self.sym_classes: list[tuple[tuple[int, ...], ...]] = []
        for bits in self.group_bits:
            by_sig: dict[tuple[tuple[int, int], ...], list[int]] = {}
            for b in bits:
                sig = tuple(
                    (ci, k)
                    for ci in self.bit_cons[b]
                    if not self.cons[ci][0]
                    for k, (_, m) in enumerate(self.cons[ci][1])
                    if m >> b & 1
                )
                by_sig.setdefault(sig, []).append(b)
            self.sym_classes.append(tuple(tuple(v) for v in by_sig.values()))
        self.group_clauses: list[tuple[int, ...]] = [
            tuple(ci for ci in touching if not self.cons[ci][0]) for touching in self.group_cons
        ]
        self.sym_reps: list[int] = [sum(1 << cls[0] for cls in classes) for classes in self.sym_classes]
        # The representatives of every single-like group's classes; the groups that are not single-like.
        self.single_like_reps = sum(r for r, one in zip(self.sym_reps, self.single_like, strict=True) if one)
        self.multi_groups: tuple[int, ...] = tuple(gi for gi, one in enumerate(self.single_like) if not one)
        # For `wake_list`: per bit of a group of at most one value, the clauses on the group that have no
        # item made true by that value alone; per group, its cardinality and the same for "no value".
        self.wake_on_value: list[tuple[int, ...]] = [() for _ in range(nbits)]
        self.wake_on_empty: list[tuple[int, ...]] = []
        for gi, gm in enumerate(self.group_mask):
            items_here = [
                (ci, [(pos, m) for pos, m in self.cons[ci][1] if m & gm]) for ci in self.group_clauses[gi]
            ]
            self.wake_on_empty.append((gi, *(ci for ci, items in items_here if all(pos for pos, _ in items))))
            for b in self.group_bits[gi]:
                bit = 1 << b
                # (One value in a group of at most one meets its cardinality already: no need to wake it.)
                self.wake_on_value[b] = tuple(
                    ci for ci, items in items_here if not any(bool(bit & m) == pos for pos, m in items)
                )
        # Per group, (representative bit, mask of its class) per class: whole classes are set at once.
        self.sym_masks: list[tuple[tuple[int, int], ...]] = [
            tuple((1 << cls[0], _mask(cls)) for cls in classes) for classes in self.sym_classes
        ]
        # Per bit, the mask of its symmetry class.
        self.class_of_bit: list[int] = [0] * nbits
        for classes in self.sym_classes:
            for cls in classes:
                cls_mask = _mask(cls)
                for b in cls:
                    self.class_of_bit[b] = cls_mask

        # Immutable per-model data that higher layers derive lazily (e.g. violation texts); a plain dict
        # keeps this module free of their types.
        self.derived: dict[str, Any] = {}
        self._root: list[tuple[int, int] | None] = []  # [propagate(0, 0)] once computed
        self._implied_off: list[int] = [-1] * nbits  # per bit, filled on first use (see `implied_off`)
        # Per group: its value (the group's bits of a configuration) -> the clauses with a true item on it
        # (as bits of their position in `clause_items`); and such a set of clauses -> what holding exactly
        # those clauses alone makes of the group (`_group_held`). Facts about the model, filled on first use.
        self._true_clauses: list[dict[int, int]] = [{} for _ in self.groups]
        self._held_memo: list[dict[int, tuple[int, list[SplitEntry]]]] = [{} for _ in self.groups]
        self._add_memo: list[dict[tuple[int, int], int]] = [{} for _ in self.groups]  # `add_mask_alone`
        # Read-only view for hot loops: an entry below 0 is not filled yet (call `implied_off`).
        self.implied_off_table = self._implied_off

    # ----------------------------------------------------------------------------------------------
    # Indexing helpers

    def _permissive_values(self) -> int:
        """Per required group of at most one value, the value that makes an item true in the most clauses
        (the first such in default-then-option order), as one mask.

        A configuration holding these values satisfies most clauses through two groups, and a clause held
        by two groups survives a swap of either: used as the witness for supports, it accepts far more
        values as they stand, so far fewer need a mend or a search (about a third fewer at 30 groups).
        """
        score = [0] * self.nbits
        for _, owns, _ in self.clause_items:
            for gj, own in owns.items():
                if self.group_hi[gj] == 1 and self.group_lo[gj]:
                    for b in _bits(own):
                        score[b] += 1
        prefer = 0
        for gi, bits in enumerate(self.group_bits):
            if self.group_hi[gi] != 1 or not self.group_lo[gi] or not bits:
                continue
            ordered = sorted(bits, key=lambda b: not self.default_mask >> b & 1)  # stable: defaults first
            prefer |= 1 << max(ordered, key=score.__getitem__)  # max keeps the first of equal scores
        return prefer

    def _rests(self, items: tuple[Item, ...]) -> tuple[int, ...]:
        """Per item: for POS(m) inside one at-most-one group, the group's other bits (ruled out when the
        item is forced true: "engine in {a, b}" excludes every other engine); else 0."""
        rests: list[int] = []
        for pos, m in items:
            gi = self.bit_group[m.bit_length() - 1]
            gm = self.group_mask[gi]
            rests.append(gm & ~m if pos and self.group_hi[gi] == 1 and not m & ~gm else 0)
        return tuple(rests)

    def term_mask(self, term: Term) -> int:
        """Bits that make `term` true (any one of them)."""
        gi = self.group_ids[term.group]
        if term.options is not None:
            return _mask(self.option_bit[(gi, o)] for o in term.options)
        if term.min is not None or term.max is not None:
            spec = self.groups[gi].number
            assert spec is not None
            lo, hi = range_indexes(spec, term.min, term.max)
            return _mask(
                b
                for b, (clo, chi) in zip(self.group_bits[gi], self.number_classes[gi], strict=True)
                if lo <= clo and chi <= hi
            )
        return self.group_mask[gi]

    def number_bit(self, gi: int, index: int) -> int:
        """The class bit of grid value `index` of number group `gi`."""
        for b, (lo, hi) in zip(self.group_bits[gi], self.number_classes[gi], strict=True):
            if lo <= index <= hi:
                return b
        raise IndexError(index)

    def price_of(self, bit: int, chosen: int) -> int:
        """Price of `bit` when the bits `chosen` are selected: the first matching conditional price wins."""
        for conds, price in self.price_variants[bit]:
            if all(chosen & m for m in conds):
                return price
        return self.price_default[bit]

    def holds_all(self, cids: Sequence[int], full: int) -> bool:
        """Whether every constraint in `cids` holds in the complete assignment `full`."""
        cons = self.cons
        for ci in cids:
            con = cons[ci]
            if con[0]:
                n = (full & con[1]).bit_count()
                if n < con[2] or n > con[3]:
                    return False
                continue
            for pos, m in con[1]:
                if pos:
                    if full & m:
                        break
                elif not full & m:
                    break
            else:
                return False
        return True

    def patch_mask(self, gi: int, full: int) -> int:
        """Bits b of the at-most-one group `gi` such that the complete valid assignment `full` with the
        group's value replaced by b alone is still valid (one pass over the group's clauses, not one
        check per bit). Other groups' counts are untouched and one bit always fits the group's limits."""
        rest = full & self.group_inv[gi]
        allowed = self.group_mask[gi]
        for others, own, _ in self.group_split[gi]:
            if allowed & own == allowed:
                continue
            for pos, m in others:
                if pos:
                    if rest & m:
                        break
                elif not rest & m:
                    break
            else:
                allowed &= own
                if not allowed:
                    return 0
        return allowed

    def root_state(self) -> tuple[int, int] | None:
        """The propagated empty assignment (what every configuration must contain or avoid), computed once
        per model; None when the model has no valid configuration that propagation can see."""
        if not self._root:
            self._root.append(self.propagate(0, 0))
        return self._root[0]

    def implied_off(self, b: int) -> int:
        """The bits that unit propagation rules out once bit `b` alone is chosen (every bit when `b` alone
        already conflicts). So no valid configuration holds `b` with any of them: a table of binary
        no-goods, filled per bit on first use and kept with the model (it is a fact about the model)."""
        found = self._implied_off[b]
        if found < 0:
            state = self.propagate_from_root(1 << b)
            found = self.all_mask if state is None else state[1]
            self._implied_off[b] = found
        return found

    def propagate_from_root(self, on: int, off: int = 0, *, settled: bool = False) -> tuple[int, int] | None:
        """Exactly `propagate(on, off)` from scratch, but waking only the constraints of what (on, off) adds
        to `root_state()`.

        Unit propagation is confluent: a rule that fires in a state still fires (or is already applied, or
        signals the conflict) in any larger one, so the fixpoint from (on, off) is the fixpoint from root
        plus (on, off), and the constraints the root left at a fixpoint need no second look. `settled`
        says that `off` already holds the other values of every group that `on` fills up (the caller
        has walked the groups anyway), which skips that step here.
        """
        root = self.root_state()
        if root is None or on & root[1] or off & root[0]:
            return self.propagate(on, off)  # a direct contradiction with the root: let the full pass say so
        root_on, root_off = root
        on |= root_on
        off |= root_off
        changed = (on ^ root_on) | (off ^ root_off)
        # As the full pass does: settle the groups these bits fill up front, so that their clauses are first
        # looked at with the rest of the group already ruled out instead of once per cardinality step.
        todo = 0 if settled else changed
        while todo:
            gi = self.bit_group[todo.bit_length() - 1]
            gm = self.group_mask[gi]
            todo &= self.group_inv[gi]
            if (on & gm).bit_count() == self.group_hi[gi]:
                off |= gm ^ (gm & on)
        return self.propagate(on, off, wake=self.wake_list(on, off, changed))

    def wake_list(self, on: int, off: int, changed: int) -> list[int]:
        """The constraints to look at first after the groups of `changed` were set: all of a group's
        constraints, except that a decided group of at most one value only wakes the clauses none of whose
        items on it is true (a clause with a true item is satisfied for good), and its cardinality only
        when it is empty (one value meets it)."""
        wake: list[int] = []
        decided = on | off
        while changed:
            gi = self.bit_group[changed.bit_length() - 1]
            gm = self.group_mask[gi]
            changed &= self.group_inv[gi]
            value = on & gm
            if decided & gm != gm or self.group_hi[gi] != 1:
                wake.extend(self.group_cons[gi])
            elif not value:
                wake.extend(self.wake_on_empty[gi])
            elif value & (value - 1):
                wake.extend(self.group_cons[gi])  # two values in a group of one: the cardinality says no
            else:
                wake.extend(self.wake_on_value[value.bit_length() - 1])
        return wake

    def add_mask(self, gi: int, full: int) -> int:
        """Bits b of group `gi` such that the complete valid assignment `full` plus b is still valid (those
        already in `full` included), in one pass over the group's clauses instead of one check per bit.

        Adding b only makes POS items holding b true and NEG items holding b false, so a clause breaks
        exactly when all its true items are NEG items on this group that hold b, and no POS item holds b.
        """
        gm = self.group_mask[gi]
        present = full & gm
        if present.bit_count() >= self.group_hi[gi]:
            return present
        allowed = gm
        cons = self.cons
        for ci in self.group_clauses[gi]:
            neg_hit = gm  # the bits that make every true item false (all of them while none is seen)
            helps = 0  # the bits that make a POS item true
            for pos, m in cons[ci][1]:
                if pos:
                    if full & m:
                        break  # a true POS item stays true
                    if m & gm:
                        helps |= m
                elif not full & m:
                    if not m & gm:
                        break  # a true NEG item on another group stays true
                    neg_hit &= m
            else:
                allowed &= ~(neg_hit & ~helps)
        return allowed | present

    def add_mask_alone(self, gi: int, present: int, alone: int) -> int:
        """`add_mask(gi, full)` from what it depends on: the group's bits `present` in `full`, and the
        clauses on the group that no other group's item makes true in `full` (`alone`, as bits of positions
        in `clause_items`; every other clause on it stays true whatever is added). Memoised per model: a
        few lookups instead of a pass over the group's clauses."""
        memo = self._add_memo[gi]
        key = (present, alone)
        found = memo.get(key)
        if found is None:
            gm = self.group_mask[gi]
            if present.bit_count() >= self.group_hi[gi]:
                found = present
            else:
                # Per clause: the bits that make every true item false, those that make a POS item true,
                # and whether a POS item on the group is true already (then nothing added can break it).
                seen: dict[int, list[int]] = {}
                for k, pos, m in self.group_items[gi]:
                    if alone >> k & 1:
                        state = seen.setdefault(k, [gm, 0, 0])
                        if pos:
                            if present & m:
                                state[2] = 1
                            else:
                                state[1] |= m
                        elif not present & m:
                            state[0] &= m
                allowed = gm
                for neg_hit, helps, safe in seen.values():
                    if not safe:
                        allowed &= ~(neg_hit & ~helps)
                found = allowed | present
            if len(memo) < GROUP_TABLE_LIMIT:
                memo[key] = found
        return found

    def true_clauses(self, gi: int, value: int) -> int:
        """The clauses (as bits of their position in `clause_items`) with an item on group `gi` that is true
        when the group's bits are `value`; memoised per (group, value) up to `GROUP_TABLE_LIMIT` values."""
        memo = self._true_clauses[gi]
        found = memo.get(value)
        if found is None:
            found = 0
            for k, pos, m in self.group_items[gi]:
                if (value & m) if pos else not value & m:
                    found |= 1 << k
            if len(memo) < GROUP_TABLE_LIMIT:
                memo[value] = found
        return found

    def _group_held(self, gi: int, held: int) -> tuple[int, list[SplitEntry]]:
        """For the clauses `held` (bits of positions in `clause_items`) held by group `gi` alone: the values
        of `gi` that keep them all, and their `group_split` entries in clause order. Memoised per model."""
        memo = self._held_memo[gi]
        found = memo.get(held)
        if found is None:
            allowed = self.group_mask[gi]
            entries: list[SplitEntry] = []
            rest = held
            while rest:  # ascending: clause order
                low = rest & -rest
                rest ^= low
                _, owns, split = self.clause_items[low.bit_length() - 1]
                allowed &= owns[gi]
                entry = split.get(gi)
                if entry is not None:
                    entries.append(entry)
            found = (allowed, entries)
            if len(memo) < GROUP_TABLE_LIMIT:
                memo[held] = found
        return found

    def clause_truth(self, full: int) -> ClauseTruth:
        """Per group with clause items, the clauses its value in `full` makes true (as bits of positions in
        `clause_items`); then the clauses true through at least one group, and through at least two.
        `full` satisfies every clause iff the second is `clauses_all` (what `holds_all(clause_ids, full)`
        says), and `patch_all` needs all three: one pass of per-model lookups serves both."""
        gmasks = self.group_mask
        once = twice = 0
        trues: dict[int, int] = {}
        memos = self._true_clauses
        for gj in self.item_groups:
            value = full & gmasks[gj]
            t = memos[gj].get(value)
            if t is None:
                t = self.true_clauses(gj, value)
            twice |= once & t
            once |= t
            trues[gj] = t
        return trues, once, twice

    def patch_all(
        self, full: int, truth: ClauseTruth | None = None
    ) -> tuple[list[int], list[list[SplitEntry]]]:
        """`patch_mask(gi, full)` for every at-most-one group `gi` at once (entries of other groups mean
        nothing, but every entry stays inside its group's mask, so the entries can be summed into one mask),
        without one pass per group; and per group, the `group_split` entries of the clauses that only that
        group's value holds in `full` (the ones a change of that value may break). The first list is the
        caller's; the entries of the second are shared: read them, do not change them.

        A clause that `full` satisfies through items of one group only restricts that group's values to
        those satisfying it; a clause satisfied through two groups survives any swap of one group. Both
        steps are per-model tables (`true_clauses`, `_group_held`), so a valid `full` costs a few lookups
        per group; one that breaks a clause goes through `patch_all_plain`. `truth` is `clause_truth(full)`
        when the caller has it already.
        """
        gmasks = self.group_mask
        trues, once, twice = self.clause_truth(full) if truth is None else truth
        if once != self.clauses_all:
            return self.patch_all_plain(full)
        only = once ^ twice
        allowed = list(gmasks)
        held_by: list[list[SplitEntry]] = [_NO_ENTRIES] * len(gmasks)
        held_memo = self._held_memo
        for gj, t in trues.items():
            mine = t & only
            if mine:
                found = held_memo[gj].get(mine)
                if found is None:
                    found = self._group_held(gj, mine)
                allowed[gj], held_by[gj] = found
        return allowed, held_by

    def patch_all_plain(self, full: int) -> tuple[list[int], list[list[SplitEntry]]]:
        """`patch_all` by its definition, one pass over the clauses (used for a `full` that breaks a clause).

        A clause that `full` satisfies through items of one group only restricts that group's values to
        those satisfying it; a clause satisfied through two groups survives any swap of one group; a broken
        one restricts every group it is on.
        """
        allowed = list(self.group_mask)
        held_by: list[list[SplitEntry]] = [[] for _ in allowed]
        for items, owns, entries in self.clause_items:
            only = -1  # the one group with a true item so far; -2 once there are two
            for pos, m, gj in items:
                if (full & m) if pos else not full & m:
                    if only == -1:
                        only = gj
                    elif only != gj:
                        only = -2
                        break
            if only >= 0:
                allowed[only] &= owns[only]
                entry = entries.get(only)
                if entry is not None:
                    held_by[only].append(entry)
            elif only == -1:  # broken (not for a valid `full`): every swap of one group must mend it
                for gj, own in owns.items():
                    allowed[gj] &= own
                    entry = entries.get(gj)
                    if entry is not None:
                        held_by[gj].append(entry)
        return allowed, held_by

    def propagate(
        self, on: int, off: int, changed: int | None = None, wake: Sequence[int] | None = None
    ) -> tuple[int, int] | None:
        """Unit-propagate from (on, off); None on conflict.

        `changed` limits the first pass to constraints touching those bits; None checks every constraint
        (required whenever on/off did not come out of an earlier propagate). `wake` instead names the
        constraints of the first pass outright (see `wake_list`).

        The hottest loop of the engine. On models of hundreds of bits every int is a multi-digit bignum,
        and CPython's `&` with a negative operand (`x & ~y`, `x & -x`) costs about twice a plain one, so
        the loop only tests `(m & off) == m`, strips bits with `x ^ (x & y)` and walks groups from the
        highest bit down (`bit_length`). The fixpoint does not depend on the order constraints are visited
        in (every rule that fires in a state still fires, or has fired, in any larger one).
        """
        props = self.prop_cons
        # Wake-ups are per group, not per bit: a cardinality step flips a whole group at once, and waking
        # a few extra constraints is cheaper than walking every bit.
        bit_group = self.bit_group
        group_cons = self.group_cons
        ginv = self.group_inv
        after_off, after_on = self.wake_after_off, self.wake_after_on
        if wake is not None:
            inq = bytearray(self.ncons)
            queue = []
            for ci in wake:
                if not inq[ci]:
                    inq[ci] = 1
                    queue.append(ci)
        elif changed is None:
            # From scratch: settle full at-most groups up front so the first pass over the clauses already
            # sees them, instead of every clause being woken again by each group's cardinality step.
            for gi, gm in enumerate(self.group_mask):
                if (on & gm).bit_count() == self.group_hi[gi]:
                    off |= gm ^ (gm & on)
            queue = list(range(self.ncons))
            inq = bytearray(b"\x01") * self.ncons
        else:
            inq = bytearray(self.ncons)
            queue = []
            while changed:
                gi = bit_group[changed.bit_length() - 1]
                for ci in group_cons[gi]:
                    if not inq[ci]:
                        inq[ci] = 1
                        queue.append(ci)
                changed &= ginv[gi]
        while queue:
            ci = queue.pop()
            inq[ci] = 0
            con = props[ci]
            if con[0]:
                _, gm, lo, hi = con
                t = (on & gm).bit_count()
                if t > hi:
                    return None
                um = gm ^ (gm & (on | off))
                if not um:
                    if t < lo:
                        return None
                    continue
                u = um.bit_count()
                if t + u < lo:
                    return None
                if t == hi:
                    off |= um
                    wakes = after_off[ci]  # (constraint id == group index for a cardinality)
                elif t + u == lo:
                    on |= um
                    wakes = after_on[ci]
                else:
                    continue
            else:
                nunk = 0
                unk_pos = False
                unk_m = unk_rest = 0
                for pos, m, rest in con[1]:
                    if pos:
                        if on & m:
                            break
                        if (m & off) != m:
                            nunk += 1
                            unk_pos, unk_m, unk_rest = True, m, rest
                    else:
                        if on & m:
                            continue
                        if (m & off) == m:
                            break
                        nunk += 1
                        unk_pos, unk_m = False, m
                else:
                    if nunk != 1:
                        if nunk == 0:
                            return None
                        continue
                    # The open item's undecided bits (none of its bits is on, or it would be decided).
                    um = unk_m ^ (unk_m & off)
                    if not unk_pos:
                        off |= um
                        wakes = after_off[bit_group[um.bit_length() - 1]]
                    elif um & (um - 1):
                        # Several ways to satisfy it; inside one at-most-one group the others go.
                        um = unk_rest ^ (unk_rest & (on | off))
                        if not um:
                            continue
                        off |= um
                        wakes = after_off[bit_group[um.bit_length() - 1]]
                    else:
                        on |= um
                        wakes = after_on[bit_group[um.bit_length() - 1]]
                    # (Every item, so every bit set here, lies inside one group.)
                    for cj in wakes:
                        if not inq[cj] and cj != ci:
                            inq[cj] = 1
                            queue.append(cj)
                continue
            for cj in wakes:
                if not inq[cj] and cj != ci:
                    inq[cj] = 1
                    queue.append(cj)
        return on, off

    def _alternatives(
        self, gi: int, on: int, off: int, prefer: int, avoid: int, focus: int
    ) -> list[tuple[int, int]]:
        """Branches for the undecided group `gi` as (bits to set, bits to clear), most promising first.

        `avoid` is what the failed probe chose in this group (tried last: it is part of why a rule broke);
        `focus` is the broken rule's mask (a multi group branches on one of those bits).
        """
        gm = self.group_mask[gi]
        um = gm & ~(on | off)
        order = self.pref_order[gi]
        if self.group_hi[gi] == 1:
            alts: list[tuple[int, int]] = [(m, um ^ m) for m in order if m & um & prefer]
            if self.group_lo[gi] == 0 and not (on & gm):
                # Choosing nothing is the least committing move: most rules are "if X then ...".
                alts.append((0, um))
            alts.extend((m, um ^ m) for m in order if m & um and not m & prefer)
            if avoid & um:
                alts.sort(key=lambda alt: alt[0] == avoid)
            elif not avoid & gm:
                alts.sort(key=lambda alt: alt[0] == 0)
            return alts
        pick = next((m for m in order if m & um & focus), 0) or next(m for m in order if m & um)
        if pick & avoid:
            return [(0, pick), (pick, 0)]
        return [(pick, 0), (0, pick)]

    def _first_open_clause(self, on: int, off: int, clauses: Sequence[int], start: int) -> int:
        """Index (into `clauses`) of the first clause not yet satisfied, from `start`; len() if none.

        Satisfaction only grows down the search tree, so a child resumes where its parent stopped.
        """
        cons = self.cons
        n = len(clauses)
        k = start
        while k < n:
            for pos, m in cons[clauses[k]][1]:
                if pos:
                    if on & m:
                        break
                elif m & off == m:
                    break
            else:
                return k
            k += 1
        return n

    def _branch_group(self, on: int, off: int, ci: int) -> int:
        """The undecided group of clause `ci` with the fewest open values (fail first)."""
        cm = self.con_mask[ci]
        unknown = cm ^ (cm & (on | off))
        best, best_size = -1, 1 << 30
        while unknown:
            gi = self.bit_group[unknown.bit_length() - 1]
            um = self.group_mask[gi] & unknown
            unknown ^= um
            size = um.bit_count()
            if size <= best_size:  # walking down from the highest group, `<=` keeps the first on a tie
                best, best_size = gi, size
        return best

    def _search(
        self,
        on: int,
        off: int,
        prefer: int,
        prune: Callable[[int, int], bool] | None,
        budget: list[int],
        clauses: Sequence[int],
    ) -> Iterator[tuple[int, int]]:
        """Depth-first search from the propagated state (on, off) for states satisfying every clause of
        `clauses`.

        Probe-guided: at each node the cheapest completion (`complete`) is tried first; when it breaks no
        clause it is yielded as a full state, otherwise the search branches on a group of the first clause
        it breaks. The probe is also the cheapest assignment below that node for the repair cost (which
        is a sum over groups of what `complete` minimises), so branch and bound stays exact.
        """
        all_mask = self.all_mask
        n = len(clauses)
        stack: list[list] = []
        ptr = 0
        while True:
            ptr = self._first_open_clause(on, off, clauses, ptr)
            if ptr == n:
                yield on, off
                if not stack:
                    return
            else:
                probe = self.complete(on, off, prefer)
                broken = self._first_broken(probe, clauses, ptr)
                if broken < 0:
                    yield probe, all_mask & ~probe
                    if not stack:
                        return
                else:
                    gi = self._branch_group(on, off, broken)
                    # No undecided group in a broken clause: a dead end (only in lazily propagated states).
                    alts = (
                        self._alternatives(
                            gi, on, off, prefer, probe & self.group_mask[gi], self.con_mask[broken]
                        )
                        if gi >= 0
                        else []
                    )
                    stack.append([on, off, ptr, alts, 0])
            while True:
                if not stack:
                    return
                frame = stack[-1]
                on0, off0, p, alts, k = frame
                found = None
                while k < len(alts):
                    add_on, add_off = alts[k]
                    k += 1
                    budget[0] -= 1
                    if budget[0] < 0:
                        raise SearchLimitExceeded("configurator search budget exceeded")
                    on1, off1 = on0 | add_on, off0 | add_off
                    res = self.propagate(on1, off1, wake=self.wake_list(on1, off1, add_on | add_off))
                    if res is not None and (prune is None or not prune(*res)):
                        found = res
                        break
                frame[4] = k
                if found is not None:
                    on, off = found
                    ptr = p
                    break
                stack.pop()

    def _first_broken(self, full: int, clauses: Sequence[int], start: int) -> int:
        """Id of the first clause of `clauses[start:]` that the complete assignment breaks, or -1."""
        cons = self.cons
        gate = self.clause_gate
        for k in range(start, len(clauses)):
            ci = clauses[k]
            g = gate[ci]
            if g and not full & g:
                continue  # its first condition is false: the clause holds (a lookup, not a walk)
            for pos, m in cons[ci][1]:
                if pos:
                    if full & m:
                        break
                elif not full & m:
                    break
            else:
                return ci
        return -1

    def complete(self, on: int, off: int, prefer: int = 0) -> int:
        """Finish a state whose clauses are all satisfied: each undecided group gets its cheapest value
        (preferred bits, else nothing if allowed, else defaults/first options up to the group minimum).

        Bits of a group are numbered in option order, so "first option" is the lowest bit.
        """
        undecided = self.all_mask ^ (on | off)
        bit_group = self.bit_group
        gmasks = self.group_mask
        group_lo, group_hi = self.group_lo, self.group_hi
        defaults = self.default_mask
        fill = self.group_fill
        # Each group is finished on its own, so the order does not matter: highest first is the cheapest
        # walk over a bignum (see `propagate`). Only `on` is returned, so the values left out are not
        # recorded anywhere; a search node calls this on hundreds of bits, so every bignum op counts.
        while undecided:
            gi = bit_group[undecided.bit_length() - 1]
            gm = gmasks[gi]
            um = gm & undecided
            undecided ^= um
            if group_hi[gi] == 1:
                # Undecided means nothing chosen yet (propagation clears the rest once one is chosen).
                pick = um & prefer
                if not pick:
                    if not group_lo[gi]:
                        continue  # nothing is the cheapest value of an optional group
                    if um == gm:
                        on |= fill[gi]  # the whole group open: its first default, else first option
                        continue
                    pick = um
                pick = (pick & defaults) or pick
                on |= pick & -pick
                continue
            t = (on & gm).bit_count()
            if t >= group_lo[gi] and not um & prefer:
                continue  # nothing preferred to add, and the minimum is met
            picks = 0
            room = group_hi[gi] - t
            need = group_lo[gi] - t
            for m in self.pref_order[gi]:
                if m & um & prefer and room > 0:
                    picks |= m
                    room -= 1
                    need -= 1
            if need > 0:
                for m in self.pref_order[gi]:
                    if need <= 0:
                        break
                    if m & um and not m & picks:
                        picks |= m
                        need -= 1
            on |= picks
        return on

    def iter_solutions(
        self,
        on: int,
        off: int,
        prefer: int = 0,
        prune: Callable[[int, int], bool] | None = None,
        budget: list[int] | None = None,
    ) -> Iterator[int]:
        """Complete assignments (as the on bitset) extending the propagated state (on, off).

        `prefer` bits are tried chosen first; `prune(on, off)` may cut a subtree (branch and bound);
        `budget` is a one-item list of remaining propagations, shared across calls. Each yielded
        assignment stands for the cheapest completion of the groups no open rule constrains.
        """
        if budget is None:
            budget = [DEFAULT_BUDGET]
        for state in self._search(on, off, prefer, prune, budget, self.clause_ids):
            yield self.complete(*state, prefer)

    def solve(
        self,
        on: int,
        off: int = 0,
        *,
        propagated: bool = False,
        budget: list[int] | None = None,
        prefer: int = 0,
        scope: Sequence[int] | None = None,
    ) -> int | None:
        """One complete valid assignment extending (on, off), or None when there is none.

        `scope` (sorted clause ids) may name the only clauses that can break: every other clause must hold
        whatever the undecided bits become (e.g. all its bits are decided and it holds).

        Probe first: the cheapest completion (leaning to `prefer`, e.g. a known nearby solution) often
        satisfies every rule already. Otherwise the first rule it breaks seeds a component - the open
        rules linked to it through undecided groups - which is searched on its own, and so on. Components
        share no undecided group, so a dead end in one never makes the search revisit another (that is
        what keeps "is this option still possible?" fast on large models), and an unsatisfiable component
        proves the whole state unsatisfiable.
        """
        if budget is None:
            budget = [DEFAULT_BUDGET]
        if not propagated:
            state = self.propagate_from_root(on, off)
            if state is None:
                return None
            on, off = state
        while True:
            probe = self.complete(on, off, prefer)
            broken = self._first_broken(probe, self.clause_ids if scope is None else scope, 0)
            if broken < 0:
                return probe
            component = self._component_of(on, off, broken)
            if component is None:
                return None
            clauses, groups = component
            found = next(self._search(on, off, prefer, None, budget, clauses), None)
            if found is None:
                return None
            on |= found[0] & groups
            off |= found[1] & groups

    def _component_of(self, on: int, off: int, seed: int) -> tuple[list[int], int] | None:
        """The open clauses linked to clause `seed` through undecided groups, and those groups' mask.

        None when `seed` has no undecided group left (it is broken for good).
        """
        cons = self.cons
        decided = on | off
        gmasks = self.group_mask
        ginv = self.group_inv
        bit_group = self.bit_group
        group_clauses = self.group_clauses  # (the clauses of each group, without its cardinality)
        con_mask = self.con_mask
        seen = {seed}
        clauses = [seed]
        groups = 0
        k = 0
        while k < len(clauses):
            cm = con_mask[clauses[k]]
            unknown = cm ^ (cm & (decided | groups))
            k += 1
            while unknown:
                gi = bit_group[unknown.bit_length() - 1]
                unknown &= ginv[gi]
                groups |= gmasks[gi]
                for cj in group_clauses[gi]:
                    if cj in seen:
                        continue
                    seen.add(cj)
                    for pos, m in cons[cj][1]:
                        if pos:
                            if on & m:
                                break
                        elif m & off == m:
                            break
                    else:
                        clauses.append(cj)
        if not groups:
            return None
        clauses.sort()
        return clauses, groups

    def satisfiable(self, on: int, off: int = 0, budget: list[int] | None = None) -> bool:
        """Whether some valid full configuration has every bit of on and none of off."""
        return self.solve(on, off, budget=budget) is not None


def _rule_terms(rule: Rule) -> Iterator[Term]:
    yield from rule.conditions
    yield from rule.then
    if rule.target is not None:
        yield rule.target


def _simplify(items: list[Item]) -> tuple[Item, ...] | None:
    """Drop always-false POS(0); None when an always-true NEG(0) makes the whole clause hold."""
    out: list[Item] = []
    for pos, m in items:
        if not m:
            if pos:
                continue
            return None
        out.append((pos, m))
    return tuple(out)


def _union(items: tuple[Item, ...]) -> int:
    m = 0
    for _, x in items:
        m |= x
    return m


def _mask(bits: Iterator[int] | Sequence[int]) -> int:
    m = 0
    for b in bits:
        m |= 1 << b
    return m


def _bits(mask: int) -> Iterator[int]:
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low
