"""The response cache (``cache.responses: true``): successful answers by request hash, shared by
every job on the machine, so an identical request is answered once and never paid for again.

It is a separate SQLite file (default: the user's cache directory) attached to the state's
connection while a run uses it; answers taken from it are stored as results with source
``cache`` and cost 0.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import platformdirs

from batchspec.errors import StateError
from batchspec.state.schema import RESPONSE_CACHE_SCHEMA
from batchspec.state.store import now, transaction

ALIAS = "rcache"


def default_cache_path() -> Path:
    base = os.environ.get("BATCHSPEC_CACHE_DIR") or platformdirs.user_cache_dir("batchspec")
    return Path(base) / "responses.db"


def cache_path(configured: Path | None) -> Path:
    return configured if configured is not None else default_cache_path()


def ensure(path: Path) -> None:
    """Create the cache file (and its schema) if it does not exist yet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.executescript(RESPONSE_CACHE_SCHEMA)
    finally:
        db.close()


def attach(db: sqlite3.Connection, path: Path | None, *, readonly: bool = False) -> None:
    """Attach the cache as ``rcache``; without a file (plan before any run), an empty one. A file
    that is not a response cache is a StateError naming it."""
    if path is not None and (path.exists() or not readonly):
        try:
            if not path.exists():
                ensure(path)
            db.execute("ATTACH DATABASE ? AS rcache", (f"file:{path}{'?mode=ro' if readonly else ''}",))
            db.execute("SELECT 1 FROM rcache.responses LIMIT 1").fetchall()
        except sqlite3.DatabaseError as error:
            if any(row[1] == ALIAS for row in db.execute("PRAGMA database_list")):
                db.execute(f"DETACH DATABASE {ALIAS}")
            raise StateError(
                f"{path}: not a batchspec response cache, or damaged ({error}); move it away or point "
                "cache.responses_path elsewhere; it was not changed"
            ) from None
        return
    db.execute("ATTACH DATABASE ':memory:' AS rcache")
    db.executescript(RESPONSE_CACHE_SCHEMA.replace("EXISTS responses", "EXISTS rcache.responses"))


def share_results(db: sqlite3.Connection, job: str) -> None:
    """Copy the state's successful answers into the cache (identical requests keep the first)."""
    with transaction(db):
        db.execute(
            "INSERT OR IGNORE INTO rcache.responses (request_hash, provider, model_name, output, parsed, response, "
            "sync_cost_usd, job, created_at) "
            "SELECT s.request_hash, q.provider, q.model_name, s.output, s.parsed, s.response, s.sync_cost_usd, ?, "
            "s.created_at FROM results s JOIN requests q ON q.request_hash = s.request_hash "
            "WHERE s.source != 'cache' AND s.id > coalesce((SELECT CAST(value AS INTEGER) FROM meta "
            "WHERE key = 'cache_shared_upto'), 0)",
            (job,),
        )
        db.execute(
            "INSERT OR REPLACE INTO meta VALUES ('cache_shared_upto', (SELECT coalesce(max(id), 0) FROM results))"
        )


def answer_from_cache(db: sqlite3.Connection, run_id: int) -> int:
    """Pending records whose exact request the cache has answered: stored as done, at no cost."""
    stamp = now()
    hit = "r.run_id = ? AND r.status = 'pending' AND r.batch_key IS NULL"
    with transaction(db):
        cursor = db.execute(
            "INSERT OR IGNORE INTO results (model, custom_id, request_hash, batch_key, attempt, output, parsed, "
            "response, cost_usd, sync_cost_usd, source, created_at) "
            "SELECT r.model, r.custom_id, r.request_hash, 'cache', r.attempts, c.output, c.parsed, c.response, 0, "
            f"c.sync_cost_usd, 'cache', ? FROM records r JOIN rcache.responses c ON c.request_hash = r.request_hash "
            f"WHERE {hit}",
            (stamp, run_id),
        )
        db.execute(
            "UPDATE records SET status = 'done', last_error_code = NULL, last_error_message = NULL, updated_at = ? "
            "WHERE run_id = ? AND status = 'pending' AND batch_key IS NULL "
            "AND request_hash IN (SELECT request_hash FROM rcache.responses)",
            (stamp, run_id),
        )
    return cursor.rowcount
