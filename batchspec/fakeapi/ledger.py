"""What the fake server saw and billed, for tests to assert on.

Four kinds of entries, each a plain dict with a ``kind`` key:

- ``http``: every request received (method, path, query, status answered, provider, time);
- ``file``: every file uploaded (id, filename, purpose, bytes);
- ``batch``: every batch created (provider, batch_id, model, metadata, custom_ids);
- ``answer``: every request answered with success and therefore billed (provider, custom_id or
  None, request_id, batch_id or None, model, body_sha, usage counters).

With a ``path``, entries are also appended to a JSONL file, flushed after every HTTP request, so
another process (a test that killed the client) can load them with ``Ledger.read(path)``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import orjson

Entry = dict[str, Any]
USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_creation_input_tokens",
)


class Ledger:
    def __init__(self, path: str | Path | None = None) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, list[Entry]] = {"http": [], "file": [], "batch": [], "answer": []}
        self.path = Path(path) if path is not None else None
        self._file: IO[bytes] | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")

    # -- recording ---------------------------------------------------------------------------

    def add(self, kind: str, **fields: Any) -> None:
        entry: Entry = {"kind": kind, **fields}
        with self._lock:
            self._entries[kind].append(entry)
            if self._file is not None:
                self._file.write(orjson.dumps(entry) + b"\n")

    def flush(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def clear(self) -> None:
        with self._lock:
            for entries in self._entries.values():
                entries.clear()

    @classmethod
    def read(cls, path: str | Path) -> Ledger:
        """Load the entries another process wrote (a torn last line is ignored)."""
        ledger = cls()
        with Path(path).open("rb") as fh:
            for line in fh:
                try:
                    entry = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                ledger._entries[entry["kind"]].append(entry)
        return ledger

    # -- queries -----------------------------------------------------------------------------

    def entries(self, kind: str) -> list[Entry]:
        with self._lock:
            return list(self._entries[kind])

    @property
    def http_requests(self) -> list[Entry]:
        return self.entries("http")

    @property
    def files(self) -> list[Entry]:
        return self.entries("file")

    @property
    def answers(self) -> list[Entry]:
        return self.entries("answer")

    def batches_created(self, provider: str | None = None) -> list[Entry]:
        return [b for b in self.entries("batch") if provider in (None, b["provider"])]

    def custom_ids_submitted(self, provider: str | None = None) -> Counter[str]:
        """How many times each custom_id was submitted in a batch (> 1: a re-send)."""
        counts: Counter[str] = Counter()
        for batch in self.batches_created(provider):
            counts.update(batch["custom_ids"])
        return counts

    def billed(self, provider: str | None = None, batch: bool | None = None) -> list[Entry]:
        return [
            a
            for a in self.entries("answer")
            if provider in (None, a["provider"]) and (batch is None or (a["batch_id"] is not None) == batch)
        ]

    def billed_usage(self, provider: str | None = None, batch: bool | None = None) -> dict[str, int]:
        """Token totals over billed answers; ``input_tokens`` includes cached input."""
        return _sum_usage(self.billed(provider, batch))

    def answered_twice(self, provider: str | None = None) -> dict[tuple[str, str], int]:
        """Requests billed more than once: batch ones by custom_id, sync ones by body hash."""
        counts: Counter[tuple[str, str]] = Counter()
        for a in self.billed(provider):
            key = a["custom_id"] if a["custom_id"] is not None else "sha:" + a["body_sha"]
            counts[(a["provider"], key)] += 1
        return {key: n for key, n in counts.items() if n > 1}

    def requests_to(self, path_prefix: str, method: str | None = None) -> list[Entry]:
        return [r for r in self.entries("http") if r["path"].startswith(path_prefix) and method in (None, r["method"])]


def _sum_usage(answers: Iterable[Entry]) -> dict[str, int]:
    totals = dict.fromkeys(USAGE_KEYS, 0)
    totals["requests"] = 0
    for a in answers:
        totals["requests"] += 1
        for key in USAGE_KEYS:
            totals[key] += a[key]
    return totals
