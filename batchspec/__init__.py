"""batchspec: declarative LLM batch jobs.

The command line is a thin layer over this API::

    import batchspec

    spec = batchspec.load_spec("job.yaml")          # SpecError with every problem, located
    with batchspec.build_plan(spec) as plan:         # what a run would send, and its estimate
        print(plan.to_dict())
    summary = batchspec.run_job(spec)                # RunSummary; safe to repeat
"""

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
from batchspec.plan import Plan, build_plan, emit
from batchspec.runner import RunOptions, RunSummary, run_job
from batchspec.spec.load import load_spec
from batchspec.spec.model import JobSpec
from batchspec.version import __version__

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
