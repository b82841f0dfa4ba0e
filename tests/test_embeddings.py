"""`model.endpoint: embeddings`: prompt.input embedded through /v1/embeddings, in batch and sync mode,
written as a float vector to every sink, priced on input tokens."""

from __future__ import annotations

import json
import math
import sqlite3
import struct
from pathlib import Path
from typing import Any

import openai
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openai.types import EmbeddingCreateParams

from batchspec.fakeapi import FakeAPI
from batchspec.render import request_hash
from tests.conftest import Job, reviews

EMBED = {
    "prompt": {"system": None, "user": None, "input": "{{ text }}"},
    "model": {
        "provider": "openai",
        "name": "text-embedding-3-small",
        "endpoint": "embeddings",
        "params": {"temperature": None, "max_tokens": None, "dimensions": 8},
    },
}


def embedding_job(job: Job, fake_api: FakeAPI, **model: Any) -> Job:
    spec = {**EMBED, "model": {**EMBED["model"], "base_url": fake_api.openai_base_url, **model}}
    return job.write_spec(spec)


@pytest.mark.parametrize("mode", ["batch", "sync"])
def test_embeddings_run_end_to_end(job: Job, fake_api: FakeAPI, mode: str) -> None:
    embedding_job(job, fake_api).write_spec({"execution": {"mode": mode}})
    summary = json.loads(job.run("--json").stdout.splitlines()[-1])
    assert summary["done"] == 10
    rows = job.outputs()
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(1, 11)]
    for row in rows:
        assert "output" not in row and len(row["embedding"]) == 8
        assert math.isclose(sum(v * v for v in row["embedding"]), 1.0, rel_tol=1e-4)
        assert row["usage"]["output_tokens"] == 0 and row["usage"]["input_tokens"] > 0
    assert rows[0]["embedding"] != rows[1]["embedding"]
    path = "/v1/embeddings"
    if mode == "batch":
        assert [b["endpoint"] for b in fake_api.ledger.batches_created()] == [path]
    else:
        assert fake_api.ledger.batches_created() == []
        assert len(fake_api.ledger.requests_to(path, "POST")) == 10
    # Input tokens only, at $0.02/M, halved in batch mode.
    tokens = summary["usage"]["input_tokens"]
    rate = 0.02 * (0.5 if mode == "batch" else 1.0)
    assert summary["usage"]["cost_usd"] == pytest.approx(tokens * rate / 1e6)
    # A rerun sends nothing; switching the endpoint back to chat re-sends (endpoint in the hash).
    assert json.loads(job.run("--json").stdout.splitlines()[-1])["requests_sent"] == 0


def test_the_endpoint_is_part_of_the_request_hash(job: Job, fake_api: FakeAPI) -> None:
    embedding_job(job, fake_api).write_spec({"execution": {"mode": "sync"}}).run()
    ((stored, body),) = job.state("SELECT request_hash, body FROM requests LIMIT 1")
    assert stored != request_hash("openai", "text-embedding-3-small", body)  # the endpoint is hashed too
    job.write_spec({"model": {"endpoint": None, "name": "gpt-4o-mini", "params": {"dimensions": None}}})
    job.write_spec({"prompt": {"input": None, "user": "{{ text }}"}}).run()
    assert len(fake_api.ledger.requests_to("/v1/chat/completions", "POST")) == 10
    assert all(isinstance(r["output"], str) for r in job.outputs())


def test_plan_emit_writes_embeddings_payload_lines(job: Job, fake_api: FakeAPI, tmp_path: Path) -> None:
    embedding_job(job, fake_api)
    out = tmp_path / "emit"
    job.cli("plan", "job.yaml", "--emit", str(out))
    files = sorted(out.rglob("*.jsonl"))
    assert files
    lines = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert len(lines) == 10
    allowed = set(EmbeddingCreateParams.__annotations__)
    for line in lines:
        assert (line["method"], line["url"]) == ("POST", "/v1/embeddings")
        body = line["body"]
        assert set(body) <= allowed
        assert body["model"] == "text-embedding-3-small" and isinstance(body["input"], str)
        assert body["dimensions"] == 8 and body["encoding_format"] == "float"
        assert "messages" not in body


def test_plan_estimates_embedding_tokens_and_cost(offline_job: Job) -> None:
    offline_job.write_spec({**EMBED, "model": {**EMBED["model"]}})
    (model,) = offline_job.plan_json("--offline")["models"]
    # 10 texts of 38-39 characters: 10 tokens each, no chat framing; no output tokens.
    assert (model["estimated_input_tokens"], model["estimated_output_tokens_max"]) == (100, 0)
    assert model["estimated_cost_usd"]["batch"] == pytest.approx(100 * 0.02 / 1e6 * 0.5)
    assert model["estimated_cost_usd"]["sync"] == pytest.approx(100 * 0.02 / 1e6)
    assert model["limits"]["max_requests"] == 50_000  # OpenAI's embeddings batch limit, one input a request


def test_a_too_long_input_is_refused_per_record(job: Job, fake_api: FakeAPI) -> None:
    records = reviews(3)
    records[1]["text"] = "word " * 8000  # 40,000 characters: about 10,000 tokens
    embedding_job(job.write_records(records), fake_api).write_spec({"execution": {"mode": "sync"}})
    job.run(expect=1)
    assert [r["id"] for r in job.outputs()] == ["r1", "r3"]
    (error,) = job.errors()
    assert error["id"] == "r2" and "10,000 tokens" in error["error_message"] and "8,192" in error["error_message"]
    assert len(fake_api.ledger.requests_to("/v1/embeddings", "POST")) == 2


def test_csv_output_is_refused_at_validate(offline_job: Job) -> None:
    offline_job.write_spec({**EMBED, "output": {"path": "out/results.csv"}})
    result = offline_job.cli("validate", "job.yaml", expect=2)
    assert "CSV output cannot hold embeddings" in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": {"endpoint": "responses"}}, "endpoint: responses answers a prompt; prompt.input is for embeddings"),
        ({"prompt": {"input": None, "user": "{{ text }}"}}, "embeds prompt.input, and this prompt has none"),
        ({"model": {"endpoint": None}}, "is a chat model, but prompt.input is the text to embed"),
        ({"model": {"params": {"temperature": 0}}}, "unknown parameter 'temperature'"),
        ({"model": {"name": "text-embedding-ada-002"}}, "refuses dimensions"),
    ],
)
def test_validate_refuses_what_embeddings_cannot_do(offline_job: Job, change: dict[str, Any], message: str) -> None:
    offline_job.write_spec(EMBED).write_spec(change)
    result = offline_job.cli("validate", "job.yaml", expect=2)
    assert message in result.stderr + result.stdout


def test_parquet_holds_a_fixed_size_float32_list(job: Job, fake_api: FakeAPI) -> None:
    embedding_job(job, fake_api).write_spec({"output": {"path": "out/results.parquet"}, "execution": {"mode": "sync"}})
    job.run()
    table = pq.read_table(job.dir / "out/results.parquet")
    assert table.schema.field("embedding").type == pa.list_(pa.float32(), 8)
    assert table.num_rows == 10 and len(table.column("embedding")[0]) == 8
    # Without dimensions on an unknown model the size is not known: a variable list.
    embedding_job(job, fake_api, name="my-embedder", params={"dimensions": None})
    job.write_spec({"pricing": {"my-embedder": {"input": 0.01, "output": 0}}}).run()
    table = pq.read_table(job.dir / "out/results.parquet")
    assert table.schema.field("embedding").type == pa.list_(pa.float32())
    assert len(table.column("embedding")[0]) == 1536


def test_sqlite_holds_a_float32_blob(job: Job, fake_api: FakeAPI) -> None:
    embedding_job(job, fake_api).write_spec({"output": {"path": "out/results.sqlite"}, "execution": {"mode": "sync"}})
    job.run()
    db = sqlite3.connect(job.dir / "out/results.sqlite")
    blob, row_id = db.execute("SELECT embedding, id FROM results ORDER BY rowid LIMIT 1").fetchone()
    db.close()
    jsonl = embedding_job(job, fake_api).write_spec({"output": {"path": "out/results.jsonl"}})
    jsonl.run()
    expected = next(r["embedding"] for r in job.outputs() if r["id"] == row_id)
    assert isinstance(blob, bytes) and len(blob) == 8 * 4
    assert list(struct.unpack("<8f", blob)) == pytest.approx(expected, rel=1e-6)


def test_the_fake_server_speaks_the_embeddings_api_to_the_sdk(fake_api: FakeAPI) -> None:
    client = openai.OpenAI(base_url=fake_api.openai_base_url, api_key="sk-test")
    # The SDK asks for base64 by default and decodes it: the shape must be the real one.
    answer = client.embeddings.create(model="text-embedding-3-large", input=["a cat", "a dog"])
    assert [len(d.embedding) for d in answer.data] == [3072, 3072]
    assert answer.usage.prompt_tokens == answer.usage.total_tokens == 4
    floats = client.embeddings.create(
        model="text-embedding-3-small", input="a cat", dimensions=4, encoding_format="float"
    )
    again = client.embeddings.create(model="text-embedding-3-small", input="a cat", dimensions=4)
    assert floats.data[0].embedding == pytest.approx(again.data[0].embedding)
    with pytest.raises(openai.BadRequestError, match="does not support specifying dimensions"):
        client.embeddings.create(model="text-embedding-ada-002", input="a cat", dimensions=4)
