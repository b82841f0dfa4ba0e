"""A job's state kept in S3 (or any S3-compatible store), shared by CI runners that come and go.

The state stays a SQLite file: each run works on a local copy, downloaded once the run holds the
job's lock, and uploads it (zstd-compressed) at checkpoints. Two S3 conditional writes make that
safe across machines:

- the lock is an object beside the state, created with ``If-None-Match: *`` (exactly one runner can
  create it) and renewed with ``If-Match`` on its ETag (a heartbeat, so a dead runner's lock can
  be taken over once it is older than ``state.lock_expiry``);
- every upload of the state carries ``If-Match`` on the ETag this runner last read or wrote
  (``If-None-Match: *`` for a new state), so a runner holding a stale copy can never overwrite a
  newer one.

boto3 is configured the standard AWS way: the credential chain, ``AWS_ENDPOINT_URL_S3`` /
``AWS_ENDPOINT_URL`` for R2, MinIO or GCS interoperability, ``AWS_REGION``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from batchspec.errors import StateError, StateLocked
from batchspec.spec.units import format_duration

log = logging.getLogger("batchspec.state")

SCHEME = "s3://"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
SQLITE_MAGIC = b"SQLite format 3\x00"
PRECONDITION_FAILED = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
INSTALL_HINT = "pip install 'batchspec[s3]'"


def is_remote(value: str | os.PathLike[str]) -> bool:
    return str(value).startswith(SCHEME)


@dataclass(frozen=True)
class RemoteLocation:
    """``s3://bucket/key.db``: where the state lives, and its lock beside it."""

    bucket: str
    key: str

    @classmethod
    def parse(cls, url: str) -> RemoteLocation:
        """Raises ValueError saying what is wrong with the address."""
        rest = url[len(SCHEME) :] if url.startswith(SCHEME) else ""
        bucket, _, key = rest.partition("/")
        if not bucket or not key or key.endswith("/"):
            raise ValueError(f"'{url}' is not an S3 object address: write s3://bucket/path/job.db")
        return cls(bucket, key)

    @property
    def url(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key}"

    @property
    def lock_key(self) -> str:
        return f"{self.key}.lock"

    def working_copy(self, base: Path, job_name: str) -> Path:
        """The run's local copy, beside the spec; named by the address so two buckets never share one."""
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:10]
        return base / ".batchspec" / "remote" / f"{job_name}-{digest}.db"


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as its lock object says."""

    host: str
    pid: int | str
    since: str
    age: float | None  # seconds since its last heartbeat, by the store's clock; None if unknown

    def describe(self) -> str:
        beat = f", last heartbeat {format_duration(self.age)} ago" if self.age is not None else ""
        return f"host {self.host}, pid {self.pid}, since {self.since}{beat}"


def client() -> Any:
    try:
        import boto3  # type: ignore[import-untyped]
        from botocore.config import Config  # type: ignore[import-untyped]
    except ImportError:
        raise StateError(f"the state is in S3, which needs boto3: {INSTALL_HINT}") from None
    # Standard retries ride out a store's brief 503s; the credential chain, endpoint and region
    # come from the environment or ~/.aws exactly as for the AWS CLI.
    return boto3.client("s3", config=Config(retries={"max_attempts": 6, "mode": "standard"}))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _explain(location: RemoteLocation, error: Exception, doing: str) -> StateError:
    """A store's failure in words a user can act on (never a credential's value)."""
    code = _code(error)
    name = type(error).__name__
    if name in {"NoCredentialsError", "PartialCredentialsError"}:
        reason = (
            "no AWS credentials were found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
            "or a role (OIDC in CI)"
        )
    elif code == "NoSuchBucket":
        reason = f"the bucket '{location.bucket}' does not exist (or the endpoint is not the one that holds it)"
    elif code in {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"}:
        reason = f"access denied ({code}): the credentials may not read and write {location.url} and its lock"
    elif name in {"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError"}:
        reason = f"the store cannot be reached ({error})"
    else:
        reason = str(error)
    return StateError(f"{location.url}: cannot {doing}: {reason}")


class RemoteState:
    """The lock, download and uploads of one run's remote state."""

    def __init__(self, location: RemoteLocation, copy: Path, job_name: str, lock_expiry: float) -> None:
        self.location = location
        self.copy = copy
        self.job_name = job_name
        self.lock_expiry = lock_expiry
        self.s3 = client()
        self.token = uuid.uuid4().hex  # tells this runner's lock from a later one of the same pid
        self.etag: str | None = None  # the state object as this runner last read or wrote it
        self.lock_etag: str | None = None
        self.lost: str | None = None  # why the lock is no longer ours
        self.uploads = 0
        self.uploaded_bytes = 0
        self.took_over: Holder | None = None
        self._beat_lock = threading.Lock()
        self._stop_beating = threading.Event()
        self._beater: threading.Thread | None = None
        self._since = _now()

    # -- the lock ----------------------------------------------------------------------------------

    def _lock_body(self) -> bytes:
        body = {
            "job": self.job_name,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "since": self._since,
            "heartbeat": _now(),
            "token": self.token,
        }
        return json.dumps(body).encode()

    def acquire(self) -> None:
        """Take the job's lock, or raise StateLocked naming its live holder."""
        for _ in range(5):  # a holder that releases while we look: try again
            try:
                answer = self.s3.put_object(
                    Bucket=self.location.bucket, Key=self.location.lock_key, Body=self._lock_body(), IfNoneMatch="*"
                )
            except Exception as error:
                if _code(error) not in PRECONDITION_FAILED:
                    raise _explain(self.location, error, "take the job's lock") from None
            else:
                self.lock_etag = answer["ETag"]
                self._start_heartbeat()
                return
            found = self.holder()
            if found is None:
                continue
            holder, etag = found
            if holder.age is None or holder.age <= self.lock_expiry:
                raise StateLocked(
                    f"{self.location.url}: job '{self.job_name}' is being run by another runner ({holder.describe()}); "
                    f"wait for it to finish. A lock whose runner died is taken over after "
                    f"{format_duration(self.lock_expiry)} without a heartbeat (state.lock_expiry), or release it "
                    "with `batchspec unlock` once you know that runner is gone",
                    holder.describe(),
                )
            if self._take_over(etag):
                self.took_over = holder
                log.info("took over the lock of a runner gone silent (%s)", holder.describe())
                self._start_heartbeat()
                return
        raise StateError(f"{self.location.url}: cannot take the job's lock: it keeps changing hands; try again")

    def _take_over(self, etag: str) -> bool:
        try:
            answer = self.s3.put_object(
                Bucket=self.location.bucket, Key=self.location.lock_key, Body=self._lock_body(), IfMatch=etag
            )
        except Exception as error:
            if _code(error) in PRECONDITION_FAILED or _code(error) == "NoSuchKey":
                return False  # another runner took it first
            raise _explain(self.location, error, "take over the job's lock") from None
        self.lock_etag = answer["ETag"]
        return True

    def holder(self) -> tuple[Holder, str] | None:
        """The lock's holder and the lock object's ETag, or None when nobody holds it."""
        try:
            answer = self.s3.get_object(Bucket=self.location.bucket, Key=self.location.lock_key)
            raw = answer["Body"].read()
        except Exception as error:
            if _code(error) in {"NoSuchKey", "404"}:
                return None
            raise _explain(self.location, error, "read the job's lock") from None
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        age = None
        with contextlib.suppress(KeyError, TypeError, ValueError):
            served = parsedate_to_datetime(answer["ResponseMetadata"]["HTTPHeaders"]["date"])
            age = max(0.0, (served - answer["LastModified"]).total_seconds())  # both by the store's clock
        holder = Holder(
            host=str(body.get("host", "unknown host")),
            pid=body.get("pid", "?"),
            since=str(body.get("since", "an unknown time")),
            age=age,
        )
        return holder, answer["ETag"]

    def renew(self) -> None:
        """Renew the lock (a heartbeat); raises StateLocked when it is no longer this runner's."""
        with self._beat_lock:
            if self.lost is None and self.lock_etag is not None:
                try:
                    answer = self.s3.put_object(
                        Bucket=self.location.bucket,
                        Key=self.location.lock_key,
                        Body=self._lock_body(),
                        IfMatch=self.lock_etag,
                    )
                    self.lock_etag = answer["ETag"]
                except Exception as error:
                    if _code(error) not in PRECONDITION_FAILED and _code(error) != "NoSuchKey":
                        raise _explain(self.location, error, "renew the job's lock") from None
                    self.lost = "the job's lock was released by hand or taken over by another runner"
        if self.lost is not None:
            raise StateLocked(
                f"{self.location.url}: {self.lost}; this runner stops without sending anything more "
                "(its batches are found at the provider by the next run)",
                "another runner",
            )

    def _start_heartbeat(self) -> None:
        interval = max(0.5, min(60.0, self.lock_expiry / 4))

        def beat() -> None:
            while not self._stop_beating.wait(interval):
                try:
                    self.renew()
                except StateError as error:
                    log.warning("%s", error)
                    if self.lost is not None:
                        return

        self._beater = threading.Thread(target=beat, name="batchspec-lock-heartbeat", daemon=True)
        self._beater.start()

    def release(self) -> None:
        """Delete the lock if it is still this runner's."""
        self._stop_beating.set()
        if self._beater is not None:
            self._beater.join(timeout=5)
        with self._beat_lock:
            if self.lost is not None or self.lock_etag is None:
                return
            etag, self.lock_etag = self.lock_etag, None
            with contextlib.suppress(Exception):  # a lock left behind expires; never fail a finished run for it
                delete_lock(self.s3, self.location, etag)

    # -- the state object --------------------------------------------------------------------------

    def pull(self) -> None:
        """Make the working copy the state in the store (or no file at all for a job never run)."""
        etag_file = self.copy.with_name(f"{self.copy.name}.etag")
        kept = etag_file.read_text().strip() if etag_file.exists() and self.copy.exists() else None
        try:
            extra = {"IfNoneMatch": kept} if kept else {}
            answer = self.s3.get_object(Bucket=self.location.bucket, Key=self.location.key, **extra)
        except Exception as error:
            code = _code(error)
            if code in {"304", "NotModified"}:  # the local copy is the stored one, or newer: keep it
                self.etag = kept
                return
            if code in {"NoSuchKey", "404"}:
                self.etag = None
                _remove_copy(self.copy)
                return
            raise _explain(self.location, error, "download the state") from None
        self.copy.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.copy.with_name(f".{self.copy.name}.download")
        try:
            with open(tmp, "wb") as out:
                _decompress(answer["Body"], out)
            with open(tmp, "rb") as check:
                if check.read(16) != SQLITE_MAGIC:
                    raise StateError(
                        f"{self.location.url}: not a batchspec state (neither SQLite nor zstd); it was not changed"
                    )
            _remove_copy(self.copy)
            os.replace(tmp, self.copy)
        finally:
            tmp.unlink(missing_ok=True)
        self.etag = answer["ETag"]
        etag_file.write_text(self.etag)

    def push(self, db: sqlite3.Connection) -> None:
        """Upload a consistent snapshot of the working copy; never over a state this runner did not read."""
        self.renew()
        snapshot = self.copy.with_name(f".{self.copy.name}.snapshot")
        packed = self.copy.with_name(f".{self.copy.name}.zst")
        try:
            target = sqlite3.connect(snapshot)
            try:
                db.backup(target)  # a consistent copy, WAL included, while the run goes on
            finally:
                target.close()
            with open(snapshot, "rb") as source, open(packed, "wb") as out:
                _compress(source, out)
            condition = {"IfMatch": self.etag} if self.etag else {"IfNoneMatch": "*"}
            with open(packed, "rb") as body:
                try:
                    answer = self.s3.put_object(
                        Bucket=self.location.bucket,
                        Key=self.location.key,
                        Body=body,
                        ContentType="application/zstd",
                        Metadata={"batchspec-job": self.job_name, "batchspec-format": "sqlite3+zstd"},
                        **condition,
                    )
                except Exception as error:
                    if _code(error) in PRECONDITION_FAILED:
                        self.lost = "another runner changed the state since this one read it"
                        raise StateLocked(
                            f"{self.location.url}: another runner changed the state since this one read it (its lock "
                            "was released by hand or taken over); this runner's changes were not uploaded and it "
                            "stops; its batches are found at the provider by the next run",
                            "another runner",
                        ) from None
                    raise _explain(self.location, error, "upload the state") from None
            self.uploads += 1
            self.uploaded_bytes += packed.stat().st_size
            self.etag = answer["ETag"]
            self.copy.with_name(f"{self.copy.name}.etag").write_text(self.etag)
        finally:
            snapshot.unlink(missing_ok=True)
            packed.unlink(missing_ok=True)


def delete_lock(s3: Any, location: RemoteLocation, etag: str) -> None:
    """Delete the lock object only while it is the one named by ``etag``."""
    try:
        s3.delete_object(Bucket=location.bucket, Key=location.lock_key, IfMatch=etag)
    except Exception as error:
        if _code(error) in PRECONDITION_FAILED:
            return  # not ours any more
        if _code(error) not in {"NotImplemented", "InvalidArgument"}:
            raise
        # A store without conditional deletes: check, then delete (a narrow race, and only on release).
        answer = s3.head_object(Bucket=location.bucket, Key=location.lock_key)
        if answer["ETag"] == etag:
            s3.delete_object(Bucket=location.bucket, Key=location.lock_key)


def _remove_copy(copy: Path) -> None:
    """A downloaded file replaces the copy whole: its WAL and index must not outlive it."""
    for suffix in ("", "-wal", "-shm", ".etag"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)


def _compress(source: Any, out: Any) -> None:
    import zstandard  # type: ignore[import-not-found, unused-ignore]

    zstandard.ZstdCompressor(level=3, threads=-1).copy_stream(source, out)


def _decompress(body: Any, out: Any) -> None:
    """Stored states are zstd; a plain SQLite file (copied there by hand) is taken as it is."""
    head = body.read(4)
    if head != ZSTD_MAGIC:
        out.write(head)
        for chunk in iter(lambda: body.read(1 << 20), b""):
            out.write(chunk)
        return
    import zstandard  # type: ignore[import-not-found, unused-ignore]

    unpack = zstandard.ZstdDecompressor().decompressobj()
    out.write(unpack.decompress(head))
    for chunk in iter(lambda: body.read(1 << 20), b""):
        out.write(unpack.decompress(chunk))


@contextlib.contextmanager
def snapshot(location: RemoteLocation, job_name: str, into: Path) -> Iterator[Path]:
    """The stored state, downloaded without taking the lock (for status, report and plan): it is
    what the last checkpoint held. Yields the file's path (which may not exist: never run)."""
    RemoteState(location, into, job_name, lock_expiry=0).pull()  # no lock taken: only the download
    try:
        yield into
    finally:
        _remove_copy(into)


def unlock(location: RemoteLocation, job_name: str, say: Callable[[str], None]) -> bool:
    """Release the job's lock by hand; False when nobody held it."""
    remote = RemoteState(location, Path(os.devnull), job_name, lock_expiry=0)
    found = remote.holder()
    if found is None:
        return False
    holder, etag = found
    try:
        delete_lock(remote.s3, location, etag)
    except Exception as error:
        raise _explain(location, error, "release the job's lock") from None
    say(f"released the lock of {holder.describe()}")
    return True
