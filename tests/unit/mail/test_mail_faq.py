"""FAQ matcher: seed data validity, matching across scripts, thresholds, robustness."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecrm.mail.faq import FaqIndex, features, normalize

ROOT = Path(__file__).resolve().parents[3]
SEED = ROOT / "infra" / "seed" / "faq.json"


@cache
def seed_entries() -> list[dict]:
    return json.loads(SEED.read_text(encoding="utf-8"))


@cache
def seed_index() -> FaqIndex:
    return FaqIndex.from_entries(seed_entries(), strict=True)


def test_seed_is_valid_and_covers_every_topic_in_every_language() -> None:
    entries = seed_entries()
    index = seed_index()
    assert not index.skipped
    topics = {e["id"] for e in entries}
    assert {"shipping-time", "shipping-cost", "shipping-international", "returns", "refunds",
            "payment-methods", "sizing", "change-address", "warranty", "tiers"} <= topics
    for lang in ("en", "th", "fa", "zh"):
        assert {e["id"] for e in entries if e["lang"] == lang} == topics, lang
    assert all(len(e["questions"]) >= 4 for e in entries)
    assert len({(e["id"], e["lang"]) for e in entries}) == len(entries)


@pytest.mark.parametrize(
    ("text", "lang", "faq_id"),
    [
        ("how much does postage cost for one pair?", "en", "shipping-cost"),
        ("Do you deliver to Canada?", "en", "shipping-international"),
        ("ซื้อครบเท่าไหร่ส่งฟรีครับ", "th", "shipping-cost"),
        ("มีเก็บเงินปลายทางไหมคะ", "th", "payment-methods"),
        ("คืนสินค้าได้ภายในกี่วันคะ", "th", "returns"),
        ("هزینه پست چنده؟", "fa", "shipping-cost"),
        ("چطور كالا را مرجوع كنم؟", "fa", "returns"),  # Arabic-keyboard ك must match Persian ک
        ("退款多久能到账", "zh", "refunds"),
        ("積分會過期嗎？", "zh", "points-expiry"),  # Traditional characters against a Simplified FAQ
    ],
)
def test_matches_paraphrases(text: str, lang: str, faq_id: str) -> None:
    match = seed_index().best_match(text, lang)
    assert match is not None, seed_index().rank(text, lang)
    assert match.id == faq_id
    assert match.lang == lang and match.answer and 0 < match.score <= 1


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Do you offer gift wrapping?", "en"),
        ("Please delete my account and all my personal data.", "en"),
        ("Do you have the red Runner 2 in size 44 in stock?", "en"),
        ("รุ่นนี้มีสีดำไซส์ 41 ไหมครับ", "th"),
        ("این مدل رنگ مشکی سایز ۴۱ موجوده؟", "fa"),
        ("可以开发票吗？", "zh"),
        ("我要取消订单，下错了", "zh"),
        ("", "en"),
        ("   ", "zh"),
    ],
)
def test_unrelated_questions_do_not_match(text: str, lang: str) -> None:
    assert seed_index().best_match(text, lang) is None


def test_language_without_entries_never_matches() -> None:
    assert seed_index().best_match("How much does shipping cost?", "other") is None
    assert seed_index().best_match("How much does shipping cost?", "de") is None


def test_question_buried_in_a_longer_email_still_matches() -> None:
    text = (
        "Hello team, I hope you are well. I bought boots from you last year and loved them. "
        "Quick question: do you accept PayPal? Best regards, Anna"
    )
    match = seed_index().best_match(text, "en")
    assert match is not None and match.id == "payment-methods"


def test_threshold_and_margin_are_respected() -> None:
    index = seed_index()
    best = index.rank("Do you take paypal?", "en", k=2)[0]
    assert index.best_match("Do you take paypal?", "en", threshold=best.score + 0.01) is None
    assert index.best_match("Do you take paypal?", "en", threshold=0.0, margin=best.margin + 0.01) is None


def test_invalid_entries_are_skipped_or_rejected() -> None:
    entries = [
        {"id": "ok", "lang": "en", "questions": ["How much is shipping?"], "answer": "EUR 5"},
        {"id": "Bad Id", "lang": "en", "questions": ["x"], "answer": "y"},
        {"id": "no-questions", "lang": "en", "questions": [], "answer": "y"},
        {"id": "bad-lang", "lang": "de", "questions": ["x"], "answer": "y"},
        "not a dict",
    ]
    index = FaqIndex.from_entries(entries)
    assert [position for position, _ in index.skipped] == [1, 2, 3, 4]
    assert index.best_match("how much is shipping", "en").id == "ok"
    with pytest.raises(ValueError):
        FaqIndex.from_entries(entries, strict=True)


def test_normalize_unifies_variants() -> None:
    assert normalize("كيك") == normalize("کیک")
    assert normalize("۱۲۳ ١٢٣ ๑๒๓") == "123 123 123"
    assert normalize("運費") == normalize("运费")
    assert normalize("ＡＢＣ") == "abc"
    assert "ord" not in normalize("ORD-01HZX3K9QF https://x.example/a")


def test_thai_politeness_particles_do_not_eat_points() -> None:
    # คะ is a particle, but คะแนน ("points") starts with the same letters.
    assert "t:คะแน" in features("คะแนนหมดอายุไหมคะ")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=500), st.sampled_from(["en", "th", "fa", "zh", "other"]))
def test_best_match_is_total_and_bounded(text: str, lang: str) -> None:
    match = seed_index().best_match(text, lang)
    assert match is None or 0.0 <= match.score <= 1.0
