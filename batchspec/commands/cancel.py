"""`batchspec cancel`: cancel the job's in-flight batches, keep what they finished."""

from __future__ import annotations

from batchspec.errors import StateLocked
from batchspec.fmt import count
from batchspec.runner.batch import Engine
from batchspec.runner.progress import Progress
from batchspec.sinks import write_outputs
from batchspec.sources import source_for
from batchspec.spec.model import JobSpec
from batchspec.state import batches as state_batches
from batchspec.state import queries
from batchspec.state.access import open_locked, viewing
from batchspec.state.store import StateStore


def cancel_command(spec: JobSpec, *, forget_missing: bool = False) -> int:
    if spec.remote_state is not None:
        return _cancel_remote(spec, forget_missing)
    store = StateStore.read(spec.state_path, spec.name)
    if store is None:
        print(f"{spec.name}: nothing to cancel (the job has not run)")
        return 0
    store.close()
    with StateStore.open(spec.state_path, spec.name) as store:
        try:
            store.lock()
        except StateLocked as locked:
            return _cancel_beside_a_run(spec, store, locked.holder)
        return _cancel_and_collect(spec, store, forget_missing)


def _cancel_remote(spec: JobSpec, forget_missing: bool) -> int:
    """A remote state: with the lock, as locally; beside a runner holding it, from its last checkpoint."""
    try:
        store = open_locked(spec, create=False)
    except StateLocked as locked:
        with viewing(spec) as view:
            seen = StateStore.read(view.state_path, spec.name)
            if seen is None:
                print(f"{spec.name}: nothing to cancel (the job has not run)")
                return 0
            with seen:
                return _cancel_beside_a_run(view, seen, locked.holder)
    if store is None:
        print(f"{spec.name}: nothing to cancel (the job has not run)")
        return 0
    with store:
        return _cancel_and_collect(spec, store, forget_missing)


def _cancel_and_collect(spec: JobSpec, store: StateStore, forget_missing: bool) -> int:
    progress = Progress()
    run_id = queries.latest_run(store.db) or 0
    engine = Engine(spec, store, run_id, progress)
    try:
        cancelled = engine.cancel_all(forget_missing=forget_missing)
    finally:
        engine.close()
        progress.close()
    stale = run_id and source_for(spec).check_exists()  # the input has moved: outputs need it
    store.checkpoint(force=True)  # what the cancelled batches finished is kept before the outputs change
    if run_id and not stale:
        write_outputs(spec, store, run_id)
    counts = queries.record_counts(store.db, run_id)
    print(
        f"Cancelled {count(cancelled, 'batch')}; {counts['done']:,} requests done, "
        f"{counts['pending']:,} pending for the next run."
    )
    if stale:
        print(f"Outputs not rewritten: {stale}; the next run writes them.")
    return 0


def _cancel_beside_a_run(spec: JobSpec, store: StateStore, holder: str) -> int:
    """A run holds the lock: cancelling needs only the provider ids, and that run collects what the
    cancelled batches finished. Nothing is written to the state here."""
    progress = Progress()
    engine = Engine(spec, store, queries.latest_run(store.db) or 0, progress)
    try:
        flying = engine.flying()
        asked = sum(engine.request_cancel(batch) is not None for batch in flying)
    finally:
        engine.close()
        progress.close()
    print(
        f"Asked the provider to cancel {count(asked, 'batch')}; the run in progress ({holder}) collects what they "
        "finished, and goes on to send the rest: stop that run (Ctrl-C, or SIGTERM to its pid) to send nothing more."
    )
    unconfirmed = state_batches.intents(store.db)
    if unconfirmed:
        print(
            f"{count(len(unconfirmed), 'submission')} of that run {'is' if len(unconfirmed) == 1 else 'are'} not "
            "confirmed by the provider yet, so cannot be cancelled now: run cancel again in a moment."
        )
    return 0
