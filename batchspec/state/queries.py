"""Read-only views of the state: output rows, error rows, totals. Sinks and reports use these."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

# Each record's newest answer to its current request; while there is none (the prompt or the
# record changed and the new answer has not come back, or it failed), its newest earlier answer,
# marked not current: a row never vanishes from the output while its replacement is pending.
OUTPUT_ROWS = """
    SELECT r.ordinal, r.model, r.custom_id, r.record_id, s.output, s.parsed, s.request_hash = r.request_hash,
           s.input_tokens, s.output_tokens, s.cache_read_tokens, s.cache_write_tokens, s.cost_usd
    FROM records r JOIN results s ON s.id = coalesce(
        (SELECT max(id) FROM results WHERE model = r.model AND custom_id = r.custom_id
         AND request_hash = r.request_hash),
        (SELECT max(id) FROM results WHERE model = r.model AND custom_id = r.custom_id))
    WHERE r.run_id = ?
    ORDER BY r.ordinal
"""
ERROR_ROWS = """
    SELECT r.ordinal, r.model, r.custom_id, r.record_id, r.last_error_code, r.last_error_message, r.attempts
    FROM records r WHERE r.run_id = ? AND r.status = 'failed' ORDER BY r.ordinal
"""
OUTPUT_COLUMNS = (
    "ordinal",
    "model",
    "custom_id",
    "id",
    "output",
    "parsed",
    "current",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_usd",
)
ERROR_COLUMNS = ("ordinal", "model", "custom_id", "id", "error_code", "error_message", "attempts")


def output_rows(db: sqlite3.Connection, run_id: int) -> Iterator[dict[str, Any]]:
    for row in db.execute(OUTPUT_ROWS, (run_id,)):
        out = dict(zip(OUTPUT_COLUMNS, row, strict=True))
        out["current"] = bool(out["current"])
        yield out


def error_rows(db: sqlite3.Connection, run_id: int) -> Iterator[dict[str, Any]]:
    for row in db.execute(ERROR_ROWS, (run_id,)):
        yield dict(zip(ERROR_COLUMNS, row, strict=True))


USAGE_COLUMNS = (
    "requests",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_usd",
    "sync_cost_usd",
    "unpriced",
)


def usage_totals(db: sqlite3.Connection, run_id: int | None = None) -> dict[str, Any]:
    """Tokens and cost of everything billed (answers, and unusable answers that were billed);
    with ``run_id``, only what that run sent (its batches and its sync requests)."""
    where: str = ""
    params: tuple[Any, ...] = ()
    if run_id is not None:
        where = "WHERE batch_key IN (SELECT local_key FROM batches WHERE run_id = ?) OR batch_key = ?"
        params = (run_id, f"sync-r{run_id}")
    totals: dict[str, Any] = dict.fromkeys(USAGE_COLUMNS, 0)
    totals["cost_usd"] = totals["sync_cost_usd"] = 0.0
    for table in ("results", "errors"):
        row = db.execute(
            f"SELECT count(*), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), "
            f"coalesce(sum(cache_read_tokens), 0), coalesce(sum(cache_write_tokens), 0), "
            f"coalesce(sum(cost_usd), 0), coalesce(sum(sync_cost_usd), 0), "
            f"sum(CASE WHEN cost_usd IS NULL AND input_tokens > 0 THEN 1 ELSE 0 END) "
            f"FROM {table} {where}",
            params,
        ).fetchone()
        for name, value in zip(USAGE_COLUMNS, row, strict=True):
            totals[name] += value or 0
    return totals


def routes(db: sqlite3.Connection, run_id: int) -> dict[str, dict[str, Any]]:
    """How this run's answers came: batch | sync | cache → answers and their cost."""
    rows = db.execute(
        "SELECT source, count(*), sum(cost_usd), count(cost_usd) FROM results "
        "WHERE batch_key IN (SELECT local_key FROM batches WHERE run_id = ?) OR batch_key = ? GROUP BY 1",
        (run_id, f"sync-r{run_id}"),
    )
    return {source: {"answers": n, "cost_usd": cost if priced == n else None} for source, n, cost, priced in rows}


def record_counts(db: sqlite3.Connection, run_id: int | None) -> dict[str, int]:
    counts = {"done": 0, "failed": 0, "pending": 0, "submitted": 0}
    for status, n in db.execute("SELECT status, count(*) FROM records WHERE run_id = ? GROUP BY 1", (run_id,)):
        counts[status] = n
    return counts


def pending_by_model(db: sqlite3.Connection, run_id: int) -> dict[str, int]:
    rows = db.execute(
        "SELECT model, count(*) FROM records WHERE run_id = ? AND status = 'pending' GROUP BY 1", (run_id,)
    )
    return dict(rows.fetchall())


def latest_run(db: sqlite3.Connection) -> int | None:
    row = db.execute("SELECT max(run_id) FROM records").fetchone()
    return row[0] if row else None


def in_flight_input_tokens(db: sqlite3.Connection) -> dict[str, tuple[int, int]]:
    """model → (requests, estimated input tokens) sent and not yet answered."""
    rows = db.execute(
        "SELECT model, count(*), coalesce(sum(input_tokens), 0) FROM records WHERE status = 'submitted' GROUP BY 1"
    )
    return {model: (n, tokens) for model, n, tokens in rows}


_RUN_COLUMNS = ("id", "command", "mode", "started_at", "ended_at", "exit_code", "records", "summary")


def last_finished_run(db: sqlite3.Connection) -> dict[str, Any] | None:
    """The newest run that got to its summary (killed runs never do)."""
    row = db.execute(
        f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs WHERE summary IS NOT NULL ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return dict(zip(_RUN_COLUMNS, row, strict=True)) if row else None


def finished_run(db: sqlite3.Connection, run_id: int) -> dict[str, Any] | None:
    """Run ``run_id``, if it got to its summary."""
    row = db.execute(
        f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs WHERE id = ? AND summary IS NOT NULL", (run_id,)
    ).fetchone()
    return dict(zip(_RUN_COLUMNS, row, strict=True)) if row else None


def error_counts(db: sqlite3.Connection) -> list[dict[str, Any]]:
    """Failed attempts by error code (all runs)."""
    rows = db.execute(
        "SELECT code, retryable, count(*) FROM errors GROUP BY code, retryable ORDER BY count(*) DESC, code"
    )
    return [{"code": code, "retryable": bool(retryable), "attempts": n} for code, retryable, n in rows]


def failed_batches(db: sqlite3.Connection) -> list[dict[str, Any]]:
    """Batches the provider failed or refused as a whole, with its reason."""
    rows = db.execute(
        "SELECT coalesce(provider_batch_id, local_key), model, status, error FROM batches "
        "WHERE status IN ('failed', 'rejected') ORDER BY created_at"
    )
    return [{"batch": b, "model": m, "status": s, "reason": e or ""} for b, m, s, e in rows]


def attempt_count(db: sqlite3.Connection) -> int:
    """Every answer and every failed attempt stored (cache hits excluded)."""
    row = db.execute(
        "SELECT (SELECT count(*) FROM results WHERE source != 'cache') + (SELECT count(*) FROM errors)"
    ).fetchone()
    return int(row[0])


def batch_report_rows(db: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every submitted batch with its latency, error count, billed and uncached-sync cost."""
    names = (
        "local_key",
        "provider_batch_id",
        "model",
        "provider",
        "status",
        "requests",
        "submitted_at",
        "completed_at",
        "collected_at",
        "cost_usd",
        "sync_cost_usd",
        "errors",
        "succeeded",
    )
    rows = db.execute(
        """
        SELECT b.local_key, b.provider_batch_id, b.model, b.provider, b.status, b.request_count, b.submitted_at,
               coalesce(b.completed_at, b.expired_at, b.cancelled_at, b.failed_at), b.collected_at,
               (SELECT sum(cost_usd) FROM results s WHERE s.batch_key = b.local_key)
                 + coalesce((SELECT sum(cost_usd) FROM errors e WHERE e.batch_key = b.local_key), 0),
               (SELECT sum(sync_cost_usd) FROM results s WHERE s.batch_key = b.local_key)
                 + coalesce((SELECT sum(sync_cost_usd) FROM errors e WHERE e.batch_key = b.local_key), 0),
               (SELECT count(*) FROM errors e WHERE e.batch_key = b.local_key),
               (SELECT count(*) FROM results s WHERE s.batch_key = b.local_key)
        FROM batches b WHERE b.provider_batch_id IS NOT NULL ORDER BY b.submitted_at, b.created_at
        """
    )
    return [dict(zip(names, row, strict=True)) for row in rows]


def sync_report_rows(db: sqlite3.Connection) -> list[dict[str, Any]]:
    """Sync-mode work by day: requests, errors, billed and uncached-sync cost."""
    rows = db.execute(
        """
        SELECT day, sum(n), sum(errors), sum(cost), sum(sync_cost) FROM (
            SELECT substr(created_at, 1, 10) AS day, count(*) AS n, 0 AS errors, sum(cost_usd) AS cost,
                   sum(sync_cost_usd) AS sync_cost FROM results WHERE source = 'sync' GROUP BY 1
            UNION ALL
            SELECT substr(created_at, 1, 10), count(*), count(*), sum(cost_usd), sum(sync_cost_usd)
            FROM errors WHERE batch_key LIKE 'sync-r%' GROUP BY 1)
        GROUP BY day ORDER BY day
        """
    )
    names = ("day", "requests", "errors", "cost_usd", "sync_cost_usd")
    return [dict(zip(names, row, strict=True)) for row in rows]


def state_version(db: sqlite3.Connection, run_id: int) -> list[int]:
    """Changes whenever what the outputs show could: new answers, errors, or another run's input."""
    row = db.execute(
        "SELECT (SELECT coalesce(max(id), 0) FROM results), (SELECT coalesce(max(id), 0) FROM errors), "
        "(SELECT count(*) FROM records WHERE run_id = ?)",
        (run_id,),
    ).fetchone()
    return [run_id, *row]
