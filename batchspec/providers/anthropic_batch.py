"""Anthropic Message Batches through the official SDK: create, poll, stream results, cancel."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

from batchspec.outcomes import ERRORED, SUCCEEDED, UNPROCESSED, Outcome, tolerant
from batchspec.pricing import Usage
from batchspec.providers.base import BatchInfo
from batchspec.providers.classify import is_retryable
from batchspec.providers.sdkcalls import anthropic_client, call, translated
from batchspec.spec.model import ModelSpec

LOOKUP_SLACK = timedelta(minutes=10)
NOT_RUN = {"canceled": "batch_cancelled", "expired": "batch_expired"}


class AnthropicBatchClient:
    def __init__(self, model: ModelSpec, job: str) -> None:
        self.client, self.endpoint = anthropic_client(model)

    def _call(self, what: str, fn: Callable[[], Any], *, retry: bool = True) -> Any:
        return call(self.endpoint, what, fn, retry=retry)

    def submit(self, local_key: str, payload: bytes, count: int, on_upload: Callable[[str], None]) -> BatchInfo:
        requests = orjson.loads(payload)["requests"]
        batch = self._call(
            "create the batch", lambda: self.client.messages.batches.create(requests=requests), retry=False
        )
        return _info(batch)

    def find(self, local_key: str, not_before: str, count: int, known: set[str]) -> BatchInfo | None:
        """Anthropic batches carry no metadata: match an unknown batch created after the intent with
        the same number of requests. The runner submits one batch at a time, so at most one intent
        is unconfirmed, and collecting checks every custom_id against the batch's members."""
        oldest = datetime.fromisoformat(not_before.replace("Z", "+00:00")) - LOOKUP_SLACK

        def search() -> BatchInfo | None:
            for batch in self.client.messages.batches.list(limit=100):  # newest first
                if batch.created_at < oldest:
                    return None
                counts = batch.request_counts
                total = counts.processing + counts.succeeded + counts.errored + counts.canceled + counts.expired
                if total == count and batch.id not in known:
                    return _info(batch)
            return None

        result: BatchInfo | None = self._call("list batches", search)
        return result

    def retrieve(self, provider_batch_id: str) -> BatchInfo:
        return _info(self._call("check a batch", lambda: self.client.messages.batches.retrieve(provider_batch_id)))

    def cancel(self, provider_batch_id: str) -> BatchInfo:
        return _info(self._call("cancel a batch", lambda: self.client.messages.batches.cancel(provider_batch_id)))

    def discard_upload(self, input_file_id: str) -> None:
        """Anthropic batches have no separate upload."""

    def outcomes(self, info: BatchInfo) -> Iterator[Outcome | None]:
        # The SDK's decoder stops at the first unreadable line; read the raw stream instead so one
        # bad line costs one re-sent request, not the whole batch.
        with translated(self.endpoint, "download batch results"):
            decoder = self.client.messages.batches.results(info.provider_batch_id)
            try:
                yield from (parse_line(line) for line in decoder.http_response.iter_lines() if line.strip())
            finally:
                decoder.close()

    def close(self) -> None:
        self.client.close()


@tolerant
def parse_line(line: str | bytes) -> Outcome | None:
    """One line of a results stream; None when it cannot be read (see ``tolerant``)."""
    data = orjson.loads(line)
    custom_id, result = data["custom_id"], data["result"]
    kind = result["type"]
    if kind == "succeeded":
        return message_outcome(custom_id, result.get("message") or {})
    if kind in NOT_RUN:
        code = NOT_RUN[kind]
        return Outcome(custom_id, UNPROCESSED, error_code=code, error_message=f"the batch {kind} this request")
    wrapper = result.get("error") or {}
    inner = wrapper.get("error")
    detail: dict[str, Any] = inner if isinstance(inner, dict) else wrapper
    error_type = str(detail.get("type") or "api_error")
    message = str(detail.get("message") or "")
    code = "context_length_exceeded" if "prompt is too long" in message else error_type
    return Outcome(
        custom_id,
        ERRORED,
        response=wrapper,
        error_code=code,
        error_message=message,
        retryable=is_retryable(None, code, error_type),
    )


def message_outcome(custom_id: str, message: dict[str, Any]) -> Outcome:
    """A successful Message: its text (or forced tool input) and usage, cache tokens included."""
    usage = message.get("usage") or {}
    reads = int(usage.get("cache_read_input_tokens") or 0)
    writes = int(usage.get("cache_creation_input_tokens") or 0)
    tokens = Usage(
        input_tokens=int(usage.get("input_tokens") or 0) + reads + writes,
        output_tokens=int(usage.get("output_tokens") or 0),
        cache_read_tokens=reads,
        cache_write_tokens=writes,
    )
    if message.get("stop_reason") == "refusal":
        return Outcome(
            custom_id,
            ERRORED,
            response=message,
            usage=tokens,
            error_code="refusal",
            error_message="the model declined to answer",
            retryable=False,
        )
    blocks = message.get("content") or []
    texts = [b.get("text", "") for b in blocks if b.get("type") == "text"]
    tools = [b.get("input") for b in blocks if b.get("type") == "tool_use"]
    output = "".join(texts) if texts or not tools else orjson.dumps(tools[0]).decode()
    return Outcome(custom_id, SUCCEEDED, response=message, output=output, usage=tokens)


def _info(batch: Any) -> BatchInfo:
    counts = batch.request_counts
    ended = batch.processing_status == "ended"
    status = batch.processing_status
    if ended and batch.cancel_initiated_at:
        status = "canceled"
    return BatchInfo(
        provider_batch_id=batch.id,
        status=status,
        ended=ended,
        counts={
            "processing": counts.processing,
            "succeeded": counts.succeeded,
            "errored": counts.errored,
            "canceled": counts.canceled,
            "expired": counts.expired,
        },
        timestamps={
            "submitted_at": _iso(batch.created_at),
            "completed_at": _iso(batch.ended_at),
            "expires_at": _iso(batch.expires_at),
            "cancelling_at": _iso(batch.cancel_initiated_at),
        },
    )


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
