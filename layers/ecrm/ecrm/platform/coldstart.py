"""Python's cyclic garbage collector, paused while a Lambda container initialises.

Why: a cold start builds a large heap that lives as long as the container (every module, botocore's service
models and clients). Each full collection during that phase walks all of it again, and there are several:
measured with bench/bench_cold_start.py, the collector was most of what our functions added to
`import boto3` plus one client (docs/benchmarks.md). Almost nothing built during init is garbage, so the
collector is paused from the first import of `ecrm` until the first invocation has finished (that is when
the lazily created boto3 clients and lazily imported modules exist); then the survivors are frozen into the
permanent generation, so later collections skip them, and the collector runs as usual. The few cycles that
init leaves behind are not worth a full collection on the first request's path.

Only inside a Lambda container (the runtime sets AWS_LAMBDA_FUNCTION_NAME before our code is imported):
tests, tools and the local stack keep the collector as it is.
"""

from __future__ import annotations

import gc
import os

_paused = False


def pause() -> None:
    """Pause the collector for the container's init phase (once, and only in Lambda)."""
    global _paused
    if _paused or not os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or not gc.isenabled():
        return
    gc.disable()
    _paused = True


def finish() -> None:
    """End of the first invocation: freeze what init built, then collect as usual. Idempotent and cheap."""
    global _paused
    if not _paused:
        return
    _paused = False
    gc.freeze()
    gc.enable()


def paused() -> bool:
    """Whether the collector is paused by `pause` (for tests and diagnostics)."""
    return _paused
