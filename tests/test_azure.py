"""provider: azure: the openai SDK's Azure client against the fake server's Azure paths."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from batchspec.fakeapi import FakeAPI
from tests.conftest import BASE_SPEC, Job, merge, reviews

DEPLOYMENT = "batch-4o-mini"  # a deployment name, not a model name: no built-in price
PRICING = {DEPLOYMENT: {"input": 0.15, "output": 0.6}}


def azure_model(fake_api: FakeAPI, **extra: Any) -> dict[str, Any]:
    return {
        "provider": "azure",
        "name": DEPLOYMENT,
        "azure_endpoint": fake_api.url,
        "params": {"temperature": 0, "max_tokens": 5},
        **extra,
    }


@pytest.fixture(autouse=True)
def _azure_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_AD_TOKEN", "OPENAI_API_VERSION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-test-key-0123456789")


@pytest.fixture
def azure_job(tmp_path: Path, fake_api: FakeAPI) -> Job:
    spec = merge(BASE_SPEC, {"model": azure_model(fake_api, api_version="2024-10-21"), "pricing": PRICING})
    spec["model"]["params"] = {"temperature": 0, "max_tokens": 5}
    return Job(tmp_path, spec).write_records(reviews(10)).write_spec()


def paths(fake_api: FakeAPI) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in fake_api.ledger.entries("http")]


def test_batch_run_uses_azure_files_and_batches_with_api_version(azure_job: Job, fake_api: FakeAPI) -> None:
    summary = json.loads(azure_job.run("--json").stdout.splitlines()[-1])
    assert summary["done"] == 10
    assert [r["id"] for r in azure_job.outputs()] == [f"r{i}" for i in range(1, 11)]
    sent = paths(fake_api)
    assert ("POST", "/openai/files") in sent and ("POST", "/openai/batches") in sent
    assert all(p.startswith("/openai/") for _, p in sent)
    assert all("api-version=2024-10-21" in r["query"] for r in fake_api.ledger.entries("http"))
    assert summary["usage"]["cost_usd"] > 0  # priced from the spec's pricing:


def test_sync_run_goes_to_the_deployment_path(azure_job: Job, fake_api: FakeAPI) -> None:
    azure_job.write_spec({"execution": {"mode": "sync"}}).run()
    assert len(azure_job.outputs()) == 10
    chat = fake_api.ledger.requests_to(f"/openai/deployments/{DEPLOYMENT}/chat/completions", "POST")
    assert len(chat) == 10 and fake_api.ledger.batches_created() == []


def test_v1_api_without_api_version(azure_job: Job, fake_api: FakeAPI) -> None:
    spec = azure_job.spec
    del spec["model"]["api_version"]
    azure_job.write_spec()
    azure_job.run()
    azure_job.write_spec({"name": "sync", "execution": {"mode": "sync"}, "output": {"path": "out/sync.jsonl"}}).run()
    sent = paths(fake_api)
    assert ("POST", "/openai/v1/batches") in sent and ("POST", "/openai/v1/chat/completions") in sent
    assert len(azure_job.outputs("out/sync.jsonl")) == 10


def test_a_deployment_named_like_an_openai_model_is_not_priced_from_the_openai_table(
    azure_job: Job, fake_api: FakeAPI
) -> None:
    # Azure prices vary by region and agreement: only the spec's pricing: counts; unknown is None, not 0.
    spec = azure_job.spec
    spec["model"]["name"] = "gpt-4o-mini"
    del spec["pricing"]
    validate = azure_job.write_spec().cli("validate", "job.yaml")
    assert "no price known for model 'gpt-4o-mini': costs will be reported as unknown" in validate.stderr
    assert set(azure_job.plan_json()["models"][0]["estimated_cost_usd"].values()) == {None}
    summary = json.loads(azure_job.run("--json").stdout.splitlines()[-1])
    # Totals add only priced results and count the rest as unpriced (the existing convention).
    assert summary["done"] == 10 and summary["usage"]["unpriced"] == 10
    assert {row["cost_usd"] for row in azure_job.outputs()} == {None}


def test_key_goes_in_the_api_key_header_and_a_wrong_one_is_refused(azure_job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.required_api_key = "azure-test-key-0123456789"
    azure_job.write_spec({"execution": {"mode": "sync"}}).run()
    fake_api.config.required_api_key = "another-key-0123456789"
    result = azure_job.write_spec({"name": "other"}).run(expect=None)
    assert result.exit_code != 0 and "azure" in result.stderr and "rejected the API key" in result.stderr


def test_missing_key_and_endpoint_are_setup_errors(
    azure_job: Job, fake_api: FakeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AZURE_OPENAI_API_KEY")
    result = azure_job.run(expect=2)
    assert "AZURE_OPENAI_API_KEY is not set" in result.stderr and "AZURE_OPENAI_AD_TOKEN" in result.stderr
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-test-key-0123456789")
    del azure_job.spec["model"]["azure_endpoint"]
    result = azure_job.write_spec().run(expect=2)
    assert "set model.azure_endpoint" in result.stderr and "AZURE_OPENAI_ENDPOINT" in result.stderr
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", fake_api.url)
    azure_job.run()
    assert len(azure_job.outputs()) == 10


def test_entra_id_token_from_the_environment(
    azure_job: Job, fake_api: FakeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AZURE_OPENAI_API_KEY")
    monkeypatch.setenv("AZURE_OPENAI_AD_TOKEN", "entra-access-token-0123456789")
    fake_api.config.required_api_key = "entra-access-token-0123456789"  # sent as Authorization: Bearer
    azure_job.write_spec({"execution": {"mode": "sync"}}).run()
    assert len(azure_job.outputs()) == 10


def test_azure_keys_are_refused_for_other_providers(offline_job: Job) -> None:
    result = offline_job.write_spec({"model": {"api_version": "2024-10-21"}}).cli("validate", "job.yaml", expect=2)
    assert "'api_version' is for provider azure, not openai" in result.stderr


def test_sync_mode_honours_azure_429s(azure_job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.faults.sync_rate_limit = 0.5
    fake_api.config.faults.retry_after_seconds = 0.05
    azure_job.write_records(reviews(20)).write_spec({"execution": {"mode": "sync", "concurrency": 4}}).run()
    assert len(azure_job.outputs()) == 20 and azure_job.errors() == []
    statuses = [r["status"] for r in fake_api.ledger.requests_to("/openai/deployments/", "POST")]
    assert 429 in statuses
    assert azure_job.state("SELECT count(*) FROM errors") == [(0,)]  # rate limits use no attempts


def test_plan_emit_lines_match_the_openai_sdk_types(azure_job: Job) -> None:
    from openai.types.chat import completion_create_params

    azure_job.cli("plan", "job.yaml", "--emit", "payloads")
    (payload,) = (azure_job.dir / "payloads").iterdir()
    lines = [json.loads(line) for line in payload.read_text().splitlines()]
    assert len(lines) == 10
    params = completion_create_params.CompletionCreateParamsNonStreaming
    allowed = set(completion_create_params.CompletionCreateParamsBase.__annotations__) | set(params.__annotations__)
    for line in lines:
        assert set(line) == {"custom_id", "method", "url", "body"}
        assert (line["method"], line["url"]) == ("POST", "/chat/completions")  # Azure's batch url: no /v1
        assert set(line["body"]) <= allowed
        assert line["body"]["model"] == DEPLOYMENT  # the global-batch deployment
        TypeAdapter(params).validate_python(line["body"])


@pytest.mark.parametrize("point", ["after_upload", "after_create"])
def test_killed_after_create_no_batch_is_sent_twice(azure_job: Job, fake_api: FakeAPI, point: str) -> None:
    from tests.test_crash import assert_consistent, finish, start

    fake_api.config.processing_seconds = 0.3
    azure_job.write_records(reviews(30)).write_spec(
        {"execution": {"max_requests_per_batch": 10, "max_concurrent_batches": 2}}
    )
    process = start(azure_job, point)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    finish(azure_job)
    assert_consistent(azure_job, fake_api)
    assert len(fake_api.ledger.batches_created()) == 3


def test_init_writes_an_azure_starter_that_validates_and_runs(
    tmp_path: Path, fake_api: FakeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    starter = Job(tmp_path, {})
    starter.cli("init", "--provider", "azure")
    text = starter.spec_path.read_text("utf-8")
    assert "provider: azure" in text and "# pricing:" in text
    result = starter.cli("validate", "job.yaml")
    assert "1 model (azure my-gpt-4o-mini-batch)" in result.stdout
    assert "no price known for model 'my-gpt-4o-mini-batch'" in result.stderr  # unknown, not free
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", fake_api.url)
    starter.cli("run", "job.yaml", "-q")
    assert len(starter.outputs("out/job.jsonl")) == 5
    assert fake_api.ledger.requests_to("/openai/v1/batches", "POST")


def test_validate_accepts_an_entra_token_instead_of_a_key(azure_job: Job, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_OPENAI_API_KEY")
    assert "AZURE_OPENAI_API_KEY is not set" in azure_job.cli("validate", "job.yaml").stderr
    monkeypatch.setenv("AZURE_OPENAI_AD_TOKEN", "entra-access-token-0123456789")
    assert "would stop before sending" not in azure_job.cli("validate", "job.yaml").stderr
