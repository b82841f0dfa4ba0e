"""JSON text for values that may hold integers beyond 64 bits, which orjson refuses to write.

Such integers come from JSON inputs (read exactly, see ``sources``); the standard library writes
them exactly, so it takes over for the rare value that needs it.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def dumps(value: Any, *, sort_keys: bool = False) -> bytes:
    """orjson's compact JSON (non-string keys and unknown types as text), exact for any integer."""
    option = orjson.OPT_NON_STR_KEYS | (orjson.OPT_SORT_KEYS if sort_keys else 0)
    try:
        return orjson.dumps(value, option=option, default=str)
    except TypeError as error:
        if "64-bit" not in str(error):
            raise
    text = json.dumps(value, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=False, default=str)
    return text.encode()


def fits_int64(value: int) -> bool:
    return INT64_MIN <= value <= INT64_MAX
