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
from typing import TYPE_CHECKING

from ecrm.catalog.model import range_indexes

if TYPE_CHECKING:
    from ecrm.catalog.model import Group, Rule, Term

# Request-path searches give up after this many propagations instead of pinning a Lambda. Realistic models
# need a few dozen per evaluation; check_consistency runs the same searches at admin save time.
DEFAULT_BUDGET = 50_000

Item = tuple[bool, int]  # (positive, mask)


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
        self.all_mask = (1 << nbits) - 1
        self.group_mask = [_mask(bits) for bits in self.group_bits]
        self.group_lo: list[int] = []
        self.group_hi: list[int] = []
        for g in self.groups:
            if g.kind == "multi":
                self.group_lo.append(g.min_selected)
                self.group_hi.append(g.max_selected)
            else:
                self.group_lo.append(1 if g.required else 0)
                self.group_hi.append(1)

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
                        self.cons.append((False, simplified))
                        self.con_rule.append(ri)
                        clause_ids.append(ci)
                        first_neg = next((m2 for pos, m2 in simplified if not pos), -1)
                        trigger |= first_neg
            self.rule_clauses.append(tuple(clause_ids))
            self.rule_trigger.append(trigger)

        ncons = len(self.cons)
        bit_cons: list[list[int]] = [[] for _ in range(nbits)]
        self.con_mask: list[int] = []
        for ci, con in enumerate(self.cons):
            m = con[1] if con[0] else _union(con[1])
            self.con_mask.append(m)
            for b in _bits(m):
                bit_cons[b].append(ci)
        self.bit_cons: list[tuple[int, ...]] = [tuple(x) for x in bit_cons]
        self.ncons = ncons
        self.group_clauses: list[tuple[tuple[Item, ...], ...]] = []
        self.group_cons: list[tuple[int, ...]] = []
        for gi in range(len(self.groups)):
            touching = sorted({ci for b in self.group_bits[gi] for ci in self.bit_cons[b]})
            self.group_cons.append(tuple(touching))
            self.group_clauses.append(tuple(self.cons[ci][1] for ci in touching if not self.cons[ci][0]))

        # Value order for search: defaults first (so completions suggest them), then document order.
        self.default_mask = 0
        for gi, g in enumerate(self.groups):
            if g.kind in ("single", "multi"):
                for o in g.options:
                    if o.default:
                        self.default_mask |= 1 << self.option_bit[(gi, o.id)]
            elif g.kind == "number" and g.number is not None and g.number.default is not None:
                self.default_mask |= 1 << self.number_bit(gi, g.number.index(g.number.default) or 0)
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

        self.priced_conditionally = any(self.price_variants)

    # ----------------------------------------------------------------------------------------------
    # Indexing helpers

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

    def constraints_touching(self, mask: int) -> list[int]:
        """Ids of constraints that mention any bit of `mask`."""
        seen = bytearray(self.ncons)
        out: list[int] = []
        bit_cons = self.bit_cons
        while mask:
            low = mask & -mask
            for ci in bit_cons[low.bit_length() - 1]:
                if not seen[ci]:
                    seen[ci] = 1
                    out.append(ci)
            mask ^= low
        return out

    def price_of(self, bit: int, chosen: int) -> int:
        """Price of `bit` when the bits `chosen` are selected: the first matching conditional price wins."""
        for conds, price in self.price_variants[bit]:
            if all(chosen & m for m in conds):
                return price
        return self.price_default[bit]

    def holds(self, ci: int, full: int) -> bool:
        """Whether constraint `ci` holds in the complete assignment `full` (bits not in it are unchosen)."""
        con = self.cons[ci]
        if con[0]:
            return con[2] <= (full & con[1]).bit_count() <= con[3]
        return any((full & m) if pos else not (full & m) for pos, m in con[1])

    # ----------------------------------------------------------------------------------------------
    # Propagation and search

    def propagate(self, on: int, off: int, changed: int | None = None) -> tuple[int, int] | None:
        """Unit-propagate from (on, off); None on conflict.

        `changed` limits the first pass to constraints touching those bits; None checks every constraint
        (required whenever on/off did not come out of an earlier propagate).
        """
        cons = self.cons
        bit_cons = self.bit_cons
        if changed is None:
            queue = list(range(self.ncons))
            inq = bytearray(b"\x01") * self.ncons
        else:
            queue = self.constraints_touching(changed)
            inq = bytearray(self.ncons)
            for ci in queue:
                inq[ci] = 1
        while queue:
            ci = queue.pop()
            inq[ci] = 0
            con = cons[ci]
            if con[0]:
                gm = con[1]
                t = (on & gm).bit_count()
                if t > con[3]:
                    return None
                um = gm & ~(on | off)
                if not um:
                    if t < con[2]:
                        return None
                    continue
                u = um.bit_count()
                if t + u < con[2]:
                    return None
                if t == con[3]:
                    off |= um
                elif t + u == con[2]:
                    on |= um
                else:
                    continue
                new = um
            else:
                nunk = 0
                unk_pos = False
                unk_m = 0
                for pos, m in con[1]:
                    if pos:
                        if on & m:
                            break
                        if m & ~off:
                            nunk += 1
                            unk_pos, unk_m = True, m
                    else:
                        if on & m:
                            continue
                        if not m & ~off:
                            break
                        nunk += 1
                        unk_pos, unk_m = False, m
                else:
                    if nunk == 0:
                        return None
                    if nunk > 1:
                        continue
                    um = unk_m & ~(on | off)
                    if unk_pos:
                        if um & (um - 1):
                            continue  # several ways to satisfy it: nothing forced yet
                        on |= um
                    else:
                        off |= um
                    new = um
                    # fall through to enqueue
                    while new:
                        low = new & -new
                        for cj in bit_cons[low.bit_length() - 1]:
                            if not inq[cj] and cj != ci:
                                inq[cj] = 1
                                queue.append(cj)
                        new ^= low
                continue
            while new:
                low = new & -new
                for cj in bit_cons[low.bit_length() - 1]:
                    if not inq[cj] and cj != ci:
                        inq[cj] = 1
                        queue.append(cj)
                new ^= low
        return on, off

    def _alternatives(self, gi: int, on: int, off: int, prefer: int) -> list[tuple[int, int]]:
        """Branches for the undecided group `gi`, most promising first, as (bits to set, bits to clear)."""
        um = self.group_mask[gi] & ~(on | off)
        order = self.pref_order[gi]
        if self.group_hi[gi] == 1:
            alts: list[tuple[int, int]] = [(m, um ^ m) for m in order if m & um & prefer]
            if self.group_lo[gi] == 0:
                # Choosing nothing is the least committing move: most rules are "if X then ...".
                alts.append((0, um))
            alts.extend((m, um ^ m) for m in order if m & um and not m & prefer)
            return alts
        t = (on & self.group_mask[gi]).bit_count()
        pick = next((m for m in order if m & um & prefer), 0) or next(m for m in order if m & um)
        if pick & prefer or t < self.group_lo[gi]:
            return [(pick, 0), (0, pick)]
        return [(0, pick), (pick, 0)]

    def iter_solutions(
        self,
        on: int,
        off: int,
        prefer: int = 0,
        prune: Callable[[int, int], bool] | None = None,
        budget: list[int] | None = None,
    ) -> Iterator[int]:
        """Complete assignments (as the on bitset) extending the propagated state (on, off), depth first.

        `prefer` bits are tried chosen first; `prune(on, off)` may cut a subtree (branch and bound);
        `budget` is a one-item list of remaining propagations, shared across calls.
        """
        if budget is None:
            budget = [DEFAULT_BUDGET]
        gmask = self.group_mask
        ngroups = len(gmask)
        pos = 0
        stack: list[list] = []
        while True:
            while pos < ngroups and not gmask[pos] & ~(on | off):
                pos += 1
            if pos == ngroups:
                yield on
                if not stack:
                    return
            else:
                stack.append([on, off, pos, self._alternatives(pos, on, off, prefer), 0])
            # Advance to the next viable alternative, backtracking as needed.
            while True:
                if not stack:
                    return
                frame = stack[-1]
                on0, off0, p, alts, k = frame
                found = None
                while k < len(alts):
                    add_t, add_f = alts[k]
                    k += 1
                    budget[0] -= 1
                    if budget[0] < 0:
                        raise SearchLimitExceeded("configurator search budget exceeded")
                    res = self.propagate(on0 | add_t, off0 | add_f, add_t | add_f)
                    if res is not None and (prune is None or not prune(*res)):
                        found = res
                        break
                frame[4] = k
                if found is not None:
                    on, off = found
                    pos = p
                    break
                stack.pop()

    def solve(
        self, on: int, off: int = 0, *, propagated: bool = False, budget: list[int] | None = None
    ) -> int | None:
        """One complete valid assignment extending (on, off), or None when there is none."""
        if not propagated:
            state = self.propagate(on, off)
            if state is None:
                return None
            on, off = state
        return next(self.iter_solutions(on, off, budget=budget), None)

    def satisfiable(self, on: int, off: int = 0, budget: list[int] | None = None) -> bool:
        """Whether some valid full configuration has every bit of on and none of off."""
        return self.solve(on, off, budget=budget) is not None

    def is_solution(self, full: int) -> bool:
        """Whether the complete assignment `full` satisfies every constraint."""
        return all(self.holds(ci, full) for ci in range(self.ncons))


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
