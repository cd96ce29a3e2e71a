"""Settings reach code only through environment variables that template.yaml sets.

Reads go through `env()`, which consults a per-invocation mapping when one is active. On Lambda that is
simply `os.environ`; the local stack runs every function in one process and gives each invocation the
environment its own template definition declares, so a variable missing from a function's template entry
is missing locally too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

from ecrm.platform.errors import AppError

_active_env: ContextVar[Mapping[str, str] | None] = ContextVar("ecrm_env", default=None)


class MissingSetting(AppError):
    """A deployment defect, not a caller error: the function lacks a variable it needs."""

    status, title, type_slug = 500, "Server misconfigured", "misconfigured"


def env(name: str, default: str | None = None) -> str:
    """The value of setting `name`; raises MissingSetting when unset and no default is given."""
    mapping = _active_env.get()
    value = (mapping if mapping is not None else os.environ).get(name, default)
    if value is None:
        raise MissingSetting(f"setting {name} is not configured for this function")
    return value


def env_int(name: str, default: int) -> int:
    """An integer setting."""
    return int(env(name, str(default)))


@contextmanager
def scoped_env(mapping: Mapping[str, str]) -> Iterator[None]:
    """Run a block with `mapping` as the function environment (local stack, tests)."""
    token = _active_env.set(mapping)
    try:
        yield
    finally:
        _active_env.reset(token)


def table_name() -> str:
    """The single CRM table."""
    return env("TABLE_NAME")
