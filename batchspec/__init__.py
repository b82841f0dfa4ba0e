"""batchspec: declarative LLM batch jobs.

The command line is a thin layer over this API::

    import batchspec

    spec = batchspec.load_spec("job.yaml")          # SpecError with every problem, located
    with batchspec.build_plan(spec) as plan:         # what a run would send, and its estimate
        print(plan.to_dict())
    summary = batchspec.run_job(spec)                # RunSummary; safe to repeat
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from batchspec.errors import (
    AuthError,
    BatchspecError,
    BudgetError,
    Diagnostic,
    ExitCode,
    InputError,
    ProviderError,
    SpecError,
    StateError,
)
from batchspec.version import __version__

if TYPE_CHECKING:
    from batchspec.plan import Plan, build_plan, emit
    from batchspec.runner import RunOptions, RunSummary, run_job
    from batchspec.spec.load import load_spec
    from batchspec.spec.model import JobSpec

# Imported on first use, so that a command starts without loading what it does not need (the
# runner alone is a third of the start-up time of `plan`).
_LAZY = {
    "Plan": "batchspec.plan",
    "build_plan": "batchspec.plan",
    "emit": "batchspec.plan",
    "RunOptions": "batchspec.runner",
    "RunSummary": "batchspec.runner",
    "run_job": "batchspec.runner",
    "load_spec": "batchspec.spec.load",
    "JobSpec": "batchspec.spec.model",
}


if not TYPE_CHECKING:  # type checkers see the imports above, and flag a misspelt name

    def __getattr__(name: str) -> Any:
        if name not in _LAZY:
            raise AttributeError(f"module 'batchspec' has no attribute {name!r}")
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "__version__",
    "AuthError",
    "BatchspecError",
    "BudgetError",
    "Diagnostic",
    "ExitCode",
    "InputError",
    "JobSpec",
    "Plan",
    "ProviderError",
    "RunOptions",
    "RunSummary",
    "SpecError",
    "StateError",
    "build_plan",
    "emit",
    "load_spec",
    "run_job",
]
