"""Structural validation against ``schemas/batchspec.schema.json``, with located, readable errors.

The schema file is the single structural definition. Its provider list is overwritten at load time
from the provider registry, so adding an adapter needs no schema edit (a test keeps the file's copy,
which editors read, in step). jsonschema's messages are rewritten into one line each that names
the key and suggests the fix; ``x-hint`` and ``x-message`` keywords in the schema supply hints.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError

from batchspec.errors import Diagnostic
from batchspec.spec.suggest import closest
from batchspec.spec.yamlsrc import Locator, Path

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


@cache
def spec_schema() -> dict[str, Any]:
    """The JSON Schema of a v1 spec (a test keeps its provider list equal to the registry's)."""
    text = resources.files("batchspec").joinpath("schemas/batchspec.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(spec_schema())


def schema_diagnostics(data: Any, locator: Locator) -> list[Diagnostic]:
    """Every structural problem in ``data``, each located."""
    found: list[Diagnostic] = []
    for error in _validator().iter_errors(data):
        found.extend(_translate(error, locator))
    return _dedupe(found)


def _dedupe(found: Iterable[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple[int, int, str, str]] = set()
    unique = []
    for d in found:
        key = (d.line, d.column, d.path, d.message)
        if key not in seen:
            seen.add(key)
            unique.append(d)
    return unique


def _translate(error: ValidationError, locator: Locator) -> list[Diagnostic]:
    path: Path = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    kind = error.validator
    if kind == "additionalProperties":
        return _unknown_keys(error, path, locator)
    if kind in ("oneOf", "anyOf"):
        branch = _matching_branch(error)
        if branch is not None:
            return [d for sub in branch for d in _translate(sub, locator)]
        message = schema.get("x-message") or _what_is_expected(schema)
        return [locator.diagnostic(path, message, schema.get("x-hint", ""))]
    if kind == "required":
        missing = str(error.message).split("'")[1]
        hint = _describe(schema.get("properties", {}).get(missing, {}))
        return [locator.diagnostic(path, f"missing required key '{missing}'", hint)]
    if kind == "const":
        return [locator.diagnostic(path, f"must be {error.validator_value!r}, not {error.instance!r}")]
    if kind == "enum":
        return [_enum(error, path, locator)]
    if kind == "type":
        expected = _type_phrase(_value(error))
        return [locator.diagnostic(path, f"expected {expected}, got {_show(error.instance)}", _describe(schema))]
    if kind == "pattern":
        hint = schema.get("x-hint") or f"must match {error.validator_value}"
        return [locator.diagnostic(path, f"{_show(error.instance)} is not valid", hint)]
    if kind == "not":
        return [locator.diagnostic(path, schema.get("x-message") or error.message)]
    return [locator.diagnostic(path, _plain(error), schema.get("x-hint", ""))]


def _value(error: ValidationError) -> Any:
    """The failed keyword's value (typed loosely by the stubs)."""
    return error.validator_value


def _unknown_keys(error: ValidationError, path: Path, locator: Locator) -> list[Diagnostic]:
    schema: Any = error.schema
    allowed = sorted(schema.get("properties", {}))
    result = []
    instance: Any = error.instance
    for key in instance:
        if key in allowed:
            continue
        close = closest(key, allowed)
        homes = [home for home in key_homes().get(key, ()) if home != dotted_schema_path(path)]
        if key in ("api_key", "apikey", "key", "token"):
            hint = "keys never go in the spec: set api_key_env to the name of an environment variable"
        elif homes:  # a key indented to the wrong level
            hint = f"`{key}` is a key of " + " or ".join(f"`{home}`" for home in homes)
        elif close:
            hint = f"did you mean '{close}'?"
        else:
            hint = "allowed here: " + ", ".join(allowed)
        result.append(locator.diagnostic((*path, key), f"unknown key '{key}'", hint, at_key=True))
    return result


@cache
def key_homes() -> dict[str, tuple[str, ...]]:
    """Each key of the schema → the sections it belongs to (``params`` → ``model``), from the schema."""
    homes: dict[str, list[str]] = {}

    def walk(node: Any, where: str, refs: tuple[str, ...]) -> None:
        if not isinstance(node, dict):
            return
        ref = node.get("$ref")
        if isinstance(ref, str) and ref not in refs:
            walk(_resolve_ref(node, None), where, (*refs, ref))
        for key, child in node.get("properties", {}).items():
            if where and where not in homes.setdefault(key, []):
                homes[key].append(where)
            walk(child, f"{where}.{key}" if where else key, refs)
        for branch in (*node.get("oneOf", ()), *node.get("anyOf", ()), *node.get("allOf", ())):
            walk(branch, where, refs)
        walk(node.get("items"), where, refs)
        walk(node.get("additionalProperties"), f"{where}.MODEL" if where == "pricing" else f"{where}.NAME", refs)

    walk(spec_schema(), "", ())
    return {key: tuple(places) for key, places in homes.items()}


def dotted_schema_path(path: Path) -> str:
    """A spec path as the sections of ``key_homes`` name it (list indexes left out)."""
    return ".".join(str(part) for part in path if not isinstance(part, int))


def _matching_branch(error: ValidationError) -> list[ValidationError] | None:
    """For a oneOf/anyOf of differently typed branches, the errors of the branch whose type fits."""
    branches: Any = _value(error)
    for index, branch in enumerate(branches):
        resolved = _resolve_ref(branch, error)
        expected = resolved.get("type")
        if expected is None:
            continue
        if _is_type(error.instance, expected):
            return [sub for sub in error.context or () if sub.relative_schema_path[0] == index]
    return None


def _resolve_ref(branch: dict[str, Any], error: ValidationError | None) -> dict[str, Any]:
    ref = branch.get("$ref")
    if not ref:
        return branch
    node: Any = spec_schema()
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node  # type: ignore[no-any-return]


def _is_type(instance: Any, expected: str | list[str]) -> bool:
    types = [expected] if isinstance(expected, str) else expected
    return any(_validator().is_type(instance, t) for t in types)


def _enum(error: ValidationError, path: Path, locator: Locator) -> Diagnostic:
    options = [str(o) for o in _value(error)]
    close = difflib.get_close_matches(str(error.instance), options, n=1, cutoff=0.5)
    hint = f"did you mean '{close[0]}'?" if close else ""
    message = f"{_show(error.instance)} is not one of: {', '.join(options)}"
    return locator.diagnostic(path, message, hint)


def _what_is_expected(schema: dict[str, Any]) -> str:
    return f"expected {_describe(schema) or 'a different value'}"


def _describe(schema: dict[str, Any]) -> str:
    if schema.get("x-hint"):
        return str(schema["x-hint"])
    text = str(schema.get("description", ""))
    return re.split(r"\.\s+(?=[A-Z`])", text)[0].rstrip(".") if text else ""


def _type_phrase(expected: str | list[str]) -> str:
    types = [expected] if isinstance(expected, str) else expected
    return " or ".join(_TYPE_NAMES.get(t, t) for t in types)


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:37] + "...")
    return f"{type(value).__name__} {value!r}"


def _plain(error: ValidationError) -> str:
    kind, limit = error.validator, error.validator_value
    phrases = {
        "minimum": f"must be at least {limit}",
        "exclusiveMinimum": f"must be more than {limit}",
        "maximum": f"must be at most {limit}",
        "minLength": "must not be empty" if limit == 1 else f"must have at least {limit} characters",
        "minItems": "must not be empty" if limit == 1 else f"must have at least {limit} items",
        "uniqueItems": "has duplicate items",
    }
    return phrases.get(str(kind), str(error.message))


def schema_copy() -> dict[str, Any]:
    """A copy callers may change (the CLI prints it)."""
    return copy.deepcopy(spec_schema())
