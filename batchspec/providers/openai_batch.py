"""The OpenAI Batch API through the official SDK: upload, create, poll, download, cancel."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Generator, Iterator
from datetime import datetime, timezone
from typing import Any, BinaryIO

import orjson

from batchspec.errors import ProviderError
from batchspec.outcomes import ERRORED, SUCCEEDED, UNPROCESSED, Outcome, tolerant
from batchspec.pricing import Usage
from batchspec.providers.base import PROBE_TIMEOUT, BatchError, BatchInfo, Lookup
from batchspec.providers.classify import is_retryable
from batchspec.providers.sdkcalls import Endpoint, call, openai_client, translated
from batchspec.spec.model import ModelSpec

ENDED = frozenset({"completed", "failed", "expired", "cancelled"})
METADATA_KEY = "batchspec_key"
JOB_KEY = "batchspec_job"
LOOKUP_SLACK_SECONDS = 600  # clock skew allowed between us and the provider when finding a batch
LOOKUP_MAX_BATCHES = 2000  # how far back the account's batch list is searched
RETENTION_SECONDS = 30 * 24 * 3600  # batch output files are kept 30 days by default
_TIMESTAMPS = {
    "created_at": "submitted_at",
    "in_progress_at": "in_progress_at",
    "finalizing_at": "finalizing_at",
    "completed_at": "completed_at",
    "failed_at": "failed_at",
    "expired_at": "expired_at",
    "expires_at": "expires_at",
    "cancelling_at": "cancelling_at",
    "cancelled_at": "cancelled_at",
}
NOT_RUN = {"batch_expired": "expired", "batch_cancelled": "cancelled"}


class OpenAIBatchClient:
    def __init__(
        self,
        model: ModelSpec,
        job: str,
        *,
        provider: str = "openai",
        endpoint: str,
        base_url: str | None = None,
        probe: bool = False,
        connect: Callable[..., tuple[Any, Endpoint]] = openai_client,
    ) -> None:
        self.job = job
        self.batch_endpoint = endpoint  # the API path the batch's requests go to
        # ``connect`` builds the SDK client: OpenAI's, or another account type's (Azure's) of the same SDK
        self.client, self.endpoint = connect(model, provider=provider, base_url=base_url)
        self.patient = not probe
        if probe:
            self.client = self.client.with_options(timeout=PROBE_TIMEOUT)

    def _call(self, what: str, fn: Callable[[], Any], *, retry: bool = True) -> Any:
        return call(self.endpoint, what, fn, retry=retry and self.patient)

    def submit(self, local_key: str, payload: BinaryIO, count: int, on_upload: Callable[[str], None]) -> BatchInfo:
        # Streamed from the spooled file in 64 KiB chunks (httpx rewinds it on a retry).
        upload = self._call(
            "upload the batch file",
            lambda: self.client.files.create(
                file=(f"{local_key}.jsonl", payload, "application/jsonl"), purpose="batch"
            ),
        )
        on_upload(upload.id)
        # Not retried blindly: a lost answer may mean the batch exists. The caller looks it up first.
        batch = self._call(
            "create the batch",
            lambda: self.client.batches.create(
                input_file_id=upload.id,
                endpoint=self.batch_endpoint,
                completion_window="24h",
                metadata={METADATA_KEY: local_key, JOB_KEY: self.job[:512]},
            ),
            retry=False,
        )
        return _info(batch)

    def find(self, local_key: str, not_before: str, count: int, known: set[str], wire_ids: set[str]) -> Lookup:
        """The batch's metadata carries the submission's local key: that is the evidence."""
        oldest = _unix(not_before) - LOOKUP_SLACK_SECONDS
        for batch in self._listed(oldest):
            if batch.key == local_key and batch.job == self.job and batch.provider_batch_id not in known:
                return Lookup(found=batch)
        return Lookup()

    def scan(self, since: float, job: str) -> Iterator[BatchInfo]:
        oldest = max(since - LOOKUP_SLACK_SECONDS, time.time() - RETENTION_SECONDS)
        return (batch for batch in self._listed(oldest) if batch.job == job)

    def _listed(self, oldest: float) -> Iterator[BatchInfo]:
        """The account's batches created after ``oldest``, newest first, at most LOOKUP_MAX_BATCHES.
        The list is newest first in practice, but that is not documented: read on past an older
        batch, up to the bound, rather than stop at the first one."""
        pages = self._call("list batches", lambda: self.client.batches.list(limit=100))
        with translated(self.endpoint, "list batches"):
            for seen, batch in enumerate(pages):
                if seen >= LOOKUP_MAX_BATCHES:
                    return
                if batch.created_at >= oldest:
                    yield _info(batch)

    def request_ids(self, info: BatchInfo) -> Generator[str, None, None] | None:
        """An ended batch's ids from its result files; a running one's from its input file."""
        if info.ended:
            files = [f for f in (info.output_file_id, info.error_file_id) if f]
        else:
            files = [info.input_file_id] if info.input_file_id else []
        return (custom_id for file_id in files for custom_id in self._file_ids(file_id))

    def input_ids(self, info: BatchInfo) -> Generator[str, None, None] | None:
        return self._file_ids(info.input_file_id) if info.input_file_id else None

    def _file_ids(self, file_id: str) -> Generator[str, None, None]:
        with (
            translated(self.endpoint, "read a batch file"),
            self.client.files.with_streaming_response.content(file_id) as response,
        ):
            for line in response.iter_lines():
                with contextlib.suppress(orjson.JSONDecodeError, KeyError, TypeError):
                    if line.strip():
                        yield str(orjson.loads(line)["custom_id"])

    def retrieve(self, provider_batch_id: str) -> BatchInfo:
        return _info(self._call("check a batch", lambda: self.client.batches.retrieve(provider_batch_id)))

    def cancel(self, provider_batch_id: str) -> BatchInfo:
        return _info(self._call("cancel a batch", lambda: self.client.batches.cancel(provider_batch_id)))

    def discard_upload(self, input_file_id: str) -> None:
        with contextlib.suppress(ProviderError):  # already gone, or unreachable: it costs nothing
            self._call("delete an unused upload", lambda: self.client.files.delete(input_file_id))

    def outcomes(self, info: BatchInfo) -> Iterator[Outcome | None]:
        for file_id in (info.output_file_id, info.error_file_id):
            if file_id:
                yield from self._file_outcomes(file_id)

    def _file_outcomes(self, file_id: str) -> Iterator[Outcome | None]:
        # Parsed line by line from the stream: a 100 MB output file is never held whole. A broken
        # download is not retried here; the collecting transaction rolls back and is tried again.
        with (
            translated(self.endpoint, "download batch results"),
            self.client.files.with_streaming_response.content(file_id) as response,
        ):
            yield from (parse_line(line) for line in response.iter_lines() if line.strip())

    def close(self) -> None:
        self.client.close()


@tolerant
def parse_line(line: str | bytes) -> Outcome | None:
    """One line of a batch output or error file; None when it cannot be read (see ``tolerant``)."""
    data = orjson.loads(line)
    custom_id = data["custom_id"]
    response = data.get("response")
    error = data.get("error")
    if isinstance(response, dict) and 200 <= int(response.get("status_code") or 0) < 300:
        return answer_outcome(custom_id, response.get("body") or {})
    if isinstance(response, dict):
        body = response.get("body") or {}
        detail = body.get("error") if isinstance(body, dict) else None
        detail = detail if isinstance(detail, dict) else {}
        code = detail.get("code") or detail.get("type") or f"http_{response.get('status_code')}"
        status = int(response.get("status_code") or 0) or None
        return Outcome(
            custom_id,
            ERRORED,
            response=body if isinstance(body, dict) else None,
            error_code=code,
            error_message=str(detail.get("message") or ""),
            retryable=is_retryable(status, code, detail.get("type")),
        )
    error = error if isinstance(error, dict) else {}
    code = error.get("code") or "unknown_error"
    if code in NOT_RUN:
        return Outcome(
            custom_id,
            UNPROCESSED,
            error_code=code,
            error_message=f"the batch {NOT_RUN[code]} before this request ran",
        )
    return Outcome(
        custom_id,
        ERRORED,
        error_code=code,
        error_message=str(error.get("message") or ""),
        retryable=is_retryable(None, code),
    )


def answer_outcome(custom_id: str, body: dict[str, Any]) -> Outcome:
    """A successful answer of any endpoint batchspec sends to (told apart by its shape)."""
    from batchspec.providers.openai_embeddings import embedding_outcome, is_embedding_response
    from batchspec.providers.openai_responses import is_response, response_outcome

    if is_embedding_response(body):
        return embedding_outcome(custom_id, body)
    return response_outcome(custom_id, body) if is_response(body) else chat_outcome(custom_id, body)


def chat_outcome(custom_id: str, body: dict[str, Any]) -> Outcome:
    """A successful chat completion: its text (or tool call arguments) and usage."""
    usage = body.get("usage") or {}
    details = usage.get("prompt_tokens_details") or {}
    tokens = Usage(
        input_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
        cache_read_tokens=int(details.get("cached_tokens") or 0),
    )
    choices = body.get("choices") or [{}]
    message = choices[0].get("message") or {}
    if message.get("content") is None and message.get("refusal"):
        return Outcome(
            custom_id,
            ERRORED,
            response=body,
            usage=tokens,
            error_code="refusal",
            error_message=str(message["refusal"]),
            retryable=False,
        )
    text = message.get("content")
    if text is None and message.get("tool_calls"):
        calls = message["tool_calls"]
        text = calls[0]["function"]["arguments"] if len(calls) == 1 else orjson.dumps(calls).decode()
    return Outcome(custom_id, SUCCEEDED, response=body, output=text or "", usage=tokens)


def _info(batch: Any) -> BatchInfo:
    counts = batch.request_counts
    errors = tuple(
        BatchError(str(e.code or "batch_failed"), str(e.message or ""), e.line)
        for e in ((batch.errors.data or []) if batch.errors else [])
    )
    return BatchInfo(
        provider_batch_id=batch.id,
        status=batch.status,
        ended=batch.status in ENDED,
        counts={"total": counts.total, "completed": counts.completed, "failed": counts.failed} if counts else {},
        timestamps={column: _iso(getattr(batch, field, None)) for field, column in _TIMESTAMPS.items()},
        input_file_id=batch.input_file_id,
        output_file_id=batch.output_file_id,
        error_file_id=batch.error_file_id,
        errors=errors,
        failed=batch.status == "failed",
        created_at=float(batch.created_at or 0),
        total=counts.total if counts else 0,
        job=(batch.metadata or {}).get(JOB_KEY),
        key=(batch.metadata or {}).get(METADATA_KEY),
    )


def _iso(seconds: int | None) -> str | None:
    if not seconds:
        return None
    stamp = datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")
    return stamp.replace("+00:00", "Z")


def _unix(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
