"""The full pure pipeline (parse -> loops -> language -> intent/FAQ) over tests/corpus/inbound."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from ecrm.mail.faq import FaqIndex
from ecrm.mail.inbound import parse_inbound
from ecrm.mail.intents import decide_reply
from ecrm.mail.replies import compose_reply
from ecrm.mail.threading import find_case_ref

ROOT = Path(__file__).resolve().parents[3]
CORPUS = ROOT / "tests" / "corpus" / "inbound"
EXPECTED = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))


@cache
def index() -> FaqIndex:
    return FaqIndex.from_entries(json.loads((ROOT / "infra/seed/faq.json").read_text(encoding="utf-8")))


def test_corpus_is_complete() -> None:
    files = {p.name for p in CORPUS.glob("*.eml")}
    assert files == set(EXPECTED["messages"])
    assert len(files) >= 20
    reasons = {e.get("reason") for e in EXPECTED["messages"].values()}
    kinds = {e.get("kind") for e in EXPECTED["messages"].values()}
    assert {"order_status", "points", "faq", "ack"} <= kinds
    assert {"bounce", "out-of-office", "mailing-list", "own-address", "invalid-sender"} <= reasons


@pytest.mark.parametrize("name", sorted(EXPECTED["messages"]))
def test_pipeline_decision(name: str) -> None:
    expected = EXPECTED["messages"][name]
    msg = parse_inbound((CORPUS / name).read_bytes())
    decision = decide_reply(msg, set(EXPECTED["own_addresses"]), index(), expected.get("form_order_id"))

    assert decision.reply == expected["reply"], (decision, msg.body)
    if not expected["reply"]:
        assert decision.reason == expected["reason"]
        return
    assert decision.kind == expected["kind"], (decision.intent, msg.analysis_text)
    if "lang" in expected:
        assert decision.lang == expected["lang"]
    if "faq_id" in expected:
        assert decision.intent.faq_match.id == expected["faq_id"]
    if "order_ids" in expected:
        assert list(decision.intent.order_ids) == expected["order_ids"]
    if "attachments" in expected:
        assert msg.attachment_count == expected["attachments"]
    if "html_only" in expected:
        assert msg.html_only == expected["html_only"]
    if "case_ref" in expected:
        found = find_case_ref(msg.subject, msg.in_reply_to, msg.references)
        assert found is not None and found.case_ref == expected["case_ref"]

    # Whatever we decided must be composable and safe to send.
    data = {
        "order_status": {"orders": [{"order_id": i, "status": "shipped"} for i in decision.intent.order_ids]},
        "points": {"balance": 10},
        "faq": {"faq_match": decision.intent.faq_match},
        "ack": {},
    }[decision.kind]
    reply = compose_reply(decision.kind, decision.lang, msg, data, "C-TEST01")
    assert reply["to"] == (msg.reply_to or msg.sender)
    assert all("\n" not in v and "\r" not in v for v in [reply["subject"], *reply["headers"].values()])
    assert reply["headers"]["Auto-Submitted"] == "auto-replied"
