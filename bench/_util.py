"""Helpers for the benchmarks: fresh-subprocess timing, `-X importtime` parsing, and the functions of
template.yaml with the environment Lambda would give them."""

from __future__ import annotations

import importlib.util
import os
import re
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
ACCOUNT = "123456789012"
for _p in (str(ROOT), str(ROOT / "layers" / "ecrm")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

# What the Lambda runtime puts in every function's environment (credentials come from the execution role as
# env vars, so botocore never probes the instance metadata service). No AWS_XRAY_DAEMON_ADDRESS: see
# ecrm.platform.observability.tracing_enabled, which then leaves the Tracer (and the X-Ray SDK) unimported.
LAMBDA_ENV = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "ASIAEXAMPLEBENCHKEY0",
    "AWS_SECRET_ACCESS_KEY": "bench/secret/key/not/used/for/any/call000",
    "AWS_SESSION_TOKEN": "bench-session-token",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
    "POWERTOOLS_TRACE_DISABLED": "false",
    "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'layers' / 'ecrm'}",
}
# Variables of the developer's shell that would change what the child imports or how it behaves.
_DROP = (
    "AWS_XRAY_DAEMON_ADDRESS",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ENDPOINT_URL",
    "PYTHONSTARTUP",
    "PYTHONHOME",
    "POWERTOOLS_METRICS_DISABLED",
    "POWERTOOLS_TRACE_DISABLED",
    "PYTHONPROFILEIMPORTTIME",
    "PYTHONDONTWRITEBYTECODE",
)

# The child measures its own work (imports + client construction) so interpreter start-up, identical for
# every case, does not dilute the ratios: wall time, and CPU time (less disturbed by other processes on a
# busy machine). It also reports how many modules it loaded and whether the X-Ray SDK got imported (it must
# not be, without a daemon address).
_CHILD = """
import sys, time
_before = len(sys.modules)
_t0, _c0 = time.perf_counter(), time.process_time()
{code}
_ms, _cpu = (time.perf_counter() - _t0) * 1000, (time.process_time() - _c0) * 1000
_xray = int(any(m.startswith("aws_xray_sdk") for m in sys.modules))
print("BENCH", repr(_ms), repr(_cpu), len(sys.modules) - _before, _xray)
"""


@dataclass
class Sample:
    """One child run."""

    ms: float
    cpu_ms: float
    modules: int
    xray: bool


@dataclass
class Case:
    """A piece of code to time in fresh interpreters, with its environment."""

    name: str
    code: str
    env: dict[str, str]
    target: float | None = None  # max ratio to the baseline
    clients: tuple[str, ...] = ()
    samples: list[Sample] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(s.ms for s in self.samples)

    @property
    def median_cpu_ms(self) -> float:
        return statistics.median(s.cpu_ms for s in self.samples)

    @property
    def modules(self) -> int:
        return int(statistics.median(s.modules for s in self.samples))


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a benchmark child process."""
    env = {k: v for k, v in os.environ.items() if k not in _DROP}
    env.update(LAMBDA_ENV)
    env.update(extra or {})
    return env


def _run(args: list[str], env: dict[str, str], what: str, timeout: int = 120) -> Any:
    """Run a benchmark child from the repository root; its output, or a RuntimeError with its stderr."""
    proc = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{proc.stderr[-3000:]}")
    return proc


def run_once(case: Case, python: str = sys.executable) -> Sample:
    """Run `case.code` in a fresh interpreter; returns its own timing."""
    proc = _run([python, "-c", _CHILD.format(code=case.code)], case.env, case.name)
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH "))
    _, ms, cpu, modules, xray = line.split()
    return Sample(float(ms), float(cpu), int(modules), xray == "1")


def run_interleaved(cases: list[Case], n: int, warmup: int = 1) -> None:
    """`n` timed runs of every case, interleaved (case order rotates each round) so drift in machine load
    hits all cases alike; `warmup` untimed rounds first fill the OS file cache and write .pyc files."""
    for _ in range(warmup):
        for case in cases:
            run_once(case)
    for i in range(n):
        order = cases[i % len(cases) :] + cases[: i % len(cases)]
        for case in order:
            case.samples.append(run_once(case))


_INSTRUCTIONS = re.compile(r"Collected : (\d+)")


def instructions(case: Case, python: str = sys.executable) -> int:
    """Machine instructions a fresh interpreter executes to run `case.code`, counted by valgrind's callgrind.

    A count, not a time: other processes on the machine do not change it, so one run gives a ratio that
    repeats (PYTHONHASHSEED is fixed for the same reason). It includes interpreter start-up: subtract the
    count of an empty case. It misses what instructions do not show (waiting for the disk, cache misses)."""
    with tempfile.TemporaryDirectory() as tmp:
        valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/callgrind.out", python]
        child = [*valgrind, "-c", _CHILD.format(code=case.code)]
        proc = _run(child, {**case.env, "PYTHONHASHSEED": "0"}, f"{case.name} under valgrind", timeout=900)
    found = _INSTRUCTIONS.search(proc.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{proc.stderr[-3000:]}")
    return int(found.group(1))


_COMPILE_CHILD = """
import sys, time, statistics
{code}
_root = {root!r}
_files = sorted({{m.__file__ for m in list(sys.modules.values())
                 if (getattr(m, "__file__", None) or "").endswith(".py")
                 and ((m.__file__.startswith(_root) and "/.venv/" not in m.__file__)
                      or m.__name__ == "chalice" or m.__name__.startswith("chalice."))}})
_runs = []
for _ in range(7):
    _t = time.process_time()
    for _f in _files:
        with open(_f, "rb") as _fh:
            compile(_fh.read(), _f, "exec", dont_inherit=True)
    _runs.append((time.process_time() - _t) * 1000)
print("COMPILE", len(_files), repr(statistics.median(_runs)))
"""


def compile_cost(case: Case, python: str = sys.executable) -> tuple[int, float]:
    """(files, median CPU ms) to compile the sources an entry point imports that ship without .pyc unless the
    build compiles them: our code (app.py, functions/, layers/ecrm) and the Chalice runtime module the
    Makefile copies. Lambda's code directories are read-only, so Python cannot cache what it compiles."""
    code = _COMPILE_CHILD.format(code=case.code, root=str(ROOT) + os.sep)
    proc = _run([python, "-c", code], case.env, f"compiling for {case.name}")
    _, files, ms = next(ln for ln in proc.stdout.splitlines() if ln.startswith("COMPILE ")).split()
    return int(files), float(ms)


# ------------------------------------------------------------------ -X importtime
@dataclass
class ImportRecord:
    """One line of `-X importtime`."""

    module: str
    self_us: int
    cumulative_us: int
    depth: int


_IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def importtime(code: str, env: dict[str, str], python: str = sys.executable) -> list[ImportRecord]:
    """The `-X importtime` report of running `code` in a fresh interpreter (excluding interpreter start-up
    imports, which are listed before `code` starts: they are the same for every handler)."""
    proc = _run([python, "-X", "importtime", "-c", code], env, "-X importtime")
    records = []
    for line in proc.stderr.splitlines():
        m = _IMPORTTIME.match(line)
        if m:
            records.append(
                ImportRecord(m.group(4), int(m.group(1)), int(m.group(2)), (len(m.group(3)) - 1) // 2)
            )
    return records


def startup_modules(env: dict[str, str], python: str = sys.executable) -> set[str]:
    """Modules the bare interpreter imports before running any code."""
    return {r.module for r in importtime("pass", env, python)}


# ------------------------------------------------------------------ template
def load_path(name: str, path: Path) -> ModuleType:
    """Import a module from a file (the contract tests' code graph, without making tests/ a package)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def template_functions() -> tuple[dict[str, Any], dict[str, Any]]:
    """(sam template, {logical id: FunctionSpec}) from template.yaml."""
    from infra.local import template as tpl

    sam = tpl.load()
    return sam, tpl.functions(sam)


def resolved_environment(sam: dict[str, Any], environment: dict[str, Any]) -> dict[str, str]:
    """A function's environment with intrinsics resolved to plausible values (parameter defaults)."""
    from infra.local import template as tpl

    params = {k: str(v.get("Default", "")) for k, v in sam.get("Parameters", {}).items()}
    resolver = tpl.Resolver(REGION, ACCOUNT, params, {}, {})
    return {k: str(resolver.resolve(v)) for k, v in environment.items()}


def ses_invoked_functions(sam: dict[str, Any]) -> set[str]:
    """Functions an SES receipt rule invokes (inbound mail)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            action = node.get("LambdaAction")
            if isinstance(action, dict):
                arn = action.get("FunctionArn")
                if isinstance(arn, dict):
                    ref = arn.get("Ref") or (arn.get("Fn::GetAtt") or [None])[0]
                    if isinstance(ref, str):
                        found.add(ref.split(".")[0])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for res in sam["Resources"].values():
        if str(res.get("Type", "")).startswith("AWS::SES::"):
            walk(res.get("Properties", {}))
    return found
