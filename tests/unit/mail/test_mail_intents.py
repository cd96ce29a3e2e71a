"""Intent classification and order-id extraction."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecrm.mail.faq import FaqIndex
from ecrm.mail.inbound import parse_inbound
from ecrm.mail.intents import classify, decide_reply, extract_order_ids, normalize_order_id

ROOT = Path(__file__).resolve().parents[3]
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@cache
def index() -> FaqIndex:
    return FaqIndex.from_entries(json.loads((ROOT / "infra/seed/faq.json").read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("Where is ORD-01HZX3K9QF?", ("ORD-01HZX3K9QF",)),
        ("order ord-01hzx3k9qf and ORD 01HZX3K9QG", ("ORD-01HZX3K9QF", "ORD-01HZX3K9QG")),
        ("#ORD01HZX3K9QF", ("ORD-01HZX3K9QF",)),
        ("ORD-O1HZX3K9QF (typed O for zero)", ("ORD-01HZX3K9QF",)),
        ("订单ＯＲＤ－０１ＨＺＸ３Ｋ９ＱＦ", ("ORD-01HZX3K9QF",)),
        ("ORDER12345678 is not an id", ()),
        ("ORD-01HZX3K9QFX too long", ()),
        ("ORD-01HZX3K9Q too short", ()),
        ("ORD-01HZX3K9QU has a U", ()),
    ],
)
def test_extract_order_ids(text: str, ids: tuple[str, ...]) -> None:
    assert extract_order_ids(text) == ids


@given(st.text(alphabet=CROCKFORD, min_size=10, max_size=10), st.text(max_size=50), st.text(max_size=50))
def test_any_canonical_id_is_found(suffix: str, before: str, after: str) -> None:
    order_id = f"ORD-{suffix}"
    assert order_id in extract_order_ids(f"{before} {order_id} {after}")


def test_normalize_form_order_id() -> None:
    assert normalize_order_id(" ord-01hzx3k9qf ") == "ORD-01HZX3K9QF"
    assert normalize_order_id("ORD-01HZX3K9QF; DROP TABLE") is None
    assert normalize_order_id(None) is None
    assert normalize_order_id("x" * 1000) is None


@pytest.mark.parametrize(
    ("text", "lang", "kind"),
    [
        ("Where is my order ORD-01HZX3K9QF?", "en", "order_status"),
        ("ORD-01HZX3K9QF", "en", "order_status"),
        ("How do I return an item? It was order ORD-01HZX3K9QF", "en", "faq"),
        ("How many points do I have?", "en", "points"),
        ("When do my points expire?", "en", "points"),
        ("ตอนนี้ผมมีแต้มเท่าไหร่ครับ", "th", "points"),
        ("الان چند امتیاز دارم؟", "fa", "points"),
        ("我现在有多少积分？", "zh", "points"),
        ("How do I earn points?", "en", "faq"),
        ("Do you take PayPal?", "en", "faq"),
        ("I want to cancel my order, I ordered by mistake", "en", "ack"),
        ("", "en", "ack"),
    ],
)
def test_classify(text: str, lang: str, kind: str) -> None:
    assert classify(text, lang, index()).kind == kind


def test_form_order_id_is_used_only_when_valid() -> None:
    intent = classify("It has not arrived yet", "en", index(), form_order_id="ord-01hzx3k9qf")
    assert (intent.kind, intent.order_ids) == ("order_status", ("ORD-01HZX3K9QF",))
    assert classify("It has not arrived yet", "en", index(), form_order_id="<script>").kind != "order_status"


def test_reply_subject_ids_only_count_when_the_body_asks_for_status() -> None:
    base = (
        "From: a@example.com\r\nSubject: Re: Your order ORD-01HZX3K9QF has shipped\r\n"
        "In-Reply-To: <x@y>\r\n\r\n"
    )
    thanks = decide_reply(parse_inbound((base + "Great, thanks!").encode()), set(), index())
    assert thanks.kind == "ack"
    waiting = decide_reply(parse_inbound((base + "It still hasn't arrived.").encode()), set(), index())
    assert (waiting.kind, waiting.intent.order_ids) == ("order_status", ("ORD-01HZX3K9QF",))


def test_decide_reply_reports_loop_reason() -> None:
    msg = parse_inbound(b"From: noreply@example.com\r\nSubject: x\r\n\r\nDo you take PayPal?")
    decision = decide_reply(msg, set(), index())
    assert (decision.reply, decision.kind, decision.reason) == (False, None, "noreply-sender")
