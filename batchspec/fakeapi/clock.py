"""The server's clock: wall time that tests can move forward or freeze.

Batch lifecycles, cache lifetimes and rate-limit buckets all read this clock, so a test can
``advance(301)`` to let a 5-minute cache entry lapse without sleeping.
"""

from __future__ import annotations

import threading
import time


class Clock:
    def __init__(self) -> None:
        self._offset = 0.0
        self._frozen_at: float | None = None
        self._lock = threading.Lock()

    def now(self) -> float:
        frozen = self._frozen_at
        return frozen if frozen is not None else time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += seconds
            else:
                self._offset += seconds

    def freeze(self) -> None:
        """Stop time where it is; only ``advance`` moves it afterwards."""
        with self._lock:
            self._frozen_at = self.now()

    def unfreeze(self) -> None:
        with self._lock:
            if self._frozen_at is not None:
                self._offset = self._frozen_at - time.time()
                self._frozen_at = None
