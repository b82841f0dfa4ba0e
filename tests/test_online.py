"""`validate --online` and `plan --online`: a model the provider does not have fails before money moves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from batchspec.fakeapi import FakeAPI, FakeConfig
from tests.conftest import BASE_SPEC, Job, merge, reviews

KNOWN = ("gpt-4o-mini", "claude-haiku-4-5")


@pytest.fixture
def models_api() -> Iterator[FakeAPI]:
    with FakeAPI(FakeConfig(processing_seconds=0, known_models=KNOWN)) as api:
        yield api


def job_with(tmp_path: Path, api: FakeAPI, **model: object) -> Job:
    anthropic = model.get("provider") == "anthropic"
    base = api.anthropic_base_url if anthropic else api.openai_base_url
    spec = merge(BASE_SPEC, {"model": {"base_url": base, **model}})
    return Job(tmp_path, spec).write_records(reviews(3)).write_spec()


def test_validate_online_fails_a_model_the_provider_does_not_have(tmp_path: Path, models_api: FakeAPI) -> None:
    job = job_with(tmp_path, models_api, name="gpt-4o-mni")
    job.cli("validate", "job.yaml")  # offline: only the price warning
    result = job.cli("validate", "job.yaml", "--online", expect=2)
    assert "online: openai gpt-4o-mni: missing" in result.stderr
    assert (
        "job.yaml:13:9: model.name: openai has no model 'gpt-4o-mni' (openai "
        f"({models_api.openai_base_url}) failed to look up model gpt-4o-mni: 404 The model 'gpt-4o-mni' "
        "does not exist) (did you mean 'gpt-4o-mini' or 'gpt-4.1-mini' or 'gpt-5-mini'?)"
    ) in result.stderr
    assert [r["path"] for r in models_api.ledger.requests_to("/v1/")] == ["/v1/models/gpt-4o-mni"]


def test_validate_and_plan_online_pass_known_models_of_both_providers(tmp_path: Path, models_api: FakeAPI) -> None:
    job = job_with(tmp_path, models_api)
    result = job.cli("validate", "job.yaml", "--online")
    assert "online: openai gpt-4o-mini: found (gpt-4o-mini)" in result.stderr
    assert result.stdout.startswith("ok: reviews")
    claude = {"provider": "anthropic", "name": "claude-haiku-4-5", "params": {"temperature": None}}
    job.write_spec({"model": {**claude, "base_url": models_api.anthropic_base_url}})
    assert "online: anthropic claude-haiku-4-5: found" in job.cli("plan", "job.yaml", "--online").stderr
    job.write_spec({"model": {"name": "claude-haiku-4-6"}})
    planned = job.cli("plan", "job.yaml", "--online", "--offline", expect=2)
    assert "model.name: anthropic has no model 'claude-haiku-4-6'" in planned.stderr
    assert "404 model: claude-haiku-4-6" in planned.stderr


def test_online_without_a_key_is_skipped_for_a_base_url_and_an_error_without(
    tmp_path: Path, models_api: FakeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    job = job_with(tmp_path, models_api)
    result = job.cli("validate", "job.yaml", "--online")
    assert "online: openai gpt-4o-mini: skipped: no API key in OPENAI_API_KEY" in result.stderr
    job.write_spec({"model": {"base_url": None}})
    offline = job.cli("validate", "job.yaml")  # validate works without keys: a warning
    assert (
        "warning: openai: no API key: the environment variable OPENAI_API_KEY is not set (set it, or name another "
        "with model.api_key_env): `run` would stop before sending (exit 2)"
    ) in offline.stderr
    online = job.cli("validate", "job.yaml", "--online", expect=2)
    assert "error: openai: no API key: the environment variable OPENAI_API_KEY is not set" in online.stderr


def test_online_and_untrusted_do_not_mix(offline_job: Job) -> None:
    result = offline_job.cli("validate", "job.yaml", "--online", "--untrusted", expect=2)
    assert "--online reads API keys from the environment and --untrusted reads none" in result.stderr
