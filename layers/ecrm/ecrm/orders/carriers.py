"""Carrier webhooks: signature check, payload validation and checkpoint -> order status mapping (pure).

The wire format is the "generic carrier format" of docs/orders.md: one JSON object per checkpoint, tagged with
AfterShip's delivery statuses (tags) and optional sub-statuses (subtags), so an AfterShip webhook needs only a
field rename and a home-grown carrier integration has a documented vocabulary to aim at.

Security model: the body is authenticated with HMAC-SHA256 in a Stripe-like header (`t=<unix>,v1=<hex>`).
The timestamp window bounds how long a captured request stays replayable; within the window, replays are
absorbed by the store deduplicating on `event_id`, and by `NoChange` for a status the order already has.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ecrm.orders import lifecycle
from ecrm.platform.clock import iso
from ecrm.platform.errors import Unauthorized, ValidationFailed

SIGNATURE_HEADER = "X-Ecrm-Signature"
SIGNATURE_SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300
MIN_SECRET_BYTES = 16
_MAX_HEADER_CHARS = 2048  # room for several v1 values while a sender rotates its secret
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_UNIX_TS = re.compile(r"[0-9]{1,12}")

# AfterShip's nine delivery statuses ("tags"), the vocabulary of the generic format.
KNOWN_TAGS: tuple[str, ...] = (
    "Pending",
    "InfoReceived",
    "InTransit",
    "OutForDelivery",
    "AttemptFail",
    "Delivered",
    "AvailableForPickup",
    "Exception",
    "Expired",
)

# Tag -> our status. None means "no news about the parcel": record the checkpoint, change nothing.
TAG_STATUS: dict[str, str | None] = {
    "Pending": None,  # tracking number registered, carrier has nothing yet
    "InfoReceived": lifecycle.SHIPPED,  # label created / shipment data sent: our definition of shipped
    "InTransit": lifecycle.IN_TRANSIT,
    "OutForDelivery": lifecycle.OUT_FOR_DELIVERY,
    "AttemptFail": lifecycle.DELIVERY_EXCEPTION,
    "Delivered": lifecycle.DELIVERED,
    # Last leg, waiting for the recipient; the next step is "delivered" (picked up), as after a van run.
    "AvailableForPickup": lifecycle.OUT_FOR_DELIVERY,
    "Exception": lifecycle.DELIVERY_EXCEPTION,
    "Expired": None,  # no carrier update for 30 days: says nothing about where the parcel is
}

# Subtags whose meaning differs from their tag's. Every other subtag falls back to its tag.
SUBTAG_STATUS: dict[str, str | None] = {
    # A customs hold usually needs the recipient (documents, duties): keep it an exception.
    "Exception_004": lifecycle.DELIVERY_EXCEPTION,
    # Delayed by weather/volume: the parcel still moves and nobody can act, so no alarming email.
    "Exception_005": lifecycle.IN_TRANSIT,
    # On its way back: still an exception (it can sometimes be intercepted) until it arrives.
    "Exception_010": lifecycle.DELIVERY_EXCEPTION,
    # Back with the sender: the order is returned.
    "Exception_011": lifecycle.RETURNED,
}

_EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
# Public so the admin route that records a tracking number validates exactly as webhooks do.
CARRIER_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")  # after .lower()
TRACKING_NUMBER_PATTERN = re.compile(r"[A-Z0-9-]{4,64}")  # after normalise_tracking_number()
_CARRIER = CARRIER_PATTERN  # kept for existing callers; prefer the public names
_TRACKING = TRACKING_NUMBER_PATTERN
_MAX_LOCATION = 200
_MAX_MESSAGE = 500
_MAX_TIMESTAMP_CHARS = 40
_MIN_YEAR = 2000


class SignatureError(Unauthorized):
    """The webhook signature header is missing, malformed, wrong or outside the replay window (HTTP 401)."""


class CarrierEventError(ValidationFailed):
    """A carrier payload field is missing or invalid (HTTP 422 naming the field)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field} {reason}", field=field)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class CarrierEvent:
    """One validated carrier checkpoint.

    `checkpoint_code` is the subtag when the carrier sent one (e.g. `Exception_011`), else the tag.
    `occurred_at` is timezone-aware UTC. Free text (`location`, `description`) is sanitised, not trusted.
    """

    carrier: str
    tracking_number: str
    checkpoint_code: str
    occurred_at: datetime
    location: str | None
    description: str | None
    event_id: str

    @property
    def tag(self) -> str:
        """The AfterShip tag part of the checkpoint code."""
        return self.checkpoint_code.split("_", 1)[0]

    @property
    def status(self) -> str | None:
        """The order status this checkpoint implies, or None when it implies none."""
        return map_checkpoint(self.checkpoint_code)

    def to_dict(self) -> dict[str, Any]:
        """A JSON/DynamoDB-friendly shape (times as UTC ISO-8601 with Z; None values kept explicit)."""
        return {
            "event_id": self.event_id,
            "carrier": self.carrier,
            "tracking_number": self.tracking_number,
            "checkpoint_code": self.checkpoint_code,
            "occurred_at": iso(self.occurred_at),
            "location": self.location,
            "description": self.description,
        }


# --- signatures ---------------------------------------------------------------------------------------


def _check_secret(secret: bytes) -> None:
    if not isinstance(secret, bytes | bytearray) or len(secret) < MIN_SECRET_BYTES:
        # A short or empty key makes every signature forgeable: a deployment defect, not a caller error.
        raise ValueError(f"webhook secret must be at least {MIN_SECRET_BYTES} bytes")


def _unix(now: datetime) -> int:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return int(now.timestamp())


def _mac(secret: bytes, timestamp: str, body: bytes) -> str:
    return hmac.new(bytes(secret), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, body: bytes, now: datetime) -> str:
    """The signature header value for `body` at `now`: `t=<unix seconds>,v1=<hex HMAC-SHA256>`.

    For tests, the local stack and carrier-simulating tools; carriers implement the same scheme.
    """
    _check_secret(secret)
    timestamp = str(_unix(now))
    return f"t={timestamp},{SIGNATURE_SCHEME}={_mac(secret, timestamp, body)}"


def _parse_header(header_value: str) -> tuple[str, list[str]]:
    if not isinstance(header_value, str) or not header_value.strip():
        raise SignatureError("missing signature header")
    if len(header_value) > _MAX_HEADER_CHARS:
        raise SignatureError("signature header too long")
    timestamp: str | None = None
    candidates: list[str] = []
    for part in header_value.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError("malformed signature header")
        if key == "t":
            if timestamp is not None or not _UNIX_TS.fullmatch(value):
                raise SignatureError("malformed signature timestamp")
            timestamp = value
        elif key == SIGNATURE_SCHEME and _HEX64.fullmatch(value):
            # Anything but 64 hex chars can never match; compare_digest also needs ASCII input.
            candidates.append(value.lower())
        # Other schemes (v0, a future v2) are ignored so senders can add them without breaking us.
    if timestamp is None:
        raise SignatureError("signature header has no timestamp")
    if not candidates:
        raise SignatureError(f"signature header has no {SIGNATURE_SCHEME} signature")
    return timestamp, candidates


def verify_signature(
    secret: bytes, body: bytes, header_value: str, now: datetime, tolerance_s: int = DEFAULT_TOLERANCE_S
) -> None:
    """Check a webhook's signature header against the raw request body; raise `SignatureError` if bad.

    The MAC is HMAC-SHA256(secret, f"{t}.".encode() + body), hex, compared in constant time. Several `v1`
    values may be present (sender rotating its secret); one match suffices. The timestamp must lie within
    `tolerance_s` of `now` in either direction (clock skew cuts both ways), bounding replays. `body` must be
    the exact bytes received: re-serialised JSON does not verify.
    """
    _check_secret(secret)
    if tolerance_s < 0:
        raise ValueError("tolerance_s must not be negative")
    now_s = _unix(now)
    timestamp, candidates = _parse_header(header_value)
    expected = _mac(secret, timestamp, bytes(body))
    # Signature before timestamp: only a holder of the secret learns that its request was merely stale.
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise SignatureError("signature does not match")
    if abs(now_s - int(timestamp)) > tolerance_s:
        raise SignatureError("signature timestamp outside the tolerance window")


# --- payloads -----------------------------------------------------------------------------------------


def normalise_tracking_number(value: str) -> str:
    """Canonical form used in keys (`TRACKING#carrier#number`): no spaces, upper case.

    Carriers print numbers grouped with spaces ("1Z 999 AA1 01 2345 6784"); the admin route that records a
    tracking number must use this too, or webhooks will not find the order.
    """
    return "".join(value.split()).upper()


def _clean_text(value: str, limit: int) -> str | None:
    # Carrier free text is display-only: fold control characters and newlines into spaces rather than
    # reject the event (losing a "delivered" over a stray tab would be worse), then cap its length.
    cleaned = "".join(" " if unicodedata.category(ch) in {"Cc", "Zl", "Zp"} else ch for ch in value)
    cleaned = " ".join(cleaned.split())
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1] + "…"
    return cleaned or None


def _required_str(doc: dict[str, Any], field: str) -> str:
    value = doc.get(field)
    if value is None:
        raise CarrierEventError(field, "is required")
    if not isinstance(value, str):
        raise CarrierEventError(field, "must be a string")
    value = value.strip()
    if not value:
        raise CarrierEventError(field, "must not be empty")
    return value


def _optional_text(doc: dict[str, Any], field: str, limit: int) -> str | None:
    value = doc.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise CarrierEventError(field, "must be a string")
    return _clean_text(value, limit)


def _parse_occurred_at(value: str) -> datetime:
    if len(value) > _MAX_TIMESTAMP_CHARS:
        raise CarrierEventError("occurred_at", "is too long")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CarrierEventError("occurred_at", "must be an ISO-8601 timestamp") from None
    if parsed.tzinfo is None:
        # A local time without an offset could be any of 26 hours; guessing would misorder the timeline.
        raise CarrierEventError("occurred_at", "must include a UTC offset or Z")
    try:
        utc = parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 has no UTC representation
        raise CarrierEventError("occurred_at", "is out of range") from None
    # Parcels were not tracked by webhook before 2000; earlier years are placeholders or bugs, and
    # 4-digit years keep the stored ISO strings sortable.
    if utc.year < _MIN_YEAR:
        raise CarrierEventError("occurred_at", f"must not be before {_MIN_YEAR}")
    return utc


def parse_carrier_event(doc: dict[str, Any]) -> CarrierEvent:
    """Validate one generic-format carrier checkpoint; raise `CarrierEventError(field, reason)`.

    Identifiers are strict (they become keys); free text is sanitised. Unknown extra fields are ignored
    so carriers can send more than we read.
    """
    if not isinstance(doc, dict):
        raise CarrierEventError("body", "must be a JSON object")

    event_id = _required_str(doc, "event_id")
    if not _EVENT_ID.fullmatch(event_id):
        raise CarrierEventError("event_id", "must be 1-128 characters of A-Z a-z 0-9 . _ : -")

    carrier = _required_str(doc, "carrier").lower()
    if not _CARRIER.fullmatch(carrier):
        raise CarrierEventError("carrier", "must be a slug of 1-40 characters a-z 0-9 -")

    tracking_number = normalise_tracking_number(_required_str(doc, "tracking_number"))
    if not _TRACKING.fullmatch(tracking_number):
        raise CarrierEventError("tracking_number", "must be 4-64 characters A-Z 0-9 - (spaces are ignored)")

    tag = _required_str(doc, "tag")
    if tag not in TAG_STATUS:
        raise CarrierEventError("tag", f"is not an AfterShip tag; expected one of {', '.join(KNOWN_TAGS)}")

    checkpoint_code = tag
    subtag = doc.get("subtag")
    if subtag is not None and subtag != "":
        if not isinstance(subtag, str) or not re.fullmatch(rf"{tag}_[0-9]{{3}}", subtag.strip()):
            raise CarrierEventError("subtag", f"must look like {tag}_001 and belong to the tag")
        checkpoint_code = subtag.strip()

    occurred_at = _parse_occurred_at(_required_str(doc, "occurred_at"))

    return CarrierEvent(
        carrier=carrier,
        tracking_number=tracking_number,
        checkpoint_code=checkpoint_code,
        occurred_at=occurred_at,
        location=_optional_text(doc, "location", _MAX_LOCATION),
        description=_optional_text(doc, "message", _MAX_MESSAGE),
        event_id=event_id,
    )


def map_checkpoint(carrier_code: str) -> str | None:
    """The order status a checkpoint code implies: a subtag override, else its tag's status.

    Accepts a tag (`InTransit`) or a subtag (`Exception_011`). Returns None for checkpoints that carry no
    status news (Pending, Expired) and for codes we do not know, so a new carrier vocabulary is recorded in
    the timeline without ever moving an order by guesswork. See the table in docs/orders.md.
    """
    if carrier_code in SUBTAG_STATUS:
        return SUBTAG_STATUS[carrier_code]
    return TAG_STATUS.get(carrier_code.split("_", 1)[0])
