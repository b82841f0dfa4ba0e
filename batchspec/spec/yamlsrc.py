"""YAML loading that remembers where every key and value came from.

PyYAML's ``safe_load`` throws line numbers away, so the node tree is walked here instead: values
are constructed with the safe constructor, and each path gets the position of its key and value.
Duplicate keys, which YAML forbids but PyYAML silently overwrites, are reported. Aliases are
counted as they are composed, so a "billion laughs" spec is refused before it is expanded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from batchspec.errors import Diagnostic, SpecError
from batchspec.spec.yamlerrors import yaml_diagnostic

Path = tuple[str | int, ...]

# How many values aliases may add to a spec in all. Sharing a params block a few times costs tens;
# nine levels of nine aliases would cost 387 million (and gigabytes).
ALIAS_BUDGET = 10_000


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based


@dataclass
class Locator:
    """Positions of the spec's values (and of mapping keys) by their path."""

    file: str
    lines: list[str] = field(default_factory=list)
    values: dict[Path, Position] = field(default_factory=dict)
    keys: dict[Path, Position] = field(default_factory=dict)
    # Block scalars (``|``) start their content on the next line; templates need that offset.
    block_scalars: set[Path] = field(default_factory=set)

    def value(self, path: Path) -> Position:
        """The position of the value at ``path``, or of its nearest located ancestor."""
        for end in range(len(path), -1, -1):
            found = self.values.get(path[:end])
            if found:
                return found
        return Position(1, 1)

    def key(self, path: Path) -> Position:
        return self.keys.get(path) or self.value(path)

    def content_line(self, path: Path) -> int:
        """The line on which the text of a string value starts."""
        line = self.value(path).line
        return line + 1 if path in self.block_scalars else line

    def content_column(self, path: Path) -> int:
        """The column where the text of a string value starts (block scalars: its indentation)."""
        if path not in self.block_scalars:
            return self.value(path).column
        line = self.content_line(path)
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return len(text) - len(text.lstrip(" ")) + 1

    def diagnostic(self, path: Path, message: str, hint: str = "", *, at_key: bool = False) -> Diagnostic:
        pos = self.key(path) if at_key else self.value(path)
        return Diagnostic(self.file, pos.line, pos.column, dotted(path), message, hint)


def dotted(path: Path) -> str:
    """``("model", 0, "params")`` → ``model[0].params``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def load_yaml(text: str, file: str) -> tuple[Any, Locator]:
    """Parse ``text`` into plain Python values plus a ``Locator``; YAML errors become SpecError."""
    locator = Locator(file, text.splitlines())
    try:
        loader = _SpecLoader(text, file)
    except yaml.reader.ReaderError as error:  # a character YAML does not allow, found on reading
        line = text.count("\n", 0, error.position) + 1
        column = error.position - (text.rfind("\n", 0, error.position) + 1) + 1
        message = f"invalid YAML: character {error.character!r} is not allowed in YAML"
        raise SpecError([Diagnostic(file, line, column, "", message)]) from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise SpecError([Diagnostic(file, 1, 1, "", "the spec is empty", "start from `batchspec init`")])
        errors: list[Diagnostic] = []
        data = _build(node, (), loader, locator, errors)
        if errors:
            raise SpecError(errors)
        return data, locator
    except yaml.MarkedYAMLError as error:
        raise SpecError([yaml_diagnostic(error, locator.lines, file)]) from None
    except yaml.reader.ReaderError as error:
        message = f"invalid YAML: character {error.character!r} is not allowed in YAML"
        raise SpecError([Diagnostic(file, 1, 1, "", message)]) from None
    except yaml.YAMLError as error:
        raise SpecError([Diagnostic(file, 1, 1, "", f"invalid YAML: {error}")]) from None
    except RecursionError:
        raise SpecError(
            [Diagnostic(file, 1, 1, "", "invalid YAML: nested too deeply", "a spec is a few levels deep")]
        ) from None
    finally:
        loader.dispose()


class _SpecLoader(yaml.SafeLoader):
    """The safe loader, refusing aliases that would expand past ``ALIAS_BUDGET`` or refer to themselves."""

    def __init__(self, text: str, file: str) -> None:
        super().__init__(text)
        self.file = file
        self.alias_cost = 0
        self.sizes: dict[int, int] = {}  # id(node) -> values in it once expanded
        self.open_anchors: set[str] = set()

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            if event.anchor in self.open_anchors:
                self._refuse(
                    event,
                    f"alias *{event.anchor} is used inside the value it names",
                    "an alias must refer to a finished value",
                )
            node = super().compose_node(parent, index)
            self.alias_cost += self._size(node) if node is not None else 0
            if self.alias_cost > ALIAS_BUDGET:
                message = f"aliases expand the spec past {ALIAS_BUDGET:,} values (at *{event.anchor})"
                self._refuse(event, message, "write the values out, or share fewer of them with `&anchor`/`*alias`")
            return node
        anchor = self.peek_event().anchor  # type: ignore[no-untyped-call]
        if anchor is None:
            return super().compose_node(parent, index)
        self.open_anchors.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self.open_anchors.discard(anchor)

    def _size(self, node: yaml.Node) -> int:
        """The number of values ``node`` stands for, aliases inside it expanded (memoised: it is a DAG)."""
        known = self.sizes.get(id(node))
        if known is not None:
            return known
        if isinstance(node, yaml.MappingNode):
            size = 1 + sum(self._size(key) + self._size(value) for key, value in node.value)
        elif isinstance(node, yaml.SequenceNode):
            size = 1 + sum(self._size(item) for item in node.value)
        else:
            size = 1
        self.sizes[id(node)] = size
        return size

    def _refuse(self, event: yaml.Event, message: str, hint: str) -> None:
        mark = event.start_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        raise SpecError([Diagnostic(self.file, line, column, "", f"invalid YAML: {message}", hint)])


def _build(node: yaml.Node, path: Path, loader: yaml.SafeLoader, locator: Locator, errors: list[Diagnostic]) -> Any:
    start = node.start_mark
    locator.values[path] = Position(start.line + 1, start.column + 1)
    if isinstance(node, yaml.MappingNode):
        if node.flow_style and any(isinstance(key, yaml.MappingNode) for key, _ in node.value):
            errors.append(_unquoted_template(node, path, locator))
            return None
        loader.flatten_mapping(node)  # resolves `<<: *anchor` merges
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            child = (*path, key)
            if key in result:
                first = locator.keys[child]
                mark = key_node.start_mark
                errors.append(
                    Diagnostic(
                        locator.file,
                        mark.line + 1,
                        mark.column + 1,
                        dotted(child),
                        "duplicate key",
                        f"already set on line {first.line}; YAML keeps only one",
                    )
                )
                continue
            locator.keys[child] = Position(key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = _build(value_node, child, loader, locator, errors)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), loader, locator, errors) for i, item in enumerate(node.value)]
    if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
        locator.block_scalars.add(path)
    return loader.construct_object(node, deep=True)


def _unquoted_template(node: yaml.Node, path: Path, locator: Locator) -> Diagnostic:
    """``user: {{ text }}`` is a YAML mapping whose key is a mapping: say what was meant."""
    mark = node.start_mark
    message = "a template that starts with '{{' must be quoted: unquoted, YAML reads it as a mapping"
    hint = 'write it in quotes ("{{ text }} ...") or on the lines after `key: |`'
    return Diagnostic(locator.file, mark.line + 1, mark.column + 1, dotted(path), message, hint)
