"""Automatic email replies: FAQ decision quality and per-message latency of the pure pipeline.

Run: `.venv/bin/python bench/bench_faq.py` (add `--quick` to skip the cold-start subprocesses).
Prints markdown tables:
1. precision / recall of the "answer with an FAQ entry" decision on tests/eval/faq_eval.json,
   per split (dev = tuning, test = held out while tuning, fresh = written after the matcher was
   frozen) and per language;
2. the threshold sweep on dev that chose the default (with test alongside);
3. ablations of the matcher's ingredients;
4. language detection accuracy on the same questions;
5. in-process latency of parse + decide per message kind over tests/corpus/inbound;
6. cold start: importing the mail modules and building the index, relative to boto3 + one client.
Figures are ratios/measurements within one run on this machine; copy them into docs/email-replies.md.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "ecrm"))

from ecrm.mail import faq as faq_module  # noqa: E402
from ecrm.mail.faq import DEFAULT_MARGIN, DEFAULT_THRESHOLD, FaqIndex  # noqa: E402
from ecrm.mail.inbound import parse_inbound  # noqa: E402
from ecrm.mail.intents import classify, decide_reply  # noqa: E402
from ecrm.mail.language import detect_language  # noqa: E402

LANGS = ("en", "th", "fa", "zh")
SPLITS = ("dev", "test", "fresh", "all")


def load() -> tuple[list[dict], list[dict], dict]:
    entries = json.loads((ROOT / "infra/seed/faq.json").read_text(encoding="utf-8"))
    items = json.loads((ROOT / "tests/eval/faq_eval.json").read_text(encoding="utf-8"))["items"]
    corpus = json.loads((ROOT / "tests/corpus/inbound/expected.json").read_text(encoding="utf-8"))
    return entries, items, corpus


def predict(index: FaqIndex, item: dict) -> str | None:
    """The FAQ id the pipeline would answer with, or None (ack / order / points reply instead)."""
    lang = detect_language(item["text"])
    intent = classify(item["text"], lang, index)
    return intent.faq_match.id if intent.kind == "faq" and intent.faq_match else None


def score(index: FaqIndex, items: list[dict]) -> dict[str, float]:
    answered = correct = positives = wrong_on_null = 0
    for item in items:
        gold = {item["faq_id"], *item.get("also_ok", [])} if item["faq_id"] else set()
        predicted = predict(index, item)
        positives += bool(gold)
        answered += predicted is not None
        correct += predicted is not None and predicted in gold
        wrong_on_null += predicted is not None and not gold
    return {
        "n": len(items),
        "positives": positives,
        "answered": answered,
        "correct": correct,
        "wrong_on_null": wrong_on_null,
        "precision": correct / answered if answered else float("nan"),
        "recall": correct / positives if positives else float("nan"),
    }


def subset(items: list[dict], split: str, lang: str | None = None) -> list[dict]:
    return [
        i for i in items if (split == "all" or i["split"] == split) and (lang is None or i["lang"] == lang)
    ]


def table_quality(index: FaqIndex, items: list[dict]) -> None:
    print(f"### FAQ answer decision (threshold {index.threshold}, margin {index.margin})\n")
    print(
        "| split | lang | questions | answerable | answered | correct | wrong on no-FAQ "
        "| precision | recall |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for split in SPLITS:
        for lang in (*LANGS, None):
            s = score(index, subset(items, split, lang))
            if not s["n"]:
                continue
            print(
                f"| {split} | {lang or '**all**'} | {s['n']} | {s['positives']} | {s['answered']} "
                f"| {s['correct']} | {s['wrong_on_null']} | {s['precision']:.2f} | {s['recall']:.2f} |"
            )
    print()


def table_sweep(entries: list[dict], items: list[dict]) -> None:
    print("### Threshold sweep (margin fixed at the default; choose on dev, read test)\n")
    print("| threshold | dev precision | dev recall | test precision | test recall |")
    print("|---:|---:|---:|---:|---:|")
    for threshold in (0.22, 0.26, 0.28, 0.30, 0.32, 0.34, 0.38, 0.45):
        index = FaqIndex.from_entries(entries, threshold=threshold)
        dev, test = score(index, subset(items, "dev")), score(index, subset(items, "test"))
        mark = " (default)" if threshold == DEFAULT_THRESHOLD else ""
        print(
            f"| {threshold:.2f}{mark} | {dev['precision']:.2f} | {dev['recall']:.2f} "
            f"| {test['precision']:.2f} | {test['recall']:.2f} |"
        )
    print()


def table_ablation(entries: list[dict], items: list[dict]) -> None:
    params = faq_module._Params
    variants = {
        "tuned matcher": params(),
        "no domain synonyms": params(synonyms=False),
        "no answer sentences in IDF": params(background=False),
        "question frames at full weight": params(frame_weight=1.0),
        "plain cosine (query coverage 0.5)": params(query_coverage=0.5),
        "whole text only (no per-sentence)": params(segments=False),
        "Thai 2-3-grams": params(thai_ngrams=(2, 3)),
        "Chinese 1-3-grams": params(han_ngrams=(1, 3)),
    }
    print("### Ablations (all eval questions, default threshold and margin)\n")
    print("| variant | precision | recall |")
    print("|---|---:|---:|")
    for name, variant in variants.items():
        s = score(FaqIndex.from_entries(entries, params=variant), items)
        print(f"| {name} | {s['precision']:.2f} | {s['recall']:.2f} |")
    print()


def table_language(items: list[dict]) -> None:
    print("### Language detection on the eval questions\n")
    print("| lang | questions | detected correctly |")
    print("|---|---:|---:|")
    for lang in LANGS:
        rows = subset(items, "all", lang)
        ok = sum(detect_language(i["text"]) == lang for i in rows)
        print(f"| {lang} | {len(rows)} | {ok / len(rows):.2f} |")
    print()


def table_latency(index: FaqIndex, corpus: dict, repeats: int) -> None:
    own = set(corpus["own_addresses"])
    by_kind: dict[str, list[float]] = {}
    for name, expected in corpus["messages"].items():
        raw = (ROOT / "tests/corpus/inbound" / name).read_bytes()
        kind = expected["kind"] if expected["reply"] else "no reply"
        samples = by_kind.setdefault(kind, [])
        for _ in range(repeats):
            start = time.perf_counter()
            decide_reply(parse_inbound(raw), own, index, expected.get("form_order_id"))
            samples.append((time.perf_counter() - start) * 1e6)
    print(f"### Parse + decide latency per message kind (in-process, {repeats} runs per corpus message)\n")
    print("| message kind | messages | median µs | p95 µs |")
    print("|---|---:|---:|---:|")
    counts: dict[str, int] = {}
    for expected in corpus["messages"].values():
        key = expected.get("kind") if expected["reply"] else "no reply"
        counts[key] = counts.get(key, 0) + 1
    for kind, samples in sorted(by_kind.items()):
        samples.sort()
        p95 = samples[int(len(samples) * 0.95) - 1]
        print(f"| {kind} | {counts[kind]} | {statistics.median(samples):.0f} | {p95:.0f} |")
    print()


_COLD = {
    "boto3 + one client": "import boto3; boto3.client('ses', region_name='eu-west-1')",
    "mail modules": (
        "import ecrm.mail.inbound, ecrm.mail.loops, ecrm.mail.language, ecrm.mail.faq, "
        "ecrm.mail.intents, ecrm.mail.replies, ecrm.mail.threading"
    ),
}


def _time_child(code: str) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "layers" / "ecrm"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a deployed layer ships .pyc files
    script = f"import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip()) * 1000


def table_cold_start(entries: list[dict], runs: int) -> None:
    seed = ROOT / "infra/seed/faq.json"
    # The index is built per language on first use: cold start pays for the first message's one.
    build = (
        f"import json; from ecrm.mail.faq import FaqIndex; "
        f"FaqIndex.from_entries(json.load(open({str(seed)!r}, encoding='utf-8')))"
        f".best_match('How much does shipping cost?', 'en')"
    )
    boto = [_time_child(_COLD["boto3 + one client"]) for _ in range(runs)]
    mail_after_boto = [
        _time_child(f"{_COLD['boto3 + one client']}; t = time.perf_counter(); {_COLD['mail modules']}")
        for _ in range(runs)
    ]
    index_build = [
        _time_child(f"{_COLD['mail modules']}; t = time.perf_counter(); {build}") for _ in range(runs)
    ]
    base = statistics.median(boto)
    print(f"### Cold start (median of {runs} fresh interpreters)\n")
    print("| step | median ms | relative to boto3 + one client |")
    print("|---|---:|---:|")
    print(f"| boto3 + one client | {base:.0f} | 1.00 |")
    for label, samples in (
        ("+ import the mail modules", mail_after_boto),
        ("+ load the FAQ seed, build the en index, match once", index_build),
    ):
        print(f"| {label} | {statistics.median(samples):.0f} | +{statistics.median(samples) / base:.2f} |")
    print()


def main() -> None:
    quick = "--quick" in sys.argv
    entries, items, corpus = load()
    index = FaqIndex.from_entries(entries, threshold=DEFAULT_THRESHOLD, margin=DEFAULT_MARGIN).warm()
    print(f"## bench_faq: {len(entries)} FAQ entries, {len(items)} eval questions, "
          f"{len(corpus['messages'])} corpus messages\n")
    table_quality(index, items)
    table_sweep(entries, items)
    table_ablation(entries, items)
    table_language(items)
    table_latency(index, corpus, repeats=5 if quick else 30)
    if not quick:
        table_cold_start(entries, runs=7)


if __name__ == "__main__":
    main()
