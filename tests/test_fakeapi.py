"""The fake API server, driven through the real openai and anthropic SDK clients."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import jsonschema
import openai
import pytest

from batchspec.fakeapi import FakeAPI, FakeConfig, FaultConfig, Ledger
from batchspec.providers.structured import translate
from batchspec.tokens import request_tokens

GPT = "gpt-4o-mini"
CLAUDE = "claude-haiku-4-5"
SENTIMENT = "Classify the sentiment of this review: {text}\nAnswer in one word: positive, negative or neutral."
LONG = "The quick brown fox jumps over the lazy dog near the quiet river bank. " * 80  # ~1440 tokens
TERMINAL = {"completed", "failed", "expired", "cancelled"}


# -- fixtures and helpers ------------------------------------------------------------------------


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI(FakeConfig(processing_seconds=0)) as server:
        yield server


_clients: list[openai.OpenAI | anthropic.Anthropic] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    """Close every SDK client a test made, so no pooled socket outlives its test."""
    yield
    while _clients:
        _clients.pop().close()


def oai(api: FakeAPI, key: str = "test-key", retries: int = 0) -> openai.OpenAI:
    client = openai.OpenAI(base_url=api.openai_base_url, api_key=key, max_retries=retries)
    _clients.append(client)
    return client


def claude(api: FakeAPI, key: str = "test-key") -> anthropic.Anthropic:
    client = anthropic.Anthropic(base_url=api.anthropic_base_url, api_key=key, max_retries=0)
    _clients.append(client)
    return client


def chat_body(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": GPT, "messages": [{"role": "user", "content": text}], **extra}


def batch_line(custom_id: str, body: dict[str, Any], url: str = "/v1/chat/completions") -> str:
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": url, "body": body})


def upload(client: openai.OpenAI, lines: list[str], name: str = "input.jsonl") -> str:
    return client.files.create(file=(name, "\n".join(lines).encode()), purpose="batch").id


def run_openai_batch(client: openai.OpenAI, lines: list[str], **kwargs: Any) -> Any:
    batch = client.batches.create(
        input_file_id=upload(client, lines),
        endpoint="/v1/chat/completions",
        completion_window="24h",
        **kwargs,
    )
    assert batch.status == "validating"
    for _ in range(200):
        batch = client.batches.retrieve(batch.id)
        if batch.status in TERMINAL:
            return batch
        time.sleep(0.01)
    raise AssertionError(f"batch stuck in {batch.status}")


def read_jsonl(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    if file_id is None:
        return []
    return [json.loads(line) for line in client.files.content(file_id).text.splitlines()]


def message_params(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": CLAUDE, "max_tokens": 64, "messages": [{"role": "user", "content": text}], **extra}


def run_anthropic_batch(client: anthropic.Anthropic, requests: list[dict[str, Any]]) -> Any:
    batch = client.messages.batches.create(requests=requests)
    for _ in range(200):
        batch = client.messages.batches.retrieve(batch.id)
        if batch.processing_status == "ended":
            return batch
        time.sleep(0.01)
    raise AssertionError("batch did not end")


def raw(
    api: FakeAPI, method: str, path: str, headers: dict[str, str], body: bytes | None = None
) -> tuple[int, dict[str, str], Any]:
    if path.startswith("/v1/messages"):
        headers = {"anthropic-version": "2023-06-01", **headers}
    req = urllib.request.Request(api.url + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


# -- OpenAI batches ------------------------------------------------------------------------------


def test_openai_batch_round_trip(api: FakeAPI) -> None:
    client = oai(api)
    reviews = [f"review number {i}" for i in range(30)]
    lines = [batch_line(f"rec-{i}", chat_body(SENTIMENT.format(text=t))) for i, t in enumerate(reviews)]
    uploaded = client.files.retrieve(upload(client, lines))
    assert uploaded.object == "file" and uploaded.purpose == "batch" and uploaded.status == "processed"
    assert uploaded.bytes == len("\n".join(lines).encode()) and uploaded.filename == "input.jsonl"
    assert uploaded.expires_at is not None and uploaded.expires_at > uploaded.created_at

    batch = run_openai_batch(client, lines, metadata={"job": "reviews", "local_key": "k-1"})
    assert batch.status == "completed" and batch.model == GPT
    assert batch.request_counts is not None
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (30, 30, 0)
    assert batch.metadata == {"job": "reviews", "local_key": "k-1"}
    assert batch.error_file_id is None and batch.errors is None
    assert batch.in_progress_at and batch.finalizing_at and batch.completed_at
    assert batch.expires_at == batch.created_at + 24 * 3600

    out = read_jsonl(client, batch.output_file_id)
    assert sorted(r["custom_id"] for r in out) == sorted(f"rec-{i}" for i in range(30))
    assert [r["custom_id"] for r in out] != [f"rec-{i}" for i in range(30)], "output should be shuffled"
    expected_input = 0
    for record in out:
        assert record["id"].startswith("batch_req_") and record["error"] is None
        response = record["response"]
        assert response["status_code"] == 200 and response["request_id"]
        completion = response["body"]
        assert completion["object"] == "chat.completion" and completion["model"] == GPT
        assert completion["choices"][0]["message"]["content"] in {"positive", "negative", "neutral"}
        assert completion["choices"][0]["finish_reason"] == "stop"
        index = int(record["custom_id"].split("-")[1])
        tokens = request_tokens(chat_body(SENTIMENT.format(text=reviews[index])))
        assert completion["usage"]["prompt_tokens"] == tokens
        assert completion["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
        expected_input += tokens
    assert batch.usage is not None and batch.usage.input_tokens == expected_input
    assert batch.usage.output_tokens == sum(r["response"]["body"]["usage"]["completion_tokens"] for r in out)

    output_file = client.files.retrieve(batch.output_file_id)
    assert output_file.purpose == "batch_output"
    listed = client.batches.list(limit=5)
    assert [b.id for b in listed.data] == [batch.id]
    assert client.files.delete(uploaded.id).deleted is True
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(uploaded.id)

    created = api.ledger.batches_created("openai")
    assert len(created) == 1 and created[0]["batch_id"] == batch.id and created[0]["model"] == GPT
    assert created[0]["metadata"]["local_key"] == "k-1"
    assert api.ledger.custom_ids_submitted()["rec-3"] == 1
    assert api.ledger.billed_usage("openai", batch=True)["input_tokens"] == expected_input


def test_same_request_gets_same_answer_in_batch_and_sync(api: FakeAPI) -> None:
    client = oai(api)
    body = chat_body(SENTIMENT.format(text="fine"))
    batch = run_openai_batch(client, [batch_line("a", body)])
    batch_answer = read_jsonl(client, batch.output_file_id)[0]["response"]["body"]["choices"][0]
    sync_answer = client.chat.completions.create(**body).choices[0]
    assert batch_answer["message"]["content"] == sync_answer.message.content


def test_openai_batch_lifecycle_follows_the_clock() -> None:
    with FakeAPI(FakeConfig(processing_seconds=100)) as api:
        api.clock.freeze()
        client = oai(api)
        lines = [batch_line(f"r{i}", chat_body(f"q {i}")) for i in range(10)]
        batch = client.batches.create(
            input_file_id=upload(client, lines), endpoint="/v1/chat/completions", completion_window="24h"
        )
        assert client.batches.retrieve(batch.id).status == "validating"
        api.advance(50)  # 10% validating, then 40 of 80 processing seconds
        mid = client.batches.retrieve(batch.id)
        assert mid.status == "in_progress" and mid.request_counts is not None
        assert mid.request_counts.total == 10 and mid.request_counts.completed == 5
        api.advance(45)
        assert client.batches.retrieve(batch.id).status == "finalizing"
        api.advance(5)
        done = client.batches.retrieve(batch.id)
        assert done.status == "completed" and done.request_counts is not None and done.request_counts.completed == 10
        assert done.in_progress_at is not None and done.finalizing_at is not None and done.completed_at is not None
        assert done.created_at < done.in_progress_at < done.finalizing_at < done.completed_at


def test_openai_cancel_keeps_partial_results() -> None:
    with FakeAPI(FakeConfig(processing_seconds=100)) as api:
        api.clock.freeze()
        client = oai(api)
        lines = [batch_line(f"r{i}", chat_body(f"q {i}")) for i in range(10)]
        batch = client.batches.create(
            input_file_id=upload(client, lines), endpoint="/v1/chat/completions", completion_window="24h"
        )
        api.advance(50)
        cancelling = client.batches.cancel(batch.id)
        assert cancelling.status == "cancelling" and cancelling.cancelling_at is not None
        api.advance(10)
        cancelled = client.batches.retrieve(batch.id)
        assert cancelled.status == "cancelled" and cancelled.cancelled_at is not None
        out = read_jsonl(client, cancelled.output_file_id)
        errors = read_jsonl(client, cancelled.error_file_id)
        assert len(out) == 5 and len(errors) == 5
        assert {r["custom_id"] for r in out} | {r["custom_id"] for r in errors} == {f"r{i}" for i in range(10)}
        for record in errors:
            assert record["response"] is None
            assert record["error"]["code"] == "batch_cancelled" and record["error"]["message"]
        assert api.ledger.billed_usage("openai")["requests"] == 5
        api.config.processing_seconds = 0
        finished = run_openai_batch(client, [batch_line("x", chat_body("x"))])
        with pytest.raises(openai.BadRequestError):
            client.batches.cancel(finished.id)


@pytest.mark.parametrize(
    ("setting", "status", "code"),
    [
        ("expire_after_fraction", "expired", "batch_expired"),
        ("cancel_after_fraction", "cancelled", "batch_cancelled"),
    ],
)
def test_openai_expiry_and_provider_cancel(api: FakeAPI, setting: str, status: str, code: str) -> None:
    setattr(api.config.faults, setting, 0.4)
    client = oai(api)
    lines = [batch_line(f"r{i}", chat_body(f"q {i}")) for i in range(10)]
    batch = run_openai_batch(client, lines)
    assert batch.status == status
    assert getattr(batch, f"{status}_at") is not None
    assert batch.request_counts is not None and batch.request_counts.completed == 4
    out, errors = read_jsonl(client, batch.output_file_id), read_jsonl(client, batch.error_file_id)
    assert len(out) == 4 and len(errors) == 6
    assert all(r["response"] is None and r["error"]["code"] == code for r in errors)
    # Re-sending the unfinished requests succeeds: batch-level faults hit first attempts only.
    retry = run_openai_batch(client, [batch_line(r["custom_id"], chat_body("again")) for r in errors])
    assert retry.status == "completed" and retry.request_counts is not None and retry.request_counts.completed == 6


@pytest.mark.parametrize(
    ("kind", "status", "err_type", "code"),
    [
        ("server_error", 500, "server_error", "server_error"),
        ("rate_limit", 429, "requests", "rate_limit_exceeded"),
        ("overloaded", 503, "server_error", "server_error"),
        ("context_length", 400, "invalid_request_error", "context_length_exceeded"),
        ("content_policy", 400, "invalid_request_error", "content_policy_violation"),
    ],
)
def test_openai_batch_request_faults(api: FakeAPI, kind: str, status: int, err_type: str, code: str) -> None:
    setattr(api.config.faults, kind, 1.0)
    client = oai(api)
    lines = [batch_line(f"r{i}", chat_body(f"q {i}")) for i in range(4)]
    batch = run_openai_batch(client, lines)
    assert batch.status == "completed" and batch.output_file_id is None
    assert batch.request_counts is not None and batch.request_counts.failed == 4
    for record in read_jsonl(client, batch.error_file_id):
        assert record["error"] is None and record["response"]["status_code"] == status
        error = record["response"]["body"]["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert (error["type"], error["code"]) == (err_type, code) and error["message"]
    again = run_openai_batch(client, lines)
    permanent = kind in ("context_length", "content_policy")
    assert again.request_counts is not None and again.request_counts.failed == (4 if permanent else 0)
    assert api.ledger.billed_usage()["requests"] == (0 if permanent else 4)


def test_missing_and_malformed_result_lines(api: FakeAPI) -> None:
    api.config.faults = FaultConfig(seed=7, missing_rate=0.25, malformed_rate=0.25)
    client = oai(api)
    batch = run_openai_batch(client, [batch_line(f"r{i}", chat_body(f"q {i}")) for i in range(80)])
    assert batch.request_counts is not None and batch.request_counts.completed == 80
    text = client.files.content(batch.output_file_id).text.splitlines()
    parsed, broken = [], 0
    for line in text:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            broken += 1
    assert 5 < broken < 40 and 40 < len(parsed) < 75
    assert len(text) < 80  # the missing ones are silently absent
    assert api.ledger.billed_usage()["requests"] == len(parsed)  # lost lines were never delivered: not billed


def test_fault_choice_is_deterministic_and_close_to_rate() -> None:
    def faulted(seed: int) -> set[str]:
        with FakeAPI(FakeConfig(processing_seconds=0, faults=FaultConfig(seed=seed, server_error=0.3))) as api:
            client = oai(api)
            batch = run_openai_batch(client, [batch_line(f"r{i}", chat_body(f"q {i}")) for i in range(200)])
            return {r["custom_id"] for r in read_jsonl(client, batch.error_file_id)}

    first, second, other = faulted(1), faulted(1), faulted(2)
    assert first == second and first != other
    assert 35 < len(first) < 85


def test_openai_invalid_input_file_fails_batch(api: FakeAPI) -> None:
    client = oai(api)
    ok = chat_body("hi")
    cases: dict[str, list[str]] = {
        "duplicate_custom_id": [batch_line("a", ok), batch_line("a", ok)],
        "invalid_url": [batch_line("a", ok), batch_line("b", ok, url="/v1/embeddings")],
        "model_mismatch": [batch_line("a", ok), batch_line("b", {**ok, "model": "gpt-4o"})],
        "invalid_json_line": [batch_line("a", ok), '{"custom_id": "b", '],
        "missing_required_parameter": [json.dumps({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions"})],
    }
    for code, lines in cases.items():
        batch = run_openai_batch(client, lines)
        assert batch.status == "failed" and batch.failed_at is not None, code
        assert batch.errors is not None and batch.errors.data
        error = batch.errors.data[0]
        assert error.code == code and error.message
        assert error.line == (1 if code == "missing_required_parameter" else 2)
        assert batch.output_file_id is None and batch.in_progress_at is None

    api.config.openai_max_requests = 3
    too_many = run_openai_batch(client, [batch_line(f"r{i}", ok) for i in range(4)])
    assert too_many.status == "failed" and too_many.errors is not None and too_many.errors.data
    assert too_many.errors.data[0].code == "too_many_tasks"

    api.config.faults.fail_validation = True
    failed = run_openai_batch(client, [batch_line("fresh", ok)])
    assert failed.status == "failed"
    assert run_openai_batch(client, [batch_line("fresh", ok)]).status == "completed"  # re-send passes


def test_openai_batch_create_validation(api: FakeAPI) -> None:
    client = oai(api)
    file_id = upload(client, [batch_line("a", chat_body("hi"))])
    create = client.batches.create

    def error_of(**kwargs: Any) -> dict[str, Any]:
        args = {"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h", **kwargs}
        with pytest.raises(openai.APIStatusError) as info:
            create(**args)
        assert isinstance(info.value.body, dict)
        return info.value.body

    assert error_of(completion_window="1h")["param"] == "completion_window"
    too_many = error_of(metadata={f"k{i}": "v" for i in range(17)})
    assert too_many["code"] == "object_above_max_properties" and too_many["type"] == "invalid_request_error"
    assert error_of(metadata={"k" * 65: "v"})["code"] == "string_above_max_length"
    assert error_of(metadata={"k": "v" * 513})["code"] == "string_above_max_length"
    assert "No such File" in error_of(input_file_id="file-nope")["message"]
    assert (
        create(
            input_file_id=file_id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            metadata={f"k{i}": "v" * 512 for i in range(16)},
        ).status
        == "validating"
    )
    with pytest.raises(openai.BadRequestError, match="Must be .jsonl"):
        client.files.create(file=b'{"a": 1}\n', purpose="batch")  # raw bytes: the SDK names it "upload"


def test_large_openai_batch_is_fast(api: FakeAPI) -> None:
    client = oai(api)
    lines = [batch_line(f"r{i}", chat_body(SENTIMENT.format(text=f"item {i}"))) for i in range(10_000)]
    started = time.perf_counter()
    batch = run_openai_batch(client, lines)
    out = client.files.content(batch.output_file_id).text.splitlines()
    assert len(out) == 10_000 and batch.status == "completed"
    assert time.perf_counter() - started < 8


# -- Anthropic batches ---------------------------------------------------------------------------


def test_anthropic_batch_round_trip(api: FakeAPI) -> None:
    client = claude(api)
    requests = [{"custom_id": f"rec-{i}", "params": message_params(SENTIMENT.format(text=f"r{i}"))} for i in range(20)]
    created = client.messages.batches.create(requests=requests)
    assert created.id.startswith("msgbatch_") and created.type == "message_batch"
    assert created.processing_status == "in_progress" and created.results_url is None
    assert created.request_counts.processing == 20 and created.request_counts.succeeded == 0
    batch = client.messages.batches.retrieve(created.id)  # processing_seconds=0: ended on first look
    assert batch.processing_status == "ended" and batch.ended_at is not None
    assert batch.request_counts.succeeded == 20 and batch.request_counts.processing == 0
    assert batch.results_url == f"{api.url}/v1/messages/batches/{batch.id}/results"
    assert batch.expires_at > batch.created_at

    results = list(client.messages.batches.results(batch.id))
    assert sorted(r.custom_id for r in results) == sorted(f"rec-{i}" for i in range(20))
    assert [r.custom_id for r in results] != [f"rec-{i}" for i in range(20)]
    for r in results:
        assert r.result.type == "succeeded"
        message = r.result.message
        assert message.content[0].type == "text" and message.content[0].text in {"positive", "negative", "neutral"}
        assert message.usage.service_tier == "batch" and message.stop_reason == "end_turn"
        index = int(r.custom_id.split("-")[1])
        assert message.usage.input_tokens == request_tokens(requests[index]["params"])

    assert api.ledger.custom_ids_submitted("anthropic")["rec-0"] == 1
    assert api.ledger.billed_usage("anthropic", batch=True)["requests"] == 20
    assert client.messages.batches.delete(batch.id).type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(batch.id)


def test_anthropic_batch_list_pages(api: FakeAPI) -> None:
    client = claude(api)
    ids = [
        client.messages.batches.create(requests=[{"custom_id": "a", "params": message_params("x")}]).id
        for _ in range(5)
    ]
    page = client.messages.batches.list(limit=2)
    assert [b.id for b in page.data] == ids[::-1][:2] and page.has_more
    assert page.first_id == ids[4] and page.last_id == ids[3]
    assert [b.id for b in client.messages.batches.list(limit=2)] == ids[::-1]  # auto-paginates via after_id
    before = client.messages.batches.list(limit=2, before_id=ids[1])
    assert [b.id for b in before.data] == [ids[3], ids[2]]
    status, _, raw_page = raw(api, "GET", "/v1/messages/batches?limit=1", {"x-api-key": "k"})
    assert status == 200 and set(raw_page) == {"data", "has_more", "first_id", "last_id"}


def test_anthropic_cancel_and_expire() -> None:
    with FakeAPI(FakeConfig(processing_seconds=100)) as api:
        api.clock.freeze()
        client = claude(api)
        requests = [{"custom_id": f"r{i}", "params": message_params(f"q {i}")} for i in range(10)]
        batch = client.messages.batches.create(requests=requests)
        with pytest.raises(anthropic.BadRequestError):
            client.messages.batches.delete(batch.id)
        api.advance(35)
        canceling = client.messages.batches.cancel(batch.id)
        assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at is not None
        api.advance(10)
        ended = client.messages.batches.retrieve(batch.id)
        assert ended.processing_status == "ended"
        counts = ended.request_counts
        assert (counts.succeeded, counts.canceled, counts.processing) == (3, 7, 0)
        kinds = sorted(r.result.type for r in client.messages.batches.results(batch.id))
        assert kinds == ["canceled"] * 7 + ["succeeded"] * 3

        api.config.processing_seconds = 0
        api.config.faults.expire_after_fraction = 0.5
        expired = run_anthropic_batch(client, [{"custom_id": f"e{i}", "params": message_params("q")} for i in range(6)])
        assert (expired.request_counts.succeeded, expired.request_counts.expired) == (3, 3)
        assert expired.results_url is not None
        lines = [json.loads(line) for line in urllib_get(expired.results_url)]
        assert sorted(r["result"]["type"] for r in lines) == ["expired"] * 3 + ["succeeded"] * 3
        assert sum(r == {"custom_id": r["custom_id"], "result": {"type": "expired"}} for r in lines) == 3


def urllib_get(url: str) -> list[bytes]:
    req = urllib.request.Request(url, headers={"x-api-key": "k", "anthropic-version": "2023-06-01"})
    with urllib.request.urlopen(req) as resp:
        return resp.read().splitlines()


@pytest.mark.parametrize(
    ("kind", "err_type", "needle"),
    [
        ("server_error", "api_error", ""),
        ("rate_limit", "rate_limit_error", "rate limit"),
        ("overloaded", "overloaded_error", "Overloaded"),
        ("context_length", "invalid_request_error", "prompt is too long"),
        ("content_policy", "invalid_request_error", "policy"),
    ],
)
def test_anthropic_batch_request_faults(api: FakeAPI, kind: str, err_type: str, needle: str) -> None:
    setattr(api.config.faults, kind, 1.0)
    client = claude(api)
    batch = run_anthropic_batch(client, [{"custom_id": f"r{i}", "params": message_params("q")} for i in range(3)])
    assert batch.request_counts.errored == 3
    for result in client.messages.batches.results(batch.id):
        assert result.result.type == "errored"
        envelope = result.result.error
        assert envelope.type == "error" and envelope.error.type == err_type
        assert needle in envelope.error.message


def test_anthropic_batch_validation(api: FakeAPI) -> None:
    client = claude(api)

    def message_of(requests: list[dict[str, Any]]) -> str:
        with pytest.raises(anthropic.BadRequestError) as info:
            client.messages.batches.create(requests=requests)
        body = info.value.body
        assert isinstance(body, dict) and body["type"] == "error"
        assert body["error"]["type"] == "invalid_request_error"
        return str(body["error"]["message"])

    assert "custom_id" in message_of([{"custom_id": "has space", "params": message_params("x")}])
    assert "custom_id" in message_of([{"custom_id": "x" * 65, "params": message_params("x")}])
    assert "Duplicate" in message_of([{"custom_id": "a", "params": message_params("x")}] * 2)
    no_max = {k: v for k, v in message_params("x").items() if k != "max_tokens"}
    assert message_of([{"custom_id": "a", "params": no_max}]) == "requests.0.params.max_tokens: Field required"
    api.config.anthropic_max_requests = 2
    assert "at most 2" in message_of([{"custom_id": f"a{i}", "params": message_params("x")} for i in range(3)])
    api.config.faults.fail_validation = True
    assert "fail_validation" in message_of([{"custom_id": "ok", "params": message_params("x")}])
    assert client.messages.batches.create(requests=[{"custom_id": "ok", "params": message_params("x")}]).id


# -- sync endpoints ------------------------------------------------------------------------------


def test_chat_completion_answers_and_usage(api: FakeAPI) -> None:
    client = oai(api)
    body = chat_body(SENTIMENT.format(text="great!"))
    first = client.chat.completions.create(**body)
    second = client.chat.completions.create(**body)
    assert first.object == "chat.completion" and first.id.startswith("chatcmpl-")
    assert first.choices[0].message.content == second.choices[0].message.content
    assert first.choices[0].message.content in {"positive", "negative", "neutral"}
    assert first.usage is not None and first.usage.prompt_tokens == request_tokens(body)
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens
    assert first.usage.prompt_tokens_details is not None and first.usage.prompt_tokens_details.cached_tokens == 0

    plain = client.chat.completions.create(**chat_body("Tell me about the weather in Paris in spring please"))
    assert plain.choices[0].message.content == "Fake answer to: Tell me about the weather in Paris in spring please"
    capped = client.chat.completions.create(**chat_body("x" * 200), max_completion_tokens=3)
    assert capped.choices[0].finish_reason == "length"
    assert capped.usage is not None and capped.usage.completion_tokens == 3
    assert len(capped.choices[0].message.content or "") == 12


SCHEMA = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "enum": ["spam", "ham"]},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "count": {"type": "integer", "exclusiveMinimum": 3},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "flag": {"type": "boolean"},
        "when": {"type": "string", "format": "date"},
        "nested": {"$ref": "#/$defs/inner"},
    },
    "required": ["label", "score"],
    "additionalProperties": False,
    "$defs": {"inner": {"type": "object", "properties": {"note": {"type": ["string", "null"]}}}},
}


def test_structured_outputs_validate_against_schema(api: FakeAPI) -> None:
    client = oai(api)
    fmt = {"type": "json_schema", "json_schema": {"name": "verdict", "schema": SCHEMA, "strict": True}}
    with pytest.raises(openai.BadRequestError, match=r"In context=\(\), 'required' is required to be supplied"):
        client.chat.completions.create(**chat_body("classify"), response_format=fmt)  # strict needs all required
    fmt["json_schema"]["strict"] = False
    result = client.chat.completions.create(**chat_body("classify"), response_format=fmt)
    value = json.loads(result.choices[0].message.content or "")
    jsonschema.validate(value, SCHEMA)
    assert set(value) == set(SCHEMA["properties"])

    tool = {"type": "function", "function": {"name": "record", "parameters": SCHEMA}}
    called = client.chat.completions.create(
        **chat_body("classify"),
        tools=[tool],
        tool_choice={"type": "function", "function": {"name": "record"}},
    )
    call = called.choices[0].message.tool_calls[0]
    assert call.function.name == "record"
    jsonschema.validate(json.loads(call.function.arguments), SCHEMA)

    messages = claude(api)
    with pytest.raises(anthropic.BadRequestError, match="For 'number' type, property 'maximum' is not supported"):
        messages.messages.create(
            **message_params("classify"), output_config={"format": {"type": "json_schema", "schema": SCHEMA}}
        )
    supported = translate("anthropic", SCHEMA).body["schema"]  # the SDK's transform_schema, as batchspec sends it
    answer = messages.messages.create(
        **message_params("classify"), output_config={"format": {"type": "json_schema", "schema": supported}}
    )
    jsonschema.validate(json.loads(answer.content[0].text), supported)
    forced = messages.messages.create(
        **message_params("classify"),
        tools=[{"name": "record", "description": "save", "input_schema": SCHEMA}],
        tool_choice={"type": "tool", "name": "record"},
    )
    block = forced.content[0]
    assert block.type == "tool_use" and block.name == "record" and forced.stop_reason == "tool_use"
    jsonschema.validate(block.input, SCHEMA)


def test_messages_answers_and_usage(api: FakeAPI) -> None:
    client = claude(api)
    params = message_params("Summarize the plot of a long novel about whales and obsession")
    message = client.messages.create(**params)
    assert message.id.startswith("msg_") and message.type == "message" and message.role == "assistant"
    assert message.content[0].text == "Fake answer to: " + params["messages"][0]["content"][:60]
    usage = message.usage
    assert usage.input_tokens == request_tokens(params) and usage.service_tier == "standard"
    assert (usage.cache_creation_input_tokens, usage.cache_read_input_tokens) == (0, 0)
    capped = client.messages.create(**{**params, "max_tokens": 2})
    assert capped.stop_reason == "max_tokens" and capped.usage.output_tokens == 2
    stopped = client.messages.create(**params, stop_sequences=["plot"])
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == "plot"
    assert stopped.content[0].text == "Fake answer to: Summarize the "


def test_anthropic_prompt_caching(api: FakeAPI) -> None:
    client = claude(api)
    system = [{"type": "text", "text": LONG, "cache_control": {"type": "ephemeral"}}]
    params = {**message_params("first question"), "system": system}
    prefix = request_tokens({"system": system}) - 3  # without the reply priming
    total = request_tokens(params)

    def usage(p: dict[str, Any]) -> anthropic.types.Usage:
        return client.messages.create(**p).usage

    write = usage(params)
    assert write.cache_creation_input_tokens == prefix and write.cache_read_input_tokens == 0
    assert write.cache_creation is not None and write.cache_creation.ephemeral_5m_input_tokens == prefix
    assert write.input_tokens + write.cache_creation_input_tokens == total
    read = usage({**params, "messages": [{"role": "user", "content": "a different question"}]})
    assert read.cache_read_input_tokens == prefix and read.cache_creation_input_tokens == 0
    api.advance(301)  # past the 5-minute lifetime
    assert usage(params).cache_creation_input_tokens == prefix
    hour = [{"type": "text", "text": LONG + " hourly", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    hour_prefix = request_tokens({"system": hour}) - 3
    first_hour = usage({**params, "system": hour})
    assert first_hour.cache_creation is not None and first_hour.cache_creation.ephemeral_1h_input_tokens == hour_prefix
    api.advance(600)
    assert usage({**params, "system": hour}).cache_read_input_tokens == hour_prefix
    short = [{"type": "text", "text": "too short to cache", "cache_control": {"type": "ephemeral"}}]
    assert usage({**params, "system": short}).cache_creation_input_tokens == 0
    assert usage({**params, "model": "claude-sonnet-4-6"}).cache_creation_input_tokens == prefix  # per model
    five = [{"type": "text", "text": f"b{i}", "cache_control": {"type": "ephemeral"}} for i in range(5)]
    with pytest.raises(anthropic.BadRequestError, match="maximum of 4 blocks"):
        usage({**params, "system": five})


def test_openai_prompt_caching_in_sync_and_batch(api: FakeAPI) -> None:
    client = oai(api)
    system = {"role": "system", "content": LONG}
    body = {"model": GPT, "messages": [system, {"role": "user", "content": "question one"}]}
    first = client.chat.completions.create(**body)
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    again = client.chat.completions.create(model=GPT, messages=[system, {"role": "user", "content": "question two"}])
    cached = again.usage.prompt_tokens_details.cached_tokens
    assert cached >= 1024 and cached % 128 == 0 and cached <= request_tokens({"messages": [system]})
    keyed = client.chat.completions.create(**body, prompt_cache_key="tenant-b")
    assert keyed.usage.prompt_tokens_details.cached_tokens == 0

    batch_system = {"role": "system", "content": LONG + " batch"}
    lines = [
        batch_line(f"r{i}", {"model": GPT, "messages": [batch_system, {"role": "user", "content": f"q{i}"}]})
        for i in range(3)
    ]
    batch = run_openai_batch(client, lines)
    by_id = {r["custom_id"]: r["response"]["body"]["usage"] for r in read_jsonl(client, batch.output_file_id)}
    assert by_id["r0"]["prompt_tokens_details"]["cached_tokens"] == 0
    assert by_id["r1"]["prompt_tokens_details"]["cached_tokens"] > 0  # processed in input order
    assert (
        batch.usage is not None
        and batch.usage.input_tokens_details.cached_tokens == 2 * by_id["r1"]["prompt_tokens_details"]["cached_tokens"]
    )


def test_anthropic_batch_reads_cache_in_order(api: FakeAPI) -> None:
    client = claude(api)
    system = [{"type": "text", "text": LONG, "cache_control": {"type": "ephemeral"}}]
    batch = run_anthropic_batch(
        client, [{"custom_id": f"r{i}", "params": {**message_params(f"q{i}"), "system": system}} for i in range(3)]
    )
    usage = {r.custom_id: r.result.message.usage for r in client.messages.batches.results(batch.id)}
    assert usage["r0"].cache_creation_input_tokens > 0 and usage["r0"].cache_read_input_tokens == 0
    assert usage["r1"].cache_read_input_tokens == usage["r0"].cache_creation_input_tokens
    totals = api.ledger.billed_usage("anthropic")
    assert totals["cached_input_tokens"] == 2 * usage["r1"].cache_read_input_tokens


def test_strict_sync_validation(api: FakeAPI) -> None:
    status, _, body = raw(
        api, "POST", "/v1/chat/completions", {"Authorization": "Bearer k"}, json.dumps({"messages": []}).encode()
    )
    assert status == 400 and body == {
        "error": {
            "message": "you must provide a model parameter",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
    status, _, body = raw(
        api, "POST", "/v1/chat/completions", {"Authorization": "Bearer k"}, json.dumps({"model": GPT}).encode()
    )
    assert body["error"]["code"] == "missing_required_parameter" and body["error"]["param"] == "messages"
    client = oai(api)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=GPT, messages=[{"role": "robot", "content": "x"}])
    assert info.value.code == "invalid_value" and info.value.param == "messages[0].role"
    with pytest.raises(openai.BadRequestError, match="Unrecognized request argument"):
        client.chat.completions.create(**chat_body("x"), extra_body={"bogus": 1})
    with pytest.raises(openai.BadRequestError, match="below minimum"):
        client.chat.completions.create(**chat_body("x"), max_tokens=0)

    messages = claude(api)
    status, _, body = raw(
        api,
        "POST",
        "/v1/messages",
        {"x-api-key": "k"},
        json.dumps({"model": CLAUDE, "messages": [{"role": "user", "content": "x"}]}).encode(),
    )
    assert status == 400 and body["type"] == "error"
    assert body["error"] == {"type": "invalid_request_error", "message": "max_tokens: Field required"}
    with pytest.raises(anthropic.BadRequestError, match="Extra inputs are not permitted"):
        messages.messages.create(**message_params("x"), extra_body={"bogus": True})
    with pytest.raises(anthropic.BadRequestError, match='Unexpected role "system"'):
        messages.messages.create(model=CLAUDE, max_tokens=5, messages=[{"role": "system", "content": "x"}])


def test_authentication(api: FakeAPI) -> None:
    body = json.dumps(chat_body("x")).encode()
    status, _, err = raw(api, "POST", "/v1/chat/completions", {}, body)
    assert status == 401 and "didn't provide an API key" in err["error"]["message"]
    status, _, err = raw(api, "GET", "/v1/messages/batches", {})
    assert status == 401 and err["error"]["type"] == "authentication_error" and err["type"] == "error"
    status, _, _ = raw(api, "GET", "/v1/messages/batches", {"x-api-key": "anything"})
    assert status == 200

    api.config.required_api_key = "sk-right-key"
    with pytest.raises(openai.AuthenticationError) as info:
        oai(api, "sk-wrong-key-123").chat.completions.create(**chat_body("x"))
    assert info.value.code == "invalid_api_key"
    with pytest.raises(anthropic.AuthenticationError) as ainfo:
        claude(api, "wrong").messages.create(**message_params("x"))
    assert isinstance(ainfo.value.body, dict) and ainfo.value.body["error"]["type"] == "authentication_error"
    assert oai(api, "sk-right-key").chat.completions.create(**chat_body("x")).choices
    assert claude(api, "sk-right-key").messages.create(**message_params("x")).content


def test_rate_limits_and_headers(api: FakeAPI) -> None:
    api.clock.freeze()
    api.config.rpm = 3
    client = oai(api)
    for remaining in (2, 1, 0):
        response = client.chat.completions.with_raw_response.create(**chat_body("x"))
        assert response.headers["x-ratelimit-limit-requests"] == "3"
        assert response.headers["x-ratelimit-remaining-requests"] == str(remaining)
        assert re.fullmatch(r"(\d+ms|[\d.]+s|\d+m[\d.]+s)", response.headers["x-ratelimit-reset-requests"])
        assert "x-ratelimit-remaining-tokens" in response.headers and "x-request-id" in response.headers
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(**chat_body("x"))
    error = info.value.body
    assert isinstance(error, dict) and error["type"] == "requests" and error["code"] == "rate_limit_exceeded"
    assert error["param"] is None and "Rate limit reached" in error["message"]
    assert int(info.value.response.headers["retry-after"]) >= 1
    assert info.value.response.headers["x-ratelimit-reset-requests"] == "1m0s"  # 3 requests refill in 60 s
    # Every response carries the headers, including batch endpoints.
    assert client.batches.with_raw_response.list().headers["x-ratelimit-remaining-requests"] == "0"
    api.advance(60)
    assert client.chat.completions.create(**chat_body("x")).choices

    api.config.tpm = 50
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(**chat_body("x" * 400))
    assert isinstance(info.value.body, dict) and info.value.body["type"] == "tokens"

    api.config.rpm, api.config.tpm = 2, 100_000
    messages = claude(api)
    ok = messages.messages.with_raw_response.create(**message_params("x"))
    assert ok.headers["anthropic-ratelimit-requests-limit"] == "2"
    assert ok.headers["anthropic-ratelimit-requests-remaining"] == "1"
    assert ok.headers["anthropic-ratelimit-requests-reset"].endswith("Z")
    for name in ("tokens", "input-tokens", "output-tokens"):
        assert f"anthropic-ratelimit-{name}-remaining" in ok.headers
    messages.messages.create(**message_params("x"))
    with pytest.raises(anthropic.RateLimitError) as ainfo:
        messages.messages.create(**message_params("x"))
    assert isinstance(ainfo.value.body, dict) and ainfo.value.body["error"]["type"] == "rate_limit_error"
    assert int(ainfo.value.response.headers["retry-after"]) >= 1


def test_sync_fault_injection(api: FakeAPI) -> None:
    client, messages = oai(api), claude(api)
    api.config.faults.sync_rate_limit = 1.0
    body = chat_body("flaky")
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(**body)
    assert info.value.response.headers["retry-after-ms"] == "1000"
    assert client.chat.completions.create(**body).choices  # the same request succeeds when re-sent
    api.config.faults = FaultConfig(sync_server_error=1.0)
    with pytest.raises(openai.InternalServerError) as server_info:
        client.chat.completions.create(**chat_body("boom"))
    assert server_info.value.status_code == 500
    api.config.faults = FaultConfig(sync_overloaded=1.0)
    with pytest.raises(anthropic.OverloadedError) as over:
        messages.messages.create(**message_params("busy"))
    assert isinstance(over.value.body, dict) and over.value.body["error"]["type"] == "overloaded_error"
    api.config.faults = FaultConfig(insufficient_quota=True)
    with pytest.raises(openai.RateLimitError) as quota:
        client.chat.completions.create(**chat_body("x"))
    assert quota.value.code == "insufficient_quota"
    api.config.faults = FaultConfig(latency_seconds=0.2)
    started = time.perf_counter()
    client.chat.completions.create(**chat_body("slow"))
    assert time.perf_counter() - started >= 0.2


def test_sdk_retries_honour_retry_after_ms(api: FakeAPI) -> None:
    api.config.faults = FaultConfig(sync_rate_limit=1.0, retry_after_seconds=0.01)
    retrying = oai(api, retries=2)
    assert retrying.chat.completions.create(**chat_body("retry me")).choices
    assert len(api.ledger.requests_to("/v1/chat/completions")) == 2


def test_concurrent_async_clients(api: FakeAPI) -> None:
    async def main() -> list[str]:
        client = openai.AsyncOpenAI(base_url=api.openai_base_url, api_key="k", max_retries=0)
        messages = anthropic.AsyncAnthropic(base_url=api.anthropic_base_url, api_key="k", max_retries=0)
        jobs = [client.chat.completions.create(**chat_body(f"q{i}")) for i in range(60)]
        results = await asyncio.gather(*jobs)
        more = await asyncio.gather(*(messages.messages.create(**message_params(f"q{i}")) for i in range(60)))
        await client.close()
        await messages.close()
        return [r.choices[0].message.content or "" for r in results] + [m.content[0].text for m in more]

    answers = asyncio.run(main())
    assert len(answers) == 120 and answers[0] == "Fake answer to: q0"
    assert len(api.ledger.billed()) == 120 and not api.ledger.answered_twice()


# -- ledger and entry points ---------------------------------------------------------------------


def test_ledger_detects_duplicate_submission(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    with FakeAPI(FakeConfig(processing_seconds=0, ledger_path=path)) as api:
        client = oai(api)
        lines = [batch_line(f"r{i}", chat_body(f"q {i}")) for i in range(3)]
        run_openai_batch(client, lines)
        run_openai_batch(client, lines[:1])
        client.chat.completions.create(**chat_body("sync"))
        client.chat.completions.create(**chat_body("sync"))
        assert api.ledger.custom_ids_submitted() == {"r0": 2, "r1": 1, "r2": 1}
        twice = api.ledger.answered_twice()
        assert twice[("openai", "r0")] == 2 and len(twice) == 2  # r0 and the repeated sync body
        # Another process reads the same facts from the file.
        other = Ledger.read(path)
        assert other.custom_ids_submitted() == api.ledger.custom_ids_submitted()
        assert other.answered_twice() == twice
        assert len(other.requests_to("/v1/batches", "POST")) == 2
        assert other.billed_usage() == api.ledger.billed_usage()
        assert [f["purpose"] for f in other.files].count("batch") == 2


def test_module_entry_point_serves(tmp_path: Path) -> None:
    ledger = tmp_path / "l.jsonl"
    command = [sys.executable, "-m", "batchspec.fakeapi", "--port", "0", "--ledger", str(ledger)]
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stderr is not None
            port = int(re.search(r":(\d+)", proc.stderr.readline()).group(1))
            with openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0) as client:
                answer = client.chat.completions.create(**chat_body("hello"))
            assert answer.choices[0].message.content == "Fake answer to: hello"
            assert Ledger.read(ledger).billed_usage()["requests"] == 1
        finally:
            proc.terminate()
            proc.wait(timeout=5)
