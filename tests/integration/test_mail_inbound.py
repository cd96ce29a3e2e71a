"""Inbound email through the real path: SES receipt rule -> S3 -> InboundMailFunction (async) -> case in
DynamoDB -> stream -> router -> email queue -> sender -> SES -> outbox, on the in-process local stack."""

from __future__ import annotations

import json

import boto3
import pytest

from infra.local import ses
from infra.local.system import LocalSystem
from tests.integration.conftest import Api, body_html, body_text, outbox_for, settle, wait_for
from tests.integration.mail_helpers import (
    EXPECTED,
    case_messages,
    email_bytes,
    items,
    outcome,
    personalise,
    put,
    unique,
)
from tests.integration.orders_helpers import order_body

REPLY_SUBJECT_PREFIX = "Re: "


def _kind_of_reply(text: str) -> str:
    if "Here is the latest status" in text or "could not find order" in text:
        return "order_status"
    if "rewards" in text:
        return "points"
    if "help centre" in text:
        return "faq"
    return "ack"


def test_corpus_through_the_ses_path(system: LocalSystem) -> None:
    """Every corpus message: the reply the pure core decided, in the outbox with threading headers and
    Auto-Submitted; or no reply, with the loop rule's reason on the case."""
    sent: dict[str, tuple[str | None, str | None, dict]] = {}
    for name in sorted(EXPECTED):
        raw, sender, msgid = personalise(name)
        if EXPECTED[name].get("form_order_id"):
            continue  # the form's order id comes with the contact form (test_mail_contact)
        sent[name] = (sender, msgid, outcome(system.receive_email(raw)))
    problems = []
    for name, (_sender, _msgid, out) in sent.items():
        want = EXPECTED[name]
        if want["reply"]:
            if out["reply_kind"] is None:
                problems.append(f"{name}: no reply ({out['reason']})")
                continue
            if out["lang"] != want["lang"] or out["intent"] != want["kind"]:
                problems.append(f"{name}: {out['lang']}/{out['intent']} != {want['lang']}/{want['kind']}")
        elif out["reply_kind"] is not None or out["reason"] != want["reason"]:
            problems.append(
                f"{name}: got {out['reply_kind']} ({out['reason']}), want none ({want['reason']})"
            )
        msgs = case_messages(system, out["case_ref"])
        assert msgs and msgs[-1]["reason"] == out["reason"], name
    assert not problems, "\n".join(problems)

    for name, (sender, msgid, out) in sent.items():
        if not EXPECTED[name]["reply"]:
            continue
        assert sender
        mail = wait_for(lambda s=sender: outbox_for(system, s))[0]
        subject = str(mail["Subject"])
        assert subject.startswith(REPLY_SUBJECT_PREFIX) and f"[Case #{out['case_ref']}]" in subject, (
            name,
            subject,
        )
        assert mail["Auto-Submitted"] == "auto-replied", name
        assert mail["In-Reply-To"] == msgid and msgid in str(mail["References"]), name
        assert mail["Reply-To"] == "support@shop.example"
        if out["lang"] in {"en", "other"}:
            assert _kind_of_reply(body_text(mail)) == EXPECTED[name]["kind"], name
        if out["lang"] == "fa":
            assert 'dir="rtl"' in body_html(mail)
    settle(system)
    for name, (sender, _msgid, _out) in sent.items():
        if not EXPECTED[name]["reply"] and sender:
            assert outbox_for(system, sender) == [], f"{name}: a reply went out to {sender}"
    # The forged ones: nobody at the addresses in their headers heard from us either.
    for victim in ("victim@example.com", "support@shop.example", "alice@example.com", "bob@example.com"):
        assert outbox_for(system, victim) == []


def test_a_reply_in_the_thread_joins_the_case_and_gets_no_second_auto_reply(
    system: LocalSystem, api: Api
) -> None:
    sender = unique("thread")
    raw, first_id = email_bytes(
        sender, "Do you ship to Australia?", "Do you ship to Australia? How long does it take?"
    )
    first = outcome(system.receive_email(raw))
    reply = wait_for(lambda: outbox_for(system, sender))[0]
    follow_up, _ = email_bytes(
        sender,
        "Re: " + str(reply["Subject"]),
        "Thanks. Also, can I pay with PayPal?\n\nOn Tue, Shop wrote:\n> Yes, we ship...",
        in_reply_to=str(reply["Message-ID"]),
        references=[first_id, str(reply["Message-ID"])],
    )
    second = outcome(system.receive_email(follow_up))
    assert second["case_ref"] == first["case_ref"] and not second["new_case"]
    assert second["thread_via"] == "message-id"
    assert second["reply_kind"] is None and second["reason"] == "autoreply-window"
    case = next(i for i in items(system, f"CASE#{first['case_ref']}") if i["sk"] == "CASE")
    assert case["message_count"] == 2 and case["email"] == sender
    assert [m["direction"] for m in case_messages(system, first["case_ref"])] == ["in", "in"]
    settle(system)
    assert len(outbox_for(system, sender)) == 1
    # Staff see it: the customer asked something new and got no automatic answer.
    listed = api.call("GET", "/admin/cases?unanswered=1&limit=100", admin=True).json()["cases"]
    assert first["case_ref"] in [c["case_ref"] for c in listed]


def test_a_reply_quoting_only_the_ses_message_id_threads_through_the_lookup(system: LocalSystem) -> None:
    from moto.ses.models import ses_backends

    sender = unique("sesid")
    raw, _ = email_bytes(sender, "Gift cards", "Do you sell gift cards for birthdays at all?")
    first = outcome(system.receive_email(raw))
    wait_for(lambda: outbox_for(system, sender))
    backend = ses_backends["123456789012"]["us-east-1"]
    ses_id = next(m.id for m in backend.sent_messages if sender in list(getattr(m, "destinations", [])))
    stored = items(system, f"MSGID#{ses_id.lower()}")
    assert stored and stored[0]["case_ref"] == first["case_ref"]
    # A client that drops the subject tag and our own Message-ID: only SES's id is left.
    follow, _ = email_bytes(sender, "more", "One more thing", in_reply_to=f"<{ses_id}@email.amazonses.com>")
    second = outcome(system.receive_email(follow))
    assert second["case_ref"] == first["case_ref"] and second["thread_via"] == "lookup"


def test_someone_elses_case_tag_opens_a_new_case(system: LocalSystem) -> None:
    owner, intruder = unique("owner"), unique("intruder")
    first = outcome(
        system.receive_email(email_bytes(owner, "Question", "Can I change my delivery address?")[0])
    )
    tagged = f"Re: Question [Case #{first['case_ref']}]"
    other = outcome(system.receive_email(email_bytes(intruder, tagged, "What is in this case?")[0]))
    assert other["case_ref"] != first["case_ref"] and other["new_case"]
    assert case_messages(system, other["case_ref"])[0]["thread_via"] == "rejected:subject"


def test_a_retried_ses_invocation_sends_no_second_reply(system: LocalSystem) -> None:
    raw, sender, _ = personalise("01-plain-en-international.eml")
    assert sender
    first = system.receive_email(raw, message_id="retry0123456789abcdefretry01")
    again = system.receive_email(raw, message_id="retry0123456789abcdefretry01")
    assert outcome(again)["duplicate"] and outcome(again)["case_ref"] == outcome(first)["case_ref"]
    wait_for(lambda: outbox_for(system, sender))
    settle(system)
    assert len(outbox_for(system, sender)) == 1
    assert len(case_messages(system, outcome(first)["case_ref"])) == 1


def test_a_poison_inbound_event_lands_in_the_dlq_after_two_retries(system: LocalSystem) -> None:
    assert system.stack
    raw, _ = email_bytes(unique("poison"), "hi", "hello")
    event = ses.ses_event(system.stack, raw, "missing0object0in0s3")  # SES never stored it
    result = ses.invoke_async(system.stack, "InboundMailFunction", event)
    assert result["invocations"] == 3 and result["dead_letter"] == "InboundMailDLQ"
    sqs = boto3.client("sqs")
    url = system.stack.queue_url("InboundMailDLQ")
    found = []
    for _ in range(5):
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            found.append(json.loads(m["Body"]))
    records = [
        f
        for f in found
        if f["requestPayload"]["Records"][0]["ses"]["mail"]["messageId"] == "missing0object0in0s3"
    ]
    assert records and records[0]["requestContext"]["condition"] == "RetriesExhausted"
    assert records[0]["requestContext"]["approximateInvokeCount"] == 3


def test_local_inbound_route_takes_raw_eml_and_verdicts(system: LocalSystem, api: Api) -> None:
    sender = unique("http")
    raw, _ = email_bytes(sender, "Returns", "How do I return an item that does not fit?")
    resp = api.call("POST", "/_local/inbound", data=raw, headers={"Content-Type": "message/rfc822"})
    assert resp.status_code == 202, resp.text
    assert resp.json()["result"]["results"][0]["reply_kind"] == "faq"
    wait_for(lambda: outbox_for(system, sender))
    spam_sender = unique("spam")
    raw, _ = email_bytes(spam_sender, "Returns", "How do I return an item that does not fit?")
    spam = api.call("POST", "/_local/inbound?spam=FAIL", data=raw).json()["result"]["results"][0]
    assert spam["reply_kind"] is None and spam["reason"] == "spam"
    forged = api.call(
        "POST",
        "/_local/inbound?spf=FAIL&dkim=FAIL",
        data=email_bytes(unique("forged"), "Returns", "How do I return it?")[0],
    )
    assert forged.json()["result"]["results"][0]["reason"] == "unauthenticated"
    settle(system)
    assert outbox_for(system, spam_sender) == []


def test_order_status_with_live_data_only_for_the_senders_own_order(system: LocalSystem, api: Api) -> None:
    owner = unique("buyer")
    order = api.call("POST", "/orders", json=order_body(owner)).json()
    order_id = order["order_id"]
    paid = api.call("POST", f"/admin/orders/{order_id}/status", admin=True, json={"status": "paid"})
    assert paid.status_code == 200, paid.text
    shipped = api.call(
        "POST",
        f"/admin/orders/{order_id}/status",
        admin=True,
        json={"status": "shipped", "carrier": "dhl", "tracking_number": "JD0146000033"},
    )
    assert shipped.status_code == 200, shipped.text
    raw, _ = email_bytes(owner, f"Where is my order {order_id}?", f"Hi, where is my order {order_id}? Thanks")
    mine = outcome(system.receive_email(raw))
    assert mine["reply_kind"] == "order_status"
    mail = wait_for(lambda: [m for m in outbox_for(system, owner) if "Case #" in str(m["Subject"])])[0]
    text = body_text(mail)
    assert order_id in text and "Shipped" in text and "JD0146000033" in text and "/track/" in text
    assert "History:" in text

    stranger = unique("stranger")
    raw, _ = email_bytes(stranger, f"Where is my order {order_id}?", f"Where is my order {order_id}?")
    theirs = outcome(system.receive_email(raw))
    assert theirs["reply_kind"] == "order_status" and theirs["unanswered"]
    text = body_text(wait_for(lambda: outbox_for(system, stranger))[0])
    assert "could not find order" in text
    assert "Shipped" not in text and "JD0146000033" not in text and "/track/" not in text


def test_points_answer_from_the_balance_item_or_not_a_member(system: LocalSystem) -> None:
    member, customer_id = unique("member"), "cust-" + unique("id").split("@")[0]
    put(system, {"pk": f"EMAIL#{member}", "sk": "EMAIL", "type": "EMAIL", "customer_id": customer_id})
    put(
        system,
        {
            "pk": f"CUSTOMER#{customer_id}",
            "sk": "LOYALTY",
            "type": "LOYALTY",
            "customer_id": customer_id,
            "available": 1240,
            "locked": 100,
            "tier": "silver",
            "expiring": [{"on": "2027-01-31", "points": 200}],
        },
    )
    raw, _ = email_bytes(member, "My points", "How many points do I have?")
    assert outcome(system.receive_email(raw))["reply_kind"] == "points"
    text = body_text(wait_for(lambda: outbox_for(system, member))[0])
    assert "1,240" in text or "1240" in text
    assert "2027-01-31" in text

    guest = unique("guest")
    raw, _ = email_bytes(guest, "My points", "How many points do I have?")
    assert outcome(system.receive_email(raw))["reply_kind"] == "points"
    text = body_text(wait_for(lambda: outbox_for(system, guest))[0])
    assert "could not find a rewards membership" in text and "1240" not in text


def test_no_reply_to_a_suppressed_address(system: LocalSystem) -> None:
    sender = unique("bounced")
    put(
        system,
        {"pk": f"SUPPRESS#{sender}", "sk": "SUPPRESS", "type": "SUPPRESSION", "reason": "bounce:General"},
    )
    out = outcome(system.receive_email(email_bytes(sender, "Returns", "How do I return an item?")[0]))
    assert out["reply_kind"] is None and out["reason"] == "suppressed"
    settle(system)
    assert outbox_for(system, sender) == []


@pytest.mark.parametrize(("bounce_type", "suppressed"), [("Permanent", True), ("Transient", False)])
def test_ses_bounces_maintain_the_suppression_list(
    system: LocalSystem, bounce_type: str, suppressed: bool
) -> None:
    address = unique("bounce")
    notification = {
        "eventType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": address, "status": "5.1.1"}],
        },
        "mail": {"messageId": "0100-abc", "destination": [address]},
    }
    result = system.ses_feedback(notification)
    assert result["invocations"] == 1
    stored = items(system, f"SUPPRESS#{address}")
    assert bool(stored) is suppressed
    if suppressed:
        assert stored[0]["reason"] == "bounce:General"


def test_ses_complaints_suppress_and_a_poison_notification_lands_in_the_dlq(
    system: LocalSystem, api: Api
) -> None:
    address = unique("complainer")
    resp = api.call(
        "POST",
        "/_local/ses-feedback",
        json={
            "notificationType": "Complaint",
            "complaint": {
                "complainedRecipients": [{"emailAddress": f"Someone <{address}>"}],
                "complaintFeedbackType": "abuse",
            },
            "mail": {"messageId": "0100-def"},
        },
    )
    assert resp.status_code == 202, resp.text
    assert items(system, f"SUPPRESS#{address}")[0]["reason"] == "complaint:abuse"
    assert system.stack
    fn, topic = ses.feedback_function(system.stack)
    poison = {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": "not json", "TopicArn": topic}}]}
    result = ses.invoke_async(system.stack, fn, poison)
    assert result["dead_letter"] == "MailFeedbackDLQ" and result["invocations"] == 3
