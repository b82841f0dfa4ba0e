"""A fake server's OpenAI batches kept in a file, so that they outlive the process that made them.

The in-process fake (`provider: fake`) starts a server inside each `batchspec` process. Without
this journal its batches would vanish when that process ends, and the quickstart could not show
what a real provider does after `kill -9` or `run --no-wait`: the next run finds the batch and
collects it. Only what creates state is written (uploaded batch files, batch creations,
cancellations), one JSON line each, flushed at once; a batch's progress is a function of the clock
and is worked out again on replay. A torn last line (a kill mid-write) is ignored.
"""

from __future__ import annotations

import base64
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from .state import FakeState


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None

    def record(self, kind: str, **fields: Any) -> None:
        with self._lock:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("ab")
            self._file.write(orjson.dumps({"kind": kind, **fields}) + b"\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def replay(self, state: FakeState) -> None:
        """Re-create what the journal holds in ``state`` (before the server serves anything)."""
        if not self.path.exists():
            return
        for line in self.path.read_bytes().splitlines():
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # a torn last line
            kind = entry.pop("kind")
            if kind == "file":
                entry["data"] = base64.b64decode(entry["data"])
                state.openai.files.restore(**entry)
            elif kind == "batch":
                state.openai.restore(**entry)
            elif kind == "cancel":
                state.openai.restore_cancel(**entry)


def encoded(data: bytes) -> str:
    return base64.b64encode(data).decode()
