"""Batch mode: submit, poll, collect, retry, with write-ahead records so a kill never double-submits.

Order of every submission: (1) intent + members + records marked in flight, one transaction;
(2) upload (its file id recorded); (3) create the batch; (4) its provider id recorded. A process
killed between (1) and (4) leaves an intent that the next run looks up at the provider before
anything is sent again.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import BinaryIO

from batchspec import adoption, deadline, interrupts
from batchspec.crashpoints import crash_point
from batchspec.errors import AuthError, ProviderError, StateError
from batchspec.fmt import count
from batchspec.outcomes import ERRORED, Outcome
from batchspec.plan import PAYLOAD_WRAPPER, limits_for
from batchspec.providers import BatchClient, fake, get_provider, provider_for
from batchspec.providers.base import BatchInfo, batch_payload
from batchspec.runner.finish import Finisher
from batchspec.runner.gates import HEADROOM, UNEXPLAINED_TOLERATED, Gate, Verdict, judge, queue_note
from batchspec.runner.progress import Progress, Stats
from batchspec.sources import display_path
from batchspec.spec.model import JobSpec, ModelSpec
from batchspec.state import batches as state_batches
from batchspec.state import queries, responses
from batchspec.state.batches import ABANDONED, BatchRow, Collected
from batchspec.state.records import sendable, set_meta
from batchspec.state.store import StateStore
from batchspec.state.values import number
from batchspec.wireid import job_tag, wire_id

log = logging.getLogger(__name__)
FIRST_POLL_SECONDS = 0.25  # polls start fast and double up to poll_interval: retrieving is free
POLL_FAILURES_TOLERATED = 5  # consecutive failed polls (or downloads) of one batch before the run stops
# An unconfirmed submission younger than this (plus time to take in its bytes) may still be being
# created at the provider: it is looked up again later, not released.
VALIDATING = "validating"  # OpenAI's first status: the input file is being checked
QUEUE_RETRY_SECONDS = 60.0  # a full queue with none of this job's batches in it: look again after
SETTLE_SECONDS = 3.0
SETTLE_BYTES_PER_SECOND = 10_000_000


@dataclass
class Engine:
    spec: JobSpec
    store: StateStore
    run_id: int
    progress: Progress
    clients: dict[str, BatchClient] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)  # consecutive failed checks, per batch
    gates: dict[str, Gate] = field(default_factory=dict)  # per model: may a new batch go out now
    expiry_warned: set[str] = field(default_factory=set)
    unconfirmed_told: set[str] = field(default_factory=set)
    waiting: bool = False  # the run waits for its batches (not --no-wait)
    past_deadline: bool = False  # execution.deadline passed: no new batch; the rest goes sync
    stop: threading.Event = field(default_factory=threading.Event)  # Ctrl-C or SIGTERM: end at the next step
    orphans: set[str] = field(default_factory=set)
    foreign: set[str] = field(default_factory=set)  # recorded as ours, but the provider says otherwise
    submitted: int = 0
    collected: int = 0

    @property
    def db(self) -> sqlite3.Connection:
        return self.store.db

    def __post_init__(self) -> None:
        if any(m.provider == "fake" for m in self.spec.models):  # its batches outlive this process
            remote = self.spec.remote_state
            home = remote.location.working_copy(self.spec.base_dir, self.spec.name) if remote else self.spec.state_path
            fake.keep_batches_in(fake.journal_path(home))

    @property
    def tag(self) -> str:
        return job_tag(self.spec.name)

    def flying(self) -> list[BatchRow]:
        """In-flight batches of this spec's models. A batch of a model the spec no longer names
        cannot be polled (its endpoint and key are unknown): it is reported once, then left alone."""
        labels = {m.label for m in self.spec.models}
        flying = []
        for batch in state_batches.in_flight(self.db):
            if batch.local_key in self.foreign:
                continue
            if batch.model in labels:
                flying.append(batch)
            elif batch.local_key not in self.orphans:
                self.orphans.add(batch.local_key)
                self.progress.event(
                    f"batch {batch.provider_batch_id} of model {batch.model}, no longer in the spec, is still in "
                    "flight: put the model back in the spec to collect (or cancel) it"
                )
        return flying

    def client(self, label: str) -> BatchClient:
        if label not in self.clients:
            model = self.spec.model(label)
            self.clients[label] = provider_for(model).batch_client(model, self.spec.name)
        return self.clients[label]

    def close(self) -> None:
        for client in self.clients.values():
            client.close()

    # -- resuming ---------------------------------------------------------------------------

    def recover_intents(self) -> int:
        """Settle submissions a killed run left unconfirmed, before anything new is sent. Returns how
        many stay unconfirmed: the provider may have created them, and cannot say yet."""
        unconfirmed = 0
        labels = {m.label for m in self.spec.models}
        for batch in state_batches.intents(self.db):
            if batch.model not in labels:
                state_batches.release(self.db, batch.local_key, ABANDONED, "its model is no longer in the spec")
                continue
            client = self.client(batch.model)
            known = state_batches.known_provider_ids(self.db)
            wires = state_batches.wire_ids(self.db, batch.local_key)
            lookup = client.find(batch.local_key, batch.created_at, batch.request_count, known, wires)
            if lookup.found is not None:
                state_batches.record_provider_state(self.db, batch.local_key, lookup.found)
                self.progress.event(
                    f"resumed batch {lookup.found.provider_batch_id} ({batch.model}), submitted by an interrupted run"
                )
            elif lookup.undecided or not _settled(batch):
                unconfirmed += 1
                self._say_unconfirmed(batch, lookup.undecided)
            else:
                if batch.input_file_id:
                    client.discard_upload(batch.input_file_id)
                state_batches.release(self.db, batch.local_key, ABANDONED, "interrupted before the provider had it")
        return unconfirmed

    def _say_unconfirmed(self, batch: BatchRow, undecided: int) -> None:
        if batch.local_key in self.unconfirmed_told:
            return
        self.unconfirmed_told.add(batch.local_key)
        why = (
            f"{count(undecided, 'batch')} of that size on the account {'is' if undecided == 1 else 'are'} still "
            "running, and which job sent a batch can only be read from its results"
            if undecided
            else "the provider may still be creating it"
        )
        self.progress.event(
            f"an interrupted run's submission of {count(batch.request_count, 'request')} ({batch.model}) is "
            f"unconfirmed: {why}; its requests wait until that is known, so they are never paid twice"
        )

    def adopt(self) -> int:
        """Adopt this job's batches the state does not know (see ``batchspec.adoption``); returns requests taken."""
        taken = 0
        for account, models in adoption.accounts(self.spec).items():
            meta_key = adoption.mark_key(account)
            since = number(self.store.meta(meta_key), f"table meta, {meta_key}") or 0.0
            known = state_batches.known_provider_ids(self.db)
            lookup = adoption.state_lookup(self.db, self.run_id)
            try:
                found = adoption.scan(self.client(models[0].label), self.spec.name, self.tag, since, known, lookup)
            except ProviderError as error:
                if error.status not in (404, 405):
                    raise
                log.info("%s has no batch list (%s): nothing to adopt", models[0].provider, error)
                continue  # a server without batches (an OpenAI-compatible one): no batch of ours there
            for batch in found.found:
                taken += self._adopt_one(batch, models)
            if found.undecided and not since:  # a state seeing the account for the first time
                self.progress.event(
                    f"{models[0].provider}: {count(found.undecided, 'batch')} on the account still running cannot be "
                    "attributed to a job until they end; if this job's state was lost, its requests in them are "
                    "paid again (keep the state remotely: see the README, In CI)"
                )
            set_meta(self.db, meta_key, repr(found.mark))
        return taken

    def _adopt_one(self, found: adoption.Found, models: list[ModelSpec]) -> int:
        info = found.info
        if not found.members:
            self.progress.event(
                f"batch {info.provider_batch_id} of this job holds {count(found.requests, 'request')} that are "
                "no longer this input's current ones: not adopted"
            )
            return 0
        label = max(found.members, key=lambda m: len(found.members[m]))
        model = self.spec.model(label)
        local_key = f"adopted-{info.provider_batch_id}"
        taken = state_batches.adopt(self.db, local_key, self.run_id, label, model.provider, info, found.members[label])
        self.progress.event(
            f"adopted batch {info.provider_batch_id} ({label}, {info.status}): {count(found.requests, 'request')} of "
            f"this job the state did not know, {taken:,} of them current and not yet answered"
        )
        return taken

    # -- the loop ----------------------------------------------------------------------------

    def run(self, *, wait: bool, submit: bool = True) -> None:
        """Submit, poll and collect until nothing is left (or, without ``wait``, as far as it goes
        now). Once execution.deadline passes, batches are cancelled and collected, nothing new is
        submitted, and the run returns with the rest pending, for the synchronous API."""
        self.waiting = wait
        first = min(FIRST_POLL_SECONDS, self.spec.execution.poll_interval)
        delay = first
        while not self.stop.is_set():
            self.store.checkpoint()
            unconfirmed = self.recover_intents() if state_batches.intents(self.db) else 0
            self._check_deadline()
            self.poll_all()
            submit = submit and not self.past_deadline
            submitted = self.submit_more() if submit else False
            if submitted:
                delay = first
            self.show()
            flying = self.flying()
            if not flying and not unconfirmed:
                if not submit or not self._pending():
                    return
                if not submitted:
                    now = time.monotonic()
                    held = [g.held_until for g in self.gates.values() if not g.stopped and g.held_until > now]
                    if not held:
                        raise StateError("records are pending but none can be submitted; the state is inconsistent")
                    if not wait:
                        return
                    self.stop.wait(min(held) - time.monotonic())
                continue
            if not wait and not self.past_deadline:  # past it, cancelled batches are waited for
                return
            self.stop.wait(self._until_deadline(delay))
            delay = min(delay * 2, self.spec.execution.poll_interval)

    def _until_deadline(self, delay: float) -> float:
        due = deadline.due_at(self.spec, self.store)
        return delay if due is None or self.past_deadline else max(min(delay, due - time.time()), 0.0)

    def _check_deadline(self) -> None:
        due = deadline.due_at(self.spec, self.store)
        if self.past_deadline or due is None or time.time() < due:
            return
        self.past_deadline = True
        flying = self.flying()
        self.progress.event(
            f"the deadline passed: cancelling {count(len(flying), 'batch')} in flight (what they finished is "
            "kept); the rest goes through the synchronous API"
        )
        for batch in flying:
            try:
                self._cancel(batch, forget_missing=False)
            except ProviderError as error:  # polled and collected as usual if it ends anyway
                self.progress.event(f"could not cancel batch {batch.provider_batch_id}: {error}")

    def _pending(self, label: str | None = None) -> int:
        """Records waiting to be sent: of one model, or of every model not stopped."""
        pending = queries.pending_by_model(self.db, self.run_id)
        if label is not None:
            return pending.get(label, 0)
        return sum(n for model, n in pending.items() if not self.gate(model).stopped)

    def _queue_room(self, model: ModelSpec, flying: list[BatchRow]) -> int | None:
        """Input tokens a new batch of ``model`` may hold under execution.max_enqueued_tokens."""
        limit = self.spec.execution.enqueued_token_limit(model)
        if limit is None:
            return None
        enqueued = queries.in_flight_input_tokens(self.db).get(model.label, (0, 0))[1] if flying else 0
        return max(int(limit * HEADROOM) - enqueued, 0)

    def show(self) -> None:
        counts = queries.record_counts(self.db, self.run_id)
        flying = self.flying()
        self.progress.update(
            Stats(
                in_flight_batches=len(flying),
                collected_batches=self.collected,
                done=counts["done"],
                failed=counts["failed"],
                pending=counts["pending"],
                in_flight_requests=counts["submitted"],
                notes=tuple(f"{label}: {g.waiting}" for label, g in self.gates.items() if g.waiting),
            )
        )

    # -- submitting --------------------------------------------------------------------------

    def gate(self, label: str) -> Gate:
        return self.gates.setdefault(label, Gate())

    @property
    def stopped(self) -> dict[str, str]:
        """Models whose batches the provider refused for a reason that would repeat: label → why."""
        return {label: gate.stopped for label, gate in self.gates.items() if gate.stopped}

    def submit_more(self) -> bool:
        """Submit batches until each model has max_concurrent_batches in flight (the limit applies per
        model, so a fan-out's models run side by side) or has nothing left to send now."""
        any_submitted = False
        while not self.stop.is_set():
            if not any([self._submit_one(model) for model in self.spec.models]):
                break
            any_submitted = True
        return any_submitted

    def _submit_one(self, model: ModelSpec) -> bool:
        gate = self.gate(model.label)
        flying = [b for b in self.flying() if b.model == model.label]
        if len(flying) >= self.spec.execution.max_concurrent_batches or not gate.open():
            return False
        if self.waiting and flying and all(b.status == VALIDATING for b in flying):
            # A run that waits anyway holds the rest until the provider accepts a first batch: a
            # model it refuses (misspelt, say) then costs one upload, not max_concurrent_batches.
            return False
        room = self._queue_room(model, flying)
        provider = provider_for(model)
        limits = limits_for(self.spec, model)
        items: list[tuple[str, str]] = []
        size = PAYLOAD_WRAPPER
        tokens = 0
        once = self.spec.cache.responses

        def entries() -> Iterator[bytes]:
            # Consumed by the payload writer as it goes: only one entry is held at a time.
            nonlocal size, tokens
            for request in sendable(self.db, model.label, self.run_id, limits.max_requests, once=once):
                wire = wire_id(self.tag, request.custom_id, request.request_hash)
                entry = provider.batch_entry(wire, request.body)
                if items and size + len(entry) + 2 > limits.max_bytes:
                    return
                if room is not None and tokens + request.input_tokens > room and (items or flying):
                    return  # the rest waits for queue room (alone, a request goes out even if it is too big)
                items.append((request.custom_id, wire))
                size += len(entry) + 2
                tokens += request.input_tokens
                yield entry

        payload = batch_payload(provider, entries())
        if not items:
            payload.close()
            if room is not None and self._pending(model.label):
                limit = self.spec.execution.enqueued_token_limit(model) or 0
                gate.waiting = queue_note(limit - room, limit)
            return False
        gate.waiting = None
        local_key = f"{self.spec.name}-r{self.run_id}-{uuid.uuid4().hex[:12]}"
        with payload:
            self._submit(model, local_key, payload, items, size)
        return True

    def _submit(
        self,
        model: ModelSpec,
        local_key: str,
        payload: BinaryIO,
        items: list[tuple[str, str]],
        size: int,
    ) -> None:
        state_batches.record_intent(self.db, local_key, self.run_id, model.label, model.provider, items, size)
        crash_point("after_intent")
        self.store.checkpoint(force=True)  # write-ahead: the intent is durable (also remotely) before the call
        client = self.client(model.label)

        def uploaded(file_id: str) -> None:
            state_batches.record_upload(self.db, local_key, file_id)
            crash_point("after_upload")

        interrupts.sending()
        try:
            info = client.submit(local_key, payload, len(items), uploaded)
        except ProviderError as error:
            if not self._refused(model, local_key, error):
                raise  # the answer was lost and the batch may exist: the intent stays for lookup
            return
        crash_point("after_create")
        state_batches.record_provider_state(self.db, local_key, info)
        crash_point("after_submit")
        deadline.note_submission(self.spec, self.store)
        self.submitted += 1
        self.progress.event(f"submitted batch {info.provider_batch_id} ({model.label}, {count(len(items), 'request')})")
        self.show()

    def _refused(self, model: ModelSpec, local_key: str, error: ProviderError) -> bool:
        """A create the provider refused outright (nothing was created): its records wait. A full
        queue (429) is waited out; another 4xx would repeat, so the model sends nothing more in
        this run. False for anything else (a lost answer: the batch may exist)."""
        status = error.status
        if status is None or not 400 <= status < 500 or status in (408, 409) or isinstance(error, AuthError):
            return False
        if status == 429 and "quota" in str(error):
            return False  # no credit left: stop the run
        state_batches.release(self.db, local_key, state_batches.REJECTED, str(error))
        gate = self.gate(model.label)
        if status == 429:
            self._wait_for_queue(model.label, f"the provider's batch queue is full ({error})")
        else:
            gate.stopped = str(error)
            self.progress.event(f"{error}; no more batches of {model.label} are sent in this run")
        return True

    def _wait_for_queue(self, label: str, why: str) -> None:
        """Hold the model until one of its batches ends, or (with none of its own in flight: the
        queue is full of other jobs' work) for a while."""
        gate = self.gate(label)
        if any(b.model == label for b in self.flying()):
            gate.queue_full = True
        else:
            gate.hold(min(self.spec.execution.poll_interval, QUEUE_RETRY_SECONDS))
        gate.waiting = "waiting for queue room"
        self.progress.event(f"{why}: waiting for queue room before the next batch of {label}")

    # -- polling and collecting --------------------------------------------------------------

    def poll_all(self) -> None:
        for batch in self.flying():
            info = self._poll(batch)
            if info is not None and info.ended:
                self.collect(batch, info)

    def _poll(self, batch: BatchRow) -> BatchInfo | None:
        client = self.client(batch.model)
        assert batch.provider_batch_id is not None
        try:
            info = client.retrieve(batch.provider_batch_id)
            crash_point("while_polling")
        except ProviderError as error:
            if error.status == 404 and get_provider(batch.provider).ephemeral:
                state_batches.release(self.db, batch.local_key, ABANDONED, "the in-process fake server was restarted")
                return None
            if error.status == 404:
                raise ProviderError(
                    f"{error} — if batch {batch.provider_batch_id} was deleted at the provider, "
                    f"`batchspec cancel {display_path(self.spec.spec_path)} --forget-missing` sends its requests again "
                    "(check first: if it exists under another key, they would be paid twice)",
                    404,
                ) from None
            self._tolerate(batch, error, "check")
            return None
        self.failures.pop(batch.local_key, None)
        log.debug("batch %s: %s %s", info.provider_batch_id, info.status, info.counts)
        self._watch_expiry(batch, info)
        if info.status != batch.status or info.counts != batch.counts:
            state_batches.record_provider_state(self.db, batch.local_key, info)
        return info

    def _tolerate(self, batch: BatchRow, error: ProviderError, what: str) -> None:
        """A passing failure to check or download a batch: retried next round, up to a limit."""
        failures = self.failures.get(batch.local_key, 0) + 1
        self.failures[batch.local_key] = failures
        if failures >= POLL_FAILURES_TOLERATED or error.status in (401, 403):
            raise error
        self.progress.event(f"could not {what} batch {batch.provider_batch_id}: {error} (will retry)")

    def _watch_expiry(self, batch: BatchRow, info: BatchInfo) -> None:
        expires = info.timestamps.get("expires_at")
        if info.ended or not expires or batch.local_key in self.expiry_warned:
            return
        if datetime.fromisoformat(expires.replace("Z", "+00:00")) < datetime.now(timezone.utc):
            self.expiry_warned.add(batch.local_key)
            self.progress.event(
                f"batch {info.provider_batch_id} is past its expiry ({expires}) and still "
                f"{info.status}: the provider should end it soon; what it did not run is re-sent"
            )

    def collect(self, batch: BatchRow, info: BatchInfo) -> Collected | None:
        batch = state_batches.batches(self.db, "local_key = ?", (batch.local_key,))[0]
        gate = self.gate(batch.model)
        if info.failed and not info.output_file_id and not info.error_file_id:
            summary = self._failed(batch, info)
            message = _failed_message(info, batch, summary, gate)
        else:
            finish = Finisher(self.spec, self.spec.model(batch.model), batch=True)
            outcomes = (finish(o) for o in self.client(batch.model).outcomes(info))
            never_ran = info.status in ("cancelled", "canceled", "expired")
            max_attempts = self.spec.execution.max_attempts
            try:
                summary = state_batches.collect(self.db, batch, outcomes, max_attempts, never_ran=never_ran)
            except ProviderError as error:  # the download broke: the transaction rolled back
                self._tolerate(batch, error, "download the results of")
                return None
            gate.unexplained = 0
            gate.batch_ended()  # it held part of the queue: there is room again
            message = _collected_message(info, batch, summary)
        self.collected += 1
        self.progress.event(message)
        self.share_and_reuse()
        self.show()  # the live line agrees with the line just printed
        return summary

    def _failed(self, batch: BatchRow, info: BatchInfo) -> Collected:
        """A batch the provider failed as a whole (see ``runner.gates``). None of its requests ran:
        they go back to pending without using attempts, except requests the provider blamed."""
        verdict = judge(info)
        gate = self.gate(batch.model)
        max_attempts = self.spec.execution.max_attempts
        if verdict.kind == "lines":
            blamed = self._blamed(batch, info, verdict)
            summary = state_batches.collect(
                self.db, batch, blamed, max_attempts, never_ran=True, reason=verdict.message
            )
            gate.unexplained = 0
            return summary
        summary = state_batches.fail_batch(self.db, batch, verdict.message, max_attempts)
        if verdict.kind == "queue":
            self._wait_for_queue(batch.model, f"batch {info.provider_batch_id} was refused: {verdict.message}")
        elif verdict.kind == "batch":
            gate.stopped = f"{batch.provider}: batch {info.provider_batch_id} failed: {verdict.message}"
        else:
            gate.unexplained += 1
            if gate.unexplained >= UNEXPLAINED_TOLERATED:
                gate.stopped = f"{batch.provider}: {gate.unexplained} batches of {batch.model} in a row failed"
            gate.hold(min(self.spec.execution.poll_interval, 2.0**gate.unexplained))
        return summary

    def _blamed(self, batch: BatchRow, info: BatchInfo, verdict: Verdict) -> list[Outcome]:
        """The requests the provider blamed (by input line), as permanent errors."""
        ids = self.client(batch.model).input_ids(info)
        if ids is None:
            return []
        with contextlib.closing(ids):
            wires = dict(enumerate(ids, 1))
        return [
            Outcome(wires[line], ERRORED, error_code=error.code, error_message=error.message, retryable=False)
            for line, error in verdict.blamed.items()
            if line in wires
        ]

    def share_and_reuse(self) -> int:
        """With the response cache on: publish new answers, and answer identical pending requests."""
        if not self.spec.cache.responses:
            return 0
        responses.share_results(self.db, self.spec.name)
        return responses.answer_from_cache(self.db, self.run_id)

    # -- cancelling --------------------------------------------------------------------------

    def request_cancel(self, batch: BatchRow) -> BatchInfo | None:
        """Ask the provider to cancel one batch (one that already ended is left as it is); returns what
        the provider says of it. Only a batch proven to be this job's is cancelled: where the provider
        keeps metadata, it must name this job (None, and the batch is left alone, when it does not)."""
        assert batch.provider_batch_id is not None
        client = self.client(batch.model)
        info = client.retrieve(batch.provider_batch_id)
        if info.job is not None and info.job != self.spec.name:
            self.progress.event(
                f"not cancelling batch {batch.provider_batch_id}: the provider says job '{info.job}' sent it"
            )
            self.foreign.add(batch.local_key)  # and not waited for
            return None
        return info if info.ended else client.cancel(batch.provider_batch_id)

    def _cancel(self, batch: BatchRow, forget_missing: bool) -> None:
        """Cancel one batch and record what the provider says; it is collected when it ends."""
        assert batch.provider_batch_id is not None
        try:
            info = self.request_cancel(batch)
        except ProviderError as error:
            if error.status == 404 and forget_missing:
                state_batches.release(self.db, batch.local_key, "forgotten", "not found at the provider")
                self.progress.event(
                    f"forgot batch {batch.provider_batch_id}: the provider does not know it; "
                    "its requests will be sent again"
                )
                return
            if error.status is None or error.status in (401, 403, 404):
                raise
            info = self.client(batch.model).retrieve(batch.provider_batch_id)  # it ended meanwhile: collect it
        if info is None:
            return
        state_batches.record_provider_state(self.db, batch.local_key, info)
        verb = "collecting" if info.ended else "cancelling"
        self.progress.event(f"{verb} batch {batch.provider_batch_id} ({batch.model}, {info.status})")

    def cancel_all(self, *, timeout: float = 600.0, forget_missing: bool = False) -> int:
        """Cancel every in-flight batch, collect what they finished; the rest waits for a run.
        ``forget_missing``: a batch the provider no longer knows (404) is released to be re-sent."""
        flying = self.flying()
        for batch in flying:
            self._cancel(batch, forget_missing)
        deadline = time.monotonic() + timeout
        delay = FIRST_POLL_SECONDS
        while self.flying() and time.monotonic() < deadline:
            self.poll_all()
            if self.flying():
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
        return len(flying)


def _settled(batch: BatchRow) -> bool:
    """Whether an unconfirmed submission is old enough that a batch it created would be listed."""
    age = datetime.now(timezone.utc) - datetime.fromisoformat(batch.created_at.replace("Z", "+00:00"))
    return age.total_seconds() >= SETTLE_SECONDS + batch.bytes / SETTLE_BYTES_PER_SECOND


def _failed_message(info: BatchInfo, batch: BatchRow, summary: Collected, gate: Gate) -> str:
    reason = judge(info).message
    text = f"batch {info.provider_batch_id} ({batch.model}) failed at the provider: {reason}"
    if summary.failed_for_good:
        text += f"; {summary.failed_for_good:,} requests it blamed are errors"
    text += f"; {summary.unprocessed:,} requests were not run (no attempt used)"
    if gate.stopped:
        return text + f": no more batches of {batch.model} are sent in this run"
    if gate.waiting:
        return text + ": they are sent again when the queue has room"
    return text + ": they are sent again"


def _collected_message(info: BatchInfo, batch: BatchRow, summary: Collected) -> str:
    parts = [f"{summary.succeeded:,} succeeded"]
    if summary.errored:
        parts.append(f"{summary.errored:,} errored ({summary.failed_for_good:,} for good)")
    if summary.unprocessed:
        parts.append(f"{summary.unprocessed:,} not run ({info.status}), to re-send")
    if summary.missing:
        parts.append(f"{summary.missing:,} missing from the results, to re-send")
    if summary.malformed:
        parts.append(f"{summary.malformed:,} unreadable result lines")
    return f"collected batch {info.provider_batch_id} ({batch.model}, {info.status}): " + ", ".join(parts)
