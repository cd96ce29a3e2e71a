"""Decide whether we may send an automatic reply at all (mail-loop and backscatter protection).

Rules follow RFC 3834 plus what Zammad (Channel::Filter::AutoResponseCheck, OutOfOfficeCheck),
FreeScout (MailHelper::isAutoResponder, detectBounceByHeaders) and osTicket
(EmailFilter::isAutoResponse) check; docs/email-replies.md lists each rule with its source.

The decision is conservative: when in doubt we do not auto-reply (a human still sees the case).
Rate limiting (one auto-reply per sender per window) needs state and is the service's job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

__all__ = ["REASONS", "LoopDecision", "is_out_of_office_subject", "may_auto_reply"]

# Machine reason codes, stable: they go into logs and metrics dimensions.
REASONS = {
    "ok": "auto-reply allowed",
    "invalid-sender": "From missing, repeated, unparseable or not a plain address (possible forgery)",
    "own-address": "sender or reply target is one of our own addresses (loop or spoof)",
    "null-return-path": "empty envelope sender (Return-Path: <>): bounces and auto-replies use it",
    "bounce": "delivery status notification / MDN / feedback report (multipart/report or DSN markers)",
    "system-sender": "mailer-daemon/postmaster style sender",
    "noreply-sender": "no-reply style sender address",
    "auto-submitted": "Auto-Submitted present with a value other than 'no' (RFC 3834)",
    "x-loop": "X-Loop header present",
    "x-autoreply": "X-Autoreply / X-Autoresponse / X-Auto-Reply-From present",
    "x-autorespond": "X-Autorespond present",
    "auto-response-suppress": "X-Auto-Response-Suppress asks for no auto-replies (All/AutoReply/OOF)",
    "precedence": "Precedence bulk/junk/list/auto_reply",
    "mailing-list": "List-Id / List-Unsubscribe / List-Post ... (mailing list or newsletter)",
    "out-of-office": "subject looks like an out-of-office / automatic reply",
}


if TYPE_CHECKING:  # the Protocol is for type checkers only: creating it costs import time
    from typing import Protocol

    class _MessageLike(Protocol):
        sender: str
        reply_to: str | None
        subject: str
        return_path: str | None
        content_type: str
        report_type: str | None
        problems: tuple[str, ...]

        def header(self, name: str) -> str | None: ...

        def has_header(self, name: str) -> bool: ...


@dataclass(frozen=True)
class LoopDecision:
    """Whether an auto-reply is allowed; `reason` is a code from `REASONS`, `detail` is for logs."""

    allowed: bool
    reason: str
    detail: str = ""


_ALLOW = LoopDecision(True, "ok")

# Local parts of role/system senders. Matched on the whole local part (plus "+tag"), so
# "noreply.shop" or "bounces+123" are caught but "daemonhunter" is not.
_SYSTEM_LOCAL_RE = re.compile(r"^(mailer-daemon|mailerdaemon|postmaster|mail-daemon|mdaemon)(\+.*)?$", re.I)
_NOREPLY_LOCAL_RE = re.compile(
    r"^(no[-_.]?reply|do[-_.]?not[-_.]?reply|dont[-_.]?reply|no[-_.]?response|bounces?|auto[-_.]?reply"
    r"|autoresponder|notifications?[-_.]?noreply)([-_.+].*)?$",
    re.I,
)
_LIST_HEADERS = ("list-id", "list-unsubscribe", "list-post", "list-help", "list-subscribe", "list-owner")
_PRECEDENCE_BLOCK = {"bulk", "junk", "list", "auto_reply", "auto-reply"}
_SUPPRESS_BLOCK = {"all", "autoreply", "oof"}

# Out-of-office / automatic-reply subjects (prefix or whole-subject phrases), several languages.
# Outlook localizes "Automatic reply:", Gmail uses the user's own subject, so both matter.
_OOO_SUBJECT_RE = re.compile(
    r"^\s*(?:"
    r"out of (?:the )?office|ooo\b|automatic reply|auto[- ]?reply|autoreply|auto[- ]?response|autoresponse"
    r"|away from (?:the )?office|on vacation|vacation (?:reply|notice|message)"
    r"|i am (?:currently )?out of (?:the )?office"
    r"|abwesenheitsnotiz|automatische antwort|r[ée]ponse automatique|absence du bureau"
    r"|respuesta autom[áa]tica|fuera de la oficina|risposta automatica|fuori sede|afwezig"
    r"|automatisch antwoord"
    r"|ตอบกลับอัตโนมัติ|การตอบกลับอัตโนมัติ|ไม่อยู่ที่สำนักงาน|ไม่อยู่ออฟฟิศ|ไม่อยู่ในสำนักงาน"
    r"|پاسخ خودکار|پاسخ\u200cخودکار|خارج از دفتر|خارج از محل کار|در مرخصی"
    r"|自动回复|自動回覆|自動回复|自动答复|自動答覆|外出|不在办公室|不在辦公室|休假"
    r")",
    re.IGNORECASE,
)


def is_out_of_office_subject(subject: str) -> bool:
    """True if the subject starts like an out-of-office / automatic reply in a known language."""
    return bool(subject) and _OOO_SUBJECT_RE.match(subject) is not None


def _normalise_own(own_addresses: Iterable[str]) -> tuple[set[str], set[str]]:
    addresses, domains = set(), set()
    for entry in own_addresses or ():
        entry = entry.strip().lower()
        if entry.startswith("@"):
            domains.add(entry[1:])
        elif entry:
            addresses.add(entry)
    return addresses, domains


def _is_own(address: str, addresses: set[str], domains: set[str]) -> bool:
    address = address.lower()
    domain = address.rpartition("@")[2]
    # Plus-addressing ("support+case123@") still reaches us.
    local = address.partition("@")[0].split("+", 1)[0]
    return address in addresses or f"{local}@{domain}" in addresses or domain in domains


def may_auto_reply(msg: _MessageLike, own_addresses: set[str]) -> LoopDecision:
    """Decide whether we may auto-reply to `msg` (an `InboundMessage`).

    `own_addresses` holds our own addresses (`support@shop.example`) and may hold whole domains
    written as `@shop.example`. Returns `LoopDecision(allowed, reason)` with a code from `REASONS`;
    the first matching rule wins, in an order that puts the most specific reason first.
    """
    sender = (msg.sender or "").lower()
    if not sender:
        return LoopDecision(False, "invalid-sender", ",".join(msg.problems))

    addresses, domains = _normalise_own(own_addresses)
    targets = [sender] + ([msg.reply_to.lower()] if msg.reply_to else [])
    for target in targets:
        if _is_own(target, addresses, domains):
            return LoopDecision(False, "own-address", target)

    content_type = (msg.content_type or "").lower()
    if content_type == "multipart/report" or (msg.report_type or "") in {
        "delivery-status",
        "disposition-notification",
        "feedback-report",
    }:
        return LoopDecision(False, "bounce", f"{content_type}; report-type={msg.report_type}")
    if msg.has_header("x-failed-recipients") or msg.has_header("original-recipient"):
        return LoopDecision(False, "bounce", "DSN header")

    return_path = msg.return_path
    if return_path is not None and return_path.strip() in {"<>", ""}:
        return LoopDecision(False, "null-return-path", return_path)

    for target in targets:
        local = target.partition("@")[0]
        if _SYSTEM_LOCAL_RE.match(local):
            return LoopDecision(False, "system-sender", target)
        if _NOREPLY_LOCAL_RE.match(local):
            return LoopDecision(False, "noreply-sender", target)

    auto_submitted = msg.header("auto-submitted")
    if auto_submitted is not None:
        # RFC 3834 section 5: only the literal keyword "no" (parameters allowed) means a human.
        keyword = auto_submitted.split(";", 1)[0].strip().lower()
        if keyword != "no":
            return LoopDecision(False, "auto-submitted", auto_submitted[:80])

    x_loop = msg.header("x-loop")
    if x_loop is not None:
        return LoopDecision(False, "x-loop", x_loop[:80])

    for name in ("x-autoreply", "x-autoresponse", "x-auto-reply-from", "x-autogenerated"):
        value = msg.header(name)
        if value is not None and value.strip().lower() not in {"no", "false", "0"}:
            return LoopDecision(False, "x-autoreply", name)
    if msg.has_header("x-autorespond"):
        return LoopDecision(False, "x-autorespond", "x-autorespond")

    suppress = msg.header("x-auto-response-suppress")
    if suppress:
        tokens = {t.strip().lower() for t in re.split(r"[,;\s]+", suppress) if t.strip()}
        if tokens & _SUPPRESS_BLOCK:
            return LoopDecision(False, "auto-response-suppress", suppress[:80])

    precedence = (msg.header("precedence") or msg.header("x-precedence") or "").strip().lower()
    if precedence in _PRECEDENCE_BLOCK:
        return LoopDecision(False, "precedence", precedence)

    for name in _LIST_HEADERS:
        if msg.has_header(name):
            return LoopDecision(False, "mailing-list", name)

    if is_out_of_office_subject(msg.subject or ""):
        return LoopDecision(False, "out-of-office", (msg.subject or "")[:80])

    return _ALLOW
