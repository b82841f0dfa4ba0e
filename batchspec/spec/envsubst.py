"""``${VAR}`` references in spec strings, resolved from the environment.

``$${VAR}`` is a literal ``${VAR}``. Variables whose names look like secrets are refused: a spec
(perhaps from an untrusted pull request) must not be able to copy a key into a prompt, an output
or a log. Keys are named with ``api_key_env`` and read only by the provider adapters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from batchspec.errors import Diagnostic
from batchspec.spec.yamlsrc import Locator, Path

UNTRUSTED: Mapping[str, str] = {}  # stands for "no environment at all" (--untrusted)
_REFERENCE = re.compile(r"\$(\$?)\{([^}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)


def substitute(
    data: Any, locator: Locator, environ: Mapping[str, str], path: Path = ()
) -> tuple[Any, list[Diagnostic]]:
    """Return ``data`` with references replaced, and a diagnostic for each bad reference."""
    errors: list[Diagnostic] = []
    return _walk(data, path, locator, environ, errors), errors


def _walk(data: Any, path: Path, locator: Locator, environ: Mapping[str, str], errors: list[Diagnostic]) -> Any:
    if isinstance(data, dict):
        return {k: _walk(v, (*path, k), locator, environ, errors) for k, v in data.items()}
    if isinstance(data, list):
        return [_walk(v, (*path, i), locator, environ, errors) for i, v in enumerate(data)]
    if isinstance(data, str) and "${" in data:
        return _REFERENCE.sub(lambda m: _resolve(m, path, locator, environ, errors), data)
    return data


def _resolve(
    match: re.Match[str], path: Path, locator: Locator, environ: Mapping[str, str], errors: list[Diagnostic]
) -> str:
    escaped, name = match.group(1), match.group(2)
    if escaped:
        return "${" + name + "}"
    if not _NAME.fullmatch(name):
        errors.append(
            locator.diagnostic(
                path,
                f"'${{{name}}}' is not a valid variable reference",
                "write ${NAME}, or $${...} for a literal",
            )
        )
        return match.group(0)
    if environ is UNTRUSTED:
        errors.append(locator.diagnostic(path, f"refusing ${{{name}}}", "untrusted specs cannot read the environment"))
        return match.group(0)
    if _SECRET_NAME.search(name):
        errors.append(
            locator.diagnostic(
                path,
                f"refusing to put ${{{name}}} into the spec",
                "it looks like a secret; name API keys with model.api_key_env",
            )
        )
        return match.group(0)
    if name not in environ:
        errors.append(
            locator.diagnostic(
                path, f"environment variable {name} is not set", "set it, or write $${...} for a literal"
            )
        )
        return match.group(0)
    value = environ[name]
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # bytes the OS could not decode, kept as surrogate escapes
        errors.append(locator.diagnostic(path, f"environment variable {name} is not UTF-8 text", "fix its value"))
        return match.group(0)
    return value
