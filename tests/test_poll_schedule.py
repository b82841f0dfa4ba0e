"""The poll schedule: the first check comes 0.25 s after a batch is created, then the wait doubles
up to execution.poll_interval, so a short batch is collected soon after it ends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from batchspec.fakeapi import FakeAPI, FakeConfig
from tests.conftest import BASE_SPEC, Job, merge, reviews


@pytest.fixture
def slow_api() -> Iterator[FakeAPI]:
    with FakeAPI(FakeConfig(processing_seconds=0.6)) as api:
        yield api


def test_first_polls_come_soon_even_with_a_long_poll_interval(tmp_path: Path, slow_api: FakeAPI) -> None:
    spec = merge(BASE_SPEC, {"model": {"base_url": slow_api.openai_base_url}, "execution": {"poll_interval": "60s"}})
    Job(tmp_path, spec).write_records(reviews(5)).write_spec().run()
    http = slow_api.ledger.http_requests
    created = next(r["time"] for r in http if r["method"] == "POST" and r["path"] == "/v1/batches")
    polls = [r["time"] - created for r in http if r["method"] == "GET" and r["path"].startswith("/v1/batches/")]
    downloaded = next(r["time"] - created for r in http if r["path"].endswith("/content"))
    assert polls[0] < 0.45  # 0.25 s, plus this machine's noise
    assert downloaded < 1.6  # polls at 0.25, 0.75, 1.75 s at the latest: ended at 0.6, collected by the third
    assert len(polls) <= 4
