"""One local stack per test session, in-process: moto + the template's resources + pollers + outbox +
the HTTP gateway on a free port. Tests isolate themselves by using fresh customers and orders."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import requests

from infra.local import gateway as gw
from infra.local import tokens
from infra.local.system import LocalSystem
from tests import polling


@pytest.fixture(scope="session")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    """The running local system."""
    outbox = tmp_path_factory.mktemp("outbox")
    local = LocalSystem(outbox, http_port=0, moto_port=0, schedule_every_s=3600, seed=True).start()
    yield local
    local.stop()


# What an IAM-signed request carries; the local gateway checks the SigV4 scheme (docs/local-stack.md).
ADMIN_AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=test/20261126/us-east-1/execute-api/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=local"
)
ADMIN = {"authorization": ADMIN_AUTHORIZATION}


class Api:
    """A tiny storefront/admin client for the local gateway."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()

    def call(
        self,
        method: str,
        path: str,
        json: Any = None,
        token: str | None = None,
        admin: bool = False,
        headers: dict[str, str] | None = None,
        data: bytes | str | None = None,
    ) -> requests.Response:
        """One request; `admin` signs it with SigV4 like the AWS CLI / an IAM principal would."""
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        if admin:
            hdrs["Authorization"] = ADMIN_AUTHORIZATION
        return self.http.request(method, self.base + path, json=json, data=data, headers=hdrs, timeout=30)


@pytest.fixture(scope="session")
def gateway(system: LocalSystem) -> gw.Gateway:
    """The local API gateway, called in the test's own thread (to count its DynamoDB calls)."""
    assert system.stack
    return gw.Gateway(system.stack.functions["ApiFunction"])


@pytest.fixture(scope="session")
def api(system: LocalSystem) -> Api:
    """HTTP client bound to the local gateway."""
    return Api(f"http://127.0.0.1:{system.http_port}")


@pytest.fixture
def member_token() -> Callable[[str], str]:
    """Mint a local customer token for an email."""
    return lambda email: tokens.mint(email)


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.1) -> Any:
    """`tests.polling.wait_for` with this suite's default timeout."""
    return polling.wait_for(predicate, timeout, interval)


def outbox_for(system: LocalSystem, address: str) -> list[EmailMessage]:
    """Every email in the outbox addressed to `address`, oldest first."""
    assert system.outbox
    system.outbox.flush()
    found = []
    for path in sorted(Path(system.outbox.folder).glob("*.eml")):
        msg = message_from_bytes(path.read_bytes(), policy=policy.default)
        if address.lower() in str(msg.get("To", "")).lower():
            found.append(msg)
    return found


def body_text(msg: EmailMessage) -> str:
    """The plain-text part of an email."""
    part = msg.get_body(preferencelist=("plain",))
    return part.get_content() if part else ""


def body_html(msg: EmailMessage) -> str:
    """The HTML part of an email."""
    part = msg.get_body(preferencelist=("html",))
    return part.get_content() if part else ""


def settle(system: LocalSystem, seconds: float = 1.5) -> None:
    """Give the pollers time to drain what a step produced (used before asserting that nothing more came)."""
    time.sleep(seconds)
    wait_for(system.idle, timeout=10)
