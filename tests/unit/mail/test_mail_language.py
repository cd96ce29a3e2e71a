"""Language detection from script counts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecrm.mail.language import detect_language, script_counts


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Hello, where is my order?", "en"),
        ("Bonjour, où est ma commande ?", "en"),  # Latin script: English is the fallback
        ("สวัสดีครับ ค่าส่งเท่าไหร่", "th"),
        ("سلام، سفارش من کی می‌رسد؟", "fa"),
        ("سلام، سفارش من كي مي رسد؟ لطفا پيگيري كنيد", "fa"),  # typed on an Arabic keyboard layout
        ("مرحبا، أين طلبي؟ هل تم الشحن إلى الرياض", "other"),  # Arabic
        ("你好，运费多少？", "zh"),
        ("請問運費多少？", "zh"),
        ("こんにちは、注文はいつ届きますか", "other"),  # Japanese: kana
        ("안녕하세요 주문 언제 와요", "other"),
        ("Здравствуйте, где мой заказ?", "other"),
        ("我的订单ORD-01HZX3K9QF在哪里 https://shop.example/orders", "zh"),
        ("Hi 请问怎么退货", "zh"),
        ("", "en"),
        ("12345 !!!", "en"),
    ],
)
def test_detect(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def test_noise_is_ignored() -> None:
    assert script_counts("ORD-01HZX3K9QF https://example.com/abc a@b.example") == {}


@given(st.text())
def test_always_returns_a_known_code(text: str) -> None:
    assert detect_language(text) in {"en", "th", "fa", "zh", "other"}
