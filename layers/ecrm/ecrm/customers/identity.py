"""Who is calling: a customer from verified token claims, never from the request body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ecrm.platform.errors import Unauthorized


@dataclass(frozen=True, slots=True)
class Customer:
    """An authenticated customer (Cognito `sub` is the customer id)."""

    customer_id: str
    email: str
    name: str


def from_claims(claims: dict[str, Any] | None) -> Customer:
    """The customer of a request authorised by the Cognito authorizer (or its local stand-in)."""
    if not claims or not claims.get("sub") or not claims.get("email"):
        raise Unauthorized("a customer token is required")
    email = str(claims["email"]).strip().lower()
    return Customer(
        customer_id=str(claims["sub"]), email=email, name=str(claims.get("name") or email.split("@")[0])
    )


def normalise_email(value: str) -> str:
    """The form we key customers by: trimmed and lower-cased (mail providers ignore local-part case)."""
    return value.strip().lower()
