"""Values the common request parameters take: caught at validate, not by the provider a day later.

Only parameters whose meaning is the same at both providers are checked; the rest go as written.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

# Body fields batchspec writes itself: extra_params may not replace them.
OWN_FIELDS = frozenset(["model", "messages", "system"])


def _integer(low: int) -> Callable[[Any], bool]:
    return lambda v: type(v) is int and low <= v <= 2**31 - 1


def _number(low: float, high: float) -> Callable[[Any], bool]:
    return lambda v: type(v) in (int, float) and math.isfinite(v) and low <= v <= high


RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "max_tokens": (_integer(1), "a whole number of tokens, at least 1"),
    "max_completion_tokens": (_integer(1), "a whole number of tokens, at least 1"),
    "max_output_tokens": (_integer(1), "a whole number of tokens, at least 1"),
    "temperature": (_number(0, 2), "a number from 0 to 2"),
    "top_p": (_number(0, 1), "a number from 0 to 1"),
    "top_k": (_integer(0), "a whole number, at least 0"),
    "frequency_penalty": (_number(-2, 2), "a number from -2 to 2"),
    "presence_penalty": (_number(-2, 2), "a number from -2 to 2"),
    "seed": (lambda v: type(v) is int, "a whole number"),
}


def param_problem(key: str, value: Any) -> str | None:
    """What is wrong with ``value`` for parameter ``key``, or None."""
    rule = RULES.get(key)
    if rule is None or value is None or rule[0](value):  # null: the provider's default
        return None
    return f"params.{key} must be {rule[1]}, not {value!r}"
