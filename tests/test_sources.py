"""Each input format streams records through plan; a broken line names its file and line."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.conftest import Job


def counts(job: Job) -> dict[str, int]:
    plan = job.plan_json()
    return {"records": plan["records"], "new": plan["models"][0]["counts"]["new"]}


def test_jsonl_and_ndjson(offline_job: Job) -> None:
    assert counts(offline_job) == {"records": 10, "new": 10}
    (offline_job.dir / "data.ndjson").write_text('{"id": "a", "text": "x"}\n\n{"id": "b", "text": "y"}\n')
    offline_job.write_spec({"input": {"path": "data.ndjson"}})
    assert counts(offline_job) == {"records": 2, "new": 2}


def test_csv_and_tsv(offline_job: Job) -> None:
    (offline_job.dir / "data.csv").write_text('id,text\n1,"multi\nline, with comma"\n2,plain\n', "utf-8")
    offline_job.write_spec({"input": {"path": "data.csv"}})
    assert counts(offline_job) == {"records": 2, "new": 2}
    explained = offline_job.cli("plan", "job.yaml", "--explain", "1").stdout
    assert "Record 1 (data.csv:2)" in explained
    assert "Review: multi\\nline, with comma" in explained
    (offline_job.dir / "data.tsv").write_text("id\ttext\n1\ta\n2\tb\n3\tc\n", "utf-8")
    offline_job.write_spec({"input": {"path": "data.tsv"}})
    assert counts(offline_job) == {"records": 3, "new": 3}


def test_parquet_is_read_in_record_batches(offline_job: Job) -> None:
    table = pa.table({"id": [f"p{i}" for i in range(10_000)], "text": ["t"] * 10_000})
    pq.write_table(table, offline_job.dir / "data.parquet", row_group_size=1000)
    offline_job.write_spec({"input": {"path": "data.parquet"}})
    assert counts(offline_job) == {"records": 10_000, "new": 10_000}
    assert "Record p9999 (data.parquet row 10000)" in offline_job.cli("plan", "job.yaml", "--explain", "p9999").stdout


def test_text_file_glob(offline_job: Job) -> None:
    docs = offline_job.dir / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.txt").write_text("first", "utf-8")
    (docs / "sub" / "b.txt").write_text("second", "utf-8")
    offline_job.write_spec(
        {"input": {"path": "docs/**/*.txt", "id": None}, "prompt": {"user": "{{ name }}: {{ text }}"}}
    )
    assert counts(offline_job) == {"records": 2, "new": 2}
    explained = offline_job.cli("plan", "job.yaml", "--explain", "docs/sub/b.txt").stdout
    assert "b.txt: second" in explained


def test_input_limit(offline_job: Job) -> None:
    offline_job.write_spec({"input": {"limit": 3}})
    assert counts(offline_job) == {"records": 3, "new": 3}


def test_malformed_jsonl_line_names_file_and_line(offline_job: Job) -> None:
    with open(offline_job.dir / "data.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"id": "r11", "text": "ok"}\n{"id": "r12", "text": \n')
    result = offline_job.cli("plan", "job.yaml", expect=2)
    assert result.stderr == "error: data.jsonl:12: not valid JSON: unexpected end of data at column 23\n"


def test_non_object_jsonl_line(offline_job: Job) -> None:
    with open(offline_job.dir / "data.jsonl", "a", encoding="utf-8") as handle:
        handle.write("[1, 2]\n")
    result = offline_job.cli("plan", "job.yaml", expect=2)
    assert result.stderr == "error: data.jsonl:11: expected a JSON object, got list\n"


def test_csv_row_with_wrong_field_count(offline_job: Job) -> None:
    (offline_job.dir / "data.csv").write_text("id,text\n1,a\n2,b,extra\n", "utf-8")
    offline_job.write_spec({"input": {"path": "data.csv"}})
    result = offline_job.cli("plan", "job.yaml", expect=2)
    assert result.stderr == "error: data.csv:3: expected 2 fields as in the header, got 3\n"


def test_csv_with_a_duplicate_header(offline_job: Job) -> None:
    (offline_job.dir / "data.csv").write_text("id,text,id\n1,a,2\n", "utf-8")
    offline_job.write_spec({"input": {"path": "data.csv"}})
    result = offline_job.cli("plan", "job.yaml", expect=2)
    assert "data.csv:1: the header names column 'id' twice" in result.stderr


def test_not_a_parquet_file(offline_job: Job) -> None:
    (offline_job.dir / "data.parquet").write_bytes(b"definitely not parquet")
    offline_job.write_spec({"input": {"path": "data.parquet"}})
    result = offline_job.cli("plan", "job.yaml", expect=2)
    assert result.stderr.startswith("error: data.parquet: not a readable Parquet file")


def test_glob_matching_nothing(offline_job: Job) -> None:
    offline_job.write_spec({"input": {"path": "docs/*.txt", "id": None}})
    result = offline_job.cli("validate", "job.yaml", expect=2)
    assert "job.yaml:4:9: input.path: no files match docs/*.txt (paths are relative to the spec file)" in result.stderr


def test_undecodable_text(offline_job: Job) -> None:
    (offline_job.dir / "data.csv").write_bytes(b"id,text\n1,caf\xe9\n")
    offline_job.write_spec({"input": {"path": "data.csv"}})
    result = offline_job.cli("plan", "job.yaml", expect=2)
    assert "data.csv" in result.stderr and "not utf-8 text" in result.stderr
    offline_job.write_spec({"input": {"encoding": "latin-1"}})
    assert counts(offline_job) == {"records": 1, "new": 1}


def test_a_quote_left_open_names_the_row_it_opens(offline_job: Job) -> None:
    (offline_job.dir / "data.csv").write_text('id,text\n1,fine\n2,"never closed\n3,swallowed\n', "utf-8")
    offline_job.write_spec({"input": {"path": "data.csv"}})
    result = offline_job.cli("plan", "job.yaml", expect=2)
    assert result.stderr == "error: data.csv:3: a quoted field is never closed\n"


def test_encodings_that_do_not_fit_are_named(offline_job: Job) -> None:
    (offline_job.dir / "data.csv").write_text("id,text\n1,a\n", "utf-8")
    offline_job.write_spec({"input": {"path": "data.csv", "encoding": "utf-16"}})
    result = offline_job.cli("plan", "job.yaml", expect=2)
    assert result.stderr == (
        "error: data.csv:1: not utf-16 text (UTF-16 stream does not start with BOM); "
        "set input.encoding to the file's encoding, e.g. latin-1, cp1252 or utf-16\n"
    )
    offline_job.write_spec({"input": {"encoding": "rot13"}})
    result = offline_job.cli("validate", "job.yaml", expect=2)
    assert "input.encoding: unknown text encoding 'rot13' (e.g. utf-8, latin-1, utf-16)" in result.stderr


def test_a_damaged_parquet_page_names_the_file(offline_job: Job) -> None:
    path = offline_job.dir / "data.parquet"
    pq.write_table(pa.table({"id": [f"p{i}" for i in range(1000)], "text": ["t" * 50] * 1000}), path)
    data = bytearray(path.read_bytes())
    data[4:60] = b"\xff" * 56  # the first page header; the footer still says where everything is
    path.write_bytes(bytes(data))
    offline_job.write_spec({"input": {"path": "data.parquet"}})
    result = offline_job.cli("plan", "job.yaml", expect=2)
    assert result.stderr.startswith("error: data.parquet: damaged after row 0: ")
    assert "Traceback" not in result.stderr


def test_a_file_name_that_is_not_utf8(offline_job: Job) -> None:
    docs = offline_job.dir / "docs"
    docs.mkdir()
    (docs / "good.txt").write_text("fine", "utf-8")
    (Path(os.fsdecode(bytes(docs) + b"/bad\xffname.txt"))).write_text("text", "utf-8")
    offline_job.write_spec({"input": {"path": "docs/*.txt", "id": None}, "prompt": {"user": "{{ text }}"}})
    result = offline_job.cli("plan", "job.yaml", expect=2)
    assert result.stderr == "error: docs/bad\ufffdname.txt: the file name is not UTF-8 (rename the file)\n"


def test_jsonl_that_is_not_utf8(offline_job: Job) -> None:
    (offline_job.dir / "data.jsonl").write_bytes(b'{"id": "a", "text": "ok"}\n{"id": "b", "text": "caf\xe9"}\n')
    result = offline_job.cli("plan", "job.yaml", expect=2)
    assert result.stderr == "error: data.jsonl:2: not UTF-8 text (byte 0xe9 at column 25); JSON Lines files are UTF-8\n"


def test_a_decoding_error_names_the_line_the_byte_is_on(offline_job: Job) -> None:
    # the text stream decodes kilobytes ahead of the CSV reader: its line number was hundreds short
    rows = [b'%d,"two\nlines"\n' % i for i in range(1, 200)] + [b"%d,plain\n" % i for i in range(200, 2000)]
    (offline_job.dir / "data.csv").write_bytes(b"id,text\n" + b"".join(rows) + b"2000,caf\xe9\n2001,more\n")
    offline_job.write_spec({"input": {"path": "data.csv"}})
    result = offline_job.cli("plan", "job.yaml", expect=2)
    assert result.stderr == (
        "error: data.csv:2200: not utf-8 text (byte 0xe9 at column 9: invalid continuation byte); "
        "set input.encoding to the file's encoding, e.g. latin-1, cp1252 or utf-16\n"
    )
    offline_job.write_spec({"input": {"encoding": "cp1252"}})
    assert counts(offline_job) == {"records": 2001, "new": 2001}


def test_a_text_file_that_does_not_decode_names_its_line(offline_job: Job) -> None:
    (offline_job.dir / "docs").mkdir()
    (offline_job.dir / "docs" / "a.txt").write_bytes(b"fine\nstill fine\nna\xefve\n")
    offline_job.write_spec({"input": {"path": "docs/*.txt", "id": None}})
    result = offline_job.cli("plan", "job.yaml", expect=2)
    assert result.stderr.startswith("error: docs/a.txt:3: not utf-8 text (byte 0xef at column 3: ")


def test_a_semicolon_csv_is_named_as_such(offline_job: Job) -> None:
    (offline_job.dir / "data.csv").write_text("review_id;product;text\n1;lamp;bright\n2;desk;wobbly\n", "utf-8")
    offline_job.write_spec({"input": {"path": "data.csv", "id": "review_id"}})
    for command in ("validate", "plan"):
        result = offline_job.cli(command, "job.yaml", expect=2)
        assert result.stderr == (
            "error: data.csv:1: the header is one column, 'review_id;product;text': this looks like a "
            "semicolon-separated file: set input.delimiter: ';'\n"
        )
    offline_job.write_spec({"input": {"delimiter": ";"}})
    assert counts(offline_job) == {"records": 2, "new": 2}
    assert "Review: wobbly" in offline_job.cli("plan", "job.yaml", "--explain", "2").stdout


def test_a_tab_separated_csv_and_the_delimiter_key(offline_job: Job) -> None:
    (offline_job.dir / "data.csv").write_text("id\ttext\n1\ta\n", "utf-8")
    offline_job.write_spec({"input": {"path": "data.csv"}})
    result = offline_job.cli("plan", "job.yaml", expect=2)
    assert 'this looks like a tab-separated file: set input.delimiter: "\\t"' in result.stderr
    offline_job.write_spec({"input": {"delimiter": "\t"}})
    assert counts(offline_job) == {"records": 1, "new": 1}
    offline_job.write_spec({"input": {"delimiter": ";;"}})
    result = offline_job.cli("validate", "job.yaml", expect=2)
    assert "input.delimiter: ';;' is too long (one character, such as ';', '|' or \"\\t\" for a tab)" in result.stderr
    offline_job.write_spec({"input": {"path": "data.jsonl", "delimiter": ";"}})
    result = offline_job.cli("validate", "job.yaml", expect=2)
    assert "input.delimiter: a delimiter applies to CSV and TSV inputs, not jsonl (remove it)" in result.stderr


def test_a_nul_byte_in_a_csv_field_is_refused_like_in_jsonl(offline_job: Job) -> None:
    (offline_job.dir / "data.csv").write_bytes(b'id,text\n1,"two\nlines"\n2,bad\x00byte\n')
    offline_job.write_spec({"input": {"path": "data.csv"}})
    result = offline_job.cli("plan", "job.yaml", expect=2)
    assert result.stderr == (
        "error: data.csv:4: field 'text' holds a raw NUL byte (0x00), which is not text; remove it from the file\n"
    )
    (offline_job.dir / "data.jsonl").write_bytes(b'{"id": "1", "text": "bad\x00byte"}\n')
    offline_job.write_spec({"input": {"path": "data.jsonl"}})
    result = offline_job.cli("plan", "job.yaml", expect=2)
    assert result.stderr == "error: data.jsonl:1: not valid JSON: unexpected control character in string at column 25\n"


def test_integers_beyond_64_bits_stay_exact_through_a_run(job: Job) -> None:
    big = 2**70
    (job.dir / "data.jsonl").write_text(f'{{"id": {big}, "text": "huge", "n": {big}}}\n{{"id": 5, "n": 1}}\n')
    job.write_spec({"prompt": {"user": "{{ n }}"}})
    assert "ok: reviews: 2 records" in job.cli("validate", "job.yaml").stdout
    job.run()
    rows = {row["id"]: row for row in job.outputs()}
    assert rows[str(big)]["n"] == big and rows[str(big)]["text"] == "huge"
    assert f'"content": "{big}"' in job.cli("plan", "job.yaml", "--explain", str(big)).stdout
    job.write_spec({"input": {"id": None}, "output": {"path": "out/results.sqlite"}})
    job.run()
    db = sqlite3.connect(job.dir / "out" / "results.sqlite")
    assert db.execute("SELECT n FROM results WHERE input_id = ?", (str(big),)).fetchall() == [(str(big),)]
    db.close()
