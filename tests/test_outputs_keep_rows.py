"""Outputs never lose rows while their replacements are pending: each record keeps its latest
answer, marked ``current: false`` until the new one arrives; removed records leave."""

from __future__ import annotations

import sqlite3

import pyarrow.parquet as pq
import pytest

from batchspec.fakeapi import FakeAPI
from tests.conftest import Job, reviews


def test_a_prompt_edit_keeps_every_row_until_the_new_answers_arrive(job: Job, fake_api: FakeAPI) -> None:
    job.run()
    before = job.outputs()
    assert all(row["current"] is True for row in before)
    job.write_spec({"prompt": {"user": "Review: {{ text }}\nAnswer with one word: good or bad."}})
    fake_api.config.processing_seconds = 3600
    job.run("--no-wait", expect=75)
    during = job.outputs()
    assert [row["id"] for row in during] == [f"r{i}" for i in range(1, 11)]
    assert [row["output"] for row in during] == [row["output"] for row in before]
    assert all(row["current"] is False for row in during)
    fake_api.advance(3600)
    job.run()
    after = job.outputs()
    assert all(row["current"] is True for row in after)
    assert {row["output"] for row in after} <= {"good", "bad"}


def test_an_edited_record_keeps_its_row_and_a_cancel_does_not_drop_it(job: Job, fake_api: FakeAPI) -> None:
    job.run()
    records = reviews(10)
    records[4]["text"] = "Changed my mind."
    job.write_records(records)
    fake_api.config.processing_seconds = 5  # cancelling takes a tenth of that
    job.run("--no-wait", expect=75)
    job.cli("cancel", "job.yaml")
    rows = {row["id"]: row for row in job.outputs()}
    assert len(rows) == 10
    assert rows["r5"]["current"] is False and rows["r5"]["text"] == "Changed my mind."
    assert all(row["current"] for key, row in rows.items() if key != "r5")


def test_a_removed_record_leaves_the_output_and_plan_counts_it(job: Job) -> None:
    job.run()
    job.write_records(reviews(8))
    plan = job.plan_json("--offline")
    assert plan["models"][0]["counts"]["removed"] == 2
    assert "removed 2" in job.cli("plan", "job.yaml", "--offline").stdout
    job.run()
    assert [row["id"] for row in job.outputs()] == [f"r{i}" for i in range(1, 9)]
    assert job.plan_json("--offline")["models"][0]["counts"]["removed"] == 0


@pytest.mark.parametrize("suffix", ["csv", "parquet", "sqlite"])
def test_every_sink_marks_rows_that_are_not_current(job: Job, fake_api: FakeAPI, suffix: str) -> None:
    job.write_spec({"output": {"path": f"out/results.{suffix}"}}).run()
    records = reviews(10)
    records[0]["text"] = "Edited."
    job.write_records(records)
    fake_api.config.processing_seconds = 3600
    job.run("--no-wait", expect=75)
    path = job.dir / "out" / f"results.{suffix}"
    if suffix == "csv":
        lines = path.read_text().splitlines()
        column = lines[0].split(",").index("current")
        assert [line.split(",")[column] for line in lines[1:3]] == ["false", "true"] and len(lines) == 11
    elif suffix == "parquet":
        assert pq.read_table(path).column("current").to_pylist() == [False] + [True] * 9
    else:
        db = sqlite3.connect(path)
        assert db.execute("SELECT current FROM results ORDER BY rowid").fetchall() == [(0,)] + [(1,)] * 9
        db.close()
