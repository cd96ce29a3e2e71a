"""Money as integer minor units plus an ISO 4217 code; never floats."""

from __future__ import annotations

from dataclasses import dataclass

# Minor-unit exponents that differ from 2 (ISO 4217); enough for the shops we serve.
_EXPONENTS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3, "OMR": 3, "TND": 3}
SUPPORTED_CURRENCIES = frozenset(
    {"EUR", "USD", "GBP", "THB", "CNY", "IRR", "JPY", "CHF", "SEK", "DKK", "NOK"}
)


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in minor units of one currency."""

    amount: int
    currency: str

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(self.amount + other.amount, self.currency)

    def times(self, quantity: int) -> Money:
        """This amount `quantity` times."""
        return Money(self.amount * quantity, self.currency)

    def to_dict(self) -> dict[str, object]:
        """JSON shape used by the API: minor units, currency, and a display string."""
        return {
            "amount": self.amount,
            "currency": self.currency,
            "display": format_money(self.amount, self.currency),
        }


def exponent(currency: str) -> int:
    """Number of minor-unit digits of a currency."""
    return _EXPONENTS.get(currency, 2)


def format_money(amount: int, currency: str) -> str:
    """`12345, EUR` -> `123.45 EUR` (locale-neutral; templates localise further)."""
    exp = exponent(currency)
    if exp == 0:
        return f"{amount} {currency}"
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**exp)
    return f"{sign}{whole}.{frac:0{exp}d} {currency}"
