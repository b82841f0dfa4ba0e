"""`batchspec run`: do the job, print what happened, exit with the code CI needs."""

from __future__ import annotations

import sys

from batchspec.errors import ExitCode
from batchspec.fmt import count, usd
from batchspec.runner import RunOptions, RunSummary, run_job
from batchspec.sources import display_path
from batchspec.spec.model import JobSpec
from batchspec.spec.units import format_bytes, format_duration


def run_command(spec: JobSpec, options: RunOptions, *, as_json: bool) -> int:
    summary = run_job(spec, options)
    print_summary(spec, summary)
    for label, why in summary.stopped.items():
        print(
            f"error: {why}; no more batches of {label} were sent: fix the cause and run again "
            "(its requests wait, nothing was lost)",
            file=sys.stderr,
        )
    if summary.interrupted:
        flying = len(summary.batches_in_flight)
        what = (
            f"{count(flying, 'batch')} in flight keep{'s' if flying == 1 else ''} running: run again to collect"
            if flying
            else "nothing in flight"
            if summary.exit_code == ExitCode.INTERRUPTED
            else "run again to go on"
        )
        print(f"interrupted: {what}", file=sys.stderr)
    if as_json:
        print(summary.to_json())
    return summary.exit_code


def _print_this_run(s: RunSummary) -> None:
    this = s.run_usage
    sent = f"{count(s.batches_submitted, 'batch')}" if s.mode == "batch" else f"{count(s.requests_sent, 'request')}"
    estimate = f" (plan estimated {usd(s.estimated_cost_usd)})" if s.estimated_cost_usd is not None else ""
    uncached = this.get("sync_cost_usd") or 0.0
    saved = f", saved {1 - this['cost_usd'] / uncached:.0%} against uncached sync calls" if uncached else ""
    print(
        f"  this run: sent {sent}; billed {usd(this.get('cost_usd'))} for {this.get('input_tokens', 0):,} input "
        f"and {this.get('output_tokens', 0):,} output tokens{saved}{estimate}"
    )


def print_summary(spec: JobSpec, s: RunSummary) -> None:
    print(
        f"Run {s.run_id} of {spec.name} ({s.mode} mode): {count(s.records, 'record')}, "
        f"{count(len(spec.models), 'model')}"
    )
    if s.unchanged:
        print("  nothing changed since the last run (same spec, same input): nothing to plan or send")
    print(
        f"  requests: {s.done:,} done · {s.failed:,} failed for good · {s.pending:,} pending · "
        f"{s.in_flight:,} in flight"
    )
    if not s.unchanged:
        _print_this_run(s)
    if s.rate_limited or s.paused_seconds:
        print(
            f"  rate limits: {count(s.rate_limited, 'answer')} rate limited and retried; requests held "
            f"{format_duration(s.paused_seconds)} in all by rate-limit pauses"
        )
    if len(s.routes) > 1 or spec.execution.deadline is not None:
        ways = [f"{r['answers']:,} by {way} ({usd(r['cost_usd'])})" for way, r in sorted(s.routes.items())]
        print(f"  answers this run: {', '.join(ways) or 'none'}")
    usage = s.usage
    cached = usage["cache_read_tokens"]
    tokens = f"{usage['input_tokens']:,} input ({cached:,} cached), {usage['output_tokens']:,} output"
    line = f"  job total: {tokens}, cost {usd(usage['cost_usd'])}"
    if usage["unpriced"]:
        line += f" + unknown ({count(usage['unpriced'], 'request')} of unpriced models)"
    elif usage["sync_cost_usd"]:
        saved = 1 - usage["cost_usd"] / usage["sync_cost_usd"]
        line += f" (uncached sync: {usd(usage['sync_cost_usd'])}, saved {saved:.0%})"
    print(line)
    print(
        f"  wrote {display_path(spec.output.path)} ({count(s.results_written, 'row')}) and "
        f"{display_path(spec.output.errors_path)} ({count(s.errors_written, 'row')})"
    )
    if spec.remote_state is not None:
        print(
            f"  state: {spec.remote_state.url} ({count(s.state_uploads, 'upload')} this run, "
            f"{format_bytes(s.state_uploaded_bytes)})"
        )
    if s.batches_in_flight:
        print(
            f"  {count(len(s.batches_in_flight), 'batch')} still in flight ({', '.join(s.batches_in_flight[:5])}): "
            "run again later to collect the results"
        )
