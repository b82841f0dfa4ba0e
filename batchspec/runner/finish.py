"""Turning a provider's answer into what is stored: the parsed output, checked, and its cost."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import jsonschema

from batchspec.outcomes import ERRORED, SUCCEEDED, Outcome
from batchspec.pricing import cost, price_of, uncached_sync_cost
from batchspec.pricing.table import Price
from batchspec.spec.model import JobSpec, ModelSpec


class Finisher:
    """Per model: checks structured output and prices every outcome."""

    def __init__(self, spec: JobSpec, model: ModelSpec, *, batch: bool) -> None:
        self.price: Price | None = price_of(model, spec.pricing)
        self.batch = batch
        self.ttl = spec.cache.ttl
        schema = model.response_schema
        self.validator = jsonschema.validators.validator_for(schema)(schema) if schema is not None else None

    def __call__(self, outcome: Outcome | None) -> Outcome | None:
        if outcome is None:
            return None
        if outcome.kind == SUCCEEDED and self.validator is not None:
            outcome = self._parse(outcome)
        if self.price is None or not outcome.usage.input_tokens:
            return outcome
        return dataclasses.replace(
            outcome,
            cost_usd=cost(outcome.usage, self.price, batch=self.batch, ttl=self.ttl),
            sync_cost_usd=uncached_sync_cost(outcome.usage, self.price),
        )

    def _parse(self, outcome: Outcome) -> Outcome:
        assert self.validator is not None
        try:
            parsed: Any = json.loads(outcome.output or "")
        except json.JSONDecodeError as error:
            why = f"the output is not JSON: {error.msg} at column {error.colno}"
            if _cut_off(outcome.response or {}):
                why += " (the answer was cut off at max_tokens: raise it)"
            return _invalid(outcome, why)
        problems = sorted(self.validator.iter_errors(parsed), key=lambda e: list(e.path))
        if problems:
            where = "/".join(str(p) for p in problems[0].path) or "the output"
            return _invalid(outcome, f"{where}: {problems[0].message}")
        return dataclasses.replace(outcome, parsed=parsed)


def _cut_off(response: dict[str, Any]) -> bool:
    choices = response.get("choices") or [{}]
    incomplete = (response.get("incomplete_details") or {}).get("reason") == "max_output_tokens"  # Responses API
    return choices[0].get("finish_reason") == "length" or response.get("stop_reason") == "max_tokens" or incomplete


def _invalid(outcome: Outcome, message: str) -> Outcome:
    """An answer that does not match response_schema: billed, stored as an error, tried again."""
    return dataclasses.replace(
        outcome,
        kind=ERRORED,
        error_code="invalid_output",
        error_message=f"does not match response_schema: {message}",
        retryable=True,
    )
