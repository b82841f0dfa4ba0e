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


def store_outcome(
    db: sqlite3.Connection,
    place: Place,
    outcome: Outcome,
    request_hash: str,
    attempt: int,
    max_attempts: int,
    stamp: str,
) -> bool:
    """Store one outcome and move its record on (only if the record still waits for exactly this
    request there); True when the record has now failed for good."""
    key = (place.model, outcome.custom_id, request_hash)
    current = "model = ? AND custom_id = ? AND request_hash = ? AND " + (
        "batch_key = ?" if place.in_batch else "batch_key IS NULL AND ? IS NOT NULL"
    )
    usage = outcome.usage
    tokens = (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens)
    response = orjson.dumps(outcome.response) if outcome.response is not None else None
    if outcome.kind == SUCCEEDED:
        parsed = orjson.dumps(outcome.parsed).decode() if outcome.parsed is not None else None
        db.execute(
            "INSERT OR IGNORE INTO results (model, custom_id, request_hash, batch_key, attempt, output, parsed, "
            "response, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd, "
            "sync_cost_usd, source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            ),
        )
        db.execute(
            f"UPDATE records SET status = 'done', batch_key = NULL, last_error_code = NULL, "
            f"last_error_message = NULL, updated_at = ? WHERE {current}",
            (stamp, *key, place.key),
        )
        return False
    db.execute(
        "INSERT OR IGNORE INTO errors (model, custom_id, request_hash, batch_key, attempt, code, message, "
        "retryable, response, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd, "
        "sync_cost_usd, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            *key,
            place.key,
            attempt,
            outcome.error_code or outcome.kind,
            outcome.error_message or "",
            int(outcome.retryable or outcome.kind == UNPROCESSED),
            response,
            *tokens,
            outcome.cost_usd,
            outcome.sync_cost_usd,
            stamp,
        ),
    )
    if outcome.kind == UNPROCESSED:
        db.execute(
            f"UPDATE records SET status = 'pending', attempts = max(attempts - 1, 0), batch_key = NULL, "
            f"last_error_code = ?, last_error_message = ?, updated_at = ? WHERE {current}",
            (outcome.error_code, outcome.error_message, stamp, *key, place.key),
        )
        return False
    final = not outcome.retryable or attempt >= max_attempts
    db.execute(
        f"UPDATE records SET status = ?, batch_key = NULL, last_error_code = ?, last_error_message = ?, "
        f"updated_at = ? WHERE {current}",
        (
            "failed" if final else "pending",
            outcome.error_code,
            outcome.error_message,
            stamp,
            *key,
            place.key,
        ),
    )
    return final


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
        return store_outcome(db, place, outcome, request_hash, attempt, max_attempts, now())
