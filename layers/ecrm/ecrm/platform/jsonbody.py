"""Request bodies as JSON documents (RFC 8259), with a 400 naming `body` for anything else."""

from __future__ import annotations

import json
import math
from typing import Any, NoReturn

from ecrm.platform.errors import BadRequest


def _not_json(name: str) -> NoReturn:
    # Python's json accepts NaN and Infinity; JSON does not, and no field of ours can hold them.
    raise BadRequest(f"body is not valid JSON: {name} is not a JSON value", field="body")


def _finite(text: str) -> float:
    value = float(text)
    if value in (math.inf, -math.inf):  # 1e999: a JSON number, but no float holds it
        raise BadRequest(f"body is not valid JSON: {text[:40]} is out of range", field="body")
    return value


def parse(raw: bytes) -> Any:
    """The JSON document in `raw`; `BadRequest(field="body")` when it is not UTF-8 JSON, uses NaN or
    Infinity (or a number no float holds), or nests deeper than the parser can follow (a 64 KB body of
    brackets would otherwise end in a RecursionError, i.e. a 500)."""
    try:
        # Decoded here, not by json.loads: that one would also take UTF-16 and UTF-32.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise BadRequest("body must be UTF-8 JSON", field="body") from err
    try:
        return json.loads(text, parse_constant=_not_json, parse_float=_finite)
    except RecursionError as err:
        raise BadRequest("body nests too deeply", field="body") from err
    except json.JSONDecodeError as err:
        raise BadRequest(f"body is not valid JSON: {err}", field="body") from err
    except ValueError as err:  # e.g. an integer of thousands of digits; its message names interpreter knobs
        raise BadRequest("body is not valid JSON: a number is too long", field="body") from err
