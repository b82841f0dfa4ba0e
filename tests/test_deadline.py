"""`execution.deadline`: batch prices while there is time; past it, in-flight batches are
cancelled (what they finished is kept) and the rest goes through the synchronous API."""

from __future__ import annotations

import time

from batchspec.fakeapi import FakeAPI
from tests.conftest import Job, reviews


def test_past_the_deadline_the_rest_goes_sync_and_what_batches_finished_is_kept(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.processing_seconds = 10  # validating 1 s, then a request every 0.4 s
    job.write_records(reviews(20)).write_spec({"execution": {"deadline": "3s"}})
    assert (
        "Deadline: 3.0s from the first submission (not started yet)" in job.cli("plan", "job.yaml", "--offline").stdout
    )
    result = job.cli("run", "job.yaml")
    assert "the deadline passed: cancelling 1 batch in flight" in result.stderr
    routes = {row[0]: row[1] for row in job.state("SELECT source, count(*) FROM results GROUP BY 1")}
    assert routes["batch"] > 0 and routes["sync"] > 0 and routes["batch"] + routes["sync"] == 20
    assert f"{routes['batch']:,} by batch" in result.stdout and f"{routes['sync']:,} by sync" in result.stdout
    assert [row["id"] for row in job.outputs()] == [f"r{i}" for i in range(1, 21)]
    assert fake_api.ledger.answered_twice() == {}
    assert job.state("SELECT count(*) FROM meta WHERE key = 'deadline_started_at'") == [(0,)]  # settled


def test_a_later_no_wait_run_honours_the_deadline_kept_in_the_state(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.processing_seconds = 5
    job.write_spec({"execution": {"deadline": "1s"}})
    job.run("--no-wait", expect=75)
    assert "left" in job.cli("plan", "job.yaml", "--offline").stdout
    time.sleep(1.2)
    assert "passed" in job.cli("plan", "job.yaml", "--offline").stdout
    job.run("--no-wait")  # cancels, waits for the cancellation, sends the rest synchronously
    assert len(job.outputs()) == 10
    assert fake_api.ledger.answered_twice() == {}
    assert len(fake_api.ledger.billed(batch=False)) == 10 - len(fake_api.ledger.billed(batch=True))
