"""Request bodies as JSON documents (RFC 8259), with a 400 naming `body` for anything else."""

from __future__ import annotations

import json
from typing import Any, NoReturn

from ecrm.platform.errors import BadRequest


def _not_json(name: str) -> NoReturn:
    # Python's json accepts NaN and Infinity; JSON does not, and no field of ours can hold them.
    raise BadRequest(f"body is not valid JSON: {name} is not a JSON value", field="body")


def parse(raw: bytes) -> Any:
    """The JSON document in `raw`; `BadRequest(field="body")` when it is not UTF-8 JSON, uses NaN or
    Infinity, or nests deeper than the parser can follow (a 64 KB body of brackets would otherwise end in a
    RecursionError, i.e. a 500)."""
    try:
        return json.loads(raw, parse_constant=_not_json)
    except UnicodeDecodeError as err:
        raise BadRequest("body must be UTF-8 JSON", field="body") from err
    except RecursionError as err:
        raise BadRequest("body nests too deeply", field="body") from err
    except ValueError as err:
        raise BadRequest(f"body is not valid JSON: {err}", field="body") from err
