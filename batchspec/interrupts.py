"""Ctrl-C and SIGTERM for the `batchspec` process: both interrupt like Ctrl-C, and a process that
handled an interrupt exits with the code it chose.

CPython has a quirk: a KeyboardInterrupt raised while code from ``exec()`` runs (a dataclass being
built by an import, say) marks the interpreter as "ended by Ctrl-C", and at exit it then kills
itself with SIGINT (exit status -2) even though batchspec caught the interrupt and chose 130 or 75.
After an interrupt the process therefore ends with ``os._exit``, once exit handlers have run and
output is flushed.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
from types import FrameType

seen = False  # an interrupt reached this process
sent = False  # this process has sent work to a provider (so an interrupt leaves it in flight)


def noted() -> None:
    global seen
    seen = True


def sending() -> None:
    global sent
    sent = True


def interrupted_code() -> int:
    """What an interrupt ends the command with: 130 before anything was sent, 75 after."""
    return 75 if sent else 130


def _interrupt(signum: int, frame: FrameType | None) -> None:
    noted()
    raise KeyboardInterrupt


def install() -> None:
    """SIGINT and SIGTERM both raise KeyboardInterrupt (SIGTERM's default would kill silently)."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)


def leave(code: int) -> None:
    """Exit with ``code``, also after an interrupt (see above)."""
    if not seen:
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
