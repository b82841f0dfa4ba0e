"""Model-family rules (providers/rules.py): never send what the provider refuses for every record."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from batchspec.fakeapi import FakeAPI
from tests.conftest import BASE_SPEC, Job, merge, reviews


@pytest.fixture
def clients(fake_api: FakeAPI) -> Iterator[tuple[openai.OpenAI, anthropic.Anthropic]]:
    oai = openai.OpenAI(base_url=fake_api.openai_base_url, api_key="k", max_retries=0)
    ant = anthropic.Anthropic(base_url=fake_api.anthropic_base_url, api_key="k", max_retries=0)
    yield oai, ant
    oai.close()
    ant.close()


def job_for(tmp_path: Path, fake_api: FakeAPI, model: dict[str, Any], **changes: Any) -> Job:
    base = fake_api.anthropic_base_url if model.get("provider") == "anthropic" else fake_api.openai_base_url
    spec = merge(BASE_SPEC, {"model": {**model, "base_url": base}, **changes})
    spec["model"] = {k: v for k, v in spec["model"].items() if v is not None}
    return Job(tmp_path, spec).write_records(reviews(3)).write_spec()


def only(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """A prompt of these messages (BASE_SPEC's system and user removed)."""
    return {"system": None, "user": None, "messages": messages}


def stderr_lines(job: Job, expect: int) -> list[str]:
    return job.cli("validate", "job.yaml", expect=expect).stderr.splitlines()


# -- OpenAI reasoning models ----------------------------------------------------------------------


def test_reasoning_model_gets_max_completion_tokens_and_a_validate_note(tmp_path: Path, fake_api: FakeAPI) -> None:
    job = job_for(tmp_path, fake_api, {"name": "gpt-5-mini", "params": {"max_tokens": 16, "temperature": None}})
    result = job.cli("validate", "job.yaml")
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert notes == [
        "note: job.yaml:15:17: model.params.max_tokens: gpt-5-mini (gpt-5 (reasoning)) takes max_completion_tokens, "
        "not max_tokens: batchspec sends params.max_tokens as max_completion_tokens"
    ]
    job.cli("plan", "job.yaml", "--emit", "emitted")
    body = json.loads((job.dir / "emitted").glob("*.jsonl").__next__().read_text().splitlines()[0])["body"]
    assert body["max_completion_tokens"] == 16 and "max_tokens" not in body
    run = job.run()  # the fake refuses max_tokens for gpt-5-mini, as OpenAI does
    assert "note:" not in run.stderr
    assert [r["id"] for r in job.outputs()] == ["r1", "r2", "r3"]


def test_reasoning_model_refuses_a_temperature_at_validate(tmp_path: Path, fake_api: FakeAPI) -> None:
    job = job_for(tmp_path, fake_api, {"name": "o4-mini", "params": {"max_tokens": 16, "temperature": 0}})
    lines = stderr_lines(job, 2)
    assert lines[0] == (
        "job.yaml:15:18: model.params.temperature: o4-mini (o-series (reasoning)) takes only the default "
        "temperature (1), not 0 (remove params.temperature)"
    )
    assert lines[-1] == "1 problem in the spec; nothing was sent."
    job.run(expect=2)
    assert fake_api.ledger.requests_to("/v1/") == []


def test_fake_refuses_reasoning_parameters_with_openais_errors(
    clients: tuple[openai.OpenAI, anthropic.Anthropic],
) -> None:
    oai, _ = clients
    user = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model="gpt-5-mini", messages=user, max_tokens=5)  # type: ignore[arg-type]
    assert caught.value.body == {
        "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
        "Use 'max_completion_tokens' instead.",
        "type": "invalid_request_error",
        "param": "max_tokens",
        "code": "unsupported_parameter",
    }
    lines = [
        {"model": "o3", "messages": user, "temperature": 0},
        {"model": "o3", "messages": user, "temperature": 1},
        {"model": "o3", "messages": user, "prompt_cache_key": "k" * 65},
    ]
    payload = "\n".join(
        json.dumps({"custom_id": f"c{i}", "method": "POST", "url": "/v1/chat/completions", "body": b})
        for i, b in enumerate(lines)
    )
    file = oai.files.create(file=("in.jsonl", payload.encode()), purpose="batch")
    batch = oai.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h")
    while batch.status not in ("completed", "failed"):
        time.sleep(0.01)
        batch = oai.batches.retrieve(batch.id)
    assert batch.status == "completed", batch.errors
    assert batch.request_counts is not None
    assert batch.request_counts.completed == 1 and batch.request_counts.failed == 2
    assert batch.error_file_id is not None
    errors = {
        e["custom_id"]: e["response"]["body"]["error"]
        for e in map(json.loads, oai.files.content(batch.error_file_id).text.splitlines())
    }
    assert errors["c0"]["message"] == (
        "Unsupported value: 'temperature' does not support 0 with this model. Only the default (1) value is supported."
    )
    assert errors["c2"]["code"] == "string_above_max_length"


# -- prompt_cache_key -----------------------------------------------------------------------------


def test_a_long_job_name_still_gives_a_valid_prompt_cache_key(tmp_path: Path, fake_api: FakeAPI) -> None:
    name = "a-job-name-of-sixty-characters-for-the-prompt-cache-key-test"
    assert len(name) == 60
    model = {"provider": "fake", "name": "gpt-4o-mini", "params": {"max_tokens": 5}}
    job = job_for(tmp_path, fake_api, model, name=name, cache={"prompt_caching": True})
    job.cli("plan", "job.yaml", "--emit", "emitted")
    lines = [line for p in (job.dir / "emitted").glob("*.jsonl") for line in p.read_text().splitlines()]
    bodies = [json.loads(line)["body"] for line in lines]
    keys = {b["prompt_cache_key"] for b in bodies}
    assert len(keys) == 1 and len(keys.pop()) <= 64
    job.run()  # the fake, like OpenAI, refuses a key over 64 characters
    assert len(job.outputs()) == 3


def test_a_long_prompt_cache_key_in_the_spec_is_an_error(offline_job: Job) -> None:
    offline_job.write_spec({"model": {"params": {"prompt_cache_key": "k" * 70}}})
    lines = stderr_lines(offline_job, 2)
    assert lines[0].endswith(
        "model.params.prompt_cache_key: prompt_cache_key is 70 characters; OpenAI accepts at most 64 (shorten "
        "it, or leave it out: batchspec sets one from the job name when prompt caching is on)"
    )


# -- Anthropic, API version 2026-10-21 ------------------------------------------------------------

CLAUDE = {"provider": "anthropic", "name": "claude-sonnet-4-6", "params": {"max_tokens": 5, "temperature": None}}


def test_anthropic_sampling_parameters_are_refused_also_through_extra_params(tmp_path: Path, fake_api: FakeAPI) -> None:
    job = job_for(tmp_path, fake_api, {**CLAUDE, "extra_params": {"top_k": 5}})
    lines = stderr_lines(job, 2)
    assert lines[0].endswith(
        "model.extra_params.top_k: anthropic's API (version 2026-10-21, what batchspec's SDK sends) refuses "
        "'top_k' at any value (remove it: the provider refuses every request that carries it)"
    )
    assert not any("put it under extra_params" in line for line in lines)


def test_assistant_prefill_is_an_error_for_current_claude_models(tmp_path: Path, fake_api: FakeAPI) -> None:
    messages = [{"role": "user", "content": "Review: {{ text }}"}, {"role": "assistant", "content": "Sentiment:"}]
    job = job_for(tmp_path, fake_api, CLAUDE, prompt=only(messages))
    lines = stderr_lines(job, 2)
    assert lines[0].endswith(
        "prompt.messages[1].role: claude-sonnet-4-6 does not support assistant message prefill: the conversation "
        "must end with a user message (remove the last assistant message, or ask for the answer's start in the "
        "user message)"
    )
    job.write_spec({"model": {"name": "claude-haiku-4-5"}})  # 4.5 and older still take prefill
    job.cli("validate", "job.yaml")


def test_a_prompt_of_system_messages_only_is_an_error_for_anthropic(tmp_path: Path, fake_api: FakeAPI) -> None:
    job = job_for(tmp_path, fake_api, CLAUDE, prompt=only([{"role": "system", "content": "{{ text }}"}]))
    lines = stderr_lines(job, 2)
    assert "prompt.messages: anthropic needs a user message: this prompt has only system messages" in lines[0]


def test_more_than_four_cache_breakpoints_is_an_error(tmp_path: Path, fake_api: FakeAPI) -> None:
    messages = [{"role": "system", "content": "s", "cache": True}] + [
        {"role": r, "content": f"turn {i}", "cache": True} for i, r in enumerate(["user", "assistant"] * 2)
    ]
    messages.append({"role": "user", "content": "{{ text }}"})
    job = job_for(tmp_path, fake_api, CLAUDE, prompt=only(messages), cache={"prompt_caching": True})
    lines = stderr_lines(job, 2)
    assert lines[0].endswith(
        "prompt.messages: each request to claude-sonnet-4-6 would carry 5 blocks marked cache_control (system, "
        "messages and tools); anthropic accepts at most 4 (mark fewer messages `cache: true`)"
    )
    messages[1]["cache"] = False
    job.write_spec({"prompt": {"messages": messages}})
    job.cli("validate", "job.yaml")


def test_fake_refuses_what_claude_refuses_in_sync_and_batch(
    clients: tuple[openai.OpenAI, anthropic.Anthropic],
) -> None:
    _, ant = clients
    user = [{"role": "user", "content": "hi"}]
    with pytest.raises(anthropic.BadRequestError, match="temperature: Extra inputs are not permitted"):
        # SDK 2.x has no temperature argument any more: a user could still send it as an extra field.
        ant.messages.create(model="claude-haiku-4-5", max_tokens=5, messages=user, extra_body={"temperature": 0})  # type: ignore[arg-type]
    prefill = [*user, {"role": "assistant", "content": "Sure:"}]
    requests = [
        {"custom_id": "prefill", "params": {"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": prefill}},
        {"custom_id": "old", "params": {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": prefill}},
    ]
    batch = ant.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    while batch.processing_status != "ended":
        time.sleep(0.01)
        batch = ant.messages.batches.retrieve(batch.id)
    results = {r.custom_id: r.result for r in ant.messages.batches.results(batch.id)}
    assert results["old"].type == "succeeded"
    assert results["prefill"].type == "errored"
    assert results["prefill"].error.error.message == (  # type: ignore[union-attr]
        "This model does not support assistant message prefill. The conversation must end with a user message."
    )
