"""Fast paths for the per-record work of rendering, with results identical to the general path.

Most prompts are text with ``{{ field }}`` holes, and a request body's shape does not depend on the
text put into it. So instead of a Jinja render plus a full JSON encoding per record, a simple
template becomes a list of literal parts and field names, and a model's body becomes canonical
JSON bytes with gaps where the variable messages go. Anything that does not fit these shapes (a
filter, a loop, a missing field, a varying prompt prefix) takes the general path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jinja2
import orjson
from jinja2 import meta, nodes

Part = tuple[bool, str]  # (is a field name, text)


def simple_parts(env: jinja2.Environment, text: str) -> list[Part] | None:
    """The template as literal text and bare ``{{ name }}`` lookups, or None if it does more."""
    tree = env.parse(text)
    body = tree.body
    if not body:
        return []
    if len(body) != 1 or not isinstance(body[0], nodes.Output):
        return None
    # A name Jinja looks up in the context (the record first, then its globals); not one it
    # resolves itself, such as ``self``.
    looked_up = meta.find_undeclared_variables(tree) | set(env.globals)
    parts: list[Part] = []
    for node in body[0].nodes:
        if isinstance(node, nodes.TemplateData):
            parts.append((False, node.data))
        elif isinstance(node, nodes.Name) and node.ctx == "load" and node.name in looked_up:
            parts.append((True, node.name))
        else:
            return None
    return parts


def render_simple(parts: list[Part], record: Mapping[str, Any]) -> str | None:
    """Render like Jinja (``str()`` of each value); None when a name is not a field of the record,
    so the general path can report it (or find it among Jinja's globals) exactly as Jinja would."""
    out = []
    for is_name, text in parts:
        if not is_name:
            out.append(text)
            continue
        try:
            value = record[text]
        except (KeyError, TypeError):
            return None
        out.append(value if type(value) is str else str(value))
    return "".join(out)


class BodyTemplate:
    """A model's canonical request body with the variable message texts left out: filling it in is
    a join of bytes instead of building and encoding a dict."""

    SENTINEL = "\x00batchspec-slot-{}\x00"

    def __init__(self, pieces: list[bytes], slots: list[int]) -> None:
        self.pieces = pieces  # len(slots) + 1 byte strings around the holes
        self.slots = slots  # which message fills each hole, in order of appearance
        self._holes = list(zip(slots, pieces[1:], strict=True))  # (message, the bytes after its hole)

    @classmethod
    def build(cls, encode: Any, variable: list[int]) -> BodyTemplate | None:
        """``encode(texts)`` gives the canonical body for message texts; ``variable`` are the message
        indexes whose text varies. None if the body does not hold each variable text exactly once."""
        sentinels = {i: cls.SENTINEL.format(i) for i in variable}
        body = encode(sentinels)
        found = []
        for i, sentinel in sentinels.items():
            encoded = orjson.dumps(sentinel)
            if body.count(encoded) != 1:
                return None
            found.append((body.index(encoded), i, encoded))
        found.sort()
        pieces, slots, start = [], [], 0
        for position, index, encoded in found:
            pieces.append(body[start:position])
            slots.append(index)
            start = position + len(encoded)
        pieces.append(body[start:])
        return cls(pieces, slots)

    def fill(self, texts: Sequence[str] | Mapping[int, str]) -> bytes:
        """The body with ``texts[i]`` in message ``i``'s hole."""
        if len(self._holes) == 1:  # most prompts: one varying message
            index, tail = self._holes[0]
            return self.pieces[0] + orjson.dumps(texts[index]) + tail
        out = [self.pieces[0]]
        for index, piece in self._holes:
            out.append(orjson.dumps(texts[index]))
            out.append(piece)
        return b"".join(out)
