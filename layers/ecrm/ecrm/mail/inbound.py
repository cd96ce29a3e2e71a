"""Parse raw inbound RFC 5322 mail into the few fields the auto-reply pipeline needs.

Pure: bytes in, an `InboundMessage` out. Never raises on malformed input, because the input is
whatever the internet sent us: a message we cannot make sense of becomes an `InboundMessage` with an
empty sender (and `may_auto_reply` then refuses to answer it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from html.parser import HTMLParser

__all__ = [
    "InboundMessage",
    "decode_bytes",
    "html_to_text",
    "is_valid_address",
    "parse_inbound",
    "strip_quoted",
]

# Bigger than any real customer question; keeps regexes and the matcher bounded on hostile input.
MAX_BODY_CHARS = 20_000
MAX_PART_BYTES = 2_000_000
MAX_HTML_CHARS = 500_000
MAX_REFERENCES = 50

# Stand-in line emitted by the HTML converter where a client's quoted history starts (Gmail's
# gmail_quote, Outlook's divRplyFwdMsg, ...). A private-use character cannot appear in real text
# that matters to us, and `strip_quoted` cuts at it.
QUOTE_SENTINEL = "\ue000"

# A deliberately strict addr-spec: no quoted local parts, no comments, no whitespace or controls.
# Legitimate customers essentially never use the exotic RFC 5322 forms, while header-injection and
# encoded-word tricks depend on them (e.g. `"support@shop"` decoded from an encoded word).
_ADDR_RE = re.compile(
    r"^[^\s\"<>()\[\],;:\\@\x00-\x1f\x7f]{1,64}@"
    r"(?=.{1,253}$)[^\s\"<>()\[\],;:\\@.\x00-\x1f\x7f]{1,63}(?:\.[^\s\"<>()\[\],;:\\@.\x00-\x1f\x7f]{1,63})+$"
)
_MSGID_RE = re.compile(r"<([^<>\s\x00-\x1f\x7f]{1,250})>")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u2028\u2029]+")


@dataclass(frozen=True)
class InboundMessage:
    """What the pipeline knows about one inbound email.

    `sender` is the single validated From addr-spec, lower-cased ('' when From is missing,
    ambiguous or forged-looking). `body` is the best text body with quoted history and signature
    removed (what the customer actually wrote); `text` is the full decoded body before stripping.
    Header values in `headers` are unfolded, RFC 2047-decoded and stripped of control characters;
    names are lower-case. `problems` lists why the sender was rejected, if it was.
    """

    sender: str
    sender_name: str
    subject: str
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    body: str
    text: str
    reply_to: str | None = None
    return_path: str | None = None
    content_type: str = "text/plain"
    report_type: str | None = None
    attachment_count: int = 0
    html_only: bool = False
    headers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    def header(self, name: str) -> str | None:
        """First value of header `name` (case-insensitive), or None."""
        values = self.headers.get(name.lower())
        return values[0] if values else None

    def has_header(self, name: str) -> bool:
        """True if the header is present at all (even empty)."""
        return name.lower() in self.headers

    @property
    def is_reply(self) -> bool:
        """True for a reply or forward (In-Reply-To set, or a Re:/Fwd:-style subject prefix)."""
        return self.in_reply_to is not None or strip_subject_prefixes(self.subject) != self.subject.strip()

    @property
    def analysis_text(self) -> str:
        """What intent/FAQ look at: subject (without Re:/Fwd:) plus the stripped body.

        In a reply the subject is inherited from our earlier mail ("Re: Your order ORD-... has
        shipped"), not written by the customer, so only the body counts when there is one.
        """
        if self.is_reply and self.body.strip():
            return self.body
        subject = strip_subject_prefixes(self.subject)
        return f"{subject}\n{self.body}".strip() if subject else self.body


def is_valid_address(address: str | None) -> bool:
    """True for a plain `local@domain` address we are willing to reply to."""
    return bool(address) and _ADDR_RE.match(address) is not None


def parse_inbound(raw: bytes) -> InboundMessage:
    """Parse raw RFC 5322 bytes (as SES stores them in S3) into an `InboundMessage`.

    Uses `email.parser.BytesParser(policy=email.policy.default)`. Never raises: every header read
    is guarded, because the default policy raises on some hostile headers (e.g. an encoded-word
    that decodes to CR/LF inside an address).
    """
    if not isinstance(raw, (bytes, bytearray)):
        raw = bytes(raw)
    try:
        msg = BytesParser(policy=policy.default).parsebytes(bytes(raw))
    except Exception:  # pragma: no cover - the feed parser is lenient; this is belt and braces
        return InboundMessage("", "", "", None, None, (), "", "", problems=("unparseable",))

    headers = _collect_headers(msg)
    problems: list[str] = []
    sender, sender_name = _parse_from(msg, headers, problems)
    reply_to = _parse_reply_to(msg, headers)
    subject = _safe_str_header(msg, "subject", headers)
    message_ids = _msg_ids(headers.get("message-id", ()))
    in_reply_to_ids = _msg_ids(headers.get("in-reply-to", ()))
    references = tuple(_msg_ids(headers.get("references", ()))[-MAX_REFERENCES:])
    return_path = headers["return-path"][0].strip() if "return-path" in headers else None

    content_type, report_type = "text/plain", None
    try:
        content_type = msg.get_content_type()
        report_type = msg.get_param("report-type")
        report_type = str(report_type).strip().lower() if report_type else None
    except Exception:
        problems.append("content-type-unreadable")

    plain, html, attachments = _collect_bodies(msg)
    html_only = not plain.strip() and bool(html.strip())
    text = plain if plain.strip() else html_to_text(html)
    text = _tidy_text(text)[:MAX_BODY_CHARS]
    body = strip_quoted(text)

    return InboundMessage(
        sender=sender,
        sender_name=sender_name,
        subject=subject,
        message_id=message_ids[0] if message_ids else None,
        in_reply_to=in_reply_to_ids[0] if in_reply_to_ids else None,
        references=references,
        body=body,
        text=text,
        reply_to=reply_to,
        return_path=return_path,
        content_type=content_type,
        report_type=report_type,
        attachment_count=attachments,
        html_only=html_only,
        headers=headers,
        problems=tuple(problems),
    )


# --------------------------------------------------------------------------------------------
# Headers


def _clean_header_text(value: str) -> str:
    # CR/LF (and other controls) inside a decoded header value only ever come from folding or from
    # an attack; either way a single space is the right replacement.
    return _CONTROL_RE.sub(" ", value).strip()


def _decode_raw_header(value: str) -> str:
    """Unfold and RFC 2047-decode a raw header value; tolerate 8-bit junk."""
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        # BytesParser keeps undecodable 8-bit header bytes as surrogates; raw UTF-8 headers
        # (RFC 6532) are common, legacy charsets less so.
        value = decode_bytes(value.encode("utf-8", "surrogateescape"), None)
    value = re.sub(r"\r?\n[ \t]", " ", value)
    try:
        decoded = str(make_header(decode_header(value)))
    except Exception:
        decoded = value
    return _clean_header_text(decoded)


def _collect_headers(msg: Message) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    try:
        items = list(msg.raw_items())
    except Exception:
        items = []
    for name, value in items[:500]:
        key = str(name).strip().lower()
        if not key:
            continue
        out.setdefault(key, []).append(_decode_raw_header(str(value))[:4000])
    return {k: tuple(v) for k, v in out.items()}


def _safe_str_header(msg: Message, name: str, headers: dict[str, tuple[str, ...]]) -> str:
    try:
        value = msg.get(name)
        return _clean_header_text(str(value)) if value is not None else ""
    except Exception:
        values = headers.get(name, ())
        return values[0] if values else ""


def _parse_from(
    msg: Message, headers: dict[str, tuple[str, ...]], problems: list[str]
) -> tuple[str, str]:
    if len(headers.get("from", ())) != 1:
        problems.append("from-missing" if "from" not in headers else "from-repeated")
        return "", ""
    try:
        header = msg["from"]
        addresses = list(header.addresses)
    except Exception:
        # The default policy refuses e.g. an encoded-word display name that decodes to CR/LF: a
        # header-injection attempt, never seen from a real mail client.
        problems.append("from-unparseable")
        return "", ""
    if len(addresses) != 1:
        problems.append("from-not-single")
        return "", ""
    address = addresses[0]
    addr_spec = (address.addr_spec or "").strip()
    if not is_valid_address(addr_spec):
        problems.append("from-invalid-address")
        return "", ""
    name = _clean_header_text(address.display_name or "")[:100]
    return addr_spec.lower(), name


def _parse_reply_to(msg: Message, headers: dict[str, tuple[str, ...]]) -> str | None:
    if len(headers.get("reply-to", ())) != 1:
        return None
    try:
        addresses = list(msg["reply-to"].addresses)
    except Exception:
        return None
    if len(addresses) != 1 or not is_valid_address(addresses[0].addr_spec):
        return None
    return addresses[0].addr_spec.lower()


def _msg_ids(values: tuple[str, ...]) -> list[str]:
    ids: list[str] = []
    for value in values:
        for found in _MSGID_RE.findall(value):
            mid = f"<{found}>"
            if mid not in ids:
                ids.append(mid)
    return ids


# --------------------------------------------------------------------------------------------
# Bodies and charsets

# Declared charset -> the codec we actually decode with. Supersets first: mail clients label
# GBK/GB18030 text as GB2312 and cp874 text as TIS-620, and browsers decode ISO-8859-1 as cp1252.
_CHARSET_ALIASES = {
    "tis-620": "cp874",
    "tis620": "cp874",
    "iso-8859-11": "cp874",
    "windows-874": "cp874",
    "x-windows-874": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "cp950": "cp950",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "windows-1256": "cp1256",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
}
# UTF-7 is a classic filter-evasion encoding and no modern client sends it: refuse to honour it.
_REFUSED_CHARSETS = {"utf-7", "unicode-1-1-utf-7", "x-unicode-1-1-utf-7"}
_SINGLE_BYTE_WESTERN = {"cp1252", "iso8859-15", "iso-8859-15"}


def decode_bytes(data: bytes, declared: str | None) -> str:
    """Decode body bytes using the declared charset, with safe fallbacks; never raises."""
    declared = (declared or "").strip().strip('"').lower()
    codec = _CHARSET_ALIASES.get(declared, declared)
    candidates: list[str] = []
    if codec and codec not in _REFUSED_CHARSETS:
        if codec in _SINGLE_BYTE_WESTERN and _looks_utf8(data):
            # Mislabelled UTF-8 is common; valid multi-byte UTF-8 by accident in Latin-1 text is not.
            candidates.append("utf-8")
        candidates.append(codec)
    candidates += ["utf-8", "cp1252"]
    for candidate in candidates:
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    # Declared codec known but the bytes are slightly broken: keep what decodes.
    try:
        return data.decode(codec or "utf-8", errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")


def _looks_utf8(data: bytes) -> bool:
    if data.isascii():
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _part_text(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if not isinstance(payload, bytes):
        return ""
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    return decode_bytes(payload[:MAX_PART_BYTES], charset)


def _is_attachment(part: Message) -> bool:
    try:
        disposition = part.get_content_disposition()
    except Exception:
        disposition = None
    if disposition == "attachment":
        return True
    try:
        filename = part.get_filename()
    except Exception:
        filename = "unreadable"
    try:
        maintype = part.get_content_maintype()
    except Exception:
        maintype = "application"
    return bool(filename) and maintype != "text"


def _collect_bodies(msg: Message) -> tuple[str, str, int]:
    """Return (plain text, html, attachment count) without descending into attached messages."""
    plain: list[str] = []
    html: list[str] = []
    attachments = 0
    stack: list[tuple[Message, int]] = [(msg, 0)]
    while stack:
        part, depth = stack.pop()
        try:
            ctype = part.get_content_type()
        except Exception:
            ctype = "application/octet-stream"
        if part.is_multipart():
            if ctype.startswith("message/") or depth > 20:
                # A forwarded/bounced message is content of its own, not the customer's words.
                attachments += 1
                continue
            try:
                children = list(part.iter_parts())
            except Exception:
                children = []
            stack.extend((child, depth + 1) for child in reversed(children))
            continue
        if ctype.startswith("message/"):
            attachments += 1
            continue
        if _is_attachment(part):
            attachments += 1
            continue
        if ctype == "text/plain":
            plain.append(_part_text(part))
        elif ctype == "text/html":
            html.append(_part_text(part))
        elif part is not msg:
            # Inline images, calendar parts, signatures (application/pkcs7-signature)...
            attachments += 1
    return "\n".join(plain), "\n".join(html), attachments


def _tidy_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text)
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --------------------------------------------------------------------------------------------
# HTML to text

_VOID_TAGS = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
}
_SKIP_TAGS = {"script", "style", "head", "title", "template", "noscript", "svg", "object", "iframe"}
_BLOCK_TAGS = {
    "p", "div", "tr", "table", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article",
    "header", "footer", "address", "pre", "center", "dl", "dt", "dd", "form", "fieldset", "body",
}
_HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?![.\d])")


class _HtmlToText(HTMLParser):
    """Tag-soup tolerant HTML -> text: drops scripts/styles/hidden text/quoted history."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.stack: list[tuple[str, bool]] = []
        self.skip_depth = 0
        self.quoted = False

    def _block(self) -> None:
        if self.out and not self.out[-1].endswith("\n"):
            self.out.append("\n")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.quoted:
            return
        attr = {k.lower(): (v or "") for k, v in attrs}
        if tag in _VOID_TAGS:
            if self.skip_depth == 0:
                if tag == "br":
                    self.out.append("\n")
                elif tag == "hr":
                    self._block()
            return
        classes = attr.get("class", "").lower()
        element_id = attr.get("id", "").lower()
        if (
            "gmail_quote" in classes
            or "yahoo_quoted" in classes
            or "moz-cite-prefix" in classes
            or element_id in {"divrplyfwdmsg", "appendonsend"}
            or "yahoo_quoted" in element_id
        ) and self.skip_depth == 0:
            # Everything after the client's quote container is history (top-posting); the text
            # stripper cuts at the sentinel.
            self._block()
            self.out.append(QUOTE_SENTINEL + "\n")
            self.quoted = True
            return
        skip = (
            tag in _SKIP_TAGS
            or tag == "blockquote"
            or bool(_HIDDEN_STYLE_RE.search(attr.get("style", "").lower()))
            or "hidden" in attr
        )
        self.stack.append((tag, skip))
        if skip:
            self.skip_depth += 1
        elif self.skip_depth == 0:
            if tag in _BLOCK_TAGS:
                self._block()
            elif tag == "li":
                self._block()
                self.out.append("- ")
            elif tag in {"td", "th"}:
                self.out.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if self.quoted or tag in _VOID_TAGS:
            return
        # Pop up to the matching open tag, tolerating unclosed children (tag soup).
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                for _, skipped in self.stack[index:]:
                    if skipped:
                        self.skip_depth -= 1
                del self.stack[index:]
                break
        if self.skip_depth == 0 and tag in _BLOCK_TAGS | {"li"}:
            self._block()

    def handle_data(self, data: str) -> None:
        if self.quoted or self.skip_depth:
            return
        self.out.append(re.sub(r"[ \t\r\n\f]+", " ", data))

    def text(self) -> str:
        joined = "".join(self.out)
        lines = [re.sub(r" {2,}", " ", line).strip() for line in joined.split("\n")]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def html_to_text(html: str) -> str:
    """Convert an HTML body to plain text for analysis.

    Never executes or fetches anything; drops script/style/head, hidden elements and quoted
    history (blockquote, Gmail/Outlook/Yahoo quote containers). The result is only analysed and
    is HTML-escaped again if it is ever shown.
    """
    if not html:
        return ""
    parser = _HtmlToText()
    try:
        parser.feed(html[:MAX_HTML_CHARS])
        parser.close()
    except Exception:  # pragma: no cover - HTMLParser is lenient; keep what we have
        pass
    return parser.text()


# --------------------------------------------------------------------------------------------
# Quoted history and signatures

# A line that starts the quoted original in a reply. "On ... wrote:" and friends may be wrapped
# onto two lines by the client, so they are also tried on a line joined with the next one.
_REPLY_HEADER_RES = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^on\b.{0,250}\bwrote\s*:?\s*$",
        r"^am\b.{0,250}\bschrieb\b.{0,120}:\s*$",
        r"^le\b.{0,250}\ba [ée]crit\s*:\s*$",
        r"^el\b.{0,250}\bescribi[óo]\s*:\s*$",
        r"^(เมื่อ|ใน|วัน).{0,250}เขียนว่า\s*:\s*$",
        r"^.{0,12}در تاریخ.{0,250}(نوشت|نوشته است)\s*:?.{0,3}$",
        r"^.{0,250}(نوشت|نوشته است)\s*:.{0,3}$",
        r"^(在|于|於).{0,250}(写道|寫道)\s*[:：]?\s*$",
        r"^-{2,}\s*(original message|ursprüngliche nachricht|message d'origine|mensaje original)\s*-{2,}",
        r"^-{3,}\s*(原始邮件|原始郵件|original)\s*-{3,}",
        r"^-{2,}\s*(ข้อความต้นฉบับ|پیام اصلی|پیغام اصلی)\s*-{2,}",
        r"^_{20,}\s*$",
    )
]
# Outlook-style header block: "From: ..." followed within a few lines by "Sent:"/"Date:".
_FROM_LINE_RE = re.compile(r"^\*?(from|von|de|发件人|寄件者|寄件人|จาก|از)\s*\*?\s*[:：]", re.IGNORECASE)
_SENT_LINE_RE = re.compile(
    r"^\*?(sent|date|gesendet|datum|envoy[ée]|enviado|fecha|发送时间|發送時間|日期|时间|ส่ง|วันที่|تاریخ|ارسال)"
    r"\s*\*?\s*[:：]",
    re.IGNORECASE,
)
# Mobile-client and sign-off boilerplate that carries no question.
_SIGNATURE_LINE_RE = re.compile(
    r"^(sent from my \w+|sent from (mail|outlook) for \w+|get outlook for \w+|sent from yahoo mail"
    r"|von meinem \w+ gesendet|envoy[ée] de mon \w+|enviado desde mi \w+"
    r"|ส่งจาก.{0,30}ของ(ฉัน|ผม)|ارسال شده از.{0,30}|发自我的.{0,20}|從我的.{0,20}傳送|发送自.{0,20}"
    r"|從我的 ?iphone 傳送|發自我的.{0,20})\s*$",
    re.IGNORECASE,
)


def strip_quoted(text: str) -> str:
    """Remove quoted reply history and the signature, keeping what the customer newly wrote.

    Cuts at the first reply header ("On ... wrote:", Outlook's From:/Sent: block, localized
    equivalents in th/fa/zh/de/fr/es, or the HTML converter's sentinel), drops `>`-quoted lines,
    and cuts at the RFC 3676 signature delimiter ("-- ") and at mobile sign-off lines.
    """
    lines = text.split("\n")
    cut = len(lines)
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if QUOTE_SENTINEL in stripped:
            cut = index
            break
        joined = stripped
        if index + 1 < len(lines):
            joined = f"{stripped} {lines[index + 1].strip()}"
        if any(r.match(stripped) or r.match(joined) for r in _REPLY_HEADER_RES):
            cut = index
            break
        if _FROM_LINE_RE.match(stripped) and any(
            _SENT_LINE_RE.match(following.strip()) for following in lines[index + 1 : index + 5]
        ):
            cut = index
            break
        if line.rstrip("\n") in {"-- ", "--"} or _SIGNATURE_LINE_RE.match(stripped):
            cut = index
            break
    kept = [line for line in lines[:cut] if not line.lstrip().startswith(">")]
    result = "\n".join(kept)
    return re.sub(r"\n{3,}", "\n\n", result).strip()


_SUBJECT_PREFIX_RE = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|wg|sv|vs|antw|odp|tr|rv|rif|r)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]"
    r"|(?:回复|回覆|答复|答覆|转发|轉寄|转寄|ตอบกลับ|ตอบ|ส่งต่อ|پاسخ|جواب|هدایت)\s*[:：])\s*",
    re.IGNORECASE,
)


def strip_subject_prefixes(subject: str) -> str:
    """Remove any number of reply/forward prefixes (Re:, Fwd:, AW:, 回复:, ตอบกลับ:, پاسخ: ...)."""
    previous = None
    subject = subject or ""
    while previous != subject:
        previous = subject
        subject = _SUBJECT_PREFIX_RE.sub("", subject, count=1)
    return subject.strip()
