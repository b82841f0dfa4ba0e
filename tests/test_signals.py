"""Ctrl-C and SIGTERM (what CI runners and containers send) stop a run cleanly: 130 before anything
was sent, 75 once work is in flight, never a traceback, and nothing is paid twice afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from batchspec.fakeapi import FakeAPI
from tests.conftest import Job, reviews, submitted_per_record


def start(job: Job, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "batchspec", "run", "job.yaml", *args],
        cwd=job.dir,
        env={**os.environ, "BATCHSPEC_CRASH_AT": ""},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def has_a_submitted_batch(job: Job) -> bool:
    return job.state_path.exists() and bool(job.state("SELECT 1 FROM batches WHERE provider_batch_id IS NOT NULL"))


def test_sigterm_in_batch_mode_leaves_the_batch_in_flight(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.processing_seconds = 3600
    process = start(job)
    wait_for(
        lambda: bool(job.state_path.exists() and job.state("SELECT 1 FROM batches WHERE provider_batch_id IS NOT NULL"))
    )
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 75, err.decode()
    assert "interrupted: 1 batch in flight keeps running: run again to collect" in err.decode()
    assert "1 batch still in flight" in out.decode()
    fake_api.advance(3600)
    job.run()
    assert len(fake_api.ledger.batches_created()) == 1
    assert len(job.outputs()) == 10


def test_sigterm_in_sync_mode_keeps_the_answers_in_flight(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.faults.latency_seconds = 0.5
    job.write_records(reviews(40)).write_spec({"execution": {"mode": "sync", "concurrency": 4}})
    process = start(job, "-q")
    wait_for(lambda: len(fake_api.ledger.billed()) >= 4)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 75, err.decode()
    # Every answer the provider billed, in flight when the signal came included, was stored.
    assert job.state("SELECT count(*) FROM results")[0][0] == len(fake_api.ledger.billed())
    job.run()
    assert fake_api.ledger.answered_twice() == {}
    assert len(job.outputs()) == 40


@pytest.mark.parametrize("delay", [0.0, 0.3, 1.0])
def test_ctrl_c_at_any_moment_is_130_before_sending_and_75_after(job: Job, fake_api: FakeAPI, delay: float) -> None:
    fake_api.config.processing_seconds = 3600
    job.write_records(reviews(20_000))
    process = start(job, "-q")
    # Counted from when batchspec runs (it has opened the state): before that, the interpreter
    # itself is starting, and a Ctrl-C there is Python's own traceback.
    wait_for(lambda: job.state_path.exists())
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert "Traceback" not in err.decode() and "Aborted" not in err.decode()
    if fake_api.ledger.batches_created():
        assert process.returncode == 75, err.decode()
    else:
        assert process.returncode == 130, err.decode()
        assert "interrupted" in err.decode()
    fake_api.advance(3600)
    fake_api.config.processing_seconds = 0
    job.run()
    assert max(submitted_per_record(fake_api.ledger).values()) == 1


def test_cancel_works_while_a_run_holds_the_lock(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.processing_seconds = 3600
    process = start(job, "-q")
    wait_for(
        lambda: bool(job.state_path.exists() and job.state("SELECT 1 FROM batches WHERE provider_batch_id IS NOT NULL"))
    )
    result = job.cli("cancel", "job.yaml")
    assert "Asked the provider to cancel 1 batch; the run in progress (pid " in result.stdout
    assert len([r for r in fake_api.ledger.http_requests if r["path"].endswith("/cancel")]) == 1
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 75, err.decode()
    fake_api.advance(3600)
    fake_api.config.processing_seconds = 0
    job.run()
    assert len(job.outputs()) == 10
    assert max(submitted_per_record(fake_api.ledger).values()) <= 2  # cancelled before it ran: sent again
    assert fake_api.ledger.answered_twice() == {}
