"""Detect the customer's language (en/th/fa/zh, or 'other') from Unicode script counts.

No model, no data file: the four languages we answer in are written in four different scripts,
so counting letters per script is enough and costs microseconds. The one ambiguity, Persian vs
Arabic (same script), is settled by letters that only Persian uses.
"""

from __future__ import annotations

import re

__all__ = ["SUPPORTED", "detect_language", "script_counts"]

SUPPORTED = ("en", "th", "fa", "zh")

# Tokens that are script-neutral noise for detection: URLs, addresses, our order ids.
_NOISE_RE = re.compile(r"https?://\S+|www\.\S+|\S+@\S+|\bORD[-\s]?[0-9A-Z]{10}\b", re.IGNORECASE)

# Letters only Persian uses (پ چ ژ گ are strong; Persian ی/ک differ from Arabic ي/ك only in code
# point, and people typing on an Arabic keyboard layout produce the Arabic ones).
_FA_STRONG = set("پچژگ")
_FA_WEAK = set("یک")
# Letters Persian does not use (ة) or rarely uses (إ أ), and the Arabic forms ي ك ى.
_AR_STRONG = set("ةإأ")
_AR_WEAK = set("يكى")

# Ideographs carry about a word each, so they weigh more than an alphabet letter.
_WEIGHTS = {"latin": 1.0, "thai": 1.0, "arabic": 1.0, "han": 2.0, "kana": 2.0, "hangul": 2.0,
            "cyrillic": 1.0, "greek": 1.0, "hebrew": 1.0, "devanagari": 1.0}


def _script(ch: str) -> str | None:
    cp = ord(ch)
    if cp < 0x80:
        return "latin" if ch.isalpha() else None
    if 0x00C0 <= cp <= 0x024F:
        return "latin" if ch.isalpha() else None
    if 0x0E00 <= cp <= 0x0E7F:
        return "thai"
    if 0x0600 <= cp <= 0x06FF or 0x0750 <= cp <= 0x077F or 0xFB50 <= cp <= 0xFDFF or 0xFE70 <= cp <= 0xFEFF:
        return "arabic" if ch.isalpha() else None
    if 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0xF900 <= cp <= 0xFAFF or 0x20000 <= cp <= 0x2FA1F:
        return "han"
    if 0x3040 <= cp <= 0x30FF or 0x31F0 <= cp <= 0x31FF:
        return "kana"
    if 0xAC00 <= cp <= 0xD7AF or 0x1100 <= cp <= 0x11FF or 0x3130 <= cp <= 0x318F:
        return "hangul"
    if 0x0400 <= cp <= 0x04FF:
        return "cyrillic"
    if 0x0370 <= cp <= 0x03FF:
        return "greek"
    if 0x0590 <= cp <= 0x05FF:
        return "hebrew"
    if 0x0900 <= cp <= 0x097F:
        return "devanagari"
    if 0xFF21 <= cp <= 0xFF5A:  # full-width Latin, typed with CJK input methods
        return "latin" if ch.isalpha() else None
    return None


def script_counts(text: str) -> dict[str, int]:
    """Count letters per script (latin, thai, arabic, han, kana, hangul, ...) after noise removal."""
    counts: dict[str, int] = {}
    for ch in _NOISE_RE.sub(" ", text or ""):
        script = _script(ch)
        if script:
            counts[script] = counts.get(script, 0) + 1
    return counts


def detect_language(text: str) -> str:
    """Return 'en', 'th', 'fa', 'zh' or 'other' for `text`; 'en' when there is nothing to go on.

    The dominant script (ideographs weighted x2) decides: Thai -> th; Han without a real share of
    kana -> zh (kana means Japanese -> other); Arabic script -> fa when Persian-only letters
    outweigh Arabic-only ones, else other (Arabic, Urdu ...); Latin -> en (we do not answer in
    other Latin-script languages, and English is the shop's fallback); anything else -> other.
    """
    counts = script_counts(text)
    if not counts:
        return "en"
    dominant = max(counts, key=lambda s: counts[s] * _WEIGHTS.get(s, 1.0))
    if dominant == "latin":
        return "en"
    if dominant == "thai":
        return "th"
    if dominant in {"han", "kana"}:
        han, kana = counts.get("han", 0), counts.get("kana", 0)
        if kana >= 2 and kana >= 0.1 * (han + kana):
            return "other"
        return "zh"
    if dominant == "arabic":
        return "fa" if _persian_score(text) >= 0 else "other"
    return "other"


# Function words that tell the two languages apart even when typed on an Arabic keyboard layout
# (which yields Arabic ي/ك for Persian ی/ک).
_FA_WORDS = {"است", "را", "می", "های", "برای", "نمی", "هست", "چطور", "چگونه", "آیا", "ممنون", "لطفا",
             "سلام", "خیلی", "خيلي", "میخواهم", "ميخواهم", "کنم", "كنم", "شد", "نشده", "دارم", "چند"}
_AR_WORDS = {"في", "على", "هل", "إلى", "الى", "هذا", "هذه", "التي", "الذي", "عن", "لم", "أن", "إن",
             "شكرا", "مرحبا", "كيف", "متى", "أريد", "اريد"}


def _persian_score(text: str) -> int:
    """Positive: Persian; negative: Arabic (or another Arabic-script language)."""
    strong_fa = sum(1 for ch in text if ch in _FA_STRONG)
    strong_ar = sum(1 for ch in text if ch in _AR_STRONG)
    weak_fa = sum(1 for ch in text if ch in _FA_WEAK)
    weak_ar = sum(1 for ch in text if ch in _AR_WEAK)
    words = re.findall(r"[\u0600-\u06ff\u200c]+", text)
    fa_words = sum(1 for w in words if w in _FA_WORDS)
    ar_words = sum(1 for w in words if w in _AR_WORDS)
    # Strong letters and function words decide; the weak ی/ک vs ي/ك signal only breaks ties,
    # because it mostly reflects the keyboard layout rather than the language.
    score = 4 * (strong_fa - strong_ar) + 3 * (fa_words - ar_words)
    if score == 0:
        score = weak_fa - weak_ar
    return score
