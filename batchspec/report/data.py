"""Everything `report` shows, gathered from the state as plain data (also its --json output)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime
from typing import Any

from batchspec.spec.model import JobSpec
from batchspec.state import queries
from batchspec.state.store import StateStore
from batchspec.state.values import timestamp

# Codes of requests a batch never ran (it failed, expired or was cancelled first).
NOT_RUN = frozenset({"batch_failed", "batch_expired", "batch_cancelled", "batch_canceled", "batch_rejected"})


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    began, ended = timestamp(start, "table batches, submitted_at"), timestamp(end, "table batches, completed_at")
    return (ended - began).total_seconds() if began and ended else None


def build_report(spec: JobSpec, store: StateStore) -> dict[str, Any]:
    db = store.db
    run_id = queries.latest_run(db)
    usage = queries.usage_totals(db)
    batches = queries.batch_report_rows(db)
    for batch in batches:
        batch["latency_seconds"] = _seconds(batch["submitted_at"], batch["completed_at"])
    latencies = [b["latency_seconds"] for b in batches if b["latency_seconds"] is not None]
    errors = queries.error_counts(db)
    # Requests a batch never ran are not attempts that failed: they are counted apart.
    not_run = sum(e["attempts"] for e in errors if e["code"] in NOT_RUN)
    attempts = queries.attempt_count(db) - not_run
    failed_attempts = sum(e["attempts"] for e in errors) - not_run
    return {
        "job": spec.name,
        "description": spec.description,
        "generated_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "records": queries.record_counts(db, run_id),
        "usage": usage,
        "savings_usd": usage["sync_cost_usd"] - usage["cost_usd"],
        "attempts": attempts,
        "error_rate": failed_attempts / attempts if attempts else 0.0,
        "errors": errors,
        "failed_batches": queries.failed_batches(db),
        "latency_seconds": {
            "min": min(latencies) if latencies else None,
            "median": statistics.median(latencies) if latencies else None,
            "max": max(latencies) if latencies else None,
        },
        "daily": daily(batches, queries.sync_report_rows(db)),
        "batches": batches,
    }


def daily(batches: list[dict[str, Any]], sync_days: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per day: batches and requests sent, mean completion time, error rate, cost and savings."""
    days: dict[str, dict[str, Any]] = defaultdict(
        lambda: {
            "batches": 0,
            "requests": 0,
            "latencies": [],
            "errors": 0,
            "answers": 0,
            "cost_usd": 0.0,
            "sync_cost_usd": 0.0,
        }
    )
    for b in batches:
        day = days[(b["submitted_at"] or "")[:10]]
        day["batches"] += 1
        day["requests"] += b["requests"]
        if b["latency_seconds"] is not None:
            day["latencies"].append(b["latency_seconds"])
        day["errors"] += b["errors"]
        day["answers"] += b["errors"] + b["succeeded"]
        day["cost_usd"] += b["cost_usd"] or 0.0
        day["sync_cost_usd"] += b["sync_cost_usd"] or 0.0
    for s in sync_days:
        day = days[s["day"]]
        day["requests"] += s["requests"]
        day["errors"] += s["errors"]
        day["answers"] += s["requests"]
        day["cost_usd"] += s["cost_usd"] or 0.0
        day["sync_cost_usd"] += s["sync_cost_usd"] or 0.0
    result = []
    for name in sorted(days):
        d = days[name]
        result.append(
            {
                "day": name,
                "batches": d["batches"],
                "requests": d["requests"],
                "mean_completion_minutes": statistics.mean(d["latencies"]) / 60 if d["latencies"] else None,
                "error_rate": d["errors"] / d["answers"] if d["answers"] else 0.0,
                "cost_usd": d["cost_usd"],
                "savings_usd": d["sync_cost_usd"] - d["cost_usd"],
            }
        )
    return result
