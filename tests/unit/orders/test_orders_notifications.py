"""Which emails an order change implies (the stream router's decision; nothing is sent here)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ecrm.events.router import Change
from ecrm.orders import notifications
from ecrm.orders.lifecycle import ON_THE_WAY, ORDER_STATUSES
from ecrm.platform.settings import scoped_env

ENV = {"TRACKING_LINK_SECRET": "unit-test-secret-0123456789", "PUBLIC_BASE_URL": "https://shop.example"}


@pytest.fixture(autouse=True)
def _env() -> Iterator[None]:
    with scoped_env(ENV):
        yield


def order(**overrides: Any) -> dict[str, Any]:
    """An order item as the stream delivers it."""
    doc: dict[str, Any] = {
        "pk": "ORDER#ORD-1", "sk": "ORDER", "type": "ORDER", "order_id": "ORD-1", "status": "shipped",
        "event_seq": 3, "email": "ada@example.com", "name": "Ada", "currency": "EUR", "total_minor": 100,
        "lines": [], "carrier": "dhl", "tracking_number": "JD0001",
    }
    doc.update(overrides)
    return doc


def emails(new: dict[str, Any], old: dict[str, Any] | None, seq: str = "1") -> list[Any]:
    return notifications.on_order_change(Change("MODIFY" if old else "INSERT", new, old, seq)).emails


def test_a_new_tracking_number_on_the_same_status_sends_the_shipped_email_with_it() -> None:
    old = order()
    new = order(carrier="ups", tracking_number="1Z999", event_seq=4)
    [mail] = emails(new, old)
    assert mail.template == "order_shipped" and mail.to == "ada@example.com"
    assert mail.data["carrier"] == "ups" and mail.data["tracking_number"] == "1Z999"
    # A redelivered stream record asks for the same key (the sender sends it once).
    [again] = emails(new, old, seq="2")
    assert again.dedupe_key == mail.dedupe_key
    assert mail.dedupe_key != "order#ORD-1#status#shipped"  # not swallowed by the first shipped email
    assert "1Z999" in mail.dedupe_key and len(mail.dedupe_key) <= 200


def test_changing_back_to_an_earlier_number_is_news_again() -> None:
    first = emails(order(tracking_number="B2", event_seq=4), order())[0].dedupe_key
    back = emails(order(tracking_number="A1", event_seq=5), order(tracking_number="B2", event_seq=4))
    again = emails(order(tracking_number="B2", event_seq=6), order(tracking_number="A1", event_seq=5))
    keys = {first, back[0].dedupe_key, again[0].dedupe_key}
    assert len(keys) == 3


@pytest.mark.parametrize("status", sorted(ON_THE_WAY))
def test_a_relabel_while_on_the_way_emails_once_even_with_a_status_change(status: str) -> None:
    old = order(status="delivery_exception")
    new = order(status=status, tracking_number="JD0002", event_seq=4)
    shipped = [m for m in emails(new, old) if m.template == "order_shipped"]
    # The new number goes out under its own key: `order#..#status#shipped` was spent at the first shipment,
    # so a console edit back to `shipped` would otherwise lose the new number.
    relabel = [m for m in shipped if m.dedupe_key == notifications.tracking_dedupe_key(new)]
    assert len(relabel) == 1 and relabel[0].data["tracking_number"] == "JD0002"
    assert all(m.dedupe_key == "order#ORD-1#status#shipped" for m in shipped if m not in relabel)


@pytest.mark.parametrize("status", [s for s in ORDER_STATUSES if s not in ON_THE_WAY])
def test_no_relabel_email_when_the_parcel_is_not_on_its_way(status: str) -> None:
    assert not notifications.relabelled(order(status=status, tracking_number="X2"), order(status=status))


def test_first_shipment_sends_only_the_status_email() -> None:
    new = order(status="shipped", event_seq=3)
    old = order(status="paid", carrier=None, tracking_number=None, event_seq=2)
    assert [m.dedupe_key for m in emails(new, old)] == ["order#ORD-1#status#shipped"]


def test_same_status_and_same_tracking_sends_nothing() -> None:
    assert emails(order(event_seq=4, last_checkpoint_at="2026-01-01T00:00:00.000Z"), order()) == []
