"""Partial batch responses: failures reported by the identifier Lambda expects, the rest handled."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ecrm.platform import batch


def _sqs(ids: list[str]) -> dict[str, Any]:
    return {"Records": [{"messageId": i, "body": i} for i in ids]}


def _stream(seqs: list[str]) -> dict[str, Any]:
    return {"Records": [{"dynamodb": {"SequenceNumber": s}} for s in seqs]}


@given(st.lists(st.booleans(), max_size=20))
def test_sqs_reports_exactly_the_failed_messages(fails: list[bool]) -> None:
    ids = [f"m{i}" for i in range(len(fails))]
    handled: list[str] = []

    def handle(record: dict[str, Any]) -> None:
        if fails[ids.index(record["messageId"])]:
            raise ValueError("poison")
        handled.append(record["messageId"])

    result = batch.sqs(_sqs(ids), handle)
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == [
        i for i, f in zip(ids, fails, strict=True) if f
    ]
    assert handled == [i for i, f in zip(ids, fails, strict=True) if not f]


@given(st.lists(st.booleans(), max_size=20))
def test_stream_stops_at_the_first_failure_and_reports_the_rest(fails: list[bool]) -> None:
    seqs = [str(100 + i) for i in range(len(fails))]
    handled: list[str] = []

    def handle(record: dict[str, Any]) -> None:
        seq = record["dynamodb"]["SequenceNumber"]
        if fails[seqs.index(seq)]:
            raise RuntimeError("boom")
        handled.append(seq)

    result = batch.dynamodb_stream(_stream(seqs), handle)
    first = fails.index(True) if True in fails else len(fails)
    assert handled == seqs[:first]
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == seqs[first:]


def test_empty_event_reports_nothing() -> None:
    assert batch.sqs({}, lambda r: None) == {"batchItemFailures": []}
    assert batch.dynamodb_stream({"Records": []}, lambda r: None) == {"batchItemFailures": []}
