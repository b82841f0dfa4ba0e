"""API keys never reach the state, outputs, logs, reports or messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchspec.fakeapi import FakeAPI
from tests.conftest import Job

OPENAI_KEY = "sk-proj-VERYSECRET0penAIkey1234567890abcdef"
ANTHROPIC_KEY = "sk-ant-api03-VERYSECRETanthropicKEY0987654321"


def every_written_byte(root: Path) -> bytes:
    return b"".join(path.read_bytes() for path in root.rglob("*") if path.is_file())


def assert_no_secret(blob: bytes | str) -> None:
    data = blob.encode() if isinstance(blob, str) else blob
    for key in (OPENAI_KEY, ANTHROPIC_KEY):
        assert key.encode() not in data
        assert key[-16:].encode() not in data  # not even a recognisable tail


def test_keys_never_reach_any_file_the_tool_writes(
    job: Job, fake_api: FakeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    fake_api.config.faults.server_error = 0.3
    job.write_spec(
        {
            "model": [
                {
                    "provider": "openai",
                    "name": "gpt-4o-mini",
                    "base_url": fake_api.openai_base_url,
                    "params": {"max_tokens": 5},
                },
                {
                    "provider": "anthropic",
                    "name": "claude-haiku-4-5",
                    "base_url": fake_api.anthropic_base_url,
                    "params": {"max_tokens": 5},
                },
            ],
            "cache": {"responses": True, "responses_path": "cache/responses.db"},
        }
    )
    outputs = [
        job.cli("-v", "--log-file", "logs/run.log", "run", "job.yaml"),
        job.cli("-v", "--log-file", "logs/sync.log", "run", "job.yaml", "--mode", "sync", "--retry-failed"),
        job.cli("status", "job.yaml", "--json"),
        job.cli("report", "job.yaml", "--html", "report/report.html"),
        job.cli("plan", "job.yaml", "--json", "--emit", "payloads"),
    ]
    assert (job.dir / "logs" / "run.log").stat().st_size > 0
    assert_no_secret(every_written_byte(job.dir))
    for result in outputs:
        assert_no_secret(result.stdout + result.stderr)


def test_a_rejected_key_is_not_echoed(job: Job, fake_api: FakeAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    fake_api.config.required_api_key = "another-key"
    for mode in ("batch", "sync"):
        result = job.cli("-v", "--log-file", f"{mode}.log", "run", "job.yaml", "--mode", mode, expect=3)
        assert "rejected the API key" in result.stderr
        assert_no_secret(result.stdout + result.stderr)
    assert_no_secret(every_written_byte(job.dir))
