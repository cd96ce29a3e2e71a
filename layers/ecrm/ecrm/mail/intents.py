"""Classify what the customer asked, and run the whole pure decision pipeline.

Kinds, in priority order:
- `order_status`: an order id in the text (or the contact form's order_id), unless the message is
  clearly an FAQ question that merely mentions the order ("how do I return ORD-...?") and says
  nothing about where the order is;
- `points`: a question about the customer's own points (balance, expiry, tier);
- `faq`: a confident FAQ match;
- `ack`: anything else; a human answers, the customer gets a case reference.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from ecrm.mail.faq import FaqIndex, FaqMatch
from ecrm.mail.language import detect_language
from ecrm.mail.loops import LoopDecision, may_auto_reply

__all__ = [
    "KINDS",
    "Intent",
    "ReplyDecision",
    "classify",
    "decide_reply",
    "extract_order_ids",
    "normalize_order_id",
]

KINDS = ("order_status", "points", "faq", "ack")
MAX_ORDER_IDS = 5

# ORD- + 10 Crockford base32 characters. Customers drop or replace the dash, type lower case, and
# confuse O/0 and I/L/1, which Crockford decoding maps back (O->0, I/L->1). U is not in the alphabet.
# Without a separator, "ORDER..." must not be read as an id.
_ORDER_RE = re.compile(
    r"(?<![0-9A-Za-z])ORD(?:[\s\-_.:#\u2010-\u2015]{1,2}|(?!er))([0-9A-TV-Za-tv-z]{10})(?![0-9A-Za-z])",
    re.IGNORECASE,
)
_CROCKFORD_FIX = str.maketrans({"O": "0", "I": "1", "L": "1"})
_CANONICAL_ORDER_RE = re.compile(r"^ORD-[0-9A-HJKMNP-TV-Z]{10}$")


@dataclass(frozen=True)
class Intent:
    """What the customer asked: a kind from `KINDS`, any order ids, and the FAQ match if any.

    `faq_match` is kept even when the kind is not `faq`, so the caller can fall back to it (e.g. a
    points question from an address that is not a member).
    """

    kind: str
    order_ids: tuple[str, ...] = ()
    faq_match: FaqMatch | None = None


def normalize_order_id(candidate: str | None) -> str | None:
    """Canonical `ORD-XXXXXXXXXX` for a loosely typed order id, or None if it is not one."""
    if not candidate or not isinstance(candidate, str) or len(candidate) > 40:
        return None
    match = _ORDER_RE.fullmatch(unicodedata.normalize("NFKC", candidate).strip())
    if not match:
        return None
    order_id = "ORD-" + match.group(1).upper().translate(_CROCKFORD_FIX)
    return order_id if _CANONICAL_ORDER_RE.match(order_id) else None


def extract_order_ids(text: str) -> tuple[str, ...]:
    """All distinct order ids in `text` (canonical form, first seen first, at most 5)."""
    found: list[str] = []
    # NFKC folds full-width letters/digits and dashes typed with CJK input methods.
    for match in _ORDER_RE.finditer(unicodedata.normalize("NFKC", text or "")):
        order_id = "ORD-" + match.group(1).upper().translate(_CROCKFORD_FIX)
        if _CANONICAL_ORDER_RE.match(order_id) and order_id not in found:
            found.append(order_id)
        if len(found) >= MAX_ORDER_IDS:
            break
    return tuple(found)


_LATIN_TOKEN_RE = re.compile(r"[a-z0-9']+")


class _Keywords:
    """Keyword/phrase detector without a big regex (compiling one costs milliseconds at cold start).

    Latin phrases match whole words ("track" does not match "racetrack"); Thai, Chinese and Persian
    keywords match as substrings because those scripts do not separate words reliably.
    """

    __slots__ = ("_latin", "_other")

    def __init__(self, words: Iterable[str]) -> None:
        self._latin = tuple(f" {w.lower()} " for w in words if w.isascii())
        self._other = tuple(w for w in words if not w.isascii())

    def search(self, text: str) -> bool:
        """True if any keyword occurs in `text`."""
        folded = unicodedata.normalize("NFKC", text).casefold().replace("\u2019", "'")
        if any(word in folded for word in self._other):
            return True
        joined = " " + " ".join(_LATIN_TOKEN_RE.findall(folded)) + " "
        return any(phrase in joined for phrase in self._latin)


# "Where is it / when does it come": asks for the status of an order.
_STATUS = _Keywords(
    [
        "where is my order", "where's my order", "where is my package", "where is my parcel", "order status",
        "status of my order", "status of order", "track", "tracking", "not arrived", "hasn't arrived",
        "has not arrived", "haven't received", "have not received", "didn't receive", "did not receive",
        "not received", "still waiting", "when will", "when does", "shipped yet", "been shipped", "delivered",
        "arrive", "delivery date", "update on", "any news",
        "สถานะ", "ติดตาม", "ยังไม่ได้รับ", "ยังไม่ได้ของ", "ยังไม่ถึง", "ของถึง", "ถึงไหน", "อยู่ไหน", "อยู่ที่ไหน",
        "เมื่อไหร่จะ", "เมื่อไรจะ", "ส่งหรือยัง", "ส่งของหรือยัง", "จัดส่งหรือยัง",
        "وضعیت", "پیگیری", "کجاست", "نرسیده", "دریافت نکرده", "کی میرسد", "کی می‌رسد", "کی میرسه", "ارسال شده",
        "ارسال نشده", "رهگیری",
        "订单状态", "訂單狀態", "物流", "快递", "快遞", "到哪", "在哪", "什么时候到", "什麼時候到",
        "还没收到", "還沒收到", "没收到", "沒收到", "发货了吗", "發貨了嗎", "发货没",
        "跟踪", "追踪", "查询订单",
    ]
)
_POINTS_TERM = _Keywords(
    ["point", "points", "reward points", "loyalty points", "balance",
     "คะแนน", "แต้ม", "พอยท์", "พอยต์", "امتیاز", "پوینت", "积分", "積分", "点数", "點數"]
)
# Personal cues: the customer asks about *their* points, which only their account can answer.
_POINTS_PERSONAL = _Keywords(
    [
        "how many points do i", "how many points have i", "my points", "my balance", "points balance",
        "balance", "points do i have", "points left", "my tier", "my status", "my rewards", "my account",
        "do i have",
        "ของฉัน", "ของผม", "ของหนู", "ของดิฉัน", "เหลือ", "คงเหลือ", "ยอดคะแนน", "ยอดแต้ม", "มีกี่", "มีเท่าไหร่",
        "มีแต้มเท่าไหร่", "มีคะแนนเท่าไหร่", "เท่าไหร่แล้ว",
        "امتیاز من", "امتیازم", "امتیازهایم", "امتیازهام", "موجودی", "مانده", "باقی", "چند امتیاز دارم",
        "دارم",
        "我的积分", "我的積分", "余额", "餘額", "剩多少", "还有多少", "還有多少", "有多少积分", "有多少積分",
        "现在有多少",
    ]
)


def classify(
    msg_text: str,
    lang: str,
    faq_index: FaqIndex | None,
    form_order_id: str | None = None,
    *,
    context_order_ids: Iterable[str] = (),
) -> Intent:
    """Classify the customer's request; `msg_text` is the subject + body with quotes stripped.

    `form_order_id` comes from the contact form and is only used if it is a well-formed order id
    (it is customer input like the rest). `context_order_ids` are ids seen around the message but
    not written by the customer (the inherited subject of a reply): they are used only when the
    text asks about an order's status ("it still hasn't arrived") without naming one.
    The FAQ is matched in `lang` when an index is given.
    """
    text = msg_text or ""
    order_ids = list(extract_order_ids(text))
    form_id = normalize_order_id(form_order_id)
    if form_id and form_id not in order_ids:
        order_ids.insert(0, form_id)
    asks_status = _STATUS.search(text)
    if not order_ids and asks_status:
        order_ids = [i for i in (normalize_order_id(c) for c in context_order_ids) if i]
    order_ids = order_ids[:MAX_ORDER_IDS]

    faq_match = faq_index.best_match(text, lang) if faq_index is not None and text.strip() else None

    if order_ids:
        if faq_match is not None and not asks_status:
            return Intent("faq", tuple(order_ids), faq_match)
        return Intent("order_status", tuple(order_ids), faq_match)
    if _POINTS_TERM.search(text) and _POINTS_PERSONAL.search(text):
        return Intent("points", (), faq_match)
    if faq_match is not None:
        return Intent("faq", (), faq_match)
    return Intent("ack", (), None)


@dataclass(frozen=True)
class ReplyDecision:
    """Outcome of the pure pipeline for one inbound message.

    `reply` False means send nothing (`reason` is the loop rule's code); otherwise `kind` is the
    reply to compose in `lang` and `intent` carries order ids / the FAQ match.
    """

    reply: bool
    kind: str | None
    reason: str
    lang: str
    intent: Intent | None
    loop: LoopDecision


def decide_reply(
    msg: object,
    own_addresses: set[str],
    faq_index: FaqIndex | None,
    form_order_id: str | None = None,
) -> ReplyDecision:
    """parse -> loops -> language -> intent/FAQ for an `InboundMessage` (already parsed).

    Language is detected on the customer's new text (body without quotes), falling back to the
    subject when the body is empty.
    """
    loop = may_auto_reply(msg, own_addresses)  # type: ignore[arg-type]
    text = getattr(msg, "analysis_text", "") or ""
    body = getattr(msg, "body", "") or ""
    lang = detect_language(body if body.strip() else text)
    if not loop.allowed:
        return ReplyDecision(False, None, loop.reason, lang, None, loop)
    context = extract_order_ids(getattr(msg, "subject", "") or "") if getattr(msg, "is_reply", False) else ()
    intent = classify(text, lang, faq_index, form_order_id, context_order_ids=context)
    return ReplyDecision(True, intent.kind, "ok", lang, intent, loop)
