"""The one error hierarchy of batchspec, and the exit code each kind maps to.

    BatchspecError
    ├── SpecError        the job spec is wrong (one or more located diagnostics)   exit 2
    ├── InputError       an input file or record is wrong                           exit 2
    ├── ProviderError    a provider or the network stopped the run                  exit 3
    │   └── AuthError    rejected API key
    │       └── KeyUnusable  no key, or one with whitespace in it: found before sending  exit 2
    ├── StateError       the state file is unusable, locked or from a newer version exit 2
    │   └── StateLocked  another run holds the job's run lock
    ├── BudgetError      the run would exceed execution.max_cost_usd               exit 2
    └── Interrupted      Ctrl-C or SIGTERM                                 exit 130 or 75

Dependency exceptions (SDK, sqlite, pyarrow) are translated into these where they are raised,
so the CLI has exactly one place (``exit_code_for``) that maps errors to exit codes.
"""

from __future__ import annotations

from dataclasses import dataclass


class ExitCode:
    OK = 0
    RECORDS_FAILED = 1
    INVALID = 2
    PROVIDER = 3
    IN_FLIGHT = 75
    INTERNAL = 70  # a bug in batchspec (sysexits' EX_SOFTWARE)
    INTERRUPTED = 130  # Ctrl-C or SIGTERM before anything was sent (128 + SIGINT, as shells report it)


@dataclass(frozen=True)
class Diagnostic:
    """One located problem: ``file:line:col: path: message (hint)``."""

    file: str
    line: int
    column: int
    path: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        text = f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class BatchspecError(Exception):
    """Base class: every error batchspec reports to a user."""

    exit_code = ExitCode.INVALID


class SpecError(BatchspecError):
    """The spec is invalid; carries every diagnostic found, not just the first."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics, key=lambda d: (d.file, d.line, d.column))
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class InputError(BatchspecError):
    """An input file or one of its records cannot be used."""


class StateError(BatchspecError):
    """The state file is corrupt, foreign, from a newer batchspec, or locked by another run."""


class StateLocked(StateError):
    """Another live run holds the job's run lock; ``holder`` says who."""

    def __init__(self, message: str, holder: str) -> None:
        super().__init__(message)
        self.holder = holder


class ProviderError(BatchspecError):
    """A provider or the network failed in a way that stops the run."""

    exit_code = ExitCode.PROVIDER

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status, None when the provider was not reached


class AuthError(ProviderError):
    """The provider rejected the API key (a missing or malformed one is ``KeyUnusable``)."""


class KeyUnusable(AuthError):
    """The key's variable is unset, empty or holds whitespace: a setup mistake, so exit 2, not 3."""

    exit_code = ExitCode.INVALID


class Interrupted(BatchspecError):
    """Ctrl-C or SIGTERM: 130 before anything was sent, 75 once work is in flight."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class BudgetError(BatchspecError):
    """Submitting would exceed the spec's cost budget (nothing is sent)."""
