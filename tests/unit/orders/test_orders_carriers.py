"""Carrier webhooks: signature scheme, payload validation and the checkpoint mapping."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ecrm.orders import lifecycle
from ecrm.orders.carriers import (
    KNOWN_TAGS,
    SUBTAG_STATUS,
    CarrierEventError,
    SignatureError,
    map_checkpoint,
    normalise_tracking_number,
    parse_carrier_event,
    sign,
    verify_signature,
)

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
SECRET = b"whsec-test-0123456789abcdef"

secrets = st.binary(min_size=16, max_size=64)
bodies = st.binary(max_size=2048)
moments = st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))

# The example payload documented in docs/orders.md.
EXAMPLE = {
    "event_id": "evt_01JD7K3Q9XW2MB",
    "carrier": "dhl",
    "tracking_number": "JD01 4600 0036 9876 5432",
    "tag": "OutForDelivery",
    "subtag": "OutForDelivery_001",
    "occurred_at": "2026-11-26T08:14:00+01:00",
    "location": "Berlin, DE",
    "message": "The shipment has been loaded onto the delivery vehicle",
}


# --- signatures ---------------------------------------------------------------------------------------


@given(secrets, bodies, moments)
def test_sign_then_verify_round_trips(secret: bytes, body: bytes, now: datetime) -> None:
    verify_signature(secret, body, sign(secret, body, now), now)


def test_header_shape_matches_the_documented_scheme() -> None:
    body = b'{"a":1}'
    header = sign(SECRET, body, NOW)
    ts = int(NOW.timestamp())
    expected = hmac.new(SECRET, f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    assert header == f"t={ts},v1={expected}"


@given(secrets, bodies.filter(bool), st.data())
def test_any_body_tamper_is_detected(secret: bytes, body: bytes, data: st.DataObject) -> None:
    header = sign(secret, body, NOW)
    index = data.draw(st.integers(0, len(body) - 1))
    flip = data.draw(st.integers(1, 255))
    tampered = body[:index] + bytes([body[index] ^ flip]) + body[index + 1 :]
    with pytest.raises(SignatureError):
        verify_signature(secret, tampered, header, NOW)


@given(secrets, secrets, bodies)
def test_wrong_secret_is_rejected(secret: bytes, other: bytes, body: bytes) -> None:
    assume(secret != other)
    with pytest.raises(SignatureError):
        verify_signature(other, body, sign(secret, body, NOW), NOW)


@given(st.integers(0, 63), st.sampled_from("0123456789abcdef"))
def test_any_signature_digit_change_is_rejected(position: int, digit: str) -> None:
    header = sign(SECRET, b"body", NOW)
    t_part, v_part = header.split(",")
    sig = v_part.removeprefix("v1=")
    assume(sig[position] != digit)
    forged = f"{t_part},v1={sig[:position]}{digit}{sig[position + 1 :]}"
    with pytest.raises(SignatureError):
        verify_signature(SECRET, b"body", forged, NOW)


def test_moving_the_timestamp_breaks_the_signature() -> None:
    header = sign(SECRET, b"body", NOW)
    sig = header.split(",")[1]
    replayed = f"t={int(NOW.timestamp()) + 10},{sig}"
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(SECRET, b"body", replayed, NOW)


@given(st.integers(-300, 300))
def test_within_the_window_is_accepted(offset: int) -> None:
    signed_at = NOW + timedelta(seconds=offset)
    verify_signature(SECRET, b"x", sign(SECRET, b"x", signed_at), NOW)


@given(st.integers(301, 10**7), st.sampled_from([-1, 1]))
def test_outside_the_window_is_a_replay(distance: int, sign_of: int) -> None:
    signed_at = NOW + timedelta(seconds=distance * sign_of)
    with pytest.raises(SignatureError, match="tolerance"):
        verify_signature(SECRET, b"x", sign(SECRET, b"x", signed_at), NOW)


def test_custom_tolerance() -> None:
    header = sign(SECRET, b"x", NOW - timedelta(seconds=30))
    verify_signature(SECRET, b"x", header, NOW, tolerance_s=30)
    with pytest.raises(SignatureError):
        verify_signature(SECRET, b"x", header, NOW, tolerance_s=29)


def test_rotation_header_with_several_signatures_and_unknown_schemes() -> None:
    body = b"payload"
    good = sign(SECRET, body, NOW)
    t_part, v_part = good.split(",")
    header = f"{t_part}, v0=legacy, v1={'0' * 64}, {v_part.upper().replace('V1=', 'v1=')}"
    verify_signature(SECRET, body, header, NOW)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "   ",
        "v1=" + "a" * 64,
        "t=1764158400",
        "t=1764158400,v1=nothex",
        "t=abc,v1=" + "a" * 64,
        "t=1,t=2,v1=" + "a" * 64,
        "garbage",
        "t=1764158400;v1=" + "a" * 64,
        "t=" + "9" * 13 + ",v1=" + "a" * 64,
        "t=1764158400," + ",".join(["v1=" + "a" * 64] * 40),
    ],
)
def test_malformed_headers_are_signature_errors(header: str) -> None:
    with pytest.raises(SignatureError):
        verify_signature(SECRET, b"x", header, NOW)


@given(st.text(max_size=300))
def test_arbitrary_headers_only_ever_raise_signature_error(header: str) -> None:
    with pytest.raises(SignatureError):
        verify_signature(SECRET, b"x", header, NOW)


def test_signature_error_is_401() -> None:
    with pytest.raises(SignatureError) as info:
        verify_signature(SECRET, b"x", "", NOW)
    assert info.value.status == 401


def test_configuration_defects_are_not_caller_errors() -> None:
    with pytest.raises(ValueError):
        sign(b"short", b"x", NOW)
    with pytest.raises(ValueError):
        verify_signature(b"", b"x", "t=1,v1=" + "a" * 64, NOW)
    with pytest.raises(ValueError):
        verify_signature(SECRET, b"x", sign(SECRET, b"x", NOW), NOW.replace(tzinfo=None))
    with pytest.raises(ValueError):
        verify_signature(SECRET, b"x", sign(SECRET, b"x", NOW), NOW, tolerance_s=-1)


# --- payloads -----------------------------------------------------------------------------------------


def test_documented_example_parses() -> None:
    event = parse_carrier_event(json.loads(json.dumps(EXAMPLE)))
    assert event.event_id == "evt_01JD7K3Q9XW2MB"
    assert event.carrier == "dhl"
    assert event.tracking_number == "JD014600003698765432"
    assert event.checkpoint_code == "OutForDelivery_001"
    assert event.tag == "OutForDelivery"
    assert event.occurred_at == datetime(2026, 11, 26, 7, 14, tzinfo=UTC)
    assert event.occurred_at.utcoffset() == timedelta(0)
    assert event.location == "Berlin, DE"
    assert event.description == "The shipment has been loaded onto the delivery vehicle"
    assert event.status == lifecycle.OUT_FOR_DELIVERY
    assert event.to_dict()["occurred_at"] == "2026-11-26T07:14:00.000Z"


def test_minimal_event_and_normalisation() -> None:
    event = parse_carrier_event(
        {
            "event_id": "e1",
            "carrier": " Royal-Mail ",
            "tracking_number": "ab123456789gb",
            "tag": "Delivered",
            "occurred_at": "2026-11-26T10:00:00Z",
            "unknown_extra": {"ignored": True},
        }
    )
    assert event.carrier == "royal-mail"
    assert event.tracking_number == "AB123456789GB"
    assert event.checkpoint_code == "Delivered"
    assert event.location is None and event.description is None
    assert event.status == lifecycle.DELIVERED


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"event_id": None}, "event_id"),
        ({"event_id": ""}, "event_id"),
        ({"event_id": "has space"}, "event_id"),
        ({"event_id": "x" * 129}, "event_id"),
        ({"carrier": 5}, "carrier"),
        ({"carrier": "DHL Express"}, "carrier"),
        ({"tracking_number": "AB"}, "tracking_number"),
        ({"tracking_number": "AB#123456"}, "tracking_number"),
        ({"tag": "Shipped"}, "tag"),
        ({"tag": "intransit"}, "tag"),
        ({"subtag": "InTransit_001"}, "subtag"),
        ({"subtag": "OutForDelivery_1"}, "subtag"),
        ({"subtag": 7}, "subtag"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2026-11-26T08:14:00"}, "occurred_at"),
        ({"occurred_at": 1764158400}, "occurred_at"),
        ({"occurred_at": "0001-01-01T00:00:00+01:00"}, "occurred_at"),
        ({"occurred_at": "1999-12-31T23:59:59Z"}, "occurred_at"),
        ({"occurred_at": "2026-11-26"}, "occurred_at"),
        ({"location": ["Berlin"]}, "location"),
        ({"message": {"text": "x"}}, "message"),
    ],
)
def test_invalid_fields_are_named(patch: dict[str, object], field: str) -> None:
    doc = {**EXAMPLE, **patch}
    with pytest.raises(CarrierEventError) as info:
        parse_carrier_event(doc)
    assert info.value.field == field
    assert info.value.status == 422
    assert info.value.detail.startswith(field)


def test_missing_field_is_required() -> None:
    doc = dict(EXAMPLE)
    del doc["occurred_at"]
    with pytest.raises(CarrierEventError) as info:
        parse_carrier_event(doc)
    assert info.value.field == "occurred_at" and "required" in info.value.reason


def test_body_must_be_an_object() -> None:
    with pytest.raises(CarrierEventError) as info:
        parse_carrier_event([EXAMPLE])  # type: ignore[arg-type]
    assert info.value.field == "body"


def test_empty_subtag_means_none() -> None:
    assert parse_carrier_event({**EXAMPLE, "subtag": ""}).checkpoint_code == "OutForDelivery"
    assert parse_carrier_event({**EXAMPLE, "subtag": None}).checkpoint_code == "OutForDelivery"


def test_free_text_is_folded_and_capped_not_rejected() -> None:
    event = parse_carrier_event({**EXAMPLE, "message": "line one\r\nBcc: x\tend\x00", "location": "x" * 500})
    assert event.description == "line one Bcc: x end"
    assert event.location is not None and len(event.location) == 200 and event.location.endswith("…")


@given(st.datetimes(timezones=st.timezones()) | st.datetimes())
def test_any_timestamp_parses_to_utc_or_is_refused(moment: datetime) -> None:
    try:
        event = parse_carrier_event({**EXAMPLE, "occurred_at": moment.isoformat()})
    except CarrierEventError as err:
        assert err.field == "occurred_at"
    else:
        assert event.occurred_at.tzinfo is UTC
        # Compare with the fixed offset that was sent (zoneinfo times in a DST gap compare differently).
        assert event.occurred_at == datetime.fromisoformat(moment.isoformat())
        assert event.to_dict()["occurred_at"].endswith("Z")


def test_offsets_are_normalised_to_utc() -> None:
    event = parse_carrier_event({**EXAMPLE, "occurred_at": "2026-11-26T23:30:00-05:00"})
    assert event.occurred_at == datetime(2026, 11, 27, 4, 30, tzinfo=UTC)
    assert event.occurred_at.tzinfo is UTC


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@given(st.dictionaries(st.sampled_from([*EXAMPLE, "x"]), json_values), st.booleans())
def test_arbitrary_payloads_raise_only_carrier_event_error(junk: dict[str, object], base: bool) -> None:
    doc = {**EXAMPLE, **junk} if base else junk
    try:
        event = parse_carrier_event(doc)
    except CarrierEventError as err:
        assert err.field in {*EXAMPLE, "body"}
    else:
        assert event.occurred_at.tzinfo is not None


def test_normalise_tracking_number() -> None:
    assert normalise_tracking_number(" 1z 999 aa1\t01 2345 6784 ") == "1Z999AA10123456784"


# --- checkpoint mapping -------------------------------------------------------------------------------


def test_map_checkpoint_is_total_over_known_tags_and_subtags() -> None:
    for code in [*KNOWN_TAGS, *SUBTAG_STATUS]:
        result = map_checkpoint(code)
        assert result is None or result in lifecycle.ORDER_STATUSES


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("Pending", None),
        ("Expired", None),
        ("InfoReceived", "shipped"),
        ("InfoReceived_001", "shipped"),
        ("InTransit", "in_transit"),
        ("InTransit_007", "in_transit"),
        ("OutForDelivery", "out_for_delivery"),
        ("AvailableForPickup_001", "out_for_delivery"),
        ("AttemptFail_002", "delivery_exception"),
        ("Delivered_002", "delivered"),
        ("Exception", "delivery_exception"),
        ("Exception_004", "delivery_exception"),
        ("Exception_005", "in_transit"),
        ("Exception_010", "delivery_exception"),
        ("Exception_011", "returned"),
        ("Exception_013", "delivery_exception"),
        ("Exception_999", "delivery_exception"),
        ("ReturnToSender", None),
        ("", None),
        ("intransit", None),
    ],
)
def test_mapping_table(code: str, status: str | None) -> None:
    assert map_checkpoint(code) == status


@given(st.text(max_size=30))
def test_carriers_never_cancel_or_rewind_to_pre_shipment(code: str) -> None:
    result = map_checkpoint(code)
    assert result is None or result in lifecycle.POST_SHIPMENT | {lifecycle.RETURNED}


@pytest.mark.parametrize(
    "codes",
    [
        ["InfoReceived", "InTransit", "OutForDelivery", "Delivered_003"],
        ["InTransit", "OutForDelivery", "AttemptFail_001", "OutForDelivery", "Delivered"],
        ["InTransit", "AttemptFail", "AvailableForPickup", "Delivered_002"],
        ["InTransit", "Exception_003", "Exception_010", "Exception_011"],
        ["InTransit", "Exception_005", "InTransit", "Exception_011"],
        ["OutForDelivery", "InTransit", "OutForDelivery", "Delivered"],
    ],
)
def test_realistic_carrier_journeys_are_legal(codes: list[str]) -> None:
    status = lifecycle.SHIPPED
    for code in codes:
        target = map_checkpoint(code)
        assert target is not None
        try:
            lifecycle.check_transition(status, target)
        except lifecycle.NoChange:
            continue
        status = target
    assert lifecycle.is_terminal(status) or status == lifecycle.DELIVERED
