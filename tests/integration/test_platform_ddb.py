"""`ecrm.platform.ddb.put_if_absent` and the three writes built on it, against the local table."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ecrm.platform import ddb
from infra.local.system import LocalSystem
from tests.integration.mail_helpers import items, table, unique


def _in_api(system: LocalSystem, fn: Any, *args: Any, **kwargs: Any) -> Any:
    return system.invoke_in("ApiFunction", lambda: fn(*args, **kwargs))


def test_put_if_absent_writes_once_and_reports_an_existing_item(system: LocalSystem) -> None:
    pk = f"TEST#{uuid.uuid4().hex}"
    assert _in_api(system, ddb.put_if_absent, table(system), {"pk": pk, "sk": "X", "n": 1}) is True
    assert _in_api(system, ddb.put_if_absent, table(system), {"pk": pk, "sk": "X", "n": 2}) is False
    assert [i["n"] for i in items(system, pk)] == [1]
    # Another sort key in the same partition is another item.
    assert _in_api(system, ddb.put_if_absent, table(system), {"pk": pk, "sk": "Y", "n": 3}) is True


def test_replace_if_widens_the_condition_to_existing_items_it_accepts(system: LocalSystem) -> None:
    pk = f"TEST#{uuid.uuid4().hex}"
    put = ddb.put_if_absent
    assert _in_api(system, put, table(system), {"pk": pk, "sk": "X", "n": 1})
    refused = _in_api(system, put, table(system), {"pk": pk, "sk": "X", "n": 2}, replace_if="#n > :min",
                      names={"#n": "n"}, values={":min": 5})
    assert refused is False and [i["n"] for i in items(system, pk)] == [1]
    replaced = _in_api(system, put, table(system), {"pk": pk, "sk": "X", "n": 3}, replace_if="#n < :max",
                       names={"#n": "n"}, values={":max": 5})
    assert replaced is True and [i["n"] for i in items(system, pk)] == [3]


def test_put_if_absent_raises_every_other_failure(system: LocalSystem) -> None:
    with pytest.raises(ClientError):
        _in_api(system, ddb.put_if_absent, "no-such-table", {"pk": "TEST#x", "sk": "X"})


def test_autoreply_slot_is_one_per_window_and_a_retry_keeps_its_own(system: LocalSystem) -> None:
    from ecrm.mail import cases

    sender, now, window = unique("slot"), int(time.time()), 600
    claim = cases.claim_autoreply_slot
    assert _in_api(system, claim, sender, "in-1", now, window) is True
    assert _in_api(system, claim, sender, "in-1", now + 1, window) is True  # a retry of the same message
    assert _in_api(system, claim, sender, "in-2", now + 2, window) is False  # another one, within the window
    assert _in_api(system, claim, sender, "in-2", now + 1 + window, window) is False  # its last second
    assert _in_api(system, claim, sender, "in-2", now + 2 + window, window) is True  # after it
    [slot] = items(system, f"AUTOREPLY#{sender}")
    assert slot["inbound_id"] == "in-2" and slot["until"] == now + 2 + 2 * window


def test_suppression_keeps_the_first_reason(system: LocalSystem) -> None:
    from ecrm.mail import feedback

    address = unique("twice")

    def bounce(sub: str) -> dict[str, Any]:
        return {"eventType": "Bounce", "mail": {"messageId": f"m-{sub}"},
                "bounce": {"bounceType": "Permanent", "bounceSubType": sub,
                           "bouncedRecipients": [{"emailAddress": address}]}}

    assert _in_api(system, feedback.apply, bounce("General")) == [address]
    assert _in_api(system, feedback.apply, bounce("NoEmail")) == [address]  # reported, not rewritten
    [item] = items(system, f"SUPPRESS#{address}")
    assert item["reason"] == "bounce:General" and item["ses_message_id"] == "m-General"
