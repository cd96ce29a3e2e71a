"""Compose the automatic reply (subject, threading headers, text + HTML bodies) in en/th/fa/zh.

Pure: returns a plain dict `{to, subject, headers, text, html, lang}`; sending is the email
sender's job. Safety rules enforced here:
- no CR/LF (or other control characters) in any header value: the recipient address is rejected
  if it is not a plain address, the subject is stripped, invalid Message-IDs are dropped;
- every string that did not come from this module's templates (subject, customer name, order
  status, FAQ answer, URLs...) is HTML-escaped in the HTML body;
- the reply says it is automatic (RFC 3834: `Auto-Submitted: auto-replied`) and asks Exchange
  not to answer it (`X-Auto-Response-Suppress: All`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence

from ecrm.mail.inbound import is_valid_address, strip_subject_prefixes
from ecrm.mail.threading import normalize_case_ref, with_case_tag

__all__ = ["KINDS", "TEMPLATE_LANGS", "compose_reply"]

KINDS = ("order_status", "points", "faq", "ack")
TEMPLATE_LANGS = ("en", "th", "fa", "zh")
RTL_LANGS = {"fa"}
MAX_SUBJECT_CHARS = 150
MAX_REFERENCES = 10
DEFAULT_RESPONSE_HOURS = 24

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u0085]+")
_MSGID_RE = re.compile(r"^<[^<>\s\x00-\x1f\x7f]{1,250}>$")
_ISO_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?(Z|[+-]00:?00)?)?$")

_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "subject_fallback": "Your message",
        "greeting": "Hello,",
        "greeting_named": "Hello {name},",
        "order_intro": "Thank you for your message. Here is the latest status of your order:",
        "order_intro_many": "Thank you for your message. Here is the latest status of your orders:",
        "order_line": "Order {order_id}: {status}",
        "order_history": "History:",
        "order_event": "{at}: {status}",
        "order_tracking": "Track your parcel",
        "order_tracking_number": "Tracking number: {number}",
        "order_unknown": "We could not find order {order_id} for your email address. "
        "Please check the number; a member of our team will look into it.",
        "points_intro": "Thank you for your message. Here is your rewards summary:",
        "points_balance": "Points balance: {balance}",
        "points_tier": "Tier: {tier}",
        "points_next": "{points} more points to reach {tier}",
        "points_expiring": "Points expiring soon:",
        "points_expiring_line": "{points} points on {date}",
        "points_none_expiring": "None of your points are due to expire soon.",
        "points_not_member": "We could not find a rewards membership for this email address. If you "
        "are not a member yet, you can join in your account; if you are, "
        "please write from the address you signed up with.",
        "faq_intro": "Thank you for your message. This answer from our help centre should help:",
        "ack_body": "Thank you for your message. We have received it and a member of our team will reply "
        "within {hours} hours.",
        "ack_add": "You don't need to write again: if you want to add anything, just reply to this email.",
        "human": "This is an automatic reply. If it does not answer your question, simply reply to this "
        "email and a member of our team will get back to you within {hours} hours.",
        "case": "Your case reference: {case_ref} (please keep it in the subject when you reply).",
        "signoff": "Kind regards,",
        "shop": "Customer Service",
    },
    "th": {
        "subject_fallback": "ข้อความของคุณ",
        "greeting": "เรียน ลูกค้า",
        "greeting_named": "เรียน คุณ {name}",
        "order_intro": "ขอบคุณสำหรับข้อความของคุณ สถานะล่าสุดของคำสั่งซื้อมีดังนี้",
        "order_intro_many": "ขอบคุณสำหรับข้อความของคุณ สถานะล่าสุดของคำสั่งซื้อของคุณมีดังนี้",
        "order_line": "คำสั่งซื้อ {order_id}: {status}",
        "order_history": "ประวัติ:",
        "order_event": "{at}: {status}",
        "order_tracking": "ติดตามพัสดุ",
        "order_tracking_number": "หมายเลขพัสดุ: {number}",
        "order_unknown": "เราไม่พบคำสั่งซื้อ {order_id} ที่ตรงกับอีเมลของคุณ กรุณาตรวจสอบหมายเลขอีกครั้ง "
        "เจ้าหน้าที่ของเราจะตรวจสอบให้",
        "points_intro": "ขอบคุณสำหรับข้อความของคุณ สรุปคะแนนสะสมของคุณมีดังนี้",
        "points_balance": "คะแนนคงเหลือ: {balance}",
        "points_tier": "ระดับสมาชิก: {tier}",
        "points_next": "สะสมอีก {points} คะแนนเพื่อเลื่อนเป็นระดับ {tier}",
        "points_expiring": "คะแนนที่ใกล้หมดอายุ:",
        "points_expiring_line": "{points} คะแนน หมดอายุวันที่ {date}",
        "points_none_expiring": "ขณะนี้ไม่มีคะแนนที่ใกล้หมดอายุ",
        "points_not_member": "เราไม่พบการเป็นสมาชิกสะสมคะแนนสำหรับอีเมลนี้ "
        "หากคุณยังไม่ได้เป็นสมาชิก สามารถสมัครได้ในบัญชีของคุณ "
        "หากเป็นสมาชิกแล้ว กรุณาส่งจากอีเมลที่ใช้สมัคร",
        "faq_intro": "ขอบคุณสำหรับข้อความของคุณ คำตอบจากศูนย์ช่วยเหลือของเราน่าจะช่วยคุณได้",
        "ack_body": "ขอบคุณสำหรับข้อความของคุณ เราได้รับข้อความแล้ว และเจ้าหน้าที่จะตอบกลับภายใน {hours} ชั่วโมง",
        "ack_add": "ไม่จำเป็นต้องส่งข้อความใหม่ หากต้องการแจ้งข้อมูลเพิ่มเติม เพียงตอบกลับอีเมลนี้",
        "human": "อีเมลนี้เป็นการตอบกลับอัตโนมัติ หากยังไม่ตอบคำถามของคุณ เพียงตอบกลับอีเมลนี้ "
        "แล้วเจ้าหน้าที่จะติดต่อกลับภายใน {hours} ชั่วโมง",
        "case": "หมายเลขเรื่องของคุณ: {case_ref} (กรุณาคงหมายเลขนี้ไว้ในหัวเรื่องเมื่อตอบกลับ)",
        "signoff": "ขอแสดงความนับถือ",
        "shop": "ฝ่ายบริการลูกค้า",
    },
    "fa": {
        "subject_fallback": "پیام شما",
        "greeting": "سلام،",
        "greeting_named": "{name} عزیز، سلام",
        "order_intro": "از پیام شما سپاسگزاریم. آخرین وضعیت سفارش شما:",
        "order_intro_many": "از پیام شما سپاسگزاریم. آخرین وضعیت سفارش‌های شما:",
        "order_line": "سفارش {order_id}: {status}",
        "order_history": "سابقه:",
        "order_event": "{at}: {status}",
        "order_tracking": "رهگیری مرسوله",
        "order_tracking_number": "کد رهگیری: {number}",
        "order_unknown": "سفارش {order_id} را برای نشانی ایمیل شما پیدا نکردیم. لطفاً شماره را بررسی کنید؛ "
        "همکاران ما موضوع را پیگیری می‌کنند.",
        "points_intro": "از پیام شما سپاسگزاریم. خلاصه امتیازهای شما:",
        "points_balance": "موجودی امتیاز: {balance}",
        "points_tier": "سطح عضویت: {tier}",
        "points_next": "{points} امتیاز دیگر تا سطح {tier}",
        "points_expiring": "امتیازهایی که به‌زودی منقضی می‌شوند:",
        "points_expiring_line": "{points} امتیاز در تاریخ {date}",
        "points_none_expiring": "هیچ‌کدام از امتیازهای شما به‌زودی منقضی نمی‌شود.",
        "points_not_member": "برای این نشانی ایمیل عضویتی در باشگاه مشتریان پیدا نکردیم. اگر هنوز "
        "عضو نیستید، می‌توانید در حساب کاربری خود عضو شوید؛ اگر عضو هستید، "
        "لطفاً از نشانی ثبت‌نام‌شده بنویسید.",
        "faq_intro": "از پیام شما سپاسگزاریم. این پاسخ از مرکز راهنمای ما احتمالاً به شما کمک می‌کند:",
        "ack_body": "از پیام شما سپاسگزاریم. پیام شما دریافت شد و همکاران ما حداکثر ظرف {hours} ساعت پاسخ "
        "می‌دهند.",
        "ack_add": "نیازی به ارسال دوباره نیست؛ اگر توضیح بیشتری دارید، کافی است به همین ایمیل پاسخ دهید.",
        "human": "این یک پاسخ خودکار است. اگر به پرسش شما پاسخ نمی‌دهد، کافی است به همین ایمیل پاسخ دهید تا "
        "همکاران ما حداکثر ظرف {hours} ساعت با شما تماس بگیرند.",
        "case": "شماره پرونده شما: {case_ref} (لطفاً هنگام پاسخ آن را در موضوع ایمیل نگه دارید).",
        "signoff": "با احترام،",
        "shop": "واحد خدمات مشتریان",
    },
    "zh": {
        "subject_fallback": "您的来信",
        "greeting": "您好，",
        "greeting_named": "{name}，您好：",
        "order_intro": "感谢您的来信。以下是您订单的最新状态：",
        "order_intro_many": "感谢您的来信。以下是您各个订单的最新状态：",
        "order_line": "订单 {order_id}：{status}",
        "order_history": "订单记录：",
        "order_event": "{at}：{status}",
        "order_tracking": "查看物流跟踪",
        "order_tracking_number": "运单号：{number}",
        "order_unknown": "我们没有找到与您邮箱关联的订单 {order_id}。"
        "请核对订单号，我们的客服人员会跟进处理。",
        "points_intro": "感谢您的来信。以下是您的积分概况：",
        "points_balance": "积分余额：{balance}",
        "points_tier": "会员等级：{tier}",
        "points_next": "再获得 {points} 积分即可升级为{tier}",
        "points_expiring": "即将过期的积分：",
        "points_expiring_line": "{points} 积分将于 {date} 过期",
        "points_none_expiring": "您目前没有即将过期的积分。",
        "points_not_member": "我们没有找到此邮箱地址的会员账户。如果您还不是会员，可以"
        "在您的账户中加入；如果您已是会员，请使用注册时的邮箱来信"
        "。",
        "faq_intro": "感谢您的来信。以下是帮助中心的解答，希望对您有帮助：",
        "ack_body": "感谢您的来信。我们已收到您的消息，客服人员将在 {hours} 小时内回复您。",
        "ack_add": "无需重复来信；如需补充信息，直接回复本邮件即可。",
        "human": "这是一封自动回复邮件。如果没有解答您的问题，请直接回复本邮件，"
        "客服人员将在 {hours} 小时内与您联系。",
        "case": "您的服务单号：{case_ref}（回复时请保留邮件主题中的单号）。",
        "signoff": "此致",
        "shop": "客户服务部",
    },
}

_STATUS_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "placed": "Order received", "paid": "Payment received", "packed": "Packed", "shipped": "Shipped",
        "out_for_delivery": "Out for delivery", "delivered": "Delivered", "cancelled": "Cancelled",
        "returned": "Returned", "refunded": "Refunded", "delayed": "Delayed",
    },
    "th": {
        "placed": "ได้รับคำสั่งซื้อแล้ว", "paid": "ชำระเงินแล้ว", "packed": "แพ็กสินค้าแล้ว", "shipped": "จัดส่งแล้ว",
        "out_for_delivery": "กำลังนำส่ง", "delivered": "จัดส่งสำเร็จ", "cancelled": "ยกเลิกแล้ว",
        "returned": "คืนสินค้าแล้ว", "refunded": "คืนเงินแล้ว", "delayed": "ล่าช้า",
    },
    "fa": {
        "placed": "ثبت شد", "paid": "پرداخت شد", "packed": "بسته‌بندی شد", "shipped": "ارسال شد",
        "out_for_delivery": "در حال تحویل", "delivered": "تحویل داده شد", "cancelled": "لغو شد",
        "returned": "مرجوع شد", "refunded": "وجه بازگردانده شد", "delayed": "با تأخیر",
    },
    "zh": {
        "placed": "已下单", "paid": "已付款", "packed": "已打包", "shipped": "已发货",
        "out_for_delivery": "派送中", "delivered": "已签收", "cancelled": "已取消",
        "returned": "已退货", "refunded": "已退款", "delayed": "延误",
    },
}
_TIER_LABELS: dict[str, dict[str, str]] = {
    "en": {"silver": "Silver", "gold": "Gold", "platinum": "Platinum"},
    "th": {"silver": "Silver (ซิลเวอร์)", "gold": "Gold (โกลด์)", "platinum": "Platinum (แพลทินัม)"},
    "fa": {"silver": "نقره‌ای", "gold": "طلایی", "platinum": "پلاتینیوم"},
    "zh": {"silver": "银卡会员", "gold": "金卡会员", "platinum": "白金卡会员"},
}
_FA_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


# --------------------------------------------------------------------------------------------
# Blocks: one model rendered twice (text and HTML) so the two bodies cannot drift apart.


# Plain classes rather than dataclasses: each dataclass costs a few milliseconds at import.
class _Para:
    __slots__ = ("ltr", "muted", "template", "values")

    def __init__(
        self,
        template: str,
        values: Mapping[str, str] | None = None,
        ltr: frozenset[str] = frozenset(),  # keys rendered as left-to-right islands in RTL text
        muted: bool = False,
    ) -> None:
        self.template, self.values, self.ltr, self.muted = template, values or {}, ltr, muted


class _List:
    __slots__ = ("items",)

    def __init__(self, items: Sequence[_Para]) -> None:
        self.items = items


class _Link:
    __slots__ = ("label", "url")

    def __init__(self, label: str, url: str) -> None:
        self.label, self.url = label, url


class _Answer:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


_Block = _Para | _List | _Link | _Answer


def _render_text(blocks: Sequence[_Block]) -> str:
    out: list[str] = []
    for block in blocks:
        if isinstance(block, _Para):
            out.append(block.template.format(**block.values))
        elif isinstance(block, _List):
            out.append("\n".join("- " + item.template.format(**item.values) for item in block.items))
        elif isinstance(block, _Link):
            out.append(f"{block.label}: {block.url}")
        else:
            out.append(block.text)
    return "\n\n".join(out) + "\n"


def _html_para(para: _Para) -> str:
    # Escape the template too: only tags added below are markup. Values are escaped individually.
    values = {}
    for key, value in para.values.items():
        escaped = html.escape(value, quote=True)
        values[key] = f'<span dir="ltr">{escaped}</span>' if key in para.ltr else escaped
    return html.escape(para.template, quote=False).format(**values).replace("\n", "<br>")


def _render_html(blocks: Sequence[_Block], lang: str, title: str) -> str:
    direction = "rtl" if lang in RTL_LANGS else "ltr"
    align = "right" if direction == "rtl" else "left"
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{lang}" dir="{direction}">',
        f'<head><meta charset="utf-8"><title>{html.escape(title, quote=False)}</title></head>',
        f'<body dir="{direction}" style="font-family:Arial,Helvetica,sans-serif;font-size:15px;'
        f'line-height:1.5;color:#222222;text-align:{align}">',
    ]
    for block in blocks:
        if isinstance(block, _Para):
            style = ' style="color:#666666;font-size:13px"' if block.muted else ""
            parts.append(f"<p{style}>{_html_para(block)}</p>")
        elif isinstance(block, _List):
            items = "".join(f"<li>{_html_para(item)}</li>" for item in block.items)
            parts.append(f"<ul>{items}</ul>")
        elif isinstance(block, _Link):
            url = html.escape(block.url, quote=True)
            parts.append(f'<p><a href="{url}" dir="ltr">{html.escape(block.label, quote=False)}</a></p>')
        else:
            side = "right" if direction == "rtl" else "left"
            for paragraph in re.split(r"\n\s*\n", block.text.strip()):
                escaped = html.escape(paragraph.strip(), quote=False).replace("\n", "<br>")
                parts.append(f'<p style="margin-{side}:12px">{escaped}</p>')
    parts.append("</body>")
    parts.append("</html>")
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------------------------
# Value helpers


def _clean(value: object, limit: int = 500) -> str:
    """A one-line display string: control characters removed, whitespace collapsed, capped."""
    text = _CONTROL_RE.sub(" ", str(value if value is not None else ""))
    text = re.sub(r"\s{2,}", " ", text).strip()
    return text[:limit]


def _number(value: object, lang: str) -> str:
    try:
        number = int(value)  # Decimal from DynamoDB, int, or a numeric string
    except (TypeError, ValueError):
        return _clean(value, 20)
    text = f"{number:,}"
    if lang == "fa":
        text = text.replace(",", "\u066c").translate(_FA_DIGITS)
    return text


def _timestamp(value: object) -> str:
    text = _clean(value, 40)
    match = _ISO_RE.match(text)
    if not match:
        return text
    date, clock, zone = match.groups()
    if not clock:
        return date
    return f"{date} {clock}" + (" UTC" if zone else "")


def _safe_url(value: object) -> str | None:
    url = str(value or "").strip()
    # Only absolute https links (http tolerated for carriers stuck in the past); no javascript:,
    # data:, whitespace or controls, and a sane length.
    if not re.fullmatch(r"https?://[^\s\x00-\x1f\x7f<>\"'`]{1,2000}", url):
        return None
    return url


def _name(raw: object) -> str | None:
    name = _clean(raw, 60)
    # A display name is free text chosen by whoever sent the mail: do not reflect addresses,
    # links or markup-looking text into our reply (spam via auto-replies).
    if not name or re.search(r"[@:/\\<>{}]|www\.|https?", name, re.IGNORECASE):
        return None
    return name


def _status_label(status: object, lang: str) -> str:
    key = _clean(status, 40).lower().replace(" ", "_").replace("-", "_")
    return _STATUS_LABELS[lang].get(key) or _clean(status, 60)


def _tier_label(tier: object, lang: str) -> str:
    return _TIER_LABELS[lang].get(_clean(tier, 40).lower()) or _clean(tier, 40)


def _field(original: object, name: str) -> object:
    if isinstance(original, Mapping):
        return original.get(name)
    return getattr(original, name, None)


def _reply_subject(original_subject: object, case_ref: str, fallback: str) -> str:
    base = strip_subject_prefixes(_clean(original_subject, 1000)) or fallback
    if len(base) > MAX_SUBJECT_CHARS:
        base = base[: MAX_SUBJECT_CHARS - 1].rstrip() + "\u2026"
    return with_case_tag(f"Re: {base}", case_ref)


def _threading_headers(original: object) -> dict[str, str]:
    headers: dict[str, str] = {}
    message_id = _field(original, "message_id")
    message_id = message_id.strip() if isinstance(message_id, str) else None
    if message_id and not _MSGID_RE.match(message_id):
        message_id = None
    raw_references = _field(original, "references") or ()
    references = [r.strip() for r in raw_references if isinstance(r, str) and _MSGID_RE.match(r.strip())]
    if message_id:
        headers["In-Reply-To"] = message_id
        if message_id not in references:
            references.append(message_id)
    if len(references) > MAX_REFERENCES:
        # Long chains are trimmed like mail/news clients do (cf. RFC 5537 section 3.4.4): keep the
        # thread root and the most recent ids, which is what threading algorithms look at.
        references = references[:1] + references[-(MAX_REFERENCES - 1) :]
    if references:
        headers["References"] = " ".join(references)
    return headers


# --------------------------------------------------------------------------------------------
# Bodies per kind


def _order_blocks(data: Mapping[str, object], lang: str) -> list[_Block]:
    t = _TEXTS[lang]
    orders = [o for o in (data.get("orders") or []) if isinstance(o, Mapping)][:5]
    blocks: list[_Block] = [_Para(t["order_intro_many"] if len(orders) > 1 else t["order_intro"])]
    for order in orders:
        order_id = _clean(order.get("order_id"), 40)
        if not order.get("found", True) or not order.get("status"):
            blocks.append(_Para(t["order_unknown"], {"order_id": order_id}, frozenset({"order_id"})))
            continue
        blocks.append(
            _Para(
                t["order_line"],
                {"order_id": order_id, "status": _status_label(order.get("status"), lang)},
                frozenset({"order_id"}),
            )
        )
        events = [e for e in (order.get("timeline") or []) if isinstance(e, Mapping)][-10:]
        if events:
            blocks.append(_Para(t["order_history"]))
            blocks.append(
                _List(
                    [
                        _Para(
                            t["order_event"],
                            {"at": _timestamp(e.get("at")), "status": _status_label(e.get("status"), lang)},
                            frozenset({"at"}),
                        )
                        for e in events
                    ]
                )
            )
        url = _safe_url(order.get("tracking_url"))
        if url:
            blocks.append(_Link(t["order_tracking"], url))
        number = _clean(order.get("tracking_number"), 60)
        if number:
            carrier = _clean(order.get("carrier"), 40)
            blocks.append(
                _Para(
                    t["order_tracking_number"],
                    {"number": f"{carrier} {number}".strip()},
                    frozenset({"number"}),
                )
            )
    return blocks


def _points_blocks(data: Mapping[str, object], lang: str) -> list[_Block]:
    t = _TEXTS[lang]
    if data.get("member") is False:
        return [_Para(t["points_not_member"])]
    blocks: list[_Block] = [_Para(t["points_intro"])]
    summary = [_Para(t["points_balance"], {"balance": _number(data.get("balance", 0), lang)})]
    if data.get("tier"):
        summary.append(_Para(t["points_tier"], {"tier": _tier_label(data.get("tier"), lang)}))
    if data.get("next_tier") and data.get("points_to_next_tier") is not None:
        summary.append(
            _Para(
                t["points_next"],
                {
                    "points": _number(data.get("points_to_next_tier"), lang),
                    "tier": _tier_label(data.get("next_tier"), lang),
                },
            )
        )
    blocks.append(_List(summary))
    expiring = [e for e in (data.get("expiring") or []) if isinstance(e, Mapping)][:10]
    if expiring:
        blocks.append(_Para(t["points_expiring"]))
        blocks.append(
            _List(
                [
                    _Para(
                        t["points_expiring_line"],
                        {"points": _number(e.get("points"), lang), "date": _timestamp(e.get("on"))},
                        frozenset({"date"}),
                    )
                    for e in expiring
                ]
            )
        )
    else:
        blocks.append(_Para(t["points_none_expiring"]))
    return blocks


def _faq_blocks(data: Mapping[str, object], lang: str) -> list[_Block]:
    answer = data.get("answer")
    if answer is None and data.get("faq_match") is not None:
        answer = getattr(data.get("faq_match"), "answer", None)
    if not isinstance(answer, str) or not answer.strip():
        raise ValueError("faq reply needs data['answer'] (or data['faq_match'])")
    # Keep line structure (lists in answers) but drop control characters other than newlines.
    answer = re.sub(r"[\x00-\x09\x0b-\x1f\x7f]", "", answer.replace("\r\n", "\n"))[:5000]
    return [_Para(_TEXTS[lang]["faq_intro"]), _Answer(answer.strip())]


def compose_reply(
    kind: str,
    lang: str,
    original: object,
    data: Mapping[str, object],
    case_ref: str,
) -> dict[str, object]:
    """Build the auto-reply for `original` (an `InboundMessage` or a mapping with its fields).

    `kind` is one of order_status / points / faq / ack; `lang` picks the template (anything not
    in en/th/fa/zh falls back to en). `data` carries what the reply shows:
    - all kinds: optional `shop_name`, `response_hours` (default 24), `customer_name`;
    - order_status: `orders` = [{order_id, status, timeline: [{at, status}], tracking_url,
      carrier, tracking_number, found}] - only orders that belong to the sender;
    - points: `balance`, `tier`, `next_tier`, `points_to_next_tier`, `expiring` = [{points, on}];
      `member` False says the address has no membership instead;
    - faq: `answer` (or `faq_match`).
    Returns `{to, subject, headers, text, html, lang}`. Raises ValueError for an unknown kind,
    an invalid case reference or a recipient that is not a plain email address.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    lang = lang if lang in TEMPLATE_LANGS else "en"
    case_ref = normalize_case_ref(case_ref)
    data = data or {}

    reply_to, sender = _field(original, "reply_to"), _field(original, "sender")
    to = next(
        (a.strip().lower() for a in (reply_to, sender) if isinstance(a, str) and is_valid_address(a.strip())),
        None,
    )
    if to is None:
        raise ValueError("original has no valid sender address to reply to")

    t = _TEXTS[lang]
    hours = _number(data.get("response_hours", DEFAULT_RESPONSE_HOURS), lang)
    name = _name(data.get("customer_name") or _field(original, "sender_name"))
    shop = _clean(data.get("shop_name"), 80) or t["shop"]
    subject = _reply_subject(_field(original, "subject"), case_ref, t["subject_fallback"])

    blocks: list[_Block] = [_Para(t["greeting_named"], {"name": name}) if name else _Para(t["greeting"])]
    if kind == "order_status":
        blocks += _order_blocks(data, lang)
    elif kind == "points":
        blocks += _points_blocks(data, lang)
    elif kind == "faq":
        blocks += _faq_blocks(data, lang)
    else:
        blocks += [_Para(t["ack_body"], {"hours": hours}), _Para(t["ack_add"])]
    if kind != "ack":
        blocks.append(_Para(t["human"], {"hours": hours}))
    blocks.append(_Para(t["case"], {"case_ref": case_ref}, frozenset({"case_ref"})))
    blocks.append(_Para(t["signoff"] + "\n{shop}", {"shop": shop}))

    headers = {
        "Auto-Submitted": "auto-replied",
        "X-Auto-Response-Suppress": "All",
        **_threading_headers(original),
    }
    for key, value in headers.items():
        # Defence in depth: every value above is validated already.
        if _CONTROL_RE.search(key) or _CONTROL_RE.search(value):
            raise ValueError(f"control character in header {key}")
    if _CONTROL_RE.search(subject):  # pragma: no cover - _clean removed them
        raise ValueError("control character in subject")

    return {
        "to": to,
        "subject": subject,
        "headers": headers,
        "text": _render_text(blocks),
        "html": _render_html(blocks, lang, subject),
        "lang": lang,
    }
