"""Reading customer selections: strict validation, canonical form, content-addressed ids."""

from __future__ import annotations

from typing import Any

import pytest
from test_catalog_oracle import load_seed

from ecrm.catalog.engine import SelectionError, configuration_id, normalise_selection, parse_product

CAR = parse_product(load_seed("car"))
SHOE = parse_product(load_seed("shoe"))


@pytest.mark.parametrize(
    ("selection", "field"),
    [
        ({"spoiler": "big"}, "selection.spoiler"),
        ({"wheels": "22-gold"}, "selection.wheels"),
        ({"wheels": ["17-alloy"]}, "selection.wheels"),
        ({"wheels": 17}, "selection.wheels"),
        ({"packs": "tech"}, "selection.packs"),
        ({"packs": ["tech", "jetpack"]}, "selection.packs.1"),
        ({"packs": ["tech", "tech"]}, "selection.packs.1"),
        ({"packs": ["tech", 3]}, "selection.packs.1"),
        ({"plate-frame": "ab"}, "selection.plate-frame"),  # pattern: capitals, digits, spaces, dashes
        ({"plate-frame": "A" * 13}, "selection.plate-frame"),
        ({"plate-frame": 12}, "selection.plate-frame"),
    ],
)
def test_car_selection_errors_name_the_field(selection: dict[str, Any], field: str) -> None:
    with pytest.raises(SelectionError) as info:
        normalise_selection(CAR, selection)
    assert info.value.field == field


def test_selection_must_be_an_object() -> None:
    with pytest.raises(SelectionError) as info:
        normalise_selection(CAR, ["model", "gt"])  # type: ignore[arg-type]
    assert info.value.field == "selection"


@pytest.mark.parametrize(
    "text",
    ["AB\nCD", "AB\r", "A\x00B", "A\tB", "\u202eAB", "A\u2028B", "A\x85B", "A\x1bB"],
)
def test_free_text_rejects_control_characters(text: str) -> None:
    with pytest.raises(SelectionError) as info:
        normalise_selection(SHOE, {"monogram": text})
    assert info.value.field == "selection.monogram"
    assert "control character" in info.value.reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Zoë", "Zoë"),
        ("  Ñandú ", "Ñandú"),
        ("李小龍", "李小龍"),
        ("Ωmega", "Ωmega"),
        ("Zoe\u0308", "Zoë"),  # NFC: decomposed diaeresis composes
        ("D'Arc & Co", "D'Arc & Co"),
        ("می\u200cخواهم", "می\u200cخواهم"),  # Persian needs the zero-width non-joiner
    ],
)
def test_free_text_keeps_unicode_letters(text: str, expected: str) -> None:
    assert normalise_selection(SHOE, {"monogram": text}) == {"monogram": expected}


def test_free_text_length_counts_characters_after_normalisation() -> None:
    assert normalise_selection(SHOE, {"monogram": "Zoe\u0308" * 2 + "abcd"})["monogram"] == "ZoëZoëabcd"
    with pytest.raises(SelectionError):
        normalise_selection(SHOE, {"monogram": "abcdefghijk"})
    with pytest.raises(SelectionError):
        normalise_selection(SHOE, {"monogram": "-dash first"})  # pattern: starts with a letter or digit


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("42", "42"), (42, "42"), ("42.0", "42"), ("42.50", "42.5"), (" 36 ", "36"), ("4.7E+1", "47")],
)
def test_numbers_are_exact_and_canonical(raw: Any, expected: str) -> None:
    assert normalise_selection(SHOE, {"size": raw}) == {"size": expected}


@pytest.mark.parametrize(
    "raw", [42.5, True, "42.25", "35.5", "47.5", "NaN", "Infinity", "1e400", "4" * 40, "abc", [42]]
)
def test_numbers_off_grid_out_of_range_or_inexact_are_refused(raw: Any) -> None:
    with pytest.raises(SelectionError) as info:
        normalise_selection(SHOE, {"size": raw})
    assert info.value.field == "selection.size"


def test_number_strings_read_again_give_the_same_answer_and_bad_ones_are_refused_every_time() -> None:
    # Number strings are memoised per model (see selection._read_number_memoised); only good reads are kept.
    shoe = parse_product(load_seed("shoe"))
    padded = " " * 40 + "42.5"  # valid, but too long to be worth a memo entry
    for _ in range(2):
        assert normalise_selection(shoe, {"size": "42.50"}) == {"size": "42.5"}
        assert normalise_selection(shoe, {"size": " 42.5 "}) == {"size": "42.5"}
        assert normalise_selection(shoe, {"size": padded}) == {"size": "42.5"}
        for bad in ("42.25", "35.5", "abc"):
            with pytest.raises(SelectionError) as info:
                normalise_selection(shoe, {"size": bad})
            assert info.value.field == "selection.size"
    memo = shoe.compiled.derived["number_reads"]
    assert sorted(raw for _, raw in memo) == [" 42.5 ", "42.50"]


def test_unset_values_are_dropped_and_lists_sorted() -> None:
    sel = normalise_selection(
        CAR,
        {
            "packs": ["tow", "panorama", "tech"],
            "charging-cable": None,
            "plate-frame": "  ",
            "wheels": None,
            "model": "gt",
        },
    )
    assert sel == {"model": "gt", "packs": ["panorama", "tech", "tow"]}
    assert list(sel) == ["model", "packs"]  # model order, whatever the input order
    assert normalise_selection(CAR, {"packs": []}) == {}


def test_configuration_id_is_a_content_hash() -> None:
    a = normalise_selection(CAR, {"packs": ["tow", "tech"], "model": "estate"})
    b = normalise_selection(CAR, {"model": "estate", "packs": ["tech", "tow"]})
    cid = configuration_id("car-aurora", 1, a)
    assert cid == configuration_id("car-aurora", 1, b)
    assert len(cid) == 24 and all(ch in "0123456789abcdef" for ch in cid)
    assert cid != configuration_id("car-aurora", 2, a)
    assert cid != configuration_id("car-other", 1, a)
    assert cid != configuration_id("car-aurora", 1, {**a, "model": "gt"})
