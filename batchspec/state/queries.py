"""Read-only views of the state: output rows, error rows, totals. Sinks and reports use these."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

# The newest successful result for each record's current request.
OUTPUT_ROWS = """
    SELECT r.ordinal, r.model, r.custom_id, r.record_id, s.output, s.parsed, s.input_tokens, s.output_tokens,
           s.cache_read_tokens, s.cache_write_tokens, s.cost_usd
    FROM records r JOIN results s ON s.id = (
        SELECT max(id) FROM results WHERE model = r.model AND custom_id = r.custom_id
        AND request_hash = r.request_hash)
    WHERE r.run_id = ? AND r.status = 'done'
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
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_usd",
)
ERROR_COLUMNS = ("ordinal", "model", "custom_id", "id", "error_code", "error_message", "attempts")


def output_rows(db: sqlite3.Connection, run_id: int) -> Iterator[dict[str, Any]]:
    for row in db.execute(OUTPUT_ROWS, (run_id,)):
        yield dict(zip(OUTPUT_COLUMNS, row, strict=True))


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


def usage_totals(db: sqlite3.Connection, run_batches_of: int | None = None) -> dict[str, Any]:
    """Tokens and cost of everything billed (answers, and unusable answers that were billed)."""
    where, params = (
        ("WHERE batch_key IN (SELECT local_key FROM batches WHERE run_id = ?)", (run_batches_of,))
        if run_batches_of is not None
        else ("", ())
    )
    totals = dict.fromkeys(USAGE_COLUMNS, 0)
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


def record_counts(db: sqlite3.Connection, run_id: int | None) -> dict[str, int]:
    counts = {"done": 0, "failed": 0, "pending": 0, "submitted": 0}
    for status, n in db.execute("SELECT status, count(*) FROM records WHERE run_id = ? GROUP BY 1", (run_id,)):
        counts[status] = n
    return counts


def latest_run(db: sqlite3.Connection) -> int | None:
    row = db.execute("SELECT max(run_id) FROM records").fetchone()
    return row[0] if row else None
