"""The contact form: validated like an email header (it becomes one), rate limited per sender and per IP,
then the same pipeline as inbound mail (`inbox.process`)."""

from __future__ import annotations

import re
from typing import Any

from ecrm.mail.inbound import InboundMessage, is_valid_address
from ecrm.platform import aws, clock, ddb, ids
from ecrm.platform.errors import TooManyRequests, ValidationFailed
from ecrm.platform.settings import table_name

FIELDS = {"name": 100, "email": 254, "subject": 150, "message": 5000, "order_id": 40}
REQUIRED = ("name", "email", "subject", "message")
LIMITS = {"email": 5, "ip": 30}  # submissions per window
WINDOW_S = 3600
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029\u0085]")
_LINE_BREAK = re.compile(r"[\r\n]")
_MARKUP = re.compile(r"<\s*/?\s*[A-Za-z!][^>]*>|javascript\s*:", re.IGNORECASE)


def validate(doc: Any) -> dict[str, str]:
    """The form's fields, or ValidationFailed naming the first bad one."""
    if not isinstance(doc, dict):
        raise ValidationFailed("body must be a JSON object", field="body")
    unknown = sorted(set(doc) - set(FIELDS))
    if unknown:
        raise ValidationFailed(f"unknown field {unknown[0]}", field=unknown[0])
    out: dict[str, str] = {}
    for name, limit in FIELDS.items():
        value = doc.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if name in REQUIRED:
                raise ValidationFailed(f"{name} is required", field=name)
            continue
        if not isinstance(value, str):
            raise ValidationFailed("must be a string", field=name)
        value = value.strip()
        if len(value) > limit:
            raise ValidationFailed(f"at most {limit} characters", field=name)
        # Single-line fields become header material: no line breaks, ever (header injection).
        if name != "message" and _LINE_BREAK.search(value):
            raise ValidationFailed("must be a single line", field=name)
        if _CONTROL.search(value):
            raise ValidationFailed("contains control characters", field=name)
        if name != "email" and _MARKUP.search(value):
            raise ValidationFailed("HTML or script is not allowed; send plain text", field=name)
        out[name] = value
    email = out["email"].lower()
    if not is_valid_address(email):
        raise ValidationFailed("not a valid email address", field="email")
    out["email"] = email
    if "order_id" in out:
        from ecrm.mail.intents import normalize_order_id

        order_id = normalize_order_id(out["order_id"])
        if order_id is None:
            raise ValidationFailed("not an order number (ORD-XXXXXXXXXX)", field="order_id")
        out["order_id"] = order_id
    return out


def rate_limit(kind: str, value: str, limit: int, now_epoch: int) -> None:
    """Count one submission in the current window (UpdateItem ADD with TTL); 429 past the limit."""
    window = now_epoch // WINDOW_S
    resp = aws.dynamodb().update_item(
        TableName=table_name(),
        Key=ddb.key(f"RATE#contact#{kind}#{value}#{window}", "RATE"),
        UpdateExpression="ADD #n :one SET #t = if_not_exists(#t, :ttl), #y = :type",
        ExpressionAttributeNames={"#n": "count", "#t": "ttl", "#y": "type"},
        ExpressionAttributeValues=ddb.values({":one": 1, ":ttl": (window + 2) * WINDOW_S, ":type": "RATE"}),
        ReturnValues="UPDATED_NEW",
    )
    used = int(ddb.from_item(resp.get("Attributes"))["count"])  # type: ignore[index]
    if used > limit:
        retry_after = (window + 1) * WINDOW_S - now_epoch
        raise TooManyRequests(
            f"too many messages from this {'address' if kind == 'email' else 'network'}; try again later",
            field="email" if kind == "email" else None,
            retry_after=max(retry_after, 1),
        )


def submit(doc: Any, source_ip: str, correlation_id: str | None) -> dict[str, Any]:
    """Validate, rate-limit and file a contact-form message; returns the case reference."""
    from ecrm.mail import inbox

    form = validate(doc)
    now_epoch = clock.epoch(clock.now())
    rate_limit("ip", source_ip or "unknown", LIMITS["ip"], now_epoch)
    rate_limit("email", form["email"], LIMITS["email"], now_epoch)
    inbound_id = f"contact-{ids.new_ulid()}"
    support = inbox.own_addresses()
    domain = next((a[1:] for a in support if a.startswith("@")), "contact.invalid")
    msg = InboundMessage(
        sender=form["email"],
        sender_name=form["name"],
        subject=form["subject"],
        message_id=f"<{inbound_id.lower()}@{domain}>",
        in_reply_to=None,
        references=(),
        body=form["message"],
        text=form["message"],
    )
    outcome = inbox.process(
        msg,
        inbound_id=inbound_id,
        channel="contact",
        form_order_id=form.get("order_id"),
        correlation_id=correlation_id,
    )
    return {"case_ref": outcome.case_ref, "status": "received", "auto_reply": outcome.reply_kind is not None}
