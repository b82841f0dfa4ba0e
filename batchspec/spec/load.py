"""Load a spec file: YAML → version check → ``${VAR}`` → schema → JobSpec → semantic checks."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from batchspec.errors import Diagnostic, SpecError
from batchspec.spec import checks
from batchspec.spec.build import Builder
from batchspec.spec.envsubst import UNTRUSTED, substitute
from batchspec.spec.model import JobSpec
from batchspec.spec.schema import schema_diagnostics
from batchspec.spec.yamlsrc import Locator, load_yaml
from batchspec.state.remote import is_remote
from batchspec.version import __version__

SUPPORTED_VERSIONS = (1,)


def load_spec(
    path: str | Path,
    *,
    state_path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    check_sample: bool = True,
    check_input: bool = True,
    untrusted: bool = False,
) -> JobSpec:
    """The validated spec at ``path``; raises SpecError with every problem found.

    ``untrusted`` (a spec from a pull request): no ``${VAR}`` is read, and every file the spec
    names (input, template, state, response cache) must be inside the spec's directory, symlinks
    resolved. ``check_sample`` also renders the first input records to catch missing template
    variables. ``check_input=False`` (commands that only read the state: status, report, cancel)
    does not require the input to exist, and does not read it.
    """
    try:
        return _load_spec(
            path,
            state_path=state_path,
            environ=environ,
            check_sample=check_sample,
            check_input=check_input,
            untrusted=untrusted,
        )
    except RecursionError:  # a value nested hundreds deep (a response_schema, say)
        hint = "a spec, response_schema included, is a few dozen levels deep at most"
        raise SpecError([Diagnostic(str(path), 1, 1, "", "nested too deeply", hint)]) from None


def _load_spec(
    path: str | Path,
    *,
    state_path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    check_sample: bool = True,
    check_input: bool = True,
    untrusted: bool = False,
) -> JobSpec:
    display = str(path)
    spec_path = Path(path).absolute()
    try:
        if spec_path.is_dir() or spec_path.is_char_device() or spec_path.is_block_device():
            raise OSError("not a file")  # a device would be read forever (a pipe is fine: <(...))
        text = spec_path.read_text("utf-8")
    except FileNotFoundError:
        raise SpecError([Diagnostic(display, 0, 0, "", "no such spec file")]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError([Diagnostic(display, 0, 0, "", f"cannot read the spec: {error}")]) from None
    data, locator = load_yaml(text, display)
    _check_version(data, locator)
    environment = UNTRUSTED if untrusted else (os.environ if environ is None else environ)
    data, errors = substitute(data, locator, environment)
    errors += _non_finite(data, locator, ())
    errors += schema_diagnostics(data, locator)
    builder = Builder(data, locator, spec_path, confined=untrusted, check_input=check_input)
    if errors:
        broken = {str(locator_path[0]) for locator_path in _paths_of(errors, locator)}
        templates = builder.check_sections(broken)
        raise SpecError(errors + builder.errors + checks.syntax_diagnostics(templates))
    override: Path | str | None = None
    if state_path is not None:
        override = str(state_path) if is_remote(state_path) else Path(state_path).absolute()
    spec = builder.build(override)
    errors = builder.errors + checks.template_diagnostics(spec)
    if errors:
        raise SpecError(errors)
    if check_sample and check_input:
        errors = checks.sample_diagnostics(spec)
        if errors:
            raise SpecError(errors)
    return dataclasses.replace(
        spec, warnings=tuple(builder.warnings), notes=tuple(builder.notes), fingerprint=_fingerprint(data, spec)
    )


def _fingerprint(data: Any, spec: JobSpec) -> str:
    """Identifies everything in the spec that shapes requests and outputs (templates from files too)."""
    digest = hashlib.sha256(f"batchspec {__version__}\0".encode())
    digest.update(orjson.dumps(data, option=orjson.OPT_SORT_KEYS, default=str))
    for message in spec.prompt.messages:
        digest.update(b"\0" + message.content.text.encode())
    return digest.hexdigest()


def _paths_of(errors: list[Diagnostic], locator: Locator) -> list[tuple[str, ...]]:
    """The top-level section each diagnostic is in (by its dotted path)."""
    return [(d.path.split(".")[0].split("[")[0],) if d.path else ("",) for d in errors]


def _check_version(data: Any, locator: Locator) -> None:
    """The version decides what the rest means, so it is checked before anything else."""
    if not isinstance(data, dict):
        raise SpecError(
            [locator.diagnostic((), "the spec must be a mapping of keys to values", "start from `batchspec init`")]
        )
    if "version" not in data:
        raise SpecError([locator.diagnostic((), "missing required key 'version'", "add `version: 1` at the top")])
    version = data["version"]
    if version not in SUPPORTED_VERSIONS:
        hint = (
            "this batchspec reads version 1; upgrade batchspec"
            if isinstance(version, int) and version > 1
            else "use `version: 1`"
        )
        raise SpecError([locator.diagnostic(("version",), f"unsupported spec version {version!r}", hint)])


def _non_finite(value: Any, locator: Locator, path: tuple[str | int, ...]) -> list[Diagnostic]:
    """YAML's .nan and .inf pass every range check in the schema (NaN compares false): refuse them."""
    if isinstance(value, float) and not math.isfinite(value):
        return [locator.diagnostic(path, f"{value} is not a number batchspec can use", "write a finite number")]
    if isinstance(value, dict):
        return [d for key, item in value.items() for d in _non_finite(item, locator, (*path, key))]
    if isinstance(value, list):
        return [d for i, item in enumerate(value) for d in _non_finite(item, locator, (*path, i))]
    return []
