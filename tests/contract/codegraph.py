"""A static reference graph of an entry point (app.py, functions/<name>/app.py) through the `ecrm` package.

Nodes are a module's top-level code and its top-level functions and classes (a class with all its methods).
An edge means "may run": a name used in a node's body (called, passed as a callback, put in a dict)
that resolves, through the module's imports (including imports inside functions), to a node of `ecrm`.
Reaching a function also runs its module's top-level code. Used by the contract tests (which settings each
function reads) and the cold-start benchmark (which clients a function's first request creates).

Deliberately an over-approximation per function body and an under-approximation for what Python cannot
show statically (getattr, methods called on instances of unknown type); good enough for settings that are
read through `env("NAME")` literals, which is the convention.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_ROOT = ROOT / "layers" / "ecrm"
MODULE = "<module>"  # the node for a module's top-level code
ENV_FUNCS = {"env", "env_int"}
AWS_MODULE = "ecrm.platform.aws"
AWS_CLIENT_FUNCS = {"dynamodb", "sqs", "ses", "s3"}
# ecrm.events.router sends `Work.messages` to the queue whose URL is in the env var named by the key; those
# keys are string literals ending in _QUEUE_URL wherever the work is built.
DYNAMIC_ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]*_QUEUE_URL")

Node = tuple[str, str]  # (module name, top-level symbol or MODULE)


@dataclass
class EnvRead:
    """One settings read found in the source."""

    name: str
    node: Node
    line: int

    def where(self) -> str:
        """`module:symbol:line` for messages."""
        return f"{self.node[0]}:{self.node[1]}:{self.line}"


@dataclass
class ModuleInfo:
    """One parsed module."""

    name: str
    path: Path
    tree: ast.Module
    defs: dict[str, ast.AST] = field(default_factory=dict)  # top-level functions and classes
    names: set[str] = field(default_factory=set)  # every name bound at top level (defs, constants, imports)
    imports: dict[str, str] = field(default_factory=dict)  # local name -> dotted target


def module_path(name: str) -> Path | None:
    """The file of an `ecrm` module (package __init__ or module), or None if it does not exist."""
    if not (name == "ecrm" or name.startswith("ecrm.")):
        return None
    base = PACKAGE_ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _absolute(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".")[: -node.level]
    return ".".join([*parts, node.module] if node.module else parts)


@cache
def parse_module(name: str, path: Path | None = None) -> ModuleInfo | None:
    """Parse a module by name (or an entry point by path, under a given name)."""
    path = path or module_path(name)
    if path is None:
        return None
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    info = ModuleInfo(name, path, tree)
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            info.defs[stmt.name] = stmt
            continue
        for sub in ast.walk(stmt):  # top-level assignments and imports (also under if/try)
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                info.names.add(sub.id)
            elif isinstance(sub, ast.alias):
                info.names.add((sub.asname or sub.name).split(".")[0])
    info.names |= set(info.defs)
    for node in ast.walk(tree):  # imports anywhere: lazy imports inside functions are the norm here
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    info.imports[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    info.imports.setdefault(top, top)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(name, node)
            for alias in node.names:
                info.imports[alias.asname or alias.name] = f"{base}.{alias.name}"
    return info


def _resolve(dotted: str) -> Node | None:
    """`ecrm.a.b` (a module) or `ecrm.a.b.sym` (a symbol of module ecrm.a.b) -> a node."""
    if module_path(dotted):
        return (dotted, MODULE)
    mod, _, sym = dotted.rpartition(".")
    info = parse_module(mod) if module_path(mod) else None
    if info is None:
        return None
    if sym in info.defs:
        return (mod, sym)
    target = info.imports.get(sym)  # re-exported name
    if target and target != dotted and sym in info.names:
        return _resolve(target)
    if sym in info.names:
        return (mod, MODULE)  # a module-level constant: its value was computed by the module's top-level code
    return None  # e.g. `from ecrm.catalog import ordering` where ecrm/catalog/ordering.py does not exist


def _chain(node: ast.AST) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None


class Graph:
    """The reference graph reachable from a set of entry modules."""

    def __init__(self) -> None:
        self.infos: dict[str, ModuleInfo] = {}
        self.reached: set[Node] = set()
        self.unresolved_imports: set[str] = set()

    def add_entry(self, name: str, path: Path) -> None:
        """An entry point: its top-level code and every function in it may run."""
        info = parse_module(name, path)
        assert info is not None
        self.infos[name] = info
        self._visit([(name, MODULE), *((name, d) for d in info.defs)])

    def _info(self, module: str) -> ModuleInfo | None:
        if module not in self.infos:
            info = parse_module(module)
            if info is None:
                return None
            self.infos[module] = info
        return self.infos[module]

    def body(self, node: Node) -> list[ast.AST]:
        """The AST a node runs."""
        info = self._info(node[0])
        if info is None:
            return []
        if node[1] != MODULE:
            return [info.defs[node[1]]]
        out: list[ast.AST] = []
        for stmt in info.tree.body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                out += stmt.decorator_list  # decorators run at import
            else:
                out.append(stmt)
        return out

    def edges(self, node: Node) -> Iterator[Node]:
        """Nodes that `node` may run."""
        module, _ = node
        info = self._info(module)
        if info is None:
            return
        if node[1] != MODULE:
            yield (module, MODULE)
        for root in self.body(node):
            for sub in ast.walk(root):
                if isinstance(sub, ast.Import | ast.ImportFrom):
                    names = (
                        [a.name for a in sub.names]
                        if isinstance(sub, ast.Import)
                        else [f"{_absolute(module, sub)}.{a.name}" for a in sub.names]
                    )
                    for dotted in names:
                        target = _resolve(dotted)
                        if target:
                            yield (target[0], MODULE)
                        elif dotted.startswith("ecrm."):
                            self.unresolved_imports.add(
                                f"{dotted} (imported by {module}:{node[1]}, line {sub.lineno})"
                            )
                elif isinstance(sub, ast.Name | ast.Attribute) and isinstance(
                    getattr(sub, "ctx", None), ast.Load
                ):
                    chain = _chain(sub)
                    if not chain:
                        continue
                    head = chain[0]
                    if head in info.defs:  # a function, or a class (all its methods) of this module
                        yield (module, head)
                    elif head in info.imports:
                        # Longest resolvable prefix: ecrm.orders.service.tracking_url, service.tracking_url...
                        dotted = info.imports[head]
                        for part in [None, *chain[1:]]:
                            if part is not None:
                                dotted = f"{dotted}.{part}"
                            target = _resolve(dotted)
                            if target is None:
                                break
                            yield target
                            if target[1] != MODULE or not module_path(dotted):
                                break

    def _visit(self, start: Iterable[Node]) -> None:
        todo = [n for n in start if n not in self.reached]
        self.reached.update(todo)
        while todo:
            node = todo.pop()
            for nxt in self.edges(node):
                if nxt not in self.reached:
                    self.reached.add(nxt)
                    todo.append(nxt)

    # ------------------------------------------------------------------ queries
    def env_reads(self) -> list[EnvRead]:
        """Settings read by reachable code: `env("X")`, `env_int("X", ..)` and `*_QUEUE_URL` literals."""
        reads: list[EnvRead] = []
        for node in sorted(self.reached):
            for root in self.body(node):
                for sub in ast.walk(root):
                    if isinstance(sub, ast.Call):
                        func = sub.func
                        fname = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                        if (
                            fname in ENV_FUNCS
                            and sub.args
                            and isinstance(sub.args[0], ast.Constant)
                            and isinstance(sub.args[0].value, str)
                        ):
                            reads.append(EnvRead(sub.args[0].value, node, sub.lineno))
                    elif (
                        isinstance(sub, ast.Constant)
                        and isinstance(sub.value, str)
                        and DYNAMIC_ENV_NAME.fullmatch(sub.value)
                    ):
                        reads.append(EnvRead(sub.value, node, sub.lineno))
        return reads

    def aws_clients(self) -> set[str]:
        """boto3 services reachable code creates through ecrm.platform.aws."""
        found = {sym for mod, sym in self.reached if mod == AWS_MODULE and sym in AWS_CLIENT_FUNCS}
        if (AWS_MODULE, "client") in self.reached:
            for node in self.reached:
                for root in self.body(node):
                    for sub in ast.walk(root):
                        if (
                            isinstance(sub, ast.Call)
                            and _chain(sub.func)
                            and _chain(sub.func)[-1] == "client"
                            and sub.args
                            and isinstance(sub.args[0], ast.Constant)
                            and isinstance(sub.args[0].value, str)
                            and node[0] != AWS_MODULE
                        ):
                            found.add(sub.args[0].value)
        return found

    def imported_names(self) -> set[str]:
        """Every module reachable code imports, `ecrm` or not (lazy imports inside functions included)."""
        names: set[str] = set()
        for node in self.reached:
            for root in self.body(node):
                for sub in ast.walk(root):
                    if isinstance(sub, ast.Import):
                        names |= {a.name for a in sub.names}
                    elif isinstance(sub, ast.ImportFrom) and sub.module != "__future__":
                        base = _absolute(node[0], sub)
                        names.add(base)
                        # `from pkg import submodule` imports the submodule too
                        names |= {f"{base}.{a.name}" for a in sub.names if module_path(f"{base}.{a.name}")}
        return names

    def modules(self) -> set[str]:
        """Every `ecrm` module reachable code imports."""
        return {m for m, _ in self.reached if m.startswith("ecrm")}


def graph_for(entry: Path, name: str = "__entry__") -> Graph:
    """The graph of one entry-point module file."""
    g = Graph()
    g.add_entry(name, entry)
    return g


def env_literals(paths: Iterable[Path]) -> list[tuple[str, Path, int]]:
    """Every `env("X")` / `env_int("X", ..)` literal in these files (reachable or not)."""
    found = []
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for sub in ast.walk(tree):
            if isinstance(sub, ast.Call):
                func = sub.func
                fname = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if (
                    fname in ENV_FUNCS
                    and sub.args
                    and isinstance(sub.args[0], ast.Constant)
                    and isinstance(sub.args[0].value, str)
                ):
                    found.append((sub.args[0].value, path, sub.lineno))
    return found
