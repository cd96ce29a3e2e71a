"""Case threading: the `[Case #C-XXXX]` subject tag and finding a case from a reply's headers.

How a reply finds its case, strongest evidence first:
1. In-Reply-To / References contain a Message-ID we generated for the case
   (`<case.C-XXXX.<unique>@domain>`, parsed without any lookup);
2. In-Reply-To / References contain the Message-ID of a mail we sent: SES replaces our Message-ID
   with its own (`<ses-message-id@region.amazonses.com>`), so the sender stores SES message id ->
   case, and `find_case_ref` takes that lookup as a function (this module stays pure);
3. the subject tag, which survives clients that drop References and forwards to a new thread.

All three are customer-controlled input: the service must check that the case found belongs to
the sender before attaching the message to it (or reading anything from it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = [
    "CaseLookup",
    "candidate_message_ids",
    "case_ref_from_message_id",
    "case_ref_from_subject",
    "case_tag",
    "find_case_ref",
    "make_message_id",
    "normalize_case_ref",
    "ses_message_id",
    "with_case_tag",
]

_CASE_REF_RE = re.compile(r"^C-[0-9A-Z]{4,32}$")
# Tolerant of what mail clients and people do to the tag: case, spaces, full-width brackets.
_SUBJECT_TAG_RE = re.compile(r"[\[【(（]\s*case\s*#?\s*(C-[0-9A-Za-z]{4,32})\s*[\]】)）]", re.IGNORECASE)
_OUR_MSGID_RE = re.compile(r"^<case\.(C-[0-9A-Z]{4,32})\.[^<>@\s]{1,100}@[^<>@\s]{1,200}>$", re.IGNORECASE)
_SES_MSGID_RE = re.compile(r"^<([0-9a-f]{16}-[0-9a-f-]{20,80}-[0-9]{6})@[a-z0-9.-]*amazonses\.com>$", re.I)
_MSGID_RE = re.compile(r"^<[^<>\s\x00-\x1f\x7f]{1,250}>$")
MAX_IDS_CHECKED = 10

CaseLookup = Callable[[str], "str | None"]


def normalize_case_ref(case_ref: str) -> str:
    """Upper-case, validated `C-XXXX` reference; raises ValueError for anything else."""
    ref = (case_ref or "").strip().upper()
    if not _CASE_REF_RE.match(ref):
        raise ValueError("case_ref must look like C-XXXX (4-32 letters/digits)")
    return ref


def case_tag(case_ref: str) -> str:
    """The subject tag for a case: `[Case #C-XXXX]`."""
    return f"[Case #{normalize_case_ref(case_ref)}]"


def case_ref_from_subject(subject: str | None) -> str | None:
    """The case reference in a subject tag like `Re: Shipping [Case #C-7Q2M]`, or None.

    If several tags are present (forward chains), the last one wins: it is the one we appended to
    the message the customer replied to.
    """
    if not subject:
        return None
    refs = [m.upper() for m in _SUBJECT_TAG_RE.findall(subject)]
    refs = [r for r in refs if _CASE_REF_RE.match(r)]
    return refs[-1] if refs else None


def with_case_tag(subject: str, case_ref: str) -> str:
    """`subject` with exactly one tag for `case_ref` at the end (other case tags removed)."""
    tag = case_tag(case_ref)
    stripped = _SUBJECT_TAG_RE.sub("", subject or "")
    stripped = re.sub(r"\s{2,}", " ", stripped).strip()
    return f"{stripped} {tag}".strip()


def make_message_id(case_ref: str, unique: str, domain: str) -> str:
    """A Message-ID that carries the case: `<case.C-XXXX.<unique>@domain>`.

    Useful for transports that keep our Message-ID (the local outbox, SMTP); SES replaces it.
    """
    if not re.fullmatch(r"[0-9A-Za-z._-]{1,100}", unique or ""):
        raise ValueError("unique must be 1-100 of [0-9A-Za-z._-]")
    if not re.fullmatch(r"[0-9A-Za-z.-]{1,200}", domain or ""):
        raise ValueError("domain must be a plain host name")
    return f"<case.{normalize_case_ref(case_ref)}.{unique}@{domain.lower()}>"


def case_ref_from_message_id(message_id: str | None) -> str | None:
    """The case reference embedded by `make_message_id`, or None."""
    match = _OUR_MSGID_RE.match((message_id or "").strip())
    return match.group(1).upper() if match else None


def ses_message_id(message_id: str | None) -> str | None:
    """SES's MessageId (as returned by SendEmail) from a `<id@region.amazonses.com>` header value."""
    match = _SES_MSGID_RE.match((message_id or "").strip())
    return match.group(1).lower() if match else None


def candidate_message_ids(in_reply_to: str | None, references: Iterable[str]) -> list[str]:
    """Message-IDs to try, most recent first: In-Reply-To, then References from last to first."""
    ordered: list[str] = []
    for mid in [in_reply_to, *reversed(list(references or ()))]:
        if mid and _MSGID_RE.match(mid) and mid not in ordered:
            ordered.append(mid)
        if len(ordered) >= MAX_IDS_CHECKED:
            break
    return ordered


@dataclass(frozen=True)
class CaseRefFound:
    """A case reference and how it was found: `message-id`, `lookup` or `subject`."""

    case_ref: str
    via: str


def find_case_ref(
    subject: str | None,
    in_reply_to: str | None,
    references: Iterable[str],
    lookup: CaseLookup | None = None,
) -> CaseRefFound | None:
    """Find the case a reply belongs to (see the module docstring for the order of evidence).

    `lookup(message_id) -> case_ref | None` maps a Message-ID we sent to its case (e.g. a
    DynamoDB GetItem on `MSGID#<id>`); it is called at most 10 times, newest id first.
    """
    ids = candidate_message_ids(in_reply_to, references)
    for mid in ids:
        ref = case_ref_from_message_id(mid)
        if ref:
            return CaseRefFound(ref, "message-id")
    if lookup is not None:
        for mid in ids:
            ref = lookup(mid)
            if ref:
                try:
                    return CaseRefFound(normalize_case_ref(ref), "lookup")
                except ValueError:
                    continue
    ref = case_ref_from_subject(subject)
    return CaseRefFound(ref, "subject") if ref else None
