"""Stream router: turns one table change into the work it implies (emails, loyalty events, timeline
entries for console edits). Pure decisions per item type live with their context; this module only
dispatches and performs.

Retries are safe by construction: every email carries a dedupe key the sender honours, every queue
message a source key its consumer applies once, every write a condition.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ecrm.mail.outbound import OutboundEmail, enqueue
from ecrm.platform import ddb, queues
from ecrm.platform.settings import env


@dataclass
class Change:
    """One stream record, deserialised."""

    event_name: str  # INSERT | MODIFY | REMOVE
    new: dict[str, Any] | None
    old: dict[str, Any] | None
    sequence_number: str

    @property
    def item(self) -> dict[str, Any]:
        """The item as it is now (or was, for a removal)."""
        return self.new or self.old or {}

    @property
    def correlation_id(self) -> str | None:
        """The correlation id the writing request stored on the item."""
        return self.item.get("correlation_id")


@dataclass
class Work:
    """What a change implies."""

    emails: list[OutboundEmail] = field(default_factory=list)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # queue env var -> bodies
    writes: list[Callable[[], Any]] = field(default_factory=list)

    def extend(self, other: Work) -> None:
        """Merge another change's work into this one."""
        self.emails += other.emails
        for queue, bodies in other.messages.items():
            self.messages.setdefault(queue, []).extend(bodies)
        self.writes += other.writes


def change_from_record(record: dict[str, Any]) -> Change:
    """A raw DynamoDB stream record -> Change."""
    data = record["dynamodb"]
    return Change(
        event_name=record["eventName"],
        new=ddb.from_item(data.get("NewImage")),
        old=ddb.from_item(data.get("OldImage")),
        sequence_number=str(data.get("SequenceNumber", "")),
    )


def _routes() -> dict[str, list[Callable[[Change], Work]]]:
    # Item type -> the contexts that react to it. Each context keeps its decisions in its own module.
    from ecrm.catalog import ordering
    from ecrm.loyalty import stream as loyalty_stream
    from ecrm.mail import cases
    from ecrm.orders import notifications

    return {
        "ORDER": [notifications.on_order_change, loyalty_stream.on_order_change, ordering.on_order_change],
        "CASE_REPLY": [cases.on_case_reply],
        "CUSTOMER_PROFILE": [loyalty_stream.on_profile_change],
        "LOYALTY": [loyalty_stream.on_balance_change],
    }


def route(change: Change) -> Work:
    """The work one change implies (empty for item types nobody reacts to)."""
    work = Work()
    for handler in _routes().get(str(change.item.get("type", "")), []):
        work.extend(handler(change))
    return work


def perform(work: Work) -> None:
    """Do the work: writes first (idempotent), then queue messages."""
    for write in work.writes:
        write()
    if work.emails:
        enqueue(work.emails)
    for queue_env, bodies in work.messages.items():
        entries = [{"MessageBody": json.dumps(b, separators=(",", ":"))} for b in bodies]
        queues.send_all(env(queue_env), entries, queue_env)
