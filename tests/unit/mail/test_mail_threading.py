"""Case tags in subjects and finding the case of a reply."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecrm.mail.threading import (
    candidate_message_ids,
    case_ref_from_message_id,
    case_ref_from_subject,
    case_tag,
    find_case_ref,
    make_message_id,
    ses_message_id,
    with_case_tag,
)


def test_case_tag_round_trip() -> None:
    assert case_tag("c-7q2m4k") == "[Case #C-7Q2M4K]"
    assert case_ref_from_subject("Re: Shipping [Case #C-7Q2M4K]") == "C-7Q2M4K"
    assert case_ref_from_subject("AW: [case # c-7q2m4k] Versand") == "C-7Q2M4K"
    assert case_ref_from_subject("回复: 运费【Case #C-7Q2M4K】") == "C-7Q2M4K"
    assert case_ref_from_subject("Fwd: [Case #C-AAAA1] Re: [Case #C-BBBB2]") == "C-BBBB2"
    assert case_ref_from_subject("Case C-7Q2M4K without brackets") is None
    assert case_ref_from_subject(None) is None


def test_with_case_tag_replaces_existing_tags() -> None:
    assert with_case_tag("Re: Hello [Case #C-OLD01]", "C-NEW02") == "Re: Hello [Case #C-NEW02]"


@pytest.mark.parametrize("bad", ["", "C-", "C-12", "X-1234", "C-1234\r\nBcc: x", "C-" + "A" * 40])
def test_invalid_case_refs_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        case_tag(bad)


def test_message_ids() -> None:
    mid = make_message_id("C-7Q2M4K", "01HZX.1", "shop.example")
    assert mid == "<case.C-7Q2M4K.01HZX.1@shop.example>"
    assert case_ref_from_message_id(mid) == "C-7Q2M4K"
    assert case_ref_from_message_id("<other@x>") is None
    with pytest.raises(ValueError):
        make_message_id("C-7Q2M4K", "a b", "shop.example")
    ses = "<0100018e2f3a4b5c-1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d-000000@eu-west-1.amazonses.com>"
    assert ses_message_id(ses) == "0100018e2f3a4b5c-1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d-000000"
    assert ses_message_id("<x@example.com>") is None


def test_candidates_are_newest_first_and_bounded() -> None:
    refs = [f"<r{i}@x>" for i in range(30)]
    ids = candidate_message_ids("<r29@x>", refs)
    assert ids[0] == "<r29@x>" and ids[1] == "<r28@x>" and len(ids) == 10
    assert candidate_message_ids(None, ["bad", "<ok@x>"]) == ["<ok@x>"]


def test_find_case_ref_order_of_evidence() -> None:
    ours = "<case.C-AAAA1.1@shop.example>"
    assert find_case_ref("[Case #C-BBBB2]", ours, []).via == "message-id"
    lookup = {"<ses@eu-west-1.amazonses.com>": "c-cccc3"}.get
    found = find_case_ref("[Case #C-BBBB2]", "<ses@eu-west-1.amazonses.com>", [], lookup)
    assert (found.case_ref, found.via) == ("C-CCCC3", "lookup")
    found = find_case_ref("Re: [Case #C-BBBB2]", "<unknown@x>", [], lookup)
    assert (found.case_ref, found.via) == ("C-BBBB2", "subject")
    assert find_case_ref("no tag", None, [], lookup) is None
    assert find_case_ref("x", "<bad@x>", [], {"<bad@x>": "not a ref"}.get) is None


@given(st.text(max_size=200), st.text(alphabet="0123456789ABCDEFGHJKMNPQRSTVWXYZ", min_size=4, max_size=26))
def test_tag_survives_any_subject(subject: str, suffix: str) -> None:
    assert case_ref_from_subject(with_case_tag(subject, f"C-{suffix}")) == f"C-{suffix}"
