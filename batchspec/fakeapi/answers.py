"""Deterministic answer content derived from the request.

- A last user message containing ``one word:`` followed by options ("positive, negative or
  neutral") is answered with one of those words, picked by a hash of the request body. When the
  options are sentiments, a toy word-list heuristic picks the one the text seems to express
  ("Broke after two days" → negative), so the quickstart's answers look plausible; it is a toy,
  not a classifier.
- A structured-output request is answered with a JSON instance of its schema (see
  ``schema_instance``).
- Anything else gets ``Fake answer to: <first 60 characters of the last user message>``.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from batchspec.tokens import content_texts

_ONE_WORD = re.compile(r"one word\s*:\s*(.+)", re.IGNORECASE | re.DOTALL)
_SPLIT_OPTIONS = re.compile(r",|/|\||\bor\b", re.IGNORECASE)


def body_digest(body: Mapping[str, Any]) -> bytes:
    """A hash of the request body that ignores key order and whitespace."""
    return hashlib.blake2b(orjson.dumps(body, option=orjson.OPT_SORT_KEYS), digest_size=16).digest()


def digest_int(digest: bytes) -> int:
    return int.from_bytes(digest[:8], "big")


def last_user_text(messages: Any) -> str:
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return "\n".join(content_texts(message.get("content")))
    return ""


def word_options(text: str) -> list[str]:
    """The options after "one word:", e.g. ["positive", "negative", "neutral"]."""
    match = _ONE_WORD.search(text)
    if not match:
        return []
    tail = match.group(1).strip().splitlines()[0] if match.group(1).strip() else ""
    tail = re.split(r"[.?!;](?:\s|$)", tail)[0]
    options = []
    for part in _SPLIT_OPTIONS.split(tail):
        word = part.strip().strip("\"'`*()[]{}<>.:").strip()
        if word and word not in options:
            options.append(word)
    return options


def text_answer(messages: Any, digest: bytes) -> str:
    text = last_user_text(messages)
    options = word_options(text)
    if options:
        return toy_sentiment(text, options) or options[digest_int(digest) % len(options)]
    return "Fake answer to: " + text[:60]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_POSITIVE = _words(
    "good great best love loves loved happy excellent exactly perfect sturdy quiet easy fast comfortable "
    "sleek powerful recommended value stars works worked advertised needed nice amazing"
)
_NEGATIVE = _words(
    "bad broke broken never not terrible awful poor stopped returned refund loud flimsy overpriced confusing "
    "damaged disappointed smells worst cheap useless"
)
_NEUTRAL = _words("fine average okay ok nothing special")
_WORDS = re.compile(r"[a-z']+")


def toy_sentiment(text: str, options: list[str]) -> str | None:
    """positive, negative or neutral, by counting words of small lists; None unless those are the
    options. A toy for the offline quickstart, nothing more."""
    by_name = {o.lower(): o for o in options}
    if not {"positive", "negative"} <= set(by_name):
        return None
    words = _WORDS.findall(_ONE_WORD.split(text)[0].lower())
    score = sum(w in _POSITIVE for w in words) - sum(w in _NEGATIVE for w in words)
    neutral = any(w in _NEUTRAL for w in words)
    if "neutral" in by_name and (score == 0 or (neutral and abs(score) <= 1)):
        return by_name["neutral"]
    return by_name["positive"] if score > 0 else by_name["negative"]


def schema_instance(schema: Mapping[str, Any], digest: bytes) -> Any:
    """A JSON value that validates against a (simple) JSON Schema.

    Objects get every property (required or not); enums and booleans are picked by the hash;
    arrays get ``max(1, minItems)`` items; numbers and strings respect their bounds and formats.
    """
    return _Generator(schema, digest_int(digest)).make(schema, "value", 0)


_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00",
    "email": "fake@example.com",
    "uri": "https://example.com/fake",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
}


class _Generator:
    def __init__(self, root: Mapping[str, Any], seed: int) -> None:
        self.root = root
        self.seed = seed

    def pick(self, n: int, salt: str) -> int:
        digest = hashlib.blake2b(f"{self.seed}:{salt}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") % n

    def resolve(self, ref: str) -> Mapping[str, Any]:
        node: Any = self.root
        for part in ref.lstrip("#").strip("/").split("/"):
            if part:
                node = node[part.replace("~1", "/").replace("~0", "~")]
        return node  # type: ignore[no-any-return]

    def make(self, schema: Any, name: str, depth: int) -> Any:
        if not isinstance(schema, Mapping) or depth > 16:
            return None
        if "$ref" in schema:
            return self.make(self.resolve(schema["$ref"]), name, depth + 1)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return schema["enum"][self.pick(len(schema["enum"]), name)]
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                non_null = [o for o in options if not (isinstance(o, Mapping) and o.get("type") == "null")]
                pool = non_null or options
                return self.make(pool[self.pick(len(pool), name + key)], name, depth + 1)
        if isinstance(schema.get("allOf"), list):
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for sub in schema["allOf"]:
                sub = self.resolve(sub["$ref"]) if isinstance(sub, Mapping) and "$ref" in sub else sub
                if isinstance(sub, Mapping):
                    for key, value in sub.items():
                        if key in ("properties",) and key in merged:
                            merged[key] = {**merged[key], **value}
                        elif key == "required" and key in merged:
                            merged[key] = [*merged[key], *value]
                        else:
                            merged.setdefault(key, value)
            return self.make(merged, name, depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"]
            kind = kinds[0] if kinds else "null"
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
        maker = getattr(self, "make_" + str(kind), None)
        return maker(schema, name, depth) if maker else None

    def make_object(self, schema: Mapping[str, Any], name: str, depth: int) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        out = {key: self.make(sub, key, depth + 1) for key, sub in properties.items()}
        for key in schema.get("required") or ():
            out.setdefault(key, "fake " + key)
        return out

    def make_array(self, schema: Mapping[str, Any], name: str, depth: int) -> list[Any]:
        prefix = schema.get("prefixItems") or []
        count = max(1, int(schema.get("minItems", 1)), len(prefix))
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        items = schema.get("items", {})
        out: list[Any] = []
        for i in range(count):
            sub = prefix[i] if i < len(prefix) else items
            value = self.make(sub, f"{name}[{i}]", depth + 1)
            if schema.get("uniqueItems") and value in out and isinstance(value, str):
                value = f"{value} {i}"
            out.append(value)
        return out

    def make_string(self, schema: Mapping[str, Any], name: str, depth: int) -> str:
        fmt = schema.get("format")
        if fmt == "uuid":
            value = str(uuid.UUID(int=self.seed ^ self.pick(2**63, name)))
        else:
            value = _FORMATS.get(str(fmt), "fake " + name)
        minimum = int(schema.get("minLength", 0))
        maximum = schema.get("maxLength")
        if len(value) < minimum:
            value += "x" * (minimum - len(value))
        if maximum is not None:
            value = value[: int(maximum)]
        return value

    def make_integer(self, schema: Mapping[str, Any], name: str, depth: int) -> int:
        low, low_excl = _bound(schema, "minimum", "exclusiveMinimum")
        high, high_excl = _bound(schema, "maximum", "exclusiveMaximum")
        low_i = None if low is None else math.floor(low) + 1 if low_excl else math.ceil(low)
        high_i = None if high is None else math.ceil(high) - 1 if high_excl else math.floor(high)
        if low_i is not None and high_i is not None and high_i >= low_i:
            value = low_i + self.pick(high_i - low_i + 1, name)
        elif low_i is not None:
            value = low_i
        else:
            value = 1 if high_i is None else min(1, high_i)
        step = schema.get("multipleOf")
        if isinstance(step, int) and step > 0 and value % step:
            value += step - value % step
        return value

    def make_number(self, schema: Mapping[str, Any], name: str, depth: int) -> float:
        low, low_excl = _bound(schema, "minimum", "exclusiveMinimum")
        high, high_excl = _bound(schema, "maximum", "exclusiveMaximum")
        if low is not None and high is not None:
            return (low + high) / 2
        if low is not None:
            return low + 1 if low_excl else low
        if high is not None:
            return min(0.5, high - 1 if high_excl else high)
        return 0.5

    def make_boolean(self, schema: Mapping[str, Any], name: str, depth: int) -> bool:
        return self.pick(2, name) == 0

    def make_null(self, schema: Mapping[str, Any], name: str, depth: int) -> None:
        return None


def _bound(schema: Mapping[str, Any], inclusive: str, exclusive: str) -> tuple[float | None, bool]:
    """A numeric bound and whether it is exclusive (draft 2020-12 or draft-4 style)."""
    excl = schema.get(exclusive)
    if isinstance(excl, (int, float)) and not isinstance(excl, bool):
        return float(excl), True
    value = schema.get(inclusive)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), excl is True
    return None, False
