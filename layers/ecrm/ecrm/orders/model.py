"""Pure order model: place-order validation, server-side pricing, timeline entries, email kinds.

No I/O and no clock reads: services pass catalogue prices and `now` in. Every validation failure is a
`ValidationFailed` naming the field by dotted path (`lines.3.quantity`, `shipping_address.country`), which
the API renders as RFC 9457 problem+json.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ecrm.orders import lifecycle
from ecrm.platform.clock import iso
from ecrm.platform.errors import ValidationFailed
from ecrm.platform.money import SUPPORTED_CURRENCIES, Money

MAX_LINES = 50
MAX_QUANTITY = 99
MAX_NAME_CHARS = 100
MAX_EMAIL_CHARS = 254  # RFC 5321 path limit minus the angle brackets
MAX_LOCAL_PART_CHARS = 64
MAX_NOTE_CHARS = 500

SKU_PATTERN = re.compile(r"[A-Z0-9-]{1,40}")
# Configuration ids are content hashes minted by the configurator; accept any key-safe token.
CONFIGURATION_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")

# Practical, not RFC 5322: dot-atom local part, LDH domain labels, alphabetic (or punycode) TLD. Quoted
# local parts and IP-literal domains are legal but in practice only ever typos or probes. ASCII only:
# internationalised domains must be sent in punycode (xn--), which every mail system accepts.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_PATTERN = re.compile(
    rf"{_ATEXT}+(?:\.{_ATEXT}+)*@(?:{_LABEL}\.)+[A-Za-z][A-Za-z0-9-]{{0,61}}[A-Za-z0-9]"
)

_POSTAL_CODE = re.compile(r"[A-Z0-9][A-Z0-9 -]{0,15}")
_PHONE = re.compile(r"[0-9 ().-]{5,30}")
_CURRENCY = re.compile(r"[A-Z]{3}")

# ISO 3166-1 alpha-2, officially assigned codes (249; same set as tzdata's iso3166.tab). User-assigned
# codes such as XK are deliberately absent: add them here if the shop ships there and its carriers accept.
_ISO_ALPHA2 = (
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ "
    "BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM "
    "DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS "
    "GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN "
    "KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ "
    "MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM "
    "PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV "
    "SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI "
    "VN VU WF WS YE YT ZA ZM ZW"
)
ISO_COUNTRIES: frozenset[str] = frozenset(_ISO_ALPHA2.split())

# Who caused a timeline entry. `console` is an admin edit noticed on the stream rather than made via the API.
TIMELINE_SOURCES: frozenset[str] = frozenset({"customer", "admin", "carrier", "console", "system"})

# Status -> SES template name. Keys are exactly lifecycle.NOTIFY_STATUSES (a unit test holds them together).
EMAIL_KINDS: Mapping[str, str] = {
    lifecycle.PLACED: "order_confirmation",
    lifecycle.SHIPPED: "order_shipped",
    lifecycle.OUT_FOR_DELIVERY: "order_out_for_delivery",
    lifecycle.DELIVERED: "order_delivered",
    lifecycle.DELIVERY_EXCEPTION: "order_delivery_problem",
    lifecycle.CANCELLED: "order_cancelled",
    lifecycle.RETURNED: "order_returned",
}

_PLACE_ORDER_FIELDS = frozenset({"lines", "customer", "shipping_address", "marketing_consent", "currency"})
_LINE_FIELDS = frozenset({"sku", "configuration_id", "quantity"})
_CUSTOMER_FIELDS = frozenset({"email", "name"})
_ADDRESS_FIELDS = frozenset({"name", "line1", "line2", "city", "postal_code", "country", "phone"})
_PRICE_LIKE = frozenset({"price", "unit_price", "amount", "total", "subtotal", "price_minor", "discount"})
# Bidirectional overrides and isolates: invisible, and used to make a name read differently in the console.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One requested line: exactly one of `sku` / `configuration_id`, and a quantity."""

    sku: str | None
    configuration_id: str | None
    quantity: int

    @property
    def key(self) -> str:
        """The catalogue key pricing this line (the SKU or the configuration id)."""
        return self.sku if self.sku is not None else str(self.configuration_id)

    @property
    def key_field(self) -> str:
        """Which request field `key` came from, for error paths."""
        return "sku" if self.sku is not None else "configuration_id"


@dataclass(frozen=True, slots=True)
class CustomerInfo:
    """The buyer: normalised email (domain lower-cased) and display name."""

    email: str
    name: str


@dataclass(frozen=True, slots=True)
class ShippingAddress:
    """Where the parcel goes. `country` is ISO 3166-1 alpha-2, upper case."""

    name: str
    line1: str
    line2: str | None
    city: str
    postal_code: str
    country: str
    phone: str | None


@dataclass(frozen=True, slots=True)
class PlaceOrderRequest:
    """A validated, normalised place-order request. Carries no prices: those come from the catalogue."""

    lines: tuple[OrderLine, ...]
    customer: CustomerInfo
    shipping_address: ShippingAddress
    marketing_consent: bool
    currency: str | None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON shape (None values kept; the DynamoDB helpers drop them)."""
        return {
            "lines": [
                {"sku": ln.sku, "configuration_id": ln.configuration_id, "quantity": ln.quantity}
                for ln in self.lines
            ],
            "customer": {"email": self.customer.email, "name": self.customer.name},
            "shipping_address": {
                "name": self.shipping_address.name,
                "line1": self.shipping_address.line1,
                "line2": self.shipping_address.line2,
                "city": self.shipping_address.city,
                "postal_code": self.shipping_address.postal_code,
                "country": self.shipping_address.country,
                "phone": self.shipping_address.phone,
            },
            "marketing_consent": self.marketing_consent,
            "currency": self.currency,
        }


@dataclass(frozen=True, slots=True)
class PricedLine:
    """A line priced from the catalogue, in integer minor units."""

    sku: str | None
    configuration_id: str | None
    name: str
    quantity: int
    unit_price_minor: int
    line_total_minor: int


@dataclass(frozen=True, slots=True)
class PricedOrder:
    """Server-side totals. No shipping, tax or discounts yet, so `total_minor == subtotal_minor`."""

    currency: str
    lines: tuple[PricedLine, ...]
    subtotal_minor: int
    total_minor: int

    def to_dict(self) -> dict[str, Any]:
        """JSON shape for the API and the order item (amounts via `Money.to_dict`)."""
        return {
            "currency": self.currency,
            "lines": [
                {
                    "sku": ln.sku,
                    "configuration_id": ln.configuration_id,
                    "name": ln.name,
                    "quantity": ln.quantity,
                    "unit_price": Money(ln.unit_price_minor, self.currency).to_dict(),
                    "line_total": Money(ln.line_total_minor, self.currency).to_dict(),
                }
                for ln in self.lines
            ],
            "subtotal": Money(self.subtotal_minor, self.currency).to_dict(),
            "total": Money(self.total_minor, self.currency).to_dict(),
        }


# --- field helpers ----------------------------------------------------------------------------------------


def _path(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _object(value: Any, field: str, allowed: frozenset[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationFailed("must be an object", field)
    for key in value:
        if key not in allowed:
            # Unknown fields are refused, not ignored: a storefront sending "price" must learn at once
            # that it is not used, rather than believe its price was charged.
            detail = (
                "is not accepted; prices come from the catalogue"
                if key in _PRICE_LIKE
                else "is not a known field"
            )
            raise ValidationFailed(detail, _path(field, str(key)))
    return value


def _text(value: Any, field: str, *, max_chars: int, required: bool = True) -> str | None:
    """A trimmed single-line human text: no control, line-break or bidi-override characters."""
    if value is None or (not required and value == ""):
        if required:
            raise ValidationFailed("is required", field)
        return None
    if not isinstance(value, str):
        raise ValidationFailed("must be a string", field)
    value = value.strip()
    if not value:
        if required:
            raise ValidationFailed("must not be empty", field)
        return None
    if len(value) > max_chars:
        raise ValidationFailed(f"must be at most {max_chars} characters", field)
    for ch in value:
        # CR/LF would let a name inject mail headers; other controls corrupt labels and CSV exports.
        if unicodedata.category(ch) in {"Cc", "Zl", "Zp"} or ch in _BIDI_CONTROLS:
            raise ValidationFailed("must not contain control characters", field)
    return value


def normalise_email(value: Any, field: str = "email") -> str:
    """Validate an email address and return it stripped, with the domain lower-cased.

    The local part keeps its case: RFC 5321 lets a mailbox be case-sensitive, so we deliver to what the
    customer typed. Uniqueness keys (`EMAIL#...`) may fold further; that is the customers context's call.
    """
    if value is None:
        raise ValidationFailed("is required", field)
    if not isinstance(value, str):
        raise ValidationFailed("must be a string", field)
    value = value.strip()
    if not value:
        raise ValidationFailed("must not be empty", field)
    if len(value) > MAX_EMAIL_CHARS:
        raise ValidationFailed(f"must be at most {MAX_EMAIL_CHARS} characters", field)
    if not EMAIL_PATTERN.fullmatch(value):
        raise ValidationFailed("is not a valid email address", field)
    local, _, domain = value.rpartition("@")
    if len(local) > MAX_LOCAL_PART_CHARS:
        raise ValidationFailed(f"local part must be at most {MAX_LOCAL_PART_CHARS} characters", field)
    return f"{local}@{domain.lower()}"


def _quantity(value: Any, field: str) -> int:
    # bool is an int subclass and 2.0 is "integral": both are client bugs, not quantities.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed("must be an integer", field)
    if not 1 <= value <= MAX_QUANTITY:
        raise ValidationFailed(f"must be between 1 and {MAX_QUANTITY}", field)
    return value


def _line(value: Any, field: str) -> OrderLine:
    doc = _object(value, field, _LINE_FIELDS)
    sku, config_id = doc.get("sku"), doc.get("configuration_id")
    if (sku is None) == (config_id is None):
        raise ValidationFailed("must have exactly one of sku or configuration_id", _path(field, "sku"))
    if sku is not None:
        if not isinstance(sku, str) or not SKU_PATTERN.fullmatch(sku):
            raise ValidationFailed("must be 1-40 characters A-Z, 0-9 or -", _path(field, "sku"))
    elif not isinstance(config_id, str) or not CONFIGURATION_ID_PATTERN.fullmatch(config_id):
        raise ValidationFailed(
            "must be 1-64 characters A-Z, a-z, 0-9, _ or -", _path(field, "configuration_id")
        )
    if "quantity" not in doc:
        raise ValidationFailed("is required", _path(field, "quantity"))
    return OrderLine(
        sku=sku, configuration_id=config_id, quantity=_quantity(doc["quantity"], _path(field, "quantity"))
    )


def _lines(value: Any) -> tuple[OrderLine, ...]:
    if value is None:
        raise ValidationFailed("is required", "lines")
    if not isinstance(value, list):
        raise ValidationFailed("must be a list", "lines")
    if not 1 <= len(value) <= MAX_LINES:
        raise ValidationFailed(f"must have between 1 and {MAX_LINES} lines", "lines")
    lines: list[OrderLine] = []
    seen: set[tuple[str, str]] = set()
    for index, raw in enumerate(value):
        line = _line(raw, f"lines.{index}")
        # One line per item keeps stock, loyalty and returns per-line simple; merging could exceed the cap.
        if (line.key_field, line.key) in seen:
            raise ValidationFailed(
                f"duplicate {line.key_field}; put the whole quantity on one line",
                f"lines.{index}.{line.key_field}",
            )
        seen.add((line.key_field, line.key))
        lines.append(line)
    return tuple(lines)


def _customer(value: Any) -> CustomerInfo:
    if value is None:
        raise ValidationFailed("is required", "customer")
    doc = _object(value, "customer", _CUSTOMER_FIELDS)
    return CustomerInfo(
        email=normalise_email(doc.get("email"), "customer.email"),
        name=str(_text(doc.get("name"), "customer.name", max_chars=MAX_NAME_CHARS)),
    )


def _address(value: Any) -> ShippingAddress:
    field = "shipping_address"
    if value is None:
        raise ValidationFailed("is required", field)
    doc = _object(value, field, _ADDRESS_FIELDS)

    postal_code = str(_text(doc.get("postal_code"), f"{field}.postal_code", max_chars=16)).upper()
    if not _POSTAL_CODE.fullmatch(postal_code):
        raise ValidationFailed("must be letters, digits, spaces or -", f"{field}.postal_code")

    country = str(_text(doc.get("country"), f"{field}.country", max_chars=2)).upper()
    if country not in ISO_COUNTRIES:
        raise ValidationFailed("must be an ISO 3166-1 alpha-2 country code", f"{field}.country")

    phone = _text(doc.get("phone"), f"{field}.phone", max_chars=30, required=False)
    if phone is not None:
        digits = sum(ch.isdigit() for ch in phone)
        # E.164 numbers have at most 15 digits; fewer than 5 is never a reachable phone.
        if not _PHONE.fullmatch(phone.removeprefix("+")) or not 5 <= digits <= 15:
            raise ValidationFailed("must be a phone number (digits, spaces, + ( ) . -)", f"{field}.phone")

    return ShippingAddress(
        name=str(_text(doc.get("name"), f"{field}.name", max_chars=MAX_NAME_CHARS)),
        line1=str(_text(doc.get("line1"), f"{field}.line1", max_chars=100)),
        line2=_text(doc.get("line2"), f"{field}.line2", max_chars=100, required=False),
        city=str(_text(doc.get("city"), f"{field}.city", max_chars=100)),
        postal_code=postal_code,
        country=country,
        phone=phone,
    )


def _currency(value: Any, field: str = "currency") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise ValidationFailed("must be an ISO 4217 code in upper case, like EUR", field)
    if value not in SUPPORTED_CURRENCIES:
        raise ValidationFailed("is not a currency this shop sells in", field)
    return value


# --- public API ---------------------------------------------------------------------------------------------


def validate_place_order(doc: Any) -> PlaceOrderRequest:
    """Validate and normalise a place-order request body; raise `ValidationFailed(detail, field)`.

    Fields are checked in document order (lines, customer, shipping address, consent, currency) and the
    first failure is reported, with a dotted path such as `lines.2.quantity`. Unknown fields are refused.
    """
    body = _object(doc, "", _PLACE_ORDER_FIELDS) if isinstance(doc, dict) else None
    if body is None:
        raise ValidationFailed("request body must be a JSON object", "body")
    consent = body.get("marketing_consent", False)
    lines = _lines(body.get("lines"))
    customer = _customer(body.get("customer"))
    address = _address(body.get("shipping_address"))
    # Consent must be an explicit true (GDPR): absent means no, and "yes"/1 are client bugs, not consent.
    if consent is None:
        consent = False
    if not isinstance(consent, bool):
        raise ValidationFailed("must be true or false", "marketing_consent")
    return PlaceOrderRequest(
        lines=lines,
        customer=customer,
        shipping_address=address,
        marketing_consent=consent,
        currency=_currency(body.get("currency")),
    )


def _catalogue_entry(key: str, entry: Any) -> tuple[int, str, str]:
    # A malformed catalogue entry is our defect, not the customer's: ValueError -> 500 and an alarm.
    try:
        price, currency, name = entry
    except (TypeError, ValueError):
        raise ValueError(f"catalogue price for {key!r} must be (price_minor, currency, name)") from None
    if isinstance(price, bool) or not isinstance(price, int) or price < 0:
        raise ValueError(f"catalogue price for {key!r} must be a non-negative int of minor units")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise ValueError(f"catalogue currency for {key!r} must be an ISO 4217 code")
    return price, currency, str(name)


def price_order(
    lines: Sequence[OrderLine],
    catalogue_prices: Mapping[str, tuple[int, str, str]],
    currency: str | None = None,
) -> PricedOrder:
    """Price validated lines from the catalogue only; client-sent prices never reach this function.

    `catalogue_prices` maps a SKU (or a configuration id, priced by the configurator) to
    `(price_minor, currency, name)`. A line whose key is missing raises `ValidationFailed` at
    `lines.N.sku` / `lines.N.configuration_id`. All lines must share one currency; when the request named a
    `currency`, it must be the catalogue's (`ValidationFailed` at `currency`): we never convert silently.
    """
    if not lines:
        raise ValidationFailed("must have at least one line", "lines")
    priced: list[PricedLine] = []
    order_currency = currency
    for index, line in enumerate(lines):
        field = f"lines.{index}.{line.key_field}"
        if line.key not in catalogue_prices:
            raise ValidationFailed(f"unknown {line.key_field} {line.key!r}", field)
        unit, line_currency, name = _catalogue_entry(line.key, catalogue_prices[line.key])
        if order_currency is None:
            order_currency = line_currency
        elif line_currency != order_currency:
            if index == 0:
                raise ValidationFailed(
                    f"items are priced in {line_currency}, not {order_currency}", "currency"
                )
            raise ValidationFailed(
                f"is priced in {line_currency}, but the order is in {order_currency}; order it separately",
                field,
            )
        priced.append(
            PricedLine(
                sku=line.sku,
                configuration_id=line.configuration_id,
                name=name,
                quantity=line.quantity,
                unit_price_minor=unit,
                line_total_minor=unit * line.quantity,
            )
        )
    subtotal = sum(p.line_total_minor for p in priced)
    return PricedOrder(
        currency=str(order_currency), lines=tuple(priced), subtotal_minor=subtotal, total_minor=subtotal
    )


def timeline_entry(status: str | None, source: str, now: datetime, note: str | None = None) -> dict[str, Any]:
    """One entry of an order's timeline: `{"status", "source", "at", "note"}`.

    `status` None records a note-only entry (a carrier checkpoint that implies no status, an admin
    remark). `at` is UTC ISO-8601 with milliseconds and Z, so entries sort as strings. The note is folded
    to one line and capped at 500 characters: it is shown to customers and admins, never trusted.
    """
    if status is not None and status not in lifecycle.ORDER_STATUSES:
        raise ValueError(f"unknown order status {status!r}")
    if source not in TIMELINE_SOURCES:
        raise ValueError(f"unknown timeline source {source!r}; expected one of {sorted(TIMELINE_SOURCES)}")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    clean_note: str | None = None
    if note is not None:
        folded = "".join(" " if unicodedata.category(ch) in {"Cc", "Zl", "Zp"} else ch for ch in note)
        folded = " ".join(folded.split())
        if len(folded) > MAX_NOTE_CHARS:
            folded = folded[: MAX_NOTE_CHARS - 1] + "…"
        clean_note = folded or None
    return {"status": status, "source": source, "at": iso(now), "note": clean_note}


def email_kind_for(status: str) -> str | None:
    """The email template sent when an order enters `status`, or None when that status is silent.

    Unknown statuses return None: a typo in a console edit must never email a customer.
    """
    return EMAIL_KINDS.get(status)
