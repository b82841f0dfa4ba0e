"""Cost: the response cache, in-job duplicates, prompt caching, the budget gate, estimates vs bills."""

from __future__ import annotations

import json

from batchspec.fakeapi import FakeAPI
from tests.conftest import Job, reviews


def counts(job: Job) -> dict[str, int]:
    return job.plan_json()["models"][0]["counts"]


def test_response_cache_answers_identical_requests_of_another_job(job: Job, fake_api: FakeAPI) -> None:
    cache = str(job.dir / "responses.db")
    job.write_spec({"cache": {"responses": True, "responses_path": cache}}).run()
    assert len(fake_api.ledger.batches_created()) == 1
    job.write_spec({"name": "reviews-copy"})  # another job: its own state, the same requests
    assert counts(job)["cached"] == 10
    summary = json.loads(job.run("--json").stdout.splitlines()[-1])
    assert len(fake_api.ledger.batches_created()) == 1  # nothing sent
    assert summary["done"] == 10
    rows = job.outputs()
    assert len(rows) == 10 and all(r["cost_usd"] == 0 for r in rows)
    sources = job.state("SELECT source, count(*) FROM results GROUP BY 1")
    assert sources == [("cache", 10)]


def test_identical_records_in_one_job_are_sent_once(job: Job, fake_api: FakeAPI) -> None:
    records = [{"id": f"d{i}", "text": "Same review, every time."} for i in range(6)] + reviews(4)
    job.write_records(records).write_spec(
        {"cache": {"responses": True, "responses_path": str(job.dir / "responses.db")}}
    )
    plan = counts(job)
    assert (plan["new"], plan["cached"]) == (5, 5)
    job.run()
    assert sum(fake_api.ledger.custom_ids_submitted().values()) == 5
    rows = job.outputs()
    assert len(rows) == 10
    assert len({r["output"] for r in rows[:6]}) == 1  # one answer, reused


def test_identical_records_in_sync_mode(job: Job, fake_api: FakeAPI) -> None:
    records = [{"id": f"d{i}", "text": "Same review."} for i in range(5)]
    job.write_records(records).write_spec(
        {"execution": {"mode": "sync"}, "cache": {"responses": True, "responses_path": str(job.dir / "r.db")}}
    )
    job.run()
    assert fake_api.ledger.billed_usage()["requests"] == 1
    assert len(job.outputs()) == 5


def test_without_the_response_cache_identical_records_are_each_sent(job: Job, fake_api: FakeAPI) -> None:
    job.write_records([{"id": f"d{i}", "text": "Same."} for i in range(3)]).run()
    assert sum(fake_api.ledger.custom_ids_submitted().values()) == 3


def test_budget_gate_refuses_work_over_budget_and_sends_nothing(job: Job, fake_api: FakeAPI) -> None:
    job.write_records(reviews(200)).write_spec({"execution": {"max_cost_usd": 0.00001}})
    result = job.run(expect=2)
    assert (
        "execution.max_cost_usd is $0.000010: already spent $0.00, in flight about $0.00, and this run "
        "would add about $0.00" in result.stderr
    )
    assert "over budget. Nothing was sent" in result.stderr
    assert fake_api.ledger.http_requests == []
    job.write_spec({"execution": {"max_cost_usd": 1.0}}).run()
    assert len(job.outputs()) == 200


def test_budget_counts_what_was_already_spent(job: Job, fake_api: FakeAPI) -> None:
    job.run()
    spent = json.loads(job.cli("status", "job.yaml", "--json").stdout)["usage"]["cost_usd"]
    job.append_records(reviews(10, start=11))
    job.write_spec({"execution": {"max_cost_usd": spent * 1.5}})
    result = job.run(expect=2)
    assert "already spent" in result.stderr and "over budget" in result.stderr
    assert len(fake_api.ledger.batches_created()) == 1


def test_unknown_price_with_a_budget_is_refused(job: Job) -> None:
    job.write_spec({"model": {"name": "my-finetune"}, "execution": {"max_cost_usd": 10}})
    result = job.run(expect=2)
    assert "there is no price for my-finetune" in result.stderr


def test_prompt_caching_in_batches_cuts_the_bill_and_plan_predicts_it(job: Job, fake_api: FakeAPI) -> None:
    system = "You are a meticulous annotator of customer reviews. " * 160  # about 2,000 tokens
    job.write_records(reviews(1000)).write_spec(
        {
            "prompt": {"system": system},
            "model": {
                "provider": "anthropic",
                "name": "claude-haiku-4-5",
                "base_url": fake_api.anthropic_base_url,
                "params": {"temperature": None},
            },
            "cache": {"prompt_caching": True},
        }
    )
    estimate = job.plan_json()["models"][0]["estimated_cost_usd"]
    summary = json.loads(job.run("--json").stdout.splitlines()[-1])
    billed_usage = fake_api.ledger.billed_usage("anthropic")
    assert billed_usage["cache_creation_input_tokens"] > 0 and billed_usage["cached_input_tokens"] > 0
    billed, uncached = summary["run_usage"]["cost_usd"], summary["run_usage"]["sync_cost_usd"]
    # The state's bill is the fake's ledger priced by the table.
    assert summary["run_usage"]["input_tokens"] == billed_usage["input_tokens"]
    assert summary["run_usage"]["cache_read_tokens"] == billed_usage["cached_input_tokens"]
    assert billed <= 0.30 * uncached
    assert abs(estimate["batch"] - billed) <= 0.15 * billed
    rerun = json.loads(job.run("--json").stdout.splitlines()[-1])
    assert rerun["run_usage"]["cost_usd"] == 0


def test_status_shows_each_batchs_tokens_cost_and_savings(job: Job, fake_api: FakeAPI) -> None:
    job.write_spec({"execution": {"max_requests_per_batch": 4}}).run()
    batches = json.loads(job.cli("status", "job.yaml", "--json").stdout)["batches"]
    assert [b["requests"] for b in batches] == [4, 4, 2]
    billed = fake_api.ledger.billed_usage()
    assert sum(b["tokens"]["input"] for b in batches) == billed["input_tokens"]
    assert all(0 < b["cost_usd"] < b["uncached_sync_cost_usd"] for b in batches)
    text = job.cli("status", "job.yaml").stdout
    assert "(uncached sync $" in text and ", saved $" in text


def test_a_misspelt_model_is_not_priced_by_prefix_and_validate_names_the_nearest(offline_job: Job) -> None:
    offline_job.write_spec({"model": {"name": "gpt-4o-mni"}})
    result = offline_job.cli("validate", "job.yaml")
    assert (
        "model.name: no price known for model 'gpt-4o-mni': costs will be reported as unknown (did you mean "
        "'gpt-4o-mini' or 'gpt-4.1-mini' or 'gpt-5-mini'? otherwise add it under `pricing:` in the spec)"
    ) in result.stderr
    assert offline_job.plan_json()["models"][0]["estimated_cost_usd"]["batch"] is None  # not gpt-4o's price


def test_a_dated_snapshot_has_its_models_price(offline_job: Job) -> None:
    offline_job.write_spec({"model": {"name": "gpt-4o-mini-2024-07-18"}})
    assert "warning" not in offline_job.cli("validate", "job.yaml").stderr
    snapshot = offline_job.plan_json()["models"][0]["estimated_cost_usd"]
    offline_job.write_spec({"model": {"name": "gpt-4o-mini"}})
    assert snapshot == offline_job.plan_json()["models"][0]["estimated_cost_usd"] and snapshot["batch"] > 0
