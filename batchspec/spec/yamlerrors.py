"""PyYAML's parser errors in plain words, each with a hint, at the line the mistake is on.

PyYAML describes what its parser expected ("expected <block end>, but found '<block mapping
start>'"), often at the line after the mistake. The common cases are recognised here from the
error and the spec's lines; anything else keeps PyYAML's words.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import yaml

from batchspec.errors import Diagnostic

Lines = list[str]
Mark = tuple[int, int]  # 1-based line and column
Translation = tuple[Mark, str, str]  # where, message, hint

_TAB_HINT = "YAML does not allow tabs: indent with spaces"
_QUOTE_HINT = "quote the whole value, or write it on the lines after `key: |`"


def yaml_diagnostic(error: yaml.MarkedYAMLError, lines: Lines, file: str) -> Diagnostic:
    problem = error.problem or ""
    context = error.context or ""
    at = _mark(error.problem_mark or error.context_mark)
    for pattern, translate in _RULES:
        if re.search(pattern, problem):
            found = translate(lines, at, _mark(error.context_mark) if error.context_mark else at, problem, context)
            if found is not None:
                (line, column), message, hint = found
                return Diagnostic(file, line, column, "", f"invalid YAML: {message}", hint)
    return Diagnostic(file, at[0], at[1], "", f"invalid YAML: {problem or 'not valid YAML'}", context)


def _mark(mark: yaml.Mark | None) -> Mark:
    return (mark.line + 1, mark.column + 1) if mark else (1, 1)


def _text(lines: Lines, line: int) -> str:
    return lines[line - 1] if 0 < line <= len(lines) else ""


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def _content(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and not stripped.startswith("#")


def _above(lines: Lines, line: int) -> int:
    """The nearest line above ``line`` with something on it (0 when there is none)."""
    for number in range(line - 1, 0, -1):
        if _content(_text(lines, number)):
            return number
    return 0


def _key_indent(text: str) -> int:
    """Where the key of a line starts: after the indentation and any ``- `` of a list item."""
    match = re.match(r"[ ]*(?:-[ ]+)*", text)
    return match.end() if match else 0


def _levels(lines: Lines, line: int) -> list[tuple[int, int]]:
    """(line, indentation) of the line above and each line it is nested in: where a key could go."""
    found: list[tuple[int, int]] = []
    number = _above(lines, line)
    while number:
        indent = _key_indent(_text(lines, number))
        if not found or indent < found[-1][1]:
            found.append((number, indent))
        number = _above(lines, number)
    return found


def _spaces(n: int) -> str:
    return f"{n} space{'s' if n != 1 else ''}"


def _tab(lines: Lines, at: Mark, context: Mark, problem: str, _: str) -> Translation:
    before = _text(lines, at[0])[: at[1] - 1]
    where = "the indentation" if not before.strip() else "this line"
    return at, f"a tab in {where}", _TAB_HINT


def _mapping_values(lines: Lines, at: Mark, context: Mark, problem: str, _: str) -> Translation:
    """``a: b: c`` (a colon in a plain value), or a key indented deeper than its sibling above."""
    line = at[0]
    text = _text(lines, line)
    above = _above(lines, line)
    above_text = _text(lines, above)
    deeper = above and _indent(text) > _indent(above_text) and not above_text.rstrip().endswith(":")
    if deeper and at[1] > _indent(text) + 1:
        hint = (
            f"indent it by {_spaces(_indent(above_text))} like line {above}, or make line {above} a key that holds it"
        )
        return (line, _indent(text) + 1), "indentation does not match the line above", hint
    return at, "a second ': ' in a value", _QUOTE_HINT


def _block_end(lines: Lines, at: Mark, context: Mark, problem: str, _: str) -> Translation | None:
    line = at[0]
    text = _text(lines, line)
    found = problem.rsplit("found ", 1)[-1]
    if "block mapping start" in found or "block sequence start" in found:
        options = " or ".join(f"line {n} ({_spaces(i)})" for n, i in _levels(lines, line)[:3])
        hint = f"indent it like {options}" if options else "indent it like the keys above"
        return (line, _indent(text) + 1), "indentation does not match the line above", hint
    if found == "'-'":
        return (
            at,
            "a list item among the keys of a mapping",
            "a list goes under a key of its own: `key:` and then `  - item` lines",
        )
    if found == "'<scalar>'":
        value = text.split(":", 1)[1].lstrip() if ":" in text else text.lstrip()
        if value[:1] in "{[":
            kind = "mapping" if value[0] == "{" else "list"
            message = f"a value that starts with '{value[0]}' is read as a YAML {kind}, and text follows it"
            return at, message, _QUOTE_HINT
        if value[:1] in "'\"":
            return at, "text after the closing quote", _QUOTE_HINT
    return None


def _no_colon(lines: Lines, at: Mark, context: Mark, problem: str, _: str) -> Translation:
    hint = "write `key: value`; a line of `|` text must be indented at least like the text above it"
    return (context[0], _indent(_text(lines, context[0])) + 1), "a line without ':' where a key was expected", hint


def _end_of_stream(lines: Lines, at: Mark, context: Mark, problem: str, context_text: str) -> Translation | None:
    if "quoted scalar" not in context_text:
        return None
    return (
        context,
        "this quote is never closed",
        "end the value with the same quote; for text over several lines use `|`",
    )


def _flow(lines: Lines, at: Mark, context: Mark, problem: str, _: str) -> Translation:
    opening, closing = ("{", "}") if "'}'" in problem else ("[", "]")
    if at[0] == context[0]:
        hint = f"write {opening}a: 1, b: 2{closing}; or, if it is text, quote it"
        return at, f"entries inside '{opening} {closing}' must be separated by ', '", hint
    return context, f"the '{opening}' here is not closed before line {at[0]}", f"close it with '{closing}'"


def _cannot_start(lines: Lines, at: Mark, context: Mark, problem: str, _: str) -> Translation:
    char = problem.split("'")[1] if "'" in problem else "?"
    return at, f"a value cannot start with '{char}' in YAML", f"quote it: '{char}...'"


def _alias(lines: Lines, at: Mark, context: Mark, problem: str, _: str) -> Translation:
    name = problem.split("'")[1] if "'" in problem else ""
    message = f"'*{name}' is an alias, but no '&{name}' anchor comes before it"
    return at, message, "to write text that starts with '*', quote it"


def _escape(lines: Lines, at: Mark, context: Mark, problem: str, _: str) -> Translation:
    char = problem.split("'")[1] if "'" in problem else "?"
    return at, f"'\\{char}' is not an escape inside double quotes", "write '\\\\' for a backslash, or use single quotes"


def _documents(lines: Lines, at: Mark, context: Mark, problem: str, _: str) -> Translation:
    return (
        at,
        "a second YAML document ('---')",
        "a spec is one document: remove the '---' line and what follows, or merge them",
    )


_RULES: list[tuple[str, Callable[[Lines, Mark, Mark, str, str], Translation | None]]] = [
    (r"'\\t'|\btab", _tab),
    (r"^mapping values are not allowed here", _mapping_values),
    (r"^expected <block end>", _block_end),
    (r"^could not find expected ':'", _no_colon),
    (r"^found unexpected end of stream", _end_of_stream),
    (r"^expected ',' or '[}\]]'", _flow),
    (r"that cannot start any token$", _cannot_start),
    (r"^found undefined alias", _alias),
    (r"^found unknown escape character", _escape),
    (r"^but found another document", _documents),
]
