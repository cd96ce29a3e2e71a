"""Sending to SQS in batches: the one loop every producer (stream router, email enqueue) shares."""

from __future__ import annotations

from typing import Any

from ecrm.platform import aws

SQS_BATCH = 10  # SendMessageBatch's limit


def send_all(queue_url: str, entries: list[dict[str, Any]], what: str) -> None:
    """Send `entries` (each a SendMessageBatch entry without its `Id`) in batches of ten; any entry SQS
    refuses raises, so the caller (a stream record, a request) fails and is retried as a whole. Consumers
    dedupe, so the messages of a batch that did go out are harmless the second time."""
    for start in range(0, len(entries), SQS_BATCH):
        chunk = [{"Id": str(i), **e} for i, e in enumerate(entries[start : start + SQS_BATCH])]
        resp = aws.sqs().send_message_batch(QueueUrl=queue_url, Entries=chunk)
        if resp.get("Failed"):
            raise RuntimeError(f"{what} refused {len(resp['Failed'])} message(s): {resp['Failed'][0]}")
