"""Builders shared by the mail integration tests: unique corpus messages, raw emails, table reads."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import boto3

from infra.local.system import LocalSystem

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "inbound"
EXPECTED = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))["messages"]
OWN_DOMAINS = ("shop.example",)
_FROM_ADDR = re.compile(
    rb"^From:[^\n]*?<?([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+)>?\s*$", re.MULTILINE | re.IGNORECASE
)
_MSGID = re.compile(rb"^(Message-ID:\s*<)([^@>]+)(@)", re.MULTILINE | re.IGNORECASE)


def personalise(name: str) -> tuple[bytes, str | None, str | None]:
    """A corpus message with a fresh sender (plus-tag) and Message-ID, so tests never share the sender's
    automatic-reply window or an inbound id. Returns (raw, sender or None, message id or None)."""
    raw = (CORPUS / name).read_bytes()
    tag = uuid.uuid4().hex[:8]
    sender = None
    match = _FROM_ADDR.search(raw)
    if match and not match.group(1).decode().lower().endswith(OWN_DOMAINS):
        old = match.group(1)
        local, domain = old.split(b"@", 1)
        new = local + b"+" + tag.encode() + b"@" + domain
        raw = raw.replace(old, new)
        sender = new.decode().lower()
    msgid = None
    m = _MSGID.search(raw)
    if m:
        raw = _MSGID.sub(lambda x: x.group(1) + x.group(2) + b"." + tag.encode() + x.group(3), raw, count=1)
        msgid = _MSGID.search(raw)
        msgid = "<" + (raw[msgid.end(1) : raw.index(b">", msgid.end(1))]).decode() + ">" if msgid else None
    return raw, sender, msgid


def email_bytes(
    sender: str,
    subject: str,
    body: str,
    *,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    name: str = "Test Customer",
    extra: dict[str, str] | None = None,
) -> tuple[bytes, str]:
    """A plain customer email to support@shop.example; returns (raw, Message-ID)."""
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>"
    msg["To"] = "Shop Support <support@shop.example>"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    message_id = f"<{uuid.uuid4().hex}@mail.example.net>"
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = " ".join(references)
    for k, v in (extra or {}).items():
        msg[k] = v
    msg.set_content(body)
    return msg.as_bytes(), message_id


def outcome(result: dict[str, Any]) -> dict[str, Any]:
    """The inbound function's outcome for the (single) record of a receive_email call."""
    assert "error" not in result, result
    return result["result"]["results"][0]


def table(system: LocalSystem) -> str:
    assert system.stack
    return system.stack.table()


def items(system: LocalSystem, pk: str) -> list[dict[str, Any]]:
    """Every item of a partition, deserialised."""
    from ecrm.platform import ddb

    resp = boto3.client("dynamodb").query(
        TableName=table(system),
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": pk}},
        ConsistentRead=True,
    )
    return [ddb.from_item(i) for i in resp["Items"]]  # type: ignore[misc]


def put(system: LocalSystem, item: dict[str, Any]) -> None:
    """Write an item directly (what another context or the console would have written)."""
    from ecrm.platform import ddb

    boto3.client("dynamodb").put_item(TableName=table(system), Item=ddb.to_item(item))


def case_messages(system: LocalSystem, case_ref: str) -> list[dict[str, Any]]:
    """The inbound messages of a case, oldest first."""
    return [i for i in items(system, f"CASE#{case_ref}") if i["type"] == "CASE_MESSAGE"]


def unique(prefix: str = "cust") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.net"
