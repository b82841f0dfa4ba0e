"""Anthropic Message Batches: creation checks, the lifecycle, and the results file."""

from __future__ import annotations

import dataclasses
import re
import threading
from collections import Counter
from typing import TYPE_CHECKING

import orjson

from batchspec.tokens import request_tokens

from .answers import body_digest
from .anthropic_messages import complete, format_error, params_error
from .errors import ANTHROPIC_CREDIT, anthropic_error, anthropic_fault, anthropic_invalid
from .faults import line_damage, request_fault
from .lifecycle import PHASE_SHARE, Interruption, due, elapsed_share, interruption, jsonl, shuffle
from .wire import JSON, ApiError, anthropic_id, rfc3339

if TYPE_CHECKING:
    from .config import FaultConfig
    from .state import FakeState

CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
DAY = 24 * 3600.0


def check_requests(body: JSON, state: FakeState) -> list[tuple[str, JSON]]:
    """The (custom_id, params) pairs of a create request, or the API's 400 explaining why not."""
    for key in body:
        if key != "requests":
            raise anthropic_invalid(f"{key}: Extra inputs are not permitted")
    requests = body.get("requests")
    if requests is None:
        raise anthropic_invalid("requests: Field required")
    if not isinstance(requests, list):
        raise anthropic_invalid("requests: Input should be a valid list")
    limit = state.config.anthropic_max_requests
    if not requests:
        raise anthropic_invalid("requests: List should have at least 1 item after validation, not 0")
    if len(requests) > limit:
        raise anthropic_invalid(
            f"requests: List should have at most {limit} items after validation, not {len(requests)}"
        )
    seen: set[str] = set()
    out: list[tuple[str, JSON]] = []
    for i, entry in enumerate(requests):
        if not isinstance(entry, dict):
            raise anthropic_invalid(f"requests.{i}: Input should be a valid dictionary")
        for key in entry:
            if key not in ("custom_id", "params"):
                raise anthropic_invalid(f"requests.{i}.{key}: Extra inputs are not permitted")
        for key in ("custom_id", "params"):
            if key not in entry:
                raise anthropic_invalid(f"requests.{i}.{key}: Field required")
        custom_id = entry["custom_id"]
        if not isinstance(custom_id, str):
            raise anthropic_invalid(f"requests.{i}.custom_id: Input should be a valid string")
        if not CUSTOM_ID.match(custom_id):
            raise anthropic_invalid(f"requests.{i}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'")
        if custom_id in seen:
            raise anthropic_invalid(
                f"requests.{i}.custom_id: Duplicate custom_id '{custom_id}'; custom_id values "
                "must be unique within a batch."
            )
        seen.add(custom_id)
        error = params_error(entry["params"])
        if error is not None:
            raise anthropic_invalid(format_error(error, f"requests.{i}.params."))
        out.append((custom_id, entry["params"]))
    return out


class AnthropicBatch:
    def __init__(self, state: FakeState, requests: list[tuple[str, JSON]], attempts: list[int]) -> None:
        self.state = state
        self.lock = threading.RLock()
        self.id = anthropic_id("msgbatch_")
        self.created = state.clock.now()
        self.requests = requests
        self.attempts = attempts
        self.faults: FaultConfig = dataclasses.replace(state.config.faults)
        active = any(a <= 1 for a in attempts) or not self.faults.retry_succeeds
        self.total = len(requests)
        self.stop: Interruption = interruption(self.total, self.faults, active)
        self.duration = state.config.processing_seconds + self.faults.slow_processing
        self.status = "in_progress"
        self.cancel_initiated_at: float | None = None
        self.cancel_due: float | None = None
        self.ended_at: float | None = None
        self.done = 0
        self.lines: list[bytes] = []
        self.counts = {"succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        self.results: bytes | None = None

    def tick(self) -> None:
        with self.lock:
            now = self.state.clock.now()
            if self.status == "in_progress":
                share = elapsed_share(now, self.created, self.duration)
                target = due(self.total, share)
                self._process(min(target, self.stop.at))
                if self.stop.reason == "cancel" and target >= self.stop.at:
                    self._begin_cancel(now)
                elif share >= 1.0:
                    self._finish(now, "expired" if self.stop.reason == "expire" else "")
            if self.status == "canceling" and self.cancel_due is not None and now >= self.cancel_due:
                self._finish(now, "canceled")

    def cancel(self) -> None:
        with self.lock:
            self.tick()
            if self.status == "in_progress":
                self._begin_cancel(self.state.clock.now())

    def _begin_cancel(self, now: float) -> None:
        self.status = "canceling"
        self.cancel_initiated_at = now
        self.cancel_due = now + PHASE_SHARE * self.duration

    def _finish(self, now: float, leftover: str) -> None:
        for i in range(self.done, self.total):
            self.counts[leftover] += 1
            self.lines.append(orjson.dumps({"custom_id": self.requests[i][0], "result": {"type": leftover}}))
        self.results = jsonl(shuffle(self.lines, self.faults.seed, self.id))
        self.lines = []
        self.status = "ended"
        self.ended_at = now

    def _process(self, target: int) -> None:
        rates = self.faults.batch_request_rates()
        for i in range(self.done, target):
            self._process_one(i, rates if any(rates.values()) else None)
        self.done = max(self.done, target)

    def _process_one(self, i: int, rates: dict[str, float] | None) -> None:
        custom_id, params = self.requests[i]
        attempt = self.attempts[i]
        key = body_digest(params).hex()
        damage = line_damage(self.faults, key, attempt)
        kind = None
        if rates is not None:
            kind = request_fault(self.faults, rates, key, attempt, key)
        result: JSON
        if kind is not None:
            limit = self.state.config.max_context_tokens
            _, error = anthropic_fault(kind, request_tokens(params), limit)
            result = {"type": "errored", "error": {"type": "error", "error": error}}
        else:
            try:
                message = complete(self.state, params, batch_id=self.id, custom_id=custom_id, bill=damage is None)
                result = {"type": "succeeded", "message": message}
            except ApiError as exc:
                result = {"type": "errored", "error": {"type": "error", "error": exc.body["error"]}}
        self.counts[result["type"]] += 1
        line = orjson.dumps({"custom_id": custom_id, "result": result})
        if damage == "malformed":
            self.lines.append(line[: len(line) // 2])
        elif damage is None:
            self.lines.append(line)

    def obj(self, base_url: str) -> JSON:
        ended = self.status == "ended"
        counts = dict(self.counts) if ended else dict.fromkeys(self.counts, 0)
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": self.status,
            "request_counts": {"processing": 0 if ended else self.total, **counts},
            "ended_at": rfc3339(self.ended_at) if self.ended_at is not None else None,
            "created_at": rfc3339(self.created),
            "expires_at": rfc3339(self.created + DAY),
            "archived_at": None,
            "cancel_initiated_at": (
                rfc3339(self.cancel_initiated_at) if self.cancel_initiated_at is not None else None
            ),
            "results_url": f"{base_url}/v1/messages/batches/{self.id}/results" if ended else None,
        }


class AnthropicBatches:
    def __init__(self, state: FakeState) -> None:
        self.state = state
        self._batches: dict[str, AnthropicBatch] = {}
        self._lock = threading.Lock()

    def create(self, body: JSON, size: int) -> AnthropicBatch:
        config = self.state.config
        if size > config.anthropic_max_bytes:
            raise anthropic_error(413, "request_too_large", "Request exceeds the maximum allowed number of bytes.")
        requests = check_requests(body, self.state)
        self._check_queue(len(requests))
        faults = config.faults
        if faults.insufficient_quota:
            raise anthropic_invalid(ANTHROPIC_CREDIT)
        # Attempts are counted per request body: clients may send a request under a new custom_id
        # each time (batchspec tags them per batch), and the body is what makes it the same request.
        seen: Counter[str] = Counter()
        keys = []
        for _, params in requests:
            digest = body_digest(params).hex()
            keys.append(f"{digest}#{seen[digest]}")  # identical requests in one batch stay distinct
            seen[digest] += 1
        if faults.fail_validation:
            # Checked against the would-be attempts so a re-sent batch can pass.
            tries = self.state.attempts.next_many("anthropic", ["create:" + k for k in keys])
            if not faults.retry_succeeds or min(tries) <= 1:
                raise anthropic_invalid(
                    "requests.0.params: Input validation failed (injected by FaultConfig.fail_validation)"
                )
        attempts = self.state.attempts.next_many("anthropic", keys)
        batch = AnthropicBatch(self.state, requests, attempts)
        with self._lock:
            self._batches[batch.id] = batch
        models = sorted({p["model"] for _, p in requests})
        self.state.ledger.add(
            "batch",
            provider="anthropic",
            batch_id=batch.id,
            model=models[0] if len(models) == 1 else models,
            metadata=None,
            custom_ids=[c for c, _ in requests],
            time=batch.created,
        )
        return batch

    def _check_queue(self, adding: int) -> None:
        """The organization's queue of processing batch requests: past its limit a create is a 429."""
        limit = self.state.config.anthropic_queued_requests
        if limit is None:
            return
        with self._lock:
            batches = list(self._batches.values())
        for batch in batches:
            batch.tick()
        processing = sum(b.total - b.done for b in batches if b.status != "ended")
        if processing + adding > limit:
            raise anthropic_error(
                429,
                "rate_limit_error",
                f"Number of batch requests in the processing queue would exceed your organization's limit of "
                f"{limit:,}. Please try again once some of your batches have ended.",
                headers={"retry-after": "60"},
            )

    def get(self, batch_id: str) -> AnthropicBatch:
        with self._lock:
            batch = self._batches.get(batch_id)
        if batch is None:
            raise anthropic_error(404, "not_found_error", f"Message batch {batch_id} not found.")
        batch.tick()
        return batch

    def delete(self, batch_id: str) -> JSON:
        batch = self.get(batch_id)
        if batch.status != "ended":
            raise anthropic_invalid(
                f"Message batch {batch_id} is still being processed and cannot be deleted; "
                "cancel it first and wait for it to end."
            )
        with self._lock:
            self._batches.pop(batch_id, None)
        return {"id": batch_id, "type": "message_batch_deleted"}

    def results(self, batch_id: str) -> bytes:
        batch = self.get(batch_id)
        if batch.results is None:
            raise anthropic_invalid(
                f"Message batch {batch_id} has not ended; results are available once its processing_status is 'ended'."
            )
        return batch.results

    def list(self, after_id: str | None, before_id: str | None, limit: int, base_url: str) -> JSON:
        with self._lock:
            batches = list(reversed(self._batches.values()))
        ids = [b.id for b in batches]
        if before_id is not None and before_id in ids:
            end = ids.index(before_id)
            start = max(0, end - limit)
            page, has_more = batches[start:end], start > 0
        else:
            start = ids.index(after_id) + 1 if after_id in ids else 0
            page, has_more = batches[start : start + limit], start + limit < len(batches)
        for batch in page:
            batch.tick()
        return {
            "data": [b.obj(base_url) for b in page],
            "has_more": has_more,
            "first_id": page[0].id if page else None,
            "last_id": page[-1].id if page else None,
        }
