"""OpenAI Batch API: the lifecycle of a batch, its result and error files, and the batch store."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

import orjson

from batchspec.tokens import request_tokens

from .answers import body_digest
from .errors import OPENAI_QUOTA, openai_error, openai_fault
from .faults import line_damage, request_fault
from .lifecycle import PHASE_SHARE, Interruption, due, elapsed_share, interruption, jsonl, shuffle
from .openai_chat import complete, validate_chat
from .openai_embeddings import embed, validate_embeddings
from .openai_files import BATCH_FILE_TTL, FileStore
from .openai_input import ParsedInput, error_entry, parse_input, validate_metadata
from .openai_responses import respond, validate_responses
from .wire import JSON, ApiError, random_hex

if TYPE_CHECKING:
    from .config import FaultConfig
    from .state import FakeState

ENDPOINTS = (
    "/v1/responses",
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/moderations",
    "/v1/images/generations",
    "/v1/images/edits",
    "/v1/videos",
)
SUPPORTED_ENDPOINTS = ("/v1/chat/completions", "/v1/embeddings", "/v1/responses")
CREATE_PARAMS = frozenset({"input_file_id", "endpoint", "completion_window", "metadata", "output_expires_after"})
EXPIRED_MESSAGE = "This request could not be executed before the completion window expired."
CANCELLED_MESSAGE = "This request was not executed because the batch was cancelled."


class OpenAIBatch:
    def __init__(self, state: FakeState, body: JSON, data: bytes, parsed: ParsedInput, attempts: list[int]) -> None:
        self.state = state
        self.lock = threading.RLock()
        now = state.clock.now()
        self.id = "batch_" + random_hex(32)
        self.endpoint: str = body["endpoint"]
        self.input_file_id: str = body["input_file_id"]
        self.metadata: dict[str, str] | None = body.get("metadata")
        expires = body.get("output_expires_after")
        self.output_ttl = expires["seconds"] if isinstance(expires, Mapping) else BATCH_FILE_TTL
        self.created = now
        self.times: dict[str, int | None] = dict.fromkeys(
            (
                "in_progress_at",
                "finalizing_at",
                "completed_at",
                "failed_at",
                "expired_at",
                "cancelling_at",
                "cancelled_at",
            ),
        )
        self.status = "validating"
        self.data = data
        self.parsed = parsed
        self.attempts = attempts
        self.faults: FaultConfig = dataclasses.replace(state.config.faults)
        active = any(a <= 1 for a in attempts) or not self.faults.retry_succeeds or not attempts
        self.errors = list(parsed.errors)
        if active and self.faults.fail_validation and not self.errors:
            self.errors.append(
                error_entry(
                    "invalid_json_line",
                    "This line is not parseable as valid JSON. (injected by FaultConfig.fail_validation)",
                    1,
                )
            )
        self.total = len(parsed.starts)
        self.stop: Interruption = interruption(self.total, self.faults, active)
        self.duration = state.config.processing_seconds + self.faults.slow_processing
        self.done = 0
        self.completed = 0
        self.failed = 0
        self.usage = {"input": 0, "cached": 0, "output": 0}
        self.out_lines: list[bytes] = []
        self.err_lines: list[bytes] = []
        self.cancel_due: float | None = None
        self.output_file_id: str | None = None
        self.error_file_id: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def tick(self, at: float | None = None) -> None:
        """Bring the batch to where the clock (or ``at``) says it should be."""
        with self.lock:
            now = self.state.clock.now() if at is None else at
            share = elapsed_share(now, self.created, self.duration)
            if self.status == "validating":
                if share < PHASE_SHARE and self.duration > 0:
                    return
                if not self.errors:
                    self._check_queue()
                if self.errors:
                    self._set("failed", now)
                    return
                self._set("in_progress", now)
            if self.status == "in_progress":
                window = 1 - 2 * PHASE_SHARE
                progress = min(1.0, max(0.0, (share - PHASE_SHARE) / window))
                target = due(self.total, progress)
                self._process(min(target, self.stop.at))
                if self.stop.reason == "cancel" and target >= self.stop.at:
                    self._begin_cancel(now)
                elif progress >= 1.0:
                    if self.stop.reason == "expire":
                        self._finish("expired", now)
                        return
                    self._set("finalizing", now)
            if self.status == "finalizing" and share >= 1.0:
                self._finish("completed", now)
            if self.status == "cancelling" and self.cancel_due is not None and now >= self.cancel_due:
                self._finish("cancelled", now)

    def _check_queue(self) -> None:
        """The organization's enqueued-token limit for this batch's model, as the real API words it."""
        limit = self.state.config.openai_enqueued_tokens
        if limit is None or self.parsed.model is None:
            return
        enqueued = self.state.openai.enqueued_tokens(self.parsed.model, but=self)
        if enqueued + self.parsed.tokens > limit:
            self.errors.append(
                error_entry(
                    "token_limit_exceeded",
                    f"Enqueued token limit reached for {self.parsed.model} in organization "
                    f"{self.state.config.organization}. Limit: {limit:,} enqueued tokens. Please try again once some "
                    "in_progress batches have been completed.",
                    None,
                )
            )

    def enqueued(self, now: float) -> bool:
        """Whether the batch holds queue room at ``now``: past validation and not ended. Worked out
        from the clock, as the batch would stand if looked at (batches advance lazily)."""
        if self.errors or self.status in ("failed", "completed", "expired", "cancelled"):
            return False
        share = elapsed_share(now, self.created, self.duration)
        return PHASE_SHARE <= share < 1.0 or (self.duration <= 0 and self.status != "validating")

    def cancel(self, at: float | None = None) -> None:
        with self.lock:
            now = self.state.clock.now() if at is None else at
            self.tick(now)
            if self.status in ("cancelling", "cancelled"):
                return
            if self.status in ("completed", "failed", "expired"):
                raise openai_error(400, f"Cannot cancel a batch with status '{self.status}'.", code="invalid_state")
            self._begin_cancel(now)
            if at is None and self.state.journal is not None:
                self.state.journal.record("cancel", id=self.id, at=now)

    def _set(self, status: str, now: float) -> None:
        self.status = status
        self.times[status + "_at"] = int(now)

    def _begin_cancel(self, now: float) -> None:
        self._set("cancelling", now)
        self.cancel_due = now + PHASE_SHARE * self.duration

    def _finish(self, status: str, now: float) -> None:
        code, message = (
            ("batch_expired", EXPIRED_MESSAGE) if status == "expired" else ("batch_cancelled", CANCELLED_MESSAGE)
        )
        # Cancelled before anything ran (e.g. while validating): a batch with no files at all.
        unrun = range(self.done, self.total) if self.done or status != "cancelled" else range(0)
        for i in unrun:
            self.err_lines.append(
                orjson.dumps(
                    {
                        "id": "batch_req_" + random_hex(32),
                        "custom_id": self.parsed.custom_ids[i],
                        "response": None,
                        "error": {"code": code, "message": message},
                    }
                )
            )
        seed = self.faults.seed
        files: FileStore = self.state.openai.files
        # A file exists when requests ended up in it, even if fault injection dropped its lines.
        if self.completed:
            self.output_file_id = files.add(
                f"{self.id}_output.jsonl",
                "batch_output",
                jsonl(shuffle(self.out_lines, seed, self.id)),
                self.output_ttl,
            ).id
        if self.failed or (self.done < self.total and unrun):
            self.error_file_id = files.add(
                f"{self.id}_error.jsonl",
                "batch_output",
                jsonl(shuffle(self.err_lines, seed, self.id + "e")),
                self.output_ttl,
            ).id
        self.out_lines, self.err_lines = [], []
        self.data = b""  # the answers are out; the input is no longer needed
        self._set(status, now)

    # -- processing --------------------------------------------------------------------------

    def _process(self, target: int) -> None:
        rates = self.faults.batch_request_rates()
        any_rate = any(rates.values())
        for i in range(self.done, target):
            self._process_one(i, rates if any_rate else None)
        self.done = max(self.done, target)

    def _process_one(self, i: int, rates: dict[str, float] | None) -> None:
        custom_id, attempt = self.parsed.custom_ids[i], self.attempts[i]
        damage = line_damage(self.faults, custom_id, attempt)
        body = orjson.loads(self.data[self.parsed.starts[i] : self.parsed.ends[i]])["body"]
        try:
            kind = None
            if rates is not None:
                kind = request_fault(self.faults, rates, custom_id, attempt, body_digest(body).hex())
            if kind is not None:
                tokens = request_tokens(body)
                status, err = openai_fault(kind, body["model"], tokens, self.state.config.max_context_tokens)
                raise ApiError(status, err)
            if self.endpoint == "/v1/embeddings":
                validate_embeddings(body)
                result = embed(self.state, body, batch_id=self.id, custom_id=custom_id, bill=damage is None)
            elif self.endpoint == "/v1/responses":
                validate_responses(body)
                result = respond(self.state, body, batch_id=self.id, custom_id=custom_id, bill=damage is None)
            else:
                validate_chat(body)
                result = complete(self.state, body, batch_id=self.id, custom_id=custom_id, bill=damage is None)
            status = 200
        except ApiError as exc:
            status, result = exc.status, exc.body
        line = orjson.dumps(
            {
                "id": "batch_req_" + random_hex(32),
                "custom_id": custom_id,
                "response": {"status_code": status, "request_id": "req_" + random_hex(32), "body": result},
                "error": None,
            }
        )
        if status == 200:
            self.completed += 1
            usage = result["usage"]
            details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
            self.usage["input"] += usage.get("prompt_tokens", usage.get("input_tokens", 0))
            self.usage["cached"] += details.get("cached_tokens", 0)
            self.usage["output"] += usage.get("completion_tokens", usage.get("output_tokens", 0))
            lines = self.out_lines
        else:
            self.failed += 1
            lines = self.err_lines
        if damage == "malformed":
            lines.append(line[: len(line) // 2])  # cut mid-object: not valid JSON
        elif damage is None:
            lines.append(line)

    # -- presentation ------------------------------------------------------------------------

    def obj(self) -> JSON:
        validated = self.status not in ("validating", "failed")
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "model": self.parsed.model,
            "errors": {"object": "list", "data": self.errors} if self.status == "failed" else None,
            "input_file_id": self.input_file_id,
            "completion_window": "24h",
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": int(self.created),
            **self.times,
            "expires_at": int(self.created) + 24 * 3600,
            "request_counts": {
                "total": self.total if validated else 0,
                "completed": self.completed,
                "failed": self.failed,
            },
            "usage": {
                "input_tokens": self.usage["input"],
                "input_tokens_details": {"cached_tokens": self.usage["cached"]},
                "output_tokens": self.usage["output"],
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": self.usage["input"] + self.usage["output"],
            },
            "metadata": self.metadata,
        }


class OpenAIBatches:
    def __init__(self, state: FakeState) -> None:
        self.state = state
        self.files = FileStore(state)
        self._batches: dict[str, OpenAIBatch] = {}
        self._lock = threading.Lock()

    def create(self, body: JSON) -> OpenAIBatch:
        for key in body:
            if key not in CREATE_PARAMS:
                raise openai_error(400, f"Unrecognized request argument supplied: {key}")
        for key in ("input_file_id", "endpoint", "completion_window"):
            if key not in body:
                raise openai_error(
                    400,
                    f"Missing required parameter: '{key}'.",
                    param=key,
                    code="missing_required_parameter",
                )
        if body["completion_window"] != "24h":
            raise openai_error(
                400,
                f"Invalid value: '{body['completion_window']}'. Supported values are: '24h'.",
                param="completion_window",
                code="invalid_value",
            )
        endpoint = body["endpoint"]
        if endpoint not in ENDPOINTS:
            raise openai_error(
                400,
                f"Invalid value: '{endpoint}'. Supported values are: " + ", ".join(f"'{e}'" for e in ENDPOINTS) + ".",
                param="endpoint",
                code="invalid_value",
            )
        if endpoint not in SUPPORTED_ENDPOINTS:
            raise openai_error(400, f"The fake server does not run {endpoint} batches.", param="endpoint")
        validate_metadata(body.get("metadata"))
        faults = self.state.config.faults
        if faults.insufficient_quota:
            raise openai_error(429, OPENAI_QUOTA, "insufficient_quota", code="insufficient_quota")
        stored = self.files.get(body["input_file_id"])
        if stored.purpose != "batch":
            raise openai_error(
                400,
                f"File {stored.id} has purpose '{stored.purpose}'; a batch input file must have purpose 'batch'.",
                param="input_file_id",
            )
        parsed = parse_input(stored.data, endpoint, self.state)
        attempts = self.state.attempts.next_many("openai", [c for c in parsed.custom_ids if c])
        it = iter(attempts)
        per_line = [next(it) if c else 1 for c in parsed.custom_ids]
        batch = OpenAIBatch(self.state, body, stored.data, parsed, per_line)
        if faults.static_batch_id:
            batch.id = faults.static_batch_id
        with self._lock:
            self._batches[batch.id] = batch
        if self.state.journal is not None:
            self.state.journal.record("batch", id=batch.id, body=body, created=batch.created, attempts=per_line)
        self.state.ledger.add(
            "batch",
            provider="openai",
            batch_id=batch.id,
            model=parsed.model,
            endpoint=batch.endpoint,
            metadata=batch.metadata,
            input_file_id=stored.id,
            custom_ids=[c for c in parsed.custom_ids if c],
            time=batch.created,
        )
        return batch

    def restore(self, id: str, body: JSON, created: float, attempts: list[int]) -> None:  # noqa: A002
        """A batch from the journal: made again from what created it; its progress follows the clock."""
        stored = self.files.get(body["input_file_id"])
        batch = OpenAIBatch(
            self.state, body, stored.data, parse_input(stored.data, body["endpoint"], self.state), attempts
        )
        batch.id, batch.created = id, created
        with self._lock:
            self._batches[id] = batch

    def restore_cancel(self, id: str, at: float) -> None:  # noqa: A002
        with self._lock:
            batch = self._batches.get(id)
        if batch is not None:
            batch.cancel(at=at)

    def enqueued_tokens(self, model: str, but: OpenAIBatch) -> int:
        with self._lock:
            batches = [b for b in self._batches.values() if b is not but and b.parsed.model == model]
        now = self.state.clock.now()
        return sum(b.parsed.tokens for b in batches if b.enqueued(now))

    def get(self, batch_id: str) -> OpenAIBatch:
        with self._lock:
            batch = self._batches.get(batch_id)
        if batch is None:
            raise openai_error(404, f"No batch found with id '{batch_id}'.", param="batch_id")
        batch.tick()
        return batch

    def list(self, after: str | None, limit: int) -> JSON:
        with self._lock:
            batches = list(reversed(self._batches.values()))
        ids = [b.id for b in batches]
        start = ids.index(after) + 1 if after in ids else 0
        page = batches[start : start + limit]
        for batch in page:
            batch.tick()
        return {
            "object": "list",
            "data": [b.obj() for b in page],
            "first_id": page[0].id if page else None,
            "last_id": page[-1].id if page else None,
            "has_more": start + limit < len(batches),
        }
