"""SES receipt rule (S3 action, then this Lambda action, async) -> read the raw message from S3 -> case.

Failures raise: Lambda retries the async invocation twice, then sends it to the OnFailure DLQ (the raw
message stays in S3 for the lifecycle period). Retries are harmless: the inbound id is deduplicated.
"""

from __future__ import annotations

import re
from typing import Any

from ecrm.mail import inbox
from ecrm.mail.inbound import parse_inbound
from ecrm.platform import aws
from ecrm.platform.observability import lambda_handler, logger
from ecrm.platform.settings import env

_UNSUBSCRIBE = re.compile(r"^unsubscribe\s+(u1\.[A-Za-z0-9_.-]{10,400})$", re.IGNORECASE)
MAX_RAW_BYTES = 30 * 1024 * 1024  # SES accepts up to 40 MB; larger is not a customer question


def _verdicts(receipt: dict[str, Any]) -> inbox.Verdicts:
    def status(name: str) -> str:
        return str((receipt.get(name) or {}).get("status", "PASS"))

    return inbox.Verdicts(
        spam=status("spamVerdict"),
        virus=status("virusVerdict"),
        spf=status("spfVerdict"),
        dkim=status("dkimVerdict"),
    )


def process_record(record: dict[str, Any]) -> dict[str, Any]:
    """One SES record -> case (+ reply stored for the stream to send)."""
    if record.get("eventSource") != "aws:ses":
        raise ValueError(f"not an SES record: {record.get('eventSource')!r}")
    ses = record["ses"]
    message_id = str(ses["mail"]["messageId"])
    if not message_id or "/" in message_id or len(message_id) > 200:
        raise ValueError("bad SES message id")
    key = env("INBOUND_PREFIX") + message_id
    obj = aws.s3().get_object(Bucket=env("INBOUND_BUCKET"), Key=key)
    if int(obj.get("ContentLength", 0)) > MAX_RAW_BYTES:
        raw = obj["Body"].read(MAX_RAW_BYTES)
    else:
        raw = obj["Body"].read()
    msg = parse_inbound(raw)
    match = _UNSUBSCRIBE.match(msg.subject.strip())
    if match:  # the mailto: half of List-Unsubscribe
        from ecrm.mail import unsubscribe
        from ecrm.platform.errors import NotFound

        try:
            return unsubscribe.opt_out(match.group(1), "mailto")
        except NotFound:
            pass  # not our token: an ordinary message that happens to start with the word
    outcome = inbox.process(
        msg,
        inbound_id=f"ses-{message_id}",
        channel="email",
        verdicts=_verdicts(ses.get("receipt") or {}),
        s3_key=key,
        correlation_id=message_id,
    )
    return outcome.to_dict()


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point (SES invokes with one record)."""
    results = []
    for record in event.get("Records") or []:
        logger.set_correlation_id(((record.get("ses") or {}).get("mail") or {}).get("messageId"))
        results.append(process_record(record))
    if not results:
        raise ValueError("event without SES records")
    return {"results": results}
