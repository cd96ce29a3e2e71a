"""FAQ knowledge-base matcher: TF-IDF cosine over words and character n-grams, per language.

Why this design (docs/email-replies.md has the measurements):
- Thai and Chinese have no spaces between words, and a word segmenter would need a dictionary or a
  model (cold-start cost). Character n-grams need neither: Chinese bigrams are mostly words, Thai
  2-4-grams cover syllables and short words. Space-delimited languages (en, fa) get word tokens plus
  word-internal character n-grams, which absorb typos and inflections ("refunds", "refnd").
- Cosine similarity is bounded in [0, 1], so one confidence threshold works across languages,
  unlike raw BM25 scores.
- A wrong answer is worse than an acknowledgement: the match must clear a threshold *and* beat the
  runner-up entry by a margin, otherwise we return None and the caller sends an acknowledgement.

The index is built once per container (`FaqIndex.from_entries`) from a few hundred short strings,
in milliseconds; matching is a handful of dictionary lookups.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["FaqEntry", "FaqIndex", "FaqMatch", "normalize", "features", "DEFAULT_THRESHOLD",
           "DEFAULT_MARGIN"]

LANGS = ("en", "th", "fa", "zh")
# Tuned on the dev half of tests/eval/faq_eval.json (see bench/bench_faq.py and the doc).
DEFAULT_THRESHOLD = 0.30
DEFAULT_MARGIN = 0.04
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
    """a an the and or but if so to of in on at by for from with about as into than then too very
    i me my mine we us our you your yours he she it its they them their this that these those
    is are am was were be been being do does did doing have has had having will would shall
    should can could may might must just also any some there here please pls plz thanks thank thx
    hi hello hey dear sir madam team support regards best kind cheers hope well good morning
    afternoon evening day wanted want wondering wonder know like ask asking question quick help
    let get got one really all okay ok yes no not dont don't im i'm ive i've id i'd""".split()
)
_FA_STOP = frozenset(
    """و در به از که را با این آن اين ان من ما شما او است هست هستم بود باشد شد یک يک هم تا برای براي
    یا اگر پس ولی ولي سلام درود لطفا لطفاً ممنون مرسی سپاس تشکر باتشکر متشکرم عزیز عزيز دوستان
    خسته نباشید نباشيد وقت بخیر بخير روز خیلی خيلي میخواستم ميخواستم بپرسم سوال سوالی داشتم""".split()
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
_THAI_RUN_RE = re.compile(r"[\u0e00-\u0e7f]+")
_HAN_RUN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
# Persian writes the verb prefix (می) and plural/possessive suffixes either joined, with ZWNJ
# (removed by normalize) or with a space: join the spaced form so all three index the same.
_FA_PREFIX_RE = re.compile(r"(?<!\S)(ن?می)\s+(?=[\u0600-\u06ff])")
_FA_SUFFIX_RE = re.compile(r"(?<=[\u0600-\u06ff])\s+(ها|های|هایی|ای|ام|ات|اش|تر|ترین)(?!\S)")


@dataclass(frozen=True)
class _Params:
    latin_ngrams: tuple[int, int] = (3, 5)
    arabic_ngrams: tuple[int, int] = (2, 4)
    thai_ngrams: tuple[int, int] = (2, 4)
    han_ngrams: tuple[int, int] = (1, 2)
    word_weight: float = 1.0
    background: bool = True  # answer sentences count in document frequency
    answer_weight: float = 0.0  # >0: answer sentences are also match targets, score scaled by this
    segments: bool = True


def _en_stem(word: str) -> str:
    # Deliberately tiny: n-grams already absorb most inflection; this just folds plurals/-ing/-ed.
    for suffix, min_len in (("ing", 6), ("ies", 5), ("ed", 5), ("es", 5), ("s", 4)):
        if len(word) >= min_len and word.endswith(suffix):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def _char_ngrams(run: str, lo: int, hi: int, prefix: str, out: dict[str, float], weight: float) -> None:
    for n in range(lo, hi + 1):
        if len(run) < n:
            if n == lo and run:
                out[prefix + run] = out.get(prefix + run, 0.0) + weight
            break
        for i in range(len(run) - n + 1):
            key = prefix + run[i : i + n]
            out[key] = out.get(key, 0.0) + weight


def features(text: str, params: _Params | None = None) -> dict[str, float]:
    """Raw term counts for normalised `text`: words, word n-grams, Thai and Han character n-grams."""
    params = params or _Params()
    out: dict[str, float] = {}
    text = normalize(text)
    text = _TH_STOP_RE.sub(" ", text)
    text = _ZH_STOP_RE.sub(" ", text)
    text = _FA_PREFIX_RE.sub(r"\1", text)
    text = _FA_SUFFIX_RE.sub(r"\1", text)

    for run in _THAI_RUN_RE.findall(text):
        _char_ngrams(run, *params.thai_ngrams, "t:", out, 1.0)
    for run in _HAN_RUN_RE.findall(text):
        _char_ngrams(run, *params.han_ngrams, "h:", out, 1.0)
    rest = _HAN_RUN_RE.sub(" ", _THAI_RUN_RE.sub(" ", text))
    for word in _WORD_RE.findall(rest):
        if word.isdigit():
            out["d:" + word] = out.get("d:" + word, 0.0) + 1.0
            continue
        arabic = "\u0600" <= word[0] <= "\u06ff"
        if word in _EN_STOP or word in _FA_STOP:
            continue
        if not arabic:
            word = _en_stem(word.replace("'", ""))
        if len(word) < 2:
            continue
        out["w:" + word] = out.get("w:" + word, 0.0) + params.word_weight
        lo, hi = params.arabic_ngrams if arabic else params.latin_ngrams
        _char_ngrams(f"<{word}>", lo, hi, "c:", out, 1.0)
    return out


_SENTENCE_RE = re.compile(r"[.!?。！？؟;\n]+")


def _segments(text: str) -> list[str]:
    parts = [p.strip() for p in _SENTENCE_RE.split(text or "") if p.strip()]
    return parts if len(parts) > 1 else []


# --------------------------------------------------------------------------------------------
# Index


@dataclass
class _LangIndex:
    idf: dict[str, float]
    default_idf: float
    postings: dict[str, list[tuple[int, float]]]
    doc_entry: list[int]
    doc_text: list[str]
    entries: list[FaqEntry]


def _weights(counts: Mapping[str, float], idf: Mapping[str, float], default_idf: float) -> dict[str, float]:
    vec = {k: (1.0 + math.log(c)) * idf.get(k, default_idf) for k, c in counts.items() if c > 0}
    norm = math.sqrt(sum(v * v for v in vec.values()))
    return {k: v / norm for k, v in vec.items()} if norm else {}


@dataclass
class FaqIndex:
    """Per-language TF-IDF index over FAQ question variants (plus tags)."""

    langs: dict[str, _LangIndex]
    threshold: float = DEFAULT_THRESHOLD
    margin: float = DEFAULT_MARGIN
    params: _Params = field(default_factory=_Params)
    skipped: list[tuple[int, str]] = field(default_factory=list)

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
        """
        params = params or _Params()
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

        langs: dict[str, _LangIndex] = {}
        for lang, lang_entries in by_lang.items():
            docs: list[tuple[int, str, dict[str, float]]] = []
            doc_scale: list[float] = []
            for entry_no, entry in enumerate(lang_entries):
                for question in entry.questions:
                    docs.append((entry_no, question, features(question, params)))
                    doc_scale.append(1.0)
            # Answers are not match targets by default, but they are the best in-domain sample of
            # ordinary shop vocabulary we have: counting their sentences in document frequency
            # lowers the weight of generic words ("send", "order", "email") that a short question
            # shares with one variant by accident.
            background: list[dict[str, float]] = []
            for entry_no, entry in enumerate(lang_entries):
                for sentence in _SENTENCE_RE.split(entry.answer):
                    if not sentence.strip():
                        continue
                    feats = features(sentence, params)
                    if params.answer_weight > 0:
                        docs.append((entry_no, sentence.strip(), feats))
                        doc_scale.append(params.answer_weight)
                    elif params.background:
                        background.append(feats)
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
                    postings.setdefault(key, []).append((doc_no, weight * doc_scale[doc_no]))
            langs[lang] = _LangIndex(
                idf=idf,
                default_idf=default_idf,
                postings=postings,
                doc_entry=[d[0] for d in docs],
                doc_text=[d[1] for d in docs],
                entries=lang_entries,
            )
        return cls(langs=langs, threshold=threshold, margin=margin, params=params, skipped=skipped)

    @property
    def languages(self) -> tuple[str, ...]:
        """Languages that have at least one entry."""
        return tuple(self.langs)

    def _entry_scores(self, index: _LangIndex, text: str) -> dict[int, tuple[float, int]]:
        """Best cosine per entry for `text`: entry_no -> (score, doc_no)."""
        query = _weights(features(text, self.params), index.idf, index.default_idf)
        doc_scores: dict[int, float] = {}
        for key, q_weight in query.items():
            for doc_no, d_weight in index.postings.get(key, ()):
                doc_scores[doc_no] = doc_scores.get(doc_no, 0.0) + q_weight * d_weight
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
        index = self.langs.get(lang)
        if index is None or not text or not text.strip():
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
