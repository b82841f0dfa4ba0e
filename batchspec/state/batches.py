"""Batches in the state: write-ahead intents, submissions, polls, and collecting results.

Every function is one transaction, so a process killed at any moment leaves the state at a
step boundary: an intent without a provider id (looked up on resume), a batch in flight
(polled on resume), or a collected batch (never collected twice).
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from batchspec.crashpoints import crash_point
from batchspec.errors import ProviderError
from batchspec.outcomes import ERRORED, SUCCEEDED, UNPROCESSED, Outcome
from batchspec.state.outcomes import OutcomeWriter, Place
from batchspec.state.store import now, transaction
from batchspec.state.values import damaged, json_value, timestamp

TIMESTAMPS = (
    "submitted_at",
    "in_progress_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "expires_at",
    "cancelling_at",
    "cancelled_at",
)
INTENT = "intent"
ABANDONED = "abandoned"  # never reached the provider; its records went back to pending
REJECTED = "rejected"  # the provider refused to create it


@dataclass
class BatchRow:
    local_key: str
    run_id: int
    model: str
    provider: str
    provider_batch_id: str | None
    status: str
    request_count: int
    bytes: int
    created_at: str
    input_file_id: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    timestamps: dict[str, str | None] = field(default_factory=dict)
    collected_at: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    sync_cost_usd: float | None = None


@dataclass
class Collected:
    succeeded: int = 0
    errored: int = 0
    unprocessed: int = 0
    missing: int = 0
    malformed: int = 0
    foreign: int = 0
    failed_for_good: int = 0


_COLUMNS = (
    "local_key, run_id, model, provider, provider_batch_id, status, request_count, bytes, created_at, "
    "input_file_id, output_file_id, error_file_id, counts, error, collected_at, input_tokens, output_tokens, "
    "cost_usd, sync_cost_usd, " + ", ".join(TIMESTAMPS)
)


def _row(values: tuple[Any, ...]) -> BatchRow:
    row = BatchRow(
        local_key=values[0],
        run_id=values[1],
        model=values[2],
        provider=values[3],
        provider_batch_id=values[4],
        status=values[5],
        request_count=values[6],
        bytes=values[7],
        created_at=values[8],
        input_file_id=values[9],
        output_file_id=values[10],
        error_file_id=values[11],
    )
    where = f"table batches, batch {values[0]}"
    counts = json_value(values[12], f"{where}, counts") if values[12] else {}
    if not isinstance(counts, dict):
        raise damaged(f"{where}, counts", "not an object of counts")
    row.counts = counts
    row.error, row.collected_at = values[13], values[14]
    row.input_tokens, row.output_tokens, row.cost_usd, row.sync_cost_usd = values[15:19]
    row.timestamps = dict(zip(TIMESTAMPS, values[19:], strict=True))
    for name, value in (("created_at", row.created_at), *row.timestamps.items()):
        timestamp(value, f"{where}, {name}")
    return row


def batches(db: sqlite3.Connection, where: str = "1", params: tuple[Any, ...] = ()) -> list[BatchRow]:
    return [_row(v) for v in db.execute(f"SELECT {_COLUMNS} FROM batches WHERE {where} ORDER BY created_at", params)]


def intents(db: sqlite3.Connection) -> list[BatchRow]:
    """Batches whose submission was started but never confirmed with a provider id."""
    return batches(db, "status = ? AND provider_batch_id IS NULL", (INTENT,))


def in_flight(db: sqlite3.Connection) -> list[BatchRow]:
    """Submitted batches whose results have not been collected."""
    return batches(db, "provider_batch_id IS NOT NULL AND collected_at IS NULL")


def wire_ids(db: sqlite3.Connection, local_key: str) -> set[str]:
    """The ids a batch sends (or sent) on the wire."""
    return {row[0] for row in db.execute("SELECT wire_id FROM batch_items WHERE local_key = ?", (local_key,))}


def known_provider_ids(db: sqlite3.Connection) -> set[str]:
    return {row[0] for row in db.execute("SELECT provider_batch_id FROM batches WHERE provider_batch_id IS NOT NULL")}


def record_intent(
    db: sqlite3.Connection,
    local_key: str,
    run_id: int,
    model: str,
    provider: str,
    items: list[tuple[str, str]],
    nbytes: int,
) -> None:
    """Before anything is sent: the batch, its members, and its records marked in flight.
    ``items`` are (custom_id, wire_id): the id as the batch sends it (see ``wire_id``)."""
    stamp = now()
    with transaction(db):
        db.execute(
            "INSERT INTO batches (local_key, run_id, model, provider, status, request_count, bytes, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (local_key, run_id, model, provider, INTENT, len(items), nbytes, stamp),
        )
        db.executemany(
            "UPDATE records SET status = 'submitted', batch_key = ?, attempts = attempts + 1, updated_at = ? "
            "WHERE model = ? AND custom_id = ?",
            ((local_key, stamp, model, custom_id) for custom_id, _ in items),
        )
        db.executemany(
            "INSERT INTO batch_items (local_key, model, custom_id, request_hash, attempt, wire_id) "
            "SELECT ?, model, custom_id, request_hash, attempts, ? FROM records WHERE model = ? AND custom_id = ?",
            ((local_key, wire, model, custom_id) for custom_id, wire in items),
        )


def record_upload(db: sqlite3.Connection, local_key: str, input_file_id: str) -> None:
    with transaction(db):
        db.execute("UPDATE batches SET input_file_id = ? WHERE local_key = ?", (input_file_id, local_key))


def record_provider_state(db: sqlite3.Connection, local_key: str, info: Any) -> None:
    """Store what the provider says of the batch (``info`` is a ``providers.base.BatchInfo``)."""
    assignments = [
        "provider_batch_id = ?",
        "status = ?",
        "counts = ?",
        "output_file_id = ?",
        "error_file_id = ?",
    ]
    values: list[Any] = [
        info.provider_batch_id,
        info.status,
        orjson.dumps(info.counts).decode(),
        info.output_file_id,
        info.error_file_id,
    ]
    if info.input_file_id:
        assignments.append("input_file_id = ?")
        values.append(info.input_file_id)
    if info.errors:
        assignments.append("error = ?")
        values.append("; ".join(str(e) for e in info.errors))
    for name in TIMESTAMPS:
        if info.timestamps.get(name):
            assignments.append(f"{name} = ?")
            values.append(info.timestamps[name])
    try:
        with transaction(db):
            db.execute(f"UPDATE batches SET {', '.join(assignments)} WHERE local_key = ?", (*values, local_key))
    except sqlite3.IntegrityError:  # provider_batch_id is unique
        other = db.execute(
            "SELECT local_key FROM batches WHERE provider_batch_id = ?", (info.provider_batch_id,)
        ).fetchone()
        raise ProviderError(
            f"the provider gave batch id {info.provider_batch_id} for batch {local_key}, but it had already given "
            f"it for batch {other[0] if other else '?'}: a provider (or a mock of one) that reuses batch ids cannot "
            "be told apart from itself, so nothing more is sent; the state is unchanged"
        ) from None


def adopt(
    db: sqlite3.Connection,
    local_key: str,
    run_id: int,
    model: str,
    provider: str,
    info: Any,
    items: list[tuple[str, str, str]],
) -> int:
    """A batch of this job the state did not know (``info``, a ``BatchInfo``), found at the provider:
    recorded as submitted, exactly as if this state had sent it. Its members are those of ``items``
    (custom_id, request_hash, wire_id) that are their record's current request and neither done
    nor waiting for another batch. Returns how many it took."""
    stamp = now()
    with transaction(db):
        db.execute(
            "INSERT INTO batches (local_key, run_id, model, provider, provider_batch_id, status, request_count, "
            "bytes, created_at) VALUES (?, ?, ?, ?, ?, ?, 0, 0, ?)",
            (local_key, run_id, model, provider, info.provider_batch_id, info.status, stamp),
        )
        for custom_id, request_hash, wire in items:
            cursor = db.execute(
                "UPDATE records SET status = 'submitted', batch_key = ?, attempts = attempts + 1, updated_at = ? "
                "WHERE model = ? AND custom_id = ? AND request_hash = ? AND run_id = ? "
                "AND status IN ('pending', 'failed') AND batch_key IS NULL",
                (local_key, stamp, model, custom_id, request_hash, run_id),
            )
            if cursor.rowcount:
                db.execute(
                    "INSERT INTO batch_items (local_key, model, custom_id, request_hash, attempt, wire_id) "
                    "SELECT ?, model, custom_id, request_hash, attempts, ? FROM records WHERE model = ? "
                    "AND custom_id = ?",
                    (local_key, wire, model, custom_id),
                )
        taken = db.execute("SELECT count(*) FROM batch_items WHERE local_key = ?", (local_key,)).fetchone()[0]
        db.execute("UPDATE batches SET request_count = ? WHERE local_key = ?", (taken, local_key))
    record_provider_state(db, local_key, info)
    return int(taken)


def release(db: sqlite3.Connection, local_key: str, status: str, reason: str) -> None:
    """A batch the provider never ran: its records go back to pending without using an attempt."""
    stamp = now()
    with transaction(db):
        db.execute(
            "UPDATE records SET status = 'pending', attempts = max(attempts - 1, 0), batch_key = NULL, "
            "updated_at = ? WHERE batch_key = ?",
            (stamp, local_key),
        )
        db.execute(
            "UPDATE batches SET status = ?, error = ?, collected_at = ? WHERE local_key = ?",
            (status, reason, stamp, local_key),
        )


def collect(
    db: sqlite3.Connection,
    batch: BatchRow,
    outcomes: Iterable[Outcome | None],
    max_attempts: int,
    *,
    never_ran: bool = False,
    reason: str = "the batch ended before this request ran",
) -> Collected:
    """Store a finished batch's results, errors and the requests it lost, in one transaction.
    ``never_ran``: the batch was cancelled or expired, so a member without a line never ran (it
    is re-sent without using an attempt) rather than lost by the provider (an attempt)."""

    def missing(custom_id: str) -> Outcome:
        if never_ran:
            return Outcome(custom_id, UNPROCESSED, error_code="batch_" + batch.status, error_message=reason)
        return Outcome(
            custom_id,
            ERRORED,
            error_code="missing_result",
            error_message="the provider's results did not include this request",
            retryable=True,
        )

    summary = Collected()
    stamp = now()
    writer = OutcomeWriter(db, Place(batch.model, batch.local_key), max_attempts, stamp)
    with transaction(db):
        members = {  # by the id the provider answers with
            wire: (custom_id, request_hash, attempt)
            for custom_id, request_hash, attempt, wire in db.execute(
                "SELECT custom_id, request_hash, attempt, wire_id FROM batch_items WHERE local_key = ?",
                (batch.local_key,),
            )
        }
        seen: set[str] = set()
        for outcome in outcomes:
            if outcome is None:
                summary.malformed += 1
                continue
            if outcome.custom_id not in members or outcome.custom_id in seen:
                summary.foreign += 1
                continue
            seen.add(outcome.custom_id)
            custom_id, request_hash, attempt = members[outcome.custom_id]
            crash_point("while_collecting")
            final = writer.add(dataclasses.replace(outcome, custom_id=custom_id), request_hash, attempt)
            _count(summary, outcome.kind, final)
        for wire in set(members) - seen:
            custom_id, request_hash, attempt = members[wire]
            if never_ran:
                summary.unprocessed += 1
            else:
                summary.missing += 1
            summary.failed_for_good += writer.add(missing(custom_id), request_hash, attempt)
        writer.flush()
        db.execute(_BATCH_TOTALS, (stamp, batch.local_key))
    return summary


# A collected batch's tokens and cost, from what was stored for it (answers and billed errors);
# the cost is NULL when some billed request has no price.
_BATCH_TOTALS = """
    WITH billed AS (
        SELECT input_tokens, output_tokens, cost_usd, sync_cost_usd FROM results WHERE batch_key = ?2
        UNION ALL
        SELECT input_tokens, output_tokens, cost_usd, sync_cost_usd FROM errors WHERE batch_key = ?2)
    UPDATE batches SET collected_at = ?1,
        input_tokens = (SELECT coalesce(sum(input_tokens), 0) FROM billed),
        output_tokens = (SELECT coalesce(sum(output_tokens), 0) FROM billed),
        cost_usd = (SELECT CASE WHEN count(cost_usd) = count(*) THEN coalesce(sum(cost_usd), 0) END
                    FROM billed WHERE input_tokens > 0),
        sync_cost_usd = (SELECT sum(sync_cost_usd) FROM billed)
    WHERE local_key = ?2
"""


def _count(summary: Collected, kind: str, final: bool) -> None:
    if kind == SUCCEEDED:
        summary.succeeded += 1
    elif kind == UNPROCESSED:
        summary.unprocessed += 1
    else:
        summary.errored += 1
        summary.failed_for_good += int(final)


def fail_batch(db: sqlite3.Connection, batch: BatchRow, message: str, max_attempts: int) -> Collected:
    """A batch that failed as a whole (validation): none of its requests ran, so all go back to
    pending without using an attempt; the runner decides whether to try again."""
    return collect(db, batch, (), max_attempts, never_ran=True, reason=message)
