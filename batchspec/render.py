"""Records → exact provider request bodies, their ``custom_id`` and ``request_hash``.

Templates run in Jinja's immutable sandbox with ``StrictUndefined``: a record's values are data,
inserted as text and never rendered as templates themselves, and a template cannot reach Python
internals, files or the environment. A missing variable is an error, never an empty string. What
one render may cost is bounded (``batchspec.sandbox``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import jinja2
from jinja2 import meta
from jinja2.exceptions import SecurityError

from batchspec import exactjson
from batchspec.compiled import BodyTemplate, Part, render_simple, simple_parts
from batchspec.errors import Diagnostic, InputError, SpecError
from batchspec.providers import Provider, RenderedMessage, provider_for
from batchspec.providers.openai_embeddings import MAX_INPUT_TOKENS as MAX_EMBEDDING_TOKENS
from batchspec.sandbox import BoundedSandbox, RenderLimit, render_bounded
from batchspec.spec.model import JobSpec, ModelSpec, TemplateSource
from batchspec.tokens import MESSAGE_OVERHEAD, messages_tokens, text_tokens
from batchspec.wireid import wire_length

HASH_VERSION = b"batchspec-request-v1"
_VALID_CUSTOM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_INVALID_CHARS = re.compile(r"[^A-Za-z0-9_-]+")


class RenderError(InputError):
    """A record could not be rendered; says which record, which template and why."""

    def __init__(self, where: str, key: str, detail: str) -> None:
        super().__init__(f"{where}: {key}: {detail}")
        self.where = where  # the record: file:line
        self.key = key  # the spec key of the template (or setting) that failed, e.g. prompt.user
        self.detail = detail


class RenderLimitError(RenderError):
    """A render went past the sandbox's cost bounds; ``line`` is the template's line (1-based)."""

    def __init__(self, where: str, key: str, detail: str, line: int) -> None:
        super().__init__(where, key, detail)
        self.line = line

    @property
    def problem(self) -> str:
        """As a record-level error: the data of this record made the template too costly."""
        return f"{self.key}, line {self.line} of the template: {self.detail}"


@dataclass(frozen=True, slots=True)
class Prefix:
    """The stable start of a prompt that provider prompt caching can reuse across requests."""

    digest: str  # identifies the prefix text; "" when there is none
    tokens: int


NO_PREFIX = Prefix("", 0)


def prefix_end(messages: Sequence[Any]) -> int:
    """Index of the last message of the stable prefix: the last one marked ``cache``, or else the
    last system message; -1 when there is none. Anything with ``role`` and ``cache`` will do."""
    marked = [i for i, m in enumerate(messages) if m.cache]
    systems = [i for i, m in enumerate(messages) if m.role == "system"]
    return (marked or systems or [-1])[-1]


def stable_prefix(messages: tuple[RenderedMessage, ...]) -> Prefix:
    """The messages up to ``prefix_end``, hashed and counted."""
    cut = prefix_end(messages)
    if cut < 0:
        return NO_PREFIX
    digest = hashlib.sha256()
    tokens = 0
    for message in messages[: cut + 1]:
        digest.update(message.role.encode() + b"\0" + message.content.encode() + b"\0")
        tokens += MESSAGE_OVERHEAD + text_tokens(message.content)
    return Prefix(digest.hexdigest(), tokens)


class RenderedRequest(NamedTuple):
    """One request of one record for one model (a tuple: made once per record and model)."""

    model: str  # the model's label
    custom_id: str
    record_id: str
    body_json: bytes  # canonical JSON of the provider request body
    request_hash: str
    entry_size: int  # bytes of the request as an entry of the provider's batch payload
    input_tokens: int
    prefix: Prefix = NO_PREFIX
    problem: str = ""  # why the request cannot be sent (a message rendered empty): a record-level error


def empty_message(key: str) -> str:
    """The record-level error for a message that rendered empty (providers refuse empty text)."""
    return f"{key} rendered empty for this record (an empty field?): providers refuse empty messages"


def new_environment() -> BoundedSandbox:
    # No loader: templates cannot include or import files.
    return BoundedSandbox(undefined=jinja2.StrictUndefined, autoescape=False)


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace: equal requests always give equal bytes."""
    return exactjson.dumps(value, sort_keys=True)


def request_hasher(provider: str, model: str, endpoint: str = "chat") -> Any:
    """A sha256 already fed the version, provider, model and (other than chat) endpoint: copy it,
    add the body. Chat hashes stay as they were, so existing states keep their answers."""
    digest = hashlib.sha256(HASH_VERSION)
    digest.update(b"\0" + provider.encode() + b"\0" + model.encode() + b"\0")
    if endpoint != "chat":
        digest.update(endpoint.encode() + b"\0")
    return digest


def request_hash(provider: str, model: str, body_json: bytes) -> str:
    digest = request_hasher(provider, model)
    digest.update(body_json)
    return str(digest.hexdigest())


def custom_id_for(record_id: str) -> str:
    """A custom_id valid for both providers (1–64 of [A-Za-z0-9_-]); ids that do not fit get a
    readable stem plus a hash of the full id, so the mapping is deterministic."""
    if _VALID_CUSTOM_ID.fullmatch(record_id):
        return record_id
    stem = _INVALID_CHARS.sub("_", record_id)[:40].strip("_") or "id"
    return f"{stem}-{hashlib.sha256(record_id.encode()).hexdigest()[:20]}"


def compile_template(env: jinja2.Environment, source: TemplateSource) -> jinja2.Template:
    """Compile, turning a syntax error into a spec error that names the spec (or template file) line."""
    try:
        return env.from_string(source.text)
    except jinja2.TemplateSyntaxError as error:
        raise SpecError([syntax_diagnostic(source, error)]) from None


def syntax_diagnostic(source: TemplateSource, error: jinja2.TemplateSyntaxError) -> Diagnostic:
    line = source.line + (error.lineno or 1) - 1
    return Diagnostic(
        source.file,
        line,
        source.column,
        source.key,
        f"template syntax error: {error.message}",
        "see https://jinja.palletsprojects.com/templates/",
    )


@dataclass(frozen=True)
class _Part:
    """One message template; ``constant`` is its text when it uses no variables."""

    role: str
    cache: bool
    source: TemplateSource
    template: jinja2.Template
    constant: RenderedMessage | None
    simple: list[Part] | None  # literal text and {{ field }} holes only: rendered without Jinja

    @classmethod
    def compile(cls, env: jinja2.Environment, role: str, cache: bool, source: TemplateSource) -> _Part:
        template = compile_template(env, source)
        # Jinja merges a template's globals (a ChainMap) into every render's context; a plain dict
        # makes that copy, most of the cost of rendering a short template, several times cheaper.
        template.globals = dict(template.globals)
        constant = None
        if not meta.find_undeclared_variables(env.parse(source.text)):
            constant = RenderedMessage(role, _render(template, {}, source, f"{source.file}:{source.line}"), cache)
        return cls(role, cache, source, template, constant, simple_parts(env, source.text))

    def render(self, record: Mapping[str, Any], where: str) -> RenderedMessage:
        if self.constant is not None:
            return self.constant
        text = render_simple(self.simple, record) if self.simple is not None else None
        if text is None:
            text = _render(self.template, record, self.source, where)
        return RenderedMessage(self.role, text, self.cache)


FastPath = Callable[[Mapping[str, Any]], "list[RenderedRequest] | None"]


class Renderer:
    """Renders records of one job into requests for each of its models."""

    def __init__(self, spec: JobSpec, *, fast: bool = True, strict: bool = False) -> None:
        """``fast=False``: always the general path (Jinja, a body dict, a JSON encoding), which the
        fast paths must match byte for byte. ``strict``: a record whose render goes past the cost
        bounds raises RenderLimitError (validate) instead of becoming a record-level error (plan)."""
        self.spec = spec
        self.strict = strict
        env = new_environment()
        self._messages = [_Part.compile(env, m.role, m.cache, m.content) for m in spec.prompt.messages]
        if not fast:
            self._messages = [dataclasses.replace(p, simple=None) for p in self._messages]
        self._models: list[tuple[ModelSpec, Provider]] = [(m, provider_for(m)) for m in spec.models]
        # A prefix made of templates without variables is the same for every record: hash it once.
        head = [p.constant for p in self._messages[: prefix_end(self._messages) + 1]]
        constant = tuple(m for m in head if m is not None)
        self._constant_prefix = stable_prefix(constant) if len(constant) == len(head) and fast else None
        self._bodies = {m.label: self._body_template(m, p) for m, p in self._models}
        self._hashers = {m.label: request_hasher(p.name, m.name, m.endpoint) for m, p in self._models}
        # Embeddings: the input's tokens alone (no message framing), refused over the model's limit.
        self._embed = spec.prompt.embed
        self._framing = messages_tokens((RenderedMessage("user", ""),), "openai") if self._embed else 0
        # An entry is the body wrapped with the custom_id: its size without building it.
        self._entry_overhead = {m.label: len(p.batch_entry("", b"")) for m, p in self._models}
        id_source = spec.input.id
        self._id_template = (
            compile_template(env, TemplateSource(id_source, spec.where(("input", "id")), 1, "input.id"))
            if id_source and spec.input.id_is_template
            else None
        )
        self._id_parts = simple_parts(env, id_source) if id_source and self._id_template is not None and fast else None
        self._fast = self._fast_path()

    def messages(self, record: Mapping[str, Any], where: str) -> tuple[RenderedMessage, ...]:
        return tuple(p.render(record, where) for p in self._messages)

    def _body_template(self, model: ModelSpec, provider: Provider) -> BodyTemplate | None:
        """The model's body with holes for the varying messages, when the rest never varies."""
        if self._constant_prefix is None:
            return None  # the prompt_cache_key would vary with the prefix
        variable = [i for i, p in enumerate(self._messages) if p.constant is None]
        cache_key = self._cache_key(self._constant_prefix)

        def encode(texts: dict[int, str]) -> bytes:
            messages = tuple(
                p.constant or RenderedMessage(p.role, texts[i], p.cache) for i, p in enumerate(self._messages)
            )
            return canonical_json(provider.build_body(model, messages, self.spec.cache, cache_key=cache_key))

        return BodyTemplate.build(encode, variable)

    def _fast_path(self) -> FastPath | None:
        """All of a record's work in one function, when the id is a field (or text with field holes),
        every message is constant or simple and every model's body has a template: the shape of
        most jobs, and about four times faster than the general path. The function returns None
        for a record it cannot do (a missing field, an id that is not a string or an integer), and
        the general path then renders it or says what is wrong."""
        id_field = self.spec.input.id or ("path" if self.spec.input.format == "text" else None)
        id_parts = self._id_parts
        prefix = self._constant_prefix
        bodies = [self._bodies[m.label] for m, _ in self._models]
        if (self._id_template is not None and id_parts is None) or id_field is None or prefix is None:
            return None
        if any(p.constant is None and p.simple is None for p in self._messages) or None in bodies:
            return None
        variable = [
            (i, p.simple, p.source.key)
            for i, p in enumerate(self._messages)
            if p.simple is not None and p.constant is None
        ]
        constant_problem = next(
            (empty_message(p.source.key) for p in self._messages if p.constant and _blank(p.constant.content)), ""
        )
        # Token estimates add up per message: the constant messages and every message's overhead
        # are counted once here, and only the variable texts per record.
        blank = tuple(p.constant or RenderedMessage(p.role, "", p.cache) for p in self._messages)
        models = [
            (
                model.label,
                body,
                self._hashers[model.label],
                self._entry_overhead[model.label],
                messages_tokens(blank, provider.wire),
            )
            for (model, provider), body in zip(self._models, bodies, strict=True)
            if body is not None
        ]

        def fast(record: Mapping[str, Any]) -> list[RenderedRequest] | None:
            if id_parts is not None:
                record_id = render_simple(id_parts, record)
                if record_id is None or not (record_id := record_id.strip()):
                    return None
            else:
                record_id = record.get(id_field)
                if type(record_id) is int:
                    record_id = str(record_id)
                elif type(record_id) is not str or not record_id.strip():
                    return None
            custom_id = custom_id_for(record_id)
            texts: dict[int, str] = {}
            variable_tokens = 0
            problem = constant_problem
            for index, parts, key in variable:
                text = render_simple(parts, record)
                if text is None:
                    return None
                if not problem and (not text or text.isspace()):
                    problem = empty_message(key)
                texts[index] = text
                variable_tokens += text_tokens(text)
            requests = []
            for label, body, hasher, overhead, tokens in models:
                body_json = body.fill(texts)
                digest = hasher.copy()
                digest.update(body_json)
                requests.append(
                    RenderedRequest(
                        label,
                        custom_id,
                        record_id,
                        body_json,
                        digest.hexdigest(),
                        len(body_json) + overhead + wire_length(custom_id),
                        tokens + variable_tokens,
                        prefix,
                        problem,
                    )
                )
            return requests

        return fast

    def _cache_key(self, prefix: Prefix) -> str | None:
        return cache_key(self.spec.name, prefix.digest) if prefix.tokens else None

    def record_id(self, record: Mapping[str, Any], where: str) -> str:
        id_field = self.spec.input.id
        if self._id_template is not None:
            source = TemplateSource(id_field or "", self.spec.where(("input", "id")), 1, "input.id")
            value: Any = _render(self._id_template, record, source, where).strip()
        elif id_field is not None:
            value = record.get(id_field)
            if id_field not in record:
                fields = ", ".join(sorted(record)) or "none"
                raise RenderError(where, "input.id", f"the record has no field '{id_field}' (its fields: {fields})")
        elif self.spec.input.format == "text":
            value = record["path"]
        else:
            return "h" + hashlib.sha256(canonical_json(record)).hexdigest()[:24]
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            kind = "null" if value is None else type(value).__name__
            raise RenderError(where, "input.id", f"the record's id is {kind}, not a string or an integer")
        text = str(value)
        if not text.strip():
            raise RenderError(where, "input.id", "the record's id is empty")
        return text

    def requests(self, record: Mapping[str, Any], where: str) -> list[RenderedRequest]:
        """The record's request for each model; a RenderError (naming ``where``) if it cannot be rendered."""
        if self._fast is not None:
            requests = self._fast(record)
            if requests is not None:
                return self._embedding_tokens(requests) if self._embed else requests
        return self.general_requests(record, where)

    def try_fast(self, record: Mapping[str, Any]) -> list[RenderedRequest] | None:
        """``requests`` for a record the fast path can do; None for any other (call ``requests``)."""
        requests = None if self._fast is None else self._fast(record)
        return self._embedding_tokens(requests) if self._embed and requests is not None else requests

    def _embedding_tokens(self, requests: list[RenderedRequest]) -> list[RenderedRequest]:
        out = []
        for request in requests:
            tokens = max(0, request.input_tokens - self._framing)
            problem = request.problem
            if not problem and tokens > MAX_EMBEDDING_TOKENS:
                problem = (
                    f"prompt.input is about {tokens:,} tokens for this record; OpenAI embeds at most "
                    f"{MAX_EMBEDDING_TOKENS:,} tokens per input (shorten the text, e.g. with Jinja's truncate filter)"
                )
            out.append(request._replace(input_tokens=tokens, problem=problem))
        return out

    def general_requests(self, record: Mapping[str, Any], where: str) -> list[RenderedRequest]:
        requests = self._general_requests(record, where)
        return self._embedding_tokens(requests) if self._embed else requests

    def _general_requests(self, record: Mapping[str, Any], where: str) -> list[RenderedRequest]:
        record_id = self.record_id(record, where)
        custom_id = custom_id_for(record_id)
        try:
            messages = self.messages(record, where)
            problem = next(
                (
                    empty_message(p.source.key)
                    for p, m in zip(self._messages, messages, strict=True)
                    if _blank(m.content)
                ),
                "",
            )
        except RenderLimitError as error:
            if self.strict:
                raise
            # Only this record's data is too much for the template: it fails alone, never sent.
            messages = tuple(RenderedMessage(p.role, "", p.cache) for p in self._messages)
            problem = error.problem
        prefix = self._constant_prefix or stable_prefix(messages)
        return [
            self.request(model, provider, messages, record_id, custom_id, prefix)._replace(problem=problem)
            for model, provider in self._models
        ]

    def request(
        self,
        model: ModelSpec,
        provider: Provider,
        messages: tuple[RenderedMessage, ...],
        record_id: str,
        custom_id: str,
        prefix: Prefix,
    ) -> RenderedRequest:
        template = self._bodies.get(model.label)
        if template is not None:
            body_json = template.fill([m.content for m in messages])
        else:
            body = provider.build_body(model, messages, self.spec.cache, cache_key=self._cache_key(prefix))
            body_json = canonical_json(body)
        digest = self._hashers[model.label].copy()
        digest.update(body_json)
        return RenderedRequest(
            model=model.label,
            custom_id=custom_id,
            record_id=record_id,
            body_json=body_json,
            request_hash=digest.hexdigest(),
            entry_size=len(body_json) + self._entry_overhead[model.label] + wire_length(custom_id),
            input_tokens=messages_tokens(messages, provider.wire),
            prefix=prefix,
        )


def _blank(text: str) -> bool:
    return not text or text.isspace()


def _render(template: jinja2.Template, record: Mapping[str, Any], source: TemplateSource, where: str) -> str:
    try:
        return render_bounded(template, record)
    except RenderLimit as error:
        raise RenderLimitError(where, source.key, str(error), _template_line(error)) from None
    except jinja2.UndefinedError as error:
        fields = ", ".join(sorted(record)) or "none"
        raise RenderError(where, source.key, f"{error.message} (the record's fields: {fields})") from None
    except SecurityError as error:
        raise RenderError(where, source.key, f"refused by the template sandbox: {error}") from None
    except Exception as error:  # a filter or expression failing on this record's data
        raise RenderError(where, source.key, f"template error: {type(error).__name__}: {error}") from None


MAX_CACHE_KEY = 64  # OpenAI refuses a longer prompt_cache_key (providers/rules.py)


def cache_key(job: str, prefix_digest: str) -> str:
    """``<job>-<prefix>``; a job name too long for that keeps its start and a hash of the rest,
    so two long names that share a start still route apart."""
    key = f"{job}-{prefix_digest[:16]}"
    if len(key) <= MAX_CACHE_KEY:
        return key
    name_hash = hashlib.sha256(job.encode()).hexdigest()[:8]
    return f"{job[: MAX_CACHE_KEY - 26]}-{name_hash}-{prefix_digest[:16]}"


def _template_line(error: BaseException) -> int:
    """The template line an error was raised on (Jinja rewrites tracebacks to template lines)."""
    line = 1
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
