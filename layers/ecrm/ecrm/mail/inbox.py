"""One inbound message (SES email or contact form) -> a case on the customer's record, and the automatic
reply stored with it. The reply is sent from the table stream (`cases.on_case_reply`): state first, side
effects from the stream, so a retried invocation that finds the message filed sends nothing again.

Order of work, and why:
1. dedupe on the inbound id (SES message id / form id): a retried SES invocation stops here;
2. the pure decision (`intents.decide_reply`: loops, language, intent, FAQ);
3. SES verdicts (virus, spam, SPF+DKIM both failing) and the suppression list can only veto a reply;
4. the thread (Message-IDs, then the subject tag), accepted only if the case belongs to this sender;
5. live data (orders of this sender only, the loyalty balance) decides the final kind; anything we cannot
   answer falls back to the FAQ match or an acknowledgement and lists the case for staff;
6. the sender's automatic-reply slot (RFC 3834 frequency limit) is taken last, right before the write.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from ecrm.mail import cases
from ecrm.mail.inbound import InboundMessage
from ecrm.platform import aws, clock, ddb, ids
from ecrm.platform.observability import count, logger
from ecrm.platform.settings import env, env_int, table_name

EXCERPT_CHARS = 2000


@dataclass
class Verdicts:
    """SES receipt verdicts (PASS / FAIL / GRAY / PROCESSING_FAILED / DISABLED)."""

    spam: str = "PASS"
    virus: str = "PASS"
    spf: str = "PASS"
    dkim: str = "PASS"

    def veto(self) -> str | None:
        """A reason not to answer automatically, or None."""
        if self.virus == "FAIL":
            return "virus"
        if self.spam == "FAIL":
            return "spam"
        if self.spf == "FAIL" and self.dkim == "FAIL":
            return "unauthenticated"  # the From address is probably forged: answering would be backscatter
        return None


@dataclass
class Outcome:
    """What happened to one inbound message (returned to the caller, logged without PII)."""

    case_ref: str
    new_case: bool
    reply_kind: str | None
    reason: str
    lang: str
    intent: str | None
    duplicate: bool = False
    unanswered: bool = False
    thread_via: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary."""
        return {
            "case_ref": self.case_ref,
            "new_case": self.new_case,
            "reply_kind": self.reply_kind,
            "reason": self.reason,
            "lang": self.lang,
            "intent": self.intent,
            "duplicate": self.duplicate,
            "unanswered": self.unanswered,
            "thread_via": self.thread_via,
        }


def own_addresses() -> set[str]:
    """Our addresses and domains (`@domain`), from OWN_MAIL_ADDRESSES."""
    return {a.strip().lower() for a in env("OWN_MAIL_ADDRESSES").split(",") if a.strip()}


def customer_id_for(email: str) -> str | None:
    """The member id for an address, from the unique email index item (None for guests)."""
    if not email:
        return None
    resp = aws.dynamodb().get_item(TableName=table_name(), Key=ddb.key(f"EMAIL#{email.lower()}", "EMAIL"))
    item = ddb.from_item(resp.get("Item")) or {}
    return str(item["customer_id"]) if item.get("customer_id") else None


def _owned(record: dict[str, Any] | None, sender: str, customer_id: str | None) -> bool:
    if not record or not sender:
        return False
    if str(record.get("email", "")).lower() == sender:
        return True
    return bool(customer_id) and record.get("customer_id") == customer_id


def _orders_data(order_ids: tuple[str, ...], sender: str, customer_id: str | None) -> list[dict[str, Any]]:
    """Live status of the sender's own orders; any other id is reported as not found (nothing leaks)."""
    from ecrm.orders import store
    from ecrm.orders.service import tracking_url

    out = []
    for order_id in order_ids:
        order, events = store.get_order_with_timeline(order_id)
        if not _owned(order, sender, customer_id):
            out.append({"order_id": order_id, "found": False})
            continue
        assert order is not None
        out.append(
            {
                "order_id": order_id,
                "found": True,
                "status": order["status"],
                "timeline": [{"at": e.get("at"), "status": e.get("status")} for e in events],
                "tracking_url": tracking_url(order_id),
                "carrier": order.get("carrier"),
                "tracking_number": order.get("tracking_number"),
            }
        )
    return out


def _points_data(customer_id: str | None) -> dict[str, Any] | None:
    """The loyalty balance item read defensively (docs/loyalty.md); None when there is no membership."""
    if not customer_id:
        return None
    resp = aws.dynamodb().get_item(TableName=table_name(), Key=ddb.key(f"CUSTOMER#{customer_id}", "LOYALTY"))
    item = ddb.from_item(resp.get("Item"))
    if not item:
        return None
    balance = item.get("available", item.get("balance", item.get("points", 0)))
    expiring = [
        {"points": e.get("points"), "on": e.get("on")}
        for e in (item.get("expiring") or [])
        if isinstance(e, dict) and isinstance(e.get("points"), int) and e.get("on")
    ]
    data: dict[str, Any] = {
        "member": True,
        "balance": balance if isinstance(balance, int) else 0,
        "tier": item.get("tier"),
        "expiring": expiring,
    }
    if item.get("next_tier") and isinstance(item.get("points_to_next_tier"), int):
        data.update(next_tier=item["next_tier"], points_to_next_tier=item["points_to_next_tier"])
    return data


def _find_thread(
    msg: InboundMessage, sender: str, customer_id: str | None
) -> tuple[dict[str, Any] | None, str]:
    """The existing case this message continues, and how it was found ('' if none / not the sender's)."""
    from ecrm.mail.threading import find_case_ref

    found = find_case_ref(msg.subject, msg.in_reply_to, msg.references, lookup=cases.case_for_message_id)
    if found is None:
        return None, ""
    case = cases.get_case(found.case_ref)
    if case is None:
        return None, ""  # a tag or id of a case that does not exist (typo, another shop's tag)
    if not _owned(case, sender, customer_id):
        count("CaseThreadRejected")
        return None, f"rejected:{found.via}"
    return case, found.via


def process(
    msg: InboundMessage,
    *,
    inbound_id: str,
    channel: str,
    verdicts: Verdicts | None = None,
    form_order_id: str | None = None,
    s3_key: str | None = None,
    correlation_id: str | None = None,
) -> Outcome:
    """File `msg` into a case and store the automatic reply to send (if any). Idempotent per inbound_id."""
    from ecrm.mail import faq_store
    from ecrm.mail.intents import decide_reply
    from ecrm.mail.replies import compose_reply

    done = cases.already_processed(inbound_id)
    if done:
        count("InboundDuplicate")
        return Outcome(done, False, None, "duplicate", "", None, duplicate=True)

    now = clock.now()
    now_iso, now_epoch = clock.iso(now), clock.epoch(now)
    decision = decide_reply(msg, own_addresses(), faq_store.index(), form_order_id)
    sender = msg.sender
    reply_ok, reason = decision.reply, decision.reason
    intent = decision.intent
    kind = decision.kind
    veto = (verdicts or Verdicts()).veto()
    if reply_ok and veto:
        reply_ok, reason = False, veto
    customer_id = customer_id_for(sender) if sender else None

    case, via = (None, "")
    if sender:
        case, via = _find_thread(msg, sender, customer_id)

    data: dict[str, Any] = {"response_hours": env_int("SUPPORT_RESPONSE_HOURS", 24)}
    needs_human = False
    if reply_ok and intent is not None:
        faq_fallback = intent.faq_match
        if kind == "order_status":
            orders = _orders_data(intent.order_ids, sender, customer_id)
            data["orders"] = orders
            if not any(o["found"] for o in orders):
                needs_human = True  # a wrong number or someone else's order: a person checks
        elif kind == "points":
            points = _points_data(customer_id)
            if points is None:
                data["member"] = False
                needs_human = faq_fallback is None
            else:
                data.update(points)
        if kind == "faq" and faq_fallback is not None:
            data["answer"] = faq_fallback.answer
        if kind == "ack":
            needs_human = True

    if reply_ok and cases.suppressed(sender):
        reply_ok, reason, needs_human = False, "suppressed", True

    is_new = case is None
    case_ref = case["case_ref"] if case else ids.new_id("C", 8)
    excerpt = (msg.body or msg.text or "")[:EXCERPT_CHARS]
    slot_taken = False
    if reply_ok:
        window = env_int("AUTOREPLY_WINDOW_SECONDS", 3600)
        slot_taken = cases.claim_autoreply_slot(sender, inbound_id, now_epoch, window)
        if not slot_taken:
            reply_ok, reason, needs_human = False, "autoreply-window", True

    reply_item: dict[str, Any] | None = None
    seq = hashlib.sha256(inbound_id.encode()).hexdigest()[:10]
    msg_sk = f"MSG#{now_iso}#{seq}"
    if reply_ok and kind is not None:
        original: Any = msg
        if channel == "contact":
            # Never echo a form's subject: anyone can type any address into a form, and our reply must not
            # carry their words to a stranger.
            original = {
                "sender": sender,
                "sender_name": msg.sender_name,
                "subject": "",
                "reply_to": None,
                "message_id": msg.message_id,
                "references": (),
                "in_reply_to": None,
            }
        try:
            composed = compose_reply(kind, decision.lang, original, data, case_ref)
        except ValueError as err:  # an address compose refuses: no reply, the case says why
            logger.warning("reply not composed", extra={"reason": str(err)[:100]})
            composed, reply_ok, reason, needs_human = None, False, "compose-refused", True
        if composed is not None:
            headers = dict(composed["headers"])  # type: ignore[arg-type]
            support = env("SUPPORT_ADDRESS", "")
            if support:
                headers["Reply-To"] = support
            reply_item = {
                "pk": cases.case_pk(case_ref),
                "sk": f"{msg_sk}#2-out",
                "type": "CASE_REPLY",
                "case_ref": case_ref,
                "direction": "out",
                "to": composed["to"],
                "subject": composed["subject"],
                "headers": headers,
                "text": composed["text"],
                "html": composed["html"],
                "lang": composed["lang"],
                "kind": kind,
                "at": now_iso,
                "customer_id": customer_id,
                "dedupe_key": f"autoreply#{hashlib.sha256(inbound_id.encode()).hexdigest()[:48]}",
                "correlation_id": correlation_id,
            }

    status = (
        "auto-closed"
        if not decision.loop.allowed or reason in {"spam", "virus", "unauthenticated"}
        else ("waiting-for-staff" if needs_human else "answered")
    )
    if case is not None and status == "auto-closed":
        status = str(case.get("status") or "open")  # an out-of-office in a thread changes nothing
    final_kind = kind if reply_item else None
    case_doc: dict[str, Any] = dict(case or {})
    case_doc.update(
        {
            "pk": cases.case_pk(case_ref),
            "sk": cases.CASE_SK,
            "type": "CASE",
            "case_ref": case_ref,
            "updated_at": now_iso,
            "status": status,
            "last_intent": intent.kind if intent else None,
            "last_reason": reason,
            "last_excerpt": excerpt[:300],
        }
    )
    if is_new:
        case_doc.update(
            {
                "email": sender,
                "customer_id": customer_id,
                "subject": msg.subject[:200],
                "lang": decision.lang,
                "channel": channel,
                "created_at": now_iso,
                "message_count": 1,
                "correlation_id": correlation_id,
            }
        )
        if sender:
            case_doc.update(gsi1pk=cases.owner_key(sender, customer_id), gsi1sk=f"CASE#{now_iso}#{case_ref}")
    if needs_human:
        case_doc.update(gsi2pk=cases.UNANSWERED_GSI2PK, gsi2sk=f"{now_iso}#{case_ref}")
    else:
        case_doc.pop("gsi2pk", None)
        case_doc.pop("gsi2sk", None)
        if not is_new and case and case.get("gsi2pk") and status != "answered":
            # A junk message in a thread does not clear what staff still have to do.
            case_doc.update(gsi2pk=case["gsi2pk"], gsi2sk=case["gsi2sk"])
    message_item = {
        "pk": cases.case_pk(case_ref),
        "sk": f"{msg_sk}#1-in",
        "type": "CASE_MESSAGE",
        "case_ref": case_ref,
        "direction": "in",
        "channel": channel,
        "inbound_id": inbound_id,
        "message_id": msg.message_id,
        "from": sender,
        "sender_name": msg.sender_name[:200],
        "subject": msg.subject[:300],
        "excerpt": excerpt,
        "lang": decision.lang,
        "intent": intent.kind if intent else None,
        "reply_kind": final_kind,
        "reason": reason,
        "loop_reason": decision.loop.reason,
        "thread_via": via or None,
        "order_ids": list(intent.order_ids) if intent else [],
        "faq_id": intent.faq_match.id if intent and intent.faq_match else None,
        "attachment_count": msg.attachment_count,
        "s3_key": s3_key,
        "at": now_iso,
        "verdicts": vars(verdicts) if verdicts else None,
        "correlation_id": correlation_id,
    }
    message_ids = [m for m in (msg.message_id,) if m]
    filed = cases.file_message(
        case=case_doc,
        is_new=is_new,
        message=message_item,
        reply=reply_item,
        inbound_id=inbound_id,
        message_ids=message_ids,
        now_epoch=now_epoch,
    )
    if not filed:
        count("InboundDuplicate")
        return Outcome(
            cases.already_processed(inbound_id) or case_ref,
            False,
            None,
            "duplicate",
            decision.lang,
            None,
            duplicate=True,
        )
    count("InboundFiled")
    count(f"AutoReply_{final_kind or 'none'}")
    logger.info(
        "inbound filed",
        extra={
            "case_ref": case_ref,
            "new_case": is_new,
            "reply_kind": final_kind,
            "reason": reason,
            "lang": decision.lang,
            "intent": intent.kind if intent else None,
            "channel": channel,
            "thread_via": via or None,
        },
    )
    return Outcome(
        case_ref,
        is_new,
        final_kind,
        reason,
        decision.lang,
        intent.kind if intent else None,
        unanswered=needs_human,
        thread_via=via or None,
    )
