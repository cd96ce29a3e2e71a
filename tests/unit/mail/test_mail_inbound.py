"""Parsing raw inbound mail: charsets, transfer encodings, HTML, attachments, quotes, hostile input."""

from __future__ import annotations

import base64
import quopri

from hypothesis import given, settings
from hypothesis import strategies as st

from ecrm.mail.inbound import (
    decode_bytes,
    html_to_text,
    is_valid_address,
    parse_inbound,
    strip_quoted,
    strip_subject_prefixes,
)


def _mail(body: bytes, *, charset: str = "utf-8", cte: str = "8bit", ctype: str = "text/plain",
          headers: str = "") -> bytes:
    head = (
        "From: Anna <anna@example.com>\r\nTo: support@shop.example\r\nSubject: Hello\r\n"
        "Message-ID: <m1@example.com>\r\n" + headers + "MIME-Version: 1.0\r\n"
        f'Content-Type: {ctype}; charset="{charset}"\r\nContent-Transfer-Encoding: {cte}\r\n\r\n'
    )
    if cte == "base64":
        body = base64.encodebytes(body)
    elif cte == "quoted-printable":
        body = quopri.encodestring(body)
    return head.encode() + body


def test_plain_message_fields() -> None:
    msg = parse_inbound(
        _mail(b"Where is my parcel?", headers="In-Reply-To: <a@x>\r\nReferences: <r1@x> <a@x>\r\n")
    )
    assert msg.sender == "anna@example.com"
    assert msg.sender_name == "Anna"
    assert msg.subject == "Hello"
    assert msg.message_id == "<m1@example.com>"
    assert msg.in_reply_to == "<a@x>"
    assert msg.references == ("<r1@x>", "<a@x>")
    assert msg.body == "Where is my parcel?"
    assert msg.attachment_count == 0
    assert msg.is_reply


def test_non_utf8_charsets_and_transfer_encodings() -> None:
    cases = [
        ("สถานะคำสั่งซื้อ", "tis-620", "cp874"),
        ("سفارش من کجاست", "windows-1256", "cp1256"),
        ("运费多少钱", "gb2312", "gb2312"),
        ("運費多少錢", "big5", "big5"),
        ("Café crème", "iso-8859-1", "latin-1"),
    ]
    for text, charset, codec in cases:
        for cte in ("base64", "quoted-printable"):
            msg = parse_inbound(_mail(text.encode(codec), charset=charset, cte=cte))
            assert msg.body == text, (charset, cte)


def test_mislabelled_utf8_and_unknown_charset_still_decode() -> None:
    assert parse_inbound(_mail("Zoë".encode(), charset="iso-8859-1")).body == "Zoë"
    assert parse_inbound(_mail("Zoë".encode(), charset="x-unknown-thing")).body == "Zoë"
    # GBK-only characters in a message labelled GB2312 (a very common mislabel).
    assert decode_bytes("镕".encode("gbk"), "gb2312") == "镕"


def test_utf7_is_not_honoured() -> None:
    assert "<script>" not in decode_bytes(b"+ADw-script+AD4-", "utf-7")


def test_html_only_is_converted_safely() -> None:
    html = (
        "<html><head><style>p{}</style><script>alert('ORD-0000000000')</script></head><body>"
        "<p>Hi &amp; hello</p><p>How do I <b>return</b> shoes?</p>"
        '<div style="display: none">hidden spam words</div>'
        "<blockquote>old quoted text</blockquote><p>Thanks</p></body></html>"
    )
    msg = parse_inbound(_mail(html.encode(), ctype="text/html", cte="quoted-printable"))
    assert msg.html_only
    assert "Hi & hello" in msg.body and "How do I return shoes?" in msg.body
    for gone in ("alert", "hidden spam", "old quoted", "p{}"):
        assert gone not in msg.text


def test_gmail_and_outlook_quote_containers_are_cut() -> None:
    gmail = '<div>New question</div><div class="gmail_quote">On Mon wrote:<blockquote>old</blockquote></div>'
    assert strip_quoted(html_to_text(gmail)) == "New question"
    outlook = '<p>New</p><div id="divRplyFwdMsg"><b>From:</b> x</div><div>old ORD-01HZX3K9QF</div>'
    assert strip_quoted(html_to_text(outlook)) == "New"


def test_tag_soup_does_not_break_the_converter() -> None:
    assert "text" in html_to_text("<div><p>text<span></div></p></b><script>x")
    assert html_to_text("") == ""


def test_attachments_are_counted_and_ignored() -> None:
    raw = (
        b"From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nSee attached\r\n"
        b"--B\r\nContent-Type: text/plain\r\n"
        b'Content-Disposition: attachment; filename="log.txt"\r\n\r\nsecret\r\n'
        b'--B\r\nContent-Type: image/png\r\nContent-Disposition: inline; filename="a.png"\r\n\r\nPNG\r\n'
        b"--B\r\nContent-Type: message/rfc822\r\n\r\nFrom: x@y\r\nSubject: fwd\r\n\r\nforwarded body\r\n"
        b"--B--\r\n"
    )
    msg = parse_inbound(raw)
    assert msg.body == "See attached"
    assert msg.attachment_count == 3
    assert "secret" not in msg.text and "forwarded body" not in msg.text


def test_quoted_history_and_signatures_are_stripped() -> None:
    text = (
        "Thanks, one more thing: do you ship to Canada?\n\n-- \nAnna Berg\nCEO, Example Ltd\n\n"
        "On Tue, 3 Mar 2026 at 09:01, Shop <support@shop.example> wrote:\n> Your order ORD-01HZX3K9QF shipped"
    )
    assert strip_quoted(text) == "Thanks, one more thing: do you ship to Canada?"
    outlook = "Please change it.\n\nFrom: Shop <s@shop.example>\nSent: Monday\nTo: me\nSubject: x\n\nold"
    assert strip_quoted(outlook) == "Please change it."
    for header in (
        "เมื่อ วันอังคารที่ 3 มี.ค. 2569 เวลา 09:01 Shop <s@shop.example> เขียนว่า:",
        "در تاریخ سه‌شنبه ۳ مارس ۲۰۲۶، Shop <s@shop.example> نوشت:",
        "在 2026年3月3日 09:01，Shop <s@shop.example> 写道：",
        "------------------ 原始邮件 ------------------",
    ):
        assert strip_quoted(f"new text\n\n{header}\n> old") == "new text"
    assert strip_quoted("Question?\n\nSent from my iPhone") == "Question?"


def test_forged_from_headers_leave_no_sender() -> None:
    for from_header, problem in [
        ("=?utf-8?q?Eve=0D=0ABcc:_victim@example.com?= <eve@example.net>", "from-unparseable"),
        ("=?utf-8?q?support=40shop.example?=", "from-invalid-address"),
        ("a@example.com, b@example.com", "from-not-single"),
        ("no address here", "from-invalid-address"),
    ]:
        msg = parse_inbound(f"From: {from_header}\r\nSubject: x\r\n\r\nbody".encode())
        assert msg.sender == "", from_header
        assert problem in msg.problems, (from_header, msg.problems)
    repeated = parse_inbound(b"From: a@example.com\r\nFrom: b@example.com\r\n\r\nx")
    assert repeated.sender == "" and "from-repeated" in repeated.problems


def test_display_name_cannot_smuggle_an_address_or_newlines() -> None:
    msg = parse_inbound(b'From: "support@shop.example" <mallory@evil.example>\r\n\r\nhi')
    assert msg.sender == "mallory@evil.example"
    subject = parse_inbound(b"From: a@example.com\r\nSubject: =?utf-8?q?a=0D=0ABcc:_x@y?=\r\n\r\nb").subject
    assert "\r" not in subject and "\n" not in subject


def test_header_values_are_unfolded_and_decoded() -> None:
    msg = parse_inbound(
        b"From: a@example.com\r\nAuto-Submitted: auto-replied;\r\n owner-email=x@y\r\n"
        b"X-Thing: =?utf-8?b?4LiX4LiU4Liq4Lit4Lia?=\r\nReturn-Path: <>\r\n\r\nb"
    )
    assert msg.header("auto-submitted") == "auto-replied; owner-email=x@y"
    assert msg.header("X-THING") == "ทดสอบ"
    assert msg.return_path == "<>"


def test_valid_address() -> None:
    assert is_valid_address("a.b+tag@sub.example.co.th")
    bad_addresses = (
        "", "a@b", '"a b"@example.com', "a@example.com\r\nBcc: x", "a@@example.com", "<a@b.example>"
    )
    for bad in bad_addresses:
        assert not is_valid_address(bad), bad


def test_subject_prefixes() -> None:
    assert strip_subject_prefixes("Re: RE: Fwd: AW: 回复: ตอบกลับ: پاسخ: Hello") == "Hello"
    assert strip_subject_prefixes("Re[2]: Hello") == "Hello"
    assert strip_subject_prefixes("Refund question") == "Refund question"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_parse_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    msg = parse_inbound(raw)
    assert isinstance(msg.body, str)
    assert "\n" not in msg.subject and "\r" not in msg.subject


_HEADER_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80)


@settings(max_examples=300, deadline=None)
@given(_HEADER_TEXT, _HEADER_TEXT, st.text(max_size=400))
def test_parse_never_raises_on_hostile_headers(from_value: str, subject: str, body: str) -> None:
    raw = f"From: {from_value}\r\nSubject: {subject}\r\nContent-Type: text/plain\r\n\r\n{body}"
    msg = parse_inbound(raw.encode("utf-8", "surrogatepass"))
    assert msg.sender == "" or is_valid_address(msg.sender)
    assert all(c not in msg.sender_name for c in "\r\n")
