"""`report` in the terminal."""

from __future__ import annotations

from typing import Any

from batchspec.fmt import count, usd
from batchspec.report.data import NOT_RUN
from batchspec.spec.units import format_duration


def print_report(data: dict[str, Any]) -> None:
    usage, records = data["usage"], data["records"]
    print(f"Report for job {data['job']}")
    print(
        f"  requests: {records['done']:,} done · {records['failed']:,} failed for good · "
        f"{records['pending']:,} pending · {records['submitted']:,} in flight"
    )
    print(
        f"  tokens: {usage['input_tokens']:,} input ({usage['cache_read_tokens']:,} cache reads, "
        f"{usage['cache_write_tokens']:,} cache writes), {usage['output_tokens']:,} output"
    )
    sync = usage["sync_cost_usd"]
    share = f" ({data['savings_usd'] / sync:.0%})" if sync else ""
    unknown = " + unknown (unpriced models)" if usage["unpriced"] else ""
    print(
        f"  cost: {usd(usage['cost_usd'])}{unknown}; uncached sync calls would have cost {usd(sync)}; "
        f"saved {usd(data['savings_usd'])}{share}"
    )
    print(f"  error rate: {data['error_rate']:.1%} of {data['attempts']:,} attempts")
    for error in data["errors"]:
        kind = "permanent"
        if error["retryable"]:
            kind = "not run: the batch ended first; re-sent" if error["code"] in NOT_RUN else "retryable"
        print(f"    {error['code']}: {error['attempts']:,} ({kind})")
    for batch in data["failed_batches"]:
        print(f"  batch {batch['batch']} ({batch['model']}) {batch['status']}: {batch['reason']}")
    latency = data["latency_seconds"]
    if latency["median"] is not None:
        print(
            f"  batch latency (submitted → completed): min {format_duration(latency['min'])}, "
            f"median {format_duration(latency['median'])}, max {format_duration(latency['max'])} "
            f"over {count(len(data['batches']), 'batch')}"
        )
