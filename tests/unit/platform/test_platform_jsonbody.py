"""Request bodies: JSON documents or a 400 naming `body`."""

from __future__ import annotations

import pytest

from ecrm.platform import jsonbody
from ecrm.platform.errors import BadRequest


def test_a_json_document_parses_with_or_without_a_byte_order_mark() -> None:
    assert jsonbody.parse(b"\xef\xbb\xbf{}") == {}  # RFC 8259 lets a parser ignore it
    assert jsonbody.parse(b'{"lines": [{"sku": "TEE", "quantity": 2}], "note": "\\u00e9"}') == {
        "lines": [{"sku": "TEE", "quantity": 2}],
        "note": "é",
    }


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"quantity": NaN}', "NaN is not a JSON value"),
        (b'{"points": -Infinity}', "-Infinity is not a JSON value"),
        (b"[" * 30000 + b"]" * 30000, "nests too deeply"),
        (b'{"name": "\xff"}', "UTF-8"),
        (b"{} {}", "not valid JSON"),
        (b'{"points": 1e999}', "1e999 is out of range"),
        ('{"points": 1}'.encode("utf-16"), "UTF-8"),
        (b'{"points": ' + b"9" * 5000 + b"}", "a number is too long"),
        (b"{'single': 'quotes'}", "not valid JSON"),
    ],
)
def test_anything_else_is_a_400_naming_the_body(raw: bytes, reason: str) -> None:
    with pytest.raises(BadRequest) as caught:
        jsonbody.parse(raw)
    assert caught.value.field == "body" and reason in caught.value.detail
