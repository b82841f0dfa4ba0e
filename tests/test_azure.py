"""provider: azure: the openai SDK's Azure client against the fake server's Azure paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

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
