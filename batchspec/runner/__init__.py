"""`run`: plan, take the plan into the state, execute (batch or sync), write the sinks, summarise."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from batchspec import deadline
from batchspec.crashpoints import crash_point
from batchspec.errors import ExitCode, Interrupted
from batchspec.plan import ModelPlan, build_plan
from batchspec.runner.batch import Engine
from batchspec.runner.budget import check_budget, estimated_cost
from batchspec.runner.progress import Progress
from batchspec.runner.stopping import stop_requests
from batchspec.runner.sync import SyncEngine
from batchspec.sinks import write_outputs, write_outputs_if_stale
from batchspec.sources import source_for
from batchspec.spec.model import JobSpec
from batchspec.state import batches as state_batches
from batchspec.state import queries, responses
from batchspec.state.access import open_locked
from batchspec.state.records import end_run, merge_plan, retry_failed, set_meta, start_run
from batchspec.state.store import StateStore


@dataclass(frozen=True)
class RunOptions:
    wait: bool = True  # False: submit, collect what is finished, and return (exit 75 if work is in flight)
    retry_failed: bool = False  # give records that failed for good a fresh set of attempts
    mode: str | None = None  # overrides execution.mode
    quiet: bool = False


@dataclass
class RunSummary:
    job: str
    run_id: int
    mode: str
    records: int
    done: int
    failed: int
    pending: int
    in_flight: int
    batches_in_flight: list[str] = field(default_factory=list)
    batches_submitted: int = 0
    requests_sent: int = 0  # sync mode
    unchanged: bool = False  # nothing changed since the last run: nothing was planned or sent
    interrupted: bool = False  # stopped by Ctrl-C or SIGTERM
    stopped: dict[str, str] = field(default_factory=dict)  # models the provider refused: label → why
    routes: dict[str, dict[str, Any]] = field(default_factory=dict)  # batch | sync → records and cost this run
    rate_limited: int = 0  # sync mode: answers that were rate limited (and retried)
    paused_seconds: float = 0.0  # sync mode: how long every request was held by rate-limit pauses
    estimated_cost_usd: float | None = None  # what plan expected this run's work to cost
    run_usage: dict[str, Any] = field(default_factory=dict)  # what this run's work was billed
    results_written: int = 0
    errors_written: int = 0
    usage: dict[str, Any] = field(default_factory=dict)
    exit_code: int = 0
    state_uploads: int = 0  # remote state: uploads of the state this run (its lock's heartbeats aside)
    state_uploaded_bytes: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def run_job(spec: JobSpec, options: RunOptions | None = None) -> RunSummary:
    """Run a job to completion (or, without waiting, as far as it goes now). Safe to repeat."""
    options = options or RunOptions()
    mode = options.mode or spec.execution.mode
    progress = Progress(quiet=options.quiet)
    store = open_locked(spec)
    assert store is not None
    remote = store.remote
    try:
        summary = _run(spec, store, mode, progress, options)
    finally:
        progress.close()
        store.close()  # a remote state's last upload, and its lock released
    if remote is not None:
        summary.state_uploads, summary.state_uploaded_bytes = remote.uploads, remote.uploaded_bytes
    return summary


def _run(spec: JobSpec, store: StateStore, mode: str, progress: Progress, options: RunOptions) -> RunSummary:
    fingerprint = spec.fingerprint + source_for(spec).fingerprint()
    previous = None if options.retry_failed else _settled_run(store, fingerprint)
    if previous is not None:
        return _unchanged(spec, store, previous, mode)
    run_id = start_run(store.db, "run", mode)
    records, planned = _take_plan(spec, store, run_id, fingerprint, options)
    done = _execute(spec, store, run_id, mode, progress, options, planned)
    try:
        return _finish(spec, store, run_id, mode, records, planned, done)
    except KeyboardInterrupt:
        raise Interrupted(
            "interrupted while writing the outputs; the state holds every answer: run again to write them",
            ExitCode.IN_FLIGHT,
        ) from None


def _finish(
    spec: JobSpec, store: StateStore, run_id: int, mode: str, records: int, planned: list[ModelPlan], done: Executed
) -> RunSummary:
    """Write the outputs from the state and record the run's summary."""
    if spec.cache.responses:
        responses.share_results(store.db, spec.name)
    store.checkpoint(force=True)  # the answers are durable where the state lives before any output changes
    crash_point("before_sinks")
    written = write_outputs(spec, store, run_id)
    summary = _summarise(spec, store, run_id, mode, records, done.submitted)
    summary.requests_sent = done.sent
    summary.estimated_cost_usd = estimated_cost(planned, mode)
    summary.run_usage = queries.usage_totals(store.db, run_id)
    summary.results_written, summary.errors_written = written.results, written.errors
    summary.interrupted = done.interrupted
    summary.stopped = done.stopped
    summary.routes = queries.routes(store.db, run_id)
    summary.rate_limited, summary.paused_seconds = done.rate_limited, round(done.paused_seconds, 3)
    if not summary.pending and not summary.in_flight:
        deadline.settle(store)
    if done.stopped:
        summary.exit_code = ExitCode.PROVIDER  # the cause must be fixed before a rerun can help
    if done.interrupted:  # 130 only while nothing was sent and nothing is in flight
        sent = done.submitted or done.sent or summary.in_flight
        summary.exit_code = ExitCode.IN_FLIGHT if sent else ExitCode.INTERRUPTED
    end_run(store.db, run_id, summary.exit_code, records, summary.to_json())
    return summary


def _take_plan(
    spec: JobSpec, store: StateStore, run_id: int, fingerprint: str, options: RunOptions
) -> tuple[int, list[ModelPlan]]:
    """Plan, take the plan into the state, and answer what the response cache already knows."""
    with build_plan(spec, keep_bodies=True) as plan:
        models = {m.label: (m.provider, m.name) for m in spec.models}
        merge_plan(store.db, plan.staging, run_id, models)
        set_meta(store.db, "planned_fingerprint", fingerprint)
        records, planned = plan.records, plan.models
    if options.retry_failed:
        retry_failed(store.db, run_id)
    if spec.cache.responses:
        responses.attach(store.db, responses.cache_path(spec.cache.responses_path))
        responses.share_results(store.db, spec.name)
        responses.answer_from_cache(store.db, run_id)
    return records, planned


@dataclass
class Executed:
    submitted: int = 0  # batches
    sent: int = 0  # sync requests
    interrupted: bool = False  # Ctrl-C or SIGTERM
    stopped: dict[str, str] = field(default_factory=dict)  # models the provider refused: label → why
    rate_limited: int = 0  # sync answers that were 429 / overloaded
    paused_seconds: float = 0.0  # how long sync requests were held by rate-limit pauses


def _execute(
    spec: JobSpec,
    store: StateStore,
    run_id: int,
    mode: str,
    progress: Progress,
    options: RunOptions,
    planned: list[ModelPlan],
) -> Executed:
    """Send and collect, until done or interrupted."""
    engine = Engine(spec, store, run_id, progress)
    done = Executed()

    def first_signal() -> None:
        progress.event("stopping at the next step (batches keep running at the provider); again to abandon at once")

    try:
        with stop_requests(engine.stop, first_signal):
            engine.recover_intents()  # in either mode: batches an interrupted run left behind
            check_budget(spec, store.db, planned, mode)
            if mode == "batch" and queries.record_counts(store.db, run_id)["pending"] and not engine.stop.is_set():
                engine.adopt()  # this job's batches the state does not know: never paid for twice
            if mode == "sync" and not engine.stop.is_set():
                done.interrupted = _run_sync(spec, store, run_id, progress, engine, options, done)
            elif not engine.stop.is_set():
                engine.run(wait=options.wait)
                if engine.past_deadline and queries.record_counts(store.db, run_id)["pending"]:
                    done.interrupted = _run_sync(spec, store, run_id, progress, engine, options, done)
    except KeyboardInterrupt:
        engine.stop.set()
    finally:
        done.submitted = engine.submitted
        done.stopped = engine.stopped
        done.interrupted = done.interrupted or engine.stop.is_set()
        engine.close()
        progress.close()
    return done


def _settled_run(store: StateStore, fingerprint: str) -> dict[str, Any] | None:
    """The last run, when its plan still holds (same spec, same input files) and it left nothing
    pending or in flight: then a rerun has nothing to plan or send."""
    if not fingerprint or store.meta("planned_fingerprint") != fingerprint:
        return None
    if state_batches.in_flight(store.db) or state_batches.intents(store.db):
        return None
    run_id = queries.latest_run(store.db)  # the run whose plan the records hold
    finished = queries.finished_run(store.db, run_id) if run_id is not None else None
    if finished is None:
        return None
    counts = queries.record_counts(store.db, run_id)
    return finished if not counts["pending"] and not counts["submitted"] else None


def _unchanged(spec: JobSpec, store: StateStore, previous: dict[str, Any], mode: str) -> RunSummary:
    """A rerun of a settled job: nothing is planned or sent; outputs are rewritten only if they no
    longer match the state (deleted or edited since). It is a run of its own, numbered like any."""
    planned = int(previous["id"])  # the run whose plan still holds
    records = int(previous["records"] or 0)
    run_id = start_run(store.db, "run", mode)
    written = write_outputs_if_stale(spec, store, planned)
    summary = _summarise(spec, store, planned, mode, records, 0)
    summary.run_id = run_id
    summary.unchanged = True
    summary.estimated_cost_usd = 0.0
    summary.run_usage = dict.fromkeys(queries.USAGE_COLUMNS, 0)
    summary.results_written, summary.errors_written = written.results, written.errors
    end_run(store.db, run_id, summary.exit_code, records, summary.to_json())
    return summary


def _run_sync(
    spec: JobSpec,
    store: StateStore,
    run_id: int,
    progress: Progress,
    engine: Engine,
    options: RunOptions,
    done: Executed,
) -> bool:
    """Sync mode; counts the requests sent into ``done``. True when it was interrupted."""
    while True:
        sync = SyncEngine(spec, store, run_id, progress)
        try:
            sync.run()
        finally:
            done.sent += sync.submitted
            done.rate_limited += sync.meter.rate_limited
            done.paused_seconds += sync.paused_seconds
        if sync.stopping.is_set():
            return sync.interrupted
        resolved = engine.share_and_reuse()  # identical requests that waited for this one's answer
        if not (resolved or sync.submitted) or not queries.record_counts(store.db, run_id)["pending"]:
            break
    engine.run(wait=options.wait, submit=False)  # and collect batches an earlier batch-mode run left
    return False


def _summarise(spec: JobSpec, store: StateStore, run_id: int, mode: str, records: int, submitted: int) -> RunSummary:
    counts = queries.record_counts(store.db, run_id)
    flying = state_batches.in_flight(store.db)
    summary = RunSummary(
        job=spec.name,
        run_id=run_id,
        mode=mode,
        records=records,
        done=counts["done"],
        failed=counts["failed"],
        pending=counts["pending"],
        in_flight=counts["submitted"],
        batches_in_flight=[b.provider_batch_id or b.local_key for b in flying],
        batches_submitted=submitted,
        usage=queries.usage_totals(store.db),
    )
    if summary.in_flight or summary.pending:
        summary.exit_code = ExitCode.IN_FLIGHT
    elif summary.failed:
        summary.exit_code = ExitCode.RECORDS_FAILED
    return summary
