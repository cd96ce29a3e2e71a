"""The local outbox: every email SES accepted, rendered to a .eml file and logged in one line.

moto keeps accepted messages in memory; this reads them in-process (the moto server runs in this process)
and renders templated sends the way SES does: Handlebars-style `{{var}}`, HTML-escaped in the HTML part.
"""

from __future__ import annotations

import html
import json
import logging
import re
import threading
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

log = logging.getLogger("ecrm.outbox")
_VAR = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")


def render(part: str, data: dict[str, Any], escape: bool) -> str:
    """Substitute `{{var}}` (dotted paths allowed), escaping for HTML parts as SES's Handlebars does."""

    def sub(m: re.Match[str]) -> str:
        value: Any = data
        for key in m.group(1).split("."):
            value = value.get(key, "") if isinstance(value, dict) else ""
        text = "" if value is None else str(value)
        return html.escape(text) if escape else text

    return _VAR.sub(sub, part)


class Outbox:
    """Watches moto's SES backend and writes each new message to `folder`."""

    def __init__(self, folder: Path, region: str = "us-east-1", account: str = "123456789012") -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.region, self.account = region, account
        self._seen = 0
        self._lock = threading.Lock()

    def _backend(self) -> Any:
        from moto.ses.models import ses_backends

        return ses_backends[self.account][self.region]

    def flush(self) -> list[Path]:
        """Write messages accepted since the last flush; returns the new files."""
        with self._lock:
            backend = self._backend()
            messages = backend.sent_messages[self._seen :]
            self._seen += len(messages)
            written = []
            for msg in messages:
                raw, to, subject = self._raw(backend, msg)
                path = self.folder / f"{self._seen - len(messages) + len(written) + 1:05d}-{msg.id[:12]}.eml"
                path.write_bytes(raw)
                written.append(path)
                log.warning("outbox: to=%s subject=%r file=%s", ",".join(to), subject, path.name)
            return written

    def _raw(self, backend: Any, msg: Any) -> tuple[bytes, list[str], str]:
        if hasattr(msg, "raw_data"):
            from email import message_from_string

            parsed = message_from_string(msg.raw_data)
            return msg.raw_data.encode(), list(msg.destinations), str(parsed.get("Subject", ""))
        to = [a for addrs in (msg.destinations or {}).values() for a in addrs]
        email = EmailMessage()
        email["From"] = msg.source
        email["To"] = ", ".join(to)
        email["Message-ID"] = f"<{msg.id}@email.amazonses.com>"
        if hasattr(msg, "template"):
            tmpl = backend.templates[msg.template]
            data = json.loads(msg.template_data)
            subject = render(tmpl["subject_part"], data, escape=False)
            email["Subject"] = subject
            email["X-SES-Template"] = msg.template
            email.set_content(render(tmpl.get("text_part") or "", data, escape=False))
            if tmpl.get("html_part"):
                email.add_alternative(render(tmpl["html_part"], data, escape=True), subtype="html")
        else:
            subject = msg.subject
            email["Subject"] = subject
            email.set_content(msg.body)
        return email.as_bytes(policy=SMTP), to, subject
