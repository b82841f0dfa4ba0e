"""The plan's scratch table: every rendered request of this input, diffed against the state.

Millions of requests do not fit in memory, so they go to a throwaway SQLite file; the diff and
the duplicate checks are then single SQL queries. The request bodies, most of the bytes and needed
only by emit and run, go to an append-only spool file instead, so the queries' scans never read
them. The state file is only ever attached read-only here: planning never changes it.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from batchspec.errors import BatchspecError
from batchspec.state import responses
from batchspec.state.schema import MIGRATIONS
from batchspec.state.spool import Spool
from batchspec.state.store import is_environmental

# ordinal, model, custom_id, record_id (None when equal to custom_id), request_hash, payload bytes,
# input tokens, position in the input, prefix hash, prefix tokens, why it cannot be sent (or None)
ItemRow = tuple[int, str, str, str | None, str, int, int, int, str, int, str | None]

# How each staged request compares with the state, most decisive first. {cached} is a condition
# true when the response cache (or an identical request earlier in this input) answers it.
CATEGORY_SQL = """
    CASE
        WHEN i.problem IS NOT NULL THEN 'failed'
        WHEN EXISTS (SELECT 1 FROM state.results s WHERE s.model = i.model
                     AND s.custom_id = i.custom_id AND s.request_hash = i.request_hash) THEN 'done'
        WHEN r.request_hash = i.request_hash AND r.status = 'failed' THEN 'failed'
        WHEN r.request_hash = i.request_hash AND r.status = 'submitted' THEN 'in_flight'
        WHEN {rejoins} THEN 'in_flight'
        WHEN {cached} THEN 'cached'
        WHEN r.custom_id IS NULL THEN 'new'
        WHEN r.request_hash != i.request_hash THEN 'changed'
        WHEN r.status = 'done' THEN 'done'
        WHEN r.attempts > 0 THEN 'retryable'
        ELSE 'pending'
    END
"""
# An uncollected batch already holds exactly this request (an edit was made and then reverted).
REJOINS_SQL = """EXISTS (
    SELECT 1 FROM state.batch_items bi JOIN state.batches b ON b.local_key = bi.local_key
    WHERE bi.model = i.model AND bi.custom_id = i.custom_id AND bi.request_hash = i.request_hash
      AND b.provider_batch_id IS NOT NULL AND b.collected_at IS NULL)"""
CACHED_SQL = """(
    EXISTS (SELECT 1 FROM rcache.responses c WHERE c.request_hash = i.request_hash)
    OR EXISTS (SELECT 1 FROM state.results s WHERE s.request_hash = i.request_hash)
    OR EXISTS (SELECT 1 FROM items j WHERE j.model = i.model AND j.request_hash = i.request_hash
               AND j.ordinal < i.ordinal))"""
SEND_CATEGORIES = ("new", "changed", "pending", "retryable")
# The condition for a model's requests to send; its parameters are the model, then SEND_CATEGORIES.
_TO_SEND = f"model = ? AND category IN ({', '.join('?' * len(SEND_CATEGORIES))})"


class Staging:
    def __init__(self, state_path: Path | None, response_cache: Path | None = None, *, cache: bool = False) -> None:
        """``cache``: identical requests are answered once (from ``response_cache`` or each other)."""
        self.cache = cache
        self._dir = tempfile.mkdtemp(prefix="batchspec-plan-")
        self.path = Path(self._dir) / "plan.db"
        self.db = sqlite3.connect(self.path, isolation_level=None)
        self.bodies = Spool(Path(self._dir) / "bodies")
        try:
            with self.scratch_errors():
                self._create(state_path, response_cache)
        except BaseException:
            self.close()  # an unreadable state or cache file: leave no scratch files behind
            raise

    def _create(self, state_path: Path | None, response_cache: Path | None) -> None:
        # A scratch file written once in bulk and then scanned: big pages mean fewer system calls.
        pragmas = ("page_size = 65536", "journal_mode = OFF", "synchronous = OFF", "temp_store = FILE")
        for pragma in (*pragmas, "cache_size = -16384"):
            self.db.execute(f"PRAGMA {pragma}")
        if state_path is not None and state_path.exists():
            self.db.execute("ATTACH DATABASE ? AS state", (f"file:{state_path}?mode=ro",))
        else:  # no state yet: an empty one keeps the queries uniform
            self.db.execute("ATTACH DATABASE ':memory:' AS state")
            for _, _, sql in MIGRATIONS:
                self.db.executescript(
                    sql.replace("CREATE TABLE ", "CREATE TABLE state.").replace("CREATE INDEX ", "CREATE INDEX state.")
                )
        responses.attach(self.db, response_cache if self.cache else None, readonly=True)
        self.db.execute(
            """CREATE TABLE main.items (
                ordinal INTEGER NOT NULL, model TEXT NOT NULL, custom_id TEXT NOT NULL,
                record_id TEXT, request_hash TEXT NOT NULL, nbytes INTEGER NOT NULL,
                tokens INTEGER NOT NULL, position INTEGER NOT NULL,
                prefix_hash TEXT NOT NULL, prefix_tokens INTEGER NOT NULL, problem TEXT,
                body_at INTEGER, body_len INTEGER)"""  # where the body is in self.bodies, if kept
        )
        self.db.execute("BEGIN")

    def close(self) -> None:
        self.db.close()
        self.bodies.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, rows: Sequence[ItemRow], bodies: Sequence[bytes] | None = None) -> None:
        """Stage ``rows`` (and the request body of each, if given, in the same order)."""
        if bodies is None:
            self.db.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)", rows)
            return
        at = self.bodies.append(bodies)
        placed = []
        for row, body in zip(rows, bodies, strict=True):
            placed.append((*row, at, len(body)))
            at += len(body)
        self.db.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", placed)

    @contextmanager
    def scratch_errors(self) -> Iterator[None]:
        """A full disk while staging (its sorts and indexes spill there too) is about $TMPDIR, not
        the state: say so."""
        try:
            yield
        except (sqlite3.Error, OSError) as error:
            if isinstance(error, sqlite3.Error) and not is_environmental(error):
                raise
            reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
            raise BatchspecError(
                f"{self._dir}: {reason} (the plan's scratch files; set TMPDIR to a place with room)"
            ) from None

    @property
    def kept_bodies(self) -> bool:
        """Whether rows were added with their bodies (a body is never empty)."""
        return self.bodies.size > 0

    def finish(self) -> None:
        """Index what was added; call once, after the last ``add``."""
        self.db.execute("CREATE INDEX items_key ON items (model, custom_id)")
        if self.cache:
            self.db.execute("CREATE INDEX items_hash ON items (model, request_hash, ordinal)")
        self.db.execute("COMMIT")
        columns = (
            "i.rowid AS seq, i.model, i.custom_id, i.request_hash, i.nbytes, i.tokens, i.prefix_hash, "
            "i.prefix_tokens, i.body_at, i.body_len"
        )
        if not self.cache and self._state_is_empty():
            # A first plan: every request is new, so a view spares copying every row.
            self.db.execute(
                f"CREATE VIEW main.classified AS SELECT {columns}, "
                "CASE WHEN i.problem IS NULL THEN 'new' ELSE 'failed' END AS category, NULL AS stored_hash, "
                "NULL AS stored_run "
                "FROM items i NOT INDEXED"  # in input order, not through items_key
            )
            return
        running = self.db.execute(
            "SELECT 1 FROM state.batches WHERE provider_batch_id IS NOT NULL AND collected_at IS NULL"
        ).fetchone()
        category = CATEGORY_SQL.format(
            cached=CACHED_SQL if self.cache else "0", rejoins=REJOINS_SQL if running else "0"
        )
        # Classified once (the category is the expensive part), in input order: seq is the rowid.
        self.db.execute(
            "CREATE TABLE main.classified (seq INTEGER PRIMARY KEY, model TEXT, custom_id TEXT, "
            "request_hash TEXT, nbytes INTEGER, tokens INTEGER, prefix_hash TEXT, prefix_tokens INTEGER, "
            "body_at INTEGER, body_len INTEGER, category TEXT, stored_hash TEXT, stored_run INTEGER)"
        )
        self.db.execute(
            f"INSERT INTO main.classified SELECT {columns}, {category}, r.request_hash, r.run_id "
            "FROM items i LEFT JOIN state.records r ON r.model = i.model AND r.custom_id = i.custom_id"
        )

    def _state_is_empty(self) -> bool:
        """No record, result or batch in the state: nothing to compare this input with."""
        row = self.db.execute(
            "SELECT EXISTS (SELECT 1 FROM state.records) OR EXISTS (SELECT 1 FROM state.results) "
            "OR EXISTS (SELECT 1 FROM state.batch_items)"
        ).fetchone()
        return not row[0]

    def has_duplicate_custom_ids(self) -> bool:
        """One ordered pass over the index: true when some model has a custom_id twice (a repeated
        record id, or two ids that map to one custom_id). The detailed queries run only then."""
        row = self.db.execute(
            "SELECT 1 FROM items INDEXED BY items_key GROUP BY model, custom_id HAVING count(*) > 1 LIMIT 1"
        ).fetchone()
        return row is not None

    def duplicate_record_ids(self, model: str, limit: int) -> list[tuple[str, list[int]]]:
        """Record ids found more than once, with the input positions of each."""
        rows = self.db.execute(
            "SELECT rid, group_concat(position) FROM (SELECT coalesce(record_id, custom_id) AS rid, position, "
            "ordinal FROM items WHERE model = ?) WHERE rid IN (SELECT coalesce(record_id, custom_id) FROM items "
            "WHERE model = ? GROUP BY 1 HAVING count(*) > 1 LIMIT ?) GROUP BY rid ORDER BY min(ordinal)",
            (model, model, limit),
        ).fetchall()
        return [(row[0], [int(p) for p in row[1].split(",")]) for row in rows]

    def custom_id_collisions(self, model: str, limit: int) -> list[tuple[str, list[str]]]:
        """Distinct record ids that map to one custom_id (possible only for crafted ids)."""
        rows = self.db.execute(
            "SELECT custom_id, group_concat(DISTINCT coalesce(record_id, custom_id)) FROM items WHERE model = ? "
            "GROUP BY custom_id HAVING count(DISTINCT coalesce(record_id, custom_id)) > 1 LIMIT ?",
            (model, limit),
        ).fetchall()
        return [(row[0], row[1].split(",")) for row in rows]

    def counts(self) -> Iterator[dict[str, Any]]:
        """Per model and category: requests, bytes, input tokens."""
        for model, category, n, nbytes, tokens in self.db.execute(
            "SELECT model, category, count(*), sum(nbytes), sum(tokens) FROM classified GROUP BY 1, 2"
        ):
            yield {"model": model, "category": category, "requests": n, "bytes": nbytes, "tokens": tokens}

    def removed(self) -> dict[str, int]:
        """Per model: records the last run's input had that this input does not (they leave the outputs)."""
        last = self.db.execute("SELECT max(run_id) FROM state.records").fetchone()[0]
        if last is None:
            return {}
        had = dict(self.db.execute("SELECT model, count(*) FROM state.records WHERE run_id = ? GROUP BY 1", (last,)))
        kept = dict(self.db.execute("SELECT model, count(*) FROM classified WHERE stored_run = ? GROUP BY 1", (last,)))
        return {model: n - kept.get(model, 0) for model, n in had.items() if n > kept.get(model, 0)}

    def prefixes(self, model: str) -> list[tuple[int, int]]:
        """(requests, prefix tokens) for each stable prompt prefix among the requests to send."""
        rows = self.db.execute(
            f"SELECT count(*), max(prefix_tokens) FROM classified WHERE {_TO_SEND} AND prefix_tokens > 0 "
            "GROUP BY prefix_hash",
            (model, *SEND_CATEGORIES),
        ).fetchall()
        return [(n, tokens) for n, tokens in rows]

    def send_sizes(self, model: str) -> Iterator[tuple[int]]:
        """(payload bytes,) of each request to send for ``model``, in input order."""
        return self.db.execute(
            f"SELECT nbytes FROM classified WHERE {_TO_SEND} ORDER BY seq", (model, *SEND_CATEGORIES)
        )

    def send_bodies(self, model: str) -> Iterator[tuple[str, str, bytes]]:
        """(custom_id, request hash, request body) of each request to send for ``model``, in input
        order. The plan must have kept the bodies."""
        rows = self.db.execute(
            f"SELECT custom_id, request_hash, body_at, body_len FROM classified WHERE {_TO_SEND} ORDER BY seq",
            (model, *SEND_CATEGORIES),
        )
        read = self.bodies.read
        return ((custom_id, request_hash, read(at, length)) for custom_id, request_hash, at, length in rows)

    def send_custom_id(self, model: str, index: int) -> str:
        """The custom_id of the request to send at ``index`` (from 0) for ``model``."""
        row = self.db.execute(
            f"SELECT custom_id FROM classified WHERE {_TO_SEND} ORDER BY seq LIMIT 1 OFFSET ?",
            (model, *SEND_CATEGORIES, index),
        ).fetchone()
        return str(row[0])

    def state_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM state.meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def known_provider_ids(self) -> set[str]:
        """The provider ids of every batch the state knows."""
        rows = self.db.execute("SELECT provider_batch_id FROM state.batches WHERE provider_batch_id IS NOT NULL")
        return {row[0] for row in rows}

    def explain_row(self, model: str, custom_id: str) -> tuple[str, str | None, dict[str, Any] | None]:
        """(category, stored request body, stored record) of one staged request."""
        category, stored_hash = self.db.execute(
            "SELECT category, stored_hash FROM classified WHERE model = ? AND custom_id = ?",
            (model, custom_id),
        ).fetchone()
        body = None
        record = None
        if stored_hash is not None:
            row = self.db.execute("SELECT body FROM state.requests WHERE request_hash = ?", (stored_hash,)).fetchone()
            body = bytes(row[0]).decode() if row else None
            cursor = self.db.execute(
                "SELECT * FROM state.records WHERE model = ? AND custom_id = ?", (model, custom_id)
            )
            names = [d[0] for d in cursor.description]
            record = dict(zip(names, cursor.fetchone(), strict=True))
        return category, body, record
