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
NEARBY = 1 << 16  # a read this close after the block is taken as reading on: the next block


class Spool:
    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        self.size = 0
        self._block = b""  # the last block read, which starts at _block_at
        self._block_at = 0

    def append(self, items: Sequence[bytes]) -> int:
        """Append ``items`` one after the other; returns the offset of the first."""
        data = memoryview(b"".join(items))
        at = self.size
        written = 0
        while written < len(data):  # one call writes at most about 2 GiB
            written += os.pwrite(self._fd, data[written:], at + written)
        self.size += len(data)
        return at

    def read(self, at: int, length: int) -> bytes:
        """The ``length`` bytes at ``at``. Reading forwards costs a system call per block, reading in
        any other order one per call."""
        start = at - self._block_at
        if start >= 0 and start + length <= len(self._block):
            return self._block[start : start + length]
        if 0 <= at - (self._block_at + len(self._block)) < NEARBY:
            self._block = os.pread(self._fd, max(length, BLOCK), at)
            self._block_at = at
            data = self._block[:length]
        else:  # a jump: a block would mostly be read for nothing
            data = os.pread(self._fd, length, at)
        if len(data) != length:
            raise OSError(f"the plan's body spool ended early: {len(data)} of {length} bytes at {at}")
        return data

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
