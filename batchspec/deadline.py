"""`execution.deadline`: batch prices while there is time, results on time always.

The deadline counts from the first submission of the job's current work, and the moment is kept in
the state, so a later `run --no-wait` (a CI run an hour on) honours it. When it passes, the batches
in flight are cancelled (what they finished is kept and paid at batch prices) and the rest is sent
through the synchronous API, under the same rate limits and retry rules. The moment is forgotten
once the job has nothing pending or in flight: the next change starts a new window.
"""

from __future__ import annotations

import time

from batchspec.spec.model import JobSpec
from batchspec.state.records import set_meta
from batchspec.state.store import StateStore
from batchspec.state.values import number

STARTED = "deadline_started_at"  # meta key: Unix seconds of the current work's first submission


def started_at(store: StateStore) -> float | None:
    return number(store.meta(STARTED), f"table meta, {STARTED}")


def due_at(spec: JobSpec, store: StateStore) -> float | None:
    """Unix time the deadline passes, or None (no deadline, or no work submitted yet)."""
    start = started_at(store)
    if spec.execution.deadline is None or start is None:
        return None
    return start + spec.execution.deadline


def note_submission(spec: JobSpec, store: StateStore) -> None:
    """The job's current work was submitted: start its window, once."""
    if spec.execution.deadline is not None and started_at(store) is None:
        set_meta(store.db, STARTED, repr(time.time()))


def settle(store: StateStore) -> None:
    """Nothing is left pending or in flight: the next work starts a new window."""
    if store.meta(STARTED) is not None:
        with store.db:
            store.db.execute("DELETE FROM meta WHERE key = ?", (STARTED,))
