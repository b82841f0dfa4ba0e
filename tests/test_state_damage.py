"""Damaged values inside a valid state file are a located StateError (exit 2), not a traceback."""

from __future__ import annotations

import sqlite3

import pytest

from batchspec.fakeapi import FakeAPI
from tests.conftest import Job


@pytest.mark.parametrize(
    ("column", "value", "what"),
    [
        ("counts", "{not json", "counts: not JSON"),
        ("submitted_at", "yesterday-ish", "submitted_at: 'yesterday-ish' is not a timestamp"),
    ],
)
def test_a_damaged_batch_row_is_named(job: Job, fake_api: FakeAPI, column: str, value: str, what: str) -> None:
    fake_api.config.processing_seconds = 3600
    job.run("--no-wait", expect=75)
    db = sqlite3.connect(job.state_path)
    key = db.execute("SELECT local_key FROM batches").fetchone()[0]
    db.execute(f"UPDATE batches SET {column} = ?", (value,))
    db.commit()
    db.close()
    for command in (("run", "job.yaml"), ("status", "job.yaml"), ("cancel", "job.yaml")):
        result = job.cli(*command, expect=2)
        assert f"error: the state file is damaged: table batches, batch {key}, {what}" in result.stderr
        assert "Traceback" not in result.stderr and "a bug in batchspec" not in result.stderr


def test_a_damaged_run_summary_is_named(job: Job) -> None:
    job.run()
    db = sqlite3.connect(job.state_path)
    db.execute("UPDATE runs SET summary = 'garbage'")
    db.commit()
    db.close()
    result = job.cli("status", "job.yaml", expect=2)
    assert "the state file is damaged: table runs, run 1, summary: not JSON" in result.stderr
