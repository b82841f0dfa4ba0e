"""Where a command gets the job's state: the local file, or the working copy of a remote one.

Commands that change the state (run, cancel) hold the job's lock for as long as they work on it;
commands that only read it (status, report, plan) look at the last checkpoint without a lock.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from batchspec.sources import display_path
from batchspec.spec.model import JobSpec
from batchspec.spec.units import format_duration
from batchspec.state.remote import RemoteState, snapshot
from batchspec.state.store import StateStore


def open_locked(spec: JobSpec, *, create: bool = True) -> StateStore | None:
    """The state to change, with the job's lock held; None when it does not exist and ``create`` is off.
    A remote state is downloaded only once the lock is held, so it is the newest there is."""
    remote_spec = spec.remote_state
    if remote_spec is None:
        if not create and not spec.state_path.exists():
            return None
        store = StateStore.open(spec.state_path, spec.name)
        _lock(store)
        return store
    remote = RemoteState(remote_spec.location, spec.state_path, spec.name, remote_spec.lock_expiry)
    remote.acquire()
    if remote.took_over is not None:  # always shown, also with -q: the user must know a runner was presumed dead
        expiry = format_duration(remote_spec.lock_expiry)
        print(
            f"warning: took over the lock of a runner gone silent ({remote.took_over.describe()}; "
            f"state.lock_expiry is {expiry})",
            file=sys.stderr,
        )
    try:
        remote.pull()
        if not create and not spec.state_path.exists():
            remote.release()
            return None
        store = StateStore.open(spec.state_path, spec.name)
        _lock(store)
    except BaseException:
        remote.release()
        raise
    store.remote = remote
    return store


def _lock(store: StateStore) -> None:
    try:
        store.lock()
    except BaseException:
        store.close()
        raise


@contextmanager
def viewing(spec: JobSpec) -> Iterator[JobSpec]:
    """The spec as read-only commands use it: for a remote state, its ``state_path`` is a fresh
    download of the last checkpoint (removed afterwards); a local state is read where it is."""
    if spec.remote_state is None:
        yield spec
        return
    with (
        tempfile.TemporaryDirectory(prefix="batchspec-state-") as scratch,
        snapshot(spec.remote_state.location, spec.name, Path(scratch) / "state.db") as path,
    ):
        yield dataclasses.replace(spec, state_path=path)


def state_label(spec: JobSpec) -> str:
    """Where the state lives, as a user names it."""
    return spec.remote_state.url if spec.remote_state is not None else display_path(spec.state_path)
