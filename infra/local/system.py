"""The whole local system in one process: moto, the template's resources, pollers, outbox, HTTP gateway."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for p in (ROOT, ROOT / "layers" / "ecrm"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from infra.local import gateway as gw  # noqa: E402
from infra.local import pollers, stack, tokens  # noqa: E402
from infra.local.outbox import Outbox  # noqa: E402

log = logging.getLogger("ecrm.local")


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"{}")
    except ValueError:
        return None


class LocalSystem:
    """Start/stop the local stack; tests use it in-process, `python -m infra.local` runs it for people."""

    def __init__(
        self,
        outbox_dir: Path,
        http_port: int | None = 8000,
        moto_port: int = 0,
        schedule_every_s: float = 60.0,
        seed: bool = True,
    ) -> None:
        self.outbox_dir, self.http_port, self.moto_port = outbox_dir, http_port, moto_port
        self.schedule_every_s, self.seed = schedule_every_s, seed
        self.moto: Any = None
        self.stack: stack.Stack | None = None
        self.pollers: list[pollers.Poller] = []
        self.outbox: Outbox | None = None
        self.http: Any = None
        self._outbox_thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> LocalSystem:
        """Bring everything up; returns self."""
        started = time.monotonic()
        # The API port first: a busy one found after moto started would leave moto running.
        stack.require_free_port(self.http_port, "--port")
        self.moto, endpoint = stack.start_moto(self.moto_port)
        overrides = {}
        if self.http_port is not None:
            self.http = gw.bind(port=self.http_port)
            self.http_port = self.http.server_address[1]
            overrides["PublicBaseUrl"] = f"http://127.0.0.1:{self.http_port}"
        self.stack = stack.create(endpoint, overrides)
        self.outbox = Outbox(self.outbox_dir)
        if self.seed:
            from infra.seed import load as seed_load

            self.invoke_in("ApiFunction", seed_load.seed_all)
        self.pollers = pollers.pollers_for(self.stack, self.schedule_every_s)
        for p in self.pollers:
            p.start()
        self._outbox_thread = threading.Thread(target=self._flush_outbox, name="outbox", daemon=True)
        self._outbox_thread.start()
        if self.http is not None:
            gw.start(self.http, gw.Gateway(self.stack.functions["ApiFunction"], self._local_routes()))
        log.warning(
            "local stack up in %.1fs: api=http://127.0.0.1:%s aws=%s outbox=%s",
            time.monotonic() - started,
            self.http_port,
            endpoint,
            self.outbox_dir,
        )
        return self

    def stop(self) -> None:
        """Stop pollers, the HTTP server and moto."""
        self._stopping.set()
        for p in self.pollers:
            p.stop()
        if self.http is not None:
            if getattr(self.http, "gateway", None) is not None:
                self.http.shutdown()
            self.http.server_close()
        for p in self.pollers:
            p.join(timeout=5)
        if self.outbox:
            self.outbox.flush()
        if self.moto is not None:
            self.moto.stop()

    def _flush_outbox(self) -> None:
        while not self._stopping.wait(0.2):
            try:
                assert self.outbox
                self.outbox.flush()
            except Exception:
                log.exception("outbox flush failed")

    # ------------------------------------------------------------------ helpers for people and tests
    def invoke_in(self, function: str, fn: Any, *args: Any) -> Any:
        """Run `fn(*args)` inside a function's environment (seeding, admin scripts)."""
        from ecrm.platform.settings import scoped_env

        assert self.stack
        with scoped_env(self.stack.functions[function].environment):
            return fn(*args)

    def run_schedule(self, function: str) -> list[Any]:
        """Fire every schedule of `function` now."""
        return [
            p.fire()
            for p in self.pollers
            if isinstance(p, pollers.SchedulePoller) and p.fn.spec.logical_id == function
        ]

    def idle(self) -> bool:
        """True when no poller is working (queues may still hold delayed retries)."""
        return not any(p.busy for p in self.pollers)

    def receive_email(
        self, raw: bytes, verdicts: dict[str, str] | None = None, message_id: str | None = None
    ) -> dict[str, Any]:
        """What SES does with an inbound message: store it in S3, invoke the inbound function (async retries,
        then its DLQ). Returns the SES message id, the invocation count and the result or error."""
        from infra.local import ses

        assert self.stack
        return ses.receive(self.stack, raw, verdicts, message_id)

    def ses_feedback(self, notification: dict[str, Any]) -> dict[str, Any]:
        """An SES bounce/complaint notification through the SNS topic to its function."""
        from infra.local import ses

        assert self.stack
        return ses.publish_feedback(self.stack, notification)

    def _local_routes(self) -> dict[tuple[str, str], Any]:
        def ok(data: Any, status: int = 200) -> tuple[int, dict[str, str], bytes]:
            return status, {"Content-Type": "application/json"}, json.dumps(data).encode()

        def token(body: bytes, _q: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
            doc = _json(body)
            if not isinstance(doc, dict) or not doc.get("email"):
                return ok({"detail": "email is required"}, 400)
            return ok({"id_token": tokens.mint(doc["email"], name=doc.get("name"))})

        def clock(body: bytes, _q: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
            doc = _json(body)
            if not isinstance(doc, dict):
                return ok({"detail": "send a JSON object"}, 400)
            offset = timedelta(
                days=float(doc.get("offset_days", 0)), seconds=float(doc.get("offset_seconds", 0))
            )
            os.environ["ECRM_CLOCK_OFFSET_SECONDS"] = str(offset.total_seconds())
            from ecrm.platform import clock as clk

            return ok({"now": clk.iso(clk.now()), "offset_seconds": offset.total_seconds()})

        def schedules(_body: bytes, q: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
            name = (q.get("function") or [""])[0]
            assert self.stack
            scheduled = {p.fn.spec.logical_id for p in self.pollers if isinstance(p, pollers.SchedulePoller)}
            if name not in scheduled:
                return ok({"detail": f"no scheduled function {name!r}; one of {sorted(scheduled)}"}, 404)
            return ok({"function": name, "results": self.run_schedule(name)})

        def health(_body: bytes, _q: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
            assert self.stack
            return ok(
                {
                    "ok": True,
                    "aws_endpoint": self.stack.endpoint,
                    "table": self.stack.table(),
                    "outbox": str(self.outbox_dir),
                    "idle": self.idle(),
                }
            )

        def inbound(body: bytes, q: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
            # Body: the raw .eml bytes. ?spam=FAIL&virus=FAIL&spf=FAIL&dkim=FAIL set SES's verdicts.
            if not body:
                return ok({"detail": "send the raw message (.eml bytes) as the body"}, 400)
            verdicts = {k: q[k][0].upper() for k in ("spam", "virus", "spf", "dkim") if k in q}
            result = self.receive_email(body, verdicts)
            return ok(json.loads(json.dumps(result, default=str)), 202 if "error" not in result else 502)

        def ses_feedback(body: bytes, _q: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
            # Body: an SES notification (eventType Bounce/Complaint), as SES publishes it to SNS.
            result = self.ses_feedback(json.loads(body or b"{}"))
            return ok(json.loads(json.dumps(result, default=str)), 202 if "error" not in result else 502)

        return {
            ("POST", "/_local/inbound"): inbound,
            ("POST", "/_local/ses-feedback"): ses_feedback,
            ("POST", "/_local/token"): token,
            ("POST", "/_local/clock"): clock,
            ("POST", "/_local/schedules"): schedules,
            ("GET", "/_local/health"): health,
        }
