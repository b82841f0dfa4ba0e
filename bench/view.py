"""`batchspec view` on a large state: page load and filtered queries, timed over HTTP.

    python bench/view.py                       # 1,000,000 records × 2 models (a fan-out), built by SQL
    python bench/view.py --records 100000 --models 1

The state is synthetic (INSERTs from a recursive CTE, no provider involved) but has the shape a
run leaves: one request, one answer with a `parsed` label and usage per record and model, 3 % of
records failed with an error row. It is built once under bench/out/ and reused. Each query is the
one the page sends; the time is the median of --repeat requests, measured by a client on
127.0.0.1 against the real `batchspec view` process.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from common import OUT_DIR, Table, batchspec_command, machine, write_spec

LABELS = ("positive", "negative", "neutral")


def build_state(directory: Path, records: int, models: int) -> Path:
    """A job directory whose state holds ``records`` × ``models`` answered or failed records."""
    labels = [f"m{i}" for i in range(models)]
    spec_models = [{"name": "gpt-4o-mini", "label": label} for label in labels]
    spec = write_spec(directory, "viewbench", directory / "data.jsonl", model=spec_models[0] if models == 1 else {})
    if models > 1:
        data = json.loads(spec.read_text())
        base = data.pop("model")
        data["model"] = [{**base, **m} for m in spec_models]
        spec.write_text(json.dumps(data, indent=2) + "\n")
    state = directory / ".batchspec" / "viewbench.db"
    done = directory / ".built"
    if done.exists() and done.read_text() == f"{records} {models}":
        return spec
    state.unlink(missing_ok=True)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from batchspec.state.store import StateStore

    StateStore.open(state, "viewbench").close()
    db = sqlite3.connect(state)
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    start = time.perf_counter()
    numbers = f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {records}) "
    for index, label in enumerate(labels):
        hashes = f"printf('%s%014d', '{index:02d}', i)"
        db.execute(
            f"INSERT INTO requests {numbers} SELECT {hashes}, 'openai', 'gpt-4o-mini', "
            "json_object('model', 'gpt-4o-mini', 'messages', json_array("
            "json_object('role', 'system', 'content', 'You are a careful annotator of product reviews.'), "
            "json_object('role', 'user', 'content', 'Review: synthetic review number ' || i))) FROM n"
        )
        db.execute(
            f"INSERT INTO records {numbers} SELECT ?, printf('r%08d', i), printf('r%08d', i), i, {hashes}, "
            "CASE WHEN i % 33 = 0 THEN 'failed' ELSE 'done' END, CASE WHEN i % 33 = 0 THEN 3 ELSE 1 END, NULL, 40, "
            "CASE WHEN i % 33 = 0 THEN 'server_error' END, CASE WHEN i % 33 = 0 THEN 'The server had an error' END, "
            "1, '2026-12-04T00:00:00Z' FROM n",
            (label,),
        )
        db.execute(
            f"INSERT INTO results (model, custom_id, request_hash, batch_key, attempt, output, parsed, response, "
            f"input_tokens, output_tokens, cost_usd, sync_cost_usd, created_at) {numbers} "
            f"SELECT ?, printf('r%08d', i), {hashes}, 'b1', 1, json_object('label', l), json_object('label', l), "
            "'{}', "
            "40, 3, 0.000004, 0.000008, '2026-12-04T00:00:00Z' FROM (SELECT i, "
            f"CASE (i * {index + 7}) % 3 WHEN 0 THEN 'positive' WHEN 1 THEN 'negative' ELSE 'neutral' END AS l "
            "FROM n WHERE i % 33 != 0)",
            (label,),
        )
        db.execute(
            f"INSERT INTO errors (model, custom_id, request_hash, batch_key, attempt, code, message, retryable, "
            f"created_at) {numbers} SELECT ?, printf('r%08d', i), {hashes}, 'b1', a.k, 'server_error', "
            "'The server had an error', 1, '2026-12-04T00:00:00Z' FROM n, (SELECT 1 AS k UNION ALL SELECT 2 "
            "UNION ALL SELECT 3) a WHERE i % 33 = 0",
            (label,),
        )
        db.commit()
    db.close()
    done.write_text(f"{records} {models}")
    size = state.stat().st_size / 1e6
    print(f"built a {records:,} × {models} state in {time.perf_counter() - start:.1f} s ({size:.0f} MB)")
    return spec


def timed(host: str, port: int, path: str, repeat: int, **params: str) -> tuple[float, float, int]:
    """(first request, median of ``repeat``, bytes): whole-state sums are cached after the first."""
    times = []
    size = 0
    for _ in range(repeat):
        connection = http.client.HTTPConnection(host, port, timeout=120)
        start = time.perf_counter()
        connection.request("GET", path + (f"?{urlencode(params)}" if params else ""))
        response = connection.getresponse()
        body = response.read()
        times.append(time.perf_counter() - start)
        connection.close()
        assert response.status == 200, (path, params, body[:200])
        size = len(body)
    return times[0], statistics.median(times), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    directory = OUT_DIR / f"view-{args.records}-{args.models}"
    spec = build_state(directory, args.records, args.models)
    process = subprocess.Popen(
        batchspec_command("view", spec, "--no-open"), cwd=directory, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    url = urlsplit(process.stdout.readline().strip())
    host, port = url.hostname or "", url.port or 0
    last = f"r{args.records:08d}"
    queries: list[tuple[str, str, dict[str, str]]] = [
        ("page: index.html", "/", {}),
        ("page: summary (models, codes, fields)", "/api/summary", {}),
        ("page: first 50 records", "/api/records", {}),
        ("next page (keyset, from the middle)", "/api/records", {"after": f"m0\x1fr{args.records // 2:08d}"}),
        ("filter status = failed", "/api/records", {"status": "failed"}),
        ("filter error code = server_error", "/api/records", {"code": "server_error"}),
        ("filter model = last", "/api/records", {"model": f"m{args.models - 1}"}),
        ("filter parsed label = negative", "/api/records", {"field": "label", "value": "negative"}),
        ("search: a common word", "/api/records", {"q": "positive"}),
        ("search: the last record's id", "/api/records", {"q": last}),
        ("search: no match (scans all)", "/api/records", {"q": "no such text anywhere"}),
        ("one record (detail)", "/api/record", {"model": "m0", "custom_id": last}),
        ("side by side: first 50", "/api/compare", {}),
        ("errors by code", "/api/errors", {}),
        ("totals: records by status, usage", "/api/totals", {}),
        ("agreement per model pair (all records)", "/api/agreement", {}),
    ]
    table = Table(["request", "first s", "median s", "bytes"])
    try:
        for name, path, params in queries:
            first, median, size = timed(host, port, path, args.repeat, **params)
            table.add(name, f"{first:.3f}", f"{median:.3f}", f"{size:,}")
    finally:
        process.terminate()
        process.communicate(timeout=10)
    print(machine())
    print(f"{args.records:,} records × {args.models} model(s); median of {args.repeat}")
    print(table.render())


if __name__ == "__main__":
    main()
