"""Send one queued email through SES: at most once per dedupe key, never to a suppressed address, marketing
only with consent. SES templated send for transactional templates, raw MIME for composed replies."""

from __future__ import annotations

import json
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from typing import Any

from ecrm.mail.outbound import OutboundEmail
from ecrm.platform import aws, ddb
from ecrm.platform.idempotency import once
from ecrm.platform.observability import count, logger
from ecrm.platform.settings import env, table_name

SENT_RETENTION_S = 30 * 86400  # one email per key for 30 days: longer than any stream or queue retry


def suppression_reason(address: str) -> str | None:
    """Why an address must not be mailed (hard bounce, complaint, manual), or None (one GetItem)."""
    resp = aws.dynamodb().get_item(
        TableName=table_name(), Key=ddb.key(f"SUPPRESS#{address.lower()}", "SUPPRESS")
    )
    item = ddb.from_item(resp.get("Item"))
    return str(item.get("reason", "suppressed")) if item else None


def marketing_allowed(customer_id: str | None) -> bool:
    """Marketing mail needs the member's recorded consent."""
    if not customer_id:
        return False
    resp = aws.dynamodb().get_item(
        TableName=table_name(),
        Key=ddb.key(f"CUSTOMER#{customer_id}", "PROFILE"),
        ProjectionExpression="marketing_consent",
    )
    item = ddb.from_item(resp.get("Item")) or {}
    return bool(item.get("marketing_consent"))


def deliver(email: OutboundEmail) -> dict[str, Any]:
    """Send `email` unless suppressed or unconsented; the same dedupe key is sent once."""
    reason = suppression_reason(email.to)
    if reason:
        count("EmailSuppressed")
        logger.info("email suppressed", extra={"dedupe_key": email.dedupe_key, "reason": reason})
        return {"sent": False, "reason": f"suppressed:{reason}"}
    if email.kind == "marketing" and not marketing_allowed(email.customer_id):
        count("EmailSuppressed")
        return {"sent": False, "reason": "no-marketing-consent"}
    if email.kind == "marketing":
        from ecrm.mail.unsubscribe import opted_out

        if opted_out(email.to):
            count("EmailSuppressed")
            return {"sent": False, "reason": "unsubscribed"}
    result = once(
        "email",
        email.dedupe_key,
        {"to": email.to, "dedupe": email.dedupe_key},
        lambda: _send(email),
        expires_after_s=SENT_RETENTION_S,
    )
    case_ref = (email.data or {}).get("case_ref") if email.raw else None
    if case_ref and result.get("message_id"):
        # SES replaces our Message-ID; the customer's answer quotes SES's, so map it to the case.
        from ecrm.mail.cases import record_sent_message_id
        from ecrm.platform import clock

        record_sent_message_id(str(case_ref), str(result["message_id"]), clock.epoch(clock.now()))
    return result


def _send(email: OutboundEmail) -> dict[str, Any]:
    ses = aws.ses()
    source = env("MAIL_FROM")
    config_set = env("SES_CONFIGURATION_SET")
    if email.template:
        resp = ses.send_templated_email(
            Source=source,
            Destination={"ToAddresses": [email.to]},
            ConfigurationSetName=config_set,
            Template=env("SES_TEMPLATE_PREFIX") + email.template.replace("_", "-"),
            TemplateData=json.dumps(email.data, ensure_ascii=False),
            Tags=[{"Name": "template", "Value": email.template}],
        )
    else:
        resp = ses.send_raw_email(
            Source=source,
            Destinations=[email.to],
            ConfigurationSetName=config_set,
            RawMessage={"Data": compose_raw(source, email)},
        )
    count("EmailSent")
    logger.info(
        "email sent",
        extra={
            "dedupe_key": email.dedupe_key,
            "template": email.template,
            "message_id": resp.get("MessageId"),
        },
    )
    return {"sent": True, "message_id": resp.get("MessageId")}


def compose_raw(source: str, email: OutboundEmail) -> bytes:
    """MIME for a composed reply. The email package refuses CR/LF in header values, so nothing we were
    given can add a header; only the headers we allow are copied."""
    raw = email.raw or {}
    msg = EmailMessage()
    msg["From"] = source
    msg["To"] = email.to
    msg["Subject"] = raw["subject"]
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = _message_id(email, source.split("@")[1])
    allowed = {
        "in-reply-to",
        "references",
        "auto-submitted",
        "x-auto-response-suppress",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "reply-to",
        "content-language",
    }
    for name, value in (raw.get("headers") or {}).items():
        if name.lower() in allowed and value:
            msg[name] = value
    if email.kind == "marketing":
        # RFC 2369 + RFC 8058 one-click unsubscribe (Gmail and Yahoo require it for bulk senders).
        from ecrm.mail.unsubscribe import make_token, unsubscribe_url

        mailto = f"mailto:{env('SUPPORT_ADDRESS')}?subject=unsubscribe%20{make_token(email.to)}"
        del msg["List-Unsubscribe"], msg["List-Unsubscribe-Post"]
        msg["List-Unsubscribe"] = f"<{unsubscribe_url(email.to)}>, <{mailto}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(raw["text"])
    if raw.get("html"):
        msg.add_alternative(raw["html"], subtype="html")
    # Marketing headers carry long signed URLs; folding at 78 would RFC 2047-encode them (mail clients then
    # cannot use the link). RFC 5322 allows 998 characters per line.
    return msg.as_bytes(policy=SMTP.clone(max_line_length=998) if email.kind == "marketing" else SMTP)


def _message_id(email: OutboundEmail, domain: str) -> str:
    """A case reply's Message-ID carries its case (threads even where SES's id is not mapped yet)."""
    case_ref = (email.data or {}).get("case_ref") if email.raw else None
    if case_ref:
        import uuid

        from ecrm.mail.threading import make_message_id

        try:
            return make_message_id(str(case_ref), uuid.uuid4().hex, domain)
        except ValueError:
            pass
    return make_msgid(domain=domain)
