"""`python -m infra.local [run|token EMAIL|env]`: the embedded local stack and its helpers."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m infra.local", description=__doc__)
    sub = parser.add_subparsers(dest="cmd")
    run = sub.add_parser("run", help="start the whole system locally (default)")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--moto-port", type=int, default=5000)
    run.add_argument("--outbox", type=Path, default=ROOT / ".local" / "outbox")
    run.add_argument("--schedule-every", type=float, default=60.0, help="seconds between scheduled runs")
    run.add_argument("--no-seed", action="store_true")
    tok = sub.add_parser("token", help="print a local customer ID token")
    tok.add_argument("email")
    tok.add_argument("--name")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")

    if args.cmd == "token":
        from infra.local import tokens

        print(tokens.mint(args.email, name=args.name))
        return 0

    if args.cmd is None:
        args = parser.parse_args(["run", *(argv or [])])
    from infra.local.stack import PortInUse
    from infra.local.system import LocalSystem

    system = LocalSystem(
        args.outbox,
        http_port=args.port,
        moto_port=args.moto_port,
        schedule_every_s=args.schedule_every,
        seed=not args.no_seed,
    )
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        system.start()
    except PortInUse as err:
        print(f"e-CRM local stack: {err}", file=sys.stderr, flush=True)
        return 2
    print(
        f"e-CRM local stack ready: API http://127.0.0.1:{system.http_port}  AWS {system.stack.endpoint}"
        f"  outbox {args.outbox}  (Ctrl-C to stop)",
        flush=True,
    )
    while not done.wait(0.5):
        pass
    print("stopping...", flush=True)
    system.stop()
    print("stopped.", flush=True)
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is stopped; skip tearing moto's in-memory state down object by object (seconds).
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
