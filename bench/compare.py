"""`batchspec run` next to a bare `openai` SDK script (bench/reference.py), in the same run.

    python bench/compare.py                   # 20,000 records, 3 rounds, median of each
    python bench/compare.py --records 200000 --rounds 1
    python bench/compare.py --memory          # batches of 50,000 × ~2 KB prompts: batchspec's peak RSS

Both run as subprocesses (measured by common.measure: wall, CPU, peak RSS from wait4) against the
same in-process fake OpenAI server whose batches take --processing seconds (1 s by default). The
rounds alternate the two, so load from other processes on the machine hits both alike; the table
shows medians and batchspec / reference ratios. "First batch created" is the time from just before
the launcher starts to the fake server's answer to the first POST /v1/batches of that run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

from common import OUT_DIR, Table, batchspec_command, check, machine, measure, records_file, write_spec

from batchspec.fakeapi import FakeAPI, FakeConfig

POLL_INTERVAL = 0.25  # the reference script's; the spec uses the same


def first_created(api: FakeAPI, since: float) -> float:
    times = [r["time"] for r in api.ledger.http_requests if r["method"] == "POST" and r["path"] == "/v1/batches"]
    return min(times) - since if times else float("nan")


def run_reference(api: FakeAPI, data: Path, directory: Path) -> dict[str, float]:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    api.ledger.clear()
    command = [sys.executable, str(Path(__file__).with_name("reference.py")), str(data), str(directory / "out.jsonl")]
    start = time.time()
    m = check(measure([*command, "--base-url", api.openai_base_url]), "reference script")
    return {"wall": m.seconds, "cpu": m.cpu_seconds, "rss": m.peak_rss_mb, "first": first_created(api, start)}


def run_batchspec(
    api: FakeAPI, data: Path, directory: Path, *, batch_size: int | None = None, name: str = "bench-compare"
) -> dict[str, float]:
    shutil.rmtree(directory, ignore_errors=True)
    execution: dict[str, object] = {"poll_interval": POLL_INTERVAL}
    if batch_size:
        execution["max_requests_per_batch"] = batch_size
    spec = write_spec(directory, name, data, model={"base_url": api.openai_base_url}, execution=execution)
    api.ledger.clear()
    start = time.time()
    env = {**os.environ, "OPENAI_API_KEY": "bench-key"}
    m = check(measure([*batchspec_command("run", spec), "-q", "--json"], env=env), "batchspec run")
    summary = json.loads(m.stdout.strip().splitlines()[-1])
    if summary["done"] != summary["records"]:
        sys.exit(f"batchspec did not finish every record: {summary}")
    return {"wall": m.seconds, "cpu": m.cpu_seconds, "rss": m.peak_rss_mb, "first": first_created(api, start)}


def big_records(count: int, directory: Path = OUT_DIR / "data") -> Path:
    """Records whose prompt is about 2 KB (for the memory check)."""
    path = directory / f"reviews-2k-{count}.jsonl"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        filler = ("lorem ipsum dolor sit amet " * 80)[:2000]
        with path.open("w", encoding="utf-8") as out:
            for n in range(1, count + 1):
                out.write(json.dumps({"review_id": f"r{n:08d}", "text": f"{n} {filler}"}) + "\n")
    return path


def compare(args: argparse.Namespace) -> None:
    data = records_file(args.records)
    rows: dict[str, list[dict[str, float]]] = {"reference (bare SDK)": [], "batchspec": []}
    with FakeAPI(FakeConfig(processing_seconds=args.processing)) as api:
        for n in range(args.rounds):
            ref = run_reference(api, data, OUT_DIR / "compare" / "reference")
            # a new job name each round: a job adopts the batches of its name it finds on the account
            ours = run_batchspec(api, data, OUT_DIR / "compare" / "batchspec", name=f"bench-compare-{n}")
            rows["reference (bare SDK)"].append(ref)
            rows["batchspec"].append(ours)
            print(f"round {n + 1}: reference {_line(ref)} | batchspec {_line(ours)}", flush=True)
    median = {name: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for name, runs in rows.items()}
    ref, ours = median["reference (bare SDK)"], median["batchspec"]
    table = Table(("median of rounds", "wall s", "CPU s", "peak RSS MB", "first batch created s"))
    for name, m in median.items():
        table.add(name, f"{m['wall']:.2f}", f"{m['cpu']:.2f}", f"{m['rss']:.0f}", f"{m['first']:.2f}")
    table.add(
        "batchspec / reference",
        f"{ours['wall'] / ref['wall']:.2f}×",
        f"{ours['cpu'] / ref['cpu']:.2f}×",
        f"{ours['rss'] / ref['rss']:.2f}×",
        f"{ours['first'] - ref['first']:+.2f} s",
    )
    print(f"\n{args.records:,} records, fake batches take {args.processing} s, {args.rounds} rounds")
    print(table.render())


def memory(args: argparse.Namespace) -> None:
    data = big_records(args.records)
    with FakeAPI(FakeConfig(processing_seconds=0)) as api:
        ours = run_batchspec(api, data, OUT_DIR / "compare" / "memory", batch_size=50_000)
    print(f"\n{args.records:,} records of ~2 KB prompts, batches of 50,000 (~100 MB payloads): batchspec {_line(ours)}")
    print(f"peak RSS {ours['rss']:.0f} MB (target < 200 MB: {'met' if ours['rss'] < 200 else 'MISSED'})")


def _line(m: dict[str, float]) -> str:
    return f"wall {m['wall']:.2f} s, CPU {m['cpu']:.2f} s, RSS {m['rss']:.0f} MB, first batch {m['first']:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=None, help="default 20,000 (100,000 with --memory)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processing", type=float, default=1.0, help="seconds each fake batch takes")
    parser.add_argument("--memory", action="store_true", help="peak RSS with 100 MB payloads instead")
    args = parser.parse_args()
    print(machine(), f"· load average {os.getloadavg()[0]:.1f}")
    if args.memory:
        args.records = args.records or 100_000
        memory(args)
    else:
        args.records = args.records or 20_000
        compare(args)


if __name__ == "__main__":
    main()
