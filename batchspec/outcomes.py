"""What a provider said about one request, in provider-neutral terms."""

from __future__ import annotations

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
