"""A whole job end to end against the fake API: `batchspec run` on 100,000 records, then a no-op rerun.

    python bench/run.py                    # 100,000 records
    python bench/run.py --records 20000
    python bench/run.py --profile          # also cProfile a fresh run, print the hot spots

The fake OpenAI server runs in this process (batches finish on the first poll); `batchspec run
job.yaml -q --json` runs in a subprocess, through bench/stagetimer.py, which adds up the wall time
spent in each stage of the run. The server's own handling time is reported apart: it is spent in
this process, but the client waits for it inside "poll" (the fake answers a batch's requests when
it is first retrieved) and "submit" (it parses the uploaded file).
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import re
import shutil
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from common import (
    BENCH_DIR,
    OUT_DIR,
    Measured,
    Table,
    batchspec_command,
    check,
    machine,
    measure,
    records_file,
    write_spec,
)
from stagetimer import STAGES

from batchspec.fakeapi import FakeAPI, FakeConfig

LOOP_PARTS = (
    "submit (payload, upload, create)",
    "poll (retrieve)",
    "collect (download, store results)",
    "progress (counts)",
)
TARGET_RERUN_SHARE = 0.05  # issue 6: a no-op rerun of a finished job takes ≤ 5% of the first run


def prepare(records: int, api: FakeAPI) -> Path:
    """A fresh job directory (no state, no outputs) whose spec points at the fake server."""
    directory = OUT_DIR / f"run-{records}"
    shutil.rmtree(directory, ignore_errors=True)
    model = {"base_url": api.openai_base_url}
    return write_spec(directory, "bench-run", records_file(records), model=model, execution={"poll_interval": 0.05})


def environment() -> dict[str, str]:
    return {**os.environ, "OPENAI_API_KEY": "bench-key"}


@dataclass
class RunResult:
    measured: Measured
    seconds: dict[str, float]  # stage → wall seconds (see stage_seconds)
    peaks: dict[str, float]  # stage → the process's RSS high-water mark (MB) when it ended
    server: dict[str, float] = field(default_factory=dict)  # endpoint → fake server seconds


def timed_run(spec: Path, timings: Path) -> RunResult:
    """`batchspec run` through the stage timer: the subprocess's wall time, peak RSS and stages."""
    command = [sys.executable, str(BENCH_DIR / "stagetimer.py"), str(timings), "run", str(spec), "-q", "--json"]
    result = check(measure(command, env=environment()), "batchspec run")
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    if summary["done"] != summary["records"]:
        sys.exit(f"the run did not finish every record: {summary}")
    data = json.loads(timings.read_text())
    if data["missing"]:
        print(f"warning: stages not timed (renamed in batchspec?): {', '.join(data['missing'])}")
    return RunResult(result, stage_seconds(result.seconds, data["seconds"]), data["peak_rss_mb"])


def stage_seconds(wall: float, totals: dict[str, float]) -> dict[str, float]:
    """Stages in the order a run goes through them; waiting and startup are what is left over."""
    stages = {stage: totals.get(stage, 0.0) for stage in STAGES if stage != "engine loop"}
    loop = totals.get("engine loop", 0.0)
    stages["waiting between polls"] = max(0.0, loop - sum(stages[k] for k in LOOP_PARTS))
    main = totals["batchspec main"]
    stages["other in-process (open state, lock, …)"] = max(0.0, main - sum(stages.values()))
    stages["interpreter start, imports, exit"] = max(0.0, wall - main)
    return stages


def server_seconds(api: FakeAPI) -> dict[str, float]:
    """The fake server's handling time by endpoint (ids folded out of the paths)."""
    totals: dict[str, float] = defaultdict(float)
    for request in api.ledger.http_requests:
        path = re.sub(r"/(batch|file)[-_][A-Za-z0-9_-]+", r"/{\1}", request["path"])
        totals[f"{request['method']} {path}"] += request["seconds"]
    api.ledger.clear()
    return dict(totals)


def profile(records: int, top: int) -> None:
    """cProfile one fresh run (slower than unprofiled) and print the functions with most own time."""
    with FakeAPI(FakeConfig(processing_seconds=0)) as api:
        spec = prepare(records, api)
        stats_file = spec.parent / "run.prof"
        command = [sys.executable, "-m", "cProfile", "-o", str(stats_file), *batchspec_command("run", spec)[1:]]
        check(measure([*command, "-q", "--json"], env=environment()), "profiled batchspec run")
    print(f"\ncProfile of batchspec run at {records:,} records ({stats_file}):")
    pstats.Stats(str(stats_file)).sort_stats("tottime").print_stats(top)


def report(records: int, runs: dict[str, RunResult]) -> None:
    summary = Table(("run", "records", "seconds", "records/s", "peak RSS MB"))
    for name, run in runs.items():
        m = run.measured
        summary.add(name, f"{records:,}", f"{m.seconds:.2f}", f"{records / m.seconds:,.0f}", f"{m.peak_rss_mb:,.0f}")
    print(summary.render())
    stages = Table(("stage", *(f"{name} {unit}" for name in runs for unit in ("s", "RSS MB"))))
    for stage in runs["first run"].seconds:
        cells = [(f"{r.seconds[stage]:.2f}", _mb(r.peaks.get(stage))) for r in runs.values()]
        stages.add(stage, *(cell for pair in cells for cell in pair))
    print("\nRSS MB: the subprocess's high-water mark when the stage (last) ended\n" + stages.render())
    server = Table(("fake server handling, s (this process)", *runs))
    for endpoint in sorted({e for r in runs.values() for e in r.server}):
        server.add(endpoint, *(f"{r.server.get(endpoint, 0.0):.2f}" for r in runs.values()))
    print("\n" + server.render())
    first, rerun = (runs[name].measured.seconds for name in ("first run", "no-op rerun"))
    verdict = "met" if rerun <= TARGET_RERUN_SHARE * first else "MISSED"
    print(f"\nno-op rerun: {rerun / first:.0%} of the first run (target ≤ {TARGET_RERUN_SHARE:.0%}: {verdict})")


def _mb(value: float | None) -> str:
    return f"{value:,.0f}" if value else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000, help="records in the job (default 100,000)")
    parser.add_argument("--profile", action="store_true", help="also cProfile a fresh run and print hot spots")
    parser.add_argument("--top", type=int, default=25, help="functions shown by --profile")
    args = parser.parse_args()
    print(machine())
    runs: dict[str, RunResult] = {}
    with FakeAPI(FakeConfig(processing_seconds=0)) as api:
        spec = prepare(args.records, api)
        for name in ("first run", "no-op rerun"):
            runs[name] = timed_run(spec, spec.parent / f"{name.replace(' ', '-')}.json")
            runs[name].server = server_seconds(api)
    report(args.records, runs)
    if args.profile:
        profile(args.records, args.top)


if __name__ == "__main__":
    main()
