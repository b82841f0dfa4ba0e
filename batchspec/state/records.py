"""Records in the state: taking a plan in, choosing what to send next, counting where they stand."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

from batchspec.state.staging import Staging
from batchspec.state.store import now, transaction

UNSENDABLE = "empty_content"  # the error of a record whose request is never sent (a message rendered empty)


@dataclass(frozen=True)
class Sendable:
    custom_id: str
    request_hash: str
    body: bytes
    input_tokens: int
    ordinal: int


def start_run(db: sqlite3.Connection, command: str, mode: str) -> int:
    with transaction(db):
        cursor = db.execute("INSERT INTO runs (command, mode, started_at) VALUES (?, ?, ?)", (command, mode, now()))
    return int(cursor.lastrowid or 0)


def end_run(db: sqlite3.Connection, run_id: int, exit_code: int, records: int, summary: str) -> None:
    with transaction(db):
        db.execute(
            "UPDATE runs SET ended_at = ?, exit_code = ?, records = ?, summary = ? WHERE id = ?",
            (now(), exit_code, records, summary, run_id),
        )


def merge_plan(db: sqlite3.Connection, staging: Staging, run_id: int, providers: dict[str, tuple[str, str]]) -> None:
    """Take a finished plan into the state in one transaction: new records become pending, changed
    ones start over (their old results stay as history), and every record of this input is
    stamped with ``run_id`` and its position. ``providers`` maps model label → (provider, name)."""
    stamp = now()
    new_has_result = _HAS_RESULT.format(table="items")
    unsendable = UNSENDABLE
    changed_has_result = _HAS_RESULT.format(table="excluded")
    db.execute("ATTACH DATABASE ? AS plan", (str(staging.path),))
    db.create_function("staged_body", 2, staging.bodies.read, deterministic=True)
    try:
        with transaction(db):
            for label, (provider, name) in providers.items():
                db.execute(
                    "INSERT OR IGNORE INTO requests (request_hash, provider, model_name, body) "
                    # Bodies are read in the order they were staged (NOT INDEXED), then sorted:
                    # appended to the B-tree in key order, not scattered.
                    "SELECT request_hash, ?, ?, staged_body(body_at, body_len) FROM plan.items NOT INDEXED "
                    "WHERE model = ? AND body_at IS NOT NULL ORDER BY request_hash",
                    (provider, name, label),
                )
            db.execute(
                f"""
                INSERT INTO records (model, custom_id, record_id, ordinal, request_hash, status, attempts,
                                     input_tokens, run_id, updated_at, last_error_code, last_error_message)
                SELECT model, custom_id, coalesce(record_id, custom_id), ordinal, request_hash,
                       CASE WHEN problem IS NOT NULL THEN 'failed'
                            WHEN {new_has_result} THEN 'done' ELSE 'pending' END,
                       0, tokens, ?, ?,
                       CASE WHEN problem IS NOT NULL THEN '{unsendable}' END, problem
                FROM plan.items AS items WHERE true ORDER BY model, custom_id
                ON CONFLICT (model, custom_id) DO UPDATE SET
                    ordinal = excluded.ordinal,
                    record_id = excluded.record_id,
                    run_id = excluded.run_id,
                    input_tokens = excluded.input_tokens,
                    status = CASE
                        WHEN excluded.status = 'failed' THEN 'failed'
                        WHEN records.request_hash = excluded.request_hash THEN records.status
                        WHEN {changed_has_result} THEN 'done'
                        ELSE 'pending' END,
                    attempts = CASE WHEN records.request_hash = excluded.request_hash
                                    THEN records.attempts ELSE 0 END,
                    batch_key = CASE WHEN records.request_hash = excluded.request_hash
                                     THEN records.batch_key ELSE NULL END,
                    last_error_code = CASE WHEN excluded.status = 'failed' THEN excluded.last_error_code
                                           WHEN records.request_hash = excluded.request_hash
                                           THEN records.last_error_code ELSE NULL END,
                    last_error_message = CASE WHEN excluded.status = 'failed' THEN excluded.last_error_message
                                              WHEN records.request_hash = excluded.request_hash
                                              THEN records.last_error_message ELSE NULL END,
                    updated_at = CASE WHEN records.request_hash = excluded.request_hash
                                      THEN records.updated_at ELSE excluded.updated_at END,
                    request_hash = excluded.request_hash
                """,
                (run_id, stamp),
            )
            _rejoin_batches_in_flight(db)
    finally:
        db.execute("DETACH DATABASE plan")
        db.create_function("staged_body", 2, None)


# A batch still running for exactly this record's (new) request, e.g. after an edit was reverted.
_IN_FLIGHT_ITEM = """
    SELECT {column} FROM batch_items bi JOIN batches b ON b.local_key = bi.local_key
    WHERE bi.model = records.model AND bi.custom_id = records.custom_id AND bi.request_hash = records.request_hash
      AND b.provider_batch_id IS NOT NULL AND b.collected_at IS NULL
"""


def _rejoin_batches_in_flight(db: sqlite3.Connection) -> None:
    """A pending record whose request is already in a running batch waits for that batch instead
    of being sent (and paid for) a second time."""
    if db.execute("SELECT 1 FROM batches WHERE provider_batch_id IS NOT NULL AND collected_at IS NULL").fetchone():
        db.execute(
            "UPDATE records SET status = 'submitted', "
            f"batch_key = ({_IN_FLIGHT_ITEM.format(column='bi.local_key')} LIMIT 1), "
            f"attempts = ({_IN_FLIGHT_ITEM.format(column='bi.attempt')} LIMIT 1) "
            f"WHERE status = 'pending' AND batch_key IS NULL AND EXISTS ({_IN_FLIGHT_ITEM.format(column='1')})"
        )


_HAS_RESULT = (
    "EXISTS (SELECT 1 FROM results s WHERE s.model = {table}.model AND s.custom_id = {table}.custom_id "
    "AND s.request_hash = {table}.request_hash)"
)


def retry_failed(db: sqlite3.Connection, run_id: int) -> int:
    """Give records that failed for good a fresh set of attempts (``run --retry-failed``); not those
    whose request cannot be sent at all (their input must change)."""
    with transaction(db):
        cursor = db.execute(
            "UPDATE records SET status = 'pending', attempts = 0, updated_at = ? "
            "WHERE status = 'failed' AND run_id = ? AND last_error_code IS NOT ?",
            (now(), run_id, UNSENDABLE),
        )
    return cursor.rowcount


# With the response cache on, an identical request is sent once: the others wait for its answer.
_FIRST_OF_IDENTICAL = (
    " AND NOT EXISTS (SELECT 1 FROM records o WHERE o.model = r.model AND o.request_hash = r.request_hash "
    "AND o.run_id = r.run_id AND o.custom_id != r.custom_id "
    "AND (o.status = 'submitted' OR (o.status = 'pending' AND o.ordinal < r.ordinal)))"
)


def sendable(
    db: sqlite3.Connection, model: str, run_id: int, limit: int, *, after_ordinal: int = 0, once: bool = False
) -> Iterator[Sendable]:
    """The next pending requests of ``model``, in input order (after ``after_ordinal``); with ``once``,
    only the first of identical requests."""
    cursor = db.execute(
        "SELECT r.custom_id, r.request_hash, q.body, coalesce(r.input_tokens, 0), r.ordinal FROM records r "
        "JOIN requests q ON q.request_hash = r.request_hash "
        "WHERE r.model = ? AND r.run_id = ? AND r.status = 'pending' AND r.ordinal > ?"
        + (_FIRST_OF_IDENTICAL if once else "")
        + " ORDER BY r.ordinal LIMIT ?",
        (model, run_id, after_ordinal, limit),
    )
    try:  # row by row: a batch's bodies (up to 200 MB) are never all in memory at once
        for custom_id, request_hash, body, tokens, ordinal in cursor:
            yield Sendable(custom_id, request_hash, bytes(body), tokens, ordinal)
    finally:
        cursor.close()


def set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
    with transaction(db):
        db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))


Request = tuple[str, str, str]  # model, custom_id, request_hash


def requests_of(
    db: sqlite3.Connection, custom_ids: list[str], prefixes: list[str], *, run_id: int | None, table: str = "records"
) -> Iterator[Request]:
    """The current requests of these custom_ids, and of every custom_id starting with one of
    ``prefixes``: of this run's records, or (``table="items"``, ``run_id=None``) of a plan's."""
    where = " AND run_id = ?" if run_id is not None else ""
    extra: tuple[int, ...] = (run_id,) if run_id is not None else ()
    for start in range(0, len(custom_ids), 500):
        chunk = custom_ids[start : start + 500]
        yield from db.execute(
            f"SELECT model, custom_id, request_hash FROM {table} "
            f"WHERE custom_id IN ({', '.join('?' * len(chunk))}){where}",
            (*chunk, *extra),
        )
    for prefix in prefixes:
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        yield from db.execute(
            f"SELECT model, custom_id, request_hash FROM {table} WHERE custom_id LIKE ? ESCAPE '\\'{where}",
            (pattern, *extra),
        )
