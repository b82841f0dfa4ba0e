"""The template sandbox, with a bound on what one render may cost.

Jinja's sandbox keeps a template away from Python internals, but not from unbounded work:
``{{ 'a' * 10**10 }}`` or nested loops would run for minutes and take gigabytes, on every record, in
a spec that may come from a pull request. So one render (one message of one record) may produce
at most ``MAX_OUTPUT`` characters, run ``MAX_LOOP_STEPS`` loop iterations and take
``MAX_SECONDS``; ``*``, ``**`` and ``%`` are checked before they run, as are the padding widths of
``center``, ``indent``, ``ljust``, ``rjust``, ``zfill`` and ``format``. Past a bound a render stops
with ``RenderLimit``. Templates without Jinja logic (``{{ field }}`` holes) never get here: they are
rendered by ``compiled.render_simple``.
"""

from __future__ import annotations

import operator
import re
import string
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from contextvars import ContextVar
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_OUTPUT = 10_000_000  # characters of one message: more than any model's context window
MAX_RANGE = 100_000  # items of one range()
MAX_LOOP_STEPS = 1_000_000  # loop iterations of one render, nested loops counted together
MAX_SECONDS = 2.0  # of one render; a prompt renders in microseconds
MAX_INT_BITS = 4096  # numbers a template computes (10**1000 is about 3,300 bits)
# Jinja's default globals a prompt has no use for: `lipsum` makes text at will, `cycler` and
# `joiner` are for HTML. `range`, `dict` and `namespace` (state across loop iterations) stay.
DROPPED_GLOBALS = ("lipsum", "cycler", "joiner")
LOOP_FILTER = "batchspec_loop"
_PADDING_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
_PERCENT_WIDTH = re.compile(r"%(?:\([^)]*\))?[-+ #0]*(\d+|\*)?(?:\.(\d+|\*))?")


class RenderLimit(Exception):
    """A render went past one of the bounds above; the message says which and how to stay inside."""


class _Budget:
    __slots__ = ("deadline", "steps")

    def __init__(self) -> None:
        self.deadline = time.monotonic() + MAX_SECONDS
        self.steps = 0

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise RenderLimit(f"the template took longer than {MAX_SECONDS:g}s for one record")


_current: ContextVar[_Budget | None] = ContextVar("batchspec_render_budget", default=None)


def render_bounded(template: jinja2.Template, context: dict[str, Any] | Any) -> str:
    """``template.render(context)`` inside the bounds; RenderLimit (with the template line in its
    traceback) past them."""
    budget = _Budget()
    token = _current.set(budget)
    try:
        text = template.render(context)
        # Calls and loops watch the clock as they go; what is left between them is bounded by them.
        budget.check_time()
        return text
    finally:
        _current.reset(token)


def _bounded_concat(chunks: Iterable[str]) -> str:
    """Jinja's ``concat`` (a render's output, a ``{% set %}`` block, a macro), stopped past MAX_OUTPUT."""
    out: list[str] = []
    size = 0
    for chunk in chunks:
        out.append(chunk)
        size += len(chunk)
        if size > MAX_OUTPUT:
            error = RenderLimit(_too_long("the rendered text", size))
            if isinstance(chunks, Generator):  # thrown in, so the traceback names the template line
                chunks.throw(error)
            raise error
    return "".join(out)


def _budget() -> _Budget:
    # Outside render_bounded (Template.render from the Python API) each loop is bounded on its own.
    return _current.get() or _Budget()


def _too_long(what: str, size: int) -> str:
    return f"{what} would be {size:,} characters long; one render may produce at most {MAX_OUTPUT:,}"


def _size(value: Any) -> int | None:
    return len(value) if isinstance(value, (str, bytes, list, tuple)) else None


def _check_repeat(left: Any, right: Any) -> None:
    """``sequence * n`` (either way round) and ``int * int`` before they are computed."""
    for seq, count in ((left, right), (right, left)):
        size = _size(seq)
        if size is not None and isinstance(count, int) and size * count > MAX_OUTPUT:
            raise RenderLimit(_too_long("'*' of a value", size * count))
    if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
        raise RenderLimit(f"'*' would make a number past {MAX_INT_BITS} bits")


def _check_power(base: Any, exponent: Any) -> None:
    numbers = isinstance(base, int) and isinstance(exponent, int) and abs(base) > 1 and exponent > 0
    if numbers and base.bit_length() * exponent > MAX_INT_BITS:
        raise RenderLimit(f"'**' would make a number past {MAX_INT_BITS} bits ({base} ** {exponent})")


def _check_width(width: Any, what: str) -> None:
    if isinstance(width, int) and width > MAX_OUTPUT:
        raise RenderLimit(_too_long(what, width))


def _check_percent(text: Any, values: Any) -> None:
    """``'%10000000000s' % x``: a width or precision past the bound (``*`` takes it from the values)."""
    if not isinstance(text, str):
        return
    star_values = iter(values if isinstance(values, tuple) else (values,))
    for match in _PERCENT_WIDTH.finditer(text):
        for group in match.groups():
            if group == "*":
                _check_width(next(star_values, 0), "a '%' padding")
            elif group:
                _check_width(int(group), "a '%' padding")


def _check_format_spec(text: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """``'{:>10000000000}'.format(x)``: literal widths past the bound; nested ones (``{:{w}}``) by value."""
    for _, _, spec, _ in string.Formatter().parse(text):
        if not spec:
            continue
        if "{" in spec:
            for value in (*args, *kwargs.values()):
                _check_width(value, "a format padding")
        for number in re.findall(r"\d+", spec):
            _check_width(int(number), "a format padding")


def _bounded_range(*args: int) -> Iterator[int]:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise RenderLimit(f"range() of {len(numbers):,} numbers; a template may make ranges of at most {MAX_RANGE:,}")
    return iter(numbers)


def _bounded_loop(iterable: Iterable[Any]) -> Iterator[Any]:
    """Every ``{% for %}`` iterates through this: it counts the steps and watches the clock."""
    budget = _budget()
    for item in iterable:
        budget.steps += 1
        if budget.steps > MAX_LOOP_STEPS:
            raise RenderLimit(f"the template's loops ran more than {MAX_LOOP_STEPS:,} times for one record")
        if not budget.steps & 1023:
            budget.check_time()
        yield item


class _LoopCounting(CodeGenerator):
    """Compiles ``{% for x in items %}`` as ``{% for x in items|batchspec_loop %}``."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        # Before the generator looks up the filters the template uses. A filter, unlike a call,
        # is called directly, not through the sandbox's checks for calls.
        for loop in node.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, LOOP_FILTER, [], [], None, None)
        super().visit_Template(node, frame)


def _padding_filter(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """``center(width)`` and ``indent(width)``: the width is checked first."""

    def bounded(value: Any, *args: Any, **kwargs: Any) -> Any:
        _check_width(kwargs.get("width", args[0] if args else None), f"the '{name}' filter's padding")
        return original(value, *args, **kwargs)

    return bounded


def _format_filter(original: Callable[..., Any]) -> Callable[..., Any]:
    def bounded(value: Any, *args: Any, **kwargs: Any) -> Any:
        _check_percent(value, args)
        return original(value, *args, **kwargs)

    return bounded


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with the cost bounds of this module."""

    code_generator_class = _LoopCounting
    concat = staticmethod(_bounded_concat)
    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        for name in DROPPED_GLOBALS:
            self.globals.pop(name, None)
        self.globals["range"] = _bounded_range
        self.filters[LOOP_FILTER] = _bounded_loop
        self.filters["center"] = _padding_filter("center", self.filters["center"])
        self.filters["indent"] = _padding_filter("indent", self.filters["indent"])
        self.filters["format"] = _format_filter(self.filters["format"])

    def call_binop(self, context: jinja2.runtime.Context, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "*":
            _check_repeat(left, right)
            return operator.mul(left, right)
        if operator_ == "**":
            _check_power(left, right)
            return operator.pow(left, right)
        _check_percent(left, right)
        return operator.mod(left, right)

    def call(self, context: jinja2.runtime.Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        budget = _current.get()
        if budget is not None:
            budget.check_time()
        owner = getattr(obj, "__self__", None)
        if owner is None and args:  # the sandbox wraps str.format
            obj_ = getattr(obj, "__wrapped__", None)
            owner = getattr(obj_, "__self__", None)
        if type(owner) is str and (args or kwargs):
            self._check_str_call(owner, getattr(obj, "__name__", ""), args, kwargs)
        return super().call(context, obj, *args, **kwargs)

    @staticmethod
    def _check_str_call(text: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if name in _PADDING_METHODS:
            for value in (*args, *kwargs.values()):
                _check_width(value, f"'{name}' padding")
        elif name in ("format", "format_map"):
            _check_format_spec(text, args, kwargs)
