"""Batch payloads are written to a spooled temporary file and uploaded from disk once they pass
the in-memory limit (bench/compare.py --memory measures the peak RSS with 100 MB payloads)."""

from __future__ import annotations

import pytest

from batchspec.fakeapi import FakeAPI
from batchspec.providers import base
from tests.conftest import Job
from tests.test_run_batch import anthropic


@pytest.fixture
def tiny_spool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "PAYLOAD_IN_MEMORY", 512)  # every test payload rolls over to disk


@pytest.mark.usefixtures("tiny_spool")
def test_openai_payload_spooled_to_disk_uploads_whole(job: Job, fake_api: FakeAPI) -> None:
    job.run()
    assert [r["id"] for r in job.outputs()] == [f"r{i}" for i in range(1, 11)]
    (upload,) = [f for f in fake_api.ledger.files if f["purpose"] == "batch"]
    assert upload["bytes"] > 512


@pytest.mark.usefixtures("tiny_spool")
def test_anthropic_payload_spooled_to_disk(job: Job, fake_api: FakeAPI) -> None:
    anthropic(job, fake_api).run()
    assert [r["id"] for r in job.outputs()] == [f"r{i}" for i in range(1, 11)]
    assert fake_api.ledger.billed_usage("anthropic")["requests"] == 10
