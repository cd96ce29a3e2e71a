"""Composing auto-replies: subjects, threading headers, escaping, localisation, RTL."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecrm.mail.inbound import parse_inbound
from ecrm.mail.replies import KINDS, compose_reply
from ecrm.mail.threading import case_ref_from_subject

ORIGINAL = {
    "sender": "anna@example.com",
    "sender_name": "Anna",
    "subject": "Re: RE: Where is my order?",
    "message_id": "<m2@example.com>",
    "references": ("<m0@shop.example>", "<m1@example.com>"),
}
ORDER = {
    "orders": [
        {
            "order_id": "ORD-01HZX3K9QF",
            "status": "shipped",
            "timeline": [
                {"at": "2026-03-01T09:00:00Z", "status": "placed"},
                {"at": "2026-03-02T14:05:00Z", "status": "shipped"},
            ],
            "tracking_url": "https://track.example/abc?x=1&y=2",
            "carrier": "DHL",
            "tracking_number": "JJD0001",
        }
    ]
}
POINTS = {
    "balance": 1250,
    "tier": "gold",
    "next_tier": "platinum",
    "points_to_next_tier": 250,
    "expiring": [{"points": 120, "on": "2026-04-30"}],
}
DATA = {"order_status": ORDER, "points": POINTS, "faq": {"answer": "Line one.\n\nLine two."}, "ack": {}}


@pytest.mark.parametrize("lang", ["en", "th", "fa", "zh"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_in_every_language(kind: str, lang: str) -> None:
    reply = compose_reply(kind, lang, ORIGINAL, DATA[kind], "C-7Q2M4K")
    assert reply["to"] == "anna@example.com"
    assert reply["lang"] == lang
    assert reply["subject"] == "Re: Where is my order? [Case #C-7Q2M4K]"
    assert reply["headers"]["Auto-Submitted"] == "auto-replied"
    assert reply["headers"]["X-Auto-Response-Suppress"] == "All"
    assert reply["headers"]["In-Reply-To"] == "<m2@example.com>"
    assert reply["headers"]["References"] == "<m0@shop.example> <m1@example.com> <m2@example.com>"
    assert "C-7Q2M4K" in reply["text"] and "C-7Q2M4K" in reply["html"]
    assert f'lang="{lang}"' in reply["html"]
    assert ('dir="rtl"' in reply["html"]) == (lang == "fa")
    if kind == "order_status":
        assert "ORD-01HZX3K9QF" in reply["text"]
        assert 'href="https://track.example/abc?x=1&amp;y=2"' in reply["html"]
        assert "2026-03-02 14:05 UTC" in reply["text"]
    if kind == "points":
        assert ("1,250" in reply["text"]) or ("۱٬۲۵۰" in reply["text"])
    if kind == "faq":
        assert "Line one." in reply["text"] and "<p" in reply["html"]


def test_localised_status_and_tier() -> None:
    assert "已发货" in compose_reply("order_status", "zh", ORIGINAL, ORDER, "C-7Q2M4K")["text"]
    assert "จัดส่งแล้ว" in compose_reply("order_status", "th", ORIGINAL, ORDER, "C-7Q2M4K")["text"]
    fa = compose_reply("points", "fa", ORIGINAL, POINTS, "C-7Q2M4K")
    assert "طلایی" in fa["text"] and "۱۲۰" in fa["text"]
    assert 'dir="ltr">2026-04-30</span>' in fa["html"]


def test_unknown_language_falls_back_to_english() -> None:
    assert compose_reply("ack", "other", ORIGINAL, {}, "C-7Q2M4K")["lang"] == "en"


def test_order_not_found_and_bad_tracking_url() -> None:
    data = {
        "orders": [
            {"order_id": "ORD-01HZX3K9QG", "found": False},
            {"order_id": "ORD-01HZX3K9QF", "status": "delivered", "tracking_url": "javascript:alert(1)"},
        ]
    }
    reply = compose_reply("order_status", "en", ORIGINAL, data, "C-7Q2M4K")
    assert "could not find order ORD-01HZX3K9QG" in reply["text"]
    assert "javascript" not in reply["html"]


def test_customer_strings_are_escaped() -> None:
    original = dict(ORIGINAL, subject='<img src=x onerror="alert(1)">', sender_name="<b>Bob</b>")
    data = {"answer": "<script>alert(1)</script> & more", "shop_name": "<i>Shop</i>"}
    html = compose_reply("faq", "en", original, data, "C-7Q2M4K")["html"]
    assert "<script>" not in html and "<img" not in html and "<i>Shop" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html or "&lt;img src=x onerror" in html


def test_display_names_with_links_are_not_reflected() -> None:
    for name in ("support@shop.example", "Win money at https://spam.example", "www.spam.example"):
        reply = compose_reply("ack", "en", dict(ORIGINAL, sender_name=name), {}, "C-7Q2M4K")
        assert "spam" not in reply["text"] and "support@shop" not in reply["text"]


def test_header_injection_is_rejected_or_stripped() -> None:
    with pytest.raises(ValueError):
        compose_reply("ack", "en", dict(ORIGINAL, sender="a@example.com\r\nBcc: x@y.example"), {}, "C-7Q2M4K")
    with pytest.raises(ValueError):
        compose_reply("ack", "en", dict(ORIGINAL, sender=""), {}, "C-7Q2M4K")
    with pytest.raises(ValueError):
        compose_reply("ack", "en", ORIGINAL, {}, "C-1\r\nBcc: x")
    with pytest.raises(ValueError):
        compose_reply("nonsense", "en", ORIGINAL, {}, "C-7Q2M4K")
    reply = compose_reply(
        "ack", "en",
        dict(
            ORIGINAL,
            subject="Hi\r\nBcc: x@y.example",
            message_id="<a@b>\r\nBcc: x",
            references=["<ok@x>", "bad"],
        ),
        {}, "C-7Q2M4K",
    )
    assert "\n" not in reply["subject"] and "\r" not in reply["subject"]
    assert "In-Reply-To" not in reply["headers"]
    assert reply["headers"]["References"] == "<ok@x>"


def test_reply_to_is_preferred_and_parsed_message_works() -> None:
    msg = parse_inbound(
        b"From: Anna <anna@example.com>\r\nReply-To: anna.private@example.org\r\nSubject: Fwd: Hello\r\n"
        b"Message-ID: <q@example.com>\r\n\r\nhi"
    )
    reply = compose_reply("ack", "en", msg, {}, "c-7q2m4k")
    assert reply["to"] == "anna.private@example.org"
    assert reply["subject"] == "Re: Hello [Case #C-7Q2M4K]"


def test_existing_case_tag_is_not_duplicated_and_long_subjects_are_capped() -> None:
    reply = compose_reply("ack", "en", dict(ORIGINAL, subject="Re: Hello [Case #C-7Q2M4K]"), {}, "C-7Q2M4K")
    assert reply["subject"] == "Re: Hello [Case #C-7Q2M4K]"
    long_subject = compose_reply("ack", "en", dict(ORIGINAL, subject="x" * 1000), {}, "C-7Q2M4K")["subject"]
    assert len(long_subject) < 200


def test_references_are_trimmed() -> None:
    refs = [f"<r{i}@x>" for i in range(40)]
    reply = compose_reply("ack", "en", dict(ORIGINAL, references=refs), {}, "C-7Q2M4K")
    kept = reply["headers"]["References"].split()
    assert len(kept) == 10 and kept[0] == "<r0@x>" and kept[-1] == "<m2@example.com>"


_ANY_TEXT = st.text(max_size=200)


_LANGS = st.sampled_from(["en", "th", "fa", "zh", "xx"])


@settings(max_examples=200, deadline=None)
@given(_ANY_TEXT, _ANY_TEXT, _ANY_TEXT, _LANGS, st.sampled_from(KINDS))
def test_no_control_characters_in_headers_and_no_raw_markup(
    subject: str, name: str, answer: str, lang: str, kind: str
) -> None:
    original = dict(ORIGINAL, subject=subject, sender_name=name)
    data = dict(DATA[kind], answer=answer if answer.strip() else "x", shop_name=name)
    reply = compose_reply(kind, lang, original, data, "C-7Q2M4K")
    for value in [reply["subject"], reply["to"], *reply["headers"].values()]:
        assert not re.search(r"[\x00-\x1f\x7f]", value)
    assert not reply["subject"].lower().startswith("re: re:")
    assert case_ref_from_subject(reply["subject"]) == "C-7Q2M4K"
    # Every tag in the HTML is one of ours: customer text never opens an element.
    tags = set(re.findall(r"<\s*([a-zA-Z!/][a-zA-Z0-9]*)", reply["html"]))
    assert tags <= {"!DOCTYPE", "html", "/html", "head", "/head", "meta", "title", "/title", "body", "/body",
                    "p", "/p", "br", "ul", "/ul", "li", "/li", "a", "/a", "span", "/span"}
