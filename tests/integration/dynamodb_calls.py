"""Count the DynamoDB calls one request makes (in the calling thread only: the pollers run beside it)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from botocore.client import BaseClient

from infra.local import gateway as gw


@dataclass
class Calls:
    """DynamoDB operations seen: (operation, table)."""

    items: list[tuple[str, str]] = field(default_factory=list)

    def on(self, table_fragment: str) -> list[str]:
        """Operations against tables whose name contains `table_fragment`."""
        return [op for op, table in self.items if table_fragment in table]


@contextmanager
def counting() -> Iterator[Calls]:
    """Record DynamoDB calls made by this thread while the block runs."""
    calls = Calls()
    me = threading.get_ident()
    original = BaseClient._make_api_call

    def spy(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if threading.get_ident() == me and self.meta.service_model.service_name == "dynamodb":
            tables = [params["TableName"]] if "TableName" in params else []
            tables += list(params.get("RequestItems", {}))
            for entry in params.get("TransactItems", []):
                tables += [v["TableName"] for v in entry.values()]
            calls.items.append((operation, ",".join(sorted(set(tables)))))
        return original(self, operation, params)

    with mock.patch.object(BaseClient, "_make_api_call", spy):
        yield calls


def request(
    gateway: gw.Gateway, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    """Run one request through the gateway in this thread."""
    raw = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else (body or b"")
    hdrs = {"content-type": "application/json", **{k.lower(): v for k, v in (headers or {}).items()}}
    status, _, data = gateway.handle(method, path, hdrs, raw, "127.0.0.1")
    return status, json.loads(data or b"{}")
