"""Per model: whether a new batch may go out now, and what a batch the provider failed means.

A batch failed as a whole is one of three things. The account's queue is full (OpenAI
``token_limit_exceeded``; Anthropic answers a create with 429): a reason to wait for room, never a
failure. The provider blames some lines (OpenAI ``errors.data[].line``): those requests are errored
for good, the rest are sent again. Or the provider explains a failure of the whole batch (a model
that does not exist, a bad parameter): sending the next batch would fail the same way, so no new
batch of that model goes out in this run, and the run ends with exit 3 and the provider's words.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from batchspec.providers import BatchError, BatchInfo

QUEUE_FULL = frozenset({"token_limit_exceeded"})
# Codes about the whole batch even when the provider gives them a line (the first request's).
WHOLE_BATCH = frozenset(
    {"model_not_found", "model_mismatch", "invalid_model", "insufficient_quota", "billing_hard_limit_reached"}
)
UNEXPLAINED_TOLERATED = 3  # failures without a reason, in a row, before the model is stopped
HEADROOM = 0.9  # of execution.max_enqueued_tokens: the token estimate is an estimate


@dataclass
class Gate:
    stopped: str | None = None  # why no new batch of this model goes out in this run
    held_until: float = 0.0  # monotonic time before which no new batch goes out
    waiting: str | None = None  # why it is held, for the progress line
    queue_full: bool = False  # held until one of its batches in flight ends
    unexplained: int = 0  # whole-batch failures without a reason, in a row

    def open(self) -> bool:
        return self.stopped is None and not self.queue_full and self.held_until <= time.monotonic()

    def hold(self, seconds: float, why: str | None = None) -> None:
        self.held_until = time.monotonic() + seconds
        self.waiting = why

    def batch_ended(self) -> None:
        """One of the model's batches ended: the queue has room again."""
        self.queue_full = False
        self.waiting = None


@dataclass(frozen=True)
class Verdict:
    kind: str  # "queue" | "lines" | "batch" | "unexplained"
    message: str
    blamed: dict[int, BatchError] = field(default_factory=dict)  # line → its error, for "lines"


def judge(info: BatchInfo) -> Verdict:
    """What a batch the provider failed as a whole means (see the module's docstring)."""
    errors = info.errors
    message = "; ".join(str(e) for e in errors)
    if any(e.code in QUEUE_FULL for e in errors):
        return Verdict("queue", message)
    whole = [e for e in errors if e.code in WHOLE_BATCH or not e.line]
    if whole:
        return Verdict("batch", "; ".join(str(e) for e in whole))
    if errors:
        return Verdict("lines", message, {e.line: e for e in errors if e.line})
    return Verdict("unexplained", "the provider failed the batch without saying why")


def queue_note(tokens: int, limit: int) -> str:
    return f"waiting for queue room ({tokens:,} tokens in flight of {limit:,})"
