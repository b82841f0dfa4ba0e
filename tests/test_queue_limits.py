"""Batch queues are limited per organisation: a full queue is a reason to wait, never a failure;
and the models of one spec run side by side."""

from __future__ import annotations

from batchspec.fakeapi import FakeAPI
from tests.conftest import Job, reviews, submitted_per_record


def one_batch_tokens(job: Job) -> int:
    plan = job.plan_json("--offline")
    return int(plan["models"][0]["estimated_input_tokens"] / len(plan["models"][0]["batches"]))


def test_an_openai_batch_past_the_enqueued_token_limit_waits_for_room(job: Job, fake_api: FakeAPI) -> None:
    job.write_records(reviews(30)).write_spec({"execution": {"max_requests_per_batch": 10}})
    fake_api.config.openai_enqueued_tokens = int(one_batch_tokens(job) * 2.5)  # room for two batches
    fake_api.config.processing_seconds = 1.0
    result = job.cli("run", "job.yaml")
    assert "token_limit_exceeded: Enqueued token limit reached for gpt-4o-mini in organization" in result.stderr
    assert "waiting for queue room before the next batch of gpt-4o-mini" in result.stderr
    assert [row["id"] for row in job.outputs()] == [f"r{i}" for i in range(1, 31)]
    assert job.state("SELECT max(attempts) FROM records") == [(1,)], "waiting for room used an attempt"
    assert max(submitted_per_record(fake_api.ledger).values()) <= 2


def test_max_enqueued_tokens_paces_submissions_so_the_limit_is_never_hit(job: Job, fake_api: FakeAPI) -> None:
    job.write_records(reviews(30)).write_spec({"execution": {"max_requests_per_batch": 10}})
    limit = int(one_batch_tokens(job) * 2.5)
    fake_api.config.openai_enqueued_tokens = limit
    fake_api.config.processing_seconds = 1.0
    job.write_spec({"execution": {"max_enqueued_tokens": limit}})
    job.run()
    assert len(job.outputs()) == 30
    statuses = {row[0] for row in job.state("SELECT status FROM batches")}
    assert statuses == {"completed"}, "a batch hit the limit although submissions were paced"
    assert max(submitted_per_record(fake_api.ledger).values()) == 1


def test_an_anthropic_create_refused_for_a_full_queue_is_retried_when_batches_end(job: Job, fake_api: FakeAPI) -> None:
    model = {"provider": "anthropic", "name": "claude-haiku-4-5", "base_url": fake_api.anthropic_base_url}
    job.write_records(reviews(30)).write_spec(
        {"model": {**model, "params": {"temperature": None}}, "execution": {"max_requests_per_batch": 10}}
    )
    fake_api.config.anthropic_queued_requests = 20
    fake_api.config.processing_seconds = 1.0
    result = job.cli("run", "job.yaml")
    assert "Number of batch requests in the processing queue would exceed" in result.stderr
    assert "waiting for queue room" in result.stderr
    assert len(job.outputs()) == 30
    assert job.state("SELECT max(attempts) FROM records") == [(1,)]


def test_the_models_of_a_fan_out_run_side_by_side(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.processing_seconds = 3600
    base = job.spec["model"]
    job.write_spec(
        {
            "model": [{**base, "label": "small"}, {**base, "name": "gpt-4o", "label": "large"}],
            "execution": {"max_concurrent_batches": 1},
        }
    )
    job.run("--no-wait", expect=75)
    assert sorted(b["model"] for b in fake_api.ledger.batches_created()) == ["gpt-4o", "gpt-4o-mini"]
