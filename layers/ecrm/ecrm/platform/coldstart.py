"""Python's cyclic garbage collector, paused while a Lambda container builds what it keeps.

Why: a cold start builds a large heap that lives as long as the container (every module, botocore's service
models and clients). Each full collection during that phase walks all of it again, and there are several:
measured with bench/bench_cold_start.py, the collector was most of what our functions added to
`import boto3` plus one client (docs/benchmarks.md). Almost nothing built then is garbage, so:

- the first import of `ecrm` pauses the collector for the imports (the init phase), and the first invocation
  ends that pause on entry (`finish`, from `observability.lambda_handler` and the API's middleware), so the
  invocation's own work, however long, is collected as usual;
- a boto3 client, created lazily on first use, is built under `one_time_setup`, which pauses the collector
  around it;
- each end of a pause freezes the survivors into the permanent generation, so later collections skip them.

Only inside a Lambda container (the runtime sets AWS_LAMBDA_FUNCTION_NAME before our code is imported):
tests, tools and the local stack keep the collector as it is.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager

_paused = False


def _in_lambda() -> bool:
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def pause() -> None:
    """Pause the collector for the container's init phase (once, and only in Lambda)."""
    global _paused
    if _paused or not _in_lambda() or not gc.isenabled():
        return
    gc.disable()
    _paused = True


def finish() -> None:
    """Start of an invocation: freeze what init built, then collect as usual. Idempotent and cheap."""
    global _paused
    if not _paused:
        return
    _paused = False
    gc.freeze()
    gc.enable()


@contextmanager
def one_time_setup() -> Iterator[None]:
    """Build something the container keeps (a boto3 client) with the collector paused, then freeze it.

    Does nothing outside Lambda, or when the collector is already paused (during init)."""
    if not _in_lambda() or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def paused() -> bool:
    """Whether the collector is paused by `pause` (for tests and diagnostics)."""
    return _paused
