"""What a provider said about one request, in provider-neutral terms."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from batchspec.pricing import Usage

SUCCEEDED = "succeeded"
ERRORED = "errored"
UNPROCESSED = "unprocessed"  # expired or cancelled before it ran: re-send without counting an attempt


@dataclass(frozen=True)
class Outcome:
    custom_id: str
    kind: str  # succeeded | errored | unprocessed
    response: dict[str, Any] | None = None  # the provider's response body
    output: str | None = None  # the answer's text
    parsed: Any = None  # the answer as JSON, with response_schema
    usage: Usage = Usage()
    error_code: str | None = None
    error_message: str | None = None
    retryable: bool = False
    cost_usd: float | None = None
    sync_cost_usd: float | None = None


def tolerant(parse: Callable[[str | bytes], Outcome | None]) -> Callable[[str | bytes], Outcome | None]:
    """A result-line parser that answers None (unreadable: the request is re-sent) for a line of
    an unexpected shape, instead of stopping the whole collection."""

    @functools.wraps(parse)
    def parse_or_none(line: str | bytes) -> Outcome | None:
        try:
            return parse(line)
        except (AttributeError, TypeError, ValueError, KeyError, IndexError):
            return None

    return parse_or_none
