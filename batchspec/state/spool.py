"""An append-only scratch file of byte strings: the request bodies of a plan.

A plan writes every body once and reads them back at most a few times, mostly in the order they
were written (emit, merging into the state). A plain file does that with one write per chunk and
block-sized reads, where BLOB rows in SQLite cost a B-tree insert each and fill the pages that
every scan of the plan has to read.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

BLOCK = 1 << 20  # bytes read at a time: memory use is one block, whatever the file's size


class Spool:
    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        self.size = 0
        self._block = b""  # the last block read, which starts at _block_at
        self._block_at = 0

    def append(self, items: Sequence[bytes]) -> int:
        """Append ``items`` one after the other; returns the offset of the first."""
        data = b"".join(items)
        at = self.size
        os.pwrite(self._fd, data, at)
        self.size += len(data)
        return at

    def read(self, at: int, length: int) -> bytes:
        """The ``length`` bytes at ``at``. Reading forwards costs a system call per block."""
        start = at - self._block_at
        if start < 0 or start + length > len(self._block):
            self._block = os.pread(self._fd, max(length, BLOCK), at)
            self._block_at = at
            start = 0
        return self._block[start : start + length]

    def close(self) -> None:
        os.close(self._fd)
