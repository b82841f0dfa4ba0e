"""Semantic checks that read input records: template variables, first renders, record ids."""

from __future__ import annotations

import difflib
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from itertools import islice

import jinja2
from jinja2 import meta, nodes

from batchspec.errors import Diagnostic, InputError
from batchspec.render import Renderer, RenderError, RenderLimitError, new_environment, syntax_diagnostic
from batchspec.sandbox import DROPPED_GLOBALS
from batchspec.sources import Record, source_for
from batchspec.spec.model import JobSpec, TemplateSource

SAMPLE_RECORDS = 20  # records whose fields are checked against the templates
REPORTED_DUPLICATES = 10
_LIMIT_HINT = "a prompt needs no more; see 'Templates' in the README for the bounds"


def template_diagnostics(spec: JobSpec) -> list[Diagnostic]:
    """Syntax errors in any template."""
    return syntax_diagnostics(_templates(spec))


def syntax_diagnostics(templates: Iterable[TemplateSource]) -> list[Diagnostic]:
    """Syntax errors, and what compiling finds (an unknown filter or test), in each template."""
    env = new_environment()
    found = []
    for source in templates:
        try:
            tree = env.parse(source.text)
            env.compile(source.text)
        except jinja2.TemplateSyntaxError as error:  # TemplateAssertionError too
            found.append(syntax_diagnostic(source, error))
            continue
        for node in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
            found.append(
                Diagnostic(
                    source.file,
                    source.line + node.lineno - 1,
                    source.column,
                    source.key,
                    "templates cannot include, import or extend other files (no loader for this environment specified)",
                    "put the text in the spec, or in prompt.user_file",
                )
            )
            break
    return found


def sample_diagnostics(spec: JobSpec) -> list[Diagnostic]:
    """Variables the templates use that the first records lack, and failures rendering them."""
    sample = list(islice(source_for(spec).records(), SAMPLE_RECORDS))
    where = source_for(spec).where
    found = _missing_variables(spec, sample, where)
    if found:
        return found
    try:
        renderer = Renderer(spec, strict=True)  # a template without variables is rendered here
        for position, record in sample:
            renderer.requests(record, where(position))
    except RenderError as error:
        source = next((t for t in _templates(spec) if t.key == error.key), None)
        constant = source is not None and error.where == f"{source.file}:{source.line}"  # no variables
        message = error.detail if constant else f"{error.detail} (the record at {error.where})"
        if source is not None and isinstance(error, RenderLimitError):
            line = source.line + error.line - 1
            return [Diagnostic(source.file, line, source.column, source.key, message, _LIMIT_HINT)]
        if source is not None:
            return [_at(spec, source, message)]
        if error.key == "input.id" and spec.locator is not None:  # a plain field name, not a template
            return [spec.locator.diagnostic(("input", "id"), message)]
        return [_at(spec, spec.prompt.messages[-1].content, message)]
    return found


def _missing_variables(spec: JobSpec, sample: list[Record], where: Callable[[int], str]) -> list[Diagnostic]:
    env = new_environment()
    found = []
    for source in _templates(spec):
        if source.key == "input.id" and not spec.input.id_is_template:
            continue
        names = meta.find_undeclared_variables(env.parse(source.text))
        for name in sorted(names):
            lacking = next(((pos, rec) for pos, rec in sample if name not in rec), None)
            if lacking is None:
                continue
            position, record = lacking
            fields = sorted(record)
            close = difflib.get_close_matches(name, fields, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"its fields: {', '.join(fields) or 'none'}"
            if name in DROPPED_GLOBALS:
                hint = f"batchspec templates leave out Jinja's {', '.join(DROPPED_GLOBALS)}"
            place = where(position)
            found.append(
                _at(
                    spec,
                    source,
                    f"the template uses '{name}', which the record at {place} does not have",
                    hint,
                )
            )
    return found


def _templates(spec: JobSpec) -> Iterator[TemplateSource]:
    for message in spec.prompt.messages:
        yield message.content
    if spec.input.id_is_template and spec.input.id and spec.locator:
        path = ("input", "id")
        yield TemplateSource(
            spec.input.id,
            spec.locator.file,
            spec.locator.content_line(path),
            "input.id",
            spec.locator.content_column(path),
        )


def _at(spec: JobSpec, source: TemplateSource, message: str, hint: str = "") -> Diagnostic:
    return Diagnostic(source.file, source.line, source.column, source.key, message, hint)


@dataclass(frozen=True)
class RecordSummary:
    records: int


def check_records(spec: JobSpec) -> RecordSummary:
    """Every record yields an id and ids are unique; raises InputError naming the records."""
    source = source_for(spec)
    renderer = Renderer(spec)

    def ids() -> Iterator[tuple[str, str]]:
        for position, record in source.records():
            place = source.where(position)
            yield renderer.record_id(record, place), place

    with id_registry() as registry:
        count = registry.add(ids())
        duplicates = registry.duplicates()
    if duplicates:
        raise InputError(duplicate_message(spec, duplicates))
    return RecordSummary(count)


def duplicate_message(spec: JobSpec, duplicates: list[tuple[str, list[str]]]) -> str:
    lines = [f"{spec.where(('input', 'id'))}: input.id: record ids must be unique; duplicates:"]
    for record_id, places in duplicates[:REPORTED_DUPLICATES]:
        lines.append(f"  '{record_id}' at {', '.join(places[:5])}")
    if len(duplicates) > REPORTED_DUPLICATES:
        lines.append("  ... and more")
    return "\n".join(lines)


class IdRegistry:
    """Finds duplicate ids among millions without holding them in memory (an on-disk SQLite table)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        db.execute("CREATE TABLE ids (id TEXT, place TEXT)")

    def add(self, pairs: Iterable[tuple[str, str]]) -> int:
        count = 0
        iterator = iter(pairs)
        while chunk := list(islice(iterator, 5000)):
            self.db.executemany("INSERT INTO ids VALUES (?, ?)", chunk)
            count += len(chunk)
        return count

    def duplicates(self) -> list[tuple[str, list[str]]]:
        rows = self.db.execute(
            "SELECT id, group_concat(place, char(10)) FROM ids WHERE id IN "
            "(SELECT id FROM ids GROUP BY id HAVING count(*) > 1 LIMIT ?) GROUP BY id ORDER BY min(rowid)",
            (REPORTED_DUPLICATES + 1,),
        ).fetchall()
        return [(row[0], row[1].split("\n")) for row in rows]


@contextmanager
def id_registry() -> Iterator[IdRegistry]:
    with (
        tempfile.TemporaryDirectory(prefix="batchspec-") as tmp,
        closing(sqlite3.connect(f"{tmp}/ids.db", isolation_level=None)) as db,
    ):
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("BEGIN")
        yield IdRegistry(db)
