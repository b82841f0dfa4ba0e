"""Named points where a test can kill the process, to prove a rerun recovers from any of them.

``BATCHSPEC_CRASH_AT=after_create`` (or ``after_create:3`` for the third time the point is reached)
sends SIGKILL to this process there. Unset, a crash point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

_hits: dict[str, int] = {}


def crash_point(name: str) -> None:
    wanted = os.environ.get("BATCHSPEC_CRASH_AT")
    if not wanted:
        return
    point, _, nth = wanted.partition(":")
    if point != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
