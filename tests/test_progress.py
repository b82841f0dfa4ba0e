"""What a run shows on a terminal: the live line agrees with the lines printed above it, and sync
mode's rate limits and pauses are visible in the live line and in the summary."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys

from batchspec.fakeapi import FakeAPI
from tests.conftest import Job, reviews

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def on_a_terminal(job: Job, *args: str) -> tuple[int, str, str]:
    """Run batchspec with a pseudo-terminal as its stderr (where the live line goes); returns the
    exit code, the terminal's text and stdout."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "batchspec", "run", "job.yaml", *args],
        cwd=job.dir,
        stdout=subprocess.PIPE,
        stderr=follower,
        env={**os.environ, "COLUMNS": "200", "TERM": "xterm"},
    )
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        try:
            data = os.read(leader, 65536) if ready else b""
        except OSError:  # the process closed its end
            data = b""
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    stdout, _ = process.communicate(timeout=60)
    return process.returncode, ANSI.sub("", b"".join(chunks).decode("utf-8", "replace")), stdout.decode()


def test_the_live_line_is_redrawn_as_soon_as_a_batch_is_collected(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.processing_seconds = 0.5
    job.write_spec({"execution": {"max_requests_per_batch": 5}})  # two batches, ending together
    code, screen, _ = on_a_terminal(job)
    assert code == 0
    between = screen.split("collected batch")[1]  # after the first batch's line, before the second's
    assert "requests 5 done" in between, "the live line still showed the counts from before the batch"


def test_sync_rate_limits_show_in_the_live_line_and_the_summary(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.faults.sync_rate_limit = 0.3
    fake_api.config.faults.retry_after_seconds = 0.2
    job.write_records(reviews(40)).write_spec({"execution": {"mode": "sync", "concurrency": 4}})
    code, screen, summary = on_a_terminal(job)
    assert code == 0
    assert re.search(r"\d+ × rate limited, paused [\d.]+m?s", screen)
    assert re.search(r"rate limits: \d+ answers? rate limited and retried; requests held [\d.]+m?s in all", summary)
    assert "rate limits" not in job.run().stdout  # an unchanged rerun sends nothing
