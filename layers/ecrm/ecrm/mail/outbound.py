"""The email queue's message contract, and how any service asks for an email to be sent.

A message names a template (transactional mail rendered by SES) or carries a pre-composed reply (raw
mail that needs its own headers: In-Reply-To, Auto-Submitted, List-Unsubscribe). `dedupe_key` makes the
sender send it at most once, however often the message is delivered.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from ecrm.platform import queues
from ecrm.platform.settings import env

KINDS = frozenset({"transactional", "marketing"})
_ADDRESS = re.compile(r"[^@\s<>\"(),;:\\\[\]\x00-\x1f\x7f]{1,64}@[A-Za-z0-9.-]{1,253}")
_TEMPLATE = re.compile(r"[a-z][a-z0-9_]{1,60}")


class BadMessage(ValueError):
    """A message on the email queue that can never be sent (it goes to the DLQ after its retries)."""


@dataclass
class OutboundEmail:
    """One email to send."""

    to: str
    dedupe_key: str
    kind: str = "transactional"
    template: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] | None = None  # {"subject", "text", "html", "headers"} for composed mail
    customer_id: str | None = None
    correlation_id: str | None = None

    def validate(self) -> OutboundEmail:
        """Refuse anything that could inject headers or go to a malformed address."""
        if not isinstance(self.to, str) or not _ADDRESS.fullmatch(self.to):
            raise BadMessage("`to` is not a single plain email address")
        if self.kind not in KINDS:
            raise BadMessage(f"unknown kind {self.kind!r}")
        if not self.dedupe_key or len(self.dedupe_key) > 200:
            raise BadMessage("dedupe_key is required (at most 200 characters)")
        if (self.template is None) == (self.raw is None):
            raise BadMessage("exactly one of template / raw is required")
        if self.template is not None and not _TEMPLATE.fullmatch(self.template):
            raise BadMessage(f"bad template name {self.template!r}")
        if self.raw is not None and not {"subject", "text"} <= set(self.raw):
            raise BadMessage("raw mail needs subject and text")
        return self

    def to_json(self) -> str:
        """The SQS message body."""
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, body: str) -> OutboundEmail:
        """Parse and validate an SQS message body."""
        try:
            doc = json.loads(body)
            return cls(**doc).validate()
        except (TypeError, ValueError) as err:
            raise BadMessage(f"unreadable email message: {err}") from err


def enqueue(emails: list[OutboundEmail]) -> None:
    """Send messages to the email queue (any failure raises so the caller retries)."""
    entries = [
        {
            "MessageBody": e.validate().to_json(),
            "MessageAttributes": {
                "correlation_id": {"DataType": "String", "StringValue": e.correlation_id or "-"}
            },
        }
        for e in emails
    ]
    queues.send_all(env("EMAIL_QUEUE_URL"), entries, "email queue")
