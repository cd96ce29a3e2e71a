"""One-click unsubscribe (RFC 8058): signed links in List-Unsubscribe, an idempotent POST that records the
opt-out on the member profile and as a marketing-only suppression (`SUPPRESS#<email>` / `MARKETING`), which
never blocks transactional mail (order updates, replies to the customer's own questions)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from ecrm.platform import aws, clock, ddb
from ecrm.platform.errors import NotFound, ValidationFailed
from ecrm.platform.settings import env, table_name

VERSION = "u1"
MARKETING_SK = "MARKETING"


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(email: str) -> str:
    secret = env("UNSUBSCRIBE_LINK_SECRET").encode()
    return _b64e(hmac.new(secret, f"{VERSION}|{email}".encode(), hashlib.sha256).digest()[:18])


def make_token(email: str) -> str:
    """A token naming the address, signed so nobody can unsubscribe someone else."""
    email = email.strip().lower()
    return f"{VERSION}.{_b64e(email.encode())}.{_mac(email)}"


def read_token(token: str) -> str:
    """The address in a valid token; NotFound for anything else (no oracle on which part was wrong)."""
    try:
        version, payload, mac = (token or "").split(".")
        email = _b64d(payload).decode()
    except (ValueError, UnicodeDecodeError) as err:
        raise NotFound("unknown unsubscribe link", field="token") from err
    if version != VERSION or not hmac.compare_digest(mac, _mac(email)):
        raise NotFound("unknown unsubscribe link", field="token")
    return email


def unsubscribe_url(email: str) -> str:
    """The HTTPS one-click link for List-Unsubscribe."""
    return f"{env('PUBLIC_BASE_URL').rstrip('/')}/unsubscribe?token={make_token(email)}"


def opt_out(token: str | None, source: str) -> dict[str, Any]:
    """Record the opt-out (idempotent: the first time is kept)."""
    if not token:
        raise ValidationFailed("token is required", field="token")
    email = read_token(token)
    now = clock.iso(clock.now())
    db = aws.dynamodb()
    try:
        db.put_item(
            TableName=table_name(),
            Item=ddb.to_item(
                {
                    "pk": f"SUPPRESS#{email}",
                    "sk": MARKETING_SK,
                    "type": "MARKETING_OPTOUT",
                    "email": email,
                    "reason": "unsubscribed",
                    "source": source,
                    "at": now,
                }
            ),
            ConditionExpression="attribute_not_exists(pk)",
        )
    except Exception as err:
        if not ddb.is_condition_failure(err):
            raise
    resp = db.get_item(TableName=table_name(), Key=ddb.key(f"EMAIL#{email}", "EMAIL"))
    customer_id = (ddb.from_item(resp.get("Item")) or {}).get("customer_id")
    if customer_id:
        try:
            db.update_item(
                TableName=table_name(),
                Key=ddb.key(f"CUSTOMER#{customer_id}", "PROFILE"),
                UpdateExpression="SET marketing_consent = :f, marketing_opt_out_at = if_not_exists("
                "marketing_opt_out_at, :now)",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=ddb.values({":f": False, ":now": now}),
            )
        except Exception as err:  # no profile (yet): the suppression item is enough
            if not ddb.is_condition_failure(err):
                raise
    return {"unsubscribed": True}


def opted_out(email: str) -> bool:
    """True if the address unsubscribed from marketing (one GetItem)."""
    resp = aws.dynamodb().get_item(
        TableName=table_name(), Key=ddb.key(f"SUPPRESS#{email.strip().lower()}", MARKETING_SK)
    )
    return "Item" in resp
