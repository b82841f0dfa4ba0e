"""`report`: terminal, JSON, and an HTML dashboard that renders its charts in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from batchspec.fakeapi import FakeAPI
from tests.conftest import Job, reviews

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def history(job: Job, fake_api: FakeAPI) -> Job:
    """Three days of work: batches, retried errors, permanent errors."""
    fake_api.config.faults.server_error = 0.2
    job.run()
    fake_api.advance(86_400)
    fake_api.config.faults.context_length = 0.3
    job.append_records(reviews(10, start=11)).run(expect=1)
    fake_api.advance(86_400)
    job.append_records(reviews(5, start=21)).run(expect=1)
    return job


def test_terminal_report(history: Job) -> None:
    text = history.cli("report", "job.yaml", expect=0).stdout
    assert text.startswith("Report for job reviews\n")
    assert re.search(r"cost: \$[0-9.]+; uncached sync calls would have cost \$[0-9.]+; saved \$[0-9.]+ \(5\d%\)", text)
    assert re.search(r"error rate: \d+\.\d% of \d+ attempts", text)
    assert "server_error:" in text and "(retryable)" in text
    assert "context_length_exceeded:" in text and "(permanent)" in text
    assert re.search(r"batch latency \(submitted → completed\): min .+, median .+, max .+ over \d+ batches", text)


def test_json_report_has_daily_series_and_batches(history: Job) -> None:
    data = json.loads(history.cli("report", "job.yaml", "--json").stdout)
    assert len(data["daily"]) == 3
    assert sum(d["requests"] for d in data["daily"]) == sum(b["requests"] for b in data["batches"])
    assert all(d["savings_usd"] > 0 for d in data["daily"])
    assert data["records"]["done"] + data["records"]["failed"] == 25


def test_html_report_is_self_contained(history: Job) -> None:
    history.cli("report", "job.yaml", "--html", "report.html")
    page = (history.dir / "report.html").read_text("utf-8")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "<script src" not in page and "<link" not in page


@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("BATCHSPEC_REQUIRE_BROWSER"),
    reason="chromium is not installed (set BATCHSPEC_REQUIRE_BROWSER=1 to make that a failure)",
)
def test_html_charts_render_in_headless_chromium(history: Job, tmp_path: Path) -> None:
    assert CHROMIUM, "BATCHSPEC_REQUIRE_BROWSER is set but no chromium is on PATH (apt-get install chromium)"
    history.cli("report", "job.yaml", "--html", "report.html")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    dom = subprocess.run(
        [
            CHROMIUM,
            *flags,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            (history.dir / "report.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert 'data-charts-rendered="4"' in dom
    marks = re.search(r'data-chart-marks="([\d,]+)"', dom)
    assert marks and [int(n) for n in marks.group(1).split(",")] == [3, 3, 3, 6]  # three days, two cost series
    assert dom.count("<rect") >= 9 and "<polyline" in dom
    assert dom.count("<tr>") >= 1 + 3  # the batch table was filled
