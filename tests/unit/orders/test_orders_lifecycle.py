"""Order status graph: structure, reasons, and invariants over arbitrary sequences of requests."""

from __future__ import annotations

import itertools
from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecrm.orders import lifecycle
from ecrm.orders.lifecycle import (
    NOTIFY_STATUSES,
    ORDER_STATUSES,
    TRANSITIONS,
    NoChange,
    TransitionError,
    can_transition,
    check_transition,
    is_terminal,
)
from ecrm.platform.errors import Conflict

statuses = st.sampled_from(ORDER_STATUSES)


def _reachable(start: str) -> set[str]:
    seen, queue = {start}, deque([start])
    while queue:
        for nxt in TRANSITIONS[queue.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def test_statuses_are_unique_and_the_graph_is_closed() -> None:
    assert len(set(ORDER_STATUSES)) == len(ORDER_STATUSES)
    assert set(TRANSITIONS) == set(ORDER_STATUSES)
    for targets in TRANSITIONS.values():
        assert targets <= set(ORDER_STATUSES)


def test_no_self_loops_in_the_graph() -> None:
    for status, targets in TRANSITIONS.items():
        assert status not in targets


def test_every_status_is_reachable_from_placed() -> None:
    assert _reachable(lifecycle.PLACED) == set(ORDER_STATUSES)


def test_terminal_statuses_are_exactly_cancelled_and_returned_and_have_no_exits() -> None:
    terminal = {s for s in ORDER_STATUSES if is_terminal(s)}
    assert terminal == {lifecycle.CANCELLED, lifecycle.RETURNED}
    for status in terminal:
        assert not any(can_transition(status, other) for other in ORDER_STATUSES)


def test_every_non_terminal_status_can_still_end() -> None:
    # No dead ends: from anywhere an order can reach a terminal or delivered state.
    for status in ORDER_STATUSES:
        assert _reachable(status) & {lifecycle.CANCELLED, lifecycle.RETURNED, lifecycle.DELIVERED}


def test_cancellation_only_before_shipping() -> None:
    for status in ORDER_STATUSES:
        assert can_transition(status, lifecycle.CANCELLED) == (status in lifecycle.PRE_SHIPMENT)


def test_returns_only_after_the_parcel_left() -> None:
    for status in ORDER_STATUSES:
        if can_transition(status, lifecycle.RETURNED):
            assert status in lifecycle.POST_SHIPMENT
    assert can_transition(lifecycle.DELIVERED, lifecycle.RETURNED)
    assert can_transition(lifecycle.DELIVERY_EXCEPTION, lifecycle.RETURNED)


def test_exception_can_recover() -> None:
    for target in (lifecycle.IN_TRANSIT, lifecycle.OUT_FOR_DELIVERY, lifecycle.DELIVERED, lifecycle.RETURNED):
        assert can_transition(lifecycle.DELIVERY_EXCEPTION, target)


def test_happy_path_is_allowed() -> None:
    path = ["placed", "paid", "packed", "shipped", "in_transit", "out_for_delivery", "delivered", "returned"]
    for current, new in itertools.pairwise(path):
        check_transition(current, new)


def test_shipped_order_cannot_be_cancelled_with_a_helpful_reason() -> None:
    with pytest.raises(TransitionError) as info:
        check_transition("shipped", "cancelled")
    err = info.value
    assert err.current == "shipped" and err.new == "cancelled"
    assert "cannot be cancelled" in err.reason and "return" in err.reason
    assert isinstance(err, Conflict) and err.status == 409
    problem = err.to_problem()
    assert problem["current_status"] == "shipped" and problem["requested_status"] == "cancelled"
    assert problem["errors"][0]["field"] == "status"


@pytest.mark.parametrize(
    ("current", "new", "fragment"),
    [
        ("cancelled", "paid", "final"),
        ("returned", "delivered", "final"),
        ("paid", "returned", "cancel it instead"),
        ("placed", "shipped", "must be paid"),
        ("packed", "in_transit", "must be shipped"),
        ("in_transit", "shipped", "cannot go back"),
        ("delivered", "in_transit", "only be returned"),
        ("placed", "bogus", "unknown status"),
        ("bogus", "placed", "unknown current status"),
    ],
)
def test_refusals_explain_themselves(current: str, new: str, fragment: str) -> None:
    with pytest.raises(TransitionError) as info:
        check_transition(current, new)
    assert fragment in info.value.reason


@given(statuses)
def test_same_status_is_a_no_op_not_an_error(status: str) -> None:
    assert not can_transition(status, status)
    with pytest.raises(NoChange) as info:
        check_transition(status, status)
    assert info.value.status == status
    assert not isinstance(info.value, TransitionError)


def test_unknown_status_never_passes() -> None:
    assert not can_transition("bogus", "bogus")
    with pytest.raises(TransitionError):
        check_transition("bogus", "bogus")
    with pytest.raises(ValueError):
        is_terminal("bogus")


@given(statuses, statuses)
def test_check_agrees_with_can(current: str, new: str) -> None:
    if current == new:
        with pytest.raises(NoChange):
            check_transition(current, new)
    elif can_transition(current, new):
        check_transition(current, new)
    else:
        with pytest.raises(TransitionError) as info:
            check_transition(current, new)
        assert info.value.reason.strip()


@given(st.lists(st.one_of(statuses, st.text(max_size=12)), max_size=60))
def test_any_sequence_of_requests_stays_in_the_graph(requests: list[str]) -> None:
    """Apply arbitrary requested statuses from `placed`, honouring only what check_transition allows."""
    status = lifecycle.PLACED
    history = [status]
    for requested in requests:
        try:
            check_transition(status, requested)
        except NoChange:
            assert requested == status
            continue
        except TransitionError:
            continue
        status = requested
        history.append(status)
        assert status in ORDER_STATUSES
    shipped_at = history.index(lifecycle.SHIPPED) if lifecycle.SHIPPED in history else None
    if shipped_at is not None:
        after = history[shipped_at:]
        assert lifecycle.CANCELLED not in after
        assert not set(after) & lifecycle.PRE_SHIPMENT
    for carrier_status in lifecycle.POST_SHIPMENT | {lifecycle.RETURNED}:
        if carrier_status in history:
            assert shipped_at is not None and history.index(carrier_status) >= shipped_at
    if lifecycle.PACKED in history or lifecycle.SHIPPED in history:
        assert lifecycle.PAID in history
    # Nothing follows a terminal status.
    for index, entry in enumerate(history):
        if is_terminal(entry):
            assert index == len(history) - 1


def test_notify_statuses_are_statuses_and_skip_internal_steps() -> None:
    assert set(ORDER_STATUSES) >= NOTIFY_STATUSES
    assert {"placed", "shipped", "out_for_delivery", "delivered", "cancelled"} <= NOTIFY_STATUSES
    assert not {"paid", "packed", "in_transit"} & NOTIFY_STATUSES
    for status in ORDER_STATUSES:
        assert lifecycle.is_notifying(status) == (status in NOTIFY_STATUSES)


def test_allowed_next_matches_can_transition() -> None:
    for current in ORDER_STATUSES:
        assert lifecycle.allowed_next(current) == {n for n in ORDER_STATUSES if can_transition(current, n)}
    assert lifecycle.allowed_next("bogus") == frozenset()


def test_on_the_way_is_shipped_until_the_last_delivery_attempt() -> None:
    assert {"shipped", "in_transit", "out_for_delivery", "delivery_exception"} == lifecycle.ON_THE_WAY
    # From on its way, a parcel stays on its way, arrives, or comes back.
    for status in lifecycle.ON_THE_WAY:
        assert lifecycle.allowed_next(status) <= lifecycle.ON_THE_WAY | {"delivered", "returned"}


@pytest.mark.parametrize("status", ORDER_STATUSES)
def test_tracking_may_change_before_and_during_the_journey_only(status: str) -> None:
    if status in {"delivered", "cancelled", "returned"}:
        with pytest.raises(Conflict) as info:
            lifecycle.check_tracking_change(status)
        assert info.value.field == "tracking_number" and status in info.value.detail
        assert info.value.to_problem()["current_status"] == status
    else:
        lifecycle.check_tracking_change(status)
