"""FAQ knowledge-base matcher: TF-IDF over words and character n-grams, per language.

Why this design (docs/email-replies.md has the measurements):
- Thai and Chinese have no spaces between words, and a word segmenter would need a dictionary or a
  model (cold-start cost). Character n-grams need neither: Chinese bigrams are mostly words, Thai
  2-4-grams cover syllables and short words. Space-delimited languages (en, fa) get word tokens plus
  word-internal character n-grams, which absorb typos and inflections ("refunds", "refnd").
- A small table of domain synonyms (postage/delivery/shipping, 邮费/运费, แต้ม/คะแนน ...) does what an
  embedding model would do for the handful of concepts a shop FAQ is about.
- The score is bounded in [0, 1] (a coverage-weighted cosine), so one confidence threshold works
  across languages, unlike raw BM25 scores.
- A wrong answer is worse than an acknowledgement: the match must clear a threshold *and* beat the
  runner-up entry by a margin, otherwise we return None and the caller sends an acknowledgement.

The index is built once per container from a few hundred short strings (per language, on first use);
matching is a handful of dictionary lookups.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "DEFAULT_MARGIN",
    "DEFAULT_THRESHOLD",
    "FaqEntry",
    "FaqIndex",
    "FaqMatch",
    "features",
    "normalize",
]

LANGS = ("en", "th", "fa", "zh")
# Tuned on the dev half of tests/eval/faq_eval.json (see bench/bench_faq.py and the doc).
DEFAULT_THRESHOLD = 0.30
DEFAULT_MARGIN = 0.06
MAX_QUERY_CHARS = 4_000

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class FaqEntry:
    """One FAQ entry in one language. The same `id` in several languages is one topic."""

    id: str
    lang: str
    questions: tuple[str, ...]
    answer: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class FaqMatch:
    """A confident FAQ match: the entry id, cosine score in [0, 1], its answer and language."""

    id: str
    score: float
    answer: str
    lang: str
    question: str = ""
    margin: float = 1.0


# --------------------------------------------------------------------------------------------
# Normalisation

_TRAD_SIMP_PAIRS = (
    "運运費费貨货訂订單单號号碼码國国際际換换們们這这個个沒没過过還还寫写為为與与讓让說说郵邮務务區区東东後后"
    "從从實实價价貴贵優优錢钱幾几發发達达請请問问會会員员積积點点級级時时間间嗎吗麼么買买賣卖購购裡里裏里網网"
    "頁页帳帐戶户機机證证書书壞坏損损質质顏颜顯显長长寬宽選选擇择變变辦办處处關关於于聯联繫系絡络係系統统劃划"
    "準准確确認认預预計计據据樣样該该應应須须經经濟济標标額额獲获兌兑現现門门臺台灣湾銀银綁绑轉转賬账記记錄录"
    "紀纪開开閉闭對对錯错題题啟启動动態态狀状況况總总則则規规條条內内產产維维護护輸输簡简體体雙双層层頭头類类"
    "別别種种圖图張张攝摄遞递遲迟週周倉仓庫库線线報报稅税進进滿满歐欧韓韩險险賠赔償偿給给讀读聽听話话電电驗验"
    "鐘钟褲裤襪袜適适緊紧鬆松試试覺觉舊旧幫帮兩两歲岁導导銷销續续訊讯願愿專专屬属權权階阶鑽钻黃黄鉑铂寶宝"
    "億亿筆笔傳传聞闻義义習习極极門门閱阅衛卫營营創创訪访邊边廣广歡欢興兴團团園园車车陽阳華华雲云節节葉叶"
    "蘭兰當当幣币萬万鐵铁夠够糾纠紛纷訴诉嚴严盡尽掛挂熱热尋寻詢询員员撥拨櫃柜簽签縮缩擴扩標标鏈链結结帶带"
)
_TRAD_TO_SIMP = {_TRAD_SIMP_PAIRS[i]: _TRAD_SIMP_PAIRS[i + 1] for i in range(0, len(_TRAD_SIMP_PAIRS), 2)}

_CHAR_MAP: dict[int, str] = {
    # Arabic-keyboard forms and hamza/madda variants -> the Persian forms we index.
    ord("ي"): "ی", ord("ى"): "ی", ord("ئ"): "ی", ord("ك"): "ک", ord("ة"): "ه", ord("ۀ"): "ه",
    ord("أ"): "ا", ord("إ"): "ا", ord("آ"): "ا", ord("ٱ"): "ا", ord("ؤ"): "و",
    ord("\u0640"): "",  # tatweel
    ord("\u200c"): "", ord("\u200d"): "", ord("\u200b"): "", ord("\ufeff"): "",
    ord("\u200e"): "", ord("\u200f"): "",
}
for _cp in range(0x064B, 0x0660):  # Arabic harakat: optional vowel signs
    _CHAR_MAP[_cp] = ""
_CHAR_MAP[0x0670] = ""
for _base in (0x0660, 0x06F0, 0x0E50):  # Arabic-Indic, Persian and Thai digits -> ASCII
    for _d in range(10):
        _CHAR_MAP[_base + _d] = str(_d)
for _trad, _simp in _TRAD_TO_SIMP.items():
    _CHAR_MAP[ord(_trad)] = _simp

_NOISE_RE = re.compile(
    r"https?://\S+|www\.\S+|\S+@\S+\.\S+|\bord[-\s]?[0-9a-z]{10}\b|\bc-[0-9a-z]{4,32}\b", re.IGNORECASE
)


def normalize(text: str) -> str:
    """Casefold + NFKC, unify Persian/Arabic letter variants, digits and Traditional Chinese.

    Also removes URLs, email addresses, order ids and case refs: they are identifiers, not words
    that say what the question is about.
    """
    text = unicodedata.normalize("NFKC", text or "")[:MAX_QUERY_CHARS].casefold()
    text = text.translate(_CHAR_MAP)
    return _NOISE_RE.sub(" ", text)


# --------------------------------------------------------------------------------------------
# Features

_EN_STOP = frozenset(
    [
        "a", "an", "the", "and", "or", "but", "if", "so", "to", "of", "in", "on", "at", "by", "for",
        "from", "with", "about", "as", "into", "than", "then", "too", "very", "i", "me", "my", "mine",
        "we", "us", "our", "you", "your", "yours", "he", "she", "it", "its", "they", "them", "their",
        "this", "that", "these", "those", "is", "are", "am", "was", "were", "be", "been", "being", "do",
        "does", "did", "doing", "have", "has", "had", "having", "will", "would", "shall", "should", "can",
        "could", "may", "might", "must", "just", "also", "any", "some", "there", "here", "please", "pls",
        "plz", "thanks", "thank", "thx", "hi", "hello", "hey", "dear", "sir", "madam", "team", "support",
        "regards", "best", "kind", "cheers", "hope", "well", "good", "morning", "afternoon", "evening",
        "day", "wanted", "want", "wondering", "wonder", "know", "like", "ask", "asking", "question",
        "quick", "help", "let", "get", "got", "one", "really", "all", "okay", "ok", "yes", "no", "not",
        "dont", "don't", "im", "i'm", "ive", "i've", "id", "i'd", "offer", "possible", "need", "needed",
        "take", "make", "give", "find", "see", "look", "able", "still", "already", "now", "right",
        "before", "after", "something", "anything", "thing", "things", "stuff", "way", "maybe",
        "currently", "actually",
    ]
)
_FA_STOP = frozenset(
    [
        "و", "در", "به", "از", "که", "را", "با", "این", "آن", "اين", "ان", "من", "ما", "شما", "او", "است",
        "هست", "هستم", "بود", "باشد", "شد", "یک", "يک", "هم", "تا", "برای", "براي", "یا", "اگر", "پس",
        "ولی", "ولي", "سلام", "درود", "لطفا", "لطفاً", "ممنون", "مرسی", "سپاس", "تشکر", "باتشکر", "متشکرم",
        "عزیز", "عزيز", "دوستان", "خسته", "نباشید", "نباشيد", "وقت", "بخیر", "بخير", "روز", "خیلی", "خيلي",
        "میخواستم", "ميخواستم", "بپرسم", "سوال", "سوالی", "داشتم",
    ]
)
# Thai and Chinese are matched as character runs, so their stop phrases are cut out of the text.
_TH_STOP_RE = re.compile(
    r"สวัสดี(?:ครับ|ค่ะ|คะ|ค่า)?|ขอบคุณ(?:มาก)?(?:ครับ|ค่ะ|คะ|ค่า)?|รบกวน(?:สอบถาม)?|สอบถาม|อยากทราบ|อยากถาม"
    r"|ครับผม|ครับ|คับ|ค่ะ|ค่า|จ้า|จ้ะ|คร้าบ|ค้าบ|(?:นะ)?คะ(?=\s|$|[?!.])|นะ(?=\s|$|[?!.])"
)
_ZH_STOP_RE = re.compile(
    r"你好|您好|请问|谢谢|麻烦|不好意思|打扰|想问一下|想问|问一下|一下|我想|你们|我们|客服|亲|[的了吗呢啊吧呀哦嘛么]"
)
_WORD_RE = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?|\d+", re.UNICODE)
# Persian writes the verb prefix (می) and plural/possessive suffixes either joined, with ZWNJ
# (removed by normalize) or with a space: join the spaced form so all three index the same.
_FA_PREFIX_RE = re.compile(r"(?<!\S)(ن?می)\s+(?=[\u0600-\u06ff])")
_FA_SUFFIX_RE = re.compile(r"(?<=[\u0600-\u06ff])\s+(ها|های|هایی|ای|ام|ات|اش|تر|ترین)(?!\S)")


# The shop ships from the EU: naming a country outside it is asking about international shipping.
_NON_EU_COUNTRIES: dict[str, tuple[str, ...]] = {
    "latin": (
        "australia", "canada", "usa", "united states", "america", "uk", "united kingdom", "britain",
        "great britain", "england", "scotland", "switzerland", "norway", "iceland", "japan", "china",
        "thailand", "singapore", "malaysia", "india", "iran", "turkey", "uae", "dubai", "israel",
        "south africa", "brazil", "mexico", "new zealand", "korea", "south korea", "hong kong", "taiwan",
        "vietnam", "indonesia", "philippines", "russia", "ukraine", "serbia", "egypt", "morocco",
        "argentina", "chile", "qatar", "saudi arabia",
    ),
    "fa": ("ایران", "کانادا", "امریکا", "استرالیا", "ترکیه", "امارات", "دبی", "انگلیس", "ژاپن", "چین", "هند",
           "عراق", "افغانستان", "سوئیس", "نروژ"),
    "th": ("ประเทศไทย", "ไทย", "ออสเตรเลีย", "แคนาดา", "อเมริกา", "ญี่ปุ่น", "จีน", "สิงคโปร์", "มาเลเซีย",
           "อังกฤษ", "เกาหลี", "ฮ่องกง", "ไต้หวัน", "เวียดนาม", "ลาว", "กัมพูชา", "พม่า"),
    "zh": ("中国", "台湾", "香港", "澳门", "美国", "加拿大", "澳大利亚", "澳洲", "日本", "韩国", "新加坡",
           "马来西亚", "英国", "泰国"),
}

# Domain synonyms, folded to one canonical form before features are built (query and FAQ alike),
# so that "postage"/"delivery"/"shipping" or 邮费/运费 meet. Generic shop vocabulary only: an FAQ
# editor should not need to list every synonym as a question variant. Longest variant wins.
_SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "latin": {
        "ship": ("shipping", "shipped", "shipment", "ships", "delivery", "deliveries", "deliver", "delivered",
                 "postage", "dispatch", "dispatched", "posted", "sent out"),
        "parcel": ("package", "packages", "parcels", "packet"),
        "return": ("returns", "returning", "returned", "send back", "sent back", "send them back",
                   "send it back", "bring back"),
        "refund": ("refunds", "refunded", "money back", "reimburse", "reimbursed", "reimbursement"),
        "exchange": ("swap", "exchanges", "exchanged"),
        "size": ("sizes", "sizing", "fit", "fits", "fitting"),
        "warranty": ("guarantee", "guaranteed", "warranties"),
        "customs": ("duties", "duty", "import tax", "import taxes", "import fees", "import fee", "vat"),
        "international": ("internationally", "abroad", "overseas", "worldwide", "outside the eu",
                          "outside europe", "other countries", *_NON_EU_COUNTRIES["latin"]),
        "point": ("points", "reward points", "loyalty points"),
        "loyalty": ("rewards program", "rewards club", "loyalty program", "loyalty club", "rewards"),
        "track": ("tracking", "trace", "tracked"),
        "pay": ("payment", "payments", "paying", "paid"),
        "expire": ("expiry", "expires", "expired", "expiration", "valid", "validity"),
        "tier": ("tiers", "level", "levels"),
        "express": ("faster", "quicker", "expedited", "urgent", "next day"),
        "shoe": ("shoes", "sneakers", "sneaker", "boots", "boot", "trainers", "trainer"),
        "cash": ("cash on delivery", "cod"),
        "cost": ("costs", "price", "fee", "fees", "charge", "charges"),
    },
    "fa": {
        "میشود": ("میشه",), "میکشد": ("میکشه",), "دارد": ("داره",), "میرسد": ("میرسه",), "را": ("رو",),
        "کدام": ("کدوم",), "چطور": ("چطوری", "چگونه"), "چیست": ("چیه",), "چند است": ("چنده",),
        "سایز": ("اندازه",), "مرجوع": ("مرجوعی", "برگردانم", "برگردونم", "برگرداندن", "پس دادن", "پس بدهم"),
        "بازپرداخت": ("استرداد", "بازگشت وجه", "پس گرفتن پول"),
        "هزینه ارسال": ("هزینه پست", "هزینه حمل", "هزینه حملونقل", "کرایه پست"),
        "رهگیری": ("ردیابی", "پیگیری", "ترک"),
        "گارانتی": ("ضمانت", "وارانتی"),
        "گمرک": ("عوارض گمرکی", "عوارض", "مالیات واردات", "حقوق گمرکی"),
        "بینالمللی": ("خارج از کشور", "خارج از اروپا", "کشورهای خارجی", "خارجی", *_NON_EU_COUNTRIES["fa"]),
        "اکسپرس": ("فوری", "سریع", "پیشتاز"),
        "paypal": ("پی پال", "پیپال"),
        "پرداخت در محل": ("پرداخت موقع تحویل", "پرداخت هنگام تحویل"),
        "امتیاز": ("امتیازها", "امتیازات", "پوینت"),
        "انقضا": ("منقضی", "باطل", "تاریخ انقضا", "انقضای"),
        "طلایی": ("گلد",),
    },
    "th": {
        "คะแนน": ("แต้ม", "พอยท์", "พอยต์"),
        "ไซส์": ("เบอร์", "ขนาด", "ไซซ์"),
        "เลขพัสดุ": ("เลขแทร็กกิ้ง", "แทร็กกิ้ง", "เลขติดตามพัสดุ", "เลขติดตาม"),
        "ติดตาม": ("แทร็ก", "เช็ค", "เช็ก"),
        "คืนสินค้า": ("ส่งคืน", "คืนของ", "ส่งของคืน", "ส่งสินค้าคืน"),
        "คืนเงิน": ("เงินคืน", "เงินจะเข้า"),
        "ค่าส่ง": ("ค่าจัดส่ง", "ค่าขนส่ง"),
        "รับประกัน": ("ประกัน", "เคลม", "การรับประกัน"),
        "paypal": ("เพย์พาล",),
        "เก็บเงินปลายทาง": ("จ่ายปลายทาง",),
        "ภาษีนำเข้า": ("ภาษีศุลกากร", "ศุลกากร", "อากร", "ภาษี"),
        "ด่วน": ("เร็ว",),
        "หมดอายุ": ("มีอายุ", "ใช้ได้นาน"),
        "gold": ("โกลด์",), "platinum": ("แพลทินัม", "แพลตินัม"), "silver": ("ซิลเวอร์",),
        "ต่างประเทศ": _NON_EU_COUNTRIES["th"],
    },
    "zh": {
        "运费": ("邮费", "快递费", "配送费", "运输费"),
        "包邮": ("免邮", "免运费"),
        "单号": ("快递单号", "物流单号", "运单号", "追踪号", "跟踪号"),
        "跟踪": ("追踪", "查物流", "查快递"),
        "退货": ("退掉", "退回", "退换"),
        "换码": ("换尺码", "换大一号", "换小一号", "换成大一号", "换一个码"),
        "退款": ("退钱", "钱退"),
        "保修": ("保固", "质保", "保修期"),
        "信用卡": ("刷卡", "银行卡"),
        "货到付款": ("到付", "货到付"),
        "尺码": ("码数", "尺寸", "鞋码", "号码"),
        "积分": ("点数",),
        "过期": ("到期", "失效"),
        "金卡": ("黄金会员", "金卡会员"),
        "国际": ("国外", "海外", "境外", *_NON_EU_COUNTRIES["zh"]),
        "关税": ("进口税", "税费", "交税"),
        "加急": ("快点", "急用", "加急快递", "加急配送"),
        "物流": ("快递", "物流信息"),
    },
}


class _PhraseMap:
    """Longest-match, left-to-right phrase rewriting, without regular expressions.

    A large alternation regex costs milliseconds to compile at import (cold start); this costs
    microseconds to build. Canonical forms map to themselves so that a variant hidden inside a
    canonical word (ประกัน in รับประกัน) is not rewritten twice.
    """

    __slots__ = ("_index",)

    def __init__(self, table: Mapping[str, Iterable[str]], tokens: bool) -> None:
        index: dict[object, list[tuple[tuple[str, ...] | str, str]]] = {}
        for canonical, variants in table.items():
            for variant in (canonical, *variants):
                key: tuple[str, ...] | str = tuple(variant.split()) if tokens else variant
                index.setdefault(key[0], []).append((key, canonical))
        for candidates in index.values():
            candidates.sort(key=lambda item: len(item[0]), reverse=True)
        self._index = index

    def tokens(self, words: list[str]) -> list[str]:
        """Rewrite a token list; canonical forms may span several tokens."""
        out: list[str] = []
        i, index = 0, self._index
        while i < len(words):
            for phrase, canonical in index.get(words[i], ()):
                if tuple(words[i : i + len(phrase)]) == phrase:
                    out.extend(canonical.split())
                    i += len(phrase)
                    break
            else:
                out.append(words[i])
                i += 1
        return out

    def chars(self, text: str, found: list[str] | None = None) -> str:
        """Rewrite a string; with `found`, matches are collected there and replaced by a space."""
        out: list[str] = []
        i, index = 0, self._index
        while i < len(text):
            for phrase, canonical in index.get(text[i], ()):
                if text.startswith(phrase, i):  # type: ignore[arg-type]
                    if found is None:
                        out.append(canonical)
                    else:
                        found.append(canonical)
                        out.append(" ")
                    i += len(phrase)
                    break
            else:
                out.append(text[i])
                i += 1
        return "".join(out)


_WORD_SYNONYMS = _PhraseMap({**_SYNONYMS["latin"], **_SYNONYMS["fa"]}, tokens=True)
_SCRIPT_SYNONYMS = _PhraseMap({**_SYNONYMS["th"], **_SYNONYMS["zh"]}, tokens=False)

# Question frames ("how long", "can I", 怎么, ยังไง, چطور) are shared by many FAQ variants of
# different topics; they still hint at time vs cost, so they are down-weighted, not dropped.
FRAME_WEIGHT = 0.3
_FRAME_WORDS = frozenset(
    [
        "how", "what", "when", "where", "which", "who", "why", "whats", "where's", "how's", "چطور", "چقدر",
        "چند", "کی", "کجا", "کجاست", "آیا", "میتوانم", "میتونم", "میشود", "دارید", "هست", "چیست", "کدام",
    ]
)
_SCRIPT_FRAMES = _PhraseMap(
    {
        frame: ()
        for frame in [
            "อย่างไร", "ยังไง", "ยังงัย", "หรือเปล่า", "หรือไม่", "ได้ไหม", "ได้มั้ย", "ไหม", "มั้ย",
            "เมื่อไหร่", "เมื่อไร", "เท่าไหร่", "เท่าไร", "ที่ไหน", "ตรงไหน", "แค่ไหน", "ต้องทำ", "ทำไง",
            "บ้าง",
            "怎么样", "怎么", "如何", "多久", "多少", "什么时候", "哪里", "哪些",
            "可以", "能不能", "是否", "能", "要",
        ]
    },
    tokens=False,
)


def _script_of(ch: str) -> str:
    # Plain comparisons instead of a regex: a character class spanning the CJK block makes
    # re.compile enumerate ~30,000 code points (tens of milliseconds at import).
    cp = ord(ch)
    if 0x0E00 <= cp <= 0x0E7F:
        return "t"
    if 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0xF900 <= cp <= 0xFAFF:
        return "h"
    return ""


def _split_scripts(text: str) -> tuple[list[str], list[str], str]:
    """(Thai runs, Han runs, the rest with those runs replaced by spaces)."""
    thai: list[str] = []
    han: list[str] = []
    rest: list[str] = []
    run: list[str] = []
    run_kind = ""
    for ch in text + " ":
        kind = _script_of(ch)
        if kind != run_kind and run:
            (thai if run_kind == "t" else han).append("".join(run))
            run = []
        run_kind = kind
        if kind:
            run.append(ch)
            if not rest or rest[-1] != " ":
                rest.append(" ")
        else:
            rest.append(ch)
    return thai, han, "".join(rest)


class _Params:
    """Matcher knobs; the defaults are the tuned configuration, the rest exists for ablations."""

    __slots__ = (
        "arabic_ngrams",
        "background",
        "frame_weight",
        "han_ngrams",
        "latin_ngrams",
        "query_coverage",
        "segments",
        "synonyms",
        "thai_ngrams",
    )

    def __init__(
        self,
        latin_ngrams: tuple[int, int] = (3, 5),
        arabic_ngrams: tuple[int, int] = (2, 4),
        thai_ngrams: tuple[int, int] = (2, 4),
        han_ngrams: tuple[int, int] = (1, 2),
        background: bool = True,  # answer sentences count in document frequency
        segments: bool = True,  # also score each sentence of the query
        synonyms: bool = True,
        frame_weight: float = FRAME_WEIGHT,
        query_coverage: float = 0.6,  # exponent of query coverage in the score; 0.5 ~ cosine
    ) -> None:
        self.latin_ngrams, self.arabic_ngrams = latin_ngrams, arabic_ngrams
        self.thai_ngrams, self.han_ngrams = thai_ngrams, han_ngrams
        self.background, self.segments, self.synonyms = background, segments, synonyms
        self.frame_weight, self.query_coverage = frame_weight, query_coverage


_DEFAULT_PARAMS = _Params()


def _en_stem(word: str) -> str:
    """A tiny suffix stripper: folds plurals, -ing, -ed and a final -e so "arrive"/"arrives"/"arrived"
    meet. Character n-grams absorb the rest of English inflection."""
    if len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith(("sses", "xes", "ches", "shes", "zes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    elif word.endswith("ing") and len(word) >= 6:
        word = word[:-3]
    elif word.endswith("ed") and len(word) >= 5:
        word = word[:-2]
    if len(word) >= 4 and word[-1] == word[-2] and word[-1] not in "lsz":
        word = word[:-1]  # shipp -> ship, stopp -> stop
    if len(word) >= 5 and word.endswith("e"):
        word = word[:-1]
    return word


def _char_ngrams(run: str, lo: int, hi: int, prefix: str, out: dict[str, float], weight: float) -> None:
    if len(run) < lo:
        if run:
            out[prefix + run] = out.get(prefix + run, 0.0) + weight
        return
    for n in range(lo, min(hi, len(run)) + 1):
        for i in range(len(run) - n + 1):
            key = prefix + run[i : i + n]
            out[key] = out.get(key, 0.0) + weight


def features(text: str, params: _Params | None = None) -> dict[str, float]:
    """Weighted term counts for `text`: words, word-internal n-grams, Thai and Han n-grams.

    Pipeline: normalise -> join Persian affixes -> drop greetings/politeness particles -> fold
    domain synonyms -> pull out question frames (low weight) -> n-grams per script.
    """
    params = params or _DEFAULT_PARAMS
    out: dict[str, float] = {}
    text = normalize(text)
    text = _FA_PREFIX_RE.sub(r"\1", text)
    text = _FA_SUFFIX_RE.sub(r"\1", text)
    frame_weight = params.frame_weight
    if text and max(text) >= "\u0e00":
        text = _TH_STOP_RE.sub(" ", text)
        text = _ZH_STOP_RE.sub(" ", text)
        if params.synonyms:
            text = _SCRIPT_SYNONYMS.chars(text)
        frames: list[str] = []
        text = _SCRIPT_FRAMES.chars(text, frames)
        for frame in frames:
            out["q:" + frame] = out.get("q:" + frame, 0.0) + frame_weight
        thai_runs, han_runs, text = _split_scripts(text)
        for run in thai_runs:
            _char_ngrams(run, *params.thai_ngrams, "t:", out, 1.0)
        for run in han_runs:
            _char_ngrams(run, *params.han_ngrams, "h:", out, 1.0)
    words = _WORD_RE.findall(text)
    if params.synonyms:
        words = _WORD_SYNONYMS.tokens(words)
    for word in words:
        if word.isdigit():
            out["d:" + word] = out.get("d:" + word, 0.0) + 1.0
            continue
        if word in _EN_STOP or word in _FA_STOP:
            continue
        weight = frame_weight if word in _FRAME_WORDS else 1.0
        arabic = "\u0600" <= word[0] <= "\u06ff"
        if not arabic:
            word = _en_stem(word.replace("'", ""))
        if len(word) < 2:
            continue
        out["w:" + word] = out.get("w:" + word, 0.0) + weight
        lo, hi = params.arabic_ngrams if arabic else params.latin_ngrams
        _char_ngrams(f"<{word}>", lo, hi, "c:", out, weight)
    return out


_SENTENCE_RE = re.compile(r"[.!?。！？؟;\n]+")


def _segments(text: str) -> list[str]:
    parts = [p.strip() for p in _SENTENCE_RE.split(text or "") if p.strip()]
    return parts if len(parts) > 1 else []


# --------------------------------------------------------------------------------------------
# Index


class _LangIndex:
    __slots__ = ("default_idf", "doc_entry", "doc_text", "entries", "idf", "postings")

    def __init__(
        self,
        idf: dict[str, float],
        default_idf: float,
        postings: dict[str, list[tuple[int, float]]],
        doc_entry: list[int],
        doc_text: list[str],
        entries: list[FaqEntry],
    ) -> None:
        self.idf, self.default_idf, self.postings = idf, default_idf, postings
        self.doc_entry, self.doc_text, self.entries = doc_entry, doc_text, entries


def _weights(counts: Mapping[str, float], idf: Mapping[str, float], default_idf: float) -> dict[str, float]:
    vec = {k: (1.0 + math.log(c)) * idf.get(k, default_idf) for k, c in counts.items() if c > 0}
    norm = math.sqrt(sum(v * v for v in vec.values()))
    return {k: v / norm for k, v in vec.items()} if norm else {}


def _build_lang_index(lang_entries: list[FaqEntry], params: _Params) -> _LangIndex:
    docs: list[tuple[int, str, dict[str, float]]] = []
    for entry_no, entry in enumerate(lang_entries):
        for question in entry.questions:
            docs.append((entry_no, question, features(question, params)))
    # Answers are not match targets, but they are the best in-domain sample of ordinary shop
    # vocabulary we have: counting their sentences in document frequency lowers the weight of
    # generic words ("send", "order", "email") that a short question shares with one variant.
    background: list[dict[str, float]] = []
    if params.background:
        for entry in lang_entries:
            sentences = [x for x in _SENTENCE_RE.split(entry.answer) if x.strip()]
            background.extend(features(sentence, params) for sentence in sentences)
    df: dict[str, int] = {}
    for feats in [d[2] for d in docs] + background:
        for key in feats:
            df[key] = df.get(key, 0) + 1
    n_docs = len(docs) + len(background)
    idf = {k: math.log((n_docs + 1) / (d + 1)) + 1.0 for k, d in df.items()}
    default_idf = math.log(n_docs + 1) + 1.0
    postings: dict[str, list[tuple[int, float]]] = {}
    for doc_no, (_, _, feats) in enumerate(docs):
        for key, weight in _weights(feats, idf, default_idf).items():
            postings.setdefault(key, []).append((doc_no, weight))
    return _LangIndex(
        idf=idf,
        default_idf=default_idf,
        postings=postings,
        doc_entry=[d[0] for d in docs],
        doc_text=[d[1] for d in docs],
        entries=lang_entries,
    )


class FaqIndex:
    """Per-language index over FAQ question variants. Build once per container, then match.

    `threshold` and `margin` decide when a match is confident enough (see `best_match`);
    `skipped` lists entries that failed validation as (position, reason). The per-language
    index is built on first use of that language (a container that only sees English mail never
    pays for the Thai index at cold start); `warm()` builds them all.
    """

    def __init__(
        self,
        entries_by_lang: dict[str, list[FaqEntry]],
        threshold: float = DEFAULT_THRESHOLD,
        margin: float = DEFAULT_MARGIN,
        params: _Params | None = None,
        skipped: list[tuple[int, str]] | None = None,
    ) -> None:
        self.entries_by_lang = entries_by_lang
        self.threshold = threshold
        self.margin = margin
        self.params = params or _DEFAULT_PARAMS
        self.skipped = skipped or []
        self._built: dict[str, _LangIndex] = {}

    @classmethod
    def from_entries(
        cls,
        entries: Iterable[Mapping[str, object]],
        *,
        threshold: float = DEFAULT_THRESHOLD,
        margin: float = DEFAULT_MARGIN,
        strict: bool = False,
        params: _Params | None = None,
    ) -> FaqIndex:
        """Build the index from entry dicts `{id, lang, questions: [...], answer, tags: [...]}`.

        Invalid entries are skipped and listed in `.skipped` as (position, reason): the knowledge
        base is edited by hand in the console, and one bad item must not stop every reply.
        With `strict=True` the first invalid entry raises ValueError instead (seed-data tests).
        Tags are validated and kept on `FaqEntry` but not matched on: they are English labels
        for people, not customer wording.
        """
        by_lang: dict[str, list[FaqEntry]] = {}
        skipped: list[tuple[int, str]] = []
        for position, raw in enumerate(entries):
            entry, problem = _validate(raw)
            if entry is None:
                if strict:
                    raise ValueError(f"FAQ entry {position}: {problem}")
                skipped.append((position, problem))
                continue
            by_lang.setdefault(entry.lang, []).append(entry)
        return cls(by_lang, threshold=threshold, margin=margin, params=params, skipped=skipped)

    @property
    def languages(self) -> tuple[str, ...]:
        """Languages that have at least one entry."""
        return tuple(self.entries_by_lang)

    def warm(self) -> FaqIndex:
        """Build every language's index now (tests, benchmarks, provisioned concurrency)."""
        for lang in self.entries_by_lang:
            self._lang_index(lang)
        return self

    def _lang_index(self, lang: str) -> _LangIndex | None:
        built = self._built.get(lang)
        if built is None and lang in self.entries_by_lang:
            built = self._built[lang] = _build_lang_index(self.entries_by_lang[lang], self.params)
        return built

    def _entry_scores(self, index: _LangIndex, text: str) -> dict[int, tuple[float, int]]:
        """Best cosine per entry for `text`: entry_no -> (score, doc_no)."""
        query = _weights(features(text, self.params), index.idf, index.default_idf)
        # Coverage of the query and of the document by the shared features (both vectors are
        # unit length, so each coverage is in [0, 1]). Cosine is close to their geometric mean;
        # weighting query coverage higher penalises a short FAQ variant that shares one word with
        # a long, different question ("Where is my parcel?" vs "can I pay cash when the parcel
        # arrives?").
        q_cover: dict[int, float] = {}
        d_cover: dict[int, float] = {}
        for key, q_weight in query.items():
            for doc_no, d_weight in index.postings.get(key, ()):
                q_cover[doc_no] = q_cover.get(doc_no, 0.0) + q_weight * q_weight
                d_cover[doc_no] = d_cover.get(doc_no, 0.0) + d_weight * d_weight
        alpha = self.params.query_coverage
        doc_scores = {
            doc_no: (q_cover[doc_no] ** alpha) * (d_cover[doc_no] ** (1.0 - alpha))
            for doc_no in q_cover
        }
        best: dict[int, tuple[float, int]] = {}
        for doc_no, score in doc_scores.items():
            entry_no = index.doc_entry[doc_no]
            if entry_no not in best or score > best[entry_no][0]:
                best[entry_no] = (score, doc_no)
        return best

    def rank(self, text: str, lang: str, k: int = 3) -> list[FaqMatch]:
        """Top-k candidate entries for `text` without threshold (diagnostics, benchmarks).

        The whole text and each sentence are scored; an entry keeps its best score, so a question
        surrounded by greetings and order details still matches on its own sentence.
        """
        if not text or not text.strip():
            return []
        index = self._lang_index(lang)
        if index is None:
            return []
        text = text[:MAX_QUERY_CHARS]
        combined: dict[int, tuple[float, int]] = self._entry_scores(index, text)
        for segment in (_segments(text)[:30] if self.params.segments else []):
            for entry_no, (score, doc_no) in self._entry_scores(index, segment).items():
                if entry_no not in combined or score > combined[entry_no][0]:
                    combined[entry_no] = (score, doc_no)
        ordered = sorted(combined.items(), key=lambda item: item[1][0], reverse=True)[:k]
        matches = []
        for position, (entry_no, (score, doc_no)) in enumerate(ordered):
            entry = index.entries[entry_no]
            runner_up = ordered[position + 1][1][0] if position + 1 < len(ordered) else 0.0
            matches.append(
                FaqMatch(
                    id=entry.id,
                    score=round(min(score, 1.0), 4),
                    answer=entry.answer,
                    lang=entry.lang,
                    question=index.doc_text[doc_no],
                    margin=round(score - runner_up, 4),
                )
            )
        return matches

    def best_match(
        self, text: str, lang: str, *, threshold: float | None = None, margin: float | None = None
    ) -> FaqMatch | None:
        """The confident best FAQ match for `text` in `lang`, or None.

        None when the language has no entries, the best score is below the threshold, or the
        runner-up entry is within `margin` of it (ambiguous: better to acknowledge than guess).
        """
        threshold = self.threshold if threshold is None else threshold
        margin = self.margin if margin is None else margin
        ranked = self.rank(text, lang, k=2)
        if not ranked:
            return None
        best = ranked[0]
        if best.score < threshold or best.margin < margin:
            return None
        return best


def _validate(raw: Mapping[str, object]) -> tuple[FaqEntry | None, str]:
    if not isinstance(raw, Mapping):
        return None, "not an object"
    entry_id, lang = raw.get("id"), raw.get("lang")
    questions, answer, tags = raw.get("questions"), raw.get("answer"), raw.get("tags", [])
    if not isinstance(entry_id, str) or not _ID_RE.match(entry_id):
        return None, "id must match [a-z0-9][a-z0-9_.-]{0,63}"
    if lang not in LANGS:
        return None, f"lang must be one of {', '.join(LANGS)}"
    if (
        not isinstance(questions, (list, tuple))
        or not questions
        or len(questions) > 50
        or not all(isinstance(q, str) and q.strip() and len(q) <= 500 for q in questions)
    ):
        return None, "questions must be 1-50 non-empty strings"
    if not isinstance(answer, str) or not answer.strip() or len(answer) > 5000:
        return None, "answer must be a non-empty string (max 5000 chars)"
    if not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) for t in tags):
        return None, "tags must be a list of strings"
    return (
        FaqEntry(
            id=entry_id,
            lang=str(lang),
            questions=tuple(q.strip() for q in questions),
            answer=answer.strip(),
            tags=tuple(tags),
        ),
        "",
    )
