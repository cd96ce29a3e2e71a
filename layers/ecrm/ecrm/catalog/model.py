"""Product configurator: the product document, its parsed form and its validation errors.

Pure: no boto3, no I/O, no clock. `parse_product` turns the JSON document an admin PUTs into a frozen
`ProductModel` with every index the engine needs precomputed (the service caches parsed models per
product id and version, so parsing may be slower than evaluating).

Two kinds of failure, on purpose:
- `ModelError` (raised): the document has the wrong shape (types, missing fields, unknown keys, bad enum
  values, off-grid numbers). Nothing can be built from it.
- `ModelProblem` (collected on `ProductModel.problems`, returned by `check_consistency`): the document is
  well formed but wrong in meaning - duplicate ids, rules naming unknown groups or options. Collecting them
  lets an admin see every mistake at once instead of one per save.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from ecrm.platform.errors import ValidationFailed
from ecrm.platform.money import SUPPORTED_CURRENCIES

if TYPE_CHECKING:
    from ecrm.catalog.encoding import CompiledModel

GROUP_KINDS = ("single", "multi", "text", "number")
RULE_KINDS = ("requires", "excludes", "conditional_requirement", "conditional_price")

# Limits keep one admin typo from producing a model that is slow to evaluate on every storefront click.
MAX_GROUPS = 200
MAX_OPTIONS_PER_GROUP = 500
MAX_RULES = 2000
MAX_TERMS_PER_LIST = 16
MAX_PRICE = 10**12  # minor units; far above any product, far below anything that could overflow a float UI
MAX_NAME_CHARS = 200
MAX_MESSAGE_CHARS = 500
MAX_TEXT_LENGTH = 1000
MAX_NUMBER_CHARS = 32  # a longer number string is never a size or a length, only a probe
MAX_NUMBER_DECIMALS = 6
MAX_NUMBER_MAGNITUDE = Decimal(10) ** 9

# Ids end up in dotted error paths (`selection.wheels`) and in DynamoDB keys: no dots, no spaces.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")

# Top-level keys the store owns; anything else unknown at the top level is ignored (store metadata such
# as timestamps may be added later), but unknown keys inside groups, options and rules are typos and rejected.
_GROUP_KEYS = {
    "single": {"id", "name", "kind", "required", "description", "options"},
    "multi": {"id", "name", "kind", "required", "description", "options", "min", "max"},
    "text": {"id", "name", "kind", "required", "description", "max_length", "pattern", "price"},
    "number": {
        "id",
        "name",
        "kind",
        "required",
        "description",
        "min",
        "max",
        "step",
        "default",
        "price",
        "unit",
    },
}
_OPTION_KEYS = {"id", "name", "price", "default", "description"}
_RULE_KEYS = {
    "requires": {"id", "kind", "message", "if", "then"},
    "excludes": {"id", "kind", "message", "if", "then"},
    "conditional_requirement": {"id", "kind", "message", "if", "then"},
    "conditional_price": {"id", "kind", "message", "if", "target", "price"},
}
_TERM_KEYS = {"group", "option", "options", "min", "max"}

# Zero-width (non-)joiners are format characters but are needed to spell some scripts (Persian, Indic)
# and emoji sequences; every other control or format character is rejected in free text.
_ALLOWED_FORMAT_CHARS = {"\u200c", "\u200d"}
_FORBIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


class ModelError(ValidationFailed):
    """The product document is malformed; `field` is the dotted path of the offending value."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason, field=field)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class SelectionError(ValidationFailed):
    """A customer's selection cannot be read against the model (`field` like `selection.wheels`)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason, field=field)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


@dataclass(frozen=True, slots=True)
class ModelProblem:
    """A meaning-level mistake in a well-formed model; admin save is rejected while any exist.

    `code` is stable and machine-readable (see docs/configurator.md); `reason` is for humans.
    """

    field: str
    reason: str
    code: str

    def to_dict(self) -> dict[str, str]:
        """JSON-ready form."""
        return {"field": self.field, "reason": self.reason, "code": self.code}


@dataclass(frozen=True, slots=True)
class Option:
    """One choice of a single or multi group; `price` is a signed delta in minor units."""

    id: str
    name: str
    price: int
    default: bool


@dataclass(frozen=True, slots=True)
class NumberSpec:
    """The value grid of a number group: min, min + step, ..., max (all exact decimals)."""

    min: Decimal
    max: Decimal
    step: Decimal
    default: Decimal | None
    unit: str | None

    @property
    def count(self) -> int:
        """How many values the grid holds."""
        return int((self.max - self.min) / self.step) + 1

    def value(self, index: int) -> Decimal:
        """The grid value at `index` (0-based)."""
        return self.min + self.step * index

    def index(self, value: Decimal) -> int | None:
        """Grid index of `value`, or None when it is off the grid or out of range."""
        if value < self.min or value > self.max:
            return None
        quotient = (value - self.min) / self.step
        if quotient != quotient.to_integral_value():
            return None
        return int(quotient)


@dataclass(frozen=True, slots=True)
class Group:
    """An option group. Which fields matter depends on `kind`; the others keep neutral values."""

    id: str
    name: str
    kind: str
    required: bool
    options: tuple[Option, ...] = ()
    min_selected: int = 0  # multi: how many options at least (1 when required and not given)
    max_selected: int = 1  # multi: how many options at most
    max_length: int = 0  # text
    pattern: re.Pattern[str] | None = None  # text, matched against the whole normalised value
    price: int = 0  # text/number: price when a value is entered
    number: NumberSpec | None = None

    @property
    def single_like(self) -> bool:
        """True when the group holds at most one value (single, text, number)."""
        return self.kind != "multi"


@dataclass(frozen=True, slots=True)
class Term:
    """A condition on one group: any of `options`; a value in [`min`, `max`]; or (neither) 'has a value'."""

    group: str
    options: tuple[str, ...] | None = None
    min: Decimal | None = None
    max: Decimal | None = None

    def to_dict(self) -> dict[str, Any]:
        """The document form of this term."""
        out: dict[str, Any] = {"group": self.group}
        if self.options is not None:
            out["options"] = list(self.options)
        if self.min is not None:
            out["min"] = format_decimal(self.min)
        if self.max is not None:
            out["max"] = format_decimal(self.max)
        return out


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule of the model. `conditions` are AND-ed; `then` terms are each enforced (see docs)."""

    id: str
    kind: str
    message: str
    conditions: tuple[Term, ...]
    then: tuple[Term, ...] = ()
    target: Term | None = None
    price: int = 0
    index: int = 0  # position in the document, for error paths (`rules.<index>`)

    @property
    def groups(self) -> tuple[str, ...]:
        """Ids of the groups this rule talks about, in first-mention order."""
        seen: dict[str, None] = {}
        for term in (*self.conditions, *self.then, *((self.target,) if self.target else ())):
            seen.setdefault(term.group, None)
        return tuple(seen)


@dataclass(frozen=True)
class ProductModel:
    """A parsed, indexed product model. Build it with `parse_product`; never mutate it."""

    product_id: str
    name: str
    currency: str
    base_price: int
    version: int | None
    groups: tuple[Group, ...]
    rules: tuple[Rule, ...]
    problems: tuple[ModelProblem, ...]
    group_index: Mapping[str, int] = field(repr=False, compare=False)
    compiled: CompiledModel = field(repr=False, compare=False)

    def group(self, group_id: str) -> Group:
        """The group with this id (KeyError when unknown)."""
        return self.groups[self.group_index[group_id]]


# --------------------------------------------------------------------------------------------------
# Small value helpers shared with the engine


def format_decimal(value: Decimal) -> str:
    """Canonical string of an exact decimal: no exponent, no trailing zeros, no negative zero."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


def parse_decimal(raw: Any, where: str, error: type[ValidationFailed] = ModelError) -> Decimal:
    """An exact decimal from an int or a string; floats are refused because they are not exact."""
    # Decimal is accepted because DynamoDB hands numbers back as Decimal; float never is.
    if isinstance(raw, bool) or not isinstance(raw, (int, str, Decimal)):
        raise error(where, "must be an integer or a decimal string (floats are not exact)")
    if isinstance(raw, str):
        text = raw.strip()
        if not text or len(text) > MAX_NUMBER_CHARS:
            raise error(where, "must be a decimal number")
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise error(where, "must be a decimal number") from None
    else:
        value = Decimal(raw)
    if not value.is_finite():
        raise error(where, "must be a finite number")
    if abs(value) > MAX_NUMBER_MAGNITUDE:
        raise error(where, "is out of range")
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_NUMBER_DECIMALS:
        raise error(where, f"has more than {MAX_NUMBER_DECIMALS} decimals")
    return value


def check_free_text(value: str) -> str | None:
    """Why `value` is unacceptable as customer free text, or None when it is fine.

    Control and format characters (CR/LF, NUL, bidi overrides, ...) are refused rather than stripped: a
    monogram is engraved, printed or mailed exactly as accepted, so silently changing it is worse.
    """
    for ch in value:
        if unicodedata.category(ch) in _FORBIDDEN_CATEGORIES and ch not in _ALLOWED_FORMAT_CHARS:
            return f"contains a control character (U+{ord(ch):04X})"
    return None


# --------------------------------------------------------------------------------------------------
# Parsing


def parse_product(doc: Mapping[str, Any]) -> ProductModel:
    """Parse and index a product document.

    Raises `ModelError(field, reason)` for a malformed document. Meaning-level mistakes (duplicate ids,
    references to unknown groups/options) do not raise: they are kept on `ProductModel.problems`, the
    offending item is left out of the indexes, and `check_consistency` reports them.
    """
    # Imported here, not at module level, because encoding imports this module's dataclasses.
    from ecrm.catalog.encoding import CompiledModel

    if not isinstance(doc, Mapping):
        raise ModelError("", "must be an object")
    product_id = _id(doc.get("product_id"), "product_id")
    name = _name(doc.get("name"), "name")
    currency = doc.get("currency")
    if not isinstance(currency, str) or currency not in SUPPORTED_CURRENCIES:
        raise ModelError("currency", f"must be one of {', '.join(sorted(SUPPORTED_CURRENCIES))}")
    base_price = _int(doc.get("base_price"), "base_price", 0, MAX_PRICE)
    version_raw = doc.get("version")
    version = None if version_raw is None else _int(version_raw, "version", 0, 10**9)

    raw_groups = _list(doc.get("groups"), "groups", 1, MAX_GROUPS)
    problems: list[ModelProblem] = []
    groups: list[Group] = []
    group_index: dict[str, int] = {}
    for i, raw in enumerate(raw_groups):
        group = _group(raw, f"groups.{i}", problems)
        if group.id in group_index:
            problems.append(
                ModelProblem(f"groups.{i}.id", f"duplicate group id '{group.id}'", "duplicate_id")
            )
            continue
        group_index[group.id] = len(groups)
        groups.append(group)

    raw_rules = _list(doc.get("rules", []), "rules", 0, MAX_RULES)
    rules: list[Rule] = []
    rule_ids: set[str] = set()
    by_id = {g.id: g for g in groups}
    for k, raw in enumerate(raw_rules):
        rule = _rule(raw, f"rules.{k}", k)
        if rule.id in rule_ids:
            problems.append(ModelProblem(f"rules.{k}.id", f"duplicate rule id '{rule.id}'", "duplicate_id"))
            continue
        rule_ids.add(rule.id)
        before = len(problems)
        _check_rule_references(rule, f"rules.{k}", by_id, problems)
        if len(problems) == before:
            rules.append(rule)

    frozen_groups = tuple(groups)
    frozen_rules = tuple(rules)
    return ProductModel(
        product_id=product_id,
        name=name,
        currency=currency,
        base_price=base_price,
        version=version,
        groups=frozen_groups,
        rules=frozen_rules,
        problems=tuple(problems),
        group_index=group_index,
        compiled=CompiledModel(frozen_groups, frozen_rules),
    )


def _group(raw: Any, where: str, problems: list[ModelProblem]) -> Group:
    obj = _object(raw, where)
    kind = obj.get("kind")
    if kind not in GROUP_KINDS:
        raise ModelError(f"{where}.kind", f"must be one of {', '.join(GROUP_KINDS)}")
    _no_unknown_keys(obj, _GROUP_KEYS[kind], where)
    gid = _id(obj.get("id"), f"{where}.id")
    name = _name(obj.get("name"), f"{where}.name")
    required = _bool(obj.get("required", False), f"{where}.required")
    if "description" in obj:
        _text(obj["description"], f"{where}.description", 2000)

    if kind in ("single", "multi"):
        raw_options = _list(obj.get("options"), f"{where}.options", 1, MAX_OPTIONS_PER_GROUP)
        options: list[Option] = []
        seen: set[str] = set()
        for j, raw_option in enumerate(raw_options):
            option = _option(raw_option, f"{where}.options.{j}")
            if option.id in seen:
                problems.append(
                    ModelProblem(
                        f"{where}.options.{j}.id", f"duplicate option id '{option.id}'", "duplicate_id"
                    )
                )
                continue
            seen.add(option.id)
            options.append(option)
        if kind == "single":
            return Group(gid, name, kind, required, tuple(options))
        count = len(options)
        min_selected = _int(obj.get("min", 0), f"{where}.min", 0, count)
        max_selected = _int(obj.get("max", count), f"{where}.max", 1, count)
        if required and min_selected == 0:
            min_selected = 1  # "required" on a multi group means at least one option
        if min_selected > max_selected:
            raise ModelError(f"{where}.min", "must not exceed max (required multi groups need max >= 1)")
        return Group(gid, name, kind, required, tuple(options), min_selected, max_selected)

    price = _int(obj.get("price", 0), f"{where}.price", -MAX_PRICE, MAX_PRICE)
    if kind == "text":
        max_length = _int(obj.get("max_length"), f"{where}.max_length", 1, MAX_TEXT_LENGTH)
        pattern = None
        if obj.get("pattern") is not None:
            source = _text(obj["pattern"], f"{where}.pattern", 500)
            try:
                pattern = re.compile(source)
            except re.error as exc:
                raise ModelError(f"{where}.pattern", f"is not a valid regular expression ({exc})") from None
        return Group(gid, name, kind, required, max_length=max_length, pattern=pattern, price=price)

    low = parse_decimal(obj.get("min"), f"{where}.min")
    high = parse_decimal(obj.get("max"), f"{where}.max")
    step = parse_decimal(obj.get("step", 1), f"{where}.step")
    if step <= 0:
        raise ModelError(f"{where}.step", "must be positive")
    if high < low:
        raise ModelError(f"{where}.max", "must not be below min")
    span = (high - low) / step
    if span != span.to_integral_value():
        raise ModelError(f"{where}.max", "max - min must be a whole number of steps")
    unit = None if obj.get("unit") is None else _text(obj["unit"], f"{where}.unit", 20)
    spec = NumberSpec(low, high, step, None, unit)
    if obj.get("default") is not None:
        default = parse_decimal(obj["default"], f"{where}.default")
        if spec.index(default) is None:
            raise ModelError(f"{where}.default", "must be a value of the min/max/step grid")
        spec = NumberSpec(low, high, step, default, unit)
    return Group(gid, name, kind, required, price=price, number=spec)


def _option(raw: Any, where: str) -> Option:
    obj = _object(raw, where)
    _no_unknown_keys(obj, _OPTION_KEYS, where)
    if "description" in obj:
        _text(obj["description"], f"{where}.description", 2000)
    return Option(
        id=_id(obj.get("id"), f"{where}.id"),
        name=_name(obj.get("name"), f"{where}.name"),
        price=_int(obj.get("price", 0), f"{where}.price", -MAX_PRICE, MAX_PRICE),
        default=_bool(obj.get("default", False), f"{where}.default"),
    )


def _rule(raw: Any, where: str, index: int) -> Rule:
    obj = _object(raw, where)
    kind = obj.get("kind")
    if kind not in RULE_KINDS:
        raise ModelError(f"{where}.kind", f"must be one of {', '.join(RULE_KINDS)}")
    _no_unknown_keys(obj, _RULE_KEYS[kind], where)
    rid = _id(obj.get("id"), f"{where}.id")
    message = _text(obj.get("message"), f"{where}.message", MAX_MESSAGE_CHARS)
    if kind == "conditional_price":
        conditions = _terms(obj.get("if", []), f"{where}.if", allow_empty=True)
        target = _term(obj.get("target"), f"{where}.target")
        price = _int(obj.get("price"), f"{where}.price", -MAX_PRICE, MAX_PRICE)
        return Rule(rid, kind, message, conditions, (), target, price, index)
    if "if" not in obj:
        raise ModelError(f"{where}.if", "is required")
    if "then" not in obj:
        raise ModelError(f"{where}.then", "is required")
    conditions = _terms(obj["if"], f"{where}.if", allow_empty=False)
    then = _terms(obj["then"], f"{where}.then", allow_empty=False)
    return Rule(rid, kind, message, conditions, then, None, 0, index)


def _terms(raw: Any, where: str, allow_empty: bool) -> tuple[Term, ...]:
    if isinstance(raw, Mapping):
        return (_term(raw, where),)
    items = _list(raw, where, 0 if allow_empty else 1, MAX_TERMS_PER_LIST)
    return tuple(_term(item, f"{where}.{i}") for i, item in enumerate(items))


def _term(raw: Any, where: str) -> Term:
    obj = _object(raw, where)
    _no_unknown_keys(obj, _TERM_KEYS, where)
    group = _id(obj.get("group"), f"{where}.group")
    if "option" in obj and "options" in obj:
        raise ModelError(f"{where}.options", "give either option or options, not both")
    options: tuple[str, ...] | None = None
    if "option" in obj:
        options = (_id(obj["option"], f"{where}.option"),)
    elif "options" in obj:
        items = _list(obj["options"], f"{where}.options", 1, MAX_OPTIONS_PER_GROUP)
        options = tuple(_id(item, f"{where}.options.{i}") for i, item in enumerate(items))
        if len(set(options)) != len(options):
            raise ModelError(f"{where}.options", "lists an option twice")
    low = None if obj.get("min") is None else parse_decimal(obj["min"], f"{where}.min")
    high = None if obj.get("max") is None else parse_decimal(obj["max"], f"{where}.max")
    if options is not None and (low is not None or high is not None):
        raise ModelError(f"{where}.min", "a term names options or a number range, not both")
    if low is not None and high is not None and high < low:
        raise ModelError(f"{where}.max", "must not be below min")
    return Term(group, options, low, high)


def _check_rule_references(
    rule: Rule, where: str, groups: Mapping[str, Group], problems: list[ModelProblem]
) -> None:
    """Record (not raise) every reference of `rule` that does not resolve against the model."""
    located: list[tuple[str, Term]] = []
    for i, term in enumerate(rule.conditions):
        located.append((f"{where}.if.{i}", term))
    for i, term in enumerate(rule.then):
        located.append((f"{where}.then.{i}", term))
    if rule.target is not None:
        located.append((f"{where}.target", rule.target))
    for path, term in located:
        group = groups.get(term.group)
        if group is None:
            problems.append(
                ModelProblem(f"{path}.group", f"unknown group '{term.group}'", "unknown_reference")
            )
            continue
        if term.options is not None:
            if group.kind not in ("single", "multi"):
                problems.append(
                    ModelProblem(f"{path}.options", f"group '{group.id}' has no options", "unknown_reference")
                )
                continue
            known = {o.id for o in group.options}
            for j, oid in enumerate(term.options):
                if oid not in known:
                    problems.append(
                        ModelProblem(
                            f"{path}.options.{j}",
                            f"unknown option '{oid}' in group '{group.id}'",
                            "unknown_reference",
                        )
                    )
        if term.min is not None or term.max is not None:
            if group.kind != "number" or group.number is None:
                problems.append(
                    ModelProblem(
                        f"{path}.min", f"group '{group.id}' is not a number group", "unknown_reference"
                    )
                )
            elif not _range_has_value(group.number, term.min, term.max):
                problems.append(
                    ModelProblem(
                        f"{path}.min", "the range contains no value of the group's grid", "empty_range"
                    )
                )
    if rule.kind == "conditional_price" and rule.target is not None:
        target = rule.target
        group = groups.get(target.group)
        if (
            group is not None
            and group.kind in ("single", "multi")
            and (target.options is None or len(target.options) != 1)
        ):
            problems.append(
                ModelProblem(
                    f"{where}.target", "must name exactly one option of a single or multi group", "bad_target"
                )
            )
    if rule.kind == "conditional_requirement":
        for i, term in enumerate(rule.then):
            group = groups.get(term.group)
            if group is not None and group.kind == "text" and term.options is not None:
                problems.append(
                    ModelProblem(f"{where}.then.{i}", "text groups have no options", "bad_target")
                )


def _range_has_value(spec: NumberSpec, low: Decimal | None, high: Decimal | None) -> bool:
    lo, hi = range_indexes(spec, low, high)
    return lo <= hi


def range_indexes(spec: NumberSpec, low: Decimal | None, high: Decimal | None) -> tuple[int, int]:
    """Grid indexes [lo, hi] covered by the inclusive range [low, high] (lo > hi when none)."""
    last = spec.count - 1
    lo = 0
    if low is not None and low > spec.min:
        q = (low - spec.min) / spec.step
        lo = int(q.to_integral_value(rounding="ROUND_CEILING"))
    hi = last
    if high is not None and high < spec.max:
        q = (high - spec.min) / spec.step
        hi = int(q.to_integral_value(rounding="ROUND_FLOOR"))
    return max(lo, 0), min(hi, last)


# --------------------------------------------------------------------------------------------------
# Shape helpers


def _object(raw: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ModelError(where, "must be an object")
    return raw


def _list(raw: Any, where: str, low: int, high: int) -> Sequence[Any]:
    if not isinstance(raw, (list, tuple)):
        raise ModelError(where, "must be a list")
    if len(raw) < low:
        raise ModelError(where, f"must hold at least {low} item(s)")
    if len(raw) > high:
        raise ModelError(where, f"must hold at most {high} items")
    return raw


def _no_unknown_keys(obj: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(str(k) for k in obj if k not in allowed)
    if unknown:
        raise ModelError(f"{where}.{unknown[0]}", "unknown field")


def _id(raw: Any, where: str) -> str:
    if not isinstance(raw, str) or not ID_PATTERN.fullmatch(raw):
        raise ModelError(where, "must be an id: letters, digits, '_' or '-', at most 64 characters")
    return raw


def _text(raw: Any, where: str, limit: int) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ModelError(where, "must be a non-empty string")
    if len(raw) > limit:
        raise ModelError(where, f"must be at most {limit} characters")
    return raw


def _name(raw: Any, where: str) -> str:
    text = _text(raw, where, MAX_NAME_CHARS)
    bad = check_free_text(text)
    if bad:
        raise ModelError(where, bad)
    return text


def _int(raw: Any, where: str, low: int, high: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ModelError(where, "must be an integer")
    if raw < low or raw > high:
        raise ModelError(where, f"must be between {low} and {high}")
    return raw


def _bool(raw: Any, where: str) -> bool:
    if not isinstance(raw, bool):
        raise ModelError(where, "must be true or false")
    return raw
