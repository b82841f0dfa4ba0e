"""Reading values back from the state file: a damaged value (a hand edit, a disk error, another
program's write) is a StateError naming the table and the value, never a traceback."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from batchspec.errors import StateError


def damaged(where: str, what: str) -> StateError:
    return StateError(
        f"the state file is damaged: {where}: {what}; move it away or point --state elsewhere (a run adopts "
        "this job's batches from the provider), or restore a copy"
    )


def json_value(text: str | bytes | None, where: str) -> Any:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise damaged(where, "not JSON") from None


def timestamp(text: str | None, where: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise damaged(where, f"{text!r} is not a timestamp") from None


def number(text: str | None, where: str) -> float | None:
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        raise damaged(where, f"{text!r} is not a number") from None
