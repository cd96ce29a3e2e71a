"""SES bounce and complaint notifications (configuration set -> SNS) -> the suppression list.

Hard (Permanent) bounces and complaints suppress the address for every kind of mail; soft (Transient)
bounces do not: the mailbox may be full today and fine tomorrow, and SES already retried.
"""

from __future__ import annotations

import json
from typing import Any

from ecrm.mail.inbound import is_valid_address
from ecrm.platform import clock, ddb
from ecrm.platform.observability import count, logger
from ecrm.platform.settings import table_name


def addresses_to_suppress(notification: dict[str, Any]) -> list[tuple[str, str]]:
    """(address, reason) pairs a notification asks us to suppress (pure)."""
    kind = notification.get("eventType") or notification.get("notificationType")
    out: list[tuple[str, str]] = []
    if kind == "Bounce":
        bounce = notification.get("bounce") or {}
        if bounce.get("bounceType") != "Permanent":
            return []
        sub = str(bounce.get("bounceSubType") or "General")
        out = [
            (str(r.get("emailAddress", "")), f"bounce:{sub}") for r in bounce.get("bouncedRecipients") or []
        ]
    elif kind == "Complaint":
        complaint = notification.get("complaint") or {}
        if complaint.get("complaintSubType") == "OnAccountSuppressionList":
            return []
        ftype = str(complaint.get("complaintFeedbackType") or "abuse")
        out = [
            (str(r.get("emailAddress", "")), f"complaint:{ftype}")
            for r in complaint.get("complainedRecipients") or []
        ]
    result = []
    for address, reason in out:
        # "Name <a@b>" appears in some notifications; keep the addr-spec only.
        addr = address.rsplit("<", 1)[-1].rstrip(">").strip().lower()
        if is_valid_address(addr):
            result.append((addr, reason))
    return result


def apply(notification: dict[str, Any]) -> list[str]:
    """Write SUPPRESS#<email> for each address (first reason kept); returns the addresses."""
    now = clock.iso(clock.now())
    done = []
    for address, reason in addresses_to_suppress(notification):
        item = {
            "pk": f"SUPPRESS#{address}",
            "sk": "SUPPRESS",
            "type": "SUPPRESSION",
            "email": address,
            "reason": reason,
            "at": now,
            "ses_message_id": (notification.get("mail") or {}).get("messageId"),
        }
        if ddb.put_if_absent(table_name(), item):
            count("AddressSuppressed")
        done.append(address)
    kind = notification.get("eventType") or notification.get("notificationType")
    logger.info("ses feedback", extra={"kind": kind, "suppressed": len(done)})
    return done


def handle_sns_event(event: dict[str, Any]) -> list[str]:
    """Every record of an SNS event; a message that is not JSON raises (Lambda retries, then the DLQ)."""
    done: list[str] = []
    for record in event.get("Records") or []:
        done += apply(json.loads(record["Sns"]["Message"]))
    return done
