"""Loop protection: when we must not auto-reply (RFC 3834, Zammad, FreeScout, osTicket rules)."""

from __future__ import annotations

import pytest

from ecrm.mail.inbound import parse_inbound
from ecrm.mail.loops import REASONS, is_out_of_office_subject, may_auto_reply

OWN = {"support@shop.example", "@mail.shop.example"}


def _msg(headers: str = "", sender: str = "anna@example.com", subject: str = "Question",
         ctype: str = "text/plain") -> object:
    raw = (
        f"From: {sender}\r\nSubject: {subject}\r\n{headers}Content-Type: {ctype}\r\n\r\n"
        "How long is delivery?"
    )
    return parse_inbound(raw.encode())


def test_ordinary_customer_mail_is_allowed() -> None:
    decision = may_auto_reply(_msg(), OWN)
    assert decision.allowed and decision.reason == "ok"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ("Auto-Submitted: auto-replied\r\n", "auto-submitted"),
        ("Auto-Submitted: auto-generated\r\n", "auto-submitted"),
        ("Auto-Submitted: auto-notified; owner-email=x@example.com\r\n", "auto-submitted"),
        ("Precedence: bulk\r\n", "precedence"),
        ("Precedence: JUNK\r\n", "precedence"),
        ("Precedence: list\r\n", "precedence"),
        ("X-Precedence: auto_reply\r\n", "precedence"),
        ("List-Id: <news.example.com>\r\n", "mailing-list"),
        ("List-Unsubscribe: <mailto:u@example.com>\r\n", "mailing-list"),
        ("X-Autoreply: yes\r\n", "x-autoreply"),
        ("X-Autoresponse: 1\r\n", "x-autoreply"),
        ("X-Autorespond: whatever\r\n", "x-autorespond"),
        ("X-Auto-Response-Suppress: All\r\n", "auto-response-suppress"),
        ("X-Auto-Response-Suppress: DR, OOF\r\n", "auto-response-suppress"),
        ("X-Loop: helpdesk@partner.example\r\n", "x-loop"),
        ("Return-Path: <>\r\n", "null-return-path"),
        ("X-Failed-Recipients: gone@example.com\r\n", "bounce"),
    ],
)
def test_header_rules(headers: str, reason: str) -> None:
    decision = may_auto_reply(_msg(headers), OWN)
    assert not decision.allowed
    assert decision.reason == reason
    assert reason in REASONS


def test_auto_submitted_no_and_harmless_suppress_values_are_allowed() -> None:
    assert may_auto_reply(_msg("Auto-Submitted: no\r\n"), OWN).allowed
    assert may_auto_reply(_msg("X-Auto-Response-Suppress: DR, RN, NRN\r\n"), OWN).allowed
    assert may_auto_reply(_msg("Precedence: first-class\r\n"), OWN).allowed


@pytest.mark.parametrize(
    ("sender", "reason"),
    [
        ("MAILER-DAEMON@mx.example.net", "system-sender"),
        ("postmaster@example.net", "system-sender"),
        ("noreply@example.com", "noreply-sender"),
        ("no-reply@example.com", "noreply-sender"),
        ("no_reply.billing@example.com", "noreply-sender"),
        ("donotreply@example.com", "noreply-sender"),
        ("do-not-reply@example.com", "noreply-sender"),
        ("bounces+abc@example.com", "noreply-sender"),
        ("support@shop.example", "own-address"),
        ("Support+case1@shop.example", "own-address"),
        ("orders@mail.shop.example", "own-address"),
    ],
)
def test_sender_rules(sender: str, reason: str) -> None:
    decision = may_auto_reply(_msg(sender=sender), OWN)
    assert (decision.allowed, decision.reason) == (False, reason)


def test_reply_to_pointing_at_us_is_refused() -> None:
    decision = may_auto_reply(_msg("Reply-To: support@shop.example\r\n"), OWN)
    assert decision.reason == "own-address"


def test_reports_are_bounces() -> None:
    for report_type in ("delivery-status", "disposition-notification", "feedback-report"):
        ctype = f'multipart/report; report-type={report_type}; boundary="b"'
        assert may_auto_reply(_msg(ctype=ctype), OWN).reason == "bounce"


def test_invalid_sender_is_refused() -> None:
    msg = parse_inbound(b"From: =?utf-8?q?x=0D=0ABcc:_y@z?= <e@example.com>\r\n\r\nhi")
    decision = may_auto_reply(msg, OWN)
    assert (decision.allowed, decision.reason) == (False, "invalid-sender")


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office: Re: your order",
        "Automatic reply: Shipping",
        "AutoReply: hello",
        "Abwesenheitsnotiz: Bestellung",
        "Réponse automatique : commande",
        "ตอบกลับอัตโนมัติ: ไม่อยู่ที่สำนักงาน",
        "پاسخ خودکار: در مرخصی هستم",
        "自动回复：我正在休假",
        "自動回覆: 休假中",
    ],
)
def test_out_of_office_subjects(subject: str) -> None:
    assert is_out_of_office_subject(subject)
    assert may_auto_reply(_msg(subject=subject), OWN).reason == "out-of-office"


def test_ordinary_subjects_are_not_out_of_office() -> None:
    for subject in ("Order question", "Outstanding refund", "Automatic transmission for the car?", "退货"):
        assert not is_out_of_office_subject(subject), subject
