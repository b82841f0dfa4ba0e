"""Anthropic Message Batches through the official SDK: create, poll, stream results, cancel."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any, BinaryIO

import orjson

from batchspec.outcomes import ERRORED, SUCCEEDED, UNPROCESSED, Outcome, tolerant
from batchspec.pricing import Usage
from batchspec.providers.base import PROBE_TIMEOUT, BatchInfo, Lookup
from batchspec.providers.classify import is_retryable
from batchspec.providers.sdkcalls import anthropic_client, call, translated
from batchspec.spec.model import ModelSpec

LOOKUP_SLACK = timedelta(minutes=10)  # clock skew allowed between us and the provider
RESULTS_KEPT = timedelta(days=29)  # how long Anthropic keeps a batch's results
NOT_RUN = {"canceled": "batch_cancelled", "expired": "batch_expired"}


class AnthropicBatchClient:
    def __init__(self, model: ModelSpec, job: str, *, probe: bool = False) -> None:
        self.client, self.endpoint = anthropic_client(model)
        self.patient = not probe
        if probe:
            self.client = self.client.with_options(timeout=PROBE_TIMEOUT)

    def _call(self, what: str, fn: Callable[[], Any], *, retry: bool = True) -> Any:
        return call(self.endpoint, what, fn, retry=retry and self.patient)

    def submit(self, local_key: str, payload: BinaryIO, count: int, on_upload: Callable[[str], None]) -> BatchInfo:
        # The SDK takes the requests as a list and sends them as one JSON body: this payload is
        # necessarily in memory (Anthropic's limit is 256 MB per batch).
        requests = orjson.loads(payload.read())["requests"]
        batch = self._call(
            "create the batch", lambda: self.client.messages.batches.create(requests=requests), retry=False
        )
        return _info(batch)

    def find(self, local_key: str, not_before: str, count: int, known: set[str], wire_ids: set[str]) -> Lookup:
        """Anthropic batches carry no metadata: the evidence is in the results, whose custom_ids are
        the submission's wire ids. A batch of the right size still running cannot be read yet: it
        leaves the lookup undecided, never resolved by time and size alone."""
        oldest = datetime.fromisoformat(not_before.replace("Z", "+00:00")) - LOOKUP_SLACK
        undecided = 0
        for batch in self._listed(oldest):
            if batch.provider_batch_id in known or batch.total != count:
                continue
            if not batch.ended:
                undecided += 1
            elif self._first_id(batch) in wire_ids:
                return Lookup(found=batch)
        return Lookup(undecided=undecided)

    def scan(self, since: float, job: str) -> Iterator[BatchInfo]:
        oldest = datetime.now(timezone.utc) - RESULTS_KEPT
        if since:
            oldest = max(oldest, datetime.fromtimestamp(since, timezone.utc) - LOOKUP_SLACK)
        return self._listed(oldest)

    def _listed(self, oldest: datetime) -> Iterator[BatchInfo]:
        """The account's batches created after ``oldest``; the list is documented newest first."""
        pages = self._call("list batches", lambda: self.client.messages.batches.list(limit=100))
        with translated(self.endpoint, "list batches"):
            for batch in pages:
                if batch.created_at < oldest:
                    return
                yield _info(batch)

    def _first_id(self, info: BatchInfo) -> str | None:
        ids = self.request_ids(info)
        if ids is None:
            return None
        with contextlib.closing(ids):
            return next(ids, None)

    def input_ids(self, info: BatchInfo) -> Generator[str, None, None] | None:
        return None  # a batch's requests are not kept as a file

    def request_ids(self, info: BatchInfo) -> Generator[str, None, None] | None:
        if not info.ended:
            return None
        return self._result_ids(info.provider_batch_id)

    def _result_ids(self, batch_id: str) -> Generator[str, None, None]:
        with translated(self.endpoint, "read batch results"):
            decoder = self.client.messages.batches.results(batch_id)
            try:
                for line in decoder.http_response.iter_lines():
                    with contextlib.suppress(orjson.JSONDecodeError, KeyError, TypeError):
                        if line.strip():
                            yield str(orjson.loads(line)["custom_id"])
            finally:
                decoder.close()

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
        created_at=batch.created_at.timestamp(),
        total=counts.processing + counts.succeeded + counts.errored + counts.canceled + counts.expired,
    )


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
