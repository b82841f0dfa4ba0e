"""``response_schema`` translated into what each provider's structured outputs accept.

Each provider takes a subset of JSON Schema. Where the translation only narrows what an answer may
be (an object closed with ``additionalProperties: false``), the answer still matches the user's
schema and nothing needs saying. Where the provider cannot hold a construct, `validate` names it:
OpenAI then gets the schema with ``strict: false`` (a hint, not a guarantee); Anthropic gets it
through the SDK's own ``transform_schema``, which moves unsupported constraints into descriptions.
Either way every answer is checked against the user's original schema (``runner/finish.py``).
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

Path = tuple[str | int, ...]

# OpenAI strict mode: the keywords of its "Supported schemas" list (platform.openai.com/docs/
# guides/structured-outputs#supported-schemas); anything else makes the API refuse the schema
# ("In context=(...), 'X' is not permitted.").
OPENAI_STRICT_KEYWORDS = frozenset(
    [
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "const",
        "anyOf",
        "$ref",
        "$defs",
        "definitions",
        "description",
        "title",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minItems",
        "maxItems",
    ]
)
# What anthropic.transform_schema (SDK 2.x, lib/_parse/_transform.py) keeps; the rest it moves into
# the description, as the API refuses it ("For 'integer' type, property 'minimum' is not supported").
ANTHROPIC_KEYWORDS = frozenset(
    ["type", "anyOf", "oneOf", "allOf", "enum", "const", "description", "title", "properties"]
    + ["additionalProperties", "required", "items", "$defs", "$ref"]
)
ANTHROPIC_STRING_FORMATS = frozenset(
    ["date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"]
)


@dataclass(frozen=True)
class Issue:
    path: Path  # inside the schema
    message: str
    error: bool = False  # the provider refuses it outright: a validate error, not a warning


@dataclass(frozen=True)
class Translation:
    body: dict[str, Any]  # what goes into the request (response_format or output_config.format)
    issues: tuple[Issue, ...]


def _is_object(node: Mapping[str, Any]) -> bool:
    kind = node.get("type")
    return kind == "object" or (isinstance(kind, list) and "object" in kind) or "properties" in node


def _children(node: Mapping[str, Any], path: Path) -> Iterator[tuple[Any, Path]]:
    for key in ("properties", "$defs", "definitions"):
        if isinstance(node.get(key), Mapping):
            for name, child in node[key].items():
                yield child, (*path, key, name)
    if isinstance(node.get("items"), Mapping):
        yield node["items"], (*path, "items")
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(node.get(key), list):
            for i, child in enumerate(node[key]):
                yield child, (*path, key, i)


def _openai_issues(node: Any, path: Path) -> Iterator[Issue]:
    if not isinstance(node, Mapping):
        return
    for key in node:
        if key not in OPENAI_STRICT_KEYWORDS:
            yield Issue((*path, key), f"'{key}' is not supported by OpenAI's strict structured outputs")
    if _is_object(node):
        extra = node.get("additionalProperties", False)
        if extra is not False:
            yield Issue((*path, "additionalProperties"), "allows properties beyond those listed; strict mode cannot")
        optional = [p for p in node.get("properties", {}) if p not in node.get("required", [])]
        if optional:
            names = ", ".join(optional)
            yield Issue(
                (*path, "required") if "required" in node else path,
                f"optional properties ({names}); OpenAI's strict mode needs every property required",
            )
    for child, child_path in _children(node, path):
        yield from _openai_issues(child, child_path)


def _closed(node: Any) -> Any:
    """``node`` with every object that does not say otherwise closed (additionalProperties: false)."""
    if isinstance(node, list):
        return [_closed(n) for n in node]
    if not isinstance(node, Mapping):
        return node
    out = {k: _closed(v) if k not in ("enum", "const", "required") else v for k, v in node.items()}
    if _is_object(node) and "additionalProperties" not in node:
        out["additionalProperties"] = False
    return out


@functools.lru_cache(maxsize=64)
def _openai(schema_json: str) -> Translation:
    schema = json.loads(schema_json)
    if schema.get("type") != "object":
        root = schema.get("type", "untyped")
        issue = Issue((), f"OpenAI structured outputs need an object at the root, not {root}", error=True)
        return Translation({}, (issue,))
    issues = tuple(_openai_issues(schema, ()))
    strict = not issues
    fmt = {"name": "output", "schema": _closed(schema) if strict else schema, "strict": strict}
    return Translation({"type": "json_schema", "json_schema": fmt}, issues)


def _anthropic_issues(node: Any, path: Path) -> Iterator[Issue]:
    if not isinstance(node, Mapping):
        return
    typed = any(k in node for k in ("type", "anyOf", "oneOf", "allOf", "$ref")) or node.get("enum") or "const" in node
    if not typed:
        yield Issue(path, "Anthropic structured outputs need a 'type' (or anyOf, enum, const) here", error=True)
    for key, value in node.items():
        kept = key in ANTHROPIC_KEYWORDS or (key == "enum" and bool(value)) or key == "const"
        kept = kept or (key == "format" and value in ANTHROPIC_STRING_FORMATS)
        kept = kept or (key == "minItems" and value in (0, 1))
        if not kept:
            yield Issue(
                (*path, key), f"'{key}' is not enforced by Anthropic's structured outputs (sent as a description)"
            )
    if _is_object(node) and node.get("additionalProperties", False) is not False:
        yield Issue((*path, "additionalProperties"), "Anthropic closes every object: no extra properties will come")
    for child, child_path in _children(node, path):
        yield from _anthropic_issues(child, child_path)


def _split_types(node: Any) -> Any:
    """``type: [string, "null"]`` as ``anyOf`` of one type each (the SDK's transform takes one type)."""
    if isinstance(node, list):
        return [_split_types(n) for n in node]
    if not isinstance(node, Mapping):
        return node
    out = {k: _split_types(v) if k not in ("enum", "const", "required") else v for k, v in node.items()}
    kinds = out.get("type")
    if isinstance(kinds, list) and "anyOf" not in out:
        del out["type"]
        out["anyOf"] = [_one_type(out, kind) for kind in kinds]
        for key in ("properties", "required", "additionalProperties", "items"):
            out.pop(key, None)
    return out


def _one_type(node: Mapping[str, Any], kind: str) -> dict[str, Any]:
    branch: dict[str, Any] = {"type": kind}
    if kind == "object":
        branch.update({k: node[k] for k in ("properties", "required", "additionalProperties") if k in node})
    elif kind == "array" and "items" in node:
        branch["items"] = node["items"]
    return branch


@functools.lru_cache(maxsize=64)
def _anthropic(schema_json: str) -> Translation:
    import anthropic

    schema = json.loads(schema_json)
    issues = tuple(_anthropic_issues(schema, ()))
    if any(i.error for i in issues):
        return Translation({}, issues)
    try:
        translated = anthropic.transform_schema(_split_types(schema))
    except (ValueError, TypeError, AssertionError) as error:  # a construct the SDK cannot translate
        return Translation({}, (Issue((), f"Anthropic's SDK cannot translate this schema: {error}", error=True),))
    return Translation({"type": "json_schema", "schema": translated}, issues)


def translate(wire: str, schema: Mapping[str, Any]) -> Translation:
    """The provider's form of ``schema`` and what it cannot hold (cached: bodies are built per record)."""
    key = json.dumps(schema, default=dict)  # key order kept: the model writes properties in it
    found = _anthropic(key) if wire == "anthropic" else _openai(key)
    return Translation(copy.deepcopy(found.body), found.issues)
