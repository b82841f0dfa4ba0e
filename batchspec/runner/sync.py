"""Sync mode: the same compiled requests through the synchronous APIs, as fast as the limits allow.

Per model, a producer streams pending records from the state (in input order, a chunk at a time)
into a bounded queue, and ``execution.concurrency`` workers send them through the async SDK
client under a shared ``Limiter``. Each answer is stored in its own transaction the moment it
arrives. Ctrl-C once: no new requests, the ones in flight finish. Twice: they are abandoned (and
re-sent by the next run); the state is consistent either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import sqlite3
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson

from batchspec.crashpoints import crash_point
from batchspec.errors import BatchspecError
from batchspec.interrupts import noted, sending
from batchspec.outcomes import SUCCEEDED
from batchspec.providers import provider_for
from batchspec.providers.base import SyncClient
from batchspec.runner.finish import Finisher
from batchspec.runner.progress import Progress, Stats
from batchspec.runner.ratelimit import Limiter
from batchspec.spec.model import JobSpec, ModelSpec
from batchspec.spec.units import format_duration
from batchspec.state import queries
from batchspec.state.outcomes import Place, store_sync_outcome
from batchspec.state.records import Sendable, sendable
from batchspec.state.store import StateStore
from batchspec.tokens import output_token_budget

log = logging.getLogger(__name__)
CHUNK = 500  # pending records read from the state at a time
MAX_RATE_LIMITED = 12  # rate-limit answers one request may get before it counts as an attempt
# A model's provider is unreachable when this many of its requests in a row got no answer at all
# (connection trouble, timeouts) over at least execution.unreachable_after: a brief outage is
# waited out.
UNREACHABLE_STREAK = 4
WINDOW_SECONDS = 60.0  # for the requests/s and tokens/min shown
SHOW_SECONDS = 0.25  # how often the progress line is redrawn
STOP_GRACE_SECONDS = 30.0  # after Ctrl-C or SIGTERM, how long the answers in flight are waited for


@dataclass
class Meter:
    """Throughput over the last minute, for the progress line."""

    events: deque[tuple[float, int]] = field(default_factory=deque)
    started: float = field(default_factory=time.monotonic)
    rate_limited: int = 0
    in_flight: int = 0

    def add(self, tokens: int) -> None:
        now = time.monotonic()
        self.events.append((now, tokens))
        while self.events and self.events[0][0] < now - WINDOW_SECONDS:
            self.events.popleft()

    def rates(self) -> tuple[float, float]:
        span = min(WINDOW_SECONDS, max(time.monotonic() - self.started, 1e-3))
        return len(self.events) / span, sum(t for _, t in self.events) * 60.0 / span


class SyncEngine:
    def __init__(self, spec: JobSpec, store: StateStore, run_id: int, progress: Progress) -> None:
        self.spec = spec
        self.store = store
        self.run_id = run_id
        self.progress = progress
        self.meter = Meter()
        self.stopping = asyncio.Event()
        self.fatal: BaseException | None = None  # what stops the run: raised once the workers are done
        self.interrupted = False  # stopped by Ctrl-C or SIGTERM
        self.submitted = 0
        self.counts = queries.record_counts(store.db, run_id)
        self.shown = 0.0
        self.limiters: list[Limiter] = []  # one per model

    @property
    def paused_seconds(self) -> float:
        """How long requests were held by rate-limit pauses (429s, exhausted buckets), in all."""
        return sum(limiter.paused_seconds for limiter in self.limiters)

    @property
    def db(self) -> sqlite3.Connection:
        return self.store.db

    def fail(self, error: BaseException) -> None:
        """Stop sending: nothing more is sent once the run cannot go on (the first reason is kept)."""
        self.fatal = self.fatal or error
        self.stopping.set()

    def run(self) -> None:
        asyncio.run(self._main())
        if self.fatal is not None:
            raise self.fatal

    async def _main(self) -> None:
        tasks = [asyncio.create_task(self._model(model)) for model in self.spec.models]
        loop = asyncio.get_running_loop()
        interrupts = 0

        def abandon() -> None:
            for task in tasks:
                task.cancel()

        def interrupted() -> None:
            nonlocal interrupts
            interrupts += 1
            noted()
            self.interrupted = True
            self.stopping.set()
            if interrupts == 1:
                self.progress.event(
                    f"stopping: no new requests; the ones in flight are waited for (at most {STOP_GRACE_SECONDS:.0f}s; "
                    "Ctrl-C again to abandon them)"
                )
                loop.call_later(STOP_GRACE_SECONDS, abandon)
            else:
                abandon()

        # SIGTERM (CI runners, containers) stops like Ctrl-C: the answers in flight are paid for, so kept.
        stop_signals = (signal.SIGINT, signal.SIGTERM)
        previous = {signum: signal.getsignal(signum) for signum in stop_signals}
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread, or Windows
            for signum in stop_signals:
                loop.add_signal_handler(signum, interrupted)
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*tasks)
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                for signum in stop_signals:
                    loop.remove_signal_handler(signum)
                    signal.signal(signum, previous[signum])  # asyncio leaves the OS default behind

    async def _model(self, model: ModelSpec) -> None:
        client = provider_for(model).sync_client(model, timeout=self.spec.execution.request_timeout_for(model))
        limits = self.spec.execution.rate_limits
        limiter = Limiter(limits.requests_per_minute, limits.tokens_per_minute)
        self.limiters.append(limiter)
        queue: asyncio.Queue[Sendable | None] = asyncio.Queue(maxsize=self.spec.execution.concurrency * 2)
        worker = _Worker(self, model, client, limiter)
        workers = [asyncio.create_task(worker.loop(queue)) for _ in range(self.spec.execution.concurrency)]
        try:
            await self._produce(model, queue)
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
            await client.close()

    async def _produce(self, model: ModelSpec, queue: asyncio.Queue[Sendable | None]) -> None:
        after = 0
        while not self.stopping.is_set():
            chunk = list(
                sendable(self.db, model.label, self.run_id, CHUNK, after_ordinal=after, once=self.spec.cache.responses)
            )
            if not chunk:
                return
            for item in chunk:
                if self.stopping.is_set():
                    return
                await queue.put(item)
            after = chunk[-1].ordinal

    def settled(self, succeeded: bool, final: bool) -> None:
        """Count an answer that ended a record (kept in memory: no query per answer)."""
        if succeeded or final:
            self.counts["pending"] -= 1
            self.counts["done" if succeeded else "failed"] += 1
        now = time.monotonic()
        if now - self.shown >= SHOW_SECONDS:
            self.shown = now
            self.show()

    def show(self) -> None:
        counts = self.counts
        per_second, per_minute = self.meter.rates()
        limits = self.spec.execution.rate_limits
        note = f" of {limits.tokens_per_minute:,}" if limits.tokens_per_minute else ""
        remaining = counts["pending"]
        notes: list[str] = []
        if self.meter.rate_limited:
            notes.append(f"{self.meter.rate_limited:,} × rate limited, paused {format_duration(self.paused_seconds)}")
        pause = max((limiter.paused_for() for limiter in self.limiters), default=0.0)
        if pause > 0:
            notes.append(f"waiting {format_duration(pause)} (rate limit)")
        self.progress.update(
            Stats(
                done=counts["done"],
                failed=counts["failed"],
                pending=max(remaining - self.meter.in_flight, 0),
                in_flight_requests=self.meter.in_flight,
                requests_per_second=per_second,
                tokens_per_minute=per_minute,
                limit_note=note,
                eta_seconds=remaining / per_second if per_second > 0 else None,
                notes=tuple(notes),
            )
        )


class Silence:
    """Whether a model's provider has stopped answering: when its requests get no answer at all."""

    def __init__(self, patience: float) -> None:
        self.patience = patience  # seconds of silence before the provider counts as unreachable
        self.streak = 0  # requests in a row that got no answer
        self.last_answer = time.monotonic()  # when a request last got any answer (or the start)

    def answered(self) -> None:
        self.streak = 0
        self.last_answer = time.monotonic()

    def unanswered(self, sent_at: float) -> bool:
        """Count a request sent at ``sent_at`` that got no answer. True when nothing has answered
        since it was sent (the provider's trouble); False when other requests were answered
        meanwhile (this request's own trouble: a retry costs it an attempt)."""
        self.streak += 1
        return self.last_answer <= sent_at

    def unreachable(self) -> bool:
        return self.streak >= UNREACHABLE_STREAK and time.monotonic() - self.last_answer >= self.patience


class _Worker:
    """Sends one request at a time until the queue says stop; retries in place with backoff."""

    def __init__(self, engine: SyncEngine, model: ModelSpec, client: SyncClient, limiter: Limiter) -> None:
        self.engine = engine
        self.model = model
        self.client = client
        self.limiter = limiter
        self.finish = Finisher(engine.spec, model, batch=False)
        self.place = Place(model.label, f"sync-r{engine.run_id}", in_batch=False)
        self.silence = Silence(engine.spec.execution.unreachable_after)  # shared by this model's workers
        self.budget = output_token_budget(model.params) or 0

    async def loop(self, queue: asyncio.Queue[Sendable | None]) -> None:
        """Handle requests until the producer says stop; after a failure (the state cannot be
        written: a full disk, say) the queue is still drained, so the producer never blocks."""
        while (item := await queue.get()) is not None:
            if self.engine.stopping.is_set():
                continue
            try:
                await self.handle(item)
            except (BatchspecError, sqlite3.Error, OSError) as error:
                self.engine.fail(error)

    async def handle(self, item: Sendable) -> None:
        body: dict[str, Any] = orjson.loads(item.body)
        estimate = item.input_tokens + self.budget
        rate_limited = unanswered = 0
        attempt = 0
        while not self.engine.stopping.is_set():
            await self.limiter.acquire(estimate)
            if self.engine.stopping.is_set():
                return
            self.engine.meter.in_flight += 1
            sending()
            sent_at = time.monotonic()
            try:
                answer = await self.client.send(item.custom_id, body)
            finally:
                self.engine.meter.in_flight -= 1
            self.limiter.observe(answer.headers)
            if answer.unreachable is None:
                self.silence.answered()
            elif self.silence.unanswered(sent_at):
                # Other requests of this model go unanswered too: the provider's trouble, not this
                # request's, so it costs no attempt; if it lasts, the run stops with exit 3 and the
                # records stay pending for the next run.
                if self.silence.unreachable():
                    self.engine.fatal = self.engine.fatal or answer.unreachable
                    self.engine.stopping.set()
                    return
                self.limiter.settle(estimate, 0)  # no answer used no tokens
                unanswered += 1
                await asyncio.sleep(min(30.0, 0.5 * 2**unanswered) * random.uniform(0.5, 1.0))
                continue
            if answer.fatal is not None:
                self.engine.fatal = self.engine.fatal or answer.fatal
                self.engine.stopping.set()
                return
            if answer.rate_limited:
                # Everyone slows down, every time; only after many refusals does it cost an attempt.
                rate_limited += 1
                self.engine.meter.rate_limited += 1
                self.limiter.settle(estimate, 0)  # a refused request used no tokens
                pause = self.limiter.rate_limited(answer.retry_after)
                log.info("rate limited (%s); every request waits %.2fs", answer.outcome.error_code, pause)
                if rate_limited < MAX_RATE_LIMITED:
                    continue
            outcome = self.finish(answer.outcome)
            assert outcome is not None
            used = outcome.usage.input_tokens + outcome.usage.output_tokens
            self.limiter.settle(estimate, used)
            self.engine.meter.add(used)
            if outcome.kind == SUCCEEDED:
                self.limiter.succeeded()
            final = store_sync_outcome(
                self.engine.db, self.place, outcome, item.request_hash, self.engine.spec.execution.max_attempts
            )
            crash_point("after_sync_answer")
            self.engine.store.checkpoint()
            self.engine.submitted += 1
            self.engine.settled(outcome.kind == SUCCEEDED, final)
            if outcome.kind == SUCCEEDED or final or not outcome.retryable:
                return
            attempt += 1
            await asyncio.sleep(min(30.0, 0.5 * 2**attempt) * random.uniform(0.5, 1.0))
