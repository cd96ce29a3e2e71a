"""The FAQ knowledge base as table items, loaded in one Query and cached per container.

Item: pk=`FAQ#<id>` sk=`LANG#<lang>`, gsi1pk=`FAQ`, gsi1sk=`<id>#<lang>`, type `FAQ`, with the fields of
`faq.FaqEntry` (questions, answer, tags). Staff edit items in the console or via PUT /admin/faq/{faq_id};
console typos are skipped by `FaqIndex.from_entries` (listed in `.skipped`) instead of stopping replies.
"""

from __future__ import annotations

import time
from typing import Any

from ecrm.mail.faq import LANGS, FaqIndex, _validate
from ecrm.platform import aws, clock, ddb
from ecrm.platform.errors import ValidationFailed
from ecrm.platform.settings import table_name

CACHE_TTL_S = 60.0  # an edit reaches every container within a minute
GSI1PK = "FAQ"
_cache: tuple[float, FaqIndex] | None = None


def load_entries() -> list[dict[str, Any]]:
    """Every FAQ item (one Query on gsi1, paged)."""
    entries: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": table_name(),
        "IndexName": "gsi1",
        "KeyConditionExpression": "gsi1pk = :p",
        "ExpressionAttributeValues": ddb.values({":p": GSI1PK}),
    }
    while True:
        resp = aws.dynamodb().query(**kwargs)
        for raw in resp.get("Items", []):
            item = ddb.from_item(raw) or {}
            entries.append(
                {k: item.get(k) for k in ("id", "lang", "questions", "answer", "tags") if k in item}
            )
        if "LastEvaluatedKey" not in resp:
            return entries
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def index() -> FaqIndex:
    """The FAQ index, rebuilt from the table at most every CACHE_TTL_S seconds per container."""
    global _cache
    now = time.monotonic()
    if _cache is None or now - _cache[0] > CACHE_TTL_S:
        _cache = (now, FaqIndex.from_entries(load_entries()))
    return _cache[1]


def invalidate() -> None:
    """Drop this container's cached index (after an edit through the API)."""
    global _cache
    _cache = None


def put_entry(faq_id: str, body: Any, actor: str) -> dict[str, Any]:
    """Create or replace one topic in one language (validated like the seed data)."""
    if not isinstance(body, dict):
        raise ValidationFailed("body must be a JSON object", field="body")
    unknown = sorted(set(body) - {"lang", "questions", "answer", "tags"})
    if unknown:
        raise ValidationFailed(f"unknown field {unknown[0]}", field=unknown[0])
    lang = body.get("lang")
    if lang not in LANGS:
        raise ValidationFailed(f"must be one of {', '.join(LANGS)}", field="lang")
    questions = body.get("questions")
    if not isinstance(questions, list) or not questions or len(questions) > 50:
        raise ValidationFailed("1-50 question variants are required", field="questions")
    for i, q in enumerate(questions):
        if not isinstance(q, str) or not q.strip() or len(q) > 500:
            raise ValidationFailed("each question is 1-500 characters", field=f"questions.{i}")
    answer = body.get("answer")
    if not isinstance(answer, str) or not answer.strip() or len(answer) > 5000:
        raise ValidationFailed("answer is 1-5000 characters of plain text", field="answer")
    doc = {
        "id": faq_id,
        "lang": lang,
        "questions": questions,
        "answer": answer,
        "tags": body.get("tags") or [],
    }
    entry, problem = _validate(doc)
    if entry is None:
        field = {"id": "faq_id", "tags": "tags"}.get((problem or "").split(" ")[0], "body")
        raise ValidationFailed(problem or "invalid FAQ entry", field=field)
    item = {
        "pk": f"FAQ#{entry.id}",
        "sk": f"LANG#{entry.lang}",
        "type": "FAQ",
        "gsi1pk": GSI1PK,
        "gsi1sk": f"{entry.id}#{entry.lang}",
        "id": entry.id,
        "lang": entry.lang,
        "questions": list(entry.questions),
        "answer": entry.answer,
        "tags": list(entry.tags),
        "updated_at": clock.iso(clock.now()),
        "updated_by": actor,
    }
    aws.dynamodb().put_item(TableName=table_name(), Item=ddb.to_item(item))
    invalidate()
    return {k: item[k] for k in ("id", "lang", "questions", "answer", "tags", "updated_at")}
