"""Kill `batchspec run` with SIGKILL at any moment, rerun until it finishes: every record has exactly
one result, no batch was submitted twice, and the state's token totals match the provider's bill."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from batchspec.fakeapi import FakeAPI
from tests.conftest import Job, billed_per_record, reviews, submitted_per_record

RECORDS = 30
POINTS = [
    "after_intent",  # intent recorded, nothing sent
    "after_upload",  # file uploaded, batch not created
    "after_create",  # batch created, its id not recorded
    "after_submit",  # id recorded
    "while_polling",
    "while_collecting:5",  # in the middle of storing a batch's results
    "before_sinks",
    "while_writing:3",  # in the middle of writing the output file
]


def start(job: Job, crash: str | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BATCHSPEC_CRASH_AT": crash or ""}
    return subprocess.Popen(
        [sys.executable, "-m", "batchspec", "run", "job.yaml", "-q"],
        cwd=job.dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finish(job: Job) -> None:
    for _ in range(5):
        process = start(job)
        out, err = process.communicate(timeout=60)
        if process.returncode == 0:
            return
        assert process.returncode == 75, err.decode()
    raise AssertionError("the job did not finish after 5 reruns")


def assert_consistent(job: Job, fake_api: FakeAPI, records: int = RECORDS) -> None:
    assert [row["id"] for row in job.outputs()] == [f"r{i}" for i in range(1, records + 1)]
    submitted = submitted_per_record(fake_api.ledger)
    assert set(submitted) == {f"r{i}" for i in range(1, records + 1)}
    assert max(submitted.values()) == 1, "a request was submitted twice"
    assert fake_api.ledger.answered_twice() == {}
    billed = fake_api.ledger.billed_usage()
    db = sqlite3.connect(job.state_path)
    stored = db.execute("SELECT count(*), sum(input_tokens), sum(output_tokens) FROM results").fetchone()
    db.close()
    assert stored == (records, billed["input_tokens"], billed["output_tokens"])


@pytest.fixture
def crash_job(job: Job, fake_api: FakeAPI) -> Job:
    fake_api.config.processing_seconds = 0.3
    return job.write_records(reviews(RECORDS)).write_spec(
        {"execution": {"max_requests_per_batch": 10, "max_concurrent_batches": 2}}
    )


@pytest.mark.parametrize("point", POINTS)
def test_killed_at_a_named_point(crash_job: Job, fake_api: FakeAPI, point: str) -> None:
    process = start(crash_job, point)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    finish(crash_job)
    assert_consistent(crash_job, fake_api)


def test_killed_at_random_moments(crash_job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.processing_seconds = 2.0  # a run lasts several seconds: room for kills at any step
    rng = random.Random(20261125)
    kills = 0
    records = RECORDS
    for _ in range(8):
        crash_job.append_records(reviews(10, start=records + 1))  # always new work for the next run
        records += 10
        process = start(crash_job)
        time.sleep(rng.uniform(0.5, 3.5))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.communicate(timeout=60)
    finish(crash_job)
    assert kills >= 4
    assert_consistent(crash_job, fake_api, records)


@pytest.mark.parametrize("point", ["after_intent", "after_create", "while_collecting:5"])
def test_anthropic_killed_at_a_named_point(crash_job: Job, fake_api: FakeAPI, point: str) -> None:
    """Anthropic batches carry no metadata: an interrupted submission is found by time and size,
    and its answers are recognised by the batch's tag on every custom_id."""
    crash_job.write_spec(
        {
            "model": {
                "provider": "anthropic",
                "name": "claude-haiku-4-5",
                "base_url": fake_api.anthropic_base_url,
                "params": {"temperature": None},
            }
        }
    )
    process = start(crash_job, point)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    finish(crash_job)
    assert [row["id"] for row in crash_job.outputs()] == [f"r{i}" for i in range(1, RECORDS + 1)]
    billed = billed_per_record(fake_api.ledger)
    assert set(billed) == {f"r{i}" for i in range(1, RECORDS + 1)} and max(billed.values()) == 1
    assert len(fake_api.ledger.batches_created("anthropic")) == 3  # 30 records, 10 per batch: none twice
