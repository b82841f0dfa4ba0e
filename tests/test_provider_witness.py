"""The provider as the second witness: batches are attributed by the ids they carry, never by time
and size, and a lost or rolled-back state adopts this job's batches instead of paying twice."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from batchspec.fakeapi import FakeAPI
from batchspec.wireid import job_tag
from tests.conftest import Job, record_of, reviews


def anthropic(fake_api: FakeAPI) -> dict[str, Any]:
    return {
        "provider": "anthropic",
        "name": "claude-haiku-4-5",
        "base_url": fake_api.anthropic_base_url,
        "params": {"temperature": None},
    }


def crash(job: Job, point: str) -> None:
    """Run the job in a process killed at ``point`` (see batchspec.crashpoints)."""
    killed = subprocess.run(
        [sys.executable, "-m", "batchspec", "run", "job.yaml", "-q"],
        cwd=job.dir,
        env={**os.environ, "BATCHSPEC_CRASH_AT": point},
        capture_output=True,
    )
    assert killed.returncode < 0, killed.stderr


def billed(fake_api: FakeAPI, job_name: str) -> Counter[str]:
    """How many times the fake billed each record of one job (its wire ids carry the job's tag)."""
    tag = job_tag(job_name)
    return Counter(
        record_of(a["custom_id"]) for a in fake_api.ledger.billed() if (a["custom_id"] or "").startswith(tag)
    )


def other_job(job: Job, tmp_path: Path, prompt: str) -> Job:
    """A second job on the same account: same record ids, another prompt."""
    other = Job(tmp_path / "other", {**job.spec, "name": "other", "prompt": {"user": prompt}})
    other.dir.mkdir()
    return other.write_records(reviews(10)).write_spec()


def cancels(fake_api: FakeAPI) -> list[dict[str, Any]]:
    return [r for r in fake_api.ledger.requests_to("/v1/", "POST") if r["path"].endswith("/cancel")]


def test_an_interrupted_anthropic_submission_is_found_by_its_results_never_by_size(
    job: Job, fake_api: FakeAPI, tmp_path: Path
) -> None:
    fake_api.config.processing_seconds = 3600
    job.write_spec({"model": anthropic(fake_api), "prompt": {"user": "SENTIMENT {{ text }}"}})
    crash(job, "after_create")  # A's batch exists; A's state never heard its id
    other = other_job(job, tmp_path, "SUMMARY {{ text }}")
    other.run("--no-wait", expect=75)  # B's batch: same size, same record ids, created later

    # Both are running: which one is A's can only be read from results. A waits; it guesses nothing.
    waiting = job.cli("run", "job.yaml", "--no-wait", expect=75)
    assert "is unconfirmed: 2 batches of that size on the account are still running" in waiting.stderr
    assert job.state("SELECT status, count(*) FROM records GROUP BY 1") == [("submitted", 10)]
    job.cli("cancel", "job.yaml")
    assert cancels(fake_api) == [], "A's cancel reached a batch it cannot prove is its own"

    fake_api.advance(3600)
    resumed = job.cli("run", "job.yaml")
    assert "resumed batch msgbatch_" in resumed.stderr
    assert all(row["output"].startswith("Fake answer to: SENT") for row in job.outputs())
    other.run()
    assert all(row["output"].startswith("Fake answer to: SUMM") for row in other.outputs())
    assert len(fake_api.ledger.batches_created("anthropic")) == 2
    assert billed(fake_api, "reviews") == Counter({f"r{i}": 1 for i in range(1, 11)})
    assert billed(fake_api, "other") == Counter({f"r{i}": 1 for i in range(1, 11)})


def test_a_submission_killed_before_it_was_sent_waits_for_a_same_size_batch_then_sends(
    job: Job, fake_api: FakeAPI, tmp_path: Path
) -> None:
    fake_api.config.processing_seconds = 3600
    job.write_spec({"model": anthropic(fake_api), "prompt": {"user": "SENTIMENT {{ text }}"}})
    crash(job, "after_intent")  # nothing reached the provider
    other = other_job(job, tmp_path, "SUMMARY {{ text }}")
    other.run("--no-wait", expect=75)
    job.run("--no-wait", expect=75)  # B's batch might be A's until its results say otherwise
    assert len(fake_api.ledger.batches_created("anthropic")) == 1
    fake_api.advance(3600)
    fake_api.config.processing_seconds = 0
    job.run()  # B's results carry B's ids: A's submission never happened, so A sends it now
    assert all(row["output"].startswith("Fake answer to: SENT") for row in job.outputs())
    assert billed(fake_api, "reviews") == Counter({f"r{i}": 1 for i in range(1, 11)})
    other.run()
    assert billed(fake_api, "other") == Counter({f"r{i}": 1 for i in range(1, 11)})


def test_a_deleted_state_adopts_the_openai_batches_in_flight(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.processing_seconds = 3600
    job.write_records(reviews(20)).write_spec({"execution": {"max_requests_per_batch": 10}})
    job.run("--no-wait", expect=75)
    job.state_path.unlink()  # an evicted CI cache
    fake_api.advance(3600)
    result = job.cli("run", "job.yaml")
    assert result.stderr.count("adopted batch batch_") == 2
    assert "10 requests of this job the state did not know, 10 of them current" in result.stderr
    assert len(fake_api.ledger.batches_created()) == 2
    assert [row["id"] for row in job.outputs()] == [f"r{i}" for i in range(1, 21)]
    assert billed(fake_api, "reviews") == Counter({f"r{i}": 1 for i in range(1, 21)})


def test_a_rolled_back_state_adopts_what_later_runs_sent(job: Job, fake_api: FakeAPI, tmp_path: Path) -> None:
    job.run()
    shutil.copy(job.state_path, tmp_path / "old.db")  # the copy an older cache holds
    job.append_records(reviews(5, start=11))
    job.run()
    shutil.copy(tmp_path / "old.db", job.state_path)
    for suffix in ("-wal", "-shm"):
        Path(f"{job.state_path}{suffix}").unlink(missing_ok=True)
    job.run()
    assert len(fake_api.ledger.batches_created()) == 2
    assert len(job.outputs()) == 15
    assert billed(fake_api, "reviews") == Counter({f"r{i}": 1 for i in range(1, 16)})


def test_a_deleted_state_adopts_ended_anthropic_batches_from_their_results(job: Job, fake_api: FakeAPI) -> None:
    job.write_spec({"model": anthropic(fake_api)})
    job.run()
    first = job.outputs()
    job.state_path.unlink()
    plan = job.plan_json()
    assert plan["at_provider"] == {"batches": 1, "requests": 10, "current": 10, "undecided": 0, "problems": []}
    job.run()
    assert job.outputs() == first
    assert len(fake_api.ledger.batches_created("anthropic")) == 1


def test_after_a_lost_state_only_current_requests_are_adopted(job: Job, fake_api: FakeAPI) -> None:
    job.run()
    job.state_path.unlink()
    records = reviews(10)
    records[2]["text"] = "Edited since."
    job.write_records(records)
    text = job.cli("plan", "job.yaml").stdout
    assert "At the provider: 1 batch of this job that the state does not know, 10 requests; 9 of them" in text
    job.run()
    batches = fake_api.ledger.batches_created()
    assert [sorted(map(record_of, b["custom_ids"])) for b in batches[1:]] == [["r3"]]
    assert job.outputs()[2]["output"] != ""


def test_a_running_anthropic_batch_of_unknown_origin_is_reported_not_guessed(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.processing_seconds = 3600
    job.write_spec({"model": anthropic(fake_api)})
    job.run("--no-wait", expect=75)
    job.state_path.unlink()
    result = job.cli("run", "job.yaml", "--no-wait", expect=75)
    assert "anthropic: 1 batch on the account still running cannot be attributed to a job" in result.stderr


def test_plan_offline_does_not_ask_the_provider(job: Job, fake_api: FakeAPI) -> None:
    job.run()
    job.state_path.unlink()
    before = len(fake_api.ledger.http_requests)
    assert job.plan_json("--offline")["at_provider"] is None
    assert len(fake_api.ledger.http_requests) == before
