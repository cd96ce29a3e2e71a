"""The real local stack, started as a person starts it: `python -m infra.local run ...` in a subprocess.

Nothing here reaches into the process: tests talk to it over HTTP (the gateway), the AWS CLI (moto's
endpoint, as printed by `GET /_local/health`) and the outbox folder, and stop it with Ctrl-C (SIGINT).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import requests

from tests import polling

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 45.0
READY_LINE = "e-CRM local stack ready"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def person_env(**extra: str) -> dict[str, str]:
    """A shell's environment, without what the test session set up (AWS_*, ECRM_*, POWERTOOLS_*)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ECRM_", "POWERTOOLS_"))}
    env.update(extra)
    return env


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.1) -> Any:
    """`tests.polling.wait_for` with this suite's default timeout."""
    return polling.wait_for(predicate, timeout, interval)


@dataclass
class LocalStack:
    """A running `python -m infra.local run` subprocess and how to reach it."""

    proc: subprocess.Popen[bytes]
    base: str
    aws_endpoint: str
    table: str
    outbox: Path
    stdout: Path
    stderr: Path

    def output(self) -> str:
        """Everything the process printed so far (stdout, then stderr)."""
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")

    def emails(self, to: str) -> list[EmailMessage]:
        """Every .eml in the outbox folder addressed to `to`, oldest first."""
        found = []
        for path in sorted(self.outbox.glob("*.eml")):
            msg = message_from_bytes(path.read_bytes(), policy=policy.default)
            if to.lower() in str(msg.get("To", "")).lower():
                found.append(msg)  # type: ignore[arg-type]
        return found

    def aws(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The AWS CLI (`python -m awscli`), pointed at the stack as in docs/local-stack.md."""
        env = person_env(
            AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1"
        )
        return subprocess.run(
            [sys.executable, "-m", "awscli", *args, "--endpoint-url", self.aws_endpoint, "--output", "json"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """`python -m infra.local run --port P --moto-port M --outbox DIR`, up and healthy."""
    work = tmp_path_factory.mktemp("local-stack")
    outbox, stdout, stderr = work / "outbox", work / "stdout.log", work / "stderr.log"
    port, moto_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    # Output goes to files, not pipes: the stack logs every request, and a pipe nobody reads fills up
    # and blocks it.
    with stdout.open("wb") as out, stderr.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "infra.local", "run", "--port", str(port), "--moto-port", str(moto_port),
             "--outbox", str(outbox)],
            cwd=ROOT, env=person_env(), stdout=out, stderr=err, stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        health: dict[str, Any] | None = None
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(requests.RequestException):
                resp = requests.get(f"{base}/_local/health", timeout=2)
                if resp.status_code == 200:
                    health = resp.json()
                    break
            time.sleep(0.2)
        if health is None:
            raise AssertionError(
                f"local stack not healthy within {STARTUP_TIMEOUT_S}s (exit code {proc.poll()}):\n"
                + (stdout.read_text(errors="replace") + stderr.read_text(errors="replace"))[-4000:])
        yield LocalStack(proc, base, health["aws_endpoint"], health["table"], Path(health["outbox"]),
                         stdout, stderr)
    finally:
        _stop(proc)
