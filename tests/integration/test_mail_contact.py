"""The contact form, FAQ editing, the staff list of unanswered cases and one-click unsubscribe, through
the local gateway (HTTP -> API function -> DynamoDB -> stream -> queue -> sender -> outbox)."""

from __future__ import annotations

import base64
import json
import time

import pytest

from infra.local.system import LocalSystem
from tests.integration.conftest import Api, body_html, body_text, outbox_for, settle, wait_for
from tests.integration.mail_helpers import items, unique
from tests.integration.orders_helpers import order_body

PROBLEM = "application/problem+json"


def form(email: str, **overrides: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "name": "Ada Lovelace",
        "email": email,
        "subject": "Returns",
        "message": "Hello, how do I return a shirt that does not fit?",
    }
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not None}


def test_contact_message_becomes_a_case_with_an_auto_reply(api: Api, system: LocalSystem) -> None:
    email = unique("form")
    resp = api.call("POST", "/contact", json=form(email, subject="Buy cheap watches at evil.example"))
    assert resp.status_code == 202, resp.text
    case_ref = resp.json()["case_ref"]
    mail = wait_for(lambda: outbox_for(system, email))[0]
    # The form's subject is never echoed (anyone can type any address into a form).
    assert str(mail["Subject"]) == f"Re: Your message [Case #{case_ref}]"
    assert mail["Auto-Submitted"] == "auto-replied" and "evil.example" not in mail.as_string()
    assert case_ref in body_text(mail)
    case = next(i for i in items(system, f"CASE#{case_ref}") if i["sk"] == "CASE")
    assert case["channel"] == "contact" and case["email"] == email


def test_contact_order_id_field_gets_the_order_status(api: Api, system: LocalSystem) -> None:
    email = unique("formorder")
    order_id = api.call("POST", "/orders", json=order_body(email)).json()["order_id"]
    resp = api.call(
        "POST",
        "/contact",
        json=form(email, subject="My order", message="Any news?", order_id=order_id.lower()),
    )
    assert resp.status_code == 202, resp.text
    mails = wait_for(lambda: [m for m in outbox_for(system, email) if "Case #" in str(m["Subject"])])
    assert order_id in body_text(mails[0]) and "Order received" in body_text(mails[0])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": None}, "name"),
        ({"email": None}, "email"),
        ({"subject": None}, "subject"),
        ({"message": "   "}, "message"),
        ({"email": "not-an-address"}, "email"),
        ({"email": "a@b.example\r\nBcc: victim@example.com"}, "email"),
        ({"subject": "Hi\r\nBcc: victim@example.com"}, "subject"),
        ({"name": "Eve\nX-Injected: 1"}, "name"),
        ({"message": "x" * 5001}, "message"),
        ({"message": "<script>alert(1)</script> hello"}, "message"),
        ({"name": "<b>Ada</b>"}, "name"),
        ({"order_id": "12345"}, "order_id"),
        ({"cc": "victim@example.com"}, "cc"),
        ({"subject": 42}, "subject"),
    ],
)
def test_contact_bad_input_is_a_problem_naming_the_field(
    api: Api, system: LocalSystem, change: dict[str, object], field: str
) -> None:
    email = unique("bad")
    doc = form(email)
    for k, v in change.items():
        if v is None:
            doc.pop(k, None)
        else:
            doc[k] = v
    resp = api.call("POST", "/contact", json=doc)
    assert 400 <= resp.status_code < 500, resp.text
    assert resp.headers["Content-Type"] == PROBLEM
    assert resp.json()["errors"][0]["field"] == field


def test_nothing_we_send_carries_injected_headers_or_customer_html(api: Api, system: LocalSystem) -> None:
    email = unique("html")
    resp = api.call(
        "POST",
        "/contact",
        json=form(email, name='O\'Brien & Sons "Ltd"', message="Do you ship to Australia? 5 > 3 & 2 < 4"),
    )
    assert resp.status_code == 202, resp.text
    mail = wait_for(lambda: outbox_for(system, email))[0]
    html = body_html(mail)
    assert "O&#x27;Brien &amp; Sons" in html or "O&#39;Brien &amp; Sons" in html
    assert "<script" not in html.lower()
    names = [k.lower() for k in mail]
    assert "bcc" not in names and "x-injected" not in names and names.count("to") == 1
    assert settle(system) is None and len(outbox_for(system, "victim@example.com")) == 0


def test_contact_is_rate_limited_per_sender(api: Api, system: LocalSystem) -> None:
    email = unique("flood")
    codes = [api.call("POST", "/contact", json=form(email)).status_code for _ in range(5)]
    assert codes == [202] * 5
    limited = api.call("POST", "/contact", json=form(email))
    assert limited.status_code == 429 and limited.headers["Content-Type"] == PROBLEM
    assert 1 <= int(limited.headers["Retry-After"]) <= 3600
    assert limited.json()["errors"][0]["field"] == "email"
    settle(system)
    assert len(outbox_for(system, email)) == 1  # and one automatic reply per window, whatever was accepted


def test_contact_is_rate_limited_per_ip(system: LocalSystem) -> None:
    assert system.stack
    fn = system.stack.functions["ApiFunction"]
    sample = json.loads(
        (system.stack.functions["ApiFunction"].spec.code_dir / "events/api/contact.json").read_text()
    )
    ip = f"198.51.100.{int(time.time()) % 200 + 1}"
    statuses = []
    for _ in range(31):
        event = json.loads(json.dumps(sample))
        event["requestContext"]["identity"]["sourceIp"] = ip + "-" + str(id(statuses))
        event["body"] = json.dumps(form(unique("ip")))
        statuses.append(fn.invoke(event)["statusCode"])
    assert statuses[:30] == [202] * 30 and statuses[30] == 429


def test_faq_edits_are_validated_and_answer_the_next_message(api: Api, system: LocalSystem) -> None:
    entry = {
        "lang": "en",
        "questions": ["Do you offer gift wrapping?", "Can you wrap my order as a present?"],
        "answer": "Yes: choose gift wrapping at checkout, it costs 3.00 EUR per order.",
        "tags": ["gifts"],
    }
    assert api.call("PUT", "/admin/faq/gift-wrapping", json=entry).status_code == 403  # IAM only
    bad = api.call("PUT", "/admin/faq/gift-wrapping", json={**entry, "lang": "de"}, admin=True)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "lang"
    bad = api.call("PUT", "/admin/faq/Gift%20Wrapping", json=entry, admin=True)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "faq_id"
    bad = api.call("PUT", "/admin/faq/gift-wrapping", json={**entry, "questions": []}, admin=True)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "questions"
    ok = api.call("PUT", "/admin/faq/gift-wrapping", json=entry, admin=True)
    assert ok.status_code == 200, ok.text
    try:
        email = unique("gift")
        api.call("POST", "/contact", json=form(email, subject="Gift", message="Can you gift wrap my order?"))
        assert "3.00 EUR" in body_text(wait_for(lambda: outbox_for(system, email))[0])
    finally:  # the knowledge base is shared by the session's other tests
        import boto3

        from ecrm.mail import faq_store

        assert system.stack
        boto3.client("dynamodb").delete_item(
            TableName=system.stack.table(), Key={"pk": {"S": "FAQ#gift-wrapping"}, "sk": {"S": "LANG#en"}}
        )
        faq_store.invalidate()


def _encoded(key: dict[str, object]) -> str:
    """A cursor-shaped string for `key` (url-safe base64 of compact JSON, unpadded)."""
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_unanswered_cases_are_listed_for_staff_newest_first_and_paged(api: Api, system: LocalSystem) -> None:
    refs = []
    for _ in range(3):
        resp = api.call(
            "POST",
            "/contact",
            json=form(
                unique("ack"), subject="Hello", message="I have a complaint about the colour of the box."
            ),
        )
        refs.append(resp.json()["case_ref"])
    answered = api.call("POST", "/contact", json=form(unique("faq"))).json()["case_ref"]
    assert api.call("GET", "/admin/cases?unanswered=1").status_code == 403
    assert api.call("GET", "/admin/cases", admin=True).status_code == 422
    page1 = api.call("GET", "/admin/cases?unanswered=1&limit=2", admin=True).json()
    assert [c["case_ref"] for c in page1["cases"]] == refs[::-1][:2]
    page2 = api.call(
        "GET", f"/admin/cases?unanswered=1&limit=2&cursor={page1['next_cursor']}", admin=True
    ).json()
    assert page2["cases"][0]["case_ref"] == refs[0]
    everything = api.call("GET", "/admin/cases?unanswered=1&limit=100", admin=True).json()["cases"]
    assert answered not in [c["case_ref"] for c in everything]

    # A bad cursor is the same 400 problem naming `cursor` as on /me/orders and /me/points.
    cursor = page1["next_cursor"]
    case_key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    foreign = dict(case_key, gsi2pk={"S": "ORDERS_BY_EMAIL#someone@example.com"})
    plain = {k: v["S"] for k, v in case_key.items()}  # the shape the old codec produced
    empty_sort = dict(case_key, gsi2sk={"S": ""})  # DynamoDB itself would refuse these keys (a 500)
    huge_sort = dict(case_key, gsi2sk={"S": "2026-" + "9" * 1100})
    for bad in ("bogus", _encoded(foreign), _encoded(plain), _encoded({**case_key, "extra": {"S": "x"}}),
                _encoded(empty_sort), _encoded(huge_sort)):
        refused = api.call("GET", f"/admin/cases?unanswered=1&cursor={bad}", admin=True)
        assert refused.status_code == 400, (bad, refused.text)
        assert refused.headers["Content-Type"] == PROBLEM
        assert [e["field"] for e in refused.json()["errors"]] == ["cursor"]


def test_one_click_unsubscribe_blocks_marketing_but_not_transactional_mail(
    api: Api, system: LocalSystem
) -> None:
    from ecrm.mail import sender, unsubscribe
    from ecrm.mail.outbound import OutboundEmail

    email = unique("unsub")
    token = system.invoke_in("ApiFunction", unsubscribe.make_token, email)
    one_click = {"Content-Type": "application/x-www-form-urlencoded"}
    for _ in range(2):  # idempotent
        resp = api.call(
            "POST", f"/unsubscribe?token={token}", data="List-Unsubscribe=One-Click", headers=one_click
        )
        assert resp.status_code == 200 and resp.json() == {"unsubscribed": True}, resp.text
    assert (
        api.call("POST", f"/unsubscribe?token={token[:-2]}xx", data="x", headers=one_click).status_code == 404
    )
    opt_out = items(system, f"SUPPRESS#{email}")
    assert [i["sk"] for i in opt_out] == ["MARKETING"]

    marketing = OutboundEmail(
        to=email,
        dedupe_key=f"promo#{email}",
        kind="marketing",
        customer_id="c1",
        raw={"subject": "Sale", "text": "20% off", "headers": {}},
    )
    raw = system.invoke_in("EmailSenderFunction", sender.compose_raw, "shop@example.com", marketing).decode()
    header = next(line for line in raw.split("\r\n") if line.startswith("List-Unsubscribe: "))
    assert header.startswith("List-Unsubscribe: <http") and "/unsubscribe?token=" in header
    link_token = header.split("token=", 1)[1].split(">", 1)[0]
    assert link_token == token  # the link in the mail is the one that works
    assert "mailto:support@shop.example?subject=unsubscribe" in raw
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in raw
    assert system.invoke_in("EmailSenderFunction", unsubscribe.opted_out, email)
    # Transactional mail still flows: an order confirmation arrives.
    api.call("POST", "/orders", json=order_body(email))
    assert "confirmed" in str(wait_for(lambda: outbox_for(system, email))[0]["Subject"])
