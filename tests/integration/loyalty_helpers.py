"""Builders and waits shared by the loyalty tests (local stack over HTTP)."""

from __future__ import annotations

from typing import Any

from infra.local import tokens
from infra.local.system import LocalSystem
from tests.integration.conftest import Api, wait_for
from tests.integration.orders_helpers import order_body, unique_email


class Member:
    """A fresh customer with a local Cognito token."""

    def __init__(self, api: Api, prefix: str = "member") -> None:
        self.api = api
        self.email = unique_email(prefix)
        self.token = tokens.mint(self.email)
        self.customer_id = tokens.verify(self.token)["sub"]  # type: ignore[index]

    def call(self, method: str, path: str, json: Any = None, **kw: Any) -> Any:
        return self.api.call(method, path, json=json, token=self.token, **kw)

    def join(self, **body: Any) -> dict[str, Any]:
        resp = self.call("POST", "/members", json=body or {"marketing_consent": False})
        assert resp.status_code == 201, resp.text
        return dict(resp.json())

    def me(self) -> dict[str, Any]:
        resp = self.call("GET", "/me")
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    def points(self) -> dict[str, Any]:
        return dict(self.me()["loyalty"])

    def ledger(self, limit: int = 100) -> list[dict[str, Any]]:
        resp = self.call("GET", f"/me/points?limit={limit}")
        assert resp.status_code == 200, resp.text
        return list(resp.json()["entries"])

    def order(self, **overrides: Any) -> str:
        resp = self.call("POST", "/me/orders", json=order_body(self.email, **overrides))
        assert resp.status_code == 201, resp.text
        return str(resp.json()["order_id"])

    def wait_points(self, timeout: float = 60.0, **expected: int) -> dict[str, Any]:
        """Wait until the balance page shows `expected` (e.g. available=100, locked=72)."""
        last: dict[str, Any] = {}

        def check() -> bool:
            nonlocal last
            last = self.points()
            return all(last.get(k) == v for k, v in expected.items())

        try:
            wait_for(check, timeout=timeout)
        except AssertionError as err:
            raise AssertionError(f"balance {last} never matched {expected}") from err
        return last

    def ledger_kinds(self) -> list[str]:
        return [e["kind"] for e in self.ledger()]


def admin_status(api: Api, order_id: str, *statuses: str) -> None:
    """Move an order through statuses as staff would."""
    for status in statuses:
        body: dict[str, Any] = {"status": status}
        if status == "shipped":
            body.update(carrier="dhl", tracking_number=f"LY{order_id[4:]}")
        resp = api.call("POST", f"/admin/orders/{order_id}/status", json=body, admin=True)
        assert resp.status_code == 200, resp.text


def deliver(api: Api, order_id: str) -> None:
    admin_status(api, order_id, "paid", "shipped", "delivered")


def travel(api: Api, days: float) -> None:
    """Time-travel every function of the local stack (absolute offset from real time)."""
    resp = api.call("POST", "/_local/clock", json={"offset_days": days})
    assert resp.status_code == 200, resp.text


def run_jobs(api: Api) -> dict[str, Any]:
    """Fire the daily loyalty run now (a catch-up over a month of days can take a while on moto)."""
    import requests

    resp = requests.post(f"{api.base}/_local/schedules?function=LoyaltyJobsFunction", timeout=600)
    assert resp.status_code == 200, resp.text
    return dict(resp.json()["results"][0])


def adjust(api: Api, member_id: str, points: Any, reason: Any = "goodwill for the test", **extra: Any) -> Any:
    body = {"points": points, "reason": reason, **extra}
    return api.call("POST", f"/admin/members/{member_id}/adjustments", json=body, admin=True)


def queue_url(system: LocalSystem, logical: str) -> str:
    assert system.stack
    return system.stack.queue_url(logical)
