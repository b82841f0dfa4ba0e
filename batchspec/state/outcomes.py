"""Storing what a provider answered for one request, from a batch or a sync call, and moving its
record on: done, pending again (retryable, attempts left), or failed for good."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import orjson

from batchspec.outcomes import SUCCEEDED, UNPROCESSED, Outcome
from batchspec.state.store import now, transaction


@dataclass(frozen=True)
class Place:
    """Where answers come from: a batch (records wait with ``batch_key`` = key) or sync calls."""

    model: str
    key: str  # the batch's local key, or ``sync-r<run>`` for a sync run
    in_batch: bool = True

    @property
    def source(self) -> str:
        return "batch" if self.in_batch else "sync"


_INSERT_RESULT = (
    "INSERT OR IGNORE INTO results (model, custom_id, request_hash, batch_key, attempt, output, parsed, response, "
    "input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd, sync_cost_usd, source, "
    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_ERROR = (
    "INSERT OR IGNORE INTO errors (model, custom_id, request_hash, batch_key, attempt, code, message, retryable, "
    "response, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd, sync_cost_usd, "
    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# Moves a record on, only if it still waits for exactly this request in this place.
_UPDATE_RECORD = (
    "UPDATE records SET status = ?, attempts = max(attempts + ?, 0), batch_key = NULL, last_error_code = ?, "
    "last_error_message = ?, updated_at = ? WHERE model = ? AND custom_id = ? AND request_hash = ? AND {place}"
)
FLUSH_ROWS = 2000


class OutcomeWriter:
    """Stores outcomes in bulk (executemany per kind of row) inside the caller's transaction."""

    def __init__(self, db: sqlite3.Connection, place: Place, max_attempts: int, stamp: str) -> None:
        self.db = db
        self.place = place
        self.max_attempts = max_attempts
        self.stamp = stamp
        self.results: list[tuple[object, ...]] = []
        self.errors: list[tuple[object, ...]] = []
        self.updates: list[tuple[object, ...]] = []
        self.update_sql = _UPDATE_RECORD.format(
            place="batch_key = ?" if place.in_batch else "batch_key IS NULL AND ? IS NOT NULL"
        )

    def add(self, outcome: Outcome, request_hash: str, attempt: int) -> bool:
        """Queue one outcome; True when its record has now failed for good."""
        place, stamp = self.place, self.stamp
        key = (place.model, outcome.custom_id, request_hash)
        usage = outcome.usage
        tokens = (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens)
        response = orjson.dumps(outcome.response) if outcome.response is not None else None
        final = False
        if outcome.kind == SUCCEEDED:
            parsed = orjson.dumps(outcome.parsed).decode() if outcome.parsed is not None else None
            self.results.append(
                (
                    *key,
                    place.key,
                    attempt,
                    outcome.output,
                    parsed,
                    response or b"{}",
                    *tokens,
                    outcome.cost_usd,
                    outcome.sync_cost_usd,
                    place.source,
                    stamp,
                )
            )
            self.updates.append(("done", 0, None, None, stamp, *key, place.key))
        else:
            retryable = outcome.retryable or outcome.kind == UNPROCESSED
            self.errors.append(
                (
                    *key,
                    place.key,
                    attempt,
                    outcome.error_code or outcome.kind,
                    outcome.error_message or "",
                    int(retryable),
                    response,
                    *tokens,
                    outcome.cost_usd,
                    outcome.sync_cost_usd,
                    stamp,
                )
            )
            if outcome.kind == UNPROCESSED:  # not the record's fault: the attempt is given back
                status, delta = "pending", -1
            else:
                final = not outcome.retryable or attempt >= self.max_attempts
                status, delta = ("failed" if final else "pending"), 0
            self.updates.append((status, delta, outcome.error_code, outcome.error_message, stamp, *key, place.key))
        if len(self.updates) >= FLUSH_ROWS:
            self.flush()
        return final

    def flush(self) -> None:
        if self.results:
            self.db.executemany(_INSERT_RESULT, self.results)
        if self.errors:
            self.db.executemany(_INSERT_ERROR, self.errors)
        if self.updates:
            self.db.executemany(self.update_sql, self.updates)
        self.results, self.errors, self.updates = [], [], []


def store_sync_outcome(
    db: sqlite3.Connection, place: Place, outcome: Outcome, request_hash: str, max_attempts: int
) -> bool:
    """One sync answer, in its own transaction: a kill loses at most the requests in flight."""
    with transaction(db):
        row = db.execute(
            "SELECT attempts FROM records WHERE model = ? AND custom_id = ? AND request_hash = ? AND batch_key IS NULL",
            (place.model, outcome.custom_id, request_hash),
        ).fetchone()
        if row is None:  # the record changed since: this answer is history only
            return False
        attempt = row[0] + 1
        db.execute(
            "UPDATE records SET attempts = ? WHERE model = ? AND custom_id = ?",
            (attempt, place.model, outcome.custom_id),
        )
        writer = OutcomeWriter(db, place, max_attempts, now())
        final = writer.add(outcome, request_hash, attempt)
        writer.flush()
        return final
