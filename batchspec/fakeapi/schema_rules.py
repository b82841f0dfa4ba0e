"""The subsets of JSON Schema each provider's structured outputs accept, refused in their words.

OpenAI: the root must be an object; in strict mode every object closed, every property required
and only the supported keywords. Anthropic (``output_config.format``): every object closed and no
numeric or length constraints.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from batchspec.providers.structured import OPENAI_STRICT_KEYWORDS

# Constraints Anthropic's grammar refuses ("For 'integer' type, property 'minimum' is not supported").
ANTHROPIC_REFUSED = frozenset(
    ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength"]
    + ["maxItems"]
)


def _nodes(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[Mapping[str, Any], tuple[str, ...]]]:
    if not isinstance(node, Mapping):
        return
    yield node, path
    for key in ("properties", "$defs", "definitions"):
        if isinstance(node.get(key), Mapping):
            for name, child in node[key].items():
                yield from _nodes(child, (*path, key, name))
    if isinstance(node.get("items"), Mapping):
        yield from _nodes(node["items"], (*path, "items"))
    for key in ("anyOf", "oneOf", "allOf"):
        for i, child in enumerate(node.get(key) or []):
            yield from _nodes(child, (*path, key, str(i)))


def _is_object(node: Mapping[str, Any]) -> bool:
    return node.get("type") == "object" or "properties" in node


def openai_schema_error(name: str, schema: Any, strict: bool) -> str | None:
    """The API's message for a response_format schema it refuses, or None."""
    prefix = f"Invalid schema for response_format '{name}': "
    if not isinstance(schema, Mapping) or schema.get("type") != "object":
        got = schema.get("type") if isinstance(schema, Mapping) else None
        return prefix + f"schema must be a JSON Schema of 'type: \"object\"', got 'type: \"{got}\"'."
    if not strict:
        return None
    for node, path in _nodes(schema):
        for key in node:
            if key not in OPENAI_STRICT_KEYWORDS:
                return prefix + f"In context={path}, '{key}' is not permitted."
        if not _is_object(node):
            continue
        if node.get("additionalProperties") is not False:
            return prefix + f"In context={path}, 'additionalProperties' is required to be supplied and to be false."
        missing = [p for p in node.get("properties", {}) if p not in node.get("required", [])]
        if missing:
            return prefix + (
                f"In context={path}, 'required' is required to be supplied and to be an array including every "
                f"key in properties. Missing '{missing[0]}'."
            )
    return None


def anthropic_schema_error(schema: Any) -> str | None:
    prefix = "output_config.format.schema: "
    for node, _ in _nodes(schema):
        kind = node.get("type", "object" if "properties" in node else "any")
        refused = sorted(ANTHROPIC_REFUSED & set(node)) + (["minItems"] if node.get("minItems", 0) > 1 else [])
        if refused:
            return prefix + f"For '{kind}' type, property '{refused[0]}' is not supported"
        if _is_object(node) and node.get("additionalProperties") is not False:
            return prefix + "For 'object' type, 'additionalProperties' must be explicitly set to false"
    return None
