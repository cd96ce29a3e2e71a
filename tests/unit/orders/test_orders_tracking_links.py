"""Guest tracking tokens: round trip, tamper detection, key rotation, garbage input."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ecrm.orders.tracking_links import InvalidToken, key_id, make_token, read_token

SECRET = b"tracking-secret-0123456789abcdef"
OLD_SECRET = b"tracking-secret-old-0123456789ab"

secrets = st.binary(min_size=16, max_size=64)
# Any text an id could be (no lone surrogates: they have no UTF-8 form).
order_ids = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=128)
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@given(secrets, order_ids)
def test_round_trip(secret: bytes, order_id: str) -> None:
    token = make_token(secret, order_id)
    assert read_token(secret, token) == order_id


@given(secrets, order_ids)
def test_tokens_are_url_safe_and_versioned(secret: bytes, order_id: str) -> None:
    token = make_token(secret, order_id)
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", token)
    version, kid, _, mac = token.split(".")
    assert version == "t1"
    assert kid == key_id(secret)
    assert len(mac) == 43  # full 256-bit MAC


def test_deterministic_and_distinct_per_order() -> None:
    assert make_token(SECRET, "ORD-1") == make_token(SECRET, "ORD-1")
    assert make_token(SECRET, "ORD-1") != make_token(SECRET, "ORD-2")


@given(secrets, order_ids, st.data())
def test_any_single_character_change_is_rejected(secret: bytes, order_id: str, data: st.DataObject) -> None:
    token = make_token(secret, order_id)
    position = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.sampled_from(B64URL + "."))
    assume(token[position] != replacement)
    tampered = token[:position] + replacement + token[position + 1 :]
    with pytest.raises(InvalidToken):
        read_token(secret, tampered)


@given(secrets, order_ids, order_ids)
def test_mac_cannot_be_moved_to_another_order(secret: bytes, first: str, second: str) -> None:
    assume(first != second)
    a = make_token(secret, first).split(".")
    b = make_token(secret, second).split(".")
    with pytest.raises(InvalidToken):
        read_token(secret, ".".join([a[0], a[1], b[2], a[3]]))


@given(secrets, secrets, order_ids)
def test_other_secret_is_rejected(secret: bytes, other: bytes, order_id: str) -> None:
    assume(secret != other)
    with pytest.raises(InvalidToken):
        read_token(other, make_token(secret, order_id))


def test_rotation_keeps_old_links_until_the_old_key_is_dropped() -> None:
    old_token = make_token(OLD_SECRET, "ORD-42")
    new_token = make_token(SECRET, "ORD-42")
    assert read_token([SECRET, OLD_SECRET], old_token) == "ORD-42"
    assert read_token([SECRET, OLD_SECRET], new_token) == "ORD-42"
    assert read_token((s for s in [SECRET, OLD_SECRET]), old_token) == "ORD-42"
    with pytest.raises(InvalidToken):
        read_token([SECRET], old_token)


def test_key_ids_differ_per_secret() -> None:
    assert key_id(SECRET) != key_id(OLD_SECRET)
    assert len(key_id(SECRET)) == 8


@pytest.mark.parametrize(
    "token",
    [
        "",
        "ORD-42",
        "t1",
        "t1...",
        "t2.AAAAAAAA.T1JELTQy.AAAA",
        "t1.AAAAAAAA.T1JELTQy.AAAA",
        "t1.AAAAAAAA.T1JELTQy=.AAAA",
        "t1.AAAAAAAA.T1JE LTQy.AAAA",
        "t1." + "A" * 2000,
    ],
)
def test_garbage_tokens_are_invalid(token: str) -> None:
    with pytest.raises(InvalidToken):
        read_token(SECRET, token)


def test_non_canonical_base64_is_rejected() -> None:
    token = make_token(SECRET, "ORD-42")
    version, kid, encoded_id, mac = token.split(".")
    # The last char of a 43-char MAC carries 2 padding bits; setting them keeps the bytes, changes the text.
    index = B64URL.index(mac[-1])
    twin = B64URL[index | 1] if index % 4 == 0 else B64URL[index & ~3]
    assert twin != mac[-1]
    with pytest.raises(InvalidToken):
        read_token(SECRET, ".".join([version, kid, encoded_id, mac[:-1] + twin]))


@given(st.text(max_size=200))
def test_arbitrary_text_only_ever_raises_invalid_token(token: str) -> None:
    with pytest.raises(InvalidToken):
        read_token(SECRET, token)


def test_invalid_token_is_a_generic_404() -> None:
    with pytest.raises(InvalidToken) as info:
        read_token(SECRET, "t1.x.y.z")
    assert info.value.status == 404
    assert "invalid" in info.value.detail


def test_configuration_defects_raise_value_error() -> None:
    with pytest.raises(ValueError):
        make_token(b"short", "ORD-1")
    with pytest.raises(ValueError):
        make_token(SECRET, "")
    with pytest.raises(ValueError):
        make_token(SECRET, "x" * 129)
    with pytest.raises(ValueError):
        read_token([], make_token(SECRET, "ORD-1"))
    with pytest.raises(ValueError):
        read_token([SECRET, b"short"], make_token(SECRET, "ORD-1"))
