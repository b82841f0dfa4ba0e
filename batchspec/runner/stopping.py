"""Ctrl-C and SIGTERM while a run sends and collects: a request to stop at the next safe point.

Raising KeyboardInterrupt wherever the signal lands can cut an SDK call (or an import) in half:
a batch created but never recorded, a module left half-imported. So while work is being sent,
the first signal only asks the run to stop: the call in progress finishes and is recorded, and
the run ends at its next step (batches keep running at the provider). A second signal abandons
at once (KeyboardInterrupt): the write-ahead records keep the state consistent either way.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from batchspec import interrupts

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_requests(event: threading.Event, on_first: Callable[[], None]) -> Iterator[threading.Event]:
    """While in the block, the first Ctrl-C or SIGTERM sets ``event`` (and calls ``on_first``)."""
    if threading.current_thread() is not threading.main_thread():
        yield event  # signals reach only the main thread: nothing to install
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        interrupts.noted()
        if event.is_set():
            raise KeyboardInterrupt
        event.set()
        on_first()

    previous: dict[signal.Signals, Any] = {}
    for stop_signal in STOP_SIGNALS:
        previous[stop_signal] = signal.signal(stop_signal, handle)
    try:
        yield event
    finally:
        for stop_signal, handler in previous.items():
            signal.signal(stop_signal, handler)
