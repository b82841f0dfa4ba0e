"""`batchspec view`: the record viewer's JSON API and page, through the CLI and HTTP."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from batchspec.fakeapi import FakeAPI
from tests.conftest import Job, reviews

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCHEMA = {
    "type": "object",
    "properties": {"label": {"enum": ["positive", "negative", "neutral"]}},
    "required": ["label"],
    "additionalProperties": False,
}
HOSTILE = '<img src=x onerror="document.body.dataset.pwned=1"><b>bold</b>'


class Viewer:
    """A `batchspec view` process and an HTTP client for it."""

    def __init__(self, job: Job, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "batchspec", "view", "job.yaml", "--no-open", *args],
            cwd=job.dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.first_line = self.process.stdout.readline().strip()
        self.url = self.first_line
        parts = urlsplit(self.url)
        self.host, self.port = parts.hostname or "", parts.port or 0

    def get(self, path: str, host: str | None = None, **params: Any) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            query = f"?{urlencode(params)}" if params else ""
            connection.request("GET", path + query, headers={"Host": host or f"{self.host}:{self.port}"})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def api(self, path: str, **params: Any) -> Any:
        status, _, body = self.get(path, **params)
        assert status == 200, body
        return json.loads(body)

    def all_records(self, **params: Any) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        after = ""
        while True:
            page = self.api("/api/records", **params, after=after)
            rows += page["records"]
            if not page["next"]:
                return rows
            after = page["next"]

    def stop(self) -> None:
        self.process.terminate()
        self.process.communicate(timeout=10)  # also closes the pipes


@pytest.fixture
def fan_out(job: Job, fake_api: FakeAPI) -> Job:
    """Two models, typed answers, a permanent error, and a prompt change (so answers have a history)."""
    base = job.spec["model"]
    models = [
        {**base, "label": "small", "response_schema": SCHEMA, "params": {"max_tokens": 50}},
        {**base, "name": "gpt-4o", "label": "large", "response_schema": SCHEMA, "params": {"max_tokens": 50}},
    ]
    records = reviews(10)
    records[0]["text"] = HOSTILE
    job.write_records(records).write_spec({"model": models}).run()
    fake_api.config.faults.context_length = 0.3
    job.write_spec({"prompt": {"user": "Review: {{ text }}\nOne word: positive, negative or neutral?"}})
    job.run(expect=None)
    return job


@pytest.fixture
def viewer(fan_out: Job) -> Iterator[Viewer]:
    process = Viewer(fan_out)
    yield process
    process.stop()


def test_the_url_is_the_first_line_and_on_loopback_only(viewer: Viewer) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", viewer.first_line)
    status, headers, body = viewer.get("/")
    assert status == 200 and b'<script src="/view.js"' in body
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    # A page served elsewhere that rebinds its DNS name to 127.0.0.1 is refused.
    assert viewer.get("/api/summary", host=f"evil.example:{viewer.port}")[0] == 403


def test_every_record_is_listed_once_across_pages(viewer: Viewer) -> None:
    summary = viewer.api("/api/summary")
    assert summary["models"] == ["large", "small"] and summary["parsed_fields"] == ["label"]
    rows = viewer.all_records(limit=3)
    assert len(rows) == 20 and len({(r["model"], r["custom_id"]) for r in rows}) == 20
    totals = viewer.api("/api/totals")
    assert sum(totals["records"].values()) == 20 and totals["usage"]["cost_usd"] > 0


def test_filters_by_status_error_code_model_parsed_field_and_text(viewer: Viewer, fan_out: Job) -> None:
    failed = viewer.all_records(status="failed")
    expected = {(r["model"], r["id"]) for r in fan_out.errors()}
    assert failed and {(r["model"], r["id"]) for r in failed} == expected
    # A failed record still shows its answer to the first prompt, marked as not current.
    assert all(r["output"] is not None and not r["current"] for r in failed)
    assert {(r["model"], r["id"]) for r in viewer.all_records(code="context_length_exceeded")} >= expected
    assert {r["model"] for r in viewer.all_records(model="small")} == {"small"}
    negative = viewer.all_records(field="label", value="negative")
    assert negative and all(r["parsed"]["label"] == "negative" for r in negative)
    wanted = {(r["model"], r["id"]) for r in viewer.all_records() if r["parsed"] and r["parsed"]["label"] == "negative"}
    assert {(r["model"], r["id"]) for r in negative} == wanted
    assert [r["id"] for r in viewer.all_records(q="r10")] == ["r10", "r10"]
    assert viewer.all_records(q="%") == []  # LIKE wildcards are matched literally


def test_a_record_shows_its_request_answer_usage_errors_and_history(viewer: Viewer, fan_out: Job) -> None:
    done = next(r for r in viewer.all_records(status="done", model="small") if r["id"] != "r1")
    record = viewer.api("/api/record", model="small", custom_id=done["custom_id"])
    assert record["input"] == {"id": done["id"], "text": f"Review number {done['id'][1:]}: it works well enough."}
    assert record["request"]["system"] == "You are a careful annotator of product reviews."
    assert "One word" in json.dumps(record["request"]["messages"])
    answer = record["answer"]
    assert answer["current"] and answer["parsed"]["label"] in ("positive", "negative", "neutral")
    assert answer["input_tokens"] > 0 and answer["cost_usd"] > 0
    # The answer to the first prompt is kept, with the prompt change that replaced it.
    assert len(record["history"]) == 2
    assert any("One word" in line for line in answer["prompt_diff"])
    failed = viewer.all_records(status="failed")[0]
    record = viewer.api("/api/record", model=failed["model"], custom_id=failed["custom_id"])
    assert record["errors"][-1]["code"] == "context_length_exceeded" and record["attempts"] >= 1
    assert viewer.get("/api/record", model="small", custom_id="nope")[0] == 404


def test_side_by_side_marks_differences_and_counts_agreement(viewer: Viewer, fan_out: Job) -> None:
    compare = viewer.api("/api/compare")
    assert compare["models"] == ["large", "small"] and len(compare["rows"]) == 10
    latest = {(r["model"], r["id"]): r["parsed"] for r in viewer.all_records() if r["status"] == "done"}
    for row in compare["rows"]:
        values = [latest[(m, row["id"])] for m in compare["models"] if (m, row["id"]) in latest]
        assert row["differ"] == (len(values) == 2 and values[0] != values[1])
    [pair] = viewer.api("/api/agreement")
    answered = {(m, i) for m, i in latest} | {
        (r["model"], r["id"]) for r in viewer.all_records(status="failed") if r["parsed"] is not None
    }
    both = [i for m, i in answered if m == "large" and ("small", i) in answered]
    assert pair["models"] == ["large", "small"] and pair["both"] == len(both) > 0
    assert 0 <= pair["agree"] <= pair["both"]


def test_errors_are_grouped_by_code_with_their_records(viewer: Viewer, fan_out: Job) -> None:
    errors = viewer.api("/api/errors")
    [group] = errors["codes"]
    assert group["code"] == "context_length_exceeded" and not group["retryable"]
    assert group["records"] == len(viewer.all_records(code="context_length_exceeded"))
    assert errors["failed_batches"] == []


def test_the_viewer_never_writes_the_state(fan_out: Job) -> None:
    before = hashlib.sha256(fan_out.state_path.read_bytes()).hexdigest()
    process = Viewer(fan_out)
    try:
        process.all_records()
        process.api("/api/compare")
        process.api("/api/errors")
    finally:
        process.stop()
    assert hashlib.sha256(fan_out.state_path.read_bytes()).hexdigest() == before
    assert not Path(f"{fan_out.state_path}-wal").exists() or Path(f"{fan_out.state_path}-wal").stat().st_size == 0


def test_a_job_never_run_has_nothing_to_view(job: Job) -> None:
    result = job.cli("view", "job.yaml", "--no-open")
    assert "not run yet" in result.stdout


@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("BATCHSPEC_REQUIRE_BROWSER"),
    reason="chromium is not installed (set BATCHSPEC_REQUIRE_BROWSER=1 to make that a failure)",
)
def test_search_and_filters_change_the_visible_records_in_chromium(viewer: Viewer) -> None:
    assert CHROMIUM, "BATCHSPEC_REQUIRE_BROWSER is set but no chromium is on PATH (apt-get install chromium)"
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[dev])")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(viewer.url)
            page.wait_for_selector("body[data-ready='1']")
            rows = page.locator("#record-table tbody tr")
            sync_api.expect(rows).to_have_count(20)
            page.fill("#q", "r10")
            page.press("#q", "Enter")
            sync_api.expect(rows).to_have_count(2)
            assert rows.locator("td:first-child").all_inner_texts() == ["r10", "r10"]
            page.click("#clear")
            page.select_option("#model", "small")
            sync_api.expect(rows).to_have_count(10)
            assert set(rows.locator("td:nth-child(2)").all_inner_texts()) == {"small"}
            # Untrusted record text is shown as text, never as markup.
            page.click("#record-table tbody tr[data-id='r1']")
            page.wait_for_selector("#detail h2")
            assert HOSTILE in page.inner_text("#detail")
            assert page.locator("#detail img, #detail b").count() == 0
            assert page.evaluate("document.body.dataset.pwned") is None
            if os.environ.get("BATCHSPEC_SCREENSHOT"):
                page.screenshot(path=os.environ["BATCHSPEC_SCREENSHOT"], full_page=False)
            # Side by side: one row per record, the agreement table; errors link to their records.
            page.click("#compare-tab")
            sync_api.expect(page.locator("#compare-table tbody tr")).to_have_count(10)
            sync_api.expect(page.locator("#agreement tbody tr")).to_have_count(1)
            page.click("nav button[data-tab='errors']")
            page.click("#codes a")
            sync_api.expect(page.locator("#code")).to_have_value("context_length_exceeded")
            sync_api.expect(rows.locator("td:nth-child(5)").first).to_have_text("context_length_exceeded")
        finally:
            browser.close()


def test_the_port_is_the_one_asked_for_and_a_busy_one_is_a_clear_error(fan_out: Job) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = Viewer(fan_out, "--port", str(port))
    try:
        assert process.first_line == f"http://127.0.0.1:{port}/"
        result = fan_out.cli("view", "job.yaml", "--no-open", "--port", str(port), expect=2)
        assert "Address already in use" in result.stderr
    finally:
        process.stop()
