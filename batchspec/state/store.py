"""Opening, creating, migrating and locking a job's state file (SQLite, WAL).

A new state file is built in a temporary file and renamed into place, so a crash never leaves a
half-made one. An existing file is checked before anything writes to it: another program's
SQLite file, another job's state, or a newer schema is refused with a clear error.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from batchspec.errors import StateError, StateLocked
from batchspec.state.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION
from batchspec.version import __version__

if TYPE_CHECKING:
    from batchspec.state.remote import RemoteState

# A remote state is uploaded at the moments that matter (before the provider is called, before the
# outputs are rewritten, at the end) and otherwise at most this often, so a run's upload count
# grows with its batches and its duration, never with its records or polls.
CHECKPOINT_SECONDS = 30.0


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class NamedConnection(sqlite3.Connection):
    """A connection that knows its file, so that a full disk or a read-only directory is reported
    with the path of the file it happened to (the state, not the plan's scratch file)."""

    path: str = "the state file"


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
    db = sqlite3.connect(
        uri, uri=True, isolation_level=None, timeout=30, check_same_thread=False, factory=NamedConnection
    )
    db.path = str(path)
    db.execute("PRAGMA busy_timeout = 30000")
    return db


ENVIRONMENTAL = ("disk is full", "unable to open", "disk i/o error", "readonly database", "out of memory")


def is_environmental(error: sqlite3.Error) -> bool:
    """An error of the machine (a full disk, a file that cannot be written), not of batchspec."""
    return isinstance(error, sqlite3.OperationalError) and any(s in str(error).lower() for s in ENVIRONMENTAL)


def path_of(db: sqlite3.Connection) -> str:
    return getattr(db, "path", "the state file")


def use_wal(db: sqlite3.Connection) -> None:
    """Write-ahead logging: readers (status) never block the run. Set only on a file known to be ours."""
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA cache_size = -65536")  # 64 MiB: big merges and collects stay off the disk


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One state change: all of it is written, or none."""
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    except sqlite3.Error as error:
        if not is_environmental(error):
            raise
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        raise StateError(f"{path_of(db)}: {error} (the state file; nothing of this step was written)") from None


def create_schema(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)")
    done = {row[0] for row in db.execute("SELECT version FROM migrations")}
    for version, name, sql in MIGRATIONS:
        if version in done:
            continue
        db.executescript(f"BEGIN; {sql}; COMMIT;")
        db.execute("INSERT INTO migrations VALUES (?, ?, ?)", (version, name, now()))
        db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(version),))
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")


class StateStore:
    """A job's state file. Use ``StateStore.open`` (creates it) or ``StateStore.read`` (never writes)."""

    def __init__(self, db: sqlite3.Connection, path: Path, job_name: str) -> None:
        self.db = db
        self.path = path
        self.job_name = job_name
        self._lock_file: IO[str] | None = None
        self.remote: RemoteState | None = None  # set when the state lives in S3: this is its working copy
        self._pushed_changes = 0
        self._pushed_at = time.monotonic()

    @classmethod
    def open(cls, path: Path, job_name: str) -> StateStore:
        if not path.exists():
            try:
                _create(path, job_name)
            except (OSError, sqlite3.Error) as error:
                raise StateError(f"{path}: cannot create the state file ({error}); set state.path or --state") from None
        db = _open_checked(path, job_name, readonly=False)
        use_wal(db)
        create_schema(db)  # applies migrations added since the file was written
        return cls(db, path, job_name)

    @classmethod
    def read(cls, path: Path, job_name: str) -> StateStore | None:
        """The state, opened read-only, or None when the job has never run."""
        if not path.exists():
            return None
        return cls(_open_checked(path, job_name, readonly=True), path, job_name)

    def close(self) -> None:
        try:
            if self.remote is not None and self.remote.lost is None:
                self._push_if_changed()
        finally:
            if self.remote is not None:
                self.remote.release()
                self.remote = None
            self.unlock()
            self.db.close()

    def checkpoint(self, *, force: bool = False) -> None:
        """Make the state durable where it lives. A local file already is (every change is a
        transaction); a remote one is uploaded: at once with ``force`` (the write-ahead points:
        before the provider is called, before the outputs are rewritten), otherwise when it changed
        and the last upload is CHECKPOINT_SECONDS old."""
        if self.remote is None:
            return
        if force:
            if not self._push_if_changed():
                self.remote.renew()  # nothing new to upload: still prove the lock is ours
        elif time.monotonic() - self._pushed_at >= CHECKPOINT_SECONDS:
            self._push_if_changed()

    def _push_if_changed(self) -> bool:
        assert self.remote is not None
        changes = self.db.total_changes
        if changes == self._pushed_changes and self.remote.etag is not None:
            return False
        self.remote.push(self.db)
        self._pushed_changes, self._pushed_at = changes, time.monotonic()
        return True

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def lock(self) -> None:
        """Take the job's run lock; another live run holding it is an error. The OS frees it when
        the process dies, so a killed run never leaves a stale lock."""
        handle = open(f"{self.path}.lock", "a+")  # noqa: SIM115 (held until unlock)
        if not _try_lock(handle):
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise StateLocked(
                f"{self.path}: job '{self.job_name}' is already running ({holder}); "
                "wait for it to finish, or stop it, before starting another run",
                holder,
            )
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {now()}")
        handle.flush()
        self._lock_file = handle

    def unlock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None


def _try_lock(handle: IO[str]) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _create(path: Path, job_name: str) -> None:
    """Build a fresh state file beside ``path`` and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        db = sqlite3.connect(tmp, isolation_level=None)
        try:
            create_schema(db)
            rows = [
                ("job_name", job_name),
                ("created_at", now()),
                ("created_by", f"batchspec {__version__}"),
            ]
            db.executemany("INSERT INTO meta VALUES (?, ?)", rows)
        finally:
            db.close()
        if path.exists():  # another process created it meanwhile: keep theirs
            return
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _open_checked(path: Path, job_name: str, *, readonly: bool) -> sqlite3.Connection:
    try:
        db = connect(path, readonly=readonly)
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as error:
        raise StateError(
            f"{path}: not a batchspec state file, or damaged ({error}); "
            "move it away or point --state elsewhere; it was not changed"
        ) from None
    if app_id != APPLICATION_ID or "meta" not in tables:
        db.close()
        raise StateError(
            f"{path}: not a batchspec state file (another program's SQLite database?); "
            "it was not changed; point --state elsewhere"
        )
    stored = _meta(db)
    try:
        version = int(stored.get("schema_version", "0"))
    except ValueError:
        version = -1
    if version < 0:
        db.close()
        raise StateError(f"{path}: the state file is damaged (its schema version is unreadable); it was not changed")
    if version > SCHEMA_VERSION:
        db.close()
        raise StateError(
            f"{path}: written by a newer batchspec ({stored.get('created_by', '?')}, state schema "
            f"{version}; this one reads up to {SCHEMA_VERSION}); upgrade batchspec"
        )
    if stored.get("job_name") != job_name:
        db.close()
        raise StateError(
            f"{path}: holds the state of job '{stored.get('job_name')}', not '{job_name}'; "
            "give this job its own state path"
        )
    missing = sorted(_tables_up_to(version) - tables)
    if missing:
        db.close()
        raise StateError(f"{path}: the state file is damaged (no table {', '.join(missing)}); it was not changed")
    try:
        db.execute("SELECT count(*) FROM records").fetchone()
    except sqlite3.DatabaseError as error:
        db.close()
        raise StateError(f"{path}: the state file is damaged ({error}); it was not changed") from None
    return db


def _tables_up_to(version: int) -> set[str]:
    """The tables a state of schema ``version`` has: its migrations' CREATE, DROP and RENAME, in order."""
    statement = re.compile(
        r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)|DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(\w+)"
        r"|ALTER\s+TABLE\s+(\w+)\s+RENAME\s+TO\s+(\w+)",
        re.IGNORECASE,
    )
    tables: set[str] = set()
    for v, _, sql in MIGRATIONS:
        if v > version:
            break
        for created, dropped, old, new in statement.findall(sql):
            if created:
                tables.add(created)
            elif dropped:
                tables.discard(dropped)
            else:
                tables.discard(old)
                tables.add(new)
    return tables


def _meta(db: sqlite3.Connection) -> dict[str, Any]:
    return dict(db.execute("SELECT key, value FROM meta").fetchall())
