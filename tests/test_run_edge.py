"""Odd provider behaviour a long-running job meets sooner or later."""

from __future__ import annotations

import json

from batchspec.fakeapi import FakeAPI
from tests.conftest import Job, record_of, reviews


def test_a_download_cut_off_midway_is_retried(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.faults.broken_downloads = 2
    result = job.cli("run", "job.yaml")
    assert "could not download the results of batch" in result.stderr
    assert "the connection broke" in result.stderr
    assert len(job.outputs()) == 10
    assert len(fake_api.ledger.batches_created()) == 1


def test_cancel_after_the_batch_already_ended_collects_it(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.processing_seconds = 100
    job.run("--no-wait", expect=75)
    fake_api.advance(200)  # it has finished at the provider; our state does not know yet
    result = job.cli("cancel", "job.yaml")
    assert "Cancelled 1 batch; 10 requests done" in result.stdout
    assert len(job.outputs()) == 10


def test_a_batch_cancelled_before_it_ran_costs_no_attempt(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.processing_seconds = 100
    job.write_spec({"execution": {"max_attempts": 1}}).run("--no-wait", expect=75)
    job.cli("cancel", "job.yaml")  # still validating: the batch ends with no files at all
    status = json.loads(job.cli("status", "job.yaml", "--json").stdout)
    assert status["records"]["pending"] == 10 and status["records"]["failed"] == 0
    fake_api.config.processing_seconds = 0
    job.run()
    assert len(job.outputs()) == 10


def test_a_batch_deleted_at_the_provider_can_be_forgotten(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.processing_seconds = 3600
    job.run("--no-wait", expect=75)
    batch_id = fake_api.ledger.batches_created()[0]["batch_id"]
    fake_api.state.openai._batches.pop(batch_id)  # noqa: SLF001 (gone, as if deleted there)
    result = job.run(expect=3)
    assert "`batchspec cancel job.yaml --forget-missing`" in result.stderr
    result = job.cli("cancel", "job.yaml", "--forget-missing")  # progress events go to stderr
    assert f"forgot batch {batch_id}" in result.stderr
    fake_api.config.processing_seconds = 0
    job.run()
    assert len(job.outputs()) == 10 and len(fake_api.ledger.batches_created()) == 2


def test_a_batch_failure_the_provider_explains_stops_that_model_at_once(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.known_models = ("gpt-4o",)  # the spec's gpt-4o-mini is "misspelt"
    job.write_records(reviews(30)).write_spec({"execution": {"max_requests_per_batch": 10}})
    result = job.cli("run", "job.yaml", expect=3)
    assert "model_not_found: The provided model 'gpt-4o-mini' is not supported by the Batch API." in result.stderr
    assert "no more batches of gpt-4o-mini were sent: fix the cause and run again" in result.stderr
    assert len(fake_api.ledger.batches_created()) == 1, "the whole job was uploaded again and again"
    assert job.state("SELECT status, max(attempts) FROM records GROUP BY 1") == [("pending", 0)]
    status = job.cli("status", "job.yaml").stdout
    assert "why: model_not_found: The provided model 'gpt-4o-mini' is not supported" in status
    report = job.cli("report", "job.yaml").stdout
    assert "error rate: 0.0% of 0 attempts" in report
    assert "failed: model_not_found: The provided model 'gpt-4o-mini' is not supported" in report
    assert "batch_failed: 10 (not run: the batch ended first; re-sent)" in report
    fake_api.config.known_models = None
    job.run()
    assert len(job.outputs()) == 30


def test_another_jobs_anthropic_batch_is_never_taken_for_ours(job: Job, fake_api: FakeAPI, tmp_path) -> None:  # noqa: ANN001
    import os
    import subprocess
    import sys

    anthropic = {
        "provider": "anthropic",
        "name": "claude-haiku-4-5",
        "base_url": fake_api.anthropic_base_url,
        "params": {"temperature": None},
    }
    job.write_spec({"model": anthropic, "prompt": {"user": "SENTIMENT {{ text }}"}})
    crashed = subprocess.run(
        [sys.executable, "-m", "batchspec", "run", "job.yaml", "-q"],
        cwd=job.dir,
        env={**os.environ, "BATCHSPEC_CRASH_AT": "after_intent"},
        capture_output=True,
    )
    assert crashed.returncode < 0
    other = Job(tmp_path / "other", {**job.spec, "name": "other", "prompt": {"user": "SUMMARY {{ text }}"}})
    other.dir.mkdir()
    other.write_records(reviews(10)).write_spec().run("--no-wait", expect=75)  # same ids, same size
    job.run()
    assert all(not row["output"].startswith("Fake answer to: SUMMARY") for row in job.outputs())
    assert len(job.outputs()) == 10


def test_a_record_whose_message_renders_empty_is_an_error_and_never_sent(job: Job, fake_api: FakeAPI) -> None:
    records = reviews(10)
    records[3]["text"] = ""
    job.write_records(records).write_spec({"prompt": {"user": "{{ text }}"}})
    plan = job.plan_json("--offline")
    assert plan["models"][0]["counts"]["failed"] == 1 and plan["models"][0]["to_send"] == 9
    job.run(expect=1)
    assert [(e["id"], e["error_code"]) for e in job.errors()] == [("r4", "empty_content")]
    assert "prompt.user rendered empty for this record" in job.errors()[0]["error_message"]
    assert "r4" not in {record_of(c) for b in fake_api.ledger.batches_created() for c in b["custom_ids"]}
    job.run("--retry-failed", expect=1)  # still empty: still not sent, nothing paid
    assert len(fake_api.ledger.batches_created()) == 1
    records[3]["text"] = "Now it has words."
    job.write_records(records)
    job.run()
    assert len(job.outputs()) == 10 and job.errors() == []


def test_a_provider_that_reuses_a_batch_id_stops_the_run_with_a_clear_error(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.faults.static_batch_id = "batch_static"
    job.write_spec({"execution": {"max_requests_per_batch": 5}})
    result = job.run(expect=3)
    assert "the provider gave batch id batch_static for batch reviews-r1-" in result.stderr
    assert "but it had already given it for batch reviews-r1-" in result.stderr
