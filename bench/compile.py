"""Plan throughput and memory: `batchspec plan --emit` end to end, and its stages in-process.

    python bench/compile.py                      # 200,000 records
    python bench/compile.py --records 1000000
    python bench/compile.py --memory-check       # peak RSS of plan --emit at 100k vs 1M records
    python bench/compile.py --profile            # also cProfile the CLI run, print the hot spots

The CLI runs pinned to one core (the first this process may use; --all-cores to lift that), three
times (--repeat), and the median run is reported: one run's wall time varies by ±10% here.

Targets: ≥ 100,000 records/s for this small template on one core; peak RSS at 1M records within
1.3× of the peak at 100k (memory must not grow with the input).
"""

from __future__ import annotations

import argparse
import os
import pstats
import shutil
import sys
from pathlib import Path

from common import (
    OUT_DIR,
    SYSTEM_PROMPT,
    USER_TEMPLATE,
    Measured,
    Stage,
    Table,
    batchspec_command,
    check,
    in_process,
    machine,
    measure,
    records_file,
    stage_row,
    write_spec,
)

from batchspec.plan import build_plan, emit
from batchspec.render import Renderer
from batchspec.sources import source_for
from batchspec.spec.load import load_spec
from batchspec.state.records import merge_plan, start_run
from batchspec.state.store import StateStore

TARGET_RATE = 100_000  # records/s
TARGET_RSS_RATIO = 1.3
HEADERS = ("stage", "records", "seconds", "records/s", "peak RSS MB")


def prepare(records: int) -> tuple[Path, Path]:
    """The spec (and a fresh emit directory) for ``records`` synthetic records."""
    data = records_file(records)
    directory = OUT_DIR / f"compile-{records}"
    spec = write_spec(directory, "bench-compile", data, model={})
    emit_dir = directory / "emit"
    shutil.rmtree(emit_dir, ignore_errors=True)
    return spec, emit_dir


def cli_plan(
    spec: Path, emit_dir: Path, *, repeat: int, cpu: int | None, state: Path | None = None, what: str = ""
) -> Measured:
    """The median (by wall time) of ``repeat`` runs of ``plan --emit``; prints every run."""
    state_option = [] if state is None else ["--state", state]
    command = batchspec_command("plan", spec, "--emit", emit_dir, *state_option)
    runs = [check(measure(command, cpu=cpu), "batchspec plan --emit") for _ in range(repeat)]
    where = "any core" if cpu is None else f"CPU {cpu} only"
    print(
        f"plan --emit{what}, {where}: wall "
        + ", ".join(f"{r.seconds:.2f}" for r in runs)
        + " s; CPU "
        + ", ".join(f"{r.cpu_seconds:.2f}" for r in runs)
        + " s"
    )
    return sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]


def one_core(all_cores: bool) -> int | None:
    return None if all_cores else min(os.sched_getaffinity(0))


def prepare_replan(spec_path: Path, records: int) -> tuple[Path, Path]:
    """A state holding every record of ``spec_path`` (taken in as a run would, none sent yet) and a
    spec for the same job with another user template: planning it finds every record changed."""
    spec = load_spec(spec_path)
    state = spec_path.parent / "replan-state.db"
    state.unlink(missing_ok=True)
    store = StateStore.open(state, spec.name)
    try:
        run_id = start_run(store.db, "bench", "batch")
        with build_plan(spec, keep_bodies=True) as plan:
            merge_plan(store.db, plan.staging, run_id, {m.label: (m.provider, m.name) for m in spec.models})
    finally:
        store.close()
    edited = spec_path.parent / "edited"
    edited_spec = write_spec(
        edited,
        spec.name,
        records_file(records),
        model={},
        prompt={"system": SYSTEM_PROMPT, "user": USER_TEMPLATE.replace("Review:", "Customer review:")},
    )
    return edited_spec, state


def stages_in_process(spec_path: Path, emit_dir: Path, records: int) -> list[Stage]:
    """Each stage through the Python API; later stages include the earlier ones (they stream)."""
    stages: list[Stage] = []
    with in_process("load_spec", 0, stages):
        spec = load_spec(spec_path)
    source = source_for(spec)
    with in_process("read (sources)", records, stages):
        for _ in source.records():
            pass
    renderer = Renderer(spec)
    with in_process("read + render", records, stages):
        for position, record in source.records():
            renderer.requests(record, source.where(position))
    with in_process("build_plan (read+render+stage+diff)", records, stages):
        plan = build_plan(spec, keep_bodies=True)
    with plan, in_process("emit (batch payload files)", records, stages):
        emit(plan, emit_dir)
    return stages


def benchmark(records: int, *, with_stages: bool, replan: bool, repeat: int, cpu: int | None) -> None:
    spec, emit_dir = prepare(records)
    cli = cli_plan(spec, emit_dir, repeat=repeat, cpu=cpu)
    rows = [Stage("plan --emit (CLI subprocess)", records, cli.seconds, cli.peak_rss_mb)]
    rates = {"plan --emit": records / cli.seconds}
    stages: list[Stage] = []
    if with_stages:  # before the re-plan's set-up, which leaves this process bigger
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})  # the in-process stages on the same one core
        stages = stages_in_process(spec, emit_dir, records)
    if replan:
        edited, state = prepare_replan(spec, records)
        again = cli_plan(edited, emit_dir, repeat=repeat, cpu=cpu, state=state, what=" (all changed)")
        rows.append(Stage("plan --emit, every record changed", records, again.seconds, again.peak_rss_mb))
        rates["plan --emit, every record changed"] = records / again.seconds
    table = Table(HEADERS)
    for stage in rows + stages:
        stage_row(table, stage)
    print(table.render() + "\n")
    for what, rate in rates.items():
        verdict = "met" if rate >= TARGET_RATE else "MISSED"
        print(f"{what}: {rate:,.0f} records/s end to end (target ≥ {TARGET_RATE:,}: {verdict})")


def memory_check(small: int, large: int, *, cpu: int | None) -> None:
    table = Table(HEADERS)
    peaks = []
    for records in (small, large):
        spec, emit_dir = prepare(records)
        cli = cli_plan(spec, emit_dir, repeat=1, cpu=cpu)
        stage_row(table, Stage("plan --emit (CLI subprocess)", records, cli.seconds, cli.peak_rss_mb))
        peaks.append(cli.peak_rss_mb)
    print(table.render())
    ratio = peaks[1] / peaks[0]
    verdict = "met" if ratio <= TARGET_RSS_RATIO else "MISSED"
    print(f"\npeak RSS {large:,} / {small:,} records: {ratio:.2f}× (target ≤ {TARGET_RSS_RATIO}×: {verdict})")


def profile(records: int, top: int) -> None:
    """cProfile one CLI run (slower than unprofiled) and print the functions with most own time."""
    spec, emit_dir = prepare(records)
    stats_file = OUT_DIR / f"compile-{records}" / "plan.prof"
    command = [sys.executable, "-m", "cProfile", "-o", str(stats_file), *batchspec_command("plan", spec)[1:]]
    check(measure([*command, "--emit", str(emit_dir)]), "profiled plan --emit")
    print(f"\ncProfile of plan --emit at {records:,} records ({stats_file}):")
    pstats.Stats(str(stats_file)).sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000, help="records to plan (default 200,000)")
    parser.add_argument("--memory-check", action="store_true", help="compare peak RSS at --small and --large")
    parser.add_argument("--small", type=int, default=100_000, help="smaller input of --memory-check")
    parser.add_argument("--large", type=int, default=1_000_000, help="larger input of --memory-check")
    parser.add_argument("--cli-only", action="store_true", help="only the first plan (no re-plan, no stages)")
    parser.add_argument("--repeat", type=int, default=3, help="CLI runs to take the median of (default 3)")
    parser.add_argument("--all-cores", action="store_true", help="do not pin the CLI run to one core")
    parser.add_argument("--profile", action="store_true", help="also cProfile plan --emit and print hot spots")
    parser.add_argument("--top", type=int, default=25, help="functions shown by --profile")
    args = parser.parse_args()
    print(machine())
    cpu = one_core(args.all_cores)
    if args.memory_check:
        memory_check(args.small, args.large, cpu=cpu)
    else:
        repeat = max(1, args.repeat)
        benchmark(args.records, with_stages=not args.cli_only, replan=not args.cli_only, repeat=repeat, cpu=cpu)
    if args.profile:
        profile(args.records, args.top)


if __name__ == "__main__":
    main()
