"""The budget gate: `run` refuses to send work that would take the job over execution.max_cost_usd."""

from __future__ import annotations

import sqlite3

from batchspec.errors import BudgetError
from batchspec.fmt import usd
from batchspec.plan import ModelPlan
from batchspec.pricing import Usage, cost, price_of
from batchspec.spec.model import JobSpec
from batchspec.state import queries
from batchspec.tokens import output_token_budget


def estimated_cost(models: list[ModelPlan], mode: str) -> float | None:
    """What the planned work should cost in ``mode``; None when a model's price is unknown."""
    total = 0.0
    for model in models:
        if not model.to_send:
            continue
        value = model.cost_for(mode)
        if value is None:
            return None
        total += value
    return total


def check_budget(spec: JobSpec, db: sqlite3.Connection, models: list[ModelPlan], mode: str) -> None:
    budget = spec.execution.max_cost_usd
    if budget is None or not any(m.to_send for m in models):
        return
    planned = estimated_cost(models, mode)
    unpriced = [m.model.name for m in models if m.to_send and m.cost_for(mode) is None]
    if planned is None:
        raise BudgetError(
            f"execution.max_cost_usd is set but there is no price for {', '.join(unpriced)}, so the cost "
            "cannot be checked; add it under `pricing:` in the spec. Nothing was sent."
        )
    spent = float(queries.usage_totals(db)["cost_usd"])
    flying = _in_flight_cost(spec, db)
    total = spent + flying + planned
    if total > budget:
        raise BudgetError(
            f"execution.max_cost_usd is {usd(budget)}: already spent {usd(spent)}, in flight about {usd(flying)}, "
            f"and this run would add about {usd(planned)} ({mode} prices), {usd(total - budget)} over budget. "
            "Nothing was sent: raise the budget, or send less (input.limit)."
        )


def _in_flight_cost(spec: JobSpec, db: sqlite3.Connection) -> float:
    total = 0.0
    for label, (requests, tokens) in queries.in_flight_input_tokens(db).items():
        try:
            model = spec.model(label)
        except KeyError:
            continue
        price = price_of(model, spec.pricing)
        if price is not None:
            output = (output_token_budget(model.params) or 0) * requests
            total += cost(Usage(tokens, output), price, batch=True, ttl=spec.cache.ttl)
    return total
