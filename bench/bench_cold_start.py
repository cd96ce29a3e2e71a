"""Cold-start cost of every Lambda entry point, as a ratio to `import boto3; boto3.client("dynamodb")`.

Run: `.venv/bin/python bench/bench_cold_start.py [--n 15] [--importtime-runs 5]`. Prints markdown.

Method (docs/benchmarks.md, "Cold start"):
- Each case runs in a fresh interpreter (`python -c`), N times, interleaved with the other cases (the order
  rotates every round) after one untimed warm-up round; the child times its own imports and client
  construction with perf_counter, so interpreter start-up (the same for all) is left out. Medians.
- The child gets the function's environment from template.yaml (intrinsics resolved to parameter
  defaults) plus what Lambda sets (region, role credentials as env vars). POWERTOOLS_TRACE_DISABLED=false
  but no AWS_XRAY_DAEMON_ADDRESS, so ecrm.platform.observability leaves the Tracer unimported; the child
  reports whether aws_xray_sdk got imported anyway.
- Cases, discovered from template.yaml: the baseline; the API (`import app` from the repository root);
  each worker (functions/<name>/app.py loaded by path). Each entry point also constructs the boto3
  clients its code creates through ecrm.platform.aws (found statically by tests/contract/codegraph.py).
  Informational "+ first request" rows add every module the entry point's reachable code imports lazily
  (inside functions), which the first invocation pays for.
- Targets: API <= 1.3x, workers <= 1.2x, inbound mail (a function an SES receipt rule invokes) <= 1.3x.
- Then `-X importtime` of the API cold start (median of several runs): the biggest import costs.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
from collections import defaultdict
from datetime import UTC, datetime

from _util import (
    ROOT,
    Case,
    child_env,
    compile_cost,
    importtime,
    instructions,
    load_path,
    resolved_environment,
    run_interleaved,
    ses_invoked_functions,
    startup_modules,
    template_functions,
)

BASELINE = 'import boto3\nboto3.client("dynamodb")'
TARGET_API, TARGET_WORKER, TARGET_INBOUND = 1.3, 1.2, 1.3


def _clients_code(clients: list[str]) -> str:
    if not clients:
        return ""
    return "from ecrm.platform import aws\n" + "".join(f"aws.client({c!r})\n" for c in clients)


def _load_code(spec_name: str, path: str) -> str:
    return (
        "import importlib.util\nimport sys\n"
        f"_spec = importlib.util.spec_from_file_location({spec_name!r}, {path!r})\n"
        "_mod = importlib.util.module_from_spec(_spec)\n"
        f"sys.modules[{spec_name!r}] = _mod\n"
        "_spec.loader.exec_module(_mod)\n"
    )


def _lazy_imports_code(names: set[str]) -> str:
    listed = sorted(n for n in names if n.split(".")[0] not in {"__future__"})
    return (
        "import importlib\n"
        f"for _name in {listed!r}:\n"
        "    try:\n"
        "        importlib.import_module(_name)\n"
        "    except ImportError:\n"
        "        pass\n"
    )


def build_cases(xray: bool = False) -> tuple[list[Case], list[Case], Case]:
    """(baseline + entry points, first-request rows, the API case). `xray`: give every case the X-Ray daemon
    address Lambda sets with `Tracing: Active`, as in AWS (the default leaves it out, see the module doc)."""
    extra_env = {"AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000"} if xray else {}
    sam, specs = template_functions()
    codegraph = load_path("_bench_codegraph", ROOT / "tests" / "contract" / "codegraph.py")
    inbound = ses_invoked_functions(sam)
    baseline = Case('baseline: import boto3; boto3.client("dynamodb")', BASELINE, child_env(extra_env))
    main: list[Case] = [baseline]
    extra: list[Case] = []
    api: Case | None = None
    for name, spec in sorted(specs.items()):
        if not spec.module_path.is_file():
            print(f"skipped {name}: {spec.module_path.relative_to(ROOT)} does not exist yet", file=sys.stderr)
            continue
        env = child_env(
            {
                **resolved_environment(sam, spec.environment),
                "AWS_LAMBDA_FUNCTION_NAME": f"ecrm-{name}",
                **extra_env,
            }
        )
        graph = codegraph.graph_for(spec.module_path, f"_bench_{name}")
        clients = sorted(graph.aws_clients())
        is_api = spec.handler == "app.app" and spec.code_dir == ROOT
        if is_api:
            entry, label, target = "import app\n", f"{name} (app.py)", TARGET_API
        else:
            entry = _load_code(f"fn_{name}", str(spec.module_path))
            rel = spec.module_path.relative_to(ROOT)
            target = TARGET_INBOUND if name in inbound else TARGET_WORKER
            label = f"{name} ({rel})"
        case = Case(label, entry + _clients_code(clients), env, target, tuple(clients))
        main.append(case)
        if is_api:
            api = case
        extra.append(
            Case(
                f"{name} + first request",
                entry + _lazy_imports_code(graph.imported_names()) + _clients_code(clients),
                env,
                None,
                tuple(clients),
            )
        )
    assert api is not None, "no API function (Handler app.app, CodeUri .) in template.yaml"
    return main, extra, api


def results_table(cases: list[Case], baseline: Case, xray: bool = False) -> list[str]:
    """The verdict uses the wall-clock medians; min and CPU-time ratios show how much of a verdict is noise
    (on a busy machine the minimum of N runs is the least disturbed estimate)."""
    rows = [
        "| entry point | clients | median ms | IQR ms | ratio to baseline | target | result "
        "| ratio of minimums | CPU-time ratio | modules |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    base_min = min(s.ms for s in baseline.samples)
    for case in cases:
        ratio = case.median_ms / baseline.median_ms
        if case is baseline:
            target, verdict = "—", "baseline"
        elif case.target is None:
            target, verdict = "—", "info"
        else:
            target, verdict = f"≤ {case.target:.1f}x", "PASS" if ratio <= case.target else "FAIL"
        if any(s.xray for s in case.samples):
            verdict += " (X-Ray SDK imported)" if xray else " (X-Ray SDK imported without a daemon!)"
        q = statistics.quantiles([x.ms for x in case.samples], n=4) if len(case.samples) > 1 else [0, 0, 0]
        rows.append(
            f"| {case.name} | {', '.join(case.clients) or '—'} | {case.median_ms:.0f} | "
            f"{q[0]:.0f}–{q[2]:.0f} | {ratio:.2f}x | {target} | {verdict} | "
            f"{min(s.ms for s in case.samples) / base_min:.2f}x | "
            f"{case.median_cpu_ms / baseline.median_cpu_ms:.2f}x | {case.modules} |"
        )
    return rows


def _group(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] in {"ecrm", "aws_lambda_powertools", "chalice"} else parts[0]


def _median_importtime(
    code: str, env: dict[str, str], runs: int, skip: set[str]
) -> dict[str, tuple[float, float, int]]:
    """module -> (median self us, median cumulative us, depth) over `runs` fresh interpreters."""
    self_us: dict[str, list[int]] = defaultdict(list)
    cumulative: dict[str, list[int]] = defaultdict(list)
    depth: dict[str, int] = {}
    for _ in range(runs):
        for rec in importtime(code, env):
            if rec.module not in skip:
                self_us[rec.module].append(rec.self_us)
                cumulative[rec.module].append(rec.cumulative_us)
                depth[rec.module] = rec.depth
    return {m: (statistics.median(self_us[m]), statistics.median(cumulative[m]), depth[m]) for m in self_us}


def importtime_tables(api: Case, baseline: Case, runs: int) -> list[str]:
    startup = startup_modules(api.env)
    stats = _median_importtime(api.code, api.env, runs, startup)
    in_baseline = {r.module for r in importtime(baseline.code, baseline.env)}
    total = sum(s for s, _, _ in stats.values())
    by_group: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    extra_total = 0.0
    for module, (us, _, _) in stats.items():
        if module in in_baseline:
            continue
        by_group[_group(module)] += us
        count[_group(module)] += 1
        extra_total += us
    out = [
        f"Imports of the API cold start (`-X importtime` of the API case above, median of {runs} runs; "
        f"{len(stats)} modules, {total / 1000:.0f} ms of import time, interpreter start-up modules excluded; "
        "`-X importtime` adds its own overhead and does not count client construction).",
        "",
        "Top 10 imports by cumulative time (an `import` at the top of a handler or made by the first client, "
        "children included):",
        "",
        "| module | cumulative ms | depth |",
        "|---|---:|---:|",
    ]
    top = sorted(((m, c, d) for m, (_, c, d) in stats.items() if d <= 1), key=lambda t: -t[1])[:10]
    out += [f"| {m} | {c / 1000:.1f} | {d} |" for m, c, d in top]
    out += [
        "",
        f"Above the baseline: modules the baseline does not import, by package (self time; "
        f"{extra_total / 1000:.0f} ms in all):",
        "",
        "| package | self ms | share of the extra | modules |",
        "|---|---:|---:|---:|",
    ]
    for group, us in sorted(by_group.items(), key=lambda kv: -kv[1])[:10]:
        out.append(f"| {group} | {us / 1000:.1f} | {us / extra_total:.0%} | {count[group]} |")
    return out


def compile_table(cases: list[Case], baseline: Case) -> list[str]:
    out = [
        "Compiling what ships without .pyc (our code and chalice/app.py; Lambda cannot write __pycache__ to "
        "its read-only code directories, so uncompiled sources are compiled on every cold start):",
        "",
        "| entry point | source files | compile CPU ms (median of 7) | as a share of the baseline's CPU ms |",
        "|---|---:|---:|---:|",
    ]
    for case in cases:
        files, ms = compile_cost(case)
        out.append(f"| {case.name} | {files} | {ms:.0f} | {ms / baseline.median_cpu_ms:.0%} |")
    return out


def instructions_table(cases: list[Case]) -> list[str]:
    """Each case's instructions net of interpreter start-up (an empty case), as a ratio to the baseline's."""
    run_interleaved(cases, n=0)  # the warm-up round writes the .pyc files the counted runs then read
    startup = instructions(Case("interpreter start-up", "pass\n", cases[0].env))
    net = {case.name: instructions(case) - startup for case in cases}
    base = net[cases[0].name]
    rows = [
        "Instructions (valgrind callgrind, PYTHONHASHSEED=0, net of interpreter start-up: "
        f"{startup / 1e6:.0f} M)",
        "",
        "| entry point | clients | instructions (M) | ratio to baseline | target | result |",
        "|---|---|---:|---:|---:|---|",
    ]
    for case in cases:
        ratio = net[case.name] / base
        if case.target is None:
            target, verdict = "—", "baseline"
        else:
            target, verdict = f"≤ {case.target}x", "PASS" if ratio <= case.target else "FAIL"
        clients = ", ".join(case.clients) or "—"
        count = f"{net[case.name] / 1e6:.0f}"
        rows.append(f"| {case.name} | {clients} | {count} | {ratio:.2f}x | {target} | {verdict} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=15, help="timed runs per case (default 15)")
    parser.add_argument("--importtime-runs", type=int, default=5)
    parser.add_argument("--no-first-request", action="store_true", help="skip the informational rows")
    parser.add_argument(
        "--xray",
        action="store_true",
        help="set AWS_XRAY_DAEMON_ADDRESS as Lambda does with Tracing: Active (Tracer imported)",
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions with valgrind instead of timing (one run per case, repeatable when busy)",
    )
    args = parser.parse_args(argv)
    if args.instructions:
        main_cases, _, _ = build_cases(args.xray)
        print("\n".join(instructions_table(main_cases)))
        return 0

    main_cases, extra, api = build_cases(args.xray)
    cases = main_cases + ([] if args.no_first_request else extra)
    run_interleaved(cases, args.n)
    baseline = main_cases[0]
    print(
        f"## Cold start ({datetime.now(UTC):%Y-%m-%d}, Python {platform.python_version()} on "
        f"{platform.machine()}, N={args.n} interleaved runs per case, medians"
        f"{'; X-Ray daemon address set, as with Tracing: Active in AWS' if args.xray else ''})\n"
    )
    print("\n".join(results_table(cases, baseline, args.xray)))
    print()
    print("\n".join(importtime_tables(api, baseline, args.importtime_runs)))
    print()
    print("\n".join(compile_table(main_cases[1:], baseline)))
    failed = [
        c.name for c in main_cases if c.target is not None and c.median_ms / baseline.median_ms > c.target
    ]
    if failed:
        print(f"\nOver target: {', '.join(failed)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
