"""A job's state in S3, shared by CI runners that come and go: against a real S3 API on 127.0.0.1
(moto's server mode, started here), through boto3 as a user's machine would talk to AWS, R2 or MinIO."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import zstandard

from batchspec.fakeapi import FakeAPI, FakeConfig
from batchspec.state.remote import RemoteLocation, RemoteState, unlock
from tests.conftest import BASE_SPEC, Job, merge, reviews, submitted_per_record

moto_server = pytest.importorskip("moto.server")


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket, and the standard AWS variables pointing boto3 at the local S3."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    name = f"ci-{uuid.uuid4().hex[:12]}"
    s3().create_bucket(Bucket=name)
    return name


def s3() -> Any:
    return boto3.client("s3")


def stored_state(bucket: str, key: str, into: Path) -> sqlite3.Connection:
    """The state as the bucket holds it (zstd-compressed SQLite)."""
    body = s3().get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body[:4] == b"\x28\xb5\x2f\xfd", "the stored state is zstd-compressed"
    into.write_bytes(zstandard.ZstdDecompressor().decompressobj().decompress(body))
    return sqlite3.connect(into)


def lock_of(bucket: str, key: str) -> dict[str, Any] | None:
    try:
        return dict(json.loads(s3().get_object(Bucket=bucket, Key=f"{key}.lock")["Body"].read()))
    except s3().exceptions.NoSuchKey:
        return None


def fresh_runner(job: Job) -> None:
    """What a new CI runner has: the repository, no local state, no outputs."""
    shutil.rmtree(job.dir / ".batchspec", ignore_errors=True)
    shutil.rmtree(job.dir / "out", ignore_errors=True)


def hold_lock(bucket: str, key: str, host: str = "runner-7", pid: int = 4242) -> None:
    """A lock as another live runner holds it."""
    body = {"job": "reviews", "host": host, "pid": pid, "since": "2026-12-04T10:00:00Z", "heartbeat": "now"}
    s3().put_object(Bucket=bucket, Key=f"{key}.lock", Body=json.dumps(body).encode(), IfNoneMatch="*")


def test_runners_share_one_state_in_s3_and_a_new_runner_pays_nothing_again(
    job: Job, bucket: str, fake_api: FakeAPI, tmp_path: Path
) -> None:
    url = f"s3://{bucket}/jobs/reviews.db"
    job.write_spec({"state": {"path": url}, "execution": {"max_requests_per_batch": 4}})
    first = job.run(expect=0)
    assert f"state: {url} (" in first.stdout
    assert len(job.outputs()) == 10
    assert lock_of(bucket, "jobs/reviews.db") is None, "the lock is released when the run ends"
    db = stored_state(bucket, "jobs/reviews.db", tmp_path / "seen.db")
    assert db.execute("SELECT count(*) FROM results").fetchone() == (10,)

    fresh_runner(job)
    job.append_records(reviews(2, start=11))
    job.run(expect=0)
    assert len(job.outputs()) == 12
    assert max(submitted_per_record(fake_api.ledger).values()) == 1, "a record was sent twice"
    status = job.cli("status", "job.yaml", "--json")
    data = json.loads(status.stdout)
    assert data["state"] == url and data["records"]["done"] == 12


def test_state_uploads_are_bounded_by_batches_not_records_or_polls(job: Job, bucket: str) -> None:
    job.write_records(reviews(60)).write_spec(
        {
            "state": {"path": f"s3://{bucket}/reviews.db"},
            "execution": {"max_requests_per_batch": 20, "poll_interval": 0.01},
        }
    )
    summary = json.loads(job.run("--json", expect=0).stdout.splitlines()[-1])
    # One upload before each of the 3 batches is sent, one before the outputs, one at the end.
    assert summary["batches_submitted"] == 3
    assert 2 <= summary["state_uploads"] <= 3 + 2


def test_the_intent_is_in_the_bucket_before_the_provider_is_called(
    job: Job, bucket: str, fake_api: FakeAPI, tmp_path: Path
) -> None:
    job.write_spec({"state": {"path": f"s3://{bucket}/reviews.db"}})
    env = {**os.environ, "BATCHSPEC_CRASH_AT": "after_upload"}  # killed with the file sent, no batch yet
    killed = subprocess.run([sys.executable, "-m", "batchspec", "run", "job.yaml", "-q"], cwd=job.dir, env=env)
    assert killed.returncode == -9
    db = stored_state(bucket, "reviews.db", tmp_path / "seen.db")
    assert db.execute("SELECT count(*) FROM batches").fetchone() == (1,), "the intent was uploaded first"

    fresh_runner(job)  # the killed runner is gone with its local copy
    hold = lock_of(bucket, "reviews.db")
    assert hold is not None and hold["pid"] != os.getpid()
    unlock_result = job.cli("unlock", "job.yaml")
    assert f"released the lock of host {socket.gethostname()}, pid {hold['pid']}" in unlock_result.stdout
    job.run(expect=0)
    assert len(job.outputs()) == 10
    assert max(submitted_per_record(fake_api.ledger).values()) == 1, "the killed runner's request was paid twice"


def test_a_second_runner_exits_2_naming_the_holder(job: Job, bucket: str, fake_api: FakeAPI) -> None:
    job.write_spec({"state": {"path": f"s3://{bucket}/reviews.db"}})
    hold_lock(bucket, "reviews.db")
    result = job.run(expect=2)
    assert "being run by another runner (host runner-7, pid 4242, since 2026-12-04T10:00:00Z" in result.stderr
    assert "batchspec unlock" in result.stderr
    assert fake_api.ledger.custom_ids_submitted() == {}, "nothing was sent"
    assert lock_of(bucket, "reviews.db")["host"] == "runner-7", "the holder's lock is left alone"


def test_two_runners_started_at_once_exactly_one_works(tmp_path: Path, bucket: str) -> None:
    with FakeAPI(FakeConfig(processing_seconds=1.0)) as api:
        spec = {
            "version": 1,
            "name": "reviews",
            "input": {"path": "data.jsonl", "id": "id"},
            "prompt": {"user": "Review: {{ text }}"},
            "model": {"provider": "openai", "name": "gpt-4o-mini", "base_url": api.openai_base_url},
            "execution": {"poll_interval": 0.1},
            "state": {"path": f"s3://{bucket}/shared/reviews.db"},
            "output": {"path": "out/results.jsonl"},
        }
        runners = []
        for n in range(2):  # two checkouts of the repository, as two CI runners have
            checkout = Job(tmp_path / f"runner{n}", spec)
            checkout.dir.mkdir()
            checkout.write_records(reviews(5)).write_spec()
            runners.append(checkout)
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "batchspec", "run", "job.yaml", "-q"],
                cwd=r.dir,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for r in runners
        ]
        results = [(p.communicate(timeout=60), p.returncode) for p in processes]
        results = [(code, out, err) for (out, err), code in results]
        codes = sorted(code for code, _, _ in results)
        assert codes == [0, 2], results
        winner = next(p for p, (code, _, _) in zip(processes, results, strict=True) if code == 0)
        loser_err = next(err for code, _, err in results if code == 2)
        assert f"pid {winner.pid}" in loser_err and socket.gethostname() in loser_err
        assert max(submitted_per_record(api.ledger).values()) == 1


def test_a_dead_runners_lock_is_taken_over_after_the_stated_expiry(job: Job, bucket: str) -> None:
    job.write_spec({"state": {"path": f"s3://{bucket}/reviews.db", "lock_expiry": "1s"}})
    hold_lock(bucket, "reviews.db", host="gone-runner", pid=99)
    time.sleep(2.1)  # S3 times are whole seconds
    result = job.run(expect=0)
    assert "warning: took over the lock of a runner gone silent (host gone-runner, pid 99" in result.stderr
    assert len(job.outputs()) == 10


def test_a_stale_copy_never_overwrites_a_newer_state(bucket: str, tmp_path: Path) -> None:
    """Runner A's lock is released by hand while A still lives; B runs and uploads. A can no longer
    upload (If-Match) and learns that it must stop."""
    location = RemoteLocation.parse(f"s3://{bucket}/reviews.db")
    a = RemoteState(location, tmp_path / "a.db", "reviews", lock_expiry=900)
    a.acquire()
    a.pull()
    db_a = sqlite3.connect(tmp_path / "a.db")
    db_a.execute("CREATE TABLE t (v TEXT)")
    db_a.execute("INSERT INTO t VALUES ('from A')")
    db_a.commit()
    a.push(db_a)

    assert unlock(location, "reviews", lambda _: None)
    b = RemoteState(location, tmp_path / "b.db", "reviews", lock_expiry=900)
    b.acquire()
    b.pull()
    db_b = sqlite3.connect(tmp_path / "b.db")
    db_b.execute("INSERT INTO t VALUES ('from B')")
    db_b.commit()
    b.push(db_b)

    db_a.execute("INSERT INTO t VALUES ('stale A')")
    db_a.commit()
    with pytest.raises(Exception, match="released by hand or taken over"):
        a.push(db_a)
    seen = stored_state(bucket, "reviews.db", tmp_path / "seen.db")
    assert [v for (v,) in seen.execute("SELECT v FROM t ORDER BY rowid")] == ["from A", "from B"]
    b.release()
    a.release()


def test_a_missing_bucket_or_boto3_is_named(job: Job, bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = job.cli("run", "job.yaml", "--state", "s3://no-such-bucket-here/reviews.db", expect=2)
    assert "the bucket 'no-such-bucket-here' does not exist" in missing.stderr
    monkeypatch.setitem(sys.modules, "boto3", None)  # as if the extra were not installed
    result = job.cli("run", "job.yaml", "--state", f"s3://{bucket}/reviews.db", expect=2)
    assert "pip install 'batchspec[s3]'" in result.stderr
    assert not (job.dir / "out").exists()


@pytest.mark.parametrize("point", ["after_intent", "after_create", "while_collecting:5", "before_sinks"])
def test_killed_anywhere_then_a_fresh_runner_finishes_with_nothing_paid_twice(
    job: Job, bucket: str, fake_api: FakeAPI, point: str
) -> None:
    job.write_records(reviews(12)).write_spec(
        {"state": {"path": f"s3://{bucket}/reviews.db"}, "execution": {"max_requests_per_batch": 4}}
    )
    env = {**os.environ, "BATCHSPEC_CRASH_AT": point}
    killed = subprocess.run(
        [sys.executable, "-m", "batchspec", "run", "job.yaml", "-q"], cwd=job.dir, env=env, capture_output=True
    )
    assert killed.returncode == -9, killed.stderr
    fresh_runner(job)  # the runner and its local copy are gone; its lock is released by hand
    job.cli("unlock", "job.yaml")
    job.run(expect=0)
    assert [row["id"] for row in job.outputs()] == [f"r{i}" for i in range(1, 13)]
    assert max(submitted_per_record(fake_api.ledger).values()) == 1, "a request was submitted twice"
    assert fake_api.ledger.answered_twice() == {}


def test_cancel_beside_a_runner_holding_the_lock_cancels_from_the_last_checkpoint(tmp_path: Path, bucket: str) -> None:
    with FakeAPI(FakeConfig(processing_seconds=60)) as api:
        spec = merge(BASE_SPEC, {"model": {"base_url": api.openai_base_url}, "state": {"path": f"s3://{bucket}/r.db"}})
        job = Job(tmp_path, spec).write_records(reviews(4)).write_spec()
        job.run("--no-wait", expect=75)
        hold_lock(bucket, "r.db")  # another runner took the job over meanwhile
        result = job.cli("cancel", "job.yaml")
        assert "Asked the provider to cancel 1 batch; the run in progress (host runner-7, pid 4242" in result.stdout
        assert lock_of(bucket, "r.db")["host"] == "runner-7", "the holder's lock is left alone"
