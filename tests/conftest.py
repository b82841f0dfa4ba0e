"""Shared fixtures: a fake API server per test, and a job directory with a spec and its input."""

from __future__ import annotations

import copy
import json
import os
import re
import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from batchspec.cli import main
from batchspec.fakeapi import FakeAPI, FakeConfig

BASE_SPEC: dict[str, Any] = {
    "version": 1,
    "name": "reviews",
    "input": {"path": "data.jsonl", "id": "id"},
    "prompt": {
        "system": "You are a careful annotator of product reviews.",
        "user": "Review: {{ text }}\nAnswer with one word: positive, negative or neutral.",
    },
    "model": {"provider": "openai", "name": "gpt-4o-mini", "params": {"temperature": 0, "max_tokens": 5}},
    "execution": {"poll_interval": 0.02},
    "output": {"path": "out/results.jsonl"},
}


def record_of(custom_id: str) -> str:
    """The record id inside a custom_id as a batch sent it (a wire id: job and request tags first)."""
    return re.sub(r"^[0-9a-f]{16}_", "", custom_id)


def submitted_per_record(ledger: Any, provider: str | None = None) -> Counter[str]:
    """How many times each record was submitted in a batch (across batches, whatever the tags)."""
    counts: Counter[str] = Counter()
    for wire, n in ledger.custom_ids_submitted(provider).items():
        counts[record_of(wire)] += n
    return counts


def billed_per_record(ledger: Any) -> Counter[str]:
    """How many times the fake billed each record (across batches, whatever the tag)."""
    return Counter(record_of(a["custom_id"]) for a in ledger.billed() if a["custom_id"] is not None)


def reviews(n: int, start: int = 1) -> list[dict[str, Any]]:
    return [{"id": f"r{i}", "text": f"Review number {i}: it works well enough."} for i in range(start, start + n)]


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``changes`` into a copy of ``base``; a value of None deletes the key."""
    result = copy.deepcopy(base)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = value
    return result


@dataclass
class Job:
    """A job directory: spec, input, outputs and state, driven through the CLI."""

    dir: Path
    spec: dict[str, Any]

    @property
    def spec_path(self) -> Path:
        return self.dir / "job.yaml"

    @property
    def state_path(self) -> Path:
        return self.dir / ".batchspec" / f"{self.spec['name']}.db"

    def write_spec(self, changes: dict[str, Any] | None = None) -> Job:
        if changes:
            self.spec = merge(self.spec, changes)
        self.spec_path.write_text(yaml.safe_dump(self.spec, sort_keys=False), "utf-8")
        return self

    def write_records(self, records: list[dict[str, Any]], name: str = "data.jsonl") -> Job:
        path = self.dir / name
        path.write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
        return self

    def append_records(self, records: list[dict[str, Any]], name: str = "data.jsonl") -> Job:
        with open(self.dir / name, "a", encoding="utf-8") as handle:
            handle.writelines(json.dumps(r) + "\n" for r in records)
        return self

    def cli(self, *args: str, expect: int | None = 0) -> Result:
        """Run the CLI from the job's directory, as a user would."""
        cwd = os.getcwd()
        os.chdir(self.dir)
        try:
            result = CliRunner().invoke(main, [*args], catch_exceptions=False)
        finally:
            os.chdir(cwd)
        if expect is not None:
            assert result.exit_code == expect, (result.exit_code, result.stdout, result.stderr)
        return result

    def run(self, *args: str, expect: int | None = 0) -> Result:
        return self.cli("run", "job.yaml", "-q", *args, expect=expect)

    def plan_json(self, *args: str) -> dict[str, Any]:
        result = self.cli("plan", "job.yaml", "--json", *args)
        data: dict[str, Any] = json.loads(result.stdout)
        return data

    def outputs(self, name: str = "out/results.jsonl") -> list[dict[str, Any]]:
        path = self.dir / name
        return [json.loads(line) for line in path.read_text("utf-8").splitlines()]

    def errors(self) -> list[dict[str, Any]]:
        return self.outputs("out/results.errors.jsonl")

    def state(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        db = sqlite3.connect(self.state_path)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()


@pytest.fixture
def fake_api() -> Iterator[FakeAPI]:
    with FakeAPI(FakeConfig(processing_seconds=0)) as api:
        yield api


@pytest.fixture
def job(tmp_path: Path, fake_api: FakeAPI) -> Job:
    """A job of 10 reviews for gpt-4o-mini on the fake server (OpenAI wire format)."""
    spec = merge(BASE_SPEC, {"model": {"base_url": fake_api.openai_base_url}})
    return Job(tmp_path, spec).write_records(reviews(10)).write_spec()


@pytest.fixture
def offline_job(tmp_path: Path) -> Job:
    """A job that never reaches a provider (plan, validate)."""
    return Job(tmp_path, copy.deepcopy(BASE_SPEC)).write_records(reviews(10)).write_spec()


@pytest.fixture(autouse=True)
def _no_default_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's real cache directory is off limits: tests name their response cache."""

    def refuse() -> Path:
        raise AssertionError("a test used the default response cache location; set cache.responses_path")

    monkeypatch.setattr("batchspec.state.responses.default_cache_path", refuse)


@pytest.fixture(autouse=True)
def _no_real_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach a real provider or depend on the developer's keys."""
    for name in (
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "OPENAI_BASE_URL",
        "ANTHROPIC_BASE_URL",
        "BATCHSPEC_FAKE_CONFIG",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-fake-key-0123456789")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-fake-key-0123456789")
    # A spec without base_url would go to the real APIs: point the SDKs at a closed local port.
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
