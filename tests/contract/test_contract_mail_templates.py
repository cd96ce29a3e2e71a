"""Every SES template the code sends exists in template.yaml under the name the sender builds
(`SES_TEMPLATE_PREFIX` + kind with `_` -> `-`), and the order templates only use variables that
`ecrm.orders.notifications.email_data` provides (SES renders a missing variable as an empty string,
silently)."""

from __future__ import annotations

import ast
import re
from functools import cache
from typing import Any

import pytest

from .support import (
    EVENTS,
    ROOT,
    SENDER_MODULE,
    Function,
    functions,
    load_event,
    resolver,
    resources,
    sends_mail,
)

_HANDLEBARS = re.compile(r"\{\{\{?~?\s*([#/^]?)\s*([^}]*?)\s*~?\}?\}\}")
_BLOCK_HELPERS = {"if", "unless", "each", "with", "else"}


def sending_functions() -> list[Function]:
    """Functions that send mail through the sender (they hold SES_TEMPLATE_PREFIX)."""
    return sorted(
        (f for f in functions().values() if f.module_path.is_file() and sends_mail(f)),
        key=lambda f: f.logical_id,
    )


@cache
def ses_templates() -> dict[str, dict[str, Any]]:
    """Resolved TemplateName -> Template properties, for every AWS::SES::Template."""
    res = resolver()
    out = {}
    for res_props in resources("AWS::SES::Template").values():
        template = res.resolve((res_props.get("Properties") or {}).get("Template") or {})
        out[str(template.get("TemplateName"))] = template
    return out


def template_kinds_in_code() -> set[str]:
    """Template kinds the code asks for: ecrm.orders.model.EMAIL_KINDS and `OutboundEmail(template="..")`."""
    from ecrm.orders.model import EMAIL_KINDS

    kinds = set(EMAIL_KINDS.values())
    files = [
        *(ROOT / "layers" / "ecrm" / "ecrm").rglob("*.py"),
        *(ROOT / "functions").rglob("*.py"),
        ROOT / "app.py",
    ]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and (getattr(node.func, "id", None) or getattr(node.func, "attr", None)) == "OutboundEmail"
            ):
                for kw in node.keywords:
                    if (
                        kw.arg == "template"
                        and isinstance(kw.value, ast.Constant)
                        and isinstance(kw.value.value, str)
                    ):
                        kinds.add(kw.value.value)
    return kinds


def template_name(fn: Function, kind: str) -> str:
    """The SES template name the sender of `fn` asks for."""
    prefix = resolver().resolve(fn.environment.get("SES_TEMPLATE_PREFIX", ""))
    return f"{prefix}{kind.replace('_', '-')}"


def variables(text: str) -> set[str]:
    """The data keys a Handlebars template reads (top-level names; `a.b` reads `a`)."""
    found = set()
    for marker, body in _HANDLEBARS.findall(text or ""):
        if marker == "/" or not body or body.startswith("!"):
            continue
        tokens = body.split()
        if marker == "#" or tokens[0] in _BLOCK_HELPERS:
            tokens = tokens[1:]
        for token in tokens:
            if (
                token in _BLOCK_HELPERS
                or token in {"this", "."}
                or token.startswith(("@", "'", '"', "this.", "this/", "../"))
                or "=" in token
                or token.replace(".", "").isdigit()
            ):
                continue  # helpers, literals, and names relative to an #each item
            found.add(token.split(".")[0])
    return found


def test_some_function_sends_mail() -> None:
    assert sending_functions(), f"no function reaches {SENDER_MODULE}: is the scan broken?"


@pytest.mark.parametrize("kind", sorted(template_kinds_in_code()))
def test_template_used_in_code_exists(kind: str) -> None:
    for fn in sending_functions():
        name = template_name(fn, kind)
        assert name in ses_templates(), (
            f"{fn.logical_id} would send SES template {name!r} (kind {kind}); "
            f"template.yaml defines {sorted(ses_templates())}"
        )


def sample_orders() -> list[dict[str, Any]]:
    """ORDER items as the code writes them: the stream samples' images, else a minimal placed order."""
    from ecrm.platform import ddb

    orders = []
    for path in sorted(EVENTS.rglob("*.json")):
        doc = load_event(path)
        for record in doc.get("Records", []) if isinstance(doc, dict) else []:
            image = (record.get("dynamodb") or {}).get("NewImage")
            item = ddb.from_item(image) if image else None
            if item and item.get("type") == "ORDER":
                orders.append(item)
    orders.append(
        {
            "pk": "ORDER#ORD-0000000000",
            "sk": "ORDER",
            "type": "ORDER",
            "order_id": "ORD-0000000000",
            "status": "placed",
            "email": "a@example.com",
            "name": "A",
            "currency": "EUR",
            "lines": [
                {
                    "sku": "X",
                    "name": "X",
                    "quantity": 1,
                    "line_total": {"amount": 100, "currency": "EUR", "display": "1.00 EUR"},
                }
            ],
            "total_minor": 100,
        }
    )
    return orders


def email_data_keys() -> set[str]:
    from ecrm.orders.notifications import email_data
    from ecrm.platform.settings import scoped_env

    keys: set[str] = set()
    with scoped_env({"TRACKING_LINK_SECRET": "x" * 32, "PUBLIC_BASE_URL": "https://shop.example.com"}):
        for order in sample_orders():
            keys |= set(email_data(order))
    return keys


def _order_kinds() -> list[str]:
    from ecrm.orders.model import EMAIL_KINDS

    return sorted(set(EMAIL_KINDS.values()))


@pytest.mark.parametrize("kind", _order_kinds())
def test_order_template_variables_come_from_email_data(kind: str) -> None:
    provided = email_data_keys()
    for fn in sending_functions():
        template = ses_templates().get(template_name(fn, kind))
        if template is None:
            pytest.fail(f"{template_name(fn, kind)} missing (see test_template_used_in_code_exists)")
        used: dict[str, set[str]] = {
            part: variables(str(template.get(part, ""))) for part in ("SubjectPart", "TextPart", "HtmlPart")
        }
        unknown = {part: sorted(v - provided) for part, v in used.items() if v - provided}
        assert not unknown, (
            f"{template['TemplateName']} uses variables email_data() does not produce: {unknown} "
            f"(email_data gives {sorted(provided)})"
        )
        assert any(used.values()), (
            f"{template['TemplateName']} uses no variables at all: is the parser broken?"
        )
