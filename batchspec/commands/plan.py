"""`batchspec plan`: what a run would send, split into batches, and what it would cost."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from batchspec.adoption import Preview, preview
from batchspec.deadline import STARTED
from batchspec.explain import explain
from batchspec.fmt import count, format_bytes, usd
from batchspec.plan import CATEGORIES, ModelPlan, Plan, build_plan, emit
from batchspec.sources import display_path
from batchspec.spec.model import JobSpec
from batchspec.spec.units import format_duration
from batchspec.state.access import state_label

SHOWN_BATCHES = 5


def plan_command(
    spec: JobSpec, *, as_json: bool, emit_dir: Path | None, explain_id: str | None, offline: bool = False
) -> Plan | None:
    """Print the plan (or one record's explanation); returns the plan, or None for --explain.
    Unless ``offline``, the provider is asked for this job's batches the state does not know."""
    if explain_id is not None:
        print_explanation(spec, explain_id, as_json)
        return None
    with build_plan(spec, keep_bodies=emit_dir is not None) as plan:
        written = emit(plan, emit_dir) if emit_dir is not None else []
        seen = None if offline else preview(spec, plan.staging)
        for problem in seen.problems if seen else []:
            print(f"warning: could not look at the provider for this job's batches: {problem}", file=sys.stderr)
        if as_json:
            data = plan.to_dict()
            data["emitted"] = [str(p) for p in written]
            data["at_provider"] = seen.to_dict() if seen else None
            print(json.dumps(data, indent=2))
        else:
            print_plan(plan)
            if seen:
                _print_provider(seen)
            if written:
                print(f"\nWrote {count(len(written), 'batch file')} to {display_path(emit_dir or Path())}")
        return plan


def _print_provider(seen: Preview) -> None:
    if seen.batches:
        print(
            f"At the provider: {count(seen.batches, 'batch')} of this job that the state does not know, "
            f"{count(seen.requests, 'request')}; {seen.current:,} of them are current requests of this input, "
            "which run adopts instead of sending them again."
        )
    if seen.undecided:
        print(
            f"At the provider: {count(seen.undecided, 'batch')} still running that cannot be attributed to a job "
            "until they end (the provider keeps no metadata on them)."
        )


def print_plan(plan: Plan) -> None:
    spec = plan.spec
    print(f"Plan for job {spec.name}: {count(plan.records, 'record')} from {display_path(spec.input.resolved)}")
    print(f"State: {state_label(spec)}" + ("" if spec.state_path.exists() else " (not created yet)"))
    for model in plan.models:
        print()
        _print_model(model, spec.execution.mode)
    print()
    total = sum(m.to_send for m in plan.models)
    batches = sum(len(m.batches) for m in plan.models)
    if total:
        print(f"To send: {count(total, 'request')} in {count(batches, 'batch')}{_total_cost(plan)}.")
    else:
        print("Nothing to send: every record is done, failed for good or in flight.")
    if spec.execution.deadline is not None:
        _print_deadline(plan, spec.execution.deadline)


def _print_deadline(plan: Plan, seconds: float) -> None:
    started = plan.staging.state_meta(STARTED)
    when = "not started yet"
    if started:
        left = float(started) + seconds - time.time()
        when = f"{format_duration(left)} left" if left > 0 else "passed: a run sends what is left synchronously"
    span = _total_cost(plan).removeprefix(", estimated ")
    cost = f"; this work costs {span}, depending on how much of it the batches finish in time" if span else ""
    print(
        f"Deadline: {format_duration(seconds)} from the first submission ({when}); past it, batches are cancelled "
        f"and what is left goes through the synchronous API{cost}."
    )


def _print_model(model: ModelPlan, mode: str) -> None:
    m = model.model
    name = m.provider if m.label == m.name else f"{m.provider} {m.name}"
    print(f"{m.label} ({name}, {mode} mode)")
    print("  " + " · ".join(f"{c.replace('_', ' ')} {model.counts.get(c, 0):,}" for c in CATEGORIES))
    if not model.to_send:
        return
    limits = model.limits
    print(
        f"  to send: {count(model.to_send, 'request')}, {format_bytes(model.send_bytes)}, "
        f"in {count(len(model.batches), 'batch')} (at most {limits.max_requests:,} requests and "
        f"{format_bytes(limits.max_bytes)} each)"
    )
    for n, batch in enumerate(model.batches[:SHOWN_BATCHES], 1):
        print(f"    batch {n}: {count(batch.requests, 'request')}, {format_bytes(batch.size)}")
    if len(model.batches) > SHOWN_BATCHES:
        print(f"    ... and {len(model.batches) - SHOWN_BATCHES:,} more")
    output = f"≤ {model.output_tokens:,}" if model.output_tokens is not None else "unknown (no max_tokens)"
    cached = model.usage.cache_read_tokens + model.usage.cache_write_tokens
    caching = f" ({model.usage.cache_read_tokens:,} read from the prompt cache)" if cached else ""
    print(f"  estimated tokens: {model.send_input_tokens:,} input{caching}, {output} output")
    if model.cost_batch is None:
        print(f"  estimated cost: unknown (no price for {m.name}; add it under `pricing:`)")
    else:
        note = "" if model.output_tokens is not None else " for input only"
        print(
            f"  estimated cost: {usd(model.cost_batch)} (batch) to {usd(model.cost_sync)} (sync){note}; "
            f"uncached sync calls would cost {usd(model.cost_uncached_sync)}"
        )


def _total_cost(plan: Plan) -> str:
    sending = [m for m in plan.models if m.to_send]
    if any(m.cost_batch is None for m in sending):
        return ""
    low = sum(m.cost_batch or 0 for m in sending)
    high = sum(m.cost_sync or 0 for m in sending)
    return f", estimated {usd(low)} (batch) to {usd(high)} (sync)"


def print_explanation(spec: JobSpec, record_id: str, as_json: bool) -> None:
    explanations = explain(spec, record_id)
    if as_json:
        print(json.dumps([e.__dict__ for e in explanations], indent=2))
        return
    first = explanations[0]
    print(f"Record {first.record_id} ({first.where}), custom_id {first.custom_id}")
    for e in explanations:
        print()
        print(f"{e.model}: {e.category.replace('_', ' ')} — {e.reason}")
        if e.differences:
            print("  what changed:")
            for line in e.differences:
                print(f"    {line}")
        print("  request body:")
        for line in json.dumps(e.request, indent=2, ensure_ascii=False).splitlines():
            print(f"    {line}")
