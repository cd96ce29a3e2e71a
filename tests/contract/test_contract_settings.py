"""Every setting the code reads through `ecrm.platform.settings.env()` is set by template.yaml, for each
function whose code can read it (found statically from the function's entry point, see codegraph.py)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from . import codegraph
from .support import ROOT, SENDER_MODULE, Function, functions, graph, rel, sam, sends_mail

SENDER_SETTINGS = ("MAIL_FROM", "SES_CONFIGURATION_SET", "SES_TEMPLATE_PREFIX", "IDEMPOTENCY_TABLE_NAME")
FUNCTIONS = sorted(functions().values(), key=lambda f: f.logical_id)


def fn_id(fn: Function) -> str:
    return fn.logical_id


def source_files() -> list[Path]:
    """The code that ships: the layer package, the functions and the API."""
    files = [
        *sorted((ROOT / "layers" / "ecrm" / "ecrm").rglob("*.py")),
        *sorted((ROOT / "functions").rglob("*.py")),
        ROOT / "app.py",
    ]
    return [f for f in files if "__pycache__" not in f.parts]


def globals_env() -> dict[str, object]:
    return ((sam().get("Globals", {}).get("Function", {}).get("Environment") or {}).get("Variables")) or {}


def set_anywhere() -> set[str]:
    return set(globals_env()).union(*(set(f.environment) for f in functions().values()))


def _env_names() -> list[str]:
    return sorted({name for name, _, _ in codegraph.env_literals(source_files())})


def test_code_reads_settings() -> None:
    assert "TABLE_NAME" in _env_names(), 'found no env("...") reads at all: is the scan broken?'


@pytest.mark.parametrize("name", _env_names())
def test_every_setting_read_is_set_for_some_function(name: str) -> None:
    where = [f"{rel(p)}:{line}" for n, p, line in codegraph.env_literals(source_files()) if n == name]
    assert name in set_anywhere(), (
        f"env({name!r}) is read at {', '.join(where)} but no function in "
        "template.yaml sets it (Globals or Environment.Variables)"
    )


def test_table_name_comes_from_globals() -> None:
    assert "TABLE_NAME" in globals_env(), "Globals.Function.Environment.Variables.TABLE_NAME is missing"
    overrides = [
        f.logical_id
        for f in FUNCTIONS
        if "TABLE_NAME" in ((f.properties.get("Environment") or {}).get("Variables") or {})
    ]
    assert not overrides, f"functions overriding the global TABLE_NAME: {overrides}"


@pytest.mark.parametrize("fn", FUNCTIONS, ids=fn_id)
def test_function_has_every_setting_its_code_reads(fn: Function) -> None:
    missing: dict[str, list[str]] = {}
    for read in graph(fn).env_reads():
        if read.name not in fn.environment:
            missing.setdefault(read.name, []).append(read.where())
    assert not missing, (
        f"{fn.logical_id} ({rel(fn.module_path)}) can read settings its template entry does "
        "not set:\n" + "\n".join(f"  {k}: read in {', '.join(v)}" for k, v in sorted(missing.items()))
    )


@pytest.mark.parametrize("fn", FUNCTIONS, ids=fn_id)
def test_mail_sending_functions_have_the_mail_settings(fn: Function) -> None:
    if not sends_mail(fn):
        pytest.skip(f"{fn.logical_id} does not send mail through {SENDER_MODULE}")
    missing = [v for v in SENDER_SETTINGS if v not in fn.environment]
    assert not missing, f"{fn.logical_id} imports {SENDER_MODULE} but lacks {missing}"


@pytest.mark.parametrize("fn", FUNCTIONS, ids=fn_id)
def test_every_ecrm_import_exists(fn: Function) -> None:
    """An import of a module missing from the layer fails at run time, on the request that reaches it."""
    missing = sorted(graph(fn).unresolved_imports)
    assert not missing, (
        f"{fn.logical_id} reaches imports of ecrm modules that do not exist:\n  " + "\n  ".join(missing)
    )


def test_every_function_names_its_powertools_service() -> None:
    """Logs and dashboard metrics are keyed by POWERTOOLS_SERVICE_NAME; two functions must not share one."""
    names = {f.logical_id: f.environment.get("POWERTOOLS_SERVICE_NAME") for f in FUNCTIONS}
    unnamed = [k for k, v in names.items() if not v]
    assert not unnamed, f"functions without POWERTOOLS_SERVICE_NAME: {unnamed}"
    shared = [v for v, n in Counter(str(v) for v in names.values()).items() if n > 1]
    assert not shared, f"POWERTOOLS_SERVICE_NAME used by several functions: {shared}"
