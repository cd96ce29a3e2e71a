"""Cases: every inbound email or contact-form message, kept as a conversation on the customer's record.

Keys (see docs/data-model.md):
- case:        pk=CASE#<ref> sk=CASE                 gsi1 CUSTOMER#<id> | GUEST#<email> / CASE#<at>#<ref>
                                                      gsi2 CASES#UNANSWERED / <updated>#<ref> (sparse)
- message:     pk=CASE#<ref> sk=MSG#<at>#<n>#1-in     one per inbound message (excerpt, decision, reason)
- reply:       pk=CASE#<ref> sk=MSG#<at>#<n>#2-out    the composed automatic reply; its INSERT on the stream
                                                      is what sends it (`on_case_reply`)
- dedupe:      pk=INMSG#<inbound id> sk=INMSG          a retried SES invocation finds it and does nothing
- threading:   pk=MSGID#<message id> sk=MSGID          Message-IDs of the conversation (the customer's, and
                                                      SES's id for our replies) -> case
- frequency:   pk=AUTOREPLY#<sender> sk=AUTOREPLY      at most one automatic reply per sender per window
"""

from __future__ import annotations

import hashlib
from typing import Any

from ecrm.events.router import Change, Work
from ecrm.mail.outbound import OutboundEmail
from ecrm.platform import aws, ddb, paging
from ecrm.platform.errors import ValidationFailed
from ecrm.platform.settings import table_name

CASE_SK = "CASE"
UNANSWERED_GSI2PK = "CASES#UNANSWERED"
INMSG_TTL_S = 30 * 86400
MSGID_TTL_S = 400 * 86400
MAX_PAGE = 100


def case_pk(case_ref: str) -> str:
    """Partition of a case and its messages."""
    return f"CASE#{case_ref}"


def owner_key(email: str, customer_id: str | None) -> str:
    """The gsi1 partition a case is listed under: the member's record, or the guest's address."""
    return f"CUSTOMER#{customer_id}" if customer_id else f"GUEST#{email}"


def inbound_key(inbound_id: str) -> str:
    """Dedupe key of one inbound message (SES message id, or the contact form's generated id)."""
    return f"INMSG#{inbound_id[:200]}"


def msgid_key(message_id: str) -> str:
    """Threading key of a Message-ID (angle brackets dropped; long ids hashed to fit the key)."""
    bare = message_id.strip().strip("<>")
    if len(bare) > 200:
        bare = "sha256:" + hashlib.sha256(bare.encode()).hexdigest()
    return f"MSGID#{bare}"


# ------------------------------------------------------------------ reads
def get_case(case_ref: str) -> dict[str, Any] | None:
    """One case item (GetItem)."""
    resp = aws.dynamodb().get_item(TableName=table_name(), Key=ddb.key(case_pk(case_ref), CASE_SK))
    return ddb.from_item(resp.get("Item"))


def already_processed(inbound_id: str) -> str | None:
    """The case an inbound message was already filed under (a retried invocation), or None."""
    resp = aws.dynamodb().get_item(
        TableName=table_name(), Key=ddb.key(inbound_key(inbound_id), "INMSG"), ConsistentRead=True
    )
    item = ddb.from_item(resp.get("Item"))
    return str(item["case_ref"]) if item else None


def suppressed(address: str) -> bool:
    """True if the address is on the suppression list (hard bounce, complaint, manual; one GetItem).

    The sender checks this too; checking before filing lets the case say why no reply went out."""
    resp = aws.dynamodb().get_item(
        TableName=table_name(), Key=ddb.key(f"SUPPRESS#{address.lower()}", "SUPPRESS")
    )
    return "Item" in resp


def case_for_message_id(message_id: str) -> str | None:
    """The case a Message-ID belongs to (our replies' SES ids and the customer's own messages)."""
    from ecrm.mail.threading import ses_message_id

    key = ses_message_id(message_id)
    if key is None:
        bare = message_id.strip().strip("<>")
        local, _, domain = bare.rpartition("@")
        key = local.lower() if domain.lower().endswith("amazonses.com") and local else message_id
    resp = aws.dynamodb().get_item(TableName=table_name(), Key=ddb.key(msgid_key(key), "MSGID"))
    item = ddb.from_item(resp.get("Item"))
    return str(item["case_ref"]) if item else None


def messages(case_ref: str) -> list[dict[str, Any]]:
    """The conversation of a case, oldest first (one Query, paged)."""
    out: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": table_name(),
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :m)",
        "ExpressionAttributeValues": ddb.values({":pk": case_pk(case_ref), ":m": "MSG#"}),
    }
    while True:
        resp = aws.dynamodb().query(**kwargs)
        out += [ddb.from_item(i) for i in resp.get("Items", [])]  # type: ignore[misc]
        if "LastEvaluatedKey" not in resp:
            return out
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def list_unanswered(limit: int, cursor: str | None) -> dict[str, Any]:
    """Cases waiting for a person, newest first: one Query on the sparse gsi2 partition. A cursor that is
    not one this list returned is a 400 naming `cursor` (`ecrm.platform.paging`)."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(f"must be between 1 and {MAX_PAGE}", field="limit")
    kwargs: dict[str, Any] = {
        "TableName": table_name(),
        "IndexName": "gsi2",
        "KeyConditionExpression": "gsi2pk = :p",
        "ExpressionAttributeValues": ddb.values({":p": UNANSWERED_GSI2PK}),
        "ScanIndexForward": False,
        "Limit": limit,
    }
    if cursor:
        kwargs["ExclusiveStartKey"] = paging.decode(cursor, _unanswered_key, paging.GSI2_KEYS)
    resp = aws.dynamodb().query(**kwargs)
    cases = [_case_view(ddb.from_item(i) or {}) for i in resp.get("Items", [])]
    last = resp.get("LastEvaluatedKey")
    return {"cases": cases, "next_cursor": paging.encode(last) if last else None}


def _unanswered_key(key: dict[str, str]) -> bool:
    # A cursor only ever resumes the unanswered list, at a case item.
    return key["gsi2pk"] == UNANSWERED_GSI2PK and key["pk"].startswith("CASE#") and key["sk"] == CASE_SK


def _case_view(case: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "case_ref",
        "email",
        "customer_id",
        "subject",
        "lang",
        "status",
        "channel",
        "created_at",
        "updated_at",
        "message_count",
        "last_intent",
        "last_reason",
        "last_excerpt",
    )
    return {k: case.get(k) for k in keys}


# ------------------------------------------------------------------ writes
def claim_autoreply_slot(sender: str, inbound_id: str, now_epoch: int, window_s: int) -> bool:
    """Take the sender's automatic-reply slot for `window_s` seconds (conditional put). A retried invocation
    for the same message gets its own slot back, so a retry still replies once."""
    return ddb.put_if_absent(
        table_name(),
        {
            "pk": f"AUTOREPLY#{sender}",
            "sk": "AUTOREPLY",
            "type": "AUTOREPLY",
            "inbound_id": inbound_id,
            "until": now_epoch + window_s,
            "ttl": now_epoch + window_s,
        },
        replace_if="#u < :now OR inbound_id = :id",
        names={"#u": "until"},
        values={":now": now_epoch, ":id": inbound_id},
    )


def file_message(
    *,
    case: dict[str, Any],
    is_new: bool,
    message: dict[str, Any],
    reply: dict[str, Any] | None,
    inbound_id: str,
    message_ids: list[str],
    now_epoch: int,
) -> bool:
    """Write a message into its case in ONE transaction: the case (new, or updated), the message, the
    reply to send (if any), the inbound dedupe item and the threading keys. False if this inbound message
    was filed already (a concurrent retry won)."""
    ref = case["case_ref"]
    items: list[dict[str, Any]] = []
    if is_new:
        items.append(
            {
                "Put": {
                    "TableName": table_name(),
                    "Item": ddb.to_item(case),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        )
    else:
        sets = [
            "updated_at = :u",
            "message_count = message_count + :one",
            "last_intent = :i",
            "last_reason = :r",
            "last_excerpt = :x",
            "#s = :s",
        ]
        removes = []
        values = {
            ":u": case["updated_at"],
            ":one": 1,
            ":i": case.get("last_intent") or "-",
            ":r": case.get("last_reason") or "-",
            ":x": case.get("last_excerpt") or "",
            ":s": case.get("status") or "open",
        }
        if case.get("gsi2pk"):
            sets += ["gsi2pk = :g2", "gsi2sk = :g2s"]
            values.update({":g2": case["gsi2pk"], ":g2s": case["gsi2sk"]})
        else:
            removes = ["gsi2pk", "gsi2sk"]
        expr = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        items.append(
            {
                "Update": {
                    "TableName": table_name(),
                    "Key": ddb.key(case_pk(ref), CASE_SK),
                    "UpdateExpression": expr,
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": ddb.values(values),
                }
            }
        )
    items.append(
        {
            "Put": {
                "TableName": table_name(),
                "Item": ddb.to_item(message),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
    )
    if reply is not None:
        items.append(
            {
                "Put": {
                    "TableName": table_name(),
                    "Item": ddb.to_item(reply),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        )
    items.append(
        {
            "Put": {
                "TableName": table_name(),
                "ConditionExpression": "attribute_not_exists(pk)",
                "Item": ddb.to_item(
                    {
                        "pk": inbound_key(inbound_id),
                        "sk": "INMSG",
                        "type": "INMSG",
                        "case_ref": ref,
                        "ttl": now_epoch + INMSG_TTL_S,
                    }
                ),
            }
        }
    )
    seen: set[str] = set()
    for mid in message_ids[:3]:
        key = msgid_key(mid)
        if key in seen:
            continue
        seen.add(key)
        # Unconditional: a Message-ID re-used by a forger only re-points its own thread key, and every
        # lookup is checked against the sender before anything is attached or revealed.
        items.append(
            {
                "Put": {
                    "TableName": table_name(),
                    "Item": ddb.to_item(
                        {
                            "pk": key,
                            "sk": "MSGID",
                            "type": "MSGID",
                            "case_ref": ref,
                            "ttl": now_epoch + MSGID_TTL_S,
                        }
                    ),
                }
            }
        )
    try:
        aws.dynamodb().transact_write_items(TransactItems=items)
        return True
    except Exception as err:
        codes = ddb.cancellation_codes(err)
        inmsg_at = len(items) - len(seen) - 1
        if codes and len(codes) > inmsg_at and codes[inmsg_at] == "ConditionalCheckFailed":
            return False
        raise


def record_sent_message_id(case_ref: str, ses_message_id: str, now_epoch: int) -> None:
    """Our reply's SES message id -> its case (SES replaces our Message-ID, see threading.py)."""
    aws.dynamodb().put_item(
        TableName=table_name(),
        Item=ddb.to_item(
            {
                "pk": msgid_key(ses_message_id.lower()),
                "sk": "MSGID",
                "type": "MSGID",
                "case_ref": case_ref,
                "ttl": now_epoch + MSGID_TTL_S,
            }
        ),
    )


# ------------------------------------------------------------------ stream: the reply item sends the email
def on_case_reply(change: Change) -> Work:
    """A new CASE_REPLY item -> one raw email on the queue, deduplicated on the inbound message."""
    work = Work()
    if change.event_name != "INSERT" or change.new is None:
        return work
    reply = change.new
    work.emails.append(
        OutboundEmail(
            to=reply["to"],
            kind="transactional",
            raw={
                "subject": reply["subject"],
                "text": reply["text"],
                "html": reply.get("html"),
                "headers": reply.get("headers") or {},
            },
            data={"case_ref": reply["case_ref"]},
            dedupe_key=reply["dedupe_key"],
            customer_id=reply.get("customer_id"),
            correlation_id=change.correlation_id,
        )
    )
    return work
