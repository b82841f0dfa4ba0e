"""`batchspec cancel`: cancel the job's in-flight batches, keep what they finished."""

from __future__ import annotations

from batchspec.fmt import count
from batchspec.runner.batch import Engine
from batchspec.runner.progress import Progress
from batchspec.sinks import write_outputs
from batchspec.sources import source_for
from batchspec.spec.model import JobSpec
from batchspec.state import queries
from batchspec.state.store import StateStore


def cancel_command(spec: JobSpec, *, forget_missing: bool = False) -> int:
    store = StateStore.read(spec.state_path, spec.name)
    if store is None:
        print(f"{spec.name}: nothing to cancel (the job has not run)")
        return 0
    store.close()
    progress = Progress()
    with StateStore.open(spec.state_path, spec.name) as store:
        store.lock()
        run_id = queries.latest_run(store.db) or 0
        engine = Engine(spec, store, run_id, progress)
        try:
            cancelled = engine.cancel_all(forget_missing=forget_missing)
        finally:
            engine.close()
            progress.close()
        stale = run_id and source_for(spec).check_exists()  # the input has moved: outputs need it
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
