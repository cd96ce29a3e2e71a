"""Loyalty errors. Each says what the caller should do: retry later, refuse, or ignore."""

from __future__ import annotations

from ecrm.platform.errors import AppError, Conflict


class NotAMember(Conflict):
    """The customer has no loyalty account.

    Services ignore order events for non-members; the API answers 409.
    """

    title, type_slug = "Not a loyalty member", "not-a-member"


class NotReady(Conflict):
    """An order event arrived before the order's earning was booked (queues do not keep order).

    Retryable: the worker leaves the message for redelivery; it succeeds once the earn is applied.
    """

    title, type_slug = "Order points not booked yet", "loyalty-not-ready"


class InsufficientPoints(Conflict):
    """A redemption costs more than the available points (or the balance is negative)."""

    title, type_slug = "Not enough points", "insufficient-points"


class TooManyLots(Conflict):
    """One transaction would have to touch more lots than DynamoDB allows in a transaction (100 items).

    Only a customer with dozens of tiny open lots spending them all at once can hit it; not retryable.
    """

    title, type_slug = "Too many point lots for one transaction", "loyalty-too-many-lots"


class InconsistentAccount(AppError):
    """The lots read do not add up to the balance item (an incomplete Query page, or counters edited by hand
    in the console). Nothing is written: deciding on such a read would make the ledger lie."""

    status, title, type_slug = 500, "Loyalty account inconsistent", "loyalty-inconsistent"
