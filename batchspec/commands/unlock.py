"""`batchspec unlock`: release a remote state's lock whose runner is gone."""

from __future__ import annotations

from batchspec.errors import StateError
from batchspec.spec.model import JobSpec
from batchspec.state import remote
from batchspec.state.store import StateStore


def unlock_command(spec: JobSpec) -> int:
    if spec.remote_state is None:
        return _local(spec)
    released = remote.unlock(spec.remote_state.location, spec.name, print)
    if not released:
        print(f"{spec.name}: {spec.remote_state.url} is not locked")
    else:
        print(
            "If that runner is still alive it stops at its next checkpoint: it can no longer upload "
            "the state (uploads are conditional), and its batches are found at the provider by the next run."
        )
    return 0


def _local(spec: JobSpec) -> int:
    """A local state's lock is the operating system's: it goes with the process that held it."""
    store = StateStore.read(spec.state_path, spec.name)
    if store is None:
        print(f"{spec.name}: not run yet; nothing is locked")
        return 0
    with store:
        try:
            store.lock()
        except StateError as locked:
            raise StateError(
                f"{locked}. A local state's lock is held by a live process on this machine and goes when it "
                "ends: there is nothing to release by hand"
            ) from None
    print(f"{spec.name}: not locked (a local state's lock is released by the operating system when its run ends)")
    return 0
