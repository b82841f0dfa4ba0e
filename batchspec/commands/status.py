"""`batchspec status`: the job's batches, records and spend, read from the state (never written)."""

from __future__ import annotations

import json
from typing import Any

from batchspec.fmt import count, usd
from batchspec.spec.model import JobSpec
from batchspec.state import batches as state_batches
from batchspec.state import queries
from batchspec.state.access import state_label
from batchspec.state.store import StateStore
from batchspec.state.values import json_value

SHOWN = ("submitted_at", "in_progress_at", "completed_at", "expires_at")


def status_data(spec: JobSpec) -> dict[str, Any] | None:
    store = StateStore.read(spec.state_path, spec.name)
    if store is None:
        return None
    with store:
        run_id = queries.latest_run(store.db)
        return {
            "job": spec.name,
            "state": state_label(spec),
            "run": run_id,
            "records": queries.record_counts(store.db, run_id),
            "last_run": _last_run(store),
            "usage": queries.usage_totals(store.db),
            "batches": [
                {
                    "local_key": b.local_key,
                    "provider": b.provider,
                    "model": b.model,
                    "provider_batch_id": b.provider_batch_id,
                    "status": b.status,
                    "error": b.error,
                    "requests": b.request_count,
                    "counts": b.counts,
                    "collected": b.collected_at is not None,
                    **{name: b.timestamps.get(name) for name in SHOWN},
                    "tokens": {"input": b.input_tokens, "output": b.output_tokens},
                    "cost_usd": b.cost_usd,
                    "uncached_sync_cost_usd": b.sync_cost_usd,
                }
                for b in state_batches.batches(store.db)
            ],
        }


def _last_run(store: StateStore) -> dict[str, Any] | None:
    """The latest finished run: what plan estimated its work would cost, and what it was billed."""
    run = queries.last_finished_run(store.db)
    if run is None:
        return None
    summary = json_value(run["summary"], f"table runs, run {run['id']}, summary") or {}
    return {
        "id": run["id"],
        "mode": run["mode"],
        "started_at": run["started_at"],
        "exit_code": run["exit_code"],
        "estimated_cost_usd": summary.get("estimated_cost_usd"),
        "billed_cost_usd": queries.usage_totals(store.db, run["id"])["cost_usd"],
    }


def status_command(spec: JobSpec, *, as_json: bool) -> int:
    data = status_data(spec)
    if as_json:
        print(json.dumps(data, indent=2))
        return 0
    if data is None:
        print(f"{spec.name}: not run yet (no state at {state_label(spec)})")
        return 0
    records = data["records"]
    print(f"Job {spec.name} (state {state_label(spec)})")
    print(
        f"  requests: {records['done']:,} done · {records['failed']:,} failed for good · "
        f"{records['pending']:,} pending · {records['submitted']:,} in flight"
    )
    usage = data["usage"]
    print(
        f"  tokens: {usage['input_tokens']:,} input ({usage['cache_read_tokens']:,} cached read, "
        f"{usage['cache_write_tokens']:,} cache write), {usage['output_tokens']:,} output; "
        f"cost {usd(usage['cost_usd'])}" + (" + unknown" if usage["unpriced"] else "")
    )
    last = data["last_run"]
    if last:
        print(
            f"  last run {last['id']} ({last['mode']}, exit {last['exit_code']}): plan estimated "
            f"{usd(last['estimated_cost_usd'])}, billed {usd(last['billed_cost_usd'])} so far"
        )
    print(f"  {count(len(data['batches']), 'batch')}:")
    for b in data["batches"]:
        when = " ".join(f"{name.removesuffix('_at')} {b[name]}" for name in SHOWN if b[name])
        counts = ", ".join(f"{k} {v:,}" for k, v in b["counts"].items())
        state = "collected" if b["collected"] else "in flight"
        print(
            f"    {b['provider_batch_id'] or b['local_key']} ({b['model']}): {b['status']}, {state}; "
            f"{count(b['requests'], 'request')}" + (f" [{counts}]" if counts else "")
        )
        if b["collected"]:
            saved = (
                f", saved {usd(b['uncached_sync_cost_usd'] - b['cost_usd'])}"
                if b["cost_usd"] is not None and b["uncached_sync_cost_usd"]
                else ""
            )
            print(
                f"      {b['tokens']['input']:,} input and {b['tokens']['output']:,} output tokens; cost "
                f"{usd(b['cost_usd'])} (uncached sync {usd(b['uncached_sync_cost_usd'])}{saved})"
            )
        if b["error"]:
            print(f"      why: {b['error']}")
        if when:
            print(f"      {when}")
    return 0
