"""Member profiles: the `PROFILE` item (name, marketing consent, birthday) and the unique `EMAIL#` item.

Keys other contexts read (keep them):
- `pk=CUSTOMER#<id> sk=PROFILE`: `marketing_consent` (the email sender's consent check), `email`, `name`;
- `pk=EMAIL#<normalised address> sk=EMAIL`: `customer_id` (find a member by address, e.g. inbound mail).

Marketing consent is recorded apart from transactional mail (order and points emails are always sent;
marketing only with `marketing_consent`), with when and how it was given or withdrawn.
"""

from __future__ import annotations

import re
import zlib
from datetime import date, datetime
from typing import Any

from ecrm.customers.identity import Customer, normalise_email
from ecrm.platform import aws, clock, ddb
from ecrm.platform.errors import BadRequest, ValidationFailed
from ecrm.platform.settings import table_name

PROFILE_SK = "PROFILE"
EMAIL_SK = "EMAIL"
TYPE_PROFILE = "CUSTOMER_PROFILE"
TYPE_EMAIL = "CUSTOMER_EMAIL"
BIRTHDAY_SHARDS = 10
_BIRTHDAY = re.compile(r"(?:(\d{4})-)?(\d{2})-(\d{2})")
_NAME_MAX = 100
PATCHABLE = ("name", "marketing_consent", "birthday")


def profile_pk(customer_id: str) -> str:
    """Partition of everything a customer owns."""
    return f"CUSTOMER#{customer_id}"


def email_pk(email: str) -> str:
    """The unique item of an address (one member per address)."""
    return f"EMAIL#{normalise_email(email)}"


def birthday_gsi2pk(month_day: str, customer_id: str) -> str:
    """GSI2 partition of members whose birthday is `MM-DD` (the birthday bonus job), sharded like lots."""
    return f"BIRTHDAYS#{month_day}#{zlib.crc32(customer_id.encode()) % BIRTHDAY_SHARDS}"


def parse_name(value: Any, field: str = "name") -> str:
    """A display name: 1-100 printable characters."""
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > _NAME_MAX:
        raise ValidationFailed(f"must be 1-{_NAME_MAX} characters", field)
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValidationFailed("must not contain control characters", field)
    return value.strip()


def parse_consent(value: Any, field: str = "marketing_consent") -> bool:
    """Consent is an explicit JSON boolean (no "yes", no 1)."""
    if not isinstance(value, bool):
        raise ValidationFailed("must be true or false", field)
    return value


def parse_birthday(value: Any, today: date, field: str = "birthday") -> str | None:
    """`YYYY-MM-DD` or `MM-DD` (the year is optional) -> stored as given; null clears it."""
    if value is None:
        return None
    m = _BIRTHDAY.fullmatch(value) if isinstance(value, str) else None
    if not m:
        raise ValidationFailed("must be YYYY-MM-DD or MM-DD", field)
    year = int(m.group(1)) if m.group(1) else 2000  # 2000 is a leap year: 02-29 is a valid birthday
    try:
        born = date(year, int(m.group(2)), int(m.group(3)))
    except ValueError as err:
        raise ValidationFailed("is not a calendar date", field) from err
    if m.group(1) and not (today.year - 130 <= born.year and born <= today):
        raise ValidationFailed("must be a past date within the last 130 years", field)
    return value


def month_day(birthday: str | None) -> str | None:
    """`MM-DD` of a stored birthday."""
    return birthday[-5:] if birthday else None


def new_profile(
    customer: Customer, name: str, consent: bool, birthday: str | None, now: datetime, source: str
) -> dict[str, Any]:
    """The PROFILE item of a new member."""
    item: dict[str, Any] = {
        "pk": profile_pk(customer.customer_id),
        "sk": PROFILE_SK,
        "type": TYPE_PROFILE,
        "customer_id": customer.customer_id,
        "email": normalise_email(customer.email),
        "name": name,
        "marketing_consent": consent,
        "marketing_consent_at": clock.iso(now),
        "marketing_consent_source": source,
        "birthday": birthday,
        "joined_at": clock.iso(now),
        "updated_at": clock.iso(now),
    }
    item.update(_birthday_index(customer.customer_id, birthday))
    return item


def _birthday_index(customer_id: str, birthday: str | None) -> dict[str, Any]:
    md = month_day(birthday)
    if md is None:
        return {"gsi2pk": None, "gsi2sk": None}
    return {"gsi2pk": birthday_gsi2pk(md, customer_id), "gsi2sk": profile_pk(customer_id)}


def email_item(customer_id: str, email: str, now: datetime) -> dict[str, Any]:
    """The unique EMAIL# item pointing at the member."""
    return {
        "pk": email_pk(email),
        "sk": EMAIL_SK,
        "type": TYPE_EMAIL,
        "customer_id": customer_id,
        "email": normalise_email(email),
        "created_at": clock.iso(now),
    }


def get(customer_id: str) -> dict[str, Any] | None:
    """The profile item (one GetItem)."""
    resp = aws.dynamodb().get_item(TableName=table_name(), Key=ddb.key(profile_pk(customer_id), PROFILE_SK))
    return ddb.from_item(resp.get("Item"))


def customer_id_for_email(email: str) -> str | None:
    """The member holding an address (one GetItem)."""
    resp = aws.dynamodb().get_item(TableName=table_name(), Key=ddb.key(email_pk(email), EMAIL_SK))
    item = ddb.from_item(resp.get("Item"))
    return str(item["customer_id"]) if item else None


def validate_patch(body: Any, today: date) -> dict[str, Any]:
    """The fields a member may change, validated; unknown fields are refused by name."""
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object", field="body")
    unknown = sorted(set(body) - set(PATCHABLE))
    if unknown:
        raise ValidationFailed(f"cannot be changed here (allowed: {', '.join(PATCHABLE)})", unknown[0])
    if not body:
        raise ValidationFailed(f"send at least one of {', '.join(PATCHABLE)}", "body")
    out: dict[str, Any] = {}
    if "name" in body:
        out["name"] = parse_name(body["name"])
    if "marketing_consent" in body:
        out["marketing_consent"] = parse_consent(body["marketing_consent"])
    if "birthday" in body:
        out["birthday"] = parse_birthday(body["birthday"], today)
    return out


def update(customer_id: str, changes: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Apply validated changes to an existing profile (one UpdateItem, ALL_NEW). Consent changes record
    when and how; the birthday keeps its GSI2 entry in step."""
    fields = dict(changes)
    if "marketing_consent" in fields:
        fields["marketing_consent_at"] = clock.iso(now)
        fields["marketing_consent_source"] = "profile"
    if "birthday" in fields:
        fields.update(_birthday_index(customer_id, fields["birthday"]))
    fields["updated_at"] = clock.iso(now)
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    sets, removes = [], []
    for i, (name, value) in enumerate(fields.items()):
        names[f"#f{i}"] = name
        if value is None:
            removes.append(f"#f{i}")
        else:
            values[f":v{i}"] = value
            sets.append(f"#f{i} = :v{i}")
    expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    client = aws.dynamodb()
    try:
        resp = client.update_item(
            TableName=table_name(),
            Key=ddb.key(profile_pk(customer_id), PROFILE_SK),
            UpdateExpression=expression,
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=ddb.values(values),
            ReturnValues="ALL_NEW",
        )
    except client.exceptions.ConditionalCheckFailedException as err:
        from ecrm.loyalty.errors import NotAMember

        raise NotAMember("join first: POST /members", field="customer_id") from err
    return ddb.from_item(resp["Attributes"]) or {}


def public(profile: dict[str, Any]) -> dict[str, Any]:
    """The API shape of a profile."""
    return {
        "customer_id": profile["customer_id"],
        "email": profile.get("email"),
        "name": profile.get("name"),
        "marketing_consent": bool(profile.get("marketing_consent")),
        "marketing_consent_at": profile.get("marketing_consent_at"),
        "birthday": profile.get("birthday"),
        "member_since": profile.get("joined_at"),
    }
