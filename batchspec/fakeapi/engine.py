"""Provider-neutral answering: what the model "says", how many tokens it costs, and which
fault a sync request meets before it is answered."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from batchspec.tokens import CHARS_PER_TOKEN, text_tokens

from . import faults as fault_rules
from .answers import schema_instance, text_answer
from .config import FaultConfig
from .faults import Attempts


@dataclass
class Generation:
    text: str | None  # None when the answer is a tool call
    tool_name: str | None
    tool_input: Any
    output_tokens: int
    stop: str  # "end", "max_tokens", "stop_sequence" or "tool"
    stop_sequence: str | None = None


def generate(
    *,
    messages: Any,
    digest: bytes,
    schema: Any = None,
    tool: tuple[str, Any] | None = None,
    max_tokens: int | None = None,
    stop_sequences: Sequence[str] = (),
) -> Generation:
    """The deterministic answer to a request, capped at ``max_tokens``."""
    if tool is not None:
        name, input_schema = tool
        value = schema_instance(input_schema or {"type": "object"}, digest)
        tokens = max(1, text_tokens(orjson.dumps(value).decode()))
        if max_tokens is not None and tokens > max_tokens:
            return Generation(None, name, value, max_tokens, "max_tokens")
        return Generation(None, name, value, tokens, "tool")
    if schema is not None:
        text = orjson.dumps(schema_instance(schema, digest)).decode()
    else:
        text = text_answer(messages, digest)
    stop, stop_sequence = "end", None
    hits = [(text.find(s), s) for s in stop_sequences if s and s in text]
    if hits:
        cut, stop_sequence = min(hits)
        text, stop = text[:cut], "stop_sequence"
    tokens = max(1, text_tokens(text))
    if max_tokens is not None and tokens > max_tokens:
        text, tokens, stop, stop_sequence = (
            text[: max_tokens * CHARS_PER_TOKEN],
            max_tokens,
            "max_tokens",
            None,
        )
    return Generation(text, None, None, tokens, stop, stop_sequence)


class ClientGone(Exception):
    """The client hung up while its request was being processed: nothing is answered or billed."""


def sync_fault(
    faults: FaultConfig, attempts: Attempts, provider: str, body_sha: str, client_gone: Callable[[], bool]
) -> str | None:
    """Count this attempt of a sync request, apply latency, and draw its injected fault."""
    attempt = attempts.next(provider, "sync:" + body_sha)
    delay = faults.latency_seconds
    if fault_rules.slow(faults, body_sha, attempt):
        delay += faults.sync_slow_seconds
    if delay > 0:
        time.sleep(delay)
        if client_gone():
            raise ClientGone
    return fault_rules.request_fault(faults, faults.sync_rates(), body_sha, attempt, body_sha)
